//! A disk read over NBD, the protocol through which QEMU and libvirt export
//! a point-in-time view of a running VM's disk (libvirt's pull-mode
//! backup, `qemu-nbd`). The client speaks the fixed newstyle handshake,
//! negotiates structured replies and the metadata contexts
//! `base:allocation` (which ranges read as zeros) and, when asked,
//! `qemu:dirty-bitmap:NAME` (which ranges changed since a checkpoint), and
//! reads with `NBD_CMD_READ` and `NBD_CMD_BLOCK_STATUS` (the protocol as
//! in the NBD project's `proto.md`).
//!
//! One connection, used by one request at a time: reads from several
//! threads take turns.

use super::{DiskSource, Extent, ExtentKind, check_range};
use crate::error::{Error, Result};
use crate::ranges::RangeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
const OPT_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

const FLAG_FIXED_NEWSTYLE: u16 = 1;
const FLAG_NO_ZEROES: u16 = 2;

const OPT_GO: u32 = 7;
const OPT_STRUCTURED_REPLY: u32 = 8;
const OPT_SET_META_CONTEXT: u32 = 10;

const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_META_CONTEXT: u32 = 4;
const REP_ERR: u32 = 1 << 31;

const INFO_EXPORT: u16 = 0;
const INFO_BLOCK_SIZE: u16 = 3;

const CMD_READ: u16 = 0;
const CMD_DISC: u16 = 2;
const CMD_BLOCK_STATUS: u16 = 7;

const REPLY_FLAG_DONE: u16 = 1;
const REPLY_NONE: u16 = 0;
const REPLY_OFFSET_DATA: u16 = 1;
const REPLY_OFFSET_HOLE: u16 = 2;
const REPLY_BLOCK_STATUS: u16 = 5;
const REPLY_ERROR_BIT: u16 = 1 << 15;

/// `base:allocation`: the range reads as zeros.
const STATE_ZERO: u32 = 2;
/// `qemu:dirty-bitmap:…`: the range changed.
const STATE_DIRTY: u32 = 1;

const BASE_ALLOCATION: &str = "base:allocation";
/// The largest read sent at once when the server names no maximum (QEMU's
/// is 32 MiB).
const DEFAULT_MAX_READ: u32 = 32 << 20;
/// The longest range asked about in one block-status request.
const MAX_STATUS: u64 = 1 << 30;

/// Where an NBD server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NbdAddress {
    /// A Unix socket (libvirt's and `qemu-nbd --socket`).
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl std::fmt::Display for NbdAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NbdAddress::Unix(p) => write!(f, "nbd+unix://{}", p.display()),
            NbdAddress::Tcp(a) => write!(f, "nbd://{a}"),
        }
    }
}

/// What to open on the server.
#[derive(Debug, Clone, Default)]
pub struct NbdOptions {
    /// The export's name (libvirt names it after the disk's target, `vda`).
    pub export: String,
    /// A dirty bitmap the server exports (`qemu:dirty-bitmap:NAME`), for
    /// [`NbdSource::dirty_ranges`].
    pub dirty_bitmap: Option<String>,
    /// How long one request may wait for the server (none: forever).
    pub timeout: Option<Duration>,
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

/// One connection in the transmission phase.
struct Conn {
    stream: Stream,
    cookie: u64,
}

/// An NBD export as a [`DiskSource`].
pub struct NbdSource {
    conn: Mutex<Conn>,
    label: String,
    size: u64,
    max_read: u32,
    base: Option<u32>,
    dirty: Option<u32>,
}

impl std::fmt::Debug for NbdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbdSource")
            .field("export", &self.label)
            .field("size", &self.size)
            .finish()
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Builds an option's or request's bytes.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn string(self, s: &str) -> Self {
        let mut o = self.u32(s.len() as u32);
        o.0.extend_from_slice(s.as_bytes());
        o
    }
}

/// An option reply: its type and data.
struct OptReply {
    kind: u32,
    data: Vec<u8>,
}

