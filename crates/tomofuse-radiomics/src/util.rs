//! Small numeric helpers shared by the families.

/// Linear-interpolation percentile of sorted data (numpy's default), `q` in [0, 100]: the
/// reference for [`percentiles`].
#[cfg(test)]
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

/// [`percentile_sorted`] of unsorted data for several `qs` at once: the order statistics
/// they interpolate between are found by selection (`O(n)` each, on the part of the data
/// above the previous one; a rank right after a selected one is the smallest value above
/// it) instead of a sort, with the same values.
pub fn percentiles(values: &[f64], qs: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![f64::NAN; qs.len()];
    }
    let pos: Vec<f64> = qs.iter().map(|q| q / 100.0 * (n - 1) as f64).collect();
    let mut ranks: Vec<usize> = pos
        .iter()
        .flat_map(|&p| {
            [
                (p.floor() as usize).min(n - 1),
                (p.ceil() as usize).min(n - 1),
            ]
        })
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    let mut v = values.to_vec();
    let mut stat = Vec::with_capacity(ranks.len());
    let mut start = 0;
    for (i, &r) in ranks.iter().enumerate() {
        // v[..start] holds values <= v[start], so rank r lies in v[start..].
        if i > 0 && r == start + 1 {
            // The next rank after a selected one (the ceiling after the floor of a
            // percentile): the smallest of what lies above it, moved to its place.
            let k = (r..n)
                .min_by(|&a, &b| v[a].total_cmp(&v[b]))
                .expect("r < n");
            v.swap(r, k);
            stat.push((r, v[r]));
        } else {
            let (_, x, _) = v[start..].select_nth_unstable_by(r - start, |a, b| a.total_cmp(b));
            stat.push((r, *x));
        }
        start = r;
    }
    let at = |r: usize| stat[stat.partition_point(|&(k, _)| k < r)].1;
    pos.iter()
        .map(|&p| {
            let lo = p.floor() as usize;
            let (a, b) = (at(lo.min(n - 1)), at((p.ceil() as usize).min(n - 1)));
            a + (b - a) * (p - lo as f64)
        })
        .collect()
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
/// with a small constant. The tests' check of the two pieces on whole spectra (MCC needs only
/// the extreme eigenvalues: [`MccSolver`]).
#[cfg(test)]
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
/// does not vectorise). Inlined so that callers compiled for AVX2 vectorise it too.
#[inline(always)]
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
///
/// Compiled for AVX2 as well and chosen at run time: wider vectors, the same operations in
/// the same order (no fused multiply-add), so the same values on every x86-64 CPU. This is
/// the `O(n^3)` part of every MCC (ROI-level and voxel maps).
pub(crate) fn tridiagonalize(
    a: &mut [f64],
    n: usize,
    d: &mut Vec<f64>,
    e: &mut Vec<f64>,
    u: &mut Vec<f64>,
    p: &mut Vec<f64>,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { tridiagonalize_avx2(a, n, d, e, u, p) };
        return;
    }
    tridiagonalize_any(a, n, d, e, u, p);
}

/// [`tridiagonalize_any`] compiled with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn tridiagonalize_avx2(
    a: &mut [f64],
    n: usize,
    d: &mut Vec<f64>,
    e: &mut Vec<f64>,
    u: &mut Vec<f64>,
    p: &mut Vec<f64>,
) {
    tridiagonalize_any(a, n, d, e, u, p);
}

