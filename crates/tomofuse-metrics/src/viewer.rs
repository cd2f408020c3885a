//! An interactive 3D view of surface meshes for a self-contained HTML page (feature `plots`):
//! one `<canvas>`, the meshes embedded as base64 arrays and a small script that draws them with
//! a 2D canvas (painter's algorithm, back faces culled, Lambert shading with a headlight).
//! Drag rotates, the wheel zooms, a checkbox per mesh shows or hides it. No WebGL, no network,
//! no external script: the page opens anywhere a report is archived or mailed to.
//!
//! Vertices are stored as 16-bit steps across the meshes' common bounding box (at most
//! 1/65535 of its largest side off: 0.003 mm for a 200 mm box), triangles as 32-bit indices,
//! both little-endian.

use crate::error::{MetricsError, Result};
use std::fmt::Write;

/// One mesh to show: LPS millimetres, counter-clockwise triangles seen from outside.
#[derive(Debug, Clone, Copy)]
pub struct ViewerMesh<'a> {
    pub label: &'a str,
    pub vertices: &'a [[f64; 3]],
    pub triangles: &'a [[u32; 3]],
    pub colour: [u8; 3],
}

/// Largest number of triangles over all meshes of one view: about 12 MB of page, and a
/// canvas redraw still quick enough to rotate smoothly.
pub const MAX_VIEWER_TRIANGLES: usize = 1_000_000;

/// A mesh as the page stores it: quantised vertices and raw indices.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedMesh {
    /// Lower corner of the common box (mm), per LPS axis.
    pub lo: [f64; 3],
    /// Millimetres per 16-bit step, per axis.
    pub step: [f64; 3],
    /// Base64 of the little-endian `u16` coordinates, three per vertex.
    pub vertices_b64: String,
    /// Base64 of the little-endian `u32` indices, three per triangle.
    pub triangles_b64: String,
}

/// Quantises and encodes every mesh in one common box, checking the indices and coordinates.
pub fn encode_meshes(meshes: &[ViewerMesh]) -> Result<Vec<EncodedMesh>> {
    let total: usize = meshes.iter().map(|m| m.triangles.len()).sum();
    if total == 0 {
        return Err(MetricsError::Empty { what: "triangles" });
    }
    if total > MAX_VIEWER_TRIANGLES {
        return Err(MetricsError::InvalidArgument {
            name: "triangles",
            reason: format!(
                "{total} triangles; an interactive view holds at most {MAX_VIEWER_TRIANGLES}"
            ),
        });
    }
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for m in meshes {
        for (i, v) in m.vertices.iter().enumerate() {
            for a in 0..3 {
                if !v[a].is_finite() {
                    return Err(MetricsError::NonFinite {
                        what: "vertices",
                        index: i,
                        value: v[a],
                    });
                }
                lo[a] = lo[a].min(v[a]);
                hi[a] = hi[a].max(v[a]);
            }
        }
    }
    let step: [f64; 3] =
        std::array::from_fn(|a| ((hi[a] - lo[a]) / 65535.0).max(f64::MIN_POSITIVE));
    meshes
        .iter()
        .map(|m| {
            let n = m.vertices.len();
            if let Some(bad) = m.triangles.iter().flatten().find(|&&i| i as usize >= n) {
                return Err(MetricsError::InvalidArgument {
                    name: "triangles",
                    reason: format!("mesh `{}` indexes vertex {bad} of {n}", m.label),
                });
            }
            let mut vb = Vec::with_capacity(n * 6);
            for v in m.vertices {
                for a in 0..3 {
                    let q = ((v[a] - lo[a]) / step[a]).round().clamp(0.0, 65535.0) as u16;
                    vb.extend_from_slice(&q.to_le_bytes());
                }
            }
            let mut tb = Vec::with_capacity(m.triangles.len() * 12);
            for i in m.triangles.iter().flatten() {
                tb.extend_from_slice(&i.to_le_bytes());
            }
            Ok(EncodedMesh {
                lo,
                step,
                vertices_b64: base64(&vb),
                triangles_b64: base64(&tb),
            })
        })
        .collect()
}

