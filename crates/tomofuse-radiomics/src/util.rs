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