impl NbdSource {
    /// Connects to `addr` and opens the export.
    pub fn connect(addr: &NbdAddress, opts: &NbdOptions) -> Result<Self> {
        let label = format!("{addr}/{}", opts.export);
        let stream = match addr {
            NbdAddress::Unix(p) => {
                let s = UnixStream::connect(p)
                    .map_err(|e| Error::io(format!("connect to {label}"), e))?;
                s.set_read_timeout(opts.timeout)
                    .map_err(|e| Error::io(&label, e))?;
                Stream::Unix(s)
            }
            NbdAddress::Tcp(a) => {
                let s = TcpStream::connect(a)
                    .map_err(|e| Error::io(format!("connect to {label}"), e))?;
                s.set_read_timeout(opts.timeout)
                    .map_err(|e| Error::io(&label, e))?;
                s.set_nodelay(true).map_err(|e| Error::io(&label, e))?;
                Stream::Tcp(s)
            }
        };
        let mut src = NbdSource {
            conn: Mutex::new(Conn { stream, cookie: 0 }),
            label,
            size: 0,
            max_read: DEFAULT_MAX_READ,
            base: None,
            dirty: None,
        };
        src.handshake(opts)?;
        Ok(src)
    }

    fn bad(&self, reason: impl Into<String>) -> Error {
        Error::InvalidImage {
            path: PathBuf::from(&self.label),
            format: "nbd",
            reason: reason.into(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read_exact(&self, c: &mut Conn, buf: &mut [u8]) -> Result<()> {
        c.stream
            .read_exact(buf)
            .map_err(|e| Error::io(format!("read from {}", self.label), e))
    }

    fn write_all(&self, c: &mut Conn, buf: &[u8]) -> Result<()> {
        c.stream
            .write_all(buf)
            .map_err(|e| Error::io(format!("write to {}", self.label), e))
    }

    fn send_option(&self, c: &mut Conn, option: u32, data: &[u8]) -> Result<()> {
        let head = Out::default()
            .u64(IHAVEOPT)
            .u32(option)
            .u32(data.len() as u32);
        self.write_all(c, &head.0)?;
        self.write_all(c, data)
    }

    fn option_reply(&self, c: &mut Conn, option: u32) -> Result<OptReply> {
        let mut head = [0u8; 20];
        self.read_exact(c, &mut head)?;
        if be64(&head) != OPT_REPLY_MAGIC || be32(&head[8..]) != option {
            return Err(self.bad("the server's option reply is not one to the option sent"));
        }
        let len = be32(&head[16..]) as usize;
        if len > 1 << 20 {
            return Err(self.bad(format!("an option reply of {len} bytes")));
        }
        let mut data = vec![0u8; len];
        self.read_exact(c, &mut data)?;
        let kind = be32(&head[12..]);
        if kind & REP_ERR != 0 {
            let msg = String::from_utf8_lossy(&data);
            return Err(self.bad(format!(
                "the server refused option {option} (error {}): {msg}",
                kind & !REP_ERR
            )));
        }
        Ok(OptReply { kind, data })
    }

    fn handshake(&mut self, opts: &NbdOptions) -> Result<()> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let c = &mut *guard;
        let mut hello = [0u8; 18];
        self.read_exact(c, &mut hello)?;
        if be64(&hello) != NBDMAGIC || be64(&hello[8..]) != IHAVEOPT {
            return Err(self.bad("not an NBD server speaking the newstyle handshake"));
        }
        let flags = be16(&hello[16..]);
        if flags & FLAG_FIXED_NEWSTYLE == 0 {
            return Err(self.bad("the server does not speak the fixed newstyle handshake"));
        }
        let client = u32::from(FLAG_FIXED_NEWSTYLE | (flags & FLAG_NO_ZEROES));
        self.write_all(c, &client.to_be_bytes())?;

        self.send_option(c, OPT_STRUCTURED_REPLY, &[])?;
        if self.option_reply(c, OPT_STRUCTURED_REPLY)?.kind != REP_ACK {
            return Err(self.bad("the server did not take structured replies"));
        }

        let mut queries = vec![BASE_ALLOCATION.to_owned()];
        if let Some(b) = &opts.dirty_bitmap {
            queries.push(format!("qemu:dirty-bitmap:{b}"));
        }
        let mut meta = Out::default()
            .string(&opts.export)
            .u32(queries.len() as u32);
        for q in &queries {
            meta = meta.string(q);
        }
        self.send_option(c, OPT_SET_META_CONTEXT, &meta.0)?;
        loop {
            let r = self.option_reply(c, OPT_SET_META_CONTEXT)?;
            match r.kind {
                REP_ACK => break,
                REP_META_CONTEXT if r.data.len() >= 4 => {
                    let id = be32(&r.data);
                    let name = String::from_utf8_lossy(&r.data[4..]);
                    if name == BASE_ALLOCATION {
                        self.base = Some(id);
                    } else if queries.get(1).is_some_and(|q| *q == name) {
                        self.dirty = Some(id);
                    }
                }
                k => {
                    return Err(
                        self.bad(format!("an unexpected reply {k} to the metadata contexts"))
                    );
                }
            }
        }
        if let (Some(b), None) = (&opts.dirty_bitmap, self.dirty) {
            return Err(self.bad(format!("the server does not export the dirty bitmap {b:?}")));
        }

        let go = Out::default()
            .string(&opts.export)
            .u16(2)
            .u16(INFO_EXPORT)
            .u16(INFO_BLOCK_SIZE);
        self.send_option(c, OPT_GO, &go.0)?;
        let mut sized = false;
        loop {
            let r = self.option_reply(c, OPT_GO)?;
            match r.kind {
                REP_ACK => break,
                REP_INFO if r.data.len() >= 2 => match be16(&r.data) {
                    INFO_EXPORT if r.data.len() >= 12 => {
                        self.size = be64(&r.data[2..]);
                        sized = true;
                    }
                    INFO_BLOCK_SIZE if r.data.len() >= 14 => {
                        let max = be32(&r.data[10..]);
                        if max > 0 {
                            self.max_read = max.min(DEFAULT_MAX_READ);
                        }
                    }
                    _ => {}
                },
                k => return Err(self.bad(format!("an unexpected reply {k} to NBD_OPT_GO"))),
            }
        }
        if !sized {
            return Err(self.bad("the server did not say the export's size"));
        }
        Ok(())
    }

    fn request(&self, c: &mut Conn, cmd: u16, flags: u16, offset: u64, len: u32) -> Result<u64> {
        c.cookie += 1;
        let r = Out::default()
            .u32(REQUEST_MAGIC)
            .u16(flags)
            .u16(cmd)
            .u64(c.cookie)
            .u64(offset)
            .u32(len);
        self.write_all(c, &r.0)?;
        Ok(c.cookie)
    }

    /// Reads the replies to request `cookie` until its last, handing each
    /// chunk's type and payload to `chunk`.
    fn replies(
        &self,
        c: &mut Conn,
        cookie: u64,
        mut chunk: impl FnMut(u16, &[u8]) -> Result<()>,
    ) -> Result<()> {
        loop {
            let mut magic = [0u8; 4];
            self.read_exact(c, &mut magic)?;
            match be32(&magic) {
                STRUCTURED_REPLY_MAGIC => {
                    let mut head = [0u8; 16];
                    self.read_exact(c, &mut head)?;
                    let (flags, kind) = (be16(&head), be16(&head[2..]));
                    if be64(&head[4..]) != cookie {
                        return Err(self.bad("a reply to a request that was not sent"));
                    }
                    let len = be32(&head[12..]) as usize;
                    if len > self.max_read as usize + 4096 {
                        return Err(self.bad(format!("a reply chunk of {len} bytes")));
                    }
                    let mut payload = vec![0u8; len];
                    self.read_exact(c, &mut payload)?;
                    if kind & REPLY_ERROR_BIT != 0 {
                        return Err(self.reply_error(&payload));
                    }
                    if kind != REPLY_NONE {
                        chunk(kind, &payload)?;
                    }
                    if flags & REPLY_FLAG_DONE != 0 {
                        return Ok(());
                    }
                }
                SIMPLE_REPLY_MAGIC => {
                    let mut rest = [0u8; 12];
                    self.read_exact(c, &mut rest)?;
                    let code = be32(&rest);
                    if code != 0 {
                        return Err(
                            self.bad(format!("the server failed the request (error {code})"))
                        );
                    }
                    return Err(self.bad("a simple reply after structured replies were agreed"));
                }
                m => return Err(self.bad(format!("a reply with the magic {m:#x}"))),
            }
        }
    }

    fn reply_error(&self, p: &[u8]) -> Error {
        if p.len() < 6 {
            return self.bad("a short error reply");
        }
        let code = be32(p);
        let n = (be16(&p[4..]) as usize).min(p.len() - 6);
        let msg = String::from_utf8_lossy(&p[6..6 + n]);
        self.bad(format!(
            "the server failed the request (error {code}): {msg}"
        ))
    }

    /// The extents of one metadata context over `[offset, offset+len)`,
    /// as `(offset, length, flags)`, asked for until the range is covered.
    fn status(&self, context: u32, offset: u64, len: u64) -> Result<Vec<(u64, u64, u32)>> {
        check_range(self.size, offset, len)?;
        let mut out = Vec::new();
        let end = offset + len;
        let mut at = offset;
        let mut c = self.conn();
        while at < end {
            let ask = (end - at).min(MAX_STATUS) as u32;
            let cookie = self.request(&mut c, CMD_BLOCK_STATUS, 0, at, ask)?;
            let mut pos = at;
            self.replies(&mut c, cookie, |kind, p| {
                if kind != REPLY_BLOCK_STATUS || p.len() < 4 || be32(p) != context {
                    return Ok(());
                }
                for d in p[4..].chunks_exact(8) {
                    let (l, flags) = (u64::from(be32(d)), be32(&d[4..]));
                    let l = l.min(end - pos);
                    if l > 0 {
                        out.push((pos, l, flags));
                        pos += l;
                    }
                }
                Ok(())
            })?;
            if pos == at {
                return Err(self.bad(format!("no block status for offset {at}")));
            }
            at = pos;
        }
        Ok(out)
    }

    /// The ranges the dirty bitmap marks as changed (the writes since its
    /// checkpoint), for [`crate::BackupOptions::changed_ranges`].
    pub fn dirty_ranges(&self) -> Result<RangeSet> {
        let ctx = self
            .dirty
            .ok_or_else(|| self.bad("no dirty bitmap was asked for at connect"))?;
        let extents = self.status(ctx, 0, self.size)?;
        RangeSet::from_extents(
            extents
                .into_iter()
                .filter(|(_, _, f)| f & STATE_DIRTY != 0)
                .map(|(o, l, _)| (o, l)),
        )
    }

    /// Ends the connection politely.
    pub fn disconnect(self) -> Result<()> {
        let mut c = self.conn();
        self.request(&mut c, CMD_DISC, 0, 0, 0).map(|_| ())
    }
}

impl DiskSource for NbdSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn map(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        check_range(self.size, offset, len)?;
        let Some(ctx) = self.base else {
            return Ok(vec![Extent {
                offset,
                len,
                kind: ExtentKind::Data,
            }]);
        };
        Ok(self
            .status(ctx, offset, len)?
            .into_iter()
            .map(|(offset, len, flags)| Extent {
                offset,
                len,
                kind: if flags & STATE_ZERO != 0 {
                    ExtentKind::Zero
                } else {
                    ExtentKind::Data
                },
            })
            .collect())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(self.size, offset, buf.len() as u64)?;
        let mut c = self.conn();
        for (i, part) in buf.chunks_mut(self.max_read as usize).enumerate() {
            let at = offset + (i as u64) * u64::from(self.max_read);
            let len = part.len() as u64;
            let cookie = self.request(&mut c, CMD_READ, 0, at, part.len() as u32)?;
            let mut filled = 0u64;
            self.replies(&mut c, cookie, |kind, p| {
                let (start, n) = match kind {
                    REPLY_OFFSET_DATA if p.len() >= 8 => (be64(p), (p.len() - 8) as u64),
                    REPLY_OFFSET_HOLE if p.len() >= 12 => (be64(p), u64::from(be32(&p[8..]))),
                    _ => {
                        return Err(self.bad(format!("an unexpected reply chunk {kind} to a read")));
                    }
                };
                let rel = start
                    .checked_sub(at)
                    .filter(|r| r.checked_add(n).is_some_and(|e| e <= len))
                    .ok_or_else(|| self.bad("a read reply outside the range asked for"))?;
                let dst = &mut part[rel as usize..(rel + n) as usize];
                if kind == REPLY_OFFSET_DATA {
                    dst.copy_from_slice(&p[8..]);
                } else {
                    dst.fill(0);
                }
                filled += n;
                Ok(())
            })?;
            if filled != len {
                return Err(self.bad(format!("a read of {len} bytes at {at} answered {filled}")));
            }
        }
        Ok(())
    }

    fn format(&self) -> &'static str {
        "nbd"
    }
}