/// The view as an HTML fragment: a canvas of `size_px` square, a checkbox per mesh and the
/// script. `id` must be unique in the page (letters, digits, `-`, `_`).
pub fn mesh_viewer_html(id: &str, meshes: &[ViewerMesh], size_px: usize) -> Result<String> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(MetricsError::InvalidArgument {
            name: "id",
            reason: format!("`{id}` is not a plain HTML id"),
        });
    }
    if !(64..=4096).contains(&size_px) {
        return Err(MetricsError::InvalidArgument {
            name: "size_px",
            reason: format!("{size_px} is outside 64..=4096"),
        });
    }
    let encoded = encode_meshes(meshes)?;
    let mut data = String::from("[");
    for (k, (m, e)) in meshes.iter().zip(&encoded).enumerate() {
        if k > 0 {
            data.push(',');
        }
        let _ = write!(
            data,
            "{{\"label\":{},\"c\":[{},{},{}],\"lo\":[{},{},{}],\"step\":[{},{},{}],\"v\":\"{}\",\"t\":\"{}\"}}",
            json_string(m.label),
            m.colour[0],
            m.colour[1],
            m.colour[2],
            e.lo[0],
            e.lo[1],
            e.lo[2],
            e.step[0],
            e.step[1],
            e.step[2],
            e.vertices_b64,
            e.triangles_b64
        );
    }
    data.push(']');
    let mut h = String::with_capacity(data.len() + SCRIPT.len() + 512);
    let _ = write!(
        h,
        "<div class=\"mesh3d\"><canvas id=\"{id}\" width=\"{size_px}\" height=\"{size_px}\" style=\"border:1px solid #bbb;cursor:grab;touch-action:none\"></canvas><div id=\"{id}-toggles\"></div></div><script>(function(ID,DATA){{{SCRIPT}}})(\"{id}\",{data});</script>"
    );
    Ok(h)
}

