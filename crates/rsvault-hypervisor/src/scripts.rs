//! Pre- and post-snapshot scripts, configured as in Azure: the guest's
//! `/etc/azure/VMSnapshotScriptPluginConfig.json`, read and run through the
//! guest agent (`guest-file-read`, `guest-exec`).

use crate::agent::{self, ExecOutcome, GuestAgent};
use crate::error::Result;
use serde::Deserialize;
use std::time::Duration;

/// Where the guest keeps the configuration, as on Azure.
pub const CONFIG_PATH: &str = "/etc/azure/VMSnapshotScriptPluginConfig.json";

/// The configuration file's fields (Azure's names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptConfig {
    pub plugin_name: String,
    #[serde(default)]
    pub pre_script_location: String,
    #[serde(default)]
    pub post_script_location: String,
    #[serde(default)]
    pub pre_script_params: Vec<String>,
    #[serde(default)]
    pub post_script_params: Vec<String>,
    #[serde(default)]
    pub pre_script_no_of_retries: u32,
    #[serde(default)]
    pub post_script_no_of_retries: u32,
    #[serde(default = "default_timeout")]
    pub timeout_in_seconds: u64,
    #[serde(default)]
    pub continue_backup_on_failure: bool,
    #[serde(default = "default_true")]
    pub fs_freeze_enabled: bool,
}

fn default_timeout() -> u64 {
    30
}

fn default_true() -> bool {
    true
}

impl ScriptConfig {
    /// Parses and checks the file's text.
    pub fn parse(text: &[u8]) -> std::result::Result<Self, String> {
        let c: ScriptConfig =
            serde_json::from_slice(text).map_err(|e| format!("{CONFIG_PATH}: {e}"))?;
        if c.plugin_name != "ScriptRunner" {
            return Err(format!(
                "{CONFIG_PATH}: pluginName is '{}', expected 'ScriptRunner'",
                c.plugin_name
            ));
        }
        if !(1..=3600).contains(&c.timeout_in_seconds) {
            return Err(format!(
                "{CONFIG_PATH}: timeoutInSeconds must be 1 to 3600, not {}",
                c.timeout_in_seconds
            ));
        }
        if c.pre_script_no_of_retries > 5 || c.post_script_no_of_retries > 5 {
            return Err(format!(
                "{CONFIG_PATH}: preScriptNoOfRetries and postScriptNoOfRetries are at most 5"
            ));
        }
        for (field, loc) in [
            ("preScriptLocation", &c.pre_script_location),
            ("postScriptLocation", &c.post_script_location),
        ] {
            if !loc.is_empty() && !loc.starts_with('/') {
                return Err(format!(
                    "{CONFIG_PATH}: {field} must be an absolute path, not '{loc}'"
                ));
            }
        }
        Ok(c)
    }

    /// The time limit of one script run.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_in_seconds)
    }
}

/// Reads the guest's configuration: `Ok(None)` when the guest has none,
/// `Ok(Some(Err(reason)))` when it is unusable.
pub fn load(a: &mut dyn GuestAgent) -> Result<Option<std::result::Result<ScriptConfig, String>>> {
    Ok(agent::read_file(a, CONFIG_PATH, 1 << 20)?.map(|t| ScriptConfig::parse(&t)))
}

/// Which script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pre,
    Post,
}

/// Runs the pre- or post-script (if configured) with its retries; `Err`
/// carries a message fit for the job's error details.
pub fn run(
    a: &mut dyn GuestAgent,
    c: &ScriptConfig,
    phase: Phase,
) -> Result<std::result::Result<(), String>> {
    let (loc, params, retries, label) = match phase {
        Phase::Pre => (
            &c.pre_script_location,
            &c.pre_script_params,
            c.pre_script_no_of_retries,
            "pre-script",
        ),
        Phase::Post => (
            &c.post_script_location,
            &c.post_script_params,
            c.post_script_no_of_retries,
            "post-script",
        ),
    };
    if loc.is_empty() {
        return Ok(Ok(()));
    }
    let mut last = String::new();
    for attempt in 0..=retries {
        let outcome = agent::exec(a, loc, params, c.timeout(), Duration::from_millis(100))?;
        let tries = format!("attempt {} of {}", attempt + 1, retries + 1);
        last = match outcome {
            ExecOutcome::Exited { code: 0, .. } => return Ok(Ok(())),
            ExecOutcome::Exited { code, stderr, .. } => {
                let err = stderr.trim();
                let err = if err.is_empty() {
                    String::new()
                } else {
                    format!(": {}", err.chars().take(400).collect::<String>())
                };
                format!("The {label} {loc} exited with status {code} ({tries}){err}")
            }
            ExecOutcome::Signalled(s) => {
                format!("The {label} {loc} was killed by signal {s} ({tries})")
            }
            ExecOutcome::TimedOut => format!(
                "The {label} {loc} did not finish within timeoutInSeconds = {} ({tries})",
                c.timeout_in_seconds
            ),
            ExecOutcome::NotStarted(why) => {
                // Not found or not executable: retrying will not help.
                return Ok(Err(format!(
                    "The {label} {loc} could not be started: {why}"
                )));
            }
        };
    }
    Ok(Err(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_sample_parses_with_defaults() {
        let c = ScriptConfig::parse(br#"{"pluginName": "ScriptRunner", "preScriptLocation": "/opt/pre.sh",
            "postScriptLocation": "/opt/post.sh", "preScriptParams": ["a", "b"], "postScriptParams": [],
            "preScriptNoOfRetries": 1, "postScriptNoOfRetries": 0, "timeoutInSeconds": 30,
            "continueBackupOnFailure": true}"#).unwrap();
        assert_eq!(c.pre_script_params, ["a", "b"]);
        assert!(c.fs_freeze_enabled, "freezing is on unless turned off");
        assert!(c.continue_backup_on_failure);
    }

    #[test]
    fn bad_configs_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (br#"{"pluginName": "Other"}"#, "pluginName"),
            (
                br#"{"pluginName": "ScriptRunner", "timeoutInSeconds": 0}"#,
                "timeoutInSeconds",
            ),
            (
                br#"{"pluginName": "ScriptRunner", "preScriptNoOfRetries": 9}"#,
                "NoOfRetries",
            ),
            (
                br#"{"pluginName": "ScriptRunner", "preScriptLocation": "pre.sh"}"#,
                "absolute",
            ),
            (b"{not json", "VMSnapshotScriptPluginConfig.json"),
        ];
        for (text, needle) in cases {
            let e = ScriptConfig::parse(text).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}
