//! Encoding of every stored blob: zstd compression, then authenticated
//! encryption (AES-256-GCM, random 96-bit nonce) bound to the blob's kind and
//! id. With encryption off, a keyed BLAKE3 MAC still authenticates each blob.
//!
//! Plaintext layout: `flags:u8 | raw_len:u32le | payload` where bit 0 of
//! `flags` marks a zstd-compressed payload.
//! Encrypted blob: `nonce[12] | ciphertext | tag[16]`.
//! Unencrypted blob: `plaintext | mac[32]`.

use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::key::MasterKey;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use std::cell::RefCell;

/// What a blob holds; part of the authenticated data, so a blob of one kind
/// cannot be passed off as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BlobKind {
    /// Disk data.
    Chunk = 1,
    /// A tree node: a list of child ids.
    Tree = 2,
    /// The table of contents at the end of a pack.
    PackTrailer = 3,
    /// An index file.
    Index = 4,
    /// A recovery point manifest.
    Manifest = 5,
    /// The store configuration.
    Config = 6,
    /// Small metadata objects (sessions, gc records, tombstones).
    Meta = 7,
}

impl BlobKind {
    /// Parses the stored kind byte of pack entries.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => BlobKind::Chunk,
            2 => BlobKind::Tree,
            3 => BlobKind::PackTrailer,
            4 => BlobKind::Index,
            5 => BlobKind::Manifest,
            6 => BlobKind::Config,
            7 => BlobKind::Meta,
            _ => return None,
        })
    }
}

/// Encryption at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// AES-256-GCM (the default).
    Aes256Gcm,
    /// No confidentiality; blobs are still authenticated with a keyed MAC.
    None,
}

const FLAG_ZSTD: u8 = 1;
const HEADER: usize = 5;
const NONCE: usize = 12;
const TAG: usize = 16;
const MAC: usize = 32;

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Keys and settings to hash, encode and decode blobs of one store.
pub struct Codec {
    chunk_key: [u8; 32],
    tree_key: [u8; 32],
    mac_key: [u8; 32],
    cipher: Option<Aes256Gcm>,
    level: i32,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("encrypted", &self.cipher.is_some())
            .field("level", &self.level)
            .finish()
    }
}

impl Codec {
    /// Derives the codec's keys from a master key.
    pub fn new(key: &MasterKey, encryption: Encryption, zstd_level: i32) -> Self {
        let cipher = match encryption {
            Encryption::Aes256Gcm => {
                let k = key.derive("rsvault 2026-11 blob encryption");
                Some(Aes256Gcm::new_from_slice(&k).expect("32-byte key"))
            }
            Encryption::None => None,
        };
        Codec {
            chunk_key: key.derive("rsvault 2026-11 chunk id"),
            tree_key: key.derive("rsvault 2026-11 tree node id"),
            mac_key: key.derive("rsvault 2026-11 blob mac"),
            cipher,
            level: zstd_level,
        }
    }

    /// True when `other` was derived from the same master key with the same
    /// encryption: then a blob one encodes, the other decodes.
    pub(crate) fn same_keys(&self, other: &Codec) -> bool {
        self.chunk_key == other.chunk_key
            && self.tree_key == other.tree_key
            && self.mac_key == other.mac_key
            && self.cipher.is_some() == other.cipher.is_some()
    }

    /// The content id of disk data. All-zero data has [`ChunkId::ZERO`].
    pub fn chunk_id(&self, data: &[u8]) -> ChunkId {
        if is_zero(data) {
            return ChunkId::ZERO;
        }
        ChunkId(*blake3::keyed_hash(&self.chunk_key, data).as_bytes())
    }

    /// The content id of a tree node's bytes (a different key from chunks).
    pub fn tree_id(&self, data: &[u8]) -> ChunkId {
        ChunkId(*blake3::keyed_hash(&self.tree_key, data).as_bytes())
    }

    /// Encodes `data` as a blob of `kind` bound to `aad` (usually the id),
    /// compressing when it helps.
    pub fn encode(&self, kind: BlobKind, aad: &[u8], data: &[u8], compress: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(kind, aad, data, compress, &mut out);
        out
    }

