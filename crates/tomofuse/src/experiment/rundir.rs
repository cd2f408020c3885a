//! The run directory: provenance (`manifest.json`), cached stage artifacts so a rerun skips
//! finished stages and an interrupted run resumes, and atomic writes (write, fsync, rename) so
//! a crash never leaves a half file that looks complete.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary sibling, fsync, then rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    Ok(())
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
    let mut h = Sha256::new();
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for p in entries {
            h.update(p.file_name().unwrap_or_default().as_encoded_bytes());
            h.update(std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?);
        }
    } else {
        h.update(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?);
    }
    Ok(hex::encode(h.finalize()))
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
