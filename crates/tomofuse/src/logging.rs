//! Logging: env_logger's filter and format on stderr, plus an optional copy of every line in a
//! file of the run directory (`logs/*.log`), so a shard's log survives its node.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

struct Tee {
    inner: env_logger::Logger,
}

impl log::Log for Tee {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if !self.inner.matches(record) {
            return;
        }
        self.inner.log(record);
        if let Ok(mut guard) = FILE.lock()
            && let Some(f) = guard.as_mut()
        {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            // A log line that cannot be written is not worth failing the run for.
            let _ = writeln!(f, "{t:.3} {:<5} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {
        self.inner.flush();
        if let Ok(mut guard) = FILE.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = f.flush();
        }
    }
}

/// Installs the logger (`RUST_LOG` filters; default info).
pub fn init() {
    let inner = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,openjp2=warn"),
    )
    .format_target(false)
    .build();
    let level = inner.filter();
    if log::set_boxed_logger(Box::new(Tee { inner })).is_ok() {
        log::set_max_level(level);
    }
}

/// From now on, also appends every log line to `path`.
pub fn copy_to_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if let Ok(mut guard) = FILE.lock() {
        *guard = Some(f);
    }
    Ok(())
}
