//! A line-oriented JSON connection over a Unix socket with deadlines, shared
//! by the QMP and guest-agent clients. Bytes read past a line are kept, so a
//! timeout never loses part of an answer.

use crate::error::{HvError, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) struct Conn {
    stream: UnixStream,
    pending: Vec<u8>,
    what: &'static str,
}

impl Conn {
    pub(crate) fn connect(what: &'static str, path: &Path) -> Result<Self> {
        let stream = UnixStream::connect(path).map_err(|source| HvError::Connect {
            what,
            path: path.to_owned(),
            source,
        })?;
        Ok(Conn {
            stream,
            pending: Vec::new(),
            what,
        })
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| HvError::io(format!("{} socket", self.what), e))?;
        self.stream.write_all(bytes).map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                HvError::Closed(self.what)
            }
            _ => HvError::io(format!("write to {}", self.what), e),
        })
    }

    pub(crate) fn send_json(&mut self, v: &serde_json::Value) -> Result<()> {
        let mut line = serde_json::to_vec(v).map_err(|e| HvError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.send(&line)
    }

    /// Reads more bytes into `pending`, waiting until `deadline`.
    fn fill(&mut self, deadline: Instant, waiting_for: &str) -> Result<()> {
        let now = Instant::now();
        if now >= deadline {
            return Err(HvError::Timeout(format!("{} ({waiting_for})", self.what)));
        }
        self.stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .map_err(|e| HvError::io(format!("{} socket", self.what), e))?;
        let mut buf = [0u8; 8192];
        match self.stream.read(&mut buf) {
            Ok(0) => Err(HvError::Closed(self.what)),
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(HvError::Timeout(format!("{} ({waiting_for})", self.what)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                Err(HvError::Closed(self.what))
            }
            Err(e) => Err(HvError::io(format!("read from {}", self.what), e)),
        }
    }

    /// The next JSON message (one line), waiting until `deadline`.
    pub(crate) fn read_json(
        &mut self,
        deadline: Instant,
        waiting_for: &str,
    ) -> Result<serde_json::Value> {
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{fffd}');
                if text.is_empty() {
                    continue;
                }
                return serde_json::from_str(text).map_err(|e| {
                    HvError::Protocol(format!("{} sent a line that is not JSON ({e})", self.what))
                });
            }
            self.fill(deadline, waiting_for)?;
        }
    }

    /// Drops input up to and including a 0xFF byte (the guest agent's
    /// resynchronisation marker).
    pub(crate) fn skip_past_ff(&mut self, deadline: Instant, waiting_for: &str) -> Result<()> {
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == 0xff) {
                self.pending.drain(..=pos);
                return Ok(());
            }
            self.pending.clear();
            self.fill(deadline, waiting_for)?;
        }
    }
}

/// The outcome carried by an answer: its `return` value, or its error.
pub(crate) fn answer(command: &str, r: &serde_json::Value) -> Result<serde_json::Value> {
    if let Some(ret) = r.get("return") {
        return Ok(ret.clone());
    }
    let e = &r["error"];
    Err(HvError::Command {
        command: command.to_owned(),
        class: e["class"].as_str().unwrap_or("GenericError").to_owned(),
        desc: e["desc"].as_str().unwrap_or("no description").to_owned(),
    })
}
