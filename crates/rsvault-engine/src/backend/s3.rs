//! `s3://bucket/prefix`: AWS S3 and S3-compatible servers (Ceph RGW, MinIO,
//! Garage, moto). Credentials, region and endpoint come from the standard
//! `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` or
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …) and then from [`StorageOptions`].

use super::object::{ObjectBackend, client_options, retry_config};
use super::options::StorageOptions;
use crate::error::{Error, Result};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use std::sync::Arc;

/// The backend of `s3://{bucket}/{prefix}`.
pub fn open(bucket: &str, prefix: &str, o: &StorageOptions) -> Result<ObjectBackend> {
    let location = if prefix.is_empty() {
        format!("s3://{bucket}")
    } else {
        format!("s3://{bucket}/{prefix}")
    };
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(e) = &o.endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(r) = &o.region {
        b = b.with_region(r);
    }
    if let Some(p) = o.path_style {
        b = b.with_virtual_hosted_style_request(!p);
    }
    if let Some(id) = &o.access_key_id {
        b = b.with_access_key_id(id);
    }
    if let Some(s) = &o.secret_access_key {
        b = b.with_secret_access_key(s.expose());
    }
    let client = client_options(
        |k| b.get_config_value(&AmazonS3ConfigKey::Client(k)),
        o,
        &location,
    )?;
    let endpoint = b
        .get_config_value(&AmazonS3ConfigKey::Endpoint)
        .unwrap_or_default();
    let store = b
        .with_client_options(client)
        .with_retry(retry_config(&o.retry))
        .build()
        .map_err(|e| Error::InvalidInput(format!("{location}: {e}")))?;
    ObjectBackend::new(
        Arc::new(store),
        prefix,
        location,
        format!("s3://{bucket} at {endpoint}"),
        o,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, Secret};

    #[test]
    fn credentials_show_in_neither_debug_nor_location() {
        let o = StorageOptions {
            endpoint: Some("http://127.0.0.1:9".into()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(Secret::new("wJalrXUtnFEMI-secret")),
            ..Default::default()
        };
        let b = open("bucket", "a/b", &o).unwrap();
        let shown = format!("{b:?} {}", b.location());
        assert!(!shown.contains("wJalrXUtnFEMI-secret"), "{shown}");
        assert_eq!(b.location(), "s3://bucket/a/b");
    }
}
