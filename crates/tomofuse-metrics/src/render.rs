//! Raster figures of volumes for the report (feature `plots`): CT slices with a heat map and a
//! mask contour, upsampled to a readable size, and a software rasteriser for surface meshes
//! (orthographic camera, z-buffer, Lambert shading with a headlight), so a 3D reconstruction
//! can be shown in a self-contained page as plain images, with no WebGL and no network.
//!
//! Images are RGB, row-major, top row first. [`write_panels_png`] lays panels out side by
//! side with a title above each and saves a PNG through plotters' bitmap backend.

use crate::error::{MetricsError, Result};
use ndarray::ArrayView2;
use plotters::prelude::*;
use std::path::Path;

/// An RGB image, row-major, top row first.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<[u8; 3]>,
}

impl RgbImage {
    pub fn filled(width: usize, height: usize, c: [u8; 3]) -> Self {
        Self {
            width,
            height,
            pixels: vec![c; width * height],
        }
    }

    /// Pixel at column `x`, row `y`.
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        self.pixels[y * self.width + x]
    }
}

/// Largest image side drawn: a figure, not an allocation a bad spacing can blow up.
pub const MAX_SIDE_PX: usize = 8192;

fn check_pixels(w: usize, h: usize) -> Result<()> {
    if w == 0 || h == 0 || w > MAX_SIDE_PX || h > MAX_SIDE_PX {
        return Err(arg(
            "image size",
            format!("{w} x {h} pixels (each side must be 1..={MAX_SIDE_PX})"),
        ));
    }
    Ok(())
}

fn arg(name: &'static str, reason: impl Into<String>) -> MetricsError {
    MetricsError::InvalidArgument {
        name,
        reason: reason.into(),
    }
}

/// One 2D slice to draw: the CT (HU), an optional heat map in [0, 1] and an optional mask, all
/// `rows x cols`, plus the physical pixel size (mm) along rows (down) and columns (across).
#[derive(Debug, Clone, Copy)]
pub struct SliceLayers<'a> {
    pub ct: ArrayView2<'a, f32>,
    pub heat: Option<ArrayView2<'a, f32>>,
    pub mask: Option<ArrayView2<'a, bool>>,
    /// Spacing (mm) between rows and between columns.
    pub spacing_mm: [f64; 2],
    /// HU window mapped to black..white.
    pub window: (f32, f32),
    /// A voxel (row, col) to mark with a cross (e.g. the heat map's peak).
    pub marker: Option<[usize; 2]>,
}

/// Heat colour ramp (blue -> yellow -> red) and its opacity for a value in [0, 1]; values at
/// or below 0.2 are not drawn, so low evidence leaves the CT visible.
fn heat_colour(v: f32) -> Option<([f32; 3], f32)> {
    let v = v.clamp(0.0, 1.0);
    (v > 0.2).then(|| {
        (
            [
                255.0 * (2.0 * v).min(1.0),
                255.0 * (2.0 - 2.0 * v).min(1.0),
                255.0 * (1.0 - v),
            ],
            0.55 * v,
        )
    })
}

/// Bilinear sample (PyTorch `align_corners = False`: pixel centres at i + 0.5) of `a` at the
/// continuous position (r, c) in voxel units, edges clamped.
fn bilinear(a: &ArrayView2<f32>, r: f64, c: f64) -> f32 {
    let (nr, nc) = a.dim();
    let coord = |x: f64, n: usize| -> (usize, usize, f32) {
        let x = (x - 0.5).max(0.0);
        let i0 = (x.floor() as usize).min(n - 1);
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, (x - i0 as f64).min(1.0) as f32)
    };
    let (r0, r1, tr) = coord(r, nr);
    let (c0, c1, tc) = coord(c, nc);
    let top = a[[r0, c0]] + (a[[r0, c1]] - a[[r0, c0]]) * tc;
    let bot = a[[r1, c0]] + (a[[r1, c1]] - a[[r1, c0]]) * tc;
    top + (bot - top) * tr
}

/// Width in pixels of a mask outline (drawn inside the mask).
pub const OUTLINE_PX: i64 = 2;

