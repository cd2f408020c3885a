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

/// The JPEG 2000 decoder's own messages (several per decoded slice at info) are noise for a
/// user; they stay at warn unless the user's `RUST_LOG` names them.
const QUIET: [&str; 2] = ["openjp2", "jpeg2k"];

/// The filter: `RUST_LOG` (default `info`) with the decoder crates at warn unless named in it.
pub fn filter_spec(rust_log: Option<&str>) -> String {
    let mut spec = rust_log
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info")
        .to_string();
    for q in QUIET {
        if !spec.contains(q) {
            spec.push_str(&format!(",{q}=warn"));
        }
    }
    spec
}

/// Installs the logger (`RUST_LOG` filters; default info).
pub fn init() {
    let spec = filter_spec(std::env::var("RUST_LOG").ok().as_deref());
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&spec).format_target(false);
    if let Ok(style) = std::env::var("RUST_LOG_STYLE") {
        builder.parse_write_style(&style);
    }
    let inner = builder.build();
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

#[cfg(test)]
mod tests {
    use super::filter_spec;

    #[test]
    fn decoder_noise_is_quiet_unless_asked_for() {
        assert_eq!(filter_spec(None), "info,openjp2=warn,jpeg2k=warn");
        assert_eq!(filter_spec(Some("debug")), "debug,openjp2=warn,jpeg2k=warn");
        assert_eq!(
            filter_spec(Some("info,openjp2=trace")),
            "info,openjp2=trace,jpeg2k=warn"
        );
    }
}
