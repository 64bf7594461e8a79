//! Names the caller gives in paths and bodies that Azure checks before it
//! looks anything up: regions (`location`) and resource-group names.

use crate::error::{Result, ServiceError};

/// Azure's public regions, as ARM spells them in `location`.
pub const REGIONS: &[&str] = &[
    "australiacentral",
    "australiacentral2",
    "australiaeast",
    "australiasoutheast",
    "austriaeast",
    "belgiumcentral",
    "brazilsouth",
    "brazilsoutheast",
    "canadacentral",
    "canadaeast",
    "centralindia",
    "centralus",
    "chilecentral",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "francesouth",
    "germanynorth",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "koreacentral",
    "koreasouth",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "norwaywest",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southafricawest",
    "southcentralus",
    "southindia",
    "southeastasia",
    "spaincentral",
    "swedencentral",
    "switzerlandnorth",
    "switzerlandwest",
    "uaecentral",
    "uaenorth",
    "uksouth",
    "ukwest",
    "westcentralus",
    "westeurope",
    "westindia",
    "westus",
    "westus2",
    "westus3",
];

/// Checks that `location` is one of [`REGIONS`]; ARM also takes display
/// names ("West Europe"), so case and spaces do not matter.
pub fn check_location(location: &str, resource_type: &str) -> Result<()> {
    let key: String = location
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    if REGIONS.contains(&key.as_str()) {
        return Ok(());
    }
    let shown: String = location.chars().take(100).collect();
    Err(ServiceError::bad_request(
        "LocationNotAvailableForResourceType",
        format!(
            "location: the provided location '{}' is not available for resource type '{resource_type}'. List of available regions for the resource type is '{}'.",
            shown.escape_debug(),
            REGIONS.join(",")
        ),
    ))
}

/// Checks a resource-group name by Azure's rule: 1 to 90 characters, each
/// a letter or digit (Unicode too), `_`, `(`, `)`, `-` or `.`, and not
/// ending in a period.
pub fn check_resource_group_name(name: &str) -> Result<()> {
    let len = name.chars().count();
    let bad_char = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || "_()-.".contains(*c)));
    let problem = if len == 0 || len > 90 {
        Some(format!("it is {len} characters long; 1 to 90 are allowed"))
    } else if let Some(c) = bad_char {
        Some(format!(
            "it has the invalid character '{}'",
            c.escape_debug()
        ))
    } else if name.ends_with('.') {
        Some("it ends with a period".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => {
            let shown: String = name.chars().take(100).collect();
            Err(ServiceError::bad_request(
                "InvalidResourceGroup",
                format!(
                    "resourceGroupName: the resource group name '{}' is invalid: {p}. The name can only be a letter, digit, '-', '.', '(', ')' or '_', and cannot end with a period.",
                    shown.escape_debug()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_known_by_name_or_display_name() {
        check_location("westeurope", "t").unwrap();
        check_location("West Europe", "t").unwrap();
        let e = check_location("mars", "Microsoft.RecoveryServices/vaults").unwrap_err();
        assert_eq!(e.code(), "LocationNotAvailableForResourceType");
        assert!(e.to_string().contains("'mars'") && e.to_string().contains("japaneast"));
    }

    #[test]
    fn resource_group_names_follow_azure_rule() {
        for ok in [
            "rg",
            "demo-rg",
            "AzureBackupRG_japaneast_1",
            "a(b).c",
            "東京",
            "x",
        ] {
            check_resource_group_name(ok).unwrap();
        }
        let long = "a".repeat(91);
        for bad in ["", "a\0b", "a/b", "a b", "rg.", &long, &"a".repeat(5000)] {
            let e = check_resource_group_name(bad).unwrap_err();
            assert_eq!(e.code(), "InvalidResourceGroup", "{bad:?}");
            assert!(e.to_string().starts_with("resourceGroupName:"));
        }
        check_resource_group_name(&"a".repeat(90)).unwrap();
    }
}
