//! The server's configuration file (TOML). Every key is optional; flags and
//! environment variables override the file.
//!
//! ```toml
//! listen = "127.0.0.1:7431"
//! data_dir = "/var/lib/rsvault"
//! demo = false
//!
//! [scheduler]
//! interval_seconds = 30        # time between scheduler ticks
//! max_concurrent_backups = 2   # scheduled backups running at once
//!
//! [api]
//! page_size = 200              # items per page of a list (nextLink beyond)
//!
//! [live]                       # backups of running QEMU VMs
//! freeze_timeout_seconds = 60  # longest wait for guest-fsfreeze-freeze
//! agent_timeout_seconds = 10   # time limit of other guest-agent commands
//! snapshot_rate_limit_mib = 64 # cap on the snapshot copy (MiB/s); none if left out
//!
//! [verify]                     # each vault's verify job (a vault may set its own)
//! schedule = "sun 03:00"       # weekdays and a UTC time: "daily 02:30", "mon..fri 22:00", "off"
//!
//! [testing]
//! simulated_clock = "2026-03-28T19:00:00Z"  # run on a clock moved by POST /rsvault/clock
//! ```

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub demo: Option<bool>,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    #[serde(default)]
    pub testing: TestingConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub live: LiveConfig,
    #[serde(default)]
    pub verify: VerifyConfig,
}

/// `[verify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// The default verify schedule of vaults (`sun 03:00` when left out).
    pub schedule: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    pub freeze_timeout_seconds: Option<u64>,
    pub agent_timeout_seconds: Option<u64>,
    pub snapshot_rate_limit_mib: Option<u64>,
}

/// `[api]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Items per page of a list; longer lists continue at `nextLink`.
    pub page_size: Option<usize>,
}

/// `[scheduler]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    pub interval_seconds: Option<u64>,
    pub max_concurrent_backups: Option<usize>,
}

/// `[testing]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestingConfig {
    pub simulated_clock: Option<String>,
}

impl FileConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read the configuration file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("configuration file {}", path.display()))
    }

    fn parse(text: &str) -> Result<Self> {
        let c: FileConfig = toml::from_str(text)?;
        if c.scheduler.interval_seconds == Some(0) {
            bail!("scheduler.interval_seconds must be at least 1");
        }
        if c.api.page_size == Some(0) {
            bail!("api.page_size must be at least 1");
        }
        if c.scheduler.max_concurrent_backups == Some(0) {
            bail!("scheduler.max_concurrent_backups must be at least 1");
        }
        if c.live.freeze_timeout_seconds == Some(0) || c.live.agent_timeout_seconds == Some(0) {
            bail!("live.freeze_timeout_seconds and live.agent_timeout_seconds must be at least 1");
        }
        if c.live.snapshot_rate_limit_mib == Some(0) {
            bail!("live.snapshot_rate_limit_mib must be at least 1 (leave it out for no limit)");
        }
        c.verify_settings()?;
        if let Some(t) = &c.testing.simulated_clock {
            t.parse::<jiff::Timestamp>().with_context(|| {
                format!("testing.simulated_clock: '{t}' is not an RFC 3339 time")
            })?;
        }
        Ok(c)
    }

    /// The scheduler settings, defaults filled in.
    pub fn scheduler_settings(&self) -> rsvault_server::SchedulerSettings {
        let d = rsvault_server::SchedulerSettings::default();
        rsvault_server::SchedulerSettings {
            interval: self
                .scheduler
                .interval_seconds
                .map_or(d.interval, std::time::Duration::from_secs),
            max_concurrent_backups: self
                .scheduler
                .max_concurrent_backups
                .unwrap_or(d.max_concurrent_backups),
        }
    }

    /// The simulated clock's start, if any (checked by [`FileConfig::load`]).
    pub fn live_settings(&self) -> rsvault_service::live::LiveSettings {
        let d = rsvault_service::live::LiveSettings::default();
        rsvault_service::live::LiveSettings {
            freeze_timeout: self
                .live
                .freeze_timeout_seconds
                .map_or(d.freeze_timeout, std::time::Duration::from_secs),
            agent_timeout: self
                .live
                .agent_timeout_seconds
                .map_or(d.agent_timeout, std::time::Duration::from_secs),
            rate_limit: self.live.snapshot_rate_limit_mib.map(|m| m << 20),
        }
    }

    /// The verify settings, defaults filled in.
    pub fn verify_settings(&self) -> Result<rsvault_service::verify::VerifySettings> {
        let default_schedule = match &self.verify.schedule {
            None => Default::default(),
            Some(s) => rsvault_service::verify_schedule::parse(s)
                .map_err(|e| anyhow::anyhow!("verify.schedule: {e}"))?,
        };
        Ok(rsvault_service::verify::VerifySettings { default_schedule })
    }

    pub fn simulated_clock(&self) -> Option<jiff::Timestamp> {
        self.testing
            .simulated_clock
            .as_deref()
            .and_then(|t| t.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_table() {
        for (text, ok) in [
            ("", true),
            (
                "listen = \"127.0.0.1:9000\"\n[scheduler]\ninterval_seconds = 5\n",
                true,
            ),
            (
                "[testing]\nsimulated_clock = \"2026-03-28T19:00:00Z\"\n",
                true,
            ),
            ("[testing]\nsimulated_clock = \"tomorrow\"\n", false),
            ("[scheduler]\ninterval_seconds = 0\n", false),
            ("[scheduler]\nmax_concurrent_backups = 0\n", false),
            (
                "[live]\nfreeze_timeout_seconds = 5\nsnapshot_rate_limit_mib = 8\n",
                true,
            ),
            ("[live]\nfreeze_timeout_seconds = 0\n", false),
            ("[live]\nsnapshot_rate_limit_mib = 0\n", false),
            ("[verify]\nschedule = \"daily 02:30\"\n", true),
            ("[verify]\nschedule = \"off\"\n", true),
            ("[verify]\nschedule = \"someday\"\n", false),
            ("[verify]\nscheduel = \"sun 03:00\"\n", false),
            ("listen = \"nowhere\"\n", false),
            ("lisen = \"127.0.0.1:9000\"\n", false),
        ] {
            assert_eq!(FileConfig::parse(text).is_ok(), ok, "{text:?}");
        }
        let c = FileConfig::parse("[scheduler]\ninterval_seconds = 5\n").unwrap();
        assert_eq!(c.scheduler_settings().interval.as_secs(), 5);
        assert_eq!(c.scheduler_settings().max_concurrent_backups, 2);
        assert_eq!(
            c.verify_settings().unwrap().default_schedule.to_string(),
            "sun 03:00"
        );
    }
}
