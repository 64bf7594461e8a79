//! Packs: many encoded blobs in one object, so small chunks do not become
//! millions of objects. A pack is `RSVPACK1 | blob… | trailer | trailer_len:u32le | RSVPEND1`
//! where the trailer is an encoded [`BlobKind::PackTrailer`] blob (bound to the
//! pack id) listing every blob's kind, id, offset, length and raw length.

use crate::codec::{BlobKind, Codec};
use crate::error::{Error, Result};
use crate::id::ChunkId;

const MAGIC: &[u8; 8] = b"RSVPACK1";
const END: &[u8; 8] = b"RSVPEND1";
/// Bytes of the fixed tail: trailer length and end magic.
pub const TAIL: u64 = 12;
/// Serialized size of one entry.
pub const ENTRY_LEN: usize = 1 + 32 + 4 + 4 + 4;
/// A pack is closed once it reaches this many bytes.
pub const TARGET_SIZE: usize = 16 << 20;

/// Blobs of one pack closer than this are read in one ranged request, the
/// gap with them: on object storage a request costs more than 256 KiB.
pub(crate) const READ_GAP: u64 = 256 << 10;
/// The most one ranged read of a pack takes in.
pub(crate) const READ_MAX: u64 = 8 << 20;

/// One blob inside a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub kind: BlobKind,
    pub id: ChunkId,
    pub offset: u32,
    pub len: u32,
    pub raw_len: u32,
}

impl PackEntry {
    /// Appends the serialized entry to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.push(self.kind as u8);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.raw_len.to_le_bytes());
    }

    /// Parses one serialized entry (`b` is [`ENTRY_LEN`] bytes).
    pub fn read_from(b: &[u8]) -> Option<Self> {
        if b.len() < ENTRY_LEN {
            return None;
        }
        let u = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Some(PackEntry {
            kind: BlobKind::from_u8(b[0])?,
            id: ChunkId::from_slice(&b[1..33]),
            offset: u(33),
            len: u(37),
            raw_len: u(41),
        })
    }
}

/// The object key of a pack.
pub fn pack_key(pack_id: &str) -> String {
    format!("packs/{}/{}", &pack_id[..2], pack_id)
}

/// The pack id of a pack key, if it is one.
pub fn pack_id_of_key(key: &str) -> Option<&str> {
    let id = key.strip_prefix("packs/")?.split('/').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Accumulates encoded blobs into one pack.
#[derive(Debug)]
pub struct PackBuilder {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl Default for PackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PackBuilder {
    /// An empty pack.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(TARGET_SIZE + (1 << 20));
        buf.extend_from_slice(MAGIC);
        PackBuilder {
            buf,
            entries: Vec::new(),
        }
    }

    /// Appends an encoded blob.
    pub fn add(&mut self, kind: BlobKind, id: ChunkId, encoded: &[u8], raw_len: u32) {
        let offset = u32::try_from(self.buf.len()).expect("packs stay under 4 GiB");
        self.buf.extend_from_slice(encoded);
        self.entries.push(PackEntry {
            kind,
            id,
            offset,
            len: encoded.len() as u32,
            raw_len,
        });
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Closes the pack: appends the trailer and returns the pack's bytes and
    /// entries. Call [`PackBuilder::reset`] to reuse the builder's buffer.
    pub fn seal(&mut self, codec: &Codec, pack_id: &str) -> (&[u8], Vec<PackEntry>) {
        let mut toc = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for e in &self.entries {
            e.write_to(&mut toc);
        }
        let trailer = codec.encode(BlobKind::PackTrailer, pack_id.as_bytes(), &toc, true);
        self.buf.extend_from_slice(&trailer);
        self.buf
            .extend_from_slice(&(trailer.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(END);
        (&self.buf, std::mem::take(&mut self.entries))
    }

    /// Empties the builder, keeping its buffer.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(MAGIC);
        self.entries.clear();
    }
}

/// Parses the last [`TAIL`] bytes of a pack: the trailer's length.
pub fn trailer_len(tail: &[u8], pack: &str) -> Result<u32> {
    if tail.len() != TAIL as usize || &tail[4..] != END {
        return Err(Error::corrupt(pack, "missing pack end marker (truncated?)"));
    }
    Ok(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")))
}

/// Decodes a pack trailer and checks every entry lies inside the pack's
/// blob area (`pack_size` minus trailer and tail).
pub fn parse_trailer(
    codec: &Codec,
    pack_id: &str,
    trailer: &[u8],
    blob_area_end: u64,
) -> Result<Vec<PackEntry>> {
    let key = pack_key(pack_id);
    let toc = codec.decode(BlobKind::PackTrailer, pack_id.as_bytes(), trailer, &key)?;
    if toc.len() % ENTRY_LEN != 0 {
        return Err(Error::corrupt(&key, "trailer has a partial entry"));
    }
    toc.chunks_exact(ENTRY_LEN)
        .map(|b| {
            let e = PackEntry::read_from(b)
                .ok_or_else(|| Error::corrupt(&key, "trailer entry of unknown kind"))?;
            if (e.offset as u64) < MAGIC.len() as u64
                || e.offset as u64 + e.len as u64 > blob_area_end
            {
                return Err(Error::corrupt(
                    &key,
                    "trailer entry points outside the pack",
                ));
            }
            Ok(e)
        })
        .collect()
}

/// Checks a whole pack's header magic.
pub fn check_magic(pack: &[u8], key: &str) -> Result<()> {
    if pack.len() < MAGIC.len() + TAIL as usize || &pack[..8] != MAGIC {
        return Err(Error::corrupt(key, "not a pack (bad magic)"));
    }
    Ok(())
}
