//! The tree of a recovery point: the disk's chunk ids, in order, grouped into
//! content-addressed nodes of up to [`FANOUT`] entries. A node at height 1 (a
//! leaf) lists chunk ids; a node at height h > 1 lists ids of nodes at height
//! h - 1. A subtree that is all zeros has [`ChunkId::ZERO`] and is not stored.
//!
//! Because nodes are content-addressed, recovery points of the same disk
//! share every node whose span did not change: an incremental stores only
//! the changed chunks and the nodes above them, while each point is still a
//! full image.

use crate::error::{Error, Result};
use crate::id::ChunkId;
use std::collections::HashMap;
use std::sync::Arc;

/// Entries per node (a leaf spans `FANOUT` chunks: 64 MiB of disk at 64 KiB chunks).
pub const FANOUT: usize = 1024;

/// Height of the tree for `nchunks` chunks (at least 1).
pub fn height_for(nchunks: u64) -> u32 {
    let mut h = 1;
    let mut cap = FANOUT as u64;
    while cap < nchunks {
        h += 1;
        cap = cap.saturating_mul(FANOUT as u64);
    }
    h
}

/// Serializes a node.
pub fn encode_node(entries: &[ChunkId]) -> Vec<u8> {
    let mut v = Vec::with_capacity(entries.len() * 32);
    for e in entries {
        v.extend_from_slice(&e.0);
    }
    v
}

/// Parses a node.
pub fn decode_node(bytes: &[u8], object: &str) -> Result<Vec<ChunkId>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(32) || bytes.len() > FANOUT * 32 {
        return Err(Error::corrupt(object, "malformed tree node"));
    }
    Ok(bytes.chunks_exact(32).map(ChunkId::from_slice).collect())
}

/// Builds a tree from chunk ids pushed in disk order.
pub struct TreeBuilder {
    height: u32,
    pending: Vec<Vec<ChunkId>>,
    pushed: u64,
    expected: u64,
}

impl TreeBuilder {
    /// A builder for a disk of `nchunks` chunks.
    pub fn new(nchunks: u64) -> Self {
        let height = height_for(nchunks);
        TreeBuilder {
            height,
            pending: (0..height).map(|_| Vec::with_capacity(FANOUT)).collect(),
            pushed: 0,
            expected: nchunks,
        }
    }

    /// Height of the tree being built.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Appends the next chunk id. `emit` stores a node's bytes and returns its id.
    pub fn push(
        &mut self,
        id: ChunkId,
        emit: &mut dyn FnMut(&[ChunkId]) -> Result<ChunkId>,
    ) -> Result<()> {
        assert!(self.pushed < self.expected, "more chunks than announced");
        self.pushed += 1;
        self.pending[0].push(id);
        let mut level = 0;
        while level + 1 < self.height as usize && self.pending[level].len() == FANOUT {
            let node_id = Self::emit_node(&mut self.pending[level], emit)?;
            self.pending[level + 1].push(node_id);
            level += 1;
        }
        Ok(())
    }

    fn emit_node(
        entries: &mut Vec<ChunkId>,
        emit: &mut dyn FnMut(&[ChunkId]) -> Result<ChunkId>,
    ) -> Result<ChunkId> {
        let id = if entries.iter().all(ChunkId::is_zero) {
            ChunkId::ZERO
        } else {
            emit(entries)?
        };
        entries.clear();
        Ok(id)
    }

    /// Flushes partial nodes and returns the root id.
    pub fn finish(
        mut self,
        emit: &mut dyn FnMut(&[ChunkId]) -> Result<ChunkId>,
    ) -> Result<ChunkId> {
        assert_eq!(self.pushed, self.expected, "fewer chunks than announced");
        let top = self.height as usize - 1;
        for level in 0..top {
            if !self.pending[level].is_empty() {
                let id = Self::emit_node(&mut self.pending[level], emit)?;
                self.pending[level + 1].push(id);
            }
        }
        if self.pending[top].is_empty() {
            return Ok(ChunkId::ZERO);
        }
        Self::emit_node(&mut self.pending[top], emit)
    }
}

/// Fetches a tree node's decoded entries by id.
pub type NodeFetcher<'a> = dyn Fn(&ChunkId) -> Result<Vec<ChunkId>> + Sync + 'a;

/// Reads leaves of a tree, caching the internal nodes on the way.
pub struct TreeReader<'a> {
    root: ChunkId,
    height: u32,
    nchunks: u64,
    fetch: &'a NodeFetcher<'a>,
    cache: HashMap<ChunkId, Arc<Vec<ChunkId>>>,
}

