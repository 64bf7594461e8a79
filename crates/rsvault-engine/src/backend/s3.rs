//! `s3://bucket/prefix`: AWS S3 and S3-compatible servers (Ceph RGW, MinIO,
//! Garage, moto). Credentials, region and endpoint come from the standard
//! `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` or
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …) and then from [`StorageOptions`].

use super::object::{ObjectBackend, client_options, retry_config};
use super::options::StorageOptions;
use super::s3_lock::S3Lock;
use crate::error::{Error, Result};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::client::{HttpConnector, ReqwestConnector};
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
    let region = b
        .get_config_value(&AmazonS3ConfigKey::Region)
        .unwrap_or_else(|| "us-east-1".to_owned());
    let virtual_hosted = b
        .get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
        .is_some_and(|v| v == "true");
    let bad = |e: object_store::Error| Error::InvalidInput(format!("{location}: {e}"));
    let http = ReqwestConnector::default().connect(&client).map_err(bad)?;
    let store = b
        .with_client_options(client)
        .with_retry(retry_config(&o.retry))
        .build()
        .map_err(bad)?;
    let lock = S3Lock {
        client: http,
        credentials: store.credentials().clone(),
        bucket_url: bucket_url(bucket, &endpoint, &region, virtual_hosted),
        region,
        root: prefix.trim_matches('/').to_owned(),
        location: location.clone(),
        retry: o.retry,
    };
    ObjectBackend::new(
        Arc::new(store),
        prefix,
        location,
        format!("s3://{bucket} at {endpoint}"),
        o,
    )
    .map(|b| b.with_lock(Box::new(lock)))
}

/// The bucket's URL as object_store makes it: at the endpoint, path-style
/// unless virtual-hosted, else AWS's for the region.
fn bucket_url(bucket: &str, endpoint: &str, region: &str, virtual_hosted: bool) -> String {
    match (endpoint.trim_end_matches('/'), virtual_hosted) {
        ("", true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        ("", false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        (e, true) => e.to_owned(),
        (e, false) => format!("{e}/{bucket}"),
    }
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
        assert!(b.object_lock().is_some());
    }

    #[test]
    fn bucket_urls_are_object_stores() {
        let cases = [
            (
                "",
                "eu-west-1",
                false,
                "https://s3.eu-west-1.amazonaws.com/b",
            ),
            (
                "",
                "eu-west-1",
                true,
                "https://b.s3.eu-west-1.amazonaws.com",
            ),
            ("http://127.0.0.1:9/", "x", false, "http://127.0.0.1:9/b"),
            ("https://b.minio.lan", "x", true, "https://b.minio.lan"),
        ];
        for (endpoint, region, vh, want) in cases {
            assert_eq!(
                bucket_url("b", endpoint, region, vh),
                want,
                "{endpoint} {vh}"
            );
        }
    }
}
