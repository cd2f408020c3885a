//! Records the git commit and compiler for run provenance and stage keys, and gives this
//! crate's tests an rpath to libxgboost (exported by tomofuse-fusion's build script through
//! `links`). The binary (`tomofuse-cli`) gets the same rpath from its own build script.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TOMOFUSE_XGBOOST_RPATH");
    if let Ok(dir) = std::env::var("DEP_TOMOFUSE_XGBOOST_RPATH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    println!(
        "cargo:rustc-env=TOMOFUSE_GIT_COMMIT={commit}{}",
        if dirty { "-dirty" } else { "" }
    );
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let v = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=TOMOFUSE_RUSTC={v}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/index");
}