    /// Like [`Codec::encode`], into a reused buffer (cleared first).
    pub fn encode_into(
        &self,
        kind: BlobKind,
        aad: &[u8],
        data: &[u8],
        compress: bool,
        out: &mut Vec<u8>,
    ) {
        let raw_len = u32::try_from(data.len()).expect("blobs are smaller than 4 GiB");
        let pre = if self.cipher.is_some() { NONCE } else { 0 };
        out.clear();
        out.reserve(pre + HEADER + data.len() + TAG.max(MAC));
        out.resize(pre + HEADER, 0);
        let mut flags = 0u8;
        if compress && data.len() >= 64 {
            let bound = zstd::zstd_safe::compress_bound(data.len());
            out.resize(pre + HEADER + bound, 0);
            let level = self.level;
            let n = COMPRESSOR.with(|c| {
                let mut c = c.borrow_mut();
                if c.as_ref().is_none_or(|(l, _)| *l != level) {
                    *c = Some((
                        level,
                        zstd::bulk::Compressor::new(level).expect("zstd context"),
                    ));
                }
                let (_, comp) = c.as_mut().expect("set above");
                comp.compress_to_buffer(data, &mut out[pre + HEADER..]).ok()
            });
            match n {
                // Keep the compressed form only when it saves at least 1/32.
                Some(n) if n < data.len() - data.len() / 32 => {
                    out.truncate(pre + HEADER + n);
                    flags |= FLAG_ZSTD;
                }
                _ => out.truncate(pre + HEADER),
            }
        }
        if flags & FLAG_ZSTD == 0 {
            out.extend_from_slice(data);
        }
        out[pre] = flags;
        out[pre + 1..pre + HEADER].copy_from_slice(&raw_len.to_le_bytes());
        let ad = associated(kind, aad);
        match &self.cipher {
            Some(cipher) => {
                let nonce_bytes: [u8; NONCE] = rand::random();
                out[..NONCE].copy_from_slice(&nonce_bytes);
                let tag = cipher
                    .encrypt_in_place_detached(
                        Nonce::from_slice(&nonce_bytes),
                        &ad,
                        &mut out[NONCE..],
                    )
                    .expect("AES-GCM encryption of a < 4 GiB buffer");
                out.extend_from_slice(tag.as_slice());
            }
            None => {
                let mac = self.mac(&ad, out);
                out.extend_from_slice(&mac);
            }
        }
    }

    fn mac(&self, ad: &[u8], plaintext: &[u8]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.mac_key);
        h.update(&(ad.len() as u64).to_le_bytes());
        h.update(ad);
        h.update(plaintext);
        *h.finalize().as_bytes()
    }

    /// Decodes a blob written by [`Codec::encode`] with the same kind and
    /// aad, authenticating it. `object` names it in errors.
    pub fn decode(&self, kind: BlobKind, aad: &[u8], blob: &[u8], object: &str) -> Result<Vec<u8>> {
        let ad = associated(kind, aad);
        let mut plain: Vec<u8>;
        match &self.cipher {
            Some(cipher) => {
                if blob.len() < NONCE + HEADER + TAG {
                    return Err(Error::corrupt(object, "blob too short"));
                }
                let (nonce, rest) = blob.split_at(NONCE);
                let (ct, tag) = rest.split_at(rest.len() - TAG);
                plain = ct.to_vec();
                cipher
                    .decrypt_in_place_detached(
                        Nonce::from_slice(nonce),
                        &ad,
                        &mut plain,
                        Tag::from_slice(tag),
                    )
                    .map_err(|_| {
                        Error::corrupt(
                            object,
                            "authentication failed (tampered, damaged, or wrong key)",
                        )
                    })?;
            }
            None => {
                if blob.len() < HEADER + MAC {
                    return Err(Error::corrupt(object, "blob too short"));
                }
                let (p, mac) = blob.split_at(blob.len() - MAC);
                if self.mac(&ad, p) != mac {
                    return Err(Error::corrupt(
                        object,
                        "authentication failed (tampered, damaged, or wrong key)",
                    ));
                }
                plain = p.to_vec();
            }
        }
        let flags = plain[0];
        let raw_len = u32::from_le_bytes(plain[1..HEADER].try_into().expect("4 bytes")) as usize;
        if flags & !FLAG_ZSTD != 0 {
            return Err(Error::corrupt(
                object,
                format!("unknown blob flags {flags:#x}"),
            ));
        }
        if flags & FLAG_ZSTD == 0 {
            plain.drain(..HEADER);
            if plain.len() != raw_len {
                return Err(Error::corrupt(object, "length mismatch"));
            }
            return Ok(plain);
        }
        if raw_len > 1 << 30 {
            return Err(Error::corrupt(object, "implausible decompressed length"));
        }
        let out = DECOMPRESSOR
            .with(|d| {
                let mut d = d.borrow_mut();
                if d.is_none() {
                    *d = Some(zstd::bulk::Decompressor::new().expect("zstd context"));
                }
                d.as_mut()
                    .expect("set above")
                    .decompress(&plain[HEADER..], raw_len)
            })
            .map_err(|e| Error::corrupt(object, format!("zstd: {e}")))?;
        if out.len() != raw_len {
            return Err(Error::corrupt(
                object,
                "length mismatch after decompression",
            ));
        }
        Ok(out)
    }
}

