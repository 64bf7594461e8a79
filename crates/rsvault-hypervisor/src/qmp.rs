//! A client of QEMU's QMP monitor (one connection, commands in turn).

use crate::conn::Conn;
use crate::error::{HvError, Result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The QMP commands rsvault sends, behind a trait so that the snapshot
/// logic can be exercised without QEMU.
pub trait Monitor: Send {
    /// Runs one command; its `return` value, or its error.
    fn execute(&mut self, command: &str, args: Value) -> Result<Value>;
}

/// A QMP connection in command mode.
pub struct Qmp {
    conn: Conn,
    next_id: u64,
    timeout: Duration,
}

impl std::fmt::Debug for Qmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qmp")
            .field("next_id", &self.next_id)
            .finish()
    }
}

impl Qmp {
    /// Connects, reads the greeting and leaves capabilities negotiation.
    /// Each command must answer within `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self> {
        let mut conn = Conn::connect("QMP", path)?;
        let greeting = conn.read_json(Instant::now() + timeout, "greeting")?;
        if greeting.get("QMP").is_none() {
            return Err(HvError::Protocol(format!(
                "{} is not a QMP socket (greeting {greeting})",
                path.display()
            )));
        }
        let mut q = Qmp {
            conn,
            next_id: 0,
            timeout,
        };
        q.execute("qmp_capabilities", json!({}))?;
        Ok(q)
    }

    /// Changes the answer timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

impl Monitor for Qmp {
    fn execute(&mut self, command: &str, args: Value) -> Result<Value> {
        self.next_id += 1;
        let id = format!("rsvault-{}", self.next_id);
        let mut msg = json!({"execute": command, "id": id});
        if args.as_object().is_some_and(|o| !o.is_empty()) {
            msg["arguments"] = args;
        }
        self.conn.send_json(&msg)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let r = self.conn.read_json(deadline, command)?;
            if r.get("event").is_some() || r["id"] != json!(id) {
                continue;
            }
            return crate::conn::answer(command, &r);
        }
    }
}

/// A block device of the running VM: the top node of a disk image.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockNode {
    /// The node to name in commands.
    pub node: String,
    /// The image file, as QEMU names it.
    pub file: PathBuf,
    /// The format driver (`qcow2`, `raw`, ...).
    pub driver: String,
    pub virtual_size: u64,
    pub bitmaps: Vec<BitmapInfo>,
}

/// A dirty bitmap of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitmapInfo {
    pub name: String,
    pub granularity: u64,
    pub recording: bool,
    pub persistent: bool,
    pub busy: bool,
    /// Set when QEMU found the bitmap marked in use on open: QEMU stopped
    /// without saving it, so it may miss writes.
    pub inconsistent: bool,
    /// Dirty bytes.
    pub count: u64,
}

/// The VM's run state (`running`, `paused`, `prelaunch`, ...).
pub fn run_state(m: &mut dyn Monitor) -> Result<String> {
    let r = m.execute("query-status", json!({}))?;
    Ok(r["status"].as_str().unwrap_or("unknown").to_owned())
}

/// The VM's block devices that have an image inserted.
pub fn block_nodes(m: &mut dyn Monitor) -> Result<Vec<BlockNode>> {
    let r = m.execute("query-block", json!({}))?;
    let mut out = Vec::new();
    for dev in r.as_array().into_iter().flatten() {
        let ins = &dev["inserted"];
        let (Some(node), Some(file)) = (ins["node-name"].as_str(), ins["file"].as_str()) else {
            continue;
        };
        let bitmaps = ins["dirty-bitmaps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| BitmapInfo {
                name: b["name"].as_str().unwrap_or("").to_owned(),
                granularity: b["granularity"].as_u64().unwrap_or(0),
                recording: b["recording"].as_bool().unwrap_or(false),
                persistent: b["persistent"].as_bool().unwrap_or(false),
                busy: b["busy"].as_bool().unwrap_or(false),
                inconsistent: b["inconsistent"].as_bool().unwrap_or(false),
                count: b["count"].as_u64().unwrap_or(0),
            })
            .collect();
        out.push(BlockNode {
            node: node.to_owned(),
            file: PathBuf::from(file),
            driver: ins["drv"].as_str().unwrap_or("").to_owned(),
            virtual_size: ins["image"]["virtual-size"].as_u64().unwrap_or(0),
            bitmaps,
        });
    }
    Ok(out)
}

/// Finds the node whose image is `image` (compared as canonical paths;
/// QEMU must have been given absolute paths or paths from its own working
/// directory, which is then not ours: those never match).
pub fn node_for_image<'a>(nodes: &'a [BlockNode], image: &Path) -> Option<&'a BlockNode> {
    let want = std::fs::canonicalize(image).ok()?;
    nodes
        .iter()
        .find(|n| n.file.is_absolute() && std::fs::canonicalize(&n.file).is_ok_and(|c| c == want))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    /// A tiny QMP server speaking the protocol's framing, enough to check
    /// the client's id matching and event skipping.
    fn fake_server(path: &Path) -> std::thread::JoinHandle<()> {
        let l = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            writeln!(w, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).unwrap();
            for line in BufReader::new(s).lines() {
                let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
                let id = v["id"].clone();
                match v["execute"].as_str().unwrap() {
                    "qmp_capabilities" => {
                        writeln!(w, "{}", json!({"return": {}, "id": id})).unwrap()
                    }
                    "query-status" => {
                        writeln!(w, "{}", json!({"event": "STOP", "data": {}})).unwrap();
                        writeln!(w, "{}", json!({"return": {"status": "old"}, "id": "x"})).unwrap();
                        writeln!(w, "{}", json!({"return": {"status": "paused"}, "id": id}))
                            .unwrap();
                    }
                    _ => writeln!(
                        w,
                        "{}",
                        json!({"error": {"class": "CommandNotFound", "desc": "no"}, "id": id})
                    )
                    .unwrap(),
                }
            }
        })
    }

    #[test]
    fn commands_skip_events_and_other_answers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("qmp.sock");
        let h = fake_server(&p);
        let mut q = Qmp::connect(&p, Duration::from_secs(5)).unwrap();
        assert_eq!(run_state(&mut q).unwrap(), "paused");
        let e = q.execute("nope", json!({})).unwrap_err();
        assert!(matches!(e, HvError::Command { ref class, .. } if class == "CommandNotFound"));
        drop(q);
        h.join().unwrap();
    }

    #[test]
    fn a_missing_socket_is_a_connect_error() {
        let d = tempfile::tempdir().unwrap();
        let e = Qmp::connect(&d.path().join("none"), Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, HvError::Connect { what: "QMP", .. }), "{e}");
    }
}
