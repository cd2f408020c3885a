//! The mesh rasteriser and the slice overlays against analytic pictures (feature `plots`): a
//! sphere's silhouette is a disc of area pi r^2 and its Lambert shading at distance d from the
//! centre is AMBIENT + (1 - AMBIENT) sqrt(1 - (d / r)^2); views put an off-centre box where
//! the LPS convention says; an upsampled mask square has its outline where the square's edges
//! map to.
#![cfg(feature = "plots")]

use ndarray::Array2;
use std::collections::HashMap;
use tomofuse_metrics::render::*;

/// Icosphere of radius `r` about `c`: the icosahedron with every face split in four
/// `levels` times, new vertices pushed out to the sphere; outward counter-clockwise faces.
fn icosphere(c: [f64; 3], r: f64, levels: usize) -> (Vec<[f64; 3]>, Vec<[u32; 3]>) {
    let t = (1.0 + 5f64.sqrt()) / 2.0;
    let mut v: Vec<[f64; 3]> = vec![
        [-1.0, t, 0.0],
        [1.0, t, 0.0],
        [-1.0, -t, 0.0],
        [1.0, -t, 0.0],
        [0.0, -1.0, t],
        [0.0, 1.0, t],
        [0.0, -1.0, -t],
        [0.0, 1.0, -t],
        [t, 0.0, -1.0],
        [t, 0.0, 1.0],
        [-t, 0.0, -1.0],
        [-t, 0.0, 1.0],
    ];
    let mut f: Vec<[u32; 3]> = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    let to_sphere = |p: [f64; 3]| {
        let n = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        p.map(|x| x / n)
    };
    v = v.into_iter().map(to_sphere).collect();
    for _ in 0..levels {
        let mut mid: HashMap<(u32, u32), u32> = HashMap::new();
        let mut nf = Vec::with_capacity(f.len() * 4);
        let mut midpoint = |a: u32, b: u32, v: &mut Vec<[f64; 3]>| -> u32 {
            let key = (a.min(b), a.max(b));
            *mid.entry(key).or_insert_with(|| {
                let (p, q) = (v[a as usize], v[b as usize]);
                v.push(to_sphere([
                    (p[0] + q[0]) / 2.0,
                    (p[1] + q[1]) / 2.0,
                    (p[2] + q[2]) / 2.0,
                ]));
                (v.len() - 1) as u32
            })
        };
        for [a, b, cc] in f {
            let ab = midpoint(a, b, &mut v);
            let bc = midpoint(b, cc, &mut v);
            let ca = midpoint(cc, a, &mut v);
            nf.extend([[a, ab, ca], [b, bc, ab], [cc, ca, bc], [ab, bc, ca]]);
        }
        f = nf;
    }
    let v = v
        .into_iter()
        .map(|p| [c[0] + r * p[0], c[1] + r * p[1], c[2] + r * p[2]])
        .collect();
    (v, f)
}

fn covered(img: &RgbImage) -> usize {
    img.pixels.iter().filter(|&&p| p != MESH_BACKGROUND).count()
}

#[test]
fn sphere_silhouette_area_and_lambert_shading() {
    let (r, centre) = (20.0, [3.0, -7.0, 11.0]);
    let (v, f) = icosphere(centre, r, 4);
    let size = 256;
    let frame = Frame {
        centre,
        mm_per_px: 0.25, // radius 80 px
    };
    let colour = [200, 160, 120];
    for view in LPS_VIEWS {
        let img = render_mesh(&v, &f, &view, &frame, size, colour).unwrap();
        let rp = r / frame.mm_per_px;
        let want = std::f64::consts::PI * rp * rp;
        let got = covered(&img) as f64;
        eprintln!("{}: {got} px vs pi r^2 = {want:.0}", view.name);
        assert!(
            (got / want - 1.0).abs() < 0.01,
            "{}: silhouette {got} px, pi r^2 = {want:.0}",
            view.name
        );
        // Shading along a row through the centre: the red channel is colour * intensity.
        let cy = size / 2;
        for d_px in [0usize, 20, 40, 60, 72] {
            let x = size / 2 + d_px;
            let d = (x as f64 + 0.5 - size as f64 / 2.0) / rp;
            let cos = (1.0 - d * d).max(0.0).sqrt();
            let want = colour[0] as f64 * (AMBIENT + (1.0 - AMBIENT) * cos);
            let got = img.get(x, cy)[0] as f64;
            assert!(
                (got - want).abs() <= 0.02 * colour[0] as f64 + 1.0,
                "{}: {d_px} px from the centre: {got} vs {want:.1}",
                view.name
            );
        }
    }
    // Frame::fit keeps the whole sphere in view with its 5% margin.
    let fit = Frame::fit(&v, size).unwrap();
    assert!((fit.mm_per_px - 2.0 * r * 1.05 / size as f64).abs() < 1e-3 * fit.mm_per_px);
    let img = render_mesh(&v, &f, &LPS_VIEWS[0], &fit, size, colour).unwrap();
    for i in 0..size {
        for (x, y) in [(0, i), (size - 1, i), (i, 0), (i, size - 1)] {
            assert_eq!(
                img.get(x, y),
                MESH_BACKGROUND,
                "border pixel {x},{y} covered"
            );
        }
    }
}

