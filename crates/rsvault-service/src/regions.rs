//! Regions and where each keeps its vaults' data: a primary storage
//! location per region (a backend base URL) and the paired region that a
//! geo-redundant vault replicates to. Azure's pairs are the default
//! (`az`'s `secondary_region_map`); the server's config overrides both.

use crate::error::{Result, ServiceError};
use std::collections::BTreeMap;

/// Azure's region pairs, both ways.
const PAIRS: &[(&str, &str)] = &[
    ("japaneast", "japanwest"),
    ("westeurope", "northeurope"),
    ("eastus", "westus"),
    ("eastus2", "centralus"),
    ("southeastasia", "eastasia"),
    ("australiaeast", "australiasoutheast"),
    ("uksouth", "ukwest"),
    ("germanywestcentral", "germanynorth"),
    ("swedencentral", "swedensouth"),
    ("southafricanorth", "southafricawest"),
    ("francecentral", "francesouth"),
    ("canadacentral", "canadaeast"),
    ("koreacentral", "koreasouth"),
    ("centralindia", "southindia"),
    ("westus2", "westcentralus"),
    ("northcentralus", "southcentralus"),
    ("switzerlandnorth", "switzerlandwest"),
    ("norwayeast", "norwaywest"),
    ("uaenorth", "uaecentral"),
    ("australiacentral", "australiacentral2"),
];

/// Azure's one-way pairs: the secondary of these pairs with another region.
const ONE_WAY: &[(&str, &str)] = &[
    ("westus3", "eastus"),
    ("brazilsouth", "southcentralus"),
    ("brazilsoutheast", "brazilsouth"),
    ("westindia", "southindia"),
];

/// A region's name as ARM compares it: `Japan East` is `japaneast`.
pub fn normalize(region: &str) -> String {
    region
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Azure's paired region of `region`, if it has one.
pub fn azure_pair(region: &str) -> Option<&'static str> {
    let r = normalize(region);
    PAIRS
        .iter()
        .find_map(|&(a, b)| {
            if a == r {
                Some(b)
            } else if b == r {
                Some(a)
            } else {
                None
            }
        })
        .or_else(|| ONE_WAY.iter().find(|(a, _)| *a == r).map(|(_, b)| *b))
}

/// One region's settings in the server's config (`[storage.regions.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionSettings {
    /// Where the region's vault stores go (a base URL: `file:///…`,
    /// `s3://bucket/prefix`, `az://container/prefix`).
    pub url: Option<String>,
    /// The region its geo-redundant vaults replicate to, instead of
    /// Azure's pair.
    pub pair: Option<String>,
    /// How to reach the object storage at `url` (endpoint, credentials),
    /// when not from the environment alone.
    pub options: Option<rsvault_engine::backend::StorageOptions>,
}

/// Where every region keeps its vault stores.
#[derive(Debug, Clone)]
pub struct RegionMap {
    /// The base of regions the config names no URL for: each gets
    /// `<default>/<region>`.
    default_base: String,
    regions: BTreeMap<String, RegionSettings>,
}

