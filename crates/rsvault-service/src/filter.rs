//! The OData `$filter` of ARM lists: `key eq 'value'` clauses joined with
//! `and`, as the SDKs and `az` send them. Keys compare regardless of case;
//! keys a list does not know are ignored (as the job list always did).

use crate::error::{Result, ServiceError};
use crate::jobs::{parse_filter, parse_filter_time};

/// The backup management type of everything this server holds.
pub const MANAGEMENT_TYPE: &str = "AzureIaasVM";

/// A parsed `$filter`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    clauses: Vec<(String, String)>,
}

impl Filter {
    /// Parses a `$filter` ("" for none).
    pub(crate) fn parse(filter: &str) -> Result<Filter> {
        Ok(Filter {
            clauses: parse_filter(filter),
        })
    }

    /// The value of a key (given in lower case), if the filter has it.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.clauses
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is absent or equals `value` regardless of case: for
    /// properties every entry of a list has the same value of.
    pub(crate) fn allows(&self, key: &str, value: &str) -> bool {
        self.get(key).is_none_or(|v| v.eq_ignore_ascii_case(value))
    }

    /// Whether `backupManagementType` is absent or `AzureIaasVM`.
    pub(crate) fn management_type_matches(&self) -> bool {
        self.allows("backupmanagementtype", MANAGEMENT_TYPE)
    }

    /// A time-valued key: ISO 8601, or `az`'s `%Y-%m-%d %I:%M:%S %p`.
    pub(crate) fn time(&self, key: &str, name: &str) -> Result<Option<jiff::Timestamp>> {
        self.get(key)
            .map(|s| {
                parse_filter_time(s).ok_or_else(|| {
                    ServiceError::bad_request(
                        "BMSUserErrorInvalidInput",
                        format!("$filter {name} '{s}' is not a time"),
                    )
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_any_case_and_shared_values() {
        let f = Filter::parse("BackupManagementType eq 'azureiaasvm' and friendlyName eq 'vm1'")
            .unwrap();
        assert!(f.management_type_matches());
        assert_eq!(f.get("friendlyname"), Some("vm1"));
        assert!(
            !Filter::parse("backupManagementType eq 'AzureStorage'")
                .unwrap()
                .management_type_matches()
        );
        assert!(Filter::parse("").unwrap().management_type_matches());
        let f = Filter::parse("startTime eq 'soon'").unwrap();
        assert!(f.time("starttime", "startTime").is_err());
        assert_eq!(f.time("endtime", "endTime").unwrap(), None);
    }
}
