//! Segmentation metrics against a brute-force computation over all surface-voxel pairs, with
//! anisotropic spacing.

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tomofuse_metrics::seg::squared_edt;
use tomofuse_metrics::*;

/// Random blobby mask: a few random boxes plus salt noise.
fn random_mask(rng: &mut ChaCha8Rng, shape: (usize, usize, usize)) -> Array3<bool> {
    let mut m = Array3::from_elem(shape, false);
    for _ in 0..3 {
        let lo = [
            rng.random_range(0..shape.0),
            rng.random_range(0..shape.1),
            rng.random_range(0..shape.2),
        ];
        let len = [
            rng.random_range(1..6),
            rng.random_range(1..6),
            rng.random_range(1..6),
        ];
        for i in lo[0]..(lo[0] + len[0]).min(shape.0) {
            for j in lo[1]..(lo[1] + len[1]).min(shape.1) {
                for k in lo[2]..(lo[2] + len[2]).min(shape.2) {
                    m[[i, j, k]] = true;
                }
            }
        }
    }
    for v in m.iter_mut() {
        if rng.random::<f64>() < 0.05 {
            *v = !*v;
        }
    }
    m
}

/// Naive surface: foreground with a background (or outside) 6-neighbour.
fn naive_surface(m: &Array3<bool>) -> Vec<[usize; 3]> {
    let s = m.dim();
    let mut out = Vec::new();
    for ((i, j, k), &v) in m.indexed_iter() {
        if !v {
            continue;
        }
        let nb: [(isize, isize, isize); 6] = [
            (-1, 0, 0),
            (1, 0, 0),
            (0, -1, 0),
            (0, 1, 0),
            (0, 0, -1),
            (0, 0, 1),
        ];
        let edge = nb.iter().any(|&(a, b, c)| {
            let (x, y, z) = (i as isize + a, j as isize + b, k as isize + c);
            x < 0
                || y < 0
                || z < 0
                || x >= s.0 as isize
                || y >= s.1 as isize
                || z >= s.2 as isize
                || !m[[x as usize, y as usize, z as usize]]
        });
        if edge {
            out.push([i, j, k]);
        }
    }
    out
}

