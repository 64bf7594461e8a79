//! A client of the QEMU guest agent (qemu-ga), reached through the host end
//! of its virtio-serial port (`org.qemu.guest_agent.0`).
//!
//! The protocol is QMP-like JSON lines. On connecting, and after any
//! timeout, the client resynchronises with `guest-sync-delimited`: the
//! agent answers with a 0xFF byte and then the echoed id, and everything
//! before that is stale. Every command carries an id, so an answer that
//! arrives after its command timed out is recognised and dropped.

use crate::conn::Conn;
use crate::error::{HvError, Result};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// One command to the guest agent, with a time limit.
pub trait GuestAgent: Send {
    fn call(&mut self, command: &str, args: Value, timeout: Duration) -> Result<Value>;
}

/// A connection to qemu-ga.
pub struct QemuAgent {
    conn: Conn,
    next_id: u64,
}

impl std::fmt::Debug for QemuAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuAgent").finish()
    }
}

fn fresh_id() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    // Small enough for every JSON parser (qemu-ga takes an int).
    (t ^ u64::from(std::process::id()).rotate_left(17)) & 0x7fff_ffff
}

impl QemuAgent {
    /// Connects and synchronises within `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self> {
        let conn = Conn::connect("guest agent", path)?;
        let mut a = QemuAgent {
            conn,
            next_id: fresh_id(),
        };
        a.sync(timeout)?;
        Ok(a)
    }

    /// `guest-sync-delimited`: after it, the stream holds no stale answer.
    pub fn sync(&mut self, timeout: Duration) -> Result<()> {
        self.next_id += 1;
        let id = self.next_id;
        self.conn.send(&[0xff])?;
        self.conn
            .send_json(&json!({"execute": "guest-sync-delimited", "arguments": {"id": id}}))?;
        let deadline = Instant::now() + timeout;
        loop {
            self.conn.skip_past_ff(deadline, "guest-sync-delimited")?;
            let r = self.conn.read_json(deadline, "guest-sync-delimited")?;
            if r["return"].as_u64() == Some(id) {
                return Ok(());
            }
        }
    }
}

impl GuestAgent for QemuAgent {
    fn call(&mut self, command: &str, args: Value, timeout: Duration) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"execute": command, "id": id});
        if args.as_object().is_some_and(|o| !o.is_empty()) {
            msg["arguments"] = args;
        }
        self.conn.send_json(&msg)?;
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.conn.read_json(deadline, command)?;
            if r["id"].as_u64() != Some(id) {
                // A late answer to an earlier command, or sync noise.
                continue;
            }
            return crate::conn::answer(command, &r);
        }
    }
}

/// What `guest-info` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    pub version: String,
    /// Commands the agent has enabled.
    pub enabled: Vec<String>,
}

/// `guest-info`.
pub fn info(a: &mut dyn GuestAgent, timeout: Duration) -> Result<AgentInfo> {
    let r = a.call("guest-info", json!({}), timeout)?;
    Ok(AgentInfo {
        version: r["version"].as_str().unwrap_or("unknown").to_owned(),
        enabled: r["supported_commands"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["enabled"].as_bool().unwrap_or(false))
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect(),
    })
}

/// `guest-fsfreeze-freeze`: the number of file systems frozen.
pub fn freeze(a: &mut dyn GuestAgent, timeout: Duration) -> Result<u64> {
    let r = a.call("guest-fsfreeze-freeze", json!({}), timeout)?;
    Ok(r.as_u64().unwrap_or(0))
}

/// `guest-fsfreeze-thaw`: the number of file systems thawed.
pub fn thaw(a: &mut dyn GuestAgent, timeout: Duration) -> Result<u64> {
    let r = a.call("guest-fsfreeze-thaw", json!({}), timeout)?;
    Ok(r.as_u64().unwrap_or(0))
}

/// `guest-fsfreeze-status`: `thawed` or `frozen`.
pub fn freeze_status(a: &mut dyn GuestAgent, timeout: Duration) -> Result<String> {
    let r = a.call("guest-fsfreeze-status", json!({}), timeout)?;
    Ok(r.as_str().unwrap_or("unknown").to_owned())
}

/// How a program run in the guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    Exited {
        code: i64,
        stdout: String,
        stderr: String,
    },
    /// Killed by a signal.
    Signalled(i64),
    /// Still running when the time limit passed (it is left running: the
    /// agent cannot kill it).
    TimedOut,
    /// The program could not be started (not found, not executable).
    NotStarted(String),
}

fn decode(v: &Value) -> String {
    v.as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Runs `path args...` in the guest (`guest-exec`), waiting at most `limit`.
pub fn exec(
    a: &mut dyn GuestAgent,
    path: &str,
    args: &[String],
    limit: Duration,
    poll: Duration,
) -> Result<ExecOutcome> {
    let started = Instant::now();
    let r = match a.call(
        "guest-exec",
        json!({"path": path, "arg": args, "capture-output": true}),
        poll.max(Duration::from_secs(10)),
    ) {
        Ok(r) => r,
        Err(HvError::Command { desc, .. }) => return Ok(ExecOutcome::NotStarted(desc)),
        Err(e) => return Err(e),
    };
    let pid = r["pid"]
        .as_i64()
        .ok_or_else(|| HvError::Protocol(format!("guest-exec answered {r}")))?;
    loop {
        let s = a.call(
            "guest-exec-status",
            json!({"pid": pid}),
            Duration::from_secs(10),
        )?;
        if s["exited"].as_bool() == Some(true) {
            if let Some(sig) = s["signal"].as_i64() {
                return Ok(ExecOutcome::Signalled(sig));
            }
            return Ok(ExecOutcome::Exited {
                code: s["exitcode"].as_i64().unwrap_or(-1),
                stdout: decode(&s["out-data"]),
                stderr: decode(&s["err-data"]),
            });
        }
        if started.elapsed() >= limit {
            return Ok(ExecOutcome::TimedOut);
        }
        std::thread::sleep(poll.min(limit.saturating_sub(started.elapsed())));
    }
}

/// Reads a whole file of the guest (at most `max` bytes); `None` if it does
/// not exist.
pub fn read_file(a: &mut dyn GuestAgent, path: &str, max: usize) -> Result<Option<Vec<u8>>> {
    let t = Duration::from_secs(10);
    let handle = match a.call("guest-file-open", json!({"path": path, "mode": "r"}), t) {
        Ok(h) => h,
        Err(HvError::Command { desc, .. }) if desc.contains("No such file") => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let result = loop {
        let r = match a.call(
            "guest-file-read",
            json!({"handle": handle, "count": 65536}),
            t,
        ) {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        if let Some(b) = r["buf-b64"].as_str() {
            match base64::engine::general_purpose::STANDARD.decode(b) {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => break Err(HvError::Protocol(format!("guest-file-read: {e}"))),
            }
        }
        if out.len() > max {
            break Err(HvError::Protocol(format!(
                "{path} in the guest is larger than {max} bytes"
            )));
        }
        if r["eof"].as_bool().unwrap_or(true) || r["count"].as_u64() == Some(0) {
            break Ok(Some(std::mem::take(&mut out)));
        }
    };
    let _ = a.call("guest-file-close", json!({"handle": handle}), t);
    result
}