impl RegionMap {
    /// Regions under `default_base` (a base URL), with overrides by region.
    pub fn new(default_base: &str, overrides: BTreeMap<String, RegionSettings>) -> Result<Self> {
        let mut regions = BTreeMap::new();
        for (name, s) in overrides {
            let key = normalize(&name);
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ServiceError::bad_request(
                    "InvalidConfiguration",
                    format!("storage.regions: {name:?} is not a region name (letters and digits)"),
                ));
            }
            if let Some(p) = &s.pair
                && normalize(p) == key
            {
                return Err(ServiceError::bad_request(
                    "InvalidConfiguration",
                    format!("storage.regions.{name}.pair: a region cannot be its own pair"),
                ));
            }
            if regions.insert(key, s).is_some() {
                return Err(ServiceError::bad_request(
                    "InvalidConfiguration",
                    format!("storage.regions: {name:?} is named twice"),
                ));
            }
        }
        Ok(RegionMap {
            default_base: default_base.trim_end_matches('/').to_owned(),
            regions,
        })
    }

    /// The base URL of `region`'s vault stores.
    pub fn base_url(&self, region: &str) -> String {
        let r = normalize(region);
        match self.regions.get(&r).and_then(|s| s.url.as_deref()) {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => match self.default_base.strip_prefix("memory://") {
                // `memory://NAME` has no folders.
                Some(n) => format!("memory://{n}-{r}"),
                None => format!("{}/{r}", self.default_base),
            },
        }
    }

    /// Every configured region's base URL with its storage options.
    pub fn configured_options(
        &self,
    ) -> impl Iterator<Item = (String, &rsvault_engine::backend::StorageOptions)> {
        self.regions
            .iter()
            .filter_map(|(name, s)| s.options.as_ref().map(|o| (self.base_url(name), o)))
    }

    /// The region `region`'s geo-redundant vaults replicate to.
    pub fn pair(&self, region: &str) -> Option<String> {
        let r = normalize(region);
        match self.regions.get(&r).and_then(|s| s.pair.as_deref()) {
            Some(p) => Some(normalize(p)),
            None => azure_pair(&r).map(str::to_owned),
        }
    }

    /// The pair of a region that must have one (a geo-redundant vault's).
    pub fn require_pair(&self, region: &str) -> Result<String> {
        self.pair(region).ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorGeoRedundancyNotSupported",
                format!(
                    "Region '{region}' has no paired region, so a vault there cannot be GeoRedundant; choose LocallyRedundant, or set storage.regions.{}.pair in the server's config.",
                    normalize(region)
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_pairs_both_ways_and_one_way() {
        for (r, want) in [
            ("japaneast", Some("japanwest")),
            ("japanwest", Some("japaneast")),
            ("Japan East", Some("japanwest")),
            ("WESTEUROPE", Some("northeurope")),
            ("northeurope", Some("westeurope")),
            ("westus3", Some("eastus")),
            ("eastus", Some("westus")),
            ("brazilsoutheast", Some("brazilsouth")),
            ("brazilsouth", Some("southcentralus")),
            ("polandcentral", None),
            ("", None),
        ] {
            assert_eq!(azure_pair(r), want, "{r}");
        }
    }

    #[test]
    fn bases_and_pairs_follow_the_config() {
        let overrides = BTreeMap::from([
            (
                "JapanEast".to_owned(),
                RegionSettings {
                    url: Some("s3://bk/jpe/".into()),
                    pair: None,
                    options: None,
                },
            ),
            (
                "polandcentral".to_owned(),
                RegionSettings {
                    url: None,
                    pair: Some("germanywestcentral".into()),
                    options: None,
                },
            ),
        ]);
        let m = RegionMap::new("file:///data/stores/", overrides).unwrap();
        for (region, base, pair) in [
            ("japaneast", "s3://bk/jpe", Some("japanwest")),
            (
                "Japan West",
                "file:///data/stores/japanwest",
                Some("japaneast"),
            ),
            (
                "polandcentral",
                "file:///data/stores/polandcentral",
                Some("germanywestcentral"),
            ),
            ("italynorth", "file:///data/stores/italynorth", None),
        ] {
            assert_eq!(m.base_url(region), base, "{region}");
            assert_eq!(m.pair(region).as_deref(), pair, "{region}");
        }
        assert!(m.require_pair("italynorth").is_err());
        let mem = RegionMap::new("memory://t", BTreeMap::new()).unwrap();
        assert_eq!(mem.base_url("japaneast"), "memory://t-japaneast");
    }

    #[test]
    fn bad_region_settings_are_refused() {
        let one = |name: &str, pair: Option<&str>| {
            BTreeMap::from([(
                name.to_owned(),
                RegionSettings {
                    url: None,
                    pair: pair.map(str::to_owned),
                    options: None,
                },
            )])
        };
        assert!(RegionMap::new("file:///d", one("japan-east", None)).is_err());
        assert!(RegionMap::new("file:///d", one("", None)).is_err());
        assert!(RegionMap::new("file:///d", one("japaneast", Some("Japan East"))).is_err());
        let twice = BTreeMap::from([
            ("japaneast".to_owned(), RegionSettings::default()),
            ("JapanEast".to_owned(), RegionSettings::default()),
        ]);
        assert!(RegionMap::new("file:///d", twice).is_err());
    }
}
