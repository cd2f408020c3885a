//! One thread budget and one pool for the whole process: rayon's global pool is sized from what
//! the process was given, so a cluster shard never uses more cores than it was allocated, and
//! candle's own spin-barrier pool is left without threads, so its elementwise ops run on the
//! calling rayon thread instead of a third busy thread competing for the same cores.

/// Where the thread count came from, for the log and the provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub threads: usize,
    pub source: String,
}

/// The thread budget: `RAYON_NUM_THREADS`, else Slurm's `SLURM_CPUS_PER_TASK`, else the cgroup
/// CPU quota (`cpu.max`), else the CPUs this process may run on.
pub fn budget(
    get: impl Fn(&str) -> Option<String>,
    cgroup_cpu_max: Option<String>,
    available: usize,
) -> Budget {
    let positive = |v: Option<String>| {
        v.and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    if let Some(n) = positive(get("RAYON_NUM_THREADS")) {
        return Budget {
            threads: n,
            source: "RAYON_NUM_THREADS".into(),
        };
    }
    if let Some(n) = positive(get("SLURM_CPUS_PER_TASK")) {
        return Budget {
            threads: n,
            source: "SLURM_CPUS_PER_TASK".into(),
        };
    }
    // cgroup v2: "max 100000" (no quota) or "<quota> <period>".
    if let Some(text) = cgroup_cpu_max {
        let mut it = text.split_whitespace();
        if let (Some(q), Some(p)) = (it.next(), it.next())
            && let (Ok(q), Ok(p)) = (q.parse::<f64>(), p.parse::<f64>())
            && q > 0.0
            && p > 0.0
        {
            let n = ((q / p).ceil() as usize).clamp(1, available.max(1));
            return Budget {
                threads: n,
                source: "cgroup cpu.max".into(),
            };
        }
    }
    Budget {
        threads: available.max(1),
        source: "available CPUs".into(),
    }
}

/// Applies the budget before any pool exists: rayon's global pool gets `threads`, and candle's
/// barrier pool (`CANDLE_NUM_THREADS`, its elementwise ops only; candle's matrix products use
/// rayon's pool) gets none unless the user set it. With both pools sized to the budget, the
/// barrier pool's spinning worker competed with rayon's: the ResNet fine-tuning step took 0.045
/// s against 0.041 s, the U-Net step 3% longer (benches/README.md, "Training on the pool").
pub fn init() -> Budget {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let b = budget(
        |k| std::env::var(k).ok(),
        std::fs::read_to_string("/sys/fs/cgroup/cpu.max").ok(),
        available,
    );
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    // A pool that already exists (cannot happen in main) keeps its size; nothing to report.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(b.threads)
        .build_global();
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(a, _)| *a == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn budget_follows_the_allocation() {
        let b = budget(
            env(&[("RAYON_NUM_THREADS", "3"), ("SLURM_CPUS_PER_TASK", "8")]),
            None,
            64,
        );
        assert_eq!((b.threads, b.source.as_str()), (3, "RAYON_NUM_THREADS"));
        let b = budget(
            env(&[("SLURM_CPUS_PER_TASK", "4")]),
            Some("max 100000".into()),
            64,
        );
        assert_eq!((b.threads, b.source.as_str()), (4, "SLURM_CPUS_PER_TASK"));
        // A 2.5-CPU quota rounds up to 3 threads; no quota falls through to the CPU count.
        assert_eq!(
            budget(env(&[]), Some("250000 100000".into()), 64).threads,
            3
        );
        assert_eq!(budget(env(&[]), Some("max 100000".into()), 6).threads, 6);
        // Unusable values are ignored, never zero threads.
        let b = budget(
            env(&[("RAYON_NUM_THREADS", "0"), ("SLURM_CPUS_PER_TASK", "x")]),
            None,
            2,
        );
        assert_eq!((b.threads, b.source.as_str()), (2, "available CPUs"));
    }
}
