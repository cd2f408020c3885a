//! Finds libxgboost (unpacked by scripts/fetch-libxgboost.sh into the folder named by
//! XGBOOST_LIB_DIR, set in .cargo/config.toml), fails early with a clear message when it is
//! absent, and gives this crate's tests, benches and examples an rpath to it so they run without
//! LD_LIBRARY_PATH. A library's link args do not reach other packages' binaries, so the folder is
//! also exported as DEP_TOMOFUSE_XGBOOST_RPATH for the `tomofuse` binary's build script.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=XGBOOST_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(dir) = std::env::var_os("XGBOOST_LIB_DIR").map(PathBuf::from) else {
        panic!(
            "XGBOOST_LIB_DIR is not set: build from the workspace (its .cargo/config.toml sets it to \
             third_party/lib) after running scripts/fetch-libxgboost.sh"
        );
    };
    // The wheel layout keeps the real library in xgboost/lib, where its own RPATH
    // ($ORIGIN/../../xgboost_cpu.libs) finds the bundled OpenMP runtime; a plain folder holding
    // libxgboost.so.3 (e.g. a source build) works too.
    let candidates = [dir.join("xgboost").join("lib"), dir.clone()];
    let Some(runtime_dir) = candidates
        .iter()
        .find(|d| d.join("libxgboost.so.3").exists() && dir.join("libxgboost.so").exists())
    else {
        panic!(
            "libxgboost not found: expected {}/libxgboost.so and libxgboost.so.3 (in {}/xgboost/lib \
             or {}). Run scripts/fetch-libxgboost.sh from the workspace root first.",
            dir.display(),
            dir.display(),
            dir.display()
        );
    };
    let runtime_dir = runtime_dir
        .canonicalize()
        .unwrap_or_else(|_| runtime_dir.clone());
    println!(
        "cargo:rerun-if-changed={}",
        runtime_dir.join("libxgboost.so.3").display()
    );
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", runtime_dir.display());
    println!("cargo:rpath={}", runtime_dir.display());
}