/// Draws a slice at `px_per_mm` pixels per millimetre along both axes (so anisotropic voxels
/// keep their physical aspect): CT and heat bilinearly interpolated, the mask by nearest
/// neighbour with its outline drawn [`OUTLINE_PX`] wide in green, the marker as a white cross.
pub fn overlay_slice(s: &SliceLayers, px_per_mm: f64) -> Result<RgbImage> {
    let (nr, nc) = s.ct.dim();
    if nr == 0 || nc == 0 {
        return Err(MetricsError::Empty { what: "slice" });
    }
    if !(px_per_mm.is_finite() && px_per_mm > 0.0) {
        return Err(arg("px_per_mm", format!("{px_per_mm} is not > 0")));
    }
    if s.spacing_mm.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(arg("spacing_mm", format!("{:?} is not > 0", s.spacing_mm)));
    }
    let (lo, hi) = s.window;
    if lo.is_nan() || hi.is_nan() || hi <= lo {
        return Err(arg("window", format!("({lo}, {hi}) is empty")));
    }
    for (what, shape) in [
        ("heat", s.heat.map(|h| h.dim())),
        ("mask", s.mask.map(|m| m.dim())),
    ] {
        if let Some(sh) = shape
            && sh != (nr, nc)
        {
            return Err(arg(
                "slice",
                format!("{what} is {sh:?} but the CT slice is {:?}", (nr, nc)),
            ));
        }
    }
    let h = ((nr as f64 * s.spacing_mm[0] * px_per_mm).round() as usize).max(1);
    let w = ((nc as f64 * s.spacing_mm[1] * px_per_mm).round() as usize).max(1);
    check_pixels(w, h)?;
    // Source position (voxel units) of an output pixel centre.
    let src_r = |y: usize| (y as f64 + 0.5) * nr as f64 / h as f64;
    let src_c = |x: usize| (x as f64 + 0.5) * nc as f64 / w as f64;
    let inside = |x: usize, y: usize| -> bool {
        s.mask.is_some_and(|m| {
            let r = (src_r(y) as usize).min(nr - 1);
            let c = (src_c(x) as usize).min(nc - 1);
            m[[r, c]]
        })
    };
    let mut img = RgbImage::filled(w, h, [0, 0, 0]);
    let mut mask_up = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            mask_up[y * w + x] = inside(x, y);
        }
    }
    for y in 0..h {
        for x in 0..w {
            let (r, c) = (src_r(y), src_c(x));
            let g = ((bilinear(&s.ct, r, c) - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0;
            let mut px = [g, g, g];
            if let Some(hm) = &s.heat
                && let Some((col, a)) = heat_colour(bilinear(hm, r, c))
            {
                for (p, c) in px.iter_mut().zip(col) {
                    *p = *p * (1.0 - a) + c * a;
                }
            }
            // Outline: a mask pixel with a background pixel within OUTLINE_PX (chessboard).
            if mask_up[y * w + x] {
                let edge = (-OUTLINE_PX..=OUTLINE_PX).any(|dy| {
                    (-OUTLINE_PX..=OUTLINE_PX).any(|dx| {
                        let (xx, yy) = (x as i64 + dx, y as i64 + dy);
                        xx < 0
                            || yy < 0
                            || xx >= w as i64
                            || yy >= h as i64
                            || !mask_up[yy as usize * w + xx as usize]
                    })
                });
                if edge {
                    px = [0.0, 230.0, 0.0];
                }
            }
            img.pixels[y * w + x] = [px[0] as u8, px[1] as u8, px[2] as u8];
        }
    }
    if let Some([mr, mc]) = s.marker {
        let cy = ((mr as f64 + 0.5) * h as f64 / nr as f64) as i64;
        let cx = ((mc as f64 + 0.5) * w as f64 / nc as f64) as i64;
        let arm = (w.max(h) / 40).max(4) as i64;
        for d in -arm..=arm {
            if d.abs() < 2 {
                continue; // leave the peak voxel itself visible
            }
            for t in [-1i64, 0] {
                for (x, y) in [(cx + d, cy + t), (cx + t, cy + d)] {
                    if (0..w as i64).contains(&x) && (0..h as i64).contains(&y) {
                        img.pixels[y as usize * w + x as usize] = [255, 255, 255];
                    }
                }
            }
        }
    }
    Ok(img)
}

/// An orthographic view direction: the camera looks along `forward` with `up` up on screen;
/// screen right is forward x up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshView {
    pub name: &'static str,
    pub forward: [f64; 3],
    pub up: [f64; 3],
}

