//! The run directory: provenance (`manifest.json`), cached stage artifacts so a rerun skips
//! finished stages and an interrupted run resumes, and atomic writes (write, fsync, rename) so
//! a crash never leaves a half file that looks complete.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Fault injection for tests and drills: `TOMOFUSE_FAULT_WRITE` holds comma-separated path
/// fragments; writing a run-directory file whose path contains one fails as a full disk does
/// (ENOSPC). Unset, it costs one environment lookup.
pub fn check_write_fault(path: &Path) -> std::io::Result<()> {
    if let Ok(spec) = std::env::var("TOMOFUSE_FAULT_WRITE") {
        let p = path.to_string_lossy();
        if spec.split(',').any(|f| !f.is_empty() && p.contains(f)) {
            return Err(std::io::Error::from_raw_os_error(28));
        }
    }
    Ok(())
}

/// A temporary sibling of `path` unique to this process and call, so shards writing into one
/// run directory (possibly from several hosts) never share a temporary file. It is hidden
/// (leading dot) and ends with `path`'s own name, so writers that pick the format from the
/// ending (`.nii.gz`, `.parquet`) write the same bytes.
fn temp_sibling(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    dir.join(format!(
        ".tmp-{}-{nanos}-{}.{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes `path` atomically: `write` fills a temporary sibling, which is then renamed over
/// `path`; on failure the temporary is removed, so a crash or a full disk never leaves a half
/// file that looks complete.
pub fn atomic_write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    check_write_fault(path).with_context(|| format!("cannot write {}", path.display()))?;
    let tmp = temp_sibling(path);
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot write {}", path.display())));
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

/// Writes `bytes` to `path` atomically (temporary sibling, fsync, rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(())
    })
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value)?;
    atomic_write(path, &text)
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of a file (or, for a folder such as a DICOM series, of its files' names and
/// contents in sorted order).
pub fn hash_path(path: &Path) -> Result<String> {
    if !path.is_dir() {
        return tomofuse_radiomics::sha256_file(path)
            .with_context(|| format!("cannot read {}", path.display()));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut h = Sha256::new();
    for p in entries {
        h.update(p.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?);
    }
    Ok(hex::encode(h.finalize()))
}

/// The stored result of one case in one per-case stage: its value, or why it failed (a failure
/// is final for the same inputs, so a rerun does not retry a corrupt file forever).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseOutcome<T> {
    Ok(T),
    Failed(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct CaseRecord<T> {
    stage: String,
    case_id: String,
    key: String,
    outcome: CaseOutcome<T>,
}

/// A file name for a case id: the id itself when it is plain (letters, digits, `-`, `_`, `.`),
/// otherwise a sanitised id plus a hash, so no id can escape its folder.
pub fn case_file_name(id: &str) -> String {
    let plain = !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        id.to_string()
    } else {
        let safe: String = id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        format!("{safe}-{}", &sha256_hex(id.as_bytes())[..12])
    }
}

/// A marker for a finished stage: the key of the inputs it was computed from.
#[derive(Debug, Serialize, Deserialize)]
struct StageMarker {
    stage: String,
    key: String,
    seconds: f64,
}

/// The folder of one experiment run.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn create(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root.join("stages"))
            .with_context(|| format!("cannot create run directory {}", root.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Whether `stage` finished with `key` (its artifact present), without loading it.
    pub fn stage_done(&self, stage: &str, key: &str) -> bool {
        let marker = self.path(&format!("stages/{stage}.done.json"));
        std::fs::read(&marker)
            .ok()
            .and_then(|m| serde_json::from_slice::<StageMarker>(&m).ok())
            .is_some_and(|m| m.key == key)
            && self.path(&format!("stages/{stage}.json")).is_file()
    }

    fn case_path(&self, stage: &str, id: &str) -> PathBuf {
        self.root
            .join("cases")
            .join(stage)
            .join(format!("{}.json", case_file_name(id)))
    }

    /// The stored outcome of `id` in `stage`, if it was computed from inputs with this `key`.
    pub fn case_cached<T: DeserializeOwned>(
        &self,
        stage: &str,
        id: &str,
        key: &str,
    ) -> Option<CaseOutcome<T>> {
        let bytes = std::fs::read(self.case_path(stage, id)).ok()?;
        let r: CaseRecord<T> = serde_json::from_slice(&bytes).ok()?;
        (r.key == key && r.case_id == id).then_some(r.outcome)
    }

    /// Stores the outcome of `id` in `stage` atomically.
    pub fn case_store<T: Serialize>(
        &self,
        stage: &str,
        id: &str,
        key: &str,
        outcome: CaseOutcome<T>,
    ) -> Result<()> {
        write_json(
            &self.case_path(stage, id),
            &CaseRecord {
                stage: stage.into(),
                case_id: id.into(),
                key: key.into(),
                outcome,
            },
        )
    }

    /// Runs `compute` unless the stage already finished with the same `key`; the artifact is
    /// stored as JSON in `stages/<stage>.json` and returned either way.
    pub fn stage<T, F>(&self, stage: &str, key: &str, compute: F) -> Result<(T, bool)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T>,
    {
        let marker = self.path(&format!("stages/{stage}.done.json"));
        let artifact = self.path(&format!("stages/{stage}.json"));
        if let (Ok(m), Ok(a)) = (std::fs::read(&marker), std::fs::read(&artifact))
            && let Ok(m) = serde_json::from_slice::<StageMarker>(&m)
            && m.key == key
            && let Ok(v) = serde_json::from_slice::<T>(&a)
        {
            log::info!(
                "stage {stage}: cached (key {}), skipped",
                &key[..12.min(key.len())]
            );
            return Ok((v, true));
        }
        let t0 = std::time::Instant::now();
        let v = compute().with_context(|| format!("stage `{stage}` failed"))?;
        write_json(&artifact, &v)?;
        write_json(
            &marker,
            &StageMarker {
                stage: stage.into(),
                key: key.into(),
                seconds: t0.elapsed().as_secs_f64(),
            },
        )?;
        Ok((v, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// File hashes are plain SHA-256 (FIPS 180-2 test vector for "abc"); a folder's hash
    /// changes with a file's content and with its name.
    #[test]
    fn input_hashes_are_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.bin");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            hash_path(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let h0 = hash_path(dir.path()).unwrap();
        std::fs::write(&f, b"abd").unwrap();
        let h1 = hash_path(dir.path()).unwrap();
        std::fs::rename(&f, dir.path().join("b.bin")).unwrap();
        let h2 = hash_path(dir.path()).unwrap();
        assert!(h0 != h1 && h1 != h2 && h0 != h2);
        assert!(hash_path(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn stage_is_cached_by_key_and_recomputed_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let rd = RunDir::create(dir.path()).unwrap();
        let mut calls = 0;
        let (v, cached): (Vec<u32>, bool) = rd
            .stage("s", "k1", || {
                calls += 1;
                Ok(vec![1, 2])
            })
            .unwrap();
        assert_eq!((v, cached), (vec![1, 2], false));
        let (v, cached): (Vec<u32>, bool) = rd.stage("s", "k1", || unreachable!()).unwrap();
        assert_eq!((v, cached), (vec![1, 2], true));
        let (v, cached): (Vec<u32>, bool) = rd
            .stage("s", "k2", || {
                calls += 1;
                Ok(vec![3])
            })
            .unwrap();
        assert_eq!((v, cached), (vec![3], false));
        assert_eq!(calls, 2);
    }

    #[test]
    fn case_cache_round_trip_and_key_check() {
        let dir = tempfile::tempdir().unwrap();
        let rd = RunDir::create(dir.path()).unwrap();
        assert!(rd.case_cached::<f64>("s", "c1", "k").is_none());
        rd.case_store("s", "c1", "k", CaseOutcome::Ok(0.1 + 0.2))
            .unwrap();
        rd.case_store::<f64>("s", "c2", "k", CaseOutcome::Failed("bad".into()))
            .unwrap();
        match rd.case_cached::<f64>("s", "c1", "k") {
            Some(CaseOutcome::Ok(v)) => assert_eq!(v, 0.1 + 0.2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            rd.case_cached::<f64>("s", "c2", "k"),
            Some(CaseOutcome::Failed(r)) if r == "bad"
        ));
        assert!(rd.case_cached::<f64>("s", "c1", "other-key").is_none());
    }

    #[test]
    fn case_file_names_cannot_escape() {
        assert_eq!(case_file_name("sap-0001"), "sap-0001");
        for id in ["../x", "a/b", "", ".hidden", "Patient Name^X"] {
            let f = case_file_name(id);
            assert!(
                !f.contains('/') && !f.starts_with('.') && !f.is_empty(),
                "{id} -> {f}"
            );
        }
        assert_ne!(case_file_name("a/b"), case_file_name("a_b"));
    }

    #[test]
    fn injected_write_fault_is_enospc_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cases/x/victim.json");
        // SAFETY (test): no other thread of this test binary reads this variable.
        unsafe { std::env::set_var("TOMOFUSE_FAULT_WRITE", "victim") };
        let e = atomic_write(&p, b"{}").unwrap_err();
        unsafe { std::env::remove_var("TOMOFUSE_FAULT_WRITE") };
        assert!(format!("{e:#}").contains("os error 28"), "{e:#}");
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 0);
    }

    #[test]
    fn atomic_write_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.json");
        atomic_write(&p, b"{}").unwrap();
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("b.json")]);
    }
}
