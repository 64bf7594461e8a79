//! A local-filesystem backend: one file per object under a root directory.
//!
//! Puts write a temporary file, `fsync` it, then publish it with `link(2)`
//! (only-if-absent) or `rename(2)` (overwrite), and `fsync` the directory, so
//! an object is either absent or complete and durable, across power loss.

use super::{Backend, ObjectMeta, PutMode};
use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const TMP_DIR: &str = ".tmp";

/// Objects as files under a root directory.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    /// A backend rooted at `root` (created when missing).
    pub fn new(root: &Path) -> Result<Self> {
        fs::create_dir_all(root.join(TMP_DIR))
            .map_err(|e| Error::io(format!("create store directory {}", root.display()), e))?;
        Ok(LocalBackend {
            root: root.to_owned(),
        })
    }

    /// A backend for an existing directory; does not create anything.
    pub fn open_existing(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::NotAStore(root.display().to_string()));
        }
        Ok(LocalBackend {
            root: root.to_owned(),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        if key.is_empty()
            || key.starts_with('/')
            || key
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".." || c == TMP_DIR)
        {
            return Err(Error::InvalidInput(format!("invalid object key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    fn fsync_dir(dir: &Path) -> Result<()> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(format!("fsync directory {}", dir.display()), e))
    }

    fn ensure_dir(&self, dir: &Path) -> Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent()
            && parent != self.root
        {
            self.ensure_dir(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => Self::fsync_dir(dir.parent().unwrap_or(&self.root)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io(format!("create directory {}", dir.display()), e)),
        }
    }

    fn meta(key: String, m: &fs::Metadata) -> ObjectMeta {
        ObjectMeta {
            key,
            size: m.len(),
            modified: m.modified().unwrap_or(std::time::UNIX_EPOCH),
        }
    }

    fn walk(&self, dir: &Path, rel: &str, out: &mut Vec<ObjectMeta>) -> Result<()> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("list {}", dir.display()), e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| Error::io(format!("list {}", dir.display()), e))?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == TMP_DIR && rel.is_empty() {
                continue;
            }
            let key = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let ft = ent
                .file_type()
                .map_err(|e| Error::io(format!("stat {key}"), e))?;
            if ft.is_dir() {
                self.walk(&ent.path(), &key, out)?;
            } else if ft.is_file() {
                match ent.metadata() {
                    Ok(m) => out.push(Self::meta(key, &m)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(format!("stat {key}"), e)),
                }
            }
        }
        Ok(())
    }
}

impl Backend for LocalBackend {
    fn put(&self, key: &str, data: &[u8], mode: PutMode) -> Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().expect("keys have a parent").to_owned();
        self.ensure_dir(&dir)?;
        let tmp = self.root.join(TMP_DIR).join(crate::id::random_hex_id());
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(format!("write object {key}"), e));
        }
        let publish = match mode {
            PutMode::Create => fs::hard_link(&tmp, &path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::AlreadyExists(key.to_owned())
                } else {
                    Error::io(format!("publish object {key}"), e)
                }
            }),
            PutMode::Overwrite => {
                fs::rename(&tmp, &path).map_err(|e| Error::io(format!("publish object {key}"), e))
            }
        };
        let _ = fs::remove_file(&tmp);
        publish?;
        Self::fsync_dir(&dir)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingObject(key.to_owned())
            } else {
                Error::io(format!("read object {key}"), e)
            }
        })
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        let f = File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingObject(key.to_owned())
            } else {
                Error::io(format!("open object {key}"), e)
            }
        })?;
        let len =
            usize::try_from(len).map_err(|_| Error::InvalidInput("range too large".into()))?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::corrupt(
                    key,
                    format!("object is shorter than {}", offset + len as u64),
                )
            } else {
                Error::io(format!("read object {key}"), e)
            }
        })?;
        Ok(buf)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        // Walk the deepest directory the prefix names, then filter.
        let dir_part = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.path(dir_part)?
        };
        let mut out = Vec::new();
        self.walk(&start, dir_part, &mut out)?;
        out.retain(|m| m.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let path = self.path(key)?;
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(Self::meta(key.to_owned(), &m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("stat object {key}"), e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Self::fsync_dir(path.parent().expect("keys have a parent")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("delete object {key}"), e)),
        }
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    /// Removes the store's folder (`remove_dir_all` does not follow
    /// symlinks out of it).
    fn destroy(&self) -> Result<()> {
        match fs::remove_dir_all(&self.root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove {}", self.root.display()), e)),
        }
    }

    fn sweep_incomplete(&self, older_than: std::time::SystemTime) -> Result<usize> {
        let dir = self.root.join(TMP_DIR);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(format!("list {}", dir.display()), e)),
        };
        let mut n = 0;
        for ent in rd.flatten() {
            let old = ent
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < older_than);
            if old && fs::remove_file(ent.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        let d = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(d.path()).unwrap();
        b.put("a/b/c", b"hello", PutMode::Create).unwrap();
        assert!(matches!(
            b.put("a/b/c", b"x", PutMode::Create),
            Err(Error::AlreadyExists(_))
        ));
        assert_eq!(b.get("a/b/c").unwrap(), b"hello");
        b.put("a/b/c", b"world!", PutMode::Overwrite).unwrap();
        assert_eq!(b.get_range("a/b/c", 1, 3).unwrap(), b"orl");
        assert!(b.get_range("a/b/c", 4, 9).is_err());
        b.put("a/d", b"1", PutMode::Create).unwrap();
        b.put("z", b"1", PutMode::Create).unwrap();
        let keys: Vec<_> = b.list("a/").unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(keys, vec!["a/b/c", "a/d"]);
        assert_eq!(b.list("").unwrap().len(), 3);
        assert_eq!(b.head("a/d").unwrap().unwrap().size, 1);
        b.delete("a/d").unwrap();
        b.delete("a/d").unwrap();
        assert!(b.head("a/d").unwrap().is_none());
        assert!(matches!(b.get("a/d"), Err(Error::MissingObject(_))));
        assert!(b.put("../x", b"", PutMode::Create).is_err());
        assert!(b.list("missing/").unwrap().is_empty());
        // A put that died half-way leaves a temporary file; sweeping removes
        // it once it is old enough, and never touches objects.
        std::fs::write(d.path().join(TMP_DIR).join("dead"), b"partial").unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(b.sweep_incomplete(past).unwrap(), 0);
        let future = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(b.sweep_incomplete(future).unwrap(), 1);
        assert_eq!(b.list("").unwrap().len(), 2);
    }
}
