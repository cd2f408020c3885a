//! Gives the binary an rpath to libxgboost (exported by tomofuse-fusion's build script through
//! `links`) so that `target/release/tomofuse` runs directly, not only under `cargo run`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TOMOFUSE_XGBOOST_RPATH");
    if let Ok(dir) = std::env::var("DEP_TOMOFUSE_XGBOOST_RPATH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