fn associated(kind: BlobKind, aad: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(1 + aad.len());
    ad.push(kind as u8);
    ad.extend_from_slice(aad);
    ad
}

/// True when every byte of `data` is zero.
pub fn is_zero(data: &[u8]) -> bool {
    // OR-reduce 64-byte blocks (vectorised by the compiler), stopping at the
    // first block that has a set bit.
    let mut blocks = data.chunks_exact(64);
    let body_zero = blocks.by_ref().all(|b| {
        b.chunks_exact(8).fold(0u64, |acc, w| {
            acc | u64::from_ne_bytes(w.try_into().expect("8 bytes"))
        }) == 0
    });
    body_zero && blocks.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codecs() -> Vec<Codec> {
        let k = MasterKey::from_bytes([7; 32]);
        vec![
            Codec::new(&k, Encryption::Aes256Gcm, 1),
            Codec::new(&k, Encryption::None, 1),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..5000), zeros in 0usize..70000, compress: bool) {
            let mut data = data;
            data.extend(std::iter::repeat_n(0u8, zeros));
            for c in codecs() {
                let id = c.chunk_id(&data);
                let b = c.encode(BlobKind::Chunk, &id.0, &data, compress);
                prop_assert_eq!(c.decode(BlobKind::Chunk, &id.0, &b, "t").unwrap(), data.clone());
            }
        }

        #[test]
        fn any_flip_is_detected(data in proptest::collection::vec(any::<u8>(), 1..3000), pos: usize, bit in 0u8..8) {
            for c in codecs() {
                let mut b = c.encode(BlobKind::Chunk, b"id", &data, true);
                let p = pos % b.len();
                b[p] ^= 1 << bit;
                prop_assert!(c.decode(BlobKind::Chunk, b"id", &b, "t").is_err());
            }
        }
    }

    #[test]
    fn wrong_kind_aad_or_key_fails() {
        let c = &codecs()[0];
        let b = c.encode(BlobKind::Chunk, b"a", b"hello world", false);
        assert!(c.decode(BlobKind::Tree, b"a", &b, "t").is_err());
        assert!(c.decode(BlobKind::Chunk, b"b", &b, "t").is_err());
        let other = Codec::new(&MasterKey::from_bytes([8; 32]), Encryption::Aes256Gcm, 1);
        assert!(other.decode(BlobKind::Chunk, b"a", &b, "t").is_err());
        assert!(c.decode(BlobKind::Chunk, b"a", &b[..10], "t").is_err());
    }

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0u8; 65536]));
        assert!(is_zero(&[]));
        let mut v = vec![0u8; 65537];
        v[65536] = 1;
        assert!(!is_zero(&v));
        v[65536] = 0;
        v[17] = 1;
        assert!(!is_zero(&v));
        assert_eq!(codecs()[0].chunk_id(&[0u8; 100]), ChunkId::ZERO);
    }
}