/// A small sphere at the patient's left (+x), superior (+z) and anterior (-y) of a large one
/// shows up where each view puts those directions.
#[test]
fn views_follow_the_lps_convention() {
    let (mut v, mut f) = icosphere([0.0; 3], 5.0, 2);
    let (v2, f2) = icosphere([30.0, -30.0, 30.0], 5.0, 2);
    let off = v.len() as u32;
    v.extend(v2);
    f.extend(f2.into_iter().map(|t| t.map(|i| i + off)));
    let frame = Frame {
        centre: [0.0; 3],
        mm_per_px: 0.5,
    };
    let size = 200;
    // Centroid of the covered pixels away from the big sphere (radius 10 px about the centre).
    let small_at = |view: &MeshView| -> (f64, f64) {
        let img = render_mesh(&v, &f, view, &frame, size, [255, 0, 0]).unwrap();
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for y in 0..size {
            for x in 0..size {
                let (dx, dy) = (x as f64 - 100.0, y as f64 - 100.0);
                if img.get(x, y) != MESH_BACKGROUND && dx * dx + dy * dy > 15.0 * 15.0 {
                    sx += dx;
                    sy += dy;
                    n += 1.0;
                }
            }
        }
        assert!(n > 50.0, "{}: small sphere not drawn", view.name);
        (sx / n, sy / n)
    };
    // Anterior: patient's left on the image right, superior up.
    let (x, y) = small_at(&LPS_VIEWS[0]);
    assert!((x - 60.0).abs() < 2.0 && (y + 60.0).abs() < 2.0, "{x},{y}");
    // Left lateral: anterior on the image left, superior up.
    let (x, y) = small_at(&LPS_VIEWS[1]);
    assert!((x + 60.0).abs() < 2.0 && (y + 60.0).abs() < 2.0, "{x},{y}");
    // Superior: anterior up; looking down, the patient's left is on the image left.
    let (x, y) = small_at(&LPS_VIEWS[2]);
    assert!((x + 60.0).abs() < 2.0 && (y + 60.0).abs() < 2.0, "{x},{y}");
    let bad = render_mesh(
        &v,
        &[[0, 1, 99_999]],
        &LPS_VIEWS[0],
        &frame,
        size,
        [1, 1, 1],
    );
    assert!(bad.unwrap_err().to_string().contains("triangles"));
}

/// The z-buffer keeps the nearest surface: a small sphere straight behind a large one (seen
/// from the front) leaves the picture of the large one unchanged, and in front of it shows.
#[test]
fn nearer_surface_hides_farther() {
    let (big_v, big_f) = icosphere([0.0; 3], 10.0, 3);
    let with = |y: f64| {
        let (mut v, mut f) = (big_v.clone(), big_f.clone());
        let (v2, f2) = icosphere([0.0, y, 0.0], 3.0, 3);
        let off = v.len() as u32;
        v.extend(v2);
        f.extend(f2.into_iter().map(|t| t.map(|i| i + off)));
        (v, f)
    };
    let frame = Frame {
        centre: [0.0; 3],
        mm_per_px: 0.2,
    };
    let draw = |(v, f): &(Vec<[f64; 3]>, Vec<[u32; 3]>)| {
        render_mesh(v, f, &LPS_VIEWS[0], &frame, 128, [255, 255, 255]).unwrap()
    };
    let alone = draw(&(big_v.clone(), big_f.clone()));
    assert_eq!(draw(&with(20.0)), alone, "a sphere behind showed through");
    assert_ne!(draw(&with(-20.0)), alone, "a sphere in front was hidden");
}

/// A 4 x 6 mask square (rows 2..6, cols 3..9 of 10 x 12 voxels, 2 mm x 1 mm) drawn at 3 px
/// per mm: rows map to 6 px each and columns to 3 px, so the outline lies on the square's
/// border at rows 12..36 and columns 9..27, OUTLINE_PX = 2 pixels wide, and nowhere else.
#[test]
fn overlay_outline_and_physical_aspect() {
    let ct = Array2::from_elem((10, 12), 0.0f32);
    let mask = Array2::from_shape_fn((10, 12), |(r, c)| {
        (2..6).contains(&r) && (3..9).contains(&c)
    });
    let img = overlay_slice(
        &SliceLayers {
            ct: ct.view(),
            heat: None,
            mask: Some(mask.view()),
            spacing_mm: [2.0, 1.0],
            window: (-1000.0, 1000.0),
            marker: None,
        },
        3.0,
    )
    .unwrap();
    assert_eq!((img.width, img.height), (36, 60));
    for y in 0..img.height {
        for x in 0..img.width {
            let inside = (12..36).contains(&y) && (9..27).contains(&x);
            let border = inside && (!(14..34).contains(&y) || !(11..25).contains(&x));
            let green = img.get(x, y) == [0, 230, 0];
            assert_eq!(green, border, "pixel {x},{y}");
            if !green {
                // HU 0 in a -1000..1000 window is mid grey.
                assert_eq!(img.get(x, y), [127, 127, 127], "pixel {x},{y}");
            }
        }
    }
    // Mismatched layers are an error naming what is wrong.
    let small = Array2::from_elem((3, 3), false);
    let e = overlay_slice(
        &SliceLayers {
            ct: ct.view(),
            heat: None,
            mask: Some(small.view()),
            spacing_mm: [1.0, 1.0],
            window: (-1000.0, 1000.0),
            marker: None,
        },
        3.0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("mask"), "{e}");
}

#[test]
fn panels_are_written_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("panels.png");
    let a = RgbImage::filled(30, 20, [255, 0, 0]);
    let b = RgbImage::filled(40, 25, [0, 0, 255]);
    let (w, h) = write_panels_png(&p, &[("a".into(), a), ("b".into(), b)]).unwrap();
    assert_eq!((w, h), (30 + 8 + 40, 24 + 25));
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR holds the size.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), w);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), h);
}
