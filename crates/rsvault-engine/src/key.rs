//! The per-store master key, kept in a key file outside the store.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// A store's 256-bit master key. Every other key is derived from it.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
    /// The store this key was made for, if known.
    pub store_id: Option<String>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("store_id", &self.store_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    rsvault_key: u32,
    store_id: Option<String>,
    key: String,
    created: String,
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        MasterKey {
            bytes: rand::random(),
            store_id: None,
        }
    }

    /// A key from raw bytes (tests, and keys held by a server's own secret store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey {
            bytes,
            store_id: None,
        }
    }

    /// The raw key, to hand to a writer the key's holder trusts (an
    /// enrolled agent, over TLS it pins). Never log it.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// Derives a 32-byte subkey for `purpose`.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        blake3::derive_key(purpose, &self.bytes)
    }

    /// Reads a key file written by [`MasterKey::save_new`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::BadKeyFile {
                    path: path.to_owned(),
                    reason: "not found; pass the key file that `rsvault disk init` created".into(),
                }
            } else {
                Error::io(format!("read key file {}", path.display()), e)
            }
        })?;
        let bad = |reason: &str| Error::BadKeyFile {
            path: path.to_owned(),
            reason: reason.into(),
        };
        let kf: KeyFile =
            serde_json::from_str(&text).map_err(|_| bad("not an rsvault key file"))?;
        if kf.rsvault_key != 1 {
            return Err(bad(&format!("unknown key file version {}", kf.rsvault_key)));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(kf.key.trim(), &mut bytes)
            .map_err(|_| bad("the key is not 64 hex digits"))?;
        Ok(MasterKey {
            bytes,
            store_id: kf.store_id,
        })
    }

    /// Writes the key to a new file with mode 0600; refuses to overwrite.
    pub fn save_new(&self, path: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let kf = KeyFile {
            rsvault_key: 1,
            store_id: self.store_id.clone(),
            key: hex::encode(self.bytes),
            created: jiff::Timestamp::now().to_string(),
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::InvalidInput(format!(
                        "key file {} already exists; refusing to overwrite a key (choose another path)",
                        path.display()
                    ))
                } else {
                    Error::io(format!("create key file {}", path.display()), e)
                }
            })?;
        let mut text = serde_json::to_string_pretty(&kf).expect("key file serializes");
        text.push('\n');
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(format!("write key file {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_refuse_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        let mut k = MasterKey::generate();
        k.store_id = Some("s1".into());
        k.save_new(&p).unwrap();
        let k2 = MasterKey::load(&p).unwrap();
        assert_eq!(k.derive("x"), k2.derive("x"));
        assert_eq!(k2.store_id.as_deref(), Some("s1"));
        assert!(k.save_new(&p).is_err());
        std::fs::write(&p, "{}").unwrap();
        assert!(matches!(MasterKey::load(&p), Err(Error::BadKeyFile { .. })));
    }
}
