//! Times the 2000-resample stratified bootstrap CI of the AUC on a CSV of `label,score` rows
//! (no header) and prints JSON; driven by benches/python/metrics_speed.py.
use std::time::Instant;
use tomofuse_metrics::{BootstrapConfig, bootstrap_auc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: bootstrap_speed FILE.csv [REPEATS]")?;
    let repeats: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200);
    let text = std::fs::read_to_string(&path)?;
    let mut labels = Vec::new();
    let mut scores = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut it = line.split(',');
        let (Some(l), Some(s)) = (it.next(), it.next()) else {
            return Err(format!("{path}: line {} needs `label,score`", i + 1).into());
        };
        labels.push(l.trim() == "1");
        scores.push(s.trim().parse::<f64>()?);
    }
    let cfg = BootstrapConfig::default();
    let mut ci = bootstrap_auc(&labels, &scores, &cfg)?; // warm-up (thread pool, caches)
    let cpu0 = process_cpu_seconds();
    let wall0 = Instant::now();
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        ci = bootstrap_auc(&labels, &scores, &cfg)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let wall_total = wall0.elapsed().as_secs_f64();
    // CPU time per run (all threads): robust to other processes competing for the cores.
    let cpu_ms = match (cpu0, process_cpu_seconds()) {
        (Some(a), Some(b)) => (b - a) / repeats as f64 * 1e3,
        _ => f64::NAN,
    };
    let _ = wall_total;
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"median_ms\": {}, \"min_ms\": {}, \"cpu_ms_per_run\": {}, \"threads\": {}, \"auc\": {}, \"percentile\": [{}, {}], \"bca\": [{}, {}]}}",
        times[times.len() / 2],
        times[0],
        cpu_ms,
        rayon::current_num_threads(),
        ci.estimate,
        ci.percentile.lower,
        ci.percentile.upper,
        ci.bca.lower,
        ci.bca.upper
    );
    Ok(())
}

/// utime + stime of this process from /proc/self/stat (Linux; clock ticks of 10 ms).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