/// The three standard views of a mesh in LPS millimetres (x to the patient's left, y
/// posterior, z superior): from the front (the patient's left on the image right), from the
/// patient's left (face to the image left) and from above (face at the top).
pub const LPS_VIEWS: [MeshView; 3] = [
    MeshView {
        name: "anterior",
        forward: [0.0, 1.0, 0.0],
        up: [0.0, 0.0, 1.0],
    },
    MeshView {
        name: "left lateral",
        forward: [-1.0, 0.0, 0.0],
        up: [0.0, 0.0, 1.0],
    },
    MeshView {
        name: "superior",
        forward: [0.0, 0.0, -1.0],
        up: [0.0, -1.0, 0.0],
    },
];

/// What part of space an image shows: `centre` maps to the image centre, one pixel is
/// `mm_per_px` millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub centre: [f64; 3],
    pub mm_per_px: f64,
}

impl Frame {
    /// A frame showing every vertex from any direction in a `size_px` square with a 5%
    /// margin: centred on the bounding box, sized by the farthest vertex from that centre.
    /// One frame for all views of a mesh keeps their scales equal.
    pub fn fit(vertices: &[[f64; 3]], size_px: usize) -> Result<Self> {
        if vertices.is_empty() {
            return Err(MetricsError::Empty { what: "vertices" });
        }
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for v in vertices {
            for ((l, h), x) in lo.iter_mut().zip(hi.iter_mut()).zip(v) {
                *l = l.min(*x);
                *h = h.max(*x);
            }
        }
        let centre: [f64; 3] = std::array::from_fn(|a| 0.5 * (lo[a] + hi[a]));
        let r = vertices
            .iter()
            .map(|v| norm(sub(*v, centre)))
            .fold(0.0, f64::max)
            .max(1e-6);
        Ok(Self {
            centre,
            mm_per_px: 2.0 * r * 1.05 / size_px.max(1) as f64,
        })
    }
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}
fn unit(a: [f64; 3]) -> [f64; 3] {
    let n = norm(a);
    if n > 0.0 { a.map(|v| v / n) } else { a }
}

/// Share of the light that is ambient; the rest is Lambertian from a light at the camera.
pub const AMBIENT: f64 = 0.25;

/// Background of mesh renderings.
pub const MESH_BACKGROUND: [u8; 3] = [255, 255, 255];

