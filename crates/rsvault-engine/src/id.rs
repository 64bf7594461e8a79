//! Content identifiers of chunks and tree nodes, and hash maps keyed by them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A 256-bit content identifier: a keyed BLAKE3 hash of a chunk's or a tree
/// node's plaintext. [`ChunkId::ZERO`] stands for all-zero content and is
/// never stored.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 32]);

impl ChunkId {
    /// The id of all-zero content (of any length): nothing is stored for it.
    pub const ZERO: ChunkId = ChunkId([0u8; 32]);

    /// True for [`ChunkId::ZERO`].
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).ok()?;
        Some(ChunkId(b))
    }

    /// Reads an id from the first 32 bytes of `b` (which must be long enough).
    pub fn from_slice(b: &[u8]) -> Self {
        let mut a = [0u8; 32];
        a.copy_from_slice(&b[..32]);
        ChunkId(a)
    }
}

impl Hash for ChunkId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The id is already a uniform hash: its first 8 bytes are enough.
        state.write_u64(u64::from_le_bytes(self.0[..8].try_into().expect("8 bytes")));
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for ChunkId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for ChunkId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ChunkId::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// A hasher that passes through the single `u64` written by [`ChunkId::hash`].
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by [`ChunkId`].
pub type IdMap<V> = HashMap<ChunkId, V, BuildHasherDefault<IdHasher>>;
/// A set of [`ChunkId`]s.
pub type IdSet = HashSet<ChunkId, BuildHasherDefault<IdHasher>>;

/// Returns 16 random bytes as 32 hex digits (pack, index and session ids).
pub fn random_hex_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ChunkId([0xab; 32]);
        assert_eq!(ChunkId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(ChunkId::from_hex("zz"), None);
        let mut s = IdSet::default();
        s.insert(id);
        assert!(s.contains(&id) && !s.contains(&ChunkId::ZERO));
    }
}