fn dist(a: [usize; 3], b: [usize; 3], sp: [f64; 3]) -> f64 {
    (0..3)
        .map(|d| ((a[d] as f64 - b[d] as f64) * sp[d]).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn directed(a: &[[usize; 3]], b: &[[usize; 3]], sp: [f64; 3]) -> Vec<f64> {
    a.iter()
        .map(|&p| {
            b.iter()
                .map(|&q| dist(p, q, sp))
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

/// numpy.percentile(..., method="linear"), written independently.
fn np_percentile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let h = (s.len() - 1) as f64 * q / 100.0;
    let f = h.floor();
    let i = f as usize;
    if i + 1 < s.len() {
        s[i] + (h - f) * (s[i + 1] - s[i])
    } else {
        s[i]
    }
}

#[test]
fn hd95_assd_dice_equal_bruteforce_anisotropic() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let spacings = [[1.0, 1.0, 1.0], [0.7, 1.3, 2.5], [3.0, 0.5, 0.8]];
    let mut checked = 0;
    for trial in 0..12 {
        let shape = (
            rng.random_range(4..12),
            rng.random_range(4..12),
            rng.random_range(4..12),
        );
        let a = random_mask(&mut rng, shape);
        let b = random_mask(&mut rng, shape);
        let sp = spacings[trial % 3];
        let sa = naive_surface(&a);
        let sb = naive_surface(&b);
        if sa.is_empty() || sb.is_empty() {
            assert!(matches!(
                segmentation_metrics(a.view(), b.view(), sp),
                Err(MetricsError::EmptyMask { .. })
            ));
            continue;
        }
        let dab = directed(&sa, &sb, sp);
        let dba = directed(&sb, &sa, sp);
        let hd95 = np_percentile(&dab, 95.0).max(np_percentile(&dba, 95.0));
        let hd = dab.iter().chain(&dba).fold(0.0f64, |m, &x| m.max(x));
        let assd =
            (dab.iter().sum::<f64>() + dba.iter().sum::<f64>()) / (dab.len() + dba.len()) as f64;
        let na = a.iter().filter(|&&x| x).count() as f64;
        let nb = b.iter().filter(|&&x| x).count() as f64;
        let both = a.iter().zip(b.iter()).filter(|(x, y)| **x && **y).count() as f64;
        let m = segmentation_metrics(a.view(), b.view(), sp).unwrap();
        assert!(
            (m.hd95 - hd95).abs() < 1e-9,
            "trial {trial}: hd95 {} vs {hd95}",
            m.hd95
        );
        assert!(
            (m.hausdorff - hd).abs() < 1e-9,
            "trial {trial}: hd {} vs {hd}",
            m.hausdorff
        );
        assert!(
            (m.assd - assd).abs() < 1e-9,
            "trial {trial}: assd {} vs {assd}",
            m.assd
        );
        assert!((m.dice - 2.0 * both / (na + nb)).abs() < 1e-12);
        assert!((m.iou - both / (na + nb - both)).abs() < 1e-12);
        let vox = sp[0] * sp[1] * sp[2];
        assert!((m.volume_difference - (na - nb) * vox).abs() < 1e-9);
        // u8 masks give the same numbers.
        let a8 = a.mapv(|x| x as u8 * 3);
        let b8 = b.mapv(|x| x as u8);
        let m8 = segmentation_metrics(a8.view(), b8.view(), sp).unwrap();
        assert_eq!(m8.hd95, m.hd95);
        checked += 1;
    }
    assert!(checked >= 8, "too few non-empty trials: {checked}");
}

#[test]
fn edt_equals_bruteforce() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for sp in [[1.0, 1.0, 1.0], [0.6, 2.2, 1.1]] {
        let shape = [7, 9, 6];
        let feat: Vec<bool> = (0..shape.iter().product::<usize>())
            .map(|_| rng.random::<f64>() < 0.04)
            .collect();
        let pts: Vec<[usize; 3]> = (0..feat.len())
            .filter(|&i| feat[i])
            .map(|i| {
                [
                    i / (shape[1] * shape[2]),
                    (i / shape[2]) % shape[1],
                    i % shape[2],
                ]
            })
            .collect();
        assert!(!pts.is_empty());
        let d = squared_edt(&feat, shape, sp).unwrap();
        for (i, &v) in d.iter().enumerate() {
            let p = [
                i / (shape[1] * shape[2]),
                (i / shape[2]) % shape[1],
                i % shape[2],
            ];
            let bf = pts
                .iter()
                .map(|&q| dist(p, q, sp).powi(2))
                .fold(f64::INFINITY, f64::min);
            assert!((v - bf).abs() < 1e-9, "voxel {p:?}: {v} vs {bf}");
        }
    }
}

#[test]
fn bad_masks_are_errors() {
    let a = Array3::from_elem((3, 3, 3), true);
    let b = Array3::from_elem((3, 3, 4), true);
    assert!(matches!(
        segmentation_metrics(a.view(), b.view(), [1.0; 3]),
        Err(MetricsError::ShapeMismatch { .. })
    ));
    let e = Array3::from_elem((3, 3, 3), false);
    assert!(matches!(
        segmentation_metrics(a.view(), e.view(), [1.0; 3]),
        Err(MetricsError::EmptyMask { which: "reference" })
    ));
    assert!(matches!(
        segmentation_metrics(a.view(), a.view(), [1.0, 0.0, 1.0]),
        Err(MetricsError::InvalidArgument {
            name: "spacing",
            ..
        })
    ));
    // Identical masks: zero distances, Dice 1.
    let m = segmentation_metrics(a.view(), a.view(), [1.0, 2.0, 3.0]).unwrap();
    assert_eq!((m.dice, m.hd95, m.assd), (1.0, 0.0, 0.0));
}

/// The `Mask` entry point takes the spacing from the geometry and refuses different grids.
#[test]
fn masks_with_geometry() {
    use tomofuse_core::{Geometry, Volume};
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let a = random_mask(&mut rng, (8, 9, 7)).mapv(|x| x as u8);
    let b = random_mask(&mut rng, (8, 9, 7)).mapv(|x| x as u8);
    let sp = [0.8, 1.2, 2.0];
    let ma = Volume::new(a.clone(), Geometry::with_spacing(sp).unwrap()).unwrap();
    let mb = Volume::new(b.clone(), Geometry::with_spacing(sp).unwrap()).unwrap();
    let m = segmentation_metrics_masks(&ma, &mb).unwrap();
    let r = segmentation_metrics(a.view(), b.view(), sp).unwrap();
    assert_eq!((m.hd95, m.assd, m.dice), (r.hd95, r.assd, r.dice));
    let mc = Volume::new(b, Geometry::with_spacing([0.8, 1.2, 2.5]).unwrap()).unwrap();
    assert!(matches!(
        segmentation_metrics_masks(&ma, &mc),
        Err(MetricsError::Core(_))
    ));
}

/// Accumulate-then-aggregate: the summary is the mean/median of the per-case values.
#[test]
fn accumulator_aggregates_cases() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut acc = SegmentationAccumulator::default();
    let mut dices = Vec::new();
    while acc.cases.len() < 3 {
        let a = random_mask(&mut rng, (6, 7, 8));
        let b = random_mask(&mut rng, (6, 7, 8));
        if let Ok(m) = acc.push(a.view(), b.view(), [1.0, 1.0, 2.0]) {
            dices.push(m.dice);
        }
    }
    let s = acc.aggregate().unwrap();
    assert!((s.dice.mean - dices.iter().sum::<f64>() / 3.0).abs() < 1e-15);
    let mut sorted = dices.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(s.dice.median, sorted[1]);
    acc.reset();
    assert!(matches!(acc.aggregate(), Err(MetricsError::Empty { .. })));
}
