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

/// Eigenvalues of a symmetric `n x n` matrix (row-major, full storage), ascending:
/// Householder reduction to tridiagonal form ([`tridiagonalize`]), then the implicit QL
/// iteration ([`tql`]); [`sym_eigen`]'s Jacobi sweeps only if QL does not converge. `O(n^3)`
/// with a small constant, much cheaper than Jacobi for the GLCM's MCC at tens of grey levels.
pub fn sym_eigen_tridiagonal(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    assert_eq!(a.len(), n * n, "an n x n matrix");
    let full = a.clone();
    let (mut d, mut e, mut u, mut p) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    tridiagonalize(&mut a, n, &mut d, &mut e, &mut u, &mut p);
    if tql(&mut d, &mut e, &mut []).is_none() {
        return sym_eigen(full.chunks(n.max(1)).map(|r| r.to_vec()).collect());
    }
    d.sort_by(|x, y| x.total_cmp(y));
    d
}

/// Dot product with four independent accumulators (a sequential sum is latency-bound and
/// does not vectorise).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Householder reduction of the symmetric `n x n` matrix `a` (row-major, full storage on
/// entry; only the upper triangle is read and updated, the lower becomes stale) to
/// tridiagonal form: diagonal in `d`, off-diagonal in `e` (`e[i]` couples `i` and `i + 1`,
/// `e[n - 1] = 0`). Row segments stay contiguous, so the symmetric matrix-vector product and
/// the rank-2 update run over slices.
pub(crate) fn tridiagonalize(
    a: &mut [f64],
    n: usize,
    d: &mut Vec<f64>,
    e: &mut Vec<f64>,
    u: &mut Vec<f64>,
    p: &mut Vec<f64>,
) {
    d.clear();
    d.resize(n, 0.0);
    e.clear();
    e.resize(n, 0.0);
    u.clear();
    u.resize(n, 0.0);
    p.clear();
    p.resize(n, 0.0);
    for i in 0..n.saturating_sub(2) {
        let m = n - i - 1;
        let x = &a[i * n + i + 1..i * n + n];
        let sigma = dot(&x[1..], &x[1..]);
        let x0 = x[0];
        d[i] = a[i * n + i];
        if sigma == 0.0 {
            e[i] = x0;
            continue;
        }
        let mu = (x0 * x0 + sigma).sqrt();
        let alpha = if x0 >= 0.0 { -mu } else { mu };
        let (u, p) = (&mut u[..m], &mut p[..m]);
        u.copy_from_slice(x);
        u[0] = x0 - alpha;
        let beta = 2.0 / (u[0] * u[0] + sigma);
        // p = beta A22 u from the upper triangle (row r holds columns r..), contiguous.
        p.iter_mut().for_each(|x| *x = 0.0);
        for r in 0..m {
            let g = i + 1 + r;
            let row = &a[g * n + g..g * n + n];
            let ur = u[r];
            p[r] += dot(row, &u[r..]);
            for (pc, &x) in p[r + 1..].iter_mut().zip(&row[1..]) {
                *pc += ur * x;
            }
        }
        p.iter_mut().for_each(|x| *x *= beta);
        let kk = 0.5 * beta * dot(u, p);
        for r in 0..m {
            p[r] -= kk * u[r];
        }
        // A22 -= u w^T + w u^T, upper triangle only.
        for r in 0..m {
            let g = i + 1 + r;
            let (ur, pr) = (u[r], p[r]);
            let row = &mut a[g * n + g..g * n + n];
            for ((x, &uc), &pc) in row.iter_mut().zip(&u[r..]).zip(&p[r..]) {
                *x -= ur * pc + pr * uc;
            }
        }
        e[i] = alpha;
    }
    if n >= 2 {
        d[n - 2] = a[(n - 2) * n + n - 2];
        e[n - 2] = a[(n - 2) * n + n - 1];
    }
    if n >= 1 {
        d[n - 1] = a[n * n - 1];
        e[n - 1] = 0.0;
    }
}

/// Eigenvalues of the symmetric tridiagonal matrix with diagonal `d` and off-diagonal `e`
/// (`e[i]` couples `i` and `i + 1`; `e[n - 1]` unused) by the QL iteration with implicit
/// shifts (`tqli`), in place in `d`. A non-empty `z` holds on entry a row of the identity
/// and on exit that row of the eigenvector matrix. None when an eigenvalue needs more than
/// 60 iterations.
pub(crate) fn tql(d: &mut [f64], e: &mut [f64], z: &mut [f64]) -> Option<()> {
    let n = d.len();
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() + dd == dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            if iter > 60 {
                return None;
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = (g * g + 1.0).sqrt();
            g = d[m] - d[l] + e[l] / (g + if g >= 0.0 { r } else { -r });
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut i = m;
            let mut underflow = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = (f * f + g * g).sqrt();
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                if !z.is_empty() {
                    let f = z[i + 1];
                    z[i + 1] = s * z[i] + c * f;
                    z[i] = c * z[i] - s * f;
                }
            }
            if underflow {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    Some(())
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
