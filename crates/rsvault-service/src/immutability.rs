//! Immutable vaults (`properties.securitySettings.immutabilitySettings.state`):
//! `Disabled` ↔ `Unlocked` → `Locked`, and `Locked` is final, for anyone.
//! While a vault is `Unlocked` or `Locked`, no recovery point can go before
//! its expiry: protection cannot be stopped with deletion of the data, and
//! neither a policy change nor moving an item to another policy may shorten
//! retention. The rules are pure functions here; the vault, policy and
//! protection use cases call them.

use crate::error::{Result, ServiceError};
use crate::policy::model::Retention;
use rsvault_arm::vault::{ImmutabilityState, VaultProperties};

/// The code of a change an immutable vault refuses.
pub const DENIED: &str = "UserErrorOperationDeniedOnImmutableItem";
/// The code of an immutability state change that is not allowed.
pub const BAD_CHANGE: &str = "UserErrorUnsupportedVaultImmutabilityStateChange";

/// A vault's immutability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Immutability {
    Disabled,
    Unlocked,
    Locked,
}

impl Immutability {
    /// Whether recovery points are protected until their expiry.
    pub fn on(self) -> bool {
        self != Immutability::Disabled
    }
}

/// The immutability stored properties say (`Disabled` when unset).
pub fn of(props: &VaultProperties) -> Immutability {
    let state = props
        .security_settings
        .as_ref()
        .and_then(|s| s.immutability_settings.as_ref())
        .and_then(|i| i.state.as_ref());
    match state.map(|s| s.as_str().to_ascii_lowercase()) {
        Some(s) if s == "unlocked" => Immutability::Unlocked,
        Some(s) if s == "locked" => Immutability::Locked,
        _ => Immutability::Disabled,
    }
}

/// Checks the immutability a PUT or PATCH asks for against the vault's
/// (`None`: a new vault), and writes it canonically. A body without it
/// keeps the vault's.
pub fn check(props: &mut VaultProperties, before: Option<Immutability>) -> Result<()> {
    let asked = props
        .security_settings
        .as_ref()
        .and_then(|s| s.immutability_settings.as_ref())
        .and_then(|i| i.state.clone());
    let after = match asked {
        None => before.unwrap_or(Immutability::Disabled),
        Some(s) => match s.as_str().to_ascii_lowercase().as_str() {
            "disabled" => Immutability::Disabled,
            "unlocked" => Immutability::Unlocked,
            "locked" => Immutability::Locked,
            _ => {
                return Err(ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    format!(
                        "properties.securitySettings.immutabilitySettings.state: '{}' is not Disabled, Unlocked or Locked",
                        s.as_str()
                    ),
                ));
            }
        },
    };
    transition(before, after)?;
    let settings = props.security_settings.get_or_insert_with(Default::default);
    let imm = settings
        .immutability_settings
        .get_or_insert_with(Default::default);
    imm.state = Some(match after {
        Immutability::Disabled => ImmutabilityState::Disabled,
        Immutability::Unlocked => ImmutabilityState::Unlocked,
        Immutability::Locked => ImmutabilityState::Locked,
    });
    Ok(())
}

/// Whether a vault may go from `before` (`None`: it is being created) to
/// `after`.
pub fn transition(before: Option<Immutability>, after: Immutability) -> Result<()> {
    use Immutability::*;
    let refuse = |why: &str| Err(ServiceError::bad_request(BAD_CHANGE, why.to_owned()));
    match (before, after) {
        (Some(Locked), Locked) => Ok(()),
        (Some(Locked), _) => refuse(
            "The vault's immutability is locked: it cannot be unlocked or disabled, by anyone.",
        ),
        (None, Locked) => refuse(
            "A vault cannot be created with locked immutability: create it Unlocked, check it, then lock it.",
        ),
        (Some(Disabled), Locked) => {
            refuse("Immutability goes from Disabled to Unlocked first; lock it after that.")
        }
        _ => Ok(()),
    }
}