impl<'a> TreeReader<'a> {
    /// A reader of the tree `root` of `height` over `nchunks` chunks.
    pub fn new(
        root: ChunkId,
        height: u32,
        nchunks: u64,
        fetch: &'a NodeFetcher<'a>,
    ) -> Result<Self> {
        if height != height_for(nchunks) {
            return Err(Error::corrupt(
                "manifest",
                "tree height does not match the disk size",
            ));
        }
        Ok(TreeReader {
            root,
            height,
            nchunks,
            fetch,
            cache: HashMap::new(),
        })
    }

    /// Number of leaves.
    pub fn leaves(&self) -> u64 {
        self.nchunks.div_ceil(FANOUT as u64)
    }

    fn node(&mut self, id: &ChunkId) -> Result<Arc<Vec<ChunkId>>> {
        if let Some(n) = self.cache.get(id) {
            return Ok(n.clone());
        }
        let n = Arc::new((self.fetch)(id)?);
        if self.cache.len() >= 64 {
            self.cache.clear();
        }
        self.cache.insert(*id, n.clone());
        Ok(n)
    }

    /// The chunk ids of leaf `i` (chunks `i*FANOUT ..`).
    pub fn leaf(&mut self, i: u64) -> Result<Vec<ChunkId>> {
        let first = i * FANOUT as u64;
        if first >= self.nchunks {
            return Err(Error::InvalidInput(format!("leaf {i} is beyond the disk")));
        }
        let want = (self.nchunks - first).min(FANOUT as u64) as usize;
        let mut id = self.root;
        for h in (2..=self.height).rev() {
            if id.is_zero() {
                break;
            }
            let span = (FANOUT as u64).pow(h - 2);
            let slot = ((i / span) % FANOUT as u64) as usize;
            let node = self.node(&id)?;
            id = *node.get(slot).ok_or_else(|| {
                Error::corrupt(format!("tree node {id}"), "tree node is too short")
            })?;
        }
        if id.is_zero() {
            return Ok(vec![ChunkId::ZERO; want]);
        }
        let leaf = (self.fetch)(&id)?;
        if leaf.len() != want {
            return Err(Error::corrupt(
                format!("tree node {id}"),
                "leaf has the wrong number of entries",
            ));
        }
        Ok(leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn build(ids: &[ChunkId], store: &Mutex<HashMap<ChunkId, Vec<ChunkId>>>) -> (ChunkId, u32) {
        let mut b = TreeBuilder::new(ids.len() as u64);
        let mut n = 0u64;
        let mut emit = |e: &[ChunkId]| {
            n += 1;
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&n.to_le_bytes());
            id[31] = 1;
            store.lock().unwrap().insert(ChunkId(id), e.to_vec());
            Ok(ChunkId(id))
        };
        for id in ids {
            b.push(*id, &mut emit).unwrap();
        }
        let h = b.height();
        (b.finish(&mut emit).unwrap(), h)
    }

    #[test]
    fn round_trip_various_sizes() {
        for n in [0u64, 1, 5, 1023, 1024, 1025, 3000, 1024 * 1024 + 7] {
            let ids: Vec<ChunkId> = (0..n)
                .map(|i| {
                    if i % 7 == 3 {
                        ChunkId::ZERO
                    } else {
                        let mut b = [9u8; 32];
                        b[..8].copy_from_slice(&i.to_le_bytes());
                        ChunkId(b)
                    }
                })
                .collect();
            let store = Mutex::new(HashMap::new());
            let (root, h) = build(&ids, &store);
            assert_eq!(h, height_for(n));
            let fetch = |id: &ChunkId| Ok(store.lock().unwrap().get(id).cloned().unwrap());
            let mut r = TreeReader::new(root, h, n, &fetch).unwrap();
            let mut got = Vec::new();
            for l in 0..r.leaves() {
                got.extend(r.leaf(l).unwrap());
            }
            assert_eq!(got, ids, "n={n}");
        }
    }

    #[test]
    fn zero_subtrees_are_not_stored() {
        let mut ids = vec![ChunkId::ZERO; 5000];
        ids[4500] = ChunkId([1; 32]);
        let store = Mutex::new(HashMap::new());
        let (root, h) = build(&ids, &store);
        assert_eq!(store.lock().unwrap().len(), 2, "one leaf and the root");
        let fetch = |id: &ChunkId| Ok(store.lock().unwrap().get(id).cloned().unwrap());
        let mut r = TreeReader::new(root, h, 5000, &fetch).unwrap();
        assert_eq!(r.leaf(0).unwrap(), vec![ChunkId::ZERO; 1024]);
        assert_eq!(r.leaf(4).unwrap()[4500 - 4096], ChunkId([1; 32]));
        let empty = Mutex::new(HashMap::new());
        assert_eq!(build(&[ChunkId::ZERO; 10], &empty).0, ChunkId::ZERO);
    }
}