/// The body of [`tridiagonalize`] for any target.
#[inline(always)]
fn tridiagonalize_any(
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

/// The maximal correlation coefficient (GLCM MCC) of a symmetric count matrix, with its
/// buffers reused across calls (the ROI-level GLCM and the voxel maps both use it). With
/// `P` the normalised matrix and `D = diag(px)`, PyRadiomics' `Q = D^-1 P D^-1 P` is similar
/// to `A^2`, `A = D^-1/2 P D^-1/2` (symmetric, largest eigenvalue 1 with unit eigenvector
/// `v = sqrt(px)`); the second-largest eigenvalue of `Q` is the largest `lambda^2` over
/// the other eigenvalues of `A`, so MCC is the largest `|lambda|` of `B = A - v v^T`.
#[derive(Default)]
pub(crate) struct MccSolver {
    /// Callers' scratch: the levels present, the subset passed in, its row sums.
    pub(crate) present: Vec<usize>,
    pub(crate) idx: Vec<usize>,
    pub(crate) r: Vec<f64>,
    /// Union-find parents of the levels (connected components of the co-occurrence graph).
    parent: Vec<usize>,
    a: Vec<f64>,
    v: Vec<f64>,
    d: Vec<f64>,
    e: Vec<f64>,
    u: Vec<f64>,
    p: Vec<f64>,
    /// `r^-1/2` per level.
    s: Vec<f64>,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

impl MccSolver {
    /// MCC from the symmetric counts `c(x, y)` (`count(x, y)`) and row sums `r` of `k`
    /// levels, all `r > 0`, total `t` (levels without pairs are left out by the caller:
    /// they only add zero eigenvalues).
    pub(crate) fn mcc(
        &mut self,
        k: usize,
        t: f64,
        r: &[f64],
        count: impl Fn(usize, usize) -> f64,
    ) -> f64 {
        // Each connected component of the co-occurrence graph has its own eigenvalue 1
        // (A sqrt(r_B) = sqrt(r_B) on a component B): two or more components give MCC 1.
        // One gather of the counts (upper triangle: all `tridiagonalize` reads), the
        // components from its non-zero entries, then B = A - v v^T in place (the eigenvalue
        // 1 becomes 0, the others stay) with `A = c(x, y) s_x s_y`, `s = r^-1/2`.
        let gather = |a: &mut Vec<f64>| {
            a.clear();
            a.resize(k * k, 0.0);
            for x in 0..k {
                for (y, c) in a[x * k + x..(x + 1) * k].iter_mut().enumerate() {
                    *c = count(x, x + y);
                }
            }
        };
        gather(&mut self.a);
        self.parent.clear();
        self.parent.extend(0..k);
        let mut comps = k;
        for x in 0..k {
            for y in x + 1..k {
                if self.a[x * k + y] > 0.0 {
                    let (fx, fy) = (find(&mut self.parent, x), find(&mut self.parent, y));
                    if fx != fy {
                        self.parent[fx] = fy;
                        comps -= 1;
                    }
                }
            }
        }
        if comps > 1 {
            return 1.0;
        }
        self.s.clear();
        self.s.extend(r.iter().map(|&ri| 1.0 / ri.sqrt()));
        self.v.clear();
        self.v.extend(r.iter().map(|&ri| (ri / t).sqrt()));
        let deflate = |a: &mut [f64], s: &[f64], v: &[f64]| {
            for x in 0..k {
                let (sx, vx) = (s[x], v[x]);
                for ((c, &sy), &vy) in a[x * k + x..(x + 1) * k]
                    .iter_mut()
                    .zip(&s[x..])
                    .zip(&v[x..])
                {
                    *c = *c * sx * sy - vx * vy;
                }
            }
        };
        deflate(&mut self.a, &self.s, &self.v);
        tridiagonalize(
            &mut self.a,
            k,
            &mut self.d,
            &mut self.e,
            &mut self.u,
            &mut self.p,
        );
        // The extreme eigenvalues by Laguerre's method, each checked by Sturm counts; QL
        // when a check fails. Every eigenvalue of B lies in [-1, 1] (A is similar to a
        // stochastic matrix): starting there saves the steps down from Gershgorin's bound.
        if let Some(m) = extreme_abs_eigenvalue(&self.d, &self.e, 1.0) {
            return m;
        }
        match tql(&mut self.d, &mut self.e, &mut []) {
            Some(()) => self.d.iter().fold(0.0f64, |m, x| m.max(x.abs())),
            // QL did not converge: the Jacobi solver on B, rebuilt (full storage).
            None => {
                gather(&mut self.a);
                deflate(&mut self.a, &self.s, &self.v);
                let a = &self.a;
                let full = (0..k)
                    .map(|x| (0..k).map(|y| a[x.min(y) * k + x.max(y)]).collect())
                    .collect();
                sym_eigen(full).iter().fold(0.0f64, |m, x| m.max(x.abs()))
            }
        }
    }
}

/// Largest eigenvalue of the symmetric tridiagonal `(sgn d, e)` (`e[i]` couples `i` and
/// `i + 1`), by Laguerre's iteration on the characteristic polynomial from above the
/// Gershgorin bound, or from just above `bound` when the caller knows every eigenvalue lies
/// in `[-bound, bound]` and that is lower (a start below the largest root is caught by the
/// Sturm check of [`extreme_abs_eigenvalue`]): for a polynomial with real roots it decreases monotonically to the
/// largest root, cubically near it. `p`, `p'` and `p''` come from the leading minors'
/// recurrence, rescaled so nothing overflows. None if it does not settle in 60 steps or
/// gives a non-finite value.
fn laguerre_top(d: &[f64], e: &[f64], sgn: f64, bound: f64) -> Option<f64> {
    let n = d.len();
    let mut x = f64::NEG_INFINITY;
    for i in 0..n {
        let off =
            if i > 0 { e[i - 1].abs() } else { 0.0 } + if i + 1 < n { e[i].abs() } else { 0.0 };
        x = x.max(sgn * d[i] + off);
    }
    x = (x + 1e-3 * (1.0 + x.abs())).min(bound * (1.0 + 1e-6));
    let nf = n as f64;
    for _ in 0..60 {
        // The characteristic polynomial and its two derivatives by the three-term
        // recurrence of the leading minors: multiply-adds only (a ratio form needs a
        // division per element, and divisions were this loop's latency chain), rescaled
        // together when they grow or shrink far (the recurrence is linear in the six).
        let (mut p0, mut p1) = (1.0f64, sgn * d[0] - x);
        let (mut q0, mut q1) = (0.0f64, -1.0f64);
        let (mut s0, mut s1) = (0.0f64, 0.0f64);
        for i in 1..n {
            let a = sgn * d[i] - x;
            let b = e[i - 1] * e[i - 1];
            let p2 = a * p1 - b * p0;
            let q2 = a * q1 - b * q0 - p1;
            let s2 = a * s1 - b * s0 - 2.0 * q1;
            (p0, p1, q0, q1, s0, s1) = (p1, p2, q1, q2, s1, s2);
            let m = p1.abs().max(q1.abs()).max(s1.abs());
            if m > 1e150 || (m < 1e-150 && m > 0.0) {
                let f = 1.0 / m;
                (p0, p1, q0, q1, s0, s1) = (p0 * f, p1 * f, q0 * f, q1 * f, s0 * f, s1 * f);
            }
        }
        if p1 == 0.0 {
            return Some(x); // x is an eigenvalue
        }
        let g = q1 / p1;
        let h = g * g - s1 / p1;
        // Here G = p'/p < 0 above the roots (p = det(T - x I)); Laguerre with the sign that
        // maximises the denominator's magnitude.
        let disc = ((nf - 1.0) * (nf * h - g * g)).max(0.0).sqrt();
        let den = if g >= 0.0 { g + disc } else { g - disc };
        if !den.is_finite() || den == 0.0 {
            return None;
        }
        let step = nf / den;
        x -= step;
        if !x.is_finite() {
            return None;
        }
        if step.abs() <= 1e-15 * x.abs().max(1.0) {
            return Some(x);
        }
    }
    None
}

/// Number of eigenvalues of the symmetric tridiagonal `(sgn d, e)` below `sigma` (the
/// negative pivots of the LDL^T factorisation of `T - sigma I`).
fn sturm_below(d: &[f64], e: &[f64], sgn: f64, sigma: f64) -> usize {
    let mut q = 1.0f64;
    let mut count = 0;
    for i in 0..d.len() {
        let b = if i > 0 { e[i - 1] * e[i - 1] } else { 0.0 };
        q = sgn * d[i] - sigma - if i > 0 { b / q } else { 0.0 };
        if q == 0.0 {
            q = -1e-300;
        }
        if q < 0.0 {
            count += 1;
        }
    }
    count
}

/// `max |lambda|` of the tridiagonal `(d, e)`: its largest and (through `-T`) smallest
/// eigenvalues by [`laguerre_top`], each confirmed by Sturm counts to be the extreme one
/// within 1e-10 (none above `x + 1e-10`, one at least above `x - 1e-10`). None if a check
/// fails (then the caller uses QL).
fn extreme_abs_eigenvalue(d: &[f64], e: &[f64], bound: f64) -> Option<f64> {
    let n = d.len();
    let mut best = 0.0f64;
    for sgn in [1.0, -1.0] {
        let x = laguerre_top(d, e, sgn, bound)?;
        let tol = 1e-10 * x.abs().max(1.0);
        if sturm_below(d, e, sgn, x + tol) != n || sturm_below(d, e, sgn, x - tol) == n {
            return None;
        }
        best = best.max(x.abs());
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' seeded generator (Knuth's 64-bit LCG): the next state at each call.
    fn lcg(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state
        }
    }

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

    #[test]
    fn mcc_equals_jacobi_on_the_dense_deflated_matrix() {
        // Random symmetric count matrices (sparse, some levels without pairs, some blocks
        // that never co-occur: eigenvalue 1 twice), compared with the full Jacobi solver.
        let mut lcg = lcg(4242);
        let mut next = || (lcg() >> 33) as u32;
        let mut sc = MccSolver::default();
        for k in 2..=30 {
            for rep in 0..15 {
                let mut c = vec![0u32; k * k];
                for _ in 0..(k * (1 + rep % 4)) {
                    let (i, j) = (next() as usize % k, next() as usize % k);
                    if rep % 5 == 4 && (i < k / 2) != (j < k / 2) {
                        continue; // two blocks
                    }
                    c[i * k + j] += 1;
                    c[j * k + i] += 1;
                }
                let r: Vec<f64> = (0..k)
                    .map(|i| c[i * k..(i + 1) * k].iter().sum::<u32>() as f64)
                    .collect();
                let keep: Vec<usize> = (0..k).filter(|&i| r[i] > 0.0).collect();
                if keep.len() < 2 {
                    continue;
                }
                let t: f64 = r.iter().sum();
                let rk: Vec<f64> = keep.iter().map(|&x| r[x]).collect();
                let n = keep.len();
                let mut dense = vec![vec![0.0; n]; n];
                for (xx, &x) in keep.iter().enumerate() {
                    for (yy, &y) in keep.iter().enumerate() {
                        dense[xx][yy] = c[x * k + y] as f64 / (r[x] * r[y]).sqrt()
                            - (r[x] / t).sqrt() * (r[y] / t).sqrt();
                    }
                }
                let want = sym_eigen(dense).iter().fold(0.0f64, |m, x| m.max(x.abs()));
                let got = sc.mcc(n, t, &rk, |x, y| c[keep[x] * k + keep[y]] as f64);
                assert!(
                    (got - want).abs() < 1e-8,
                    "k {k} rep {rep}: ours {got}, Jacobi {want}"
                );
            }
        }
    }

    #[test]
    fn laguerre_extremes_equal_ql_on_tridiagonals() {
        let mut lcg = lcg(99);
        let mut next = || (lcg() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        let mut failed_checks = 0;
        for n in 1..=40 {
            for rep in 0..25 {
                let d: Vec<f64> = (0..n).map(|_| next()).collect();
                // Some zero couplings (decoupled blocks) and tiny ones.
                let mut e: Vec<f64> = (0..n)
                    .map(|i| match (rep + i) % 7 {
                        0 => 0.0,
                        1 => 1e-9 * next(),
                        _ => next(),
                    })
                    .collect();
                e[n - 1] = 0.0;
                let (mut dq, mut eq) = (d.clone(), e.clone());
                tql(&mut dq, &mut eq, &mut []).unwrap();
                let want = dq.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                match extreme_abs_eigenvalue(&d, &e, f64::INFINITY) {
                    Some(got) => assert!(
                        (got - want).abs() <= 1e-9,
                        "n {n} rep {rep}: Laguerre {got}, QL {want}"
                    ),
                    None => failed_checks += 1,
                }
                // Scaled into [-1, 1], as MCC's B is: the start at the known bound.
                let g = (0..n)
                    .map(|i| d[i].abs() + e[i].abs() + if i > 0 { e[i - 1].abs() } else { 0.0 })
                    .fold(1e-300f64, f64::max);
                let (ds, es): (Vec<f64>, Vec<f64>) = (
                    d.iter().map(|x| x / g).collect(),
                    e.iter().map(|x| x / g).collect(),
                );
                match extreme_abs_eigenvalue(&ds, &es, 1.0) {
                    Some(got) => assert!(
                        (got - want / g).abs() <= 1e-9,
                        "n {n} rep {rep} scaled: Laguerre {got}, QL {}",
                        want / g
                    ),
                    None => failed_checks += 1,
                }
            }
        }
        // The checks may hand a case to QL, but not routinely.
        assert!(
            failed_checks < 100,
            "{failed_checks} of 2000 fell back to QL"
        );
    }

    /// Percentiles by selection equal those of the sorted data (numpy's linear rule), on
    /// data with ties, at the ends and for n = 1 and 2.
    #[test]
    fn percentiles_by_selection_equal_the_sorted_rule() {
        let mut lcg = lcg(7);
        let mut next = || (lcg() >> 40) as f64 / 1000.0;
        let qs = [0.0, 10.0, 25.0, 33.3, 50.0, 75.0, 90.0, 100.0];
        for n in [1usize, 2, 3, 10, 101, 1000] {
            for ties in [false, true] {
                let v: Vec<f64> = (0..n)
                    .map(|_| if ties { next().floor() % 7.0 } else { next() })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort_by(|a, b| a.total_cmp(b));
                let want: Vec<f64> = qs.iter().map(|&q| percentile_sorted(&sorted, q)).collect();
                assert_eq!(percentiles(&v, &qs), want, "n {n} ties {ties}");
            }
        }
        assert!(percentiles(&[], &[50.0])[0].is_nan());
    }
}
