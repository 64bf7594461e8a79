//! A protected item's health as the catalogue keeps it (JSON text in the
//! item's row): the guest agent's state when it was last checked and the
//! findings shown as `healthDetails`.

use rsvault_arm::item::HealthDetail;
use rsvault_hypervisor::AgentState;
use rsvault_hypervisor::finding;
use serde::{Deserialize, Serialize};

/// The stored health of an item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredHealth {
    #[serde(default)]
    pub health_details: Option<Vec<HealthDetail>>,
    #[serde(default)]
    pub guest_agent_status: Option<String>,
    #[serde(default)]
    pub guest_agent_version: Option<String>,
    #[serde(default)]
    pub last_checked: Option<String>,
}

/// One finding, in the shape `healthDetails` shows it.
pub(crate) fn detail(
    code: &str,
    title: &str,
    message: String,
    recommendation: &str,
) -> HealthDetail {
    HealthDetail {
        code: Some(code.into()),
        title: Some(title.to_owned()),
        message: Some(message),
        recommendations: Some(vec![recommendation.to_owned()]),
        ..Default::default()
    }
}

impl StoredHealth {
    /// The health a live backup found: the guest agent's state.
    pub fn of_agent(agent: &AgentState, checked: jiff::Timestamp) -> Self {
        let unavailable = |title: &str, message: String| {
            vec![detail(
                finding::AGENT_UNAVAILABLE,
                title,
                message,
                finding::AGENT_RECOMMENDATION,
            )]
        };
        let (status, version, details) = match agent {
            AgentState::Ready { version } => ("Ready", version.clone(), Vec::new()),
            AgentState::NotConfigured => (
                "NotConfigured",
                String::new(),
                unavailable(
                    "Guest agent not configured",
                    "The VM names no guest agent socket; its backups are crash-consistent.".into(),
                ),
            ),
            AgentState::Unreachable(why) => (
                "Unreachable",
                String::new(),
                unavailable(
                    "Guest agent unreachable",
                    format!("The guest agent did not answer: {why}"),
                ),
            ),
        };
        StoredHealth {
            health_details: Some(details),
            guest_agent_status: Some(status.into()),
            guest_agent_version: Some(version),
            last_checked: Some(checked.to_string()),
        }
    }

    /// The health of a VM found stopped (its images read in place).
    pub fn vm_stopped(checked: jiff::Timestamp) -> Self {
        StoredHealth {
            health_details: Some(Vec::new()),
            guest_agent_status: Some("VMStopped".into()),
            guest_agent_version: Some(String::new()),
            last_checked: Some(checked.to_string()),
        }
    }

    /// The stored text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_states_read_back() {
        let t: jiff::Timestamp = "2026-03-29T03:00:00Z".parse().unwrap();
        for (agent, status, findings) in [
            (
                AgentState::Ready {
                    version: "7.2".into(),
                },
                "Ready",
                0,
            ),
            (AgentState::NotConfigured, "NotConfigured", 1),
            (AgentState::Unreachable("timeout".into()), "Unreachable", 1),
        ] {
            let h = StoredHealth::of_agent(&agent, t);
            let back: StoredHealth = serde_json::from_str(&h.to_text()).unwrap();
            assert_eq!(back, h);
            assert_eq!(back.guest_agent_status.as_deref(), Some(status));
            assert_eq!(back.health_details.unwrap().len(), findings);
        }
        // A row written by an earlier version (plain JSON) reads.
        let old = r#"{"guestAgentStatus":"VMStopped","guestAgentVersion":"","lastChecked":"x","healthDetails":[]}"#;
        let h: StoredHealth = serde_json::from_str(old).unwrap();
        assert_eq!(h.guest_agent_status.as_deref(), Some("VMStopped"));
    }
}
