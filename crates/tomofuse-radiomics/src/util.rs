//! Small numeric helpers shared by the families.

/// Linear-interpolation percentile of sorted data (numpy's default), `q` in [0, 100].
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (
        sorted[lo.min(sorted.len() - 1)],
        sorted[hi.min(sorted.len() - 1)],
    );
    a + (b - a) * (pos - lo as f64)
}

/// `-p log2 p` summed over positive p.
pub fn entropy2<I: IntoIterator<Item = f64>>(ps: I) -> f64 {
    -ps.into_iter()
        .filter(|&p| p > 0.0)
        .map(|p| p * p.log2())
        .sum::<f64>()
}

/// Eigenvalues of a symmetric matrix (cyclic Jacobi), ascending.
pub fn sym_eigen(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum::<f64>() + off;
        if off <= 1e-30 * scale.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let cs = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * cs;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = cs * akp - sn * akq;
                    row[q] = sn * akp + cs * akq;
                }
                // p < q: split the rows to update both at once.
                let (head, tail) = a.split_at_mut(q);
                for (apk, aqk) in head[p].iter_mut().zip(tail[0].iter_mut()) {
                    let (x, y) = (*apk, *aqk);
                    *apk = cs * x - sn * y;
                    *aqk = sn * x + cs * y;
                }
            }
        }
    }
    let mut e: Vec<f64> = (0..n).map(|i| a[i][i]).collect();
    e.sort_by(|x, y| x.total_cmp(y));
    e
}