/// Draws on the 2D canvas; written for plain ES2015 so any browser of the last decade runs it.
/// The initial camera looks from the front (anterior): patient's left on the right, superior
/// up, as the rendered views.
const SCRIPT: &str = r#"
var cv=document.getElementById(ID),g=cv.getContext('2d'),W=cv.width,H=cv.height;
function bytes(s){var b=atob(s),u=new Uint8Array(b.length);for(var i=0;i<b.length;i++)u[i]=b.charCodeAt(i);return u.buffer;}
var M=DATA.map(function(d){var q=new Uint16Array(bytes(d.v)),p=new Float64Array(q.length);
for(var i=0;i<q.length;i++)p[i]=d.lo[i%3]+q[i]*d.step[i%3];
return {label:d.label,c:d.c,p:p,t:new Uint32Array(bytes(d.t)),on:true};});
var lo=[1e300,1e300,1e300],hi=[-1e300,-1e300,-1e300];
M.forEach(function(m){for(var i=0;i<m.p.length;i++){var a=i%3;if(m.p[i]<lo[a])lo[a]=m.p[i];if(m.p[i]>hi[a])hi[a]=m.p[i];}});
var ctr=[0,1,2].map(function(a){return (lo[a]+hi[a])/2;});
var rad=Math.sqrt([0,1,2].reduce(function(s,a){return s+(hi[a]-lo[a])*(hi[a]-lo[a])/4;},0))||1;
var yaw=0,pitch=0,zoom=1;
function draw(){var cy=Math.cos(yaw),sy=Math.sin(yaw),cp=Math.cos(pitch),sp=Math.sin(pitch);
/* LPS -> view: x = L (right on screen), y = S (up), z = -P (towards the viewer), then yaw about y, pitch about x. */
function view(x,y,z){var vx=x,vy=z,vz=-y;var rx=cy*vx+sy*vz,rz=-sy*vx+cy*vz;return [rx,cp*vy-sp*rz,sp*vy+cp*rz];}
var s=zoom*0.46*Math.min(W,H)/rad,F=[];
M.forEach(function(m){if(!m.on)return;var n=m.p.length/3,V=new Float64Array(n*3);
for(var i=0;i<n;i++){var r=view(m.p[3*i]-ctr[0],m.p[3*i+1]-ctr[1],m.p[3*i+2]-ctr[2]);V[3*i]=r[0];V[3*i+1]=r[1];V[3*i+2]=r[2];}
for(var k=0;k<m.t.length;k+=3){var a=3*m.t[k],b=3*m.t[k+1],c=3*m.t[k+2];
var ux=V[b]-V[a],uy=V[b+1]-V[a+1],uz=V[b+2]-V[a+2],wx=V[c]-V[a],wy=V[c+1]-V[a+1],wz=V[c+2]-V[a+2];
var nx=uy*wz-uz*wy,ny=uz*wx-ux*wz,nz=ux*wy-uy*wx,len=Math.sqrt(nx*nx+ny*ny+nz*nz);
if(len===0||nz<=0)continue;
F.push([V[a+2]+V[b+2]+V[c+2],nz/len,m.c,V[a],V[a+1],V[b],V[b+1],V[c],V[c+1]]);}});
F.sort(function(p,q){return p[0]-q[0];});
g.fillStyle='#fff';g.fillRect(0,0,W,H);
for(var j=0;j<F.length;j++){var f=F[j],l=0.2+0.8*f[1],col='rgb('+Math.round(f[2][0]*l)+','+Math.round(f[2][1]*l)+','+Math.round(f[2][2]*l)+')';
g.fillStyle=col;g.strokeStyle=col;g.lineWidth=0.5;g.beginPath();
g.moveTo(W/2+s*f[3],H/2-s*f[4]);g.lineTo(W/2+s*f[5],H/2-s*f[6]);g.lineTo(W/2+s*f[7],H/2-s*f[8]);g.closePath();g.fill();g.stroke();}
cv.dataset.drawn=String(F.length);}
var drag=null;
cv.addEventListener('pointerdown',function(e){drag=[e.clientX,e.clientY];if(cv.setPointerCapture)cv.setPointerCapture(e.pointerId);});
cv.addEventListener('pointermove',function(e){if(!drag)return;yaw+=(e.clientX-drag[0])*0.01;pitch+=(e.clientY-drag[1])*0.01;
pitch=Math.max(-1.57,Math.min(1.57,pitch));drag=[e.clientX,e.clientY];draw();});
cv.addEventListener('pointerup',function(){drag=null;});
cv.addEventListener('wheel',function(e){e.preventDefault();zoom*=Math.exp(-e.deltaY*0.001);zoom=Math.max(0.2,Math.min(20,zoom));draw();});
var tg=document.getElementById(ID+'-toggles');
M.forEach(function(m){var l=document.createElement('label'),b=document.createElement('input');b.type='checkbox';b.checked=true;
b.addEventListener('change',function(){m.on=b.checked;draw();});l.appendChild(b);
l.appendChild(document.createTextNode(' '+m.label+' ('+m.t.length/3+' triangles)  '));tg.appendChild(l);});
draw();
"#;

