//! The chunk index: where each visible blob lives, and index files that
//! persist it. An index file is an encoded [`BlobKind::Index`] blob:
//! `npacks:u32 | (pack_id[16] | n:u32 | entry[n])…`.

use crate::codec::{BlobKind, Codec};
use crate::error::{Error, Result};
use crate::id::{ChunkId, IdMap};
use crate::pack::{ENTRY_LEN, PackEntry};

/// Where a blob lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Index into [`ChunkIndex::packs`].
    pub pack: u32,
    pub offset: u32,
    pub len: u32,
    pub raw_len: u32,
    pub kind: BlobKind,
}

/// Blob locations of a store, in memory.
#[derive(Debug, Default)]
pub struct ChunkIndex {
    /// Pack ids (32 hex digits); [`Location::pack`] indexes this.
    pub packs: Vec<String>,
    map: IdMap<Location>,
}

impl ChunkIndex {
    /// Adds the entries of one pack. Returns the pack's number.
    pub fn add_pack(&mut self, pack_id: &str, entries: &[PackEntry]) -> u32 {
        let n = self.packs.len() as u32;
        self.packs.push(pack_id.to_owned());
        self.map.reserve(entries.len());
        for e in entries {
            self.map.entry(e.id).or_insert(Location {
                pack: n,
                offset: e.offset,
                len: e.len,
                raw_len: e.raw_len,
                kind: e.kind,
            });
        }
        n
    }

    /// The location of a blob.
    pub fn get(&self, id: &ChunkId) -> Option<&Location> {
        self.map.get(id)
    }

    /// True if the blob is in the index (the zero id always is).
    pub fn contains(&self, id: &ChunkId) -> bool {
        id.is_zero() || self.map.contains_key(id)
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The entries the index holds for one pack, in pack order. Used when
    /// a pack's own trailer is damaged: its blobs can still be judged one
    /// by one, as restores read them.
    pub fn entries_in(&self, pack_id: &str) -> Vec<PackEntry> {
        let Some(n) = self.packs.iter().position(|p| p == pack_id) else {
            return Vec::new();
        };
        let mut v: Vec<PackEntry> = self
            .map
            .iter()
            .filter(|(_, l)| l.pack as usize == n)
            .map(|(id, l)| PackEntry {
                kind: l.kind,
                id: *id,
                offset: l.offset,
                len: l.len,
                raw_len: l.raw_len,
            })
            .collect();
        v.sort_by_key(|e| e.offset);
        v
    }

    /// The pack id of a location.
    pub fn pack_id(&self, loc: &Location) -> &str {
        &self.packs[loc.pack as usize]
    }
}

/// Serializes an index file for the given packs.
pub fn encode_index_file(
    codec: &Codec,
    file_id: &str,
    packs: &[(String, Vec<PackEntry>)],
) -> Vec<u8> {
    let mut raw = Vec::new();
    raw.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for (id, entries) in packs {
        let mut pid = [0u8; 16];
        hex::decode_to_slice(id, &mut pid).expect("pack ids are 32 hex digits");
        raw.extend_from_slice(&pid);
        raw.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            e.write_to(&mut raw);
        }
    }
    codec.encode(BlobKind::Index, file_id.as_bytes(), &raw, true)
}

/// Parses an index file.
pub fn decode_index_file(
    codec: &Codec,
    file_id: &str,
    blob: &[u8],
) -> Result<Vec<(String, Vec<PackEntry>)>> {
    let key = format!("index/{file_id}");
    let raw = codec.decode(BlobKind::Index, file_id.as_bytes(), blob, &key)?;
    let bad = || Error::corrupt(&key, "malformed index file");
    let mut p = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = raw.get(p..p + n).ok_or_else(bad)?;
        p += n;
        Ok(s)
    };
    let npacks = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
    let mut out = Vec::with_capacity(npacks.min(1 << 16));
    for _ in 0..npacks {
        let id = hex::encode(take(16)?);
        let n = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
        let body = take(n.checked_mul(ENTRY_LEN).ok_or_else(bad)?)?;
        let entries = body
            .chunks_exact(ENTRY_LEN)
            .map(|b| PackEntry::read_from(b).ok_or_else(bad))
            .collect::<Result<Vec<_>>>()?;
        out.push((id, entries));
    }
    Ok(out)
}
