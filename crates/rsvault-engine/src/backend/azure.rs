//! `az://container/prefix`: Azure Blob Storage and Azurite. The account,
//! key and endpoint come from the standard `AZURE_STORAGE_*` environment
//! variables (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`,
//! `AZURE_STORAGE_ENDPOINT`, `AZURE_STORAGE_USE_EMULATOR`, …) and then from
//! [`StorageOptions`].

use super::object::{ObjectBackend, client_options, retry_config};
use super::options::StorageOptions;
use crate::error::{Error, Result};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use std::sync::Arc;

/// Azurite's account, and its key that every Azurite has (public, from
/// Azure's documentation: not a secret).
const EMULATOR_ACCOUNT: &str = "devstoreaccount1";
const EMULATOR_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The backend of `az://{container}/{prefix}`.
pub fn open(container: &str, prefix: &str, o: &StorageOptions) -> Result<ObjectBackend> {
    let location = if prefix.is_empty() {
        format!("az://{container}")
    } else {
        format!("az://{container}/{prefix}")
    };
    let mut b = MicrosoftAzureBuilder::from_env().with_container_name(container);
    if let Some(a) = &o.account_name {
        b = b.with_account(a);
    }
    if let Some(k) = &o.account_key {
        b = b.with_access_key(k.expose());
    }
    let endpoint = o
        .endpoint
        .clone()
        .or_else(|| b.get_config_value(&AzureConfigKey::Endpoint));
    let emulator = o.use_emulator.unwrap_or_else(|| {
        b.get_config_value(&AzureConfigKey::UseEmulator)
            .is_some_and(|v| matches!(v.as_str(), "true" | "1"))
    });
    let mut client_opts = o.clone();
    match (emulator, endpoint) {
        // Azurite at a given address: its URLs carry the account after the
        // host, as an account endpoint of that form does.
        (true, Some(e)) => {
            let account = b
                .get_config_value(&AzureConfigKey::AccountName)
                .unwrap_or_else(|| EMULATOR_ACCOUNT.to_owned());
            if b.get_config_value(&AzureConfigKey::AccessKey).is_none() {
                b = b.with_access_key(EMULATOR_KEY);
            }
            b = b
                .with_use_emulator(false)
                .with_account(&account)
                .with_endpoint(format!("{}/{account}", e.trim_end_matches('/')));
            client_opts.allow_http = Some(client_opts.allow_http.unwrap_or(true));
        }
        (_, Some(e)) => b = b.with_endpoint(e),
        (emulator, None) => b = b.with_use_emulator(emulator),
    }
    let client = client_options(
        |k| b.get_config_value(&AzureConfigKey::Client(k)),
        &client_opts,
        &location,
    )?;
    let service = format!(
        "az://{container} at {}",
        b.get_config_value(&AzureConfigKey::Endpoint)
            .or_else(|| b.get_config_value(&AzureConfigKey::AccountName))
            .unwrap_or_default()
    );
    let store = b
        .with_client_options(client)
        .with_retry(retry_config(&o.retry))
        .build()
        .map_err(|e| Error::InvalidInput(format!("{location}: {e}")))?;
    ObjectBackend::new(Arc::new(store), prefix, location, service, o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, Secret};

    #[test]
    fn the_account_key_shows_in_neither_debug_nor_location() {
        let o = StorageOptions {
            account_name: Some("acct".into()),
            account_key: Some(Secret::new("c2VjcmV0LWtleS1ieXRlcw==")),
            ..Default::default()
        };
        let b = open("container", "", &o).unwrap();
        let shown = format!("{b:?} {}", b.location());
        assert!(!shown.contains("c2VjcmV0LWtleS1ieXRlcw=="), "{shown}");
        assert_eq!(b.location(), "az://container");
    }
}
