//! What a restore task puts on the agent's host before it is done: listed
//! in the agent's state directory (`restores/{job}.json`, 0600) before the
//! first byte is written. A task that fails removes them itself (on drop);
//! the list outlives only an agent that died, and its next start removes
//! what it names.

use crate::error::{Result, ServiceError};
use std::path::{Path, PathBuf};

const DIR: &str = "restores";

/// The files of one unfinished restore.
#[derive(Debug)]
pub(super) struct Leftovers {
    list: PathBuf,
    files: Vec<PathBuf>,
    kept: bool,
}

fn remove_files(files: &[PathBuf]) -> usize {
    let mut removed = 0;
    for f in files {
        if f.symlink_metadata().is_ok_and(|m| m.is_file()) {
            match std::fs::remove_file(f) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(path = %f.display(), error = %e, "could not remove a restore's file");
                }
            }
        }
    }
    removed
}

impl Leftovers {
    /// Lists `files` (none of which may be a file the host had before) as
    /// the restore `job`'s.
    pub(super) fn begin(state_dir: &Path, job: &str, files: Vec<PathBuf>) -> Result<Self> {
        let dir = state_dir.join(DIR);
        crate::images::create_private_dir(&dir)?;
        let list = dir.join(format!("{}.json", job.replace(['/', '\\', '.'], "_")));
        let l = Leftovers {
            list,
            files,
            kept: false,
        };
        l.write()?;
        Ok(l)
    }

    /// Lists one more file, just made by the restore.
    pub(super) fn add(&mut self, file: PathBuf) -> Result<()> {
        self.files.push(file);
        self.write()
    }

    fn write(&self) -> Result<()> {
        let body =
            serde_json::to_vec(&self.files).map_err(|e| ServiceError::Internal(e.to_string()))?;
        crate::images::write_private(&self.list, &body)
    }

    /// The files are the host's now (renamed into place, or a defined
    /// domain's): none is removed.
    pub(super) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if !self.kept {
            remove_files(&self.files);
        }
        let _ = std::fs::remove_file(&self.list);
    }
}

/// Removes what the restores of an agent that died left on its host;
/// returns how many files went.
pub fn sweep(state_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(state_dir.join(DIR)) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let list = e.path();
        if list.extension().is_none_or(|x| x != "json") {
            continue;
        }
        match std::fs::read(&list)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<PathBuf>>(&b).ok())
        {
            Some(files) => removed += remove_files(&files),
            None => {
                tracing::warn!(path = %list.display(), "an unreadable list of a restore's files: dropped")
            }
        }
        let _ = std::fs::remove_file(&list);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_restore_removes_its_files_a_kept_one_keeps_them_a_dead_ones_go_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let f = |n: &str| dir.path().join(n);
        for n in ["a", "b", "c", "d"] {
            std::fs::write(f(n), n).unwrap();
        }
        // Dropped unkept: its files go, and its list.
        drop(Leftovers::begin(&state, "job/1", vec![f("a"), f("missing")]).unwrap());
        assert!(!f("a").exists());
        // Kept: the files stay; the list goes.
        Leftovers::begin(&state, "job-2", vec![f("b")])
            .unwrap()
            .keep();
        assert!(f("b").exists());
        assert_eq!(std::fs::read_dir(state.join(DIR)).unwrap().count(), 0);
        // An agent that died: the list stays, the next start removes its
        // files (and nothing else).
        let mut l = Leftovers::begin(&state, "job-3", Vec::new()).unwrap();
        l.add(f("c")).unwrap();
        std::mem::forget(l);
        let list = state.join(DIR).join("job-3.json");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&list).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(sweep(&state), 1);
        assert!(!f("c").exists() && f("d").exists() && f("b").exists());
        assert!(!list.exists());
        assert_eq!(sweep(&state), 0);
    }
}