fn json_string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            // `<` escaped so a label can never close the script element.
            '<' => o.push_str("\\u003c"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Standard base64 (RFC 4648, with padding), for data embedded in a page.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unbase64(s: &str) -> Vec<u8> {
        let val = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => (c - b'A') as u32,
                b'a'..=b'z' => (c - b'a') as u32 + 26,
                b'0'..=b'9' => (c - b'0') as u32 + 52,
                b'+' => 62,
                b'/' => 63,
                _ => panic!("not base64: {c}"),
            }
        };
        let mut out = Vec::new();
        for q in s.as_bytes().chunks(4) {
            let pad = q.iter().filter(|&&c| c == b'=').count();
            let n = q.iter().take(4 - pad).fold(0u32, |n, &c| n << 6 | val(c)) << (6 * pad);
            out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
        }
        out
    }

    /// A UV sphere (outward, counter-clockwise) with an odd number of meridians, tilted so no
    /// triangle is seen edge-on from the front or the back, and the two views differ.
    fn sphere(r: f64, c: [f64; 3]) -> (Vec<[f64; 3]>, Vec<[u32; 3]>) {
        let (nlat, nlon) = (9usize, 13usize);
        let mut v = vec![[0.0, 0.0, r]];
        for i in 1..nlat {
            let th = std::f64::consts::PI * i as f64 / nlat as f64;
            for j in 0..nlon {
                let ph = 2.0 * std::f64::consts::PI * (j as f64 + 0.21) / nlon as f64;
                v.push([
                    r * th.sin() * ph.cos(),
                    r * th.sin() * ph.sin(),
                    r * th.cos(),
                ]);
            }
        }
        v.push([0.0, 0.0, -r]);
        let last = v.len() as u32 - 1;
        let id = |i: usize, j: usize| (1 + (i - 1) * nlon + j % nlon) as u32;
        let mut t = Vec::new();
        for j in 0..nlon {
            t.push([0, id(1, j), id(1, j + 1)]);
            t.push([last, id(nlat - 1, j + 1), id(nlat - 1, j)]);
        }
        for i in 1..nlat - 1 {
            for j in 0..nlon {
                t.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
                t.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
            }
        }
        // Tilt about x by 0.3 rad, then shift.
        let (cs, sn) = (0.3f64.cos(), 0.3f64.sin());
        let v = v
            .into_iter()
            .map(|p| {
                [
                    p[0] + c[0],
                    cs * p[1] - sn * p[2] + c[1],
                    sn * p[1] + cs * p[2] + c[2],
                ]
            })
            .collect();
        (v, t)
    }

    fn normal_y(v: &[[f64; 3]], t: &[u32; 3]) -> (f64, f64) {
        let [a, b, c] = t.map(|i| v[i as usize]);
        let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let w = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        let n = [
            u[1] * w[2] - u[2] * w[1],
            u[2] * w[0] - u[0] * w[2],
            u[0] * w[1] - u[1] * w[0],
        ];
        (n[1], (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt())
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
            assert_eq!(unbase64(o), i.as_bytes());
        }
    }

    #[test]
    fn encoding_round_trips_within_half_a_step() {
        let (v1, t1) = sphere(20.0, [-100.0, 30.0, 400.0]);
        let (v2, t2) = sphere(7.5, [-80.0, 45.0, 380.0]);
        let meshes = [
            ViewerMesh {
                label: "a",
                vertices: &v1,
                triangles: &t1,
                colour: [200, 0, 0],
            },
            ViewerMesh {
                label: "b",
                vertices: &v2,
                triangles: &t2,
                colour: [0, 0, 200],
            },
        ];
        let enc = encode_meshes(&meshes).unwrap();
        for (m, e) in meshes.iter().zip(&enc) {
            let vb = unbase64(&e.vertices_b64);
            assert_eq!(vb.len(), m.vertices.len() * 6);
            for (i, p) in m.vertices.iter().enumerate() {
                for a in 0..3 {
                    let q = u16::from_le_bytes([vb[6 * i + 2 * a], vb[6 * i + 2 * a + 1]]);
                    let back = e.lo[a] + q as f64 * e.step[a];
                    assert!(
                        (back - p[a]).abs() <= 0.5 * e.step[a] + 1e-9,
                        "{back} vs {}",
                        p[a]
                    );
                }
            }
            let tb = unbase64(&e.triangles_b64);
            let idx: Vec<u32> = tb
                .chunks(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            assert_eq!(
                idx,
                m.triangles.iter().flatten().copied().collect::<Vec<_>>()
            );
        }
        // The box is common: the lowest z of both meshes (sphere a) maps to step 0.
        assert_eq!(enc[0].lo, enc[1].lo);
    }

    #[test]
    fn bad_meshes_and_ids_are_errors() {
        let m = |t: &'static [[u32; 3]], v: &'static [[f64; 3]]| ViewerMesh {
            label: "m",
            vertices: v,
            triangles: t,
            colour: [1, 2, 3],
        };
        static V: [[f64; 3]; 3] = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        static VNAN: [[f64; 3]; 3] = [[0.0, 0.0, 0.0], [f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0]];
        static BAD: [[u32; 3]; 1] = [[0, 1, 3]];
        static OK: [[u32; 3]; 1] = [[0, 1, 2]];
        let e = encode_meshes(&[m(&BAD, &V)]).unwrap_err().to_string();
        assert!(e.contains("vertex 3 of 3"), "{e}");
        let e = encode_meshes(&[m(&OK, &VNAN)]).unwrap_err().to_string();
        assert!(e.contains("non-finite") && e.contains("vertices"), "{e}");
        assert!(encode_meshes(&[m(&[], &V)]).is_err());
        let e = mesh_viewer_html("a b", &[m(&OK, &V)], 300)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`id`"), "{e}");
        assert!(mesh_viewer_html("a", &[m(&OK, &V)], 10).is_err());
        let h = mesh_viewer_html("v-1", &[m(&OK, &V)], 300).unwrap();
        assert!(
            !h.contains("http") && !h.contains(" src="),
            "no external resource"
        );
    }

    #[test]
    fn labels_cannot_close_the_script() {
        assert_eq!(
            json_string("a\"</script>\\\n"),
            "\"a\\\"\\u003c/script>\\\\\\u000a\""
        );
    }

    /// Runs the page's script in Node with a minimal DOM and checks what it draws against
    /// triangles counted here: from the front, those whose outward normal points anterior
    /// (-y in LPS); after a drag of pi radians, those pointing posterior.
    #[test]
    fn script_draws_the_front_facing_triangles_in_node() {
        let node = std::process::Command::new("node").arg("--version").output();
        if node.is_err() {
            if std::env::var_os("CI").is_some() {
                panic!("CI is set but `node` is missing (scripts/install-peers.sh installs it)");
            }
            tomofuse_core::shared::report_skip("node not found: the 3D viewer's script is not run");
            return;
        }
        let (v1, t1) = sphere(20.0, [-100.0, 30.0, 400.0]);
        let (v2, t2) = sphere(7.5, [-40.0, 45.0, 380.0]);
        let mut front = 0;
        let mut back = 0;
        for (v, t) in [(&v1, &t1), (&v2, &t2)] {
            for tri in t {
                let (ny, len) = normal_y(v, tri);
                assert!(ny.abs() > 1e-3 * len, "test mesh has an edge-on triangle");
                if ny < 0.0 {
                    front += 1;
                } else {
                    back += 1;
                }
            }
        }
        let meshes = [
            ViewerMesh {
                label: "predicted",
                vertices: &v1,
                triangles: &t1,
                colour: [200, 0, 0],
            },
            ViewerMesh {
                label: "reference",
                vertices: &v2,
                triangles: &t2,
                colour: [0, 0, 200],
            },
        ];
        let html = mesh_viewer_html("view", &meshes, 300).unwrap();
        let s = html.find("<script>").unwrap() + "<script>".len();
        let e = html.rfind("</script>").unwrap();
        let harness = format!(
            r#"var L={{}},fills=0,drawn=[];
var ctx={{fillRect:function(){{}},beginPath:function(){{}},moveTo:function(){{}},lineTo:function(){{}},closePath:function(){{}},fill:function(){{fills++;}},stroke:function(){{}}}};
var canvas={{width:300,height:300,dataset:{{}},getContext:function(){{return ctx;}},addEventListener:function(n,f){{L[n]=f;}},setPointerCapture:function(){{}}}};
var boxes=[];
globalThis.document={{getElementById:function(id){{return id==='view'?canvas:{{appendChild:function(){{}}}};}},
createElement:function(k){{var el={{checked:false,addEventListener:function(n,f){{el.on=f;}},appendChild:function(){{}}}};if(k==='input')boxes.push(el);return el;}},
createTextNode:function(){{return {{}};}}}};
{script}
drawn.push(Number(canvas.dataset.drawn),fills);
fills=0;L.pointerdown({{clientX:0,clientY:0,pointerId:1}});L.pointermove({{clientX:100*Math.PI,clientY:0}});L.pointerup({{}});
drawn.push(Number(canvas.dataset.drawn),fills);
boxes[1].checked=false;boxes[1].on();drawn.push(Number(canvas.dataset.drawn));
console.log(JSON.stringify(drawn));"#,
            script = &html[s..e]
        );
        let dir = tempfile::tempdir().unwrap();
        let js = dir.path().join("viewer.js");
        std::fs::write(&js, harness).unwrap();
        let out = std::process::Command::new("node")
            .arg(&js)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "node failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<usize> = serde_json::from_slice(&out.stdout).unwrap();
        let back_of_first = t1.iter().filter(|t| normal_y(&v1, t).0 > 0.0).count();
        assert_ne!(front, back, "the test mesh must look different from behind");
        assert_eq!(got, vec![front, front, back, back, back_of_first]);
    }
}
