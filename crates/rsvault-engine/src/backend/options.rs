//! Options of the object-storage backends (`s3://`, `az://`): what the
//! standard environment variables do not say, or what a server's config
//! overrides. Secrets never show in `Debug`.

use std::path::PathBuf;
use std::time::Duration;

/// A credential: printed as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the client that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How hard a request is retried before it fails (a timeout, a 5xx, a
/// throttling answer, a refused connection), with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOptions {
    /// Retries of one request at most. The default is high enough that
    /// `retry_timeout` is what bounds an outage a request rides out:
    /// object_store draws each backoff at random between `init_backoff` and
    /// twice the last, so ten retries can be spent within five seconds.
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// The first backoff; it doubles up to `max_backoff`.
    pub init_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// One attempt's time limit (a whole pack's upload fits in it).
    pub request_timeout: Duration,
    /// The time limit of connecting.
    pub connect_timeout: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_retries: 100,
            retry_timeout: Duration::from_secs(120),
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What to pass an object-storage backend beside its URL. Every field left
/// `None` keeps what the environment (`AWS_*`, `AZURE_STORAGE_*`) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageOptions {
    /// The service's URL: a self-hosted S3 (`http://127.0.0.1:9000`) or a
    /// Blob account URL; with `use_emulator`, Azurite's base URL
    /// (`http://127.0.0.1:10000`, the account is added).
    pub endpoint: Option<String>,
    /// The S3 region.
    pub region: Option<String>,
    /// S3 path-style addressing (`endpoint/bucket/key`, as Ceph RGW, MinIO
    /// and Garage are usually set up) instead of `bucket.endpoint/key`.
    pub path_style: Option<bool>,
    /// Allow plain HTTP (test servers, a TLS-terminating proxy on loopback).
    pub allow_http: Option<bool>,
    /// A PEM file of the CA certificates to trust beside the system roots.
    pub ca_file: Option<PathBuf>,
    /// S3 access key id and secret, or Azure account name and key.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// Azure: the storage account.
    pub account_name: Option<String>,
    /// Azure: the account key.
    pub account_key: Option<Secret>,
    /// Azure: talk to Azurite (its well-known account and key unless given).
    pub use_emulator: Option<bool>,
    /// Let writers use a server that ignores conditional puts
    /// (`If-None-Match: *`): only-if-absent puts are then emulated by a
    /// check before the put, which is safe only while a single process
    /// writes to the store. Without it such a store refuses writes.
    pub single_writer: bool,
    /// Retries and time limits.
    pub retry: RetryOptions,
}

impl StorageOptions {
    /// The options the process's environment sets beyond object_store's own
    /// variables: `RSVAULT_STORAGE_SINGLE_WRITER=1` and
    /// `RSVAULT_STORAGE_CA_FILE=/path/ca.pem`.
    pub fn from_env() -> Self {
        let single_writer = std::env::var("RSVAULT_STORAGE_SINGLE_WRITER")
            .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        StorageOptions {
            single_writer,
            ca_file: std::env::var_os("RSVAULT_STORAGE_CA_FILE").map(PathBuf::from),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug() {
        let o = StorageOptions {
            secret_access_key: Some(Secret::new("hunter2")),
            account_key: Some(Secret::new("c2VjcmV0")),
            ..Default::default()
        };
        let d = format!("{o:?}");
        assert!(!d.contains("hunter2") && !d.contains("c2VjcmV0"), "{d}");
        assert!(d.contains("***"), "{d}");
    }
}