/// Renders a triangle mesh (vertices in mm, triangles as vertex indices) seen along `view`
/// into a `size_px` square showing `frame`. Pixels are covered when their centre lies in a
/// projected triangle; the nearest surface wins (z-buffer). Shading uses vertex normals (the
/// area-weighted mean of the adjacent face normals) interpolated across each triangle:
/// intensity = AMBIENT + (1 - AMBIENT) |n . l|, with the light at the camera, times `colour`.
/// The absolute value lights surfaces seen from inside (an open mesh) like the outside.
pub fn render_mesh(
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
    view: &MeshView,
    frame: &Frame,
    size_px: usize,
    colour: [u8; 3],
) -> Result<RgbImage> {
    check_pixels(size_px, size_px)?;
    if !(frame.mm_per_px.is_finite() && frame.mm_per_px > 0.0) {
        return Err(arg("frame.mm_per_px", format!("{}", frame.mm_per_px)));
    }
    let f = unit(view.forward);
    let up = unit(view.up);
    if norm(view.forward) == 0.0 || norm(cross(f, up)) < 1e-9 {
        return Err(arg(
            "view",
            format!(
                "`{}`: forward and up must be non-zero and not parallel",
                view.name
            ),
        ));
    }
    let right = unit(cross(f, up));
    let up = cross(right, f);
    for (t, tri) in triangles.iter().enumerate() {
        if let Some(&bad) = tri.iter().find(|&&i| i as usize >= vertices.len()) {
            return Err(arg(
                "triangles",
                format!(
                    "triangle {t} uses vertex {bad} but there are {} vertices",
                    vertices.len()
                ),
            ));
        }
    }
    if let Some(i) = vertices
        .iter()
        .position(|v| v.iter().any(|x| !x.is_finite()))
    {
        return Err(MetricsError::NonFinite {
            what: "vertices",
            index: i,
            value: f64::NAN,
        });
    }
    // Vertex normals: the cross product's length is twice the area, so summing it weights
    // faces by area.
    let mut vn = vec![[0.0f64; 3]; vertices.len()];
    for tri in triangles {
        let [a, b, c] = tri.map(|i| vertices[i as usize]);
        let n = cross(sub(b, a), sub(c, a));
        for &i in tri {
            for (acc, x) in vn[i as usize].iter_mut().zip(n) {
                *acc += x;
            }
        }
    }
    let vn: Vec<[f64; 3]> = vn.into_iter().map(unit).collect();
    let half = size_px as f64 / 2.0;
    let project = |p: [f64; 3]| -> [f64; 3] {
        let d = sub(p, frame.centre);
        [
            half + dot(d, right) / frame.mm_per_px,
            half - dot(d, up) / frame.mm_per_px,
            dot(d, f),
        ]
    };
    let sv: Vec<[f64; 3]> = vertices.iter().map(|&p| project(p)).collect();
    let mut depth = vec![f64::INFINITY; size_px * size_px];
    let mut img = RgbImage::filled(size_px, size_px, MESH_BACKGROUND);
    for tri in triangles {
        let [a, b, c] = tri.map(|i| sv[i as usize]);
        // Signed doubled area in screen space; zero-area triangles cover no pixel centre.
        let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        if area.abs() < 1e-12 {
            continue;
        }
        let xmin = a[0].min(b[0]).min(c[0]).floor().max(0.0) as usize;
        let ymin = a[1].min(b[1]).min(c[1]).floor().max(0.0) as usize;
        let xmax = (a[0].max(b[0]).max(c[0]).ceil().max(0.0) as usize).min(size_px);
        let ymax = (a[1].max(b[1]).max(c[1]).ceil().max(0.0) as usize).min(size_px);
        let [na, nb, nc] = tri.map(|i| vn[i as usize]);
        for y in ymin..ymax {
            let py = y as f64 + 0.5;
            for x in xmin..xmax {
                let px = x as f64 + 0.5;
                // Barycentric weights from edge functions (either winding).
                let wa = ((b[0] - px) * (c[1] - py) - (b[1] - py) * (c[0] - px)) / area;
                let wb = ((c[0] - px) * (a[1] - py) - (c[1] - py) * (a[0] - px)) / area;
                let wc = 1.0 - wa - wb;
                if wa < 0.0 || wb < 0.0 || wc < 0.0 {
                    continue;
                }
                let z = wa * a[2] + wb * b[2] + wc * c[2];
                let slot = y * size_px + x;
                if z >= depth[slot] {
                    continue;
                }
                depth[slot] = z;
                let n = unit(std::array::from_fn(|k| {
                    wa * na[k] + wb * nb[k] + wc * nc[k]
                }));
                let i = AMBIENT + (1.0 - AMBIENT) * dot(n, f).abs().min(1.0);
                img.pixels[slot] = colour.map(|c| (c as f64 * i).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    Ok(img)
}

/// Saves panels side by side (8 px apart, a title line above each) as a PNG at `path`;
/// returns the image's width and height.
pub fn write_panels_png(path: &Path, panels: &[(String, RgbImage)]) -> Result<(u32, u32)> {
    let plot_err = |e: &dyn std::fmt::Display| MetricsError::Plot {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if panels.is_empty() {
        return Err(MetricsError::Empty { what: "panels" });
    }
    let (gap, title_h) = (8usize, 24usize);
    let w = panels.iter().map(|(_, p)| p.width).sum::<usize>() + gap * (panels.len() - 1);
    let h = title_h + panels.iter().map(|(_, p)| p.height).max().unwrap_or(0);
    check_pixels(w, h)?;
    crate::plots::register_fonts();
    let (w32, h32) = (w as u32, h as u32);
    {
        let root = BitMapBackend::new(path, (w32, h32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(&e))?;
        let mut x0 = 0usize;
        for (title, p) in panels {
            root.draw(&Text::new(
                title.clone(),
                (x0 as i32 + 2, 4),
                (crate::plots::FONT, 15).into_font(),
            ))
            .map_err(|e| plot_err(&e))?;
            for y in 0..p.height {
                for x in 0..p.width {
                    let [r, g, b] = p.get(x, y);
                    root.draw_pixel(((x0 + x) as i32, (title_h + y) as i32), &RGBColor(r, g, b))
                        .map_err(|e| plot_err(&e))?;
                }
            }
            x0 += p.width + gap;
        }
        root.present().map_err(|e| plot_err(&e))?;
    }
    Ok((w32, h32))
}

/// How a grid's index axes lie in LPS: for the anatomical axis x (left), y (posterior), z
/// (superior), the index axis closest to it and whether the index grows along it. `None` when
/// the grid is oblique enough that two anatomical axes pick the same index axis.
pub fn anatomical_axes(g: &tomofuse_core::Geometry) -> Option<[(usize, bool); 3]> {
    let axes: [(usize, bool); 3] = std::array::from_fn(|a| {
        let row = g.direction[a];
        let c = (0..3)
            .max_by(|&p, &q| row[p].abs().total_cmp(&row[q].abs()))
            .unwrap_or(a);
        (c, row[c] > 0.0)
    });
    let distinct = axes[0].0 != axes[1].0 && axes[1].0 != axes[2].0 && axes[0].0 != axes[2].0;
    distinct.then_some(axes)
}

/// An index axis and whether the picture runs against it.
type AxisDir = (usize, bool);

/// Axial, coronal and sagittal slices through voxel `at`, each titled, ready for
/// [`write_panels_png`]: radiological convention (the patient's left on the image right,
/// anterior up in the axial plane, superior up in the other two) whatever order the volume is
/// stored in, so a case stored RAS or feet-first looks like one stored LPS. CT windowed to
/// `window`, `heat` in [0, 1] blended in colour, `mask` outlined, `at` marked with a cross;
/// the volume's largest physical extent spans `panel_px` pixels. On a grid whose axes are not
/// close to LPS the panels are the index planes instead (named by the fixed index).
pub fn orthogonal_panels(
    hu: &tomofuse_core::Volume<f32>,
    heat: Option<&tomofuse_core::Volume<f32>>,
    mask: Option<&tomofuse_core::Mask>,
    at: [usize; 3],
    window: (f32, f32),
    panel_px: f64,
) -> Result<Vec<(String, RgbImage)>> {
    use ndarray::Array2;
    let sh = hu.shape();
    if (0..3).any(|a| at[a] >= sh[a]) {
        return Err(arg("at", format!("{at:?} is outside the volume {sh:?}")));
    }
    if heat.is_some_and(|h| h.shape() != sh) || mask.is_some_and(|m| m.shape() != sh) {
        return Err(arg("heat/mask", format!("not on the CT's {sh:?} grid")));
    }
    let sp = hu.geometry.spacing;
    // (fixed index axis, row axis and whether rows run against the index, same for columns).
    let planes: Vec<(String, usize, AxisDir, AxisDir)> = match anatomical_axes(&hu.geometry) {
        Some([x, y, z]) => {
            // Rows: anterior (axial) or superior (others) at the top; columns: the
            // patient's left to the right (axial, coronal), anterior to the left (sagittal).
            let down_posterior = (y.0, !y.1);
            let down_inferior = (z.0, z.1);
            let right_left = (x.0, !x.1);
            let right_posterior = (y.0, !y.1);
            vec![
                ("axial".into(), z.0, down_posterior, right_left),
                ("coronal".into(), y.0, down_inferior, right_left),
                ("sagittal".into(), x.0, down_inferior, right_posterior),
            ]
        }
        None => (0..3)
            .rev()
            .map(|f| {
                let (r, c) = match f {
                    0 => (1, 2),
                    1 => (0, 2),
                    _ => (0, 1),
                };
                (format!("index axis {f}"), f, (r, false), (c, false))
            })
            .collect(),
    };
    let extent = (0..3).map(|a| sh[a] as f64 * sp[a]).fold(0.0, f64::max);
    let px_per_mm = panel_px / extent.max(1e-6);
    let mut panels = Vec::new();
    for (label, fixed, (ra, rrev), (ca, crev)) in planes {
        let (nr, nc) = (sh[ra], sh[ca]);
        let idx = |r: usize, c: usize| -> [usize; 3] {
            let mut p = [0usize; 3];
            p[fixed] = at[fixed];
            p[ra] = if rrev { nr - 1 - r } else { r };
            p[ca] = if crev { nc - 1 - c } else { c };
            p
        };
        let ct = Array2::from_shape_fn((nr, nc), |(r, c)| hu.data[idx(r, c)]);
        let hm = heat.map(|h| Array2::from_shape_fn((nr, nc), |(r, c)| h.data[idx(r, c)]));
        let mk = mask.map(|m| Array2::from_shape_fn((nr, nc), |(r, c)| m.data[idx(r, c)] != 0));
        let pos = |a: usize, rev: bool, n: usize| if rev { n - 1 - at[a] } else { at[a] };
        let layers = SliceLayers {
            ct: ct.view(),
            heat: hm.as_ref().map(|h| h.view()),
            mask: mk.as_ref().map(|m| m.view()),
            spacing_mm: [sp[ra], sp[ca]],
            window,
            marker: Some([pos(ra, rrev, nr), pos(ca, crev, nc)]),
        };
        let img = overlay_slice(&layers, px_per_mm)?;
        panels.push((
            format!("{label} ({} = {})", ["i", "j", "k"][fixed], at[fixed]),
            img,
        ));
    }
    Ok(panels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// The same anatomy stored in another axis order (permuted, flipped: RAS, feet-first, ...)
    /// gives the same three pictures pixel for pixel, in the radiological convention.
    #[test]
    fn orthogonal_panels_do_not_depend_on_the_storage_order() {
        use ndarray::Array3;
        use tomofuse_core::{AxisMap, Geometry, Volume};
        let sh = [9, 7, 5];
        let ct = Array3::from_shape_fn(sh, |(i, j, k)| {
            ((i * 37 + j * 11 + k * 5) % 23) as f32 * 20.0 - 200.0
        });
        let heat = Array3::from_shape_fn(sh, |(i, j, k)| ((i + 2 * j + 3 * k) % 10) as f32 / 9.0);
        let mask = Array3::from_shape_fn(sh, |(i, j, k)| u8::from(i > 3 && j < 4 && k > 1));
        let g = Geometry {
            spacing: [1.0, 1.5, 2.5],
            ..Geometry::default()
        };
        let hu = Volume::new(ct, g).unwrap();
        let hm = Volume::new(heat, g).unwrap();
        let mk = Volume::new(mask, g).unwrap();
        let at = [5, 2, 3];
        let want = orthogonal_panels(&hu, Some(&hm), Some(&mk), at, (-200.0, 240.0), 96.0).unwrap();
        assert_eq!(want.len(), 3);
        assert!(want[0].0.starts_with("axial"), "{}", want[0].0);
        for map in [
            AxisMap::new([0, 1, 2], [true, true, false]).unwrap(),
            AxisMap::new([1, 2, 0], [true, false, true]).unwrap(),
            AxisMap::new([2, 0, 1], [false, true, true]).unwrap(),
        ] {
            let (h2, m2, k2) = (
                hu.permute_axes(&map).unwrap(),
                hm.permute_axes(&map).unwrap(),
                mk.permute_axes(&map).unwrap(),
            );
            // The voxel `at` in the new storage order: o[t] reads x[src[t]], reversed if flipped.
            let o: [usize; 3] = std::array::from_fn(|t| {
                let a = map.src[t];
                if map.flip[t] {
                    sh[a] - 1 - at[a]
                } else {
                    at[a]
                }
            });
            let got =
                orthogonal_panels(&h2, Some(&m2), Some(&k2), o, (-200.0, 240.0), 96.0).unwrap();
            for ((nw, w), (ng, g)) in want.iter().zip(&got) {
                assert_eq!(nw.split(' ').next(), ng.split(' ').next());
                assert!(w == g, "{map:?}: panel {nw} differs");
            }
        }
        let e = orthogonal_panels(&hu, None, None, [9, 0, 0], (-200.0, 240.0), 96.0).unwrap_err();
        assert!(e.to_string().contains("at"), "{e}");
    }

    #[test]
    fn bilinear_reproduces_a_linear_ramp_inside() {
        let a = Array2::from_shape_fn((5, 7), |(r, c)| (2 * r + 3 * c) as f32);
        let v = a.view();
        // Voxel (r, c) has its centre at (r + 0.5, c + 0.5).
        for (r, c) in [(1.5, 2.5), (2.0, 3.25), (3.9, 5.1)] {
            let want = 2.0 * (r - 0.5) + 3.0 * (c - 0.5);
            assert!((bilinear(&v, r, c) as f64 - want).abs() < 1e-5, "{r},{c}");
        }
    }
}
