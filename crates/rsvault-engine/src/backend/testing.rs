//! Support for tests against real object storage servers that run on this
//! machine: moto's S3 server (`RSVAULT_TEST_S3=http://127.0.0.1:PORT`) and
//! Azurite (`RSVAULT_TEST_AZURITE=http://127.0.0.1:PORT`), which
//! `scripts/test.sh` starts. Each test makes a bucket or container of its
//! own. Without the variable a test is skipped with a notice, except where
//! `CI=true`: there a missing server fails the test.

use super::options::{Secret, StorageOptions};
use crate::error::{Error, Result};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The variable naming the S3 test server.
pub const S3_VAR: &str = "RSVAULT_TEST_S3";
/// The variable naming the Azurite test server.
pub const AZURITE_VAR: &str = "RSVAULT_TEST_AZURITE";

const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The test server's URL from `var`, or `None` (with a notice) when it is
/// not set. Panics when it is not set and `CI=true`: CI must test it.
pub fn server(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v.trim_end_matches('/').to_owned()),
        _ if std::env::var("CI").is_ok_and(|c| c == "true") => {
            panic!("CI=true but {var} is not set: the object storage backends must be tested in CI")
        }
        _ => {
            eprintln!("{var} is not set: the test against that server is skipped");
            None
        }
    }
}

/// A fresh name for a bucket or container (lowercase, 3–63 characters).
pub fn fresh_name(what: &str) -> String {
    format!("{what}-{}", &crate::id::random_hex_id()[..16])
}

/// Options for the moto server at `endpoint`: path-style, plain HTTP, its
/// dummy credentials, short retries (a test server that is down fails fast).
pub fn s3_options(endpoint: &str) -> StorageOptions {
    let mut o = StorageOptions {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        path_style: Some(true),
        allow_http: Some(true),
        access_key_id: Some("testing".into()),
        secret_access_key: Some(Secret::new("testing")),
        ..Default::default()
    };
    o.retry.max_retries = 3;
    o.retry.retry_timeout = Duration::from_secs(5);
    o.retry.request_timeout = Duration::from_secs(60);
    o
}

/// Options for the Azurite at `endpoint` (its well-known account).
pub fn azurite_options(endpoint: &str) -> StorageOptions {
    let mut o = StorageOptions {
        endpoint: Some(endpoint.to_owned()),
        use_emulator: Some(true),
        allow_http: Some(true),
        ..Default::default()
    };
    o.retry.max_retries = 3;
    o.retry.retry_timeout = Duration::from_secs(5);
    o.retry.request_timeout = Duration::from_secs(60);
    o
}

/// Sends one HTTP/1.1 request without a body to a loopback test server;
/// returns the status code.
fn request(endpoint: &str, method: &str, path: &str, headers: &[(&str, String)]) -> Result<u16> {
    let fail = |why: String| Error::Storage {
        location: endpoint.to_owned(),
        reason: why,
    };
    let host = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| fail("test servers are plain http://host:port".into()))?
        .trim_end_matches('/');
    let mut s = TcpStream::connect(host).map_err(|e| fail(format!("connect: {e}")))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| fail(e.to_string()))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| fail(format!("send: {e}")))?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| fail(format!("read: {e}")))?;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| fail(format!("not an HTTP answer: {text:.200}")))
}

/// Creates bucket `name` on the moto server at `endpoint` (moto takes the
/// unsigned request).
pub fn create_bucket(endpoint: &str, name: &str) -> Result<()> {
    create_bucket_with(endpoint, name, &[])
}

/// Creates bucket `name` with object lock (and so versioning) on.
pub fn create_locked_bucket(endpoint: &str, name: &str) -> Result<()> {
    create_bucket_with(
        endpoint,
        name,
        &[("x-amz-bucket-object-lock-enabled", "true".to_owned())],
    )
}

fn create_bucket_with(endpoint: &str, name: &str, headers: &[(&str, String)]) -> Result<()> {
    match request(endpoint, "PUT", &format!("/{name}"), headers)? {
        200 => Ok(()),
        code => Err(Error::Storage {
            location: endpoint.to_owned(),
            reason: format!("create bucket {name}: HTTP {code}"),
        }),
    }
}

/// Creates container `name` on the Azurite at `endpoint`, signed with the
/// well-known account key (Shared Key authorization).
pub fn create_container(endpoint: &str, name: &str) -> Result<()> {
    let date = jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let version = "2021-08-06";
    let path = format!("/{AZURITE_ACCOUNT}/{name}");
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}{path}\nrestype:container"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(AZURITE_KEY)
        .expect("the well-known key is base64");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(to_sign.as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    let headers = [
        ("x-ms-date", date),
        ("x-ms-version", version.to_owned()),
        (
            "Authorization",
            format!("SharedKey {AZURITE_ACCOUNT}:{sig}"),
        ),
    ];
    match request(
        endpoint,
        "PUT",
        &format!("{path}?restype=container"),
        &headers,
    )? {
        201 => Ok(()),
        code => Err(Error::Storage {
            location: endpoint.to_owned(),
            reason: format!("create container {name}: HTTP {code}"),
        }),
    }
}

/// A URL and options for a fresh, empty bucket on the S3 test server, or
/// `None` when there is none (see [`server`]).
pub fn fresh_s3() -> Option<(String, StorageOptions)> {
    let endpoint = server(S3_VAR)?;
    let bucket = fresh_name("rsv");
    create_bucket(&endpoint, &bucket).expect("create a test bucket");
    Some((format!("s3://{bucket}/store"), s3_options(&endpoint)))
}

/// [`fresh_s3`] in a bucket with object lock on.
pub fn fresh_locked_s3() -> Option<(String, StorageOptions)> {
    let endpoint = server(S3_VAR)?;
    let bucket = fresh_name("rsv");
    create_locked_bucket(&endpoint, &bucket).expect("create a test bucket");
    Some((format!("s3://{bucket}/store"), s3_options(&endpoint)))
}

/// A URL and options for a fresh, empty container on Azurite, or `None`
/// when there is none (see [`server`]).
pub fn fresh_azurite() -> Option<(String, StorageOptions)> {
    let endpoint = server(AZURITE_VAR)?;
    let container = fresh_name("rsv");
    create_container(&endpoint, &container).expect("create a test container");
    Some((
        format!("az://{container}/store"),
        azurite_options(&endpoint),
    ))
}
