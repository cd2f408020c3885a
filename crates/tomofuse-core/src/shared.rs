//! Where the reference data lives. One environment variable, `TOMOFUSE_SHARED`, with a default
//! of `../shared` next to the workspace; tests that need it skip *visibly* when it is absent.

use std::path::PathBuf;

/// Environment variable naming the shared reference-data folder.
pub const SHARED_ENV: &str = "TOMOFUSE_SHARED";

/// The shared folder: `$TOMOFUSE_SHARED`, else `../shared` beside the workspace root, else
/// `../shared` relative to the current directory. `None` when none of them exists.
pub fn shared_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var(SHARED_ENV) {
        let p = PathBuf::from(p);
        return p.is_dir().then_some(p);
    }
    // CARGO_MANIFEST_DIR of this crate is <root>/crates/tomofuse-core.
    let from_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if from_root.is_dir() {
        return Some(from_root);
    }
    let rel = PathBuf::from("../shared");
    rel.is_dir().then_some(rel)
}

/// Environment variable naming a file every visible skip is also appended to, one line each:
/// cargo captures the output of passing tests, so CI sets it and prints the file at the end.
pub const SKIP_LOG_ENV: &str = "TOMOFUSE_SKIP_LOG";

/// Reports a skipped check: on stderr (shown with `--nocapture` or when the test fails) and,
/// when `TOMOFUSE_SKIP_LOG` is set, as a line in that file (shown by CI whatever happens).
pub fn report_skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("?").to_string();
        // Appends of one short line are atomic enough for concurrent test threads; a skip log
        // that cannot be written must not fail the test that skipped.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{test}: {reason}");
        }
    }
}

/// A path inside the shared folder, or `None` (after printing why) when it is missing.
/// Tests call this and return early on `None`: the message makes the skip visible.
pub fn shared_path(rel: &str) -> Option<PathBuf> {
    match shared_dir() {
        Some(d) => {
            let p = d.join(rel);
            if p.exists() {
                Some(p)
            } else {
                report_skip(&format!("{rel} not found in shared folder {}", d.display()));
                None
            }
        }
        None => {
            report_skip(&format!(
                "shared reference folder not found (set {SHARED_ENV} or place it at ../shared); needed {rel}"
            ));
            None
        }
    }
}

/// In CI (`CI` set) a missing shared folder is an error, not a skip: CI always has it beside
/// the clone, so its absence means the check would silently not run.
pub fn require_shared(rel: &str) -> Option<PathBuf> {
    let p = shared_path(rel);
    if p.is_none() && std::env::var_os("CI").is_some() {
        panic!("CI is set but shared reference data `{rel}` is missing: the test cannot run");
    }
    p
}

/// Environment variable naming the Python interpreter used by cross-check tests.
pub const PYTHON_ENV: &str = "TOMOFUSE_PYTHON";

/// A Python interpreter that can import every module in `modules` (for comparisons against
/// peer libraries such as SimpleITK or scikit-learn), or `None` after printing a visible skip.
/// Under CI (`CI` set) a missing module panics instead: CI installs them, so a skip there
/// would hide a check that must run.
pub fn python_with(modules: &[&str]) -> Option<String> {
    let py = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_string());
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let ok = std::process::Command::new(&py)
        .args(["-c", &code])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but `{py}` cannot import {modules:?}: .ci/run must install them");
    }
    report_skip(&format!(
        "`{py}` cannot import {modules:?}; install them to run this cross-check"
    ));
    None
}
