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

/// Eigenvalues of a symmetric `n x n` matrix (row-major, only the lower triangle is read),
/// ascending: Householder reduction to tridiagonal form, then the implicit QL iteration with
/// Wilkinson shifts. `O(n^3)` with a small constant (about `4/3 n^3` for the reduction), much
/// cheaper than [`sym_eigen`]'s Jacobi sweeps for the GLCM's MCC at tens of grey levels.
pub fn sym_eigen_tridiagonal(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    assert_eq!(a.len(), n * n, "an n x n matrix");
    if n == 0 {
        return Vec::new();
    }
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    // Householder: row i (i = n-1 .. 1) is reduced against its first i entries.
    for i in (1..n).rev() {
        let l = i - 1;
        let (row_i, _) = a.split_at(i * n + n);
        let scale: f64 = row_i[i * n..i * n + i].iter().map(|v| v.abs()).sum();
        if l == 0 || scale == 0.0 {
            e[i] = a[i * n + l];
            d[i] = 0.0;
            continue;
        }
        let mut h = 0.0;
        for k in 0..=l {
            a[i * n + k] /= scale;
            h += a[i * n + k] * a[i * n + k];
        }
        let f = a[i * n + l];
        let g = if f >= 0.0 { -h.sqrt() } else { h.sqrt() };
        e[i] = scale * g;
        h -= f * g;
        a[i * n + l] = f - g;
        let mut f = 0.0;
        for j in 0..=l {
            // g = (A u)_j over the lower triangle of the leading (l+1) block.
            let mut g = 0.0;
            for k in 0..=j {
                g += a[j * n + k] * a[i * n + k];
            }
            for k in j + 1..=l {
                g += a[k * n + j] * a[i * n + k];
            }
            e[j] = g / h;
            f += e[j] * a[i * n + j];
        }
        let hh = f / (h + h);
        for j in 0..=l {
            let f = a[i * n + j];
            let g = e[j] - hh * f;
            e[j] = g;
            for k in 0..=j {
                a[j * n + k] -= f * e[k] + g * a[i * n + k];
            }
        }
        d[i] = h;
    }
    for (i, di) in d.iter_mut().enumerate() {
        *di = a[i * n + i];
    }
    // Implicit QL on the tridiagonal (d diagonal, e[i] coupling i and i + 1).
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l || iter >= 60 {
                break;
            }
            iter += 1;
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut deflated = false;
            for i in (l..m).rev() {
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
            }
            if deflated {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    d.sort_by(|x, y| x.total_cmp(y));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tridiagonal QL solver against Jacobi and against matrices of known spectrum
    /// (`Q diag(lambda) Q^T` with a Householder reflection Q), including repeated, zero and
    /// negative eigenvalues, sizes 1 to 40.
    #[test]
    fn tridiagonal_eigenvalues_equal_jacobi_and_known_spectra() {
        for n in [1usize, 2, 3, 5, 12, 40] {
            let lambda: Vec<f64> = (0..n)
                .map(|i| match i % 4 {
                    0 => 1.0,
                    1 => 0.0,
                    2 => -0.25 * i as f64,
                    _ => 1.0 / (i as f64 + 1.0),
                })
                .collect();
            let v: Vec<f64> = (0..n).map(|i| ((i * 37 + 11) % 17) as f64 - 8.0).collect();
            let vv: f64 = v.iter().map(|x| x * x).sum();
            // Q = I - 2 v v^T / |v|^2
            let q = |i: usize, j: usize| f64::from(i == j) - 2.0 * v[i] * v[j] / vv;
            let mut m = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    m[i * n + j] = (0..n).map(|k| q(i, k) * lambda[k] * q(j, k)).sum();
                }
            }
            let mut want = lambda.clone();
            want.sort_by(|x, y| x.total_cmp(y));
            let got = sym_eigen_tridiagonal(m.clone(), n);
            let jac = sym_eigen(m.chunks(n).map(|r| r.to_vec()).collect());
            for ((g, w), j) in got.iter().zip(&want).zip(&jac) {
                assert!((g - w).abs() < 1e-12, "n {n}: {got:?} vs {want:?}");
                assert!((g - j).abs() < 1e-12, "n {n}: {got:?} vs Jacobi {jac:?}");
            }
        }
    }
}
