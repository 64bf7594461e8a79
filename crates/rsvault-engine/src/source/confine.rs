//! Confinement of image files to configured folders: a server that opens
//! images named by its clients must not read (or let a restore overwrite)
//! any other file it can reach.

use super::{DiskSource, open_file, probe_file};
use crate::error::{Error, Result};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// The folders image files may be opened from. A path is allowed when its
/// canonical form (every symlink resolved) lies under the canonical form of
/// one of them; folders that do not exist allow nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRoots {
    roots: Vec<PathBuf>,
    /// Single files allowed besides the folders (a hypervisor host's disk
    /// images, which its hypervisor names rather than a caller).
    files: Vec<PathBuf>,
}

impl ImageRoots {
    /// Roots from a list of folders (absolute paths).
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        ImageRoots {
            roots: roots.into_iter().collect(),
            files: Vec::new(),
        }
    }

    /// These roots, and these files (absolute paths) besides.
    #[must_use]
    pub fn with_files(mut self, files: impl IntoIterator<Item = PathBuf>) -> Self {
        self.files.extend(files);
        self
    }

    /// The folders, as configured.
    pub fn folders(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Resolves `path` to its canonical form and checks that it lies under a
    /// root and is a regular file or a block device; returns the canonical
    /// path.
    pub fn check(&self, path: &Path) -> Result<PathBuf> {
        let not_allowed = |reason: String| Error::PathNotAllowed {
            path: path.to_owned(),
            reason,
        };
        if !path.is_absolute() {
            return Err(not_allowed("is not an absolute path".into()));
        }
        let canon = match std::fs::canonicalize(path) {
            Ok(c) => c,
            // Whether a file outside the roots exists is not told.
            Err(_) if !self.inside(&lexical(path)) => {
                return Err(not_allowed(self.outside()));
            }
            Err(e) => return Err(Error::io(format!("open {}", path.display()), e)),
        };
        if !self.inside(&canon) {
            return Err(not_allowed(self.outside()));
        }
        let ft = std::fs::metadata(&canon)
            .map_err(|e| Error::io(format!("stat {}", canon.display()), e))?
            .file_type();
        if !(ft.is_file() || ft.is_block_device()) {
            return Err(not_allowed(
                "is neither a regular file nor a block device".into(),
            ));
        }
        Ok(canon)
    }

    /// Whether a canonical path lies strictly under a root.
    fn inside(&self, canon: &Path) -> bool {
        self.roots
            .iter()
            .any(|r| std::fs::canonicalize(r).is_ok_and(|r| canon.starts_with(&r) && canon != r))
            || self
                .files
                .iter()
                .any(|f| std::fs::canonicalize(f).is_ok_and(|f| f == canon))
    }

    fn outside(&self) -> String {
        format!(
            "lies outside the folders disk images may be read from ({})",
            self.describe()
        )
    }

    fn describe(&self) -> String {
        if self.roots.is_empty() {
            return "none are configured".into();
        }
        let names: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
        names.join(", ")
    }
}

/// `path` with `.` and `..` resolved without the file system.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Opens an image confined to `roots`: the path is checked after resolving
/// every symlink, the canonical path is opened without following a final
/// symlink, and every backing file of a qcow2 chain is checked the same way.
/// Returns the canonical path with the image.
pub fn open_image_within(
    path: &Path,
    roots: &ImageRoots,
) -> Result<(PathBuf, Box<dyn DiskSource>)> {
    let canon = roots.check(path)?;
    let file = open_file(&canon, true)?;
    let format = probe_file(&file, &canon)?;
    let src = super::from_file_as(file, &canon, format, Some(roots))?;
    Ok((canon, src))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(p: &Path) {
        std::fs::File::create(p).unwrap().set_len(1 << 20).unwrap();
    }

    #[test]
    fn only_files_under_the_roots_open() {
        let dir = tempfile::tempdir().unwrap();
        let (inside, outside) = (dir.path().join("images"), dir.path().join("other"));
        std::fs::create_dir_all(inside.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        raw(&inside.join("sub/a.raw"));
        raw(&outside.join("secret"));
        let roots = ImageRoots::new([inside.clone()]);
        let (canon, src) = open_image_within(&inside.join("sub/../sub/a.raw"), &roots).unwrap();
        assert_eq!(canon, inside.join("sub/a.raw").canonicalize().unwrap());
        assert_eq!(src.size(), 1 << 20);
        let refused = |p: &Path| {
            matches!(
                open_image_within(p, &roots),
                Err(Error::PathNotAllowed { .. })
            )
        };
        assert!(refused(&outside.join("secret")));
        assert!(refused(&inside.join("../other/secret")));
        assert!(refused(&inside.join("sub")), "a folder is no image");
        let one = roots.clone().with_files([outside.join("secret")]);
        assert!(open_image_within(&outside.join("secret"), &one).is_ok());
        raw(&outside.join("other"));
        assert!(matches!(
            open_image_within(&outside.join("other"), &one),
            Err(Error::PathNotAllowed { .. })
        ));
        assert!(
            refused(&outside.join("missing")),
            "existence outside is not told"
        );
        assert!(matches!(
            open_image_within(&inside.join("missing"), &roots),
            Err(Error::Io { .. })
        ));
        // A symlink inside the roots is resolved before the check.
        std::os::unix::fs::symlink(outside.join("secret"), inside.join("link.raw")).unwrap();
        assert!(refused(&inside.join("link.raw")));
        std::os::unix::fs::symlink(inside.join("sub/a.raw"), inside.join("ok.raw")).unwrap();
        let (canon, _) = open_image_within(&inside.join("ok.raw"), &roots).unwrap();
        assert_eq!(canon, inside.join("sub/a.raw").canonicalize().unwrap());
        // Nothing is allowed without roots, and a final symlink is not followed.
        assert!(matches!(
            open_image_within(&inside.join("sub/a.raw"), &ImageRoots::default()),
            Err(Error::PathNotAllowed { .. })
        ));
        assert!(matches!(
            open_file(&inside.join("ok.raw"), true),
            Err(Error::PathNotAllowed { .. })
        ));
    }

    #[test]
    fn a_backing_file_outside_the_roots_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("images");
        std::fs::create_dir_all(&inside).unwrap();
        let secret = dir.path().join("secret.raw");
        raw(&secret);
        let overlay = inside.join("overlay.qcow2");
        let made = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&secret)
            .arg(&overlay)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("qemu-img is not available; skipped");
            return;
        }
        let roots = ImageRoots::new([inside.clone()]);
        let e = open_image_within(&overlay, &roots).err().expect("refused");
        assert!(matches!(e, Error::PathNotAllowed { .. }), "{e}");
        // A backing name that resolves (through a symlink) to a file under
        // the roots is allowed.
        std::fs::rename(&secret, inside.join("base.raw")).unwrap();
        std::os::unix::fs::symlink(inside.join("base.raw"), &secret).unwrap();
        open_image_within(&overlay, &roots).unwrap();
    }
}