/// How a change of retention shortens it, if it does: a tier the old
/// retention has that the new one lacks or keeps for less time.
pub fn shortens(old: &Retention, new: &Retention) -> Option<String> {
    let tiers = [
        ("daily", "days", old.daily_days, new.daily_days),
        (
            "weekly",
            "weeks",
            old.weekly.as_ref().map(|w| w.1),
            new.weekly.as_ref().map(|w| w.1),
        ),
        (
            "monthly",
            "months",
            old.monthly.as_ref().map(|m| m.1),
            new.monthly.as_ref().map(|m| m.1),
        ),
        (
            "yearly",
            "years",
            old.yearly.as_ref().map(|y| y.2),
            new.yearly.as_ref().map(|y| y.2),
        ),
    ];
    tiers
        .into_iter()
        .find_map(|(tier, unit, o, n)| match (o, n) {
            (Some(o), None) => Some(format!("it removes the {tier} retention ({o} {unit})")),
            (Some(o), Some(n)) if n < o => Some(format!(
                "it shortens the {tier} retention from {o} to {n} {unit}"
            )),
            _ => None,
        })
}

/// The refusal of a change that would shorten retention.
pub fn denied_retention(what: &str, why: &str) -> ServiceError {
    ServiceError::bad_request(
        DENIED,
        format!(
            "The vault is immutable: {what} is refused because {why}. Recovery points are kept until they expire."
        ),
    )
}

/// The refusal of stopping protection with deletion of the data.
pub fn denied_delete() -> ServiceError {
    ServiceError::bad_request(
        "UserErrorDeleteBackupItemOnImmutableItem",
        "The vault is immutable: stopping protection with deletion of the backup data is refused. Stop protection and retain the data instead; the recovery points go when they expire.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Immutability::*;

    #[test]
    fn states_move_as_in_azure_and_locked_is_final() {
        let table = [
            (None, Disabled, true),
            (None, Unlocked, true),
            (None, Locked, false),
            (Some(Disabled), Unlocked, true),
            (Some(Disabled), Locked, false),
            (Some(Unlocked), Disabled, true),
            (Some(Unlocked), Locked, true),
            (Some(Locked), Locked, true),
            (Some(Locked), Unlocked, false),
            (Some(Locked), Disabled, false),
        ];
        for (before, after, ok) in table {
            assert_eq!(
                transition(before, after).is_ok(),
                ok,
                "{before:?} -> {after:?}"
            );
        }
    }

    #[test]
    fn a_body_without_the_state_keeps_the_vault_s() {
        let mut p = VaultProperties::default();
        check(&mut p, Some(Locked)).unwrap();
        assert_eq!(of(&p), Locked);
        let mut p: VaultProperties = serde_json::from_value(serde_json::json!(
            {"securitySettings": {"immutabilitySettings": {"state": "unlocked"}}}
        ))
        .unwrap();
        check(&mut p, Some(Disabled)).unwrap();
        assert_eq!(of(&p), Unlocked);
        let mut bad: VaultProperties = serde_json::from_value(serde_json::json!(
            {"securitySettings": {"immutabilitySettings": {"state": "Frozen"}}}
        ))
        .unwrap();
        assert!(check(&mut bad, None).is_err());
    }

    fn ret(daily: Option<u32>, weekly: Option<u32>, yearly: Option<u32>) -> Retention {
        Retention {
            daily_days: daily,
            weekly: weekly.map(|w| (vec![jiff::civil::Weekday::Sunday], w)),
            monthly: None,
            yearly: yearly.map(|y| {
                (
                    vec![1],
                    crate::policy::model::MonthDays::Daily {
                        dates: vec![1],
                        last: false,
                    },
                    y,
                )
            }),
        }
    }

    #[test]
    fn retention_that_shortens_is_found() {
        let table = [
            (ret(Some(30), None, None), ret(Some(30), None, None), false),
            (
                ret(Some(30), None, None),
                ret(Some(60), Some(4), None),
                false,
            ),
            (ret(Some(30), None, None), ret(Some(7), None, None), true),
            (
                ret(Some(30), Some(12), None),
                ret(Some(30), None, None),
                true,
            ),
            (
                ret(Some(30), Some(12), Some(5)),
                ret(Some(30), Some(12), Some(4)),
                true,
            ),
            (
                ret(None, Some(12), None),
                ret(Some(7), Some(12), None),
                false,
            ),
        ];
        for (old, new, shorter) in table {
            assert_eq!(
                shortens(&old, &new).is_some(),
                shorter,
                "{old:?} -> {new:?}"
            );
        }
    }
}
