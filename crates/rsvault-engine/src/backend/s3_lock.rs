//! S3 Object Lock for `s3://` stores: `GetObjectLockConfiguration`,
//! `PutObjectRetention` and the lock headers of `HeadObject`, which
//! object_store does not have. The requests are signed with object_store's own SigV4
//! authorizer and credentials and sent through its HTTP client, so they
//! reach the same endpoint with the same TLS settings as the store's.

use super::lock::{LockMode, ObjectLock, Retention, whole_seconds};
use super::options::RetryOptions;
use crate::error::{Error, Result};
use base64::Engine;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use md5::Digest;
use object_store::aws::{AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{HttpClient, HttpRequest, HttpRequestBody};
use std::time::SystemTime;

/// Retention requests in flight at once.
const IN_FLIGHT: usize = 16;

/// How to reach one bucket's object lock.
pub(crate) struct S3Lock {
    pub(crate) client: HttpClient,
    pub(crate) credentials: AwsCredentialProvider,
    pub(crate) region: String,
    /// `https://host/bucket` (path style) or `https://bucket.host`.
    pub(crate) bucket_url: String,
    /// The store's prefix in the bucket, without slashes at its ends.
    pub(crate) root: String,
    pub(crate) location: String,
    pub(crate) retry: RetryOptions,
}

impl std::fmt::Debug for S3Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Lock")
            .field("location", &self.location)
            .finish()
    }
}

/// One answer: its status and body.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What stays as it is in a key in a URL path, as SigV4 wants it: RFC
/// 3986's unreserved characters and `/`.
const KEY_CHARS: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn encode_key(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, KEY_CHARS).to_string()
}

/// The text of an XML element, for S3's small answers.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].trim())
}

impl S3Lock {
    fn object_url(&self, key: &str, query: &str) -> String {
        let full = if self.root.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.root)
        };
        let url = format!("{}/{}", self.bucket_url, encode_key(&full));
        if query.is_empty() {
            url
        } else {
            format!("{url}?{query}")
        }
    }

    fn failed(&self, what: &str, reason: impl std::fmt::Display) -> Error {
        Error::Storage {
            location: self.location.clone(),
            reason: format!("{what}: {reason}"),
        }
    }

    /// Sends one signed request, again after a connection error or a 5xx
    /// within the retry options.
    async fn send(&self, method: &str, url: &str, body: Option<String>) -> Result<Answer> {
        let started = std::time::Instant::now();
        let mut backoff = self.retry.init_backoff;
        let mut attempt = 0;
        loop {
            let r = self.send_once(method, url, body.clone()).await;
            let again = match &r {
                Ok(a) => a.status >= 500,
                Err(_) => true,
            };
            if !again
                || attempt >= self.retry.max_retries
                || started.elapsed() + backoff >= self.retry.retry_timeout
            {
                return r;
            }
            attempt += 1;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
    }

    async fn send_once(&self, method: &str, url: &str, body: Option<String>) -> Result<Answer> {
        let what = format!("{method} {url}");
        let credential = self
            .credentials
            .get_credential()
            .await
            .map_err(|e| self.failed(&what, e))?;
        let mut builder = http::Request::builder().method(method).uri(url);
        if let Some(b) = &body {
            // S3 wants a checksum of every request that sets a lock.
            let md5 = md5::Md5::digest(b.as_bytes());
            builder = builder
                .header(
                    "content-md5",
                    base64::engine::general_purpose::STANDARD.encode(md5),
                )
                .header("content-type", "application/xml");
        }
        let payload = body.map_or_else(HttpRequestBody::empty, |b| Bytes::from(b).into());
        let mut req: HttpRequest = builder.body(payload).map_err(|e| self.failed(&what, e))?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut req, None)
            .map_err(|e| self.failed(&what, e))?;
        let res = self
            .client
            .execute(req)
            .await
            .map_err(|e| self.failed(&what, e))?;
        let status = res.status().as_u16();
        let (parts, body) = res.into_parts();
        let bytes = body.bytes().await.map_err(|e| self.failed(&what, e))?;
        Ok(Answer {
            status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    fn refused(&self, what: &str, a: &Answer) -> Error {
        let code = element(&a.body, "Code").unwrap_or("");
        let message = element(&a.body, "Message").unwrap_or("");
        self.failed(what, format!("HTTP {} {code} {message}", a.status))
    }

    async fn retain_one(&self, key: &str, retention: Retention) -> Result<()> {
        let until = jiff::Timestamp::try_from(whole_seconds(retention.until))
            .map_err(|e| Error::InvalidInput(format!("retain-until date: {e}")))?;
        let body = format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
            retention.mode.as_s3(),
            until.strftime("%Y-%m-%dT%H:%M:%SZ")
        );
        let a = self
            .send("PUT", &self.object_url(key, "retention"), Some(body))
            .await?;
        match a.status {
            200..=299 => Ok(()),
            404 => Err(Error::MissingObject(key.to_owned())),
            // Some servers (moto) fail rather than answer 404 for a key
            // that is not there: a HEAD tells which it was.
            _ => match self.send("HEAD", &self.object_url(key, ""), None).await {
                Ok(h) if h.status == 404 => Err(Error::MissingObject(key.to_owned())),
                _ => Err(self.refused(&format!("lock {key}"), &a)),
            },
        }
    }
}

impl ObjectLock for S3Lock {
    fn enabled(&self) -> Result<bool> {
        let a = super::object::block_on(self.send(
            "GET",
            &format!("{}?object-lock", self.bucket_url),
            None,
        ))??;
        match a.status {
            200 => Ok(element(&a.body, "ObjectLockEnabled") == Some("Enabled")),
            400..=499 if a.body.contains("ObjectLockConfigurationNotFound") => Ok(false),
            _ => Err(self.refused("read the bucket's object lock configuration", &a)),
        }
    }

    fn retain(&self, keys: &[String], retention: Retention) -> Result<()> {
        super::object::block_on(async {
            let requests: Vec<_> = keys.iter().map(|k| self.retain_one(k, retention)).collect();
            futures_util::stream::iter(requests)
                .buffer_unordered(IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await
                .map(|_| ())
        })?
    }

    fn retention(&self, key: &str) -> Result<Option<Retention>> {
        let what = format!("read the lock of {key}");
        let a = super::object::block_on(self.send("HEAD", &self.object_url(key, ""), None))??;
        match a.status {
            200 => {}
            404 => return Err(Error::MissingObject(key.to_owned())),
            _ => return Err(self.refused(&what, &a)),
        }
        let mode = a.header("x-amz-object-lock-mode");
        let until = a.header("x-amz-object-lock-retain-until-date");
        match (mode, until) {
            (None, None) => Ok(None),
            (Some(m), Some(u)) => {
                let mode = LockMode::from_s3(m)
                    .ok_or_else(|| self.failed(&what, format!("unknown lock mode {m:?}")))?;
                let until = u
                    .parse::<jiff::Timestamp>()
                    .and_then(SystemTime::try_from)
                    .map_err(|e| self.failed(&what, format!("retain-until date {u:?}: {e}")))?;
                Ok(Some(Retention { mode, until }))
            }
            _ => Err(self.failed(
                &what,
                "a lock mode without a date, or a date without a mode",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_encoded_as_sigv4_wants_them() {
        assert_eq!(super::encode_key("a/b-c_d.e~f"), "a/b-c_d.e~f");
        assert_eq!(super::encode_key("x y+z=é"), "x%20y%2Bz%3D%C3%A9");
    }
}
