//! The agent's HTTPS client: it trusts exactly the server certificate whose
//! SHA-256 the enrolment token carried (no CA, no host name: the pin is the
//! trust), and logs in as the agent's service principal.

use anyhow::{Context, Result, anyhow, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::Digest;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Accepts only the pinned certificate.
#[derive(Debug)]
struct Pinned {
    sha256: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = hex(&sha2::Sha256::digest(end_entity.as_ref()));
        if got == self.sha256 {
            return Ok(ServerCertVerified::assertion());
        }
        tracing::error!(
            expected = %self.sha256,
            presented = %got,
            "the server's certificate is not the one pinned at enrolment: refused"
        );
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An HTTPS client that trusts only `sha256` (hex).
pub fn pinned_client(sha256: &str, timeout: Duration) -> Result<reqwest::blocking::Client> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            sha256: sha256.to_ascii_lowercase(),
            provider,
        }))
        .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(config)
        .https_only(true)
        .timeout(timeout)
        .build()
        .context("build the HTTPS client")
}

/// The agent's identity at the server.
#[derive(Debug, Clone)]
pub struct Login {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
}

/// A logged-in connection to the vault server.
#[derive(Debug)]
pub struct Server {
    pub base: String,
    pub http: reqwest::blocking::Client,
    login: Login,
    token: Mutex<Option<(String, Instant)>>,
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Server {
    pub fn new(base: &str, http: reqwest::blocking::Client, login: Login) -> Self {
        Server {
            base: base.trim_end_matches('/').to_owned(),
            http,
            login,
            token: Mutex::new(None),
        }
    }

    /// A bearer token, fetched again shortly before it expires.
    pub fn token(&self) -> Result<String> {
        let mut t = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tok, until)) = t.as_ref()
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        let url = format!("{}/{}/oauth2/v2.0/token", self.base, self.login.tenant);
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.login.client_id),
            ("client_secret", &self.login.client_secret),
            ("scope", "https://management.azure.com/.default"),
        ]);
        let r = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .with_context(|| format!("POST {url}"))?;
        let status = r.status();
        let v: serde_json::Value =
            serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or_default();
        if !status.is_success() {
            bail!("the server refused the agent's login ({status}): {v}");
        }
        let tok = v["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("the token answer has no access_token"))?
            .to_owned();
        let secs = v["expires_in"].as_u64().unwrap_or(600);
        *t = Some((
            tok.clone(),
            Instant::now() + Duration::from_secs(secs.saturating_sub(120).max(30)),
        ));
        Ok(tok)
    }

    /// Sends `req` with the bearer token; one retry with a fresh token on 401.
    pub fn send(
        &self,
        build: impl Fn(&reqwest::blocking::Client, &str) -> reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response> {
        for attempt in 0..2 {
            let tok = self.token()?;
            let r = build(&self.http, &self.base).bearer_auth(&tok).send()?;
            if r.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                continue;
            }
            return Ok(r);
        }
        unreachable!("the loop returns")
    }

    /// POSTs JSON to `path` and reads the JSON answer.
    pub fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let bytes = serde_json::to_vec(body)?;
        let r = self.send(|c, base| {
            c.post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(bytes.clone())
        })?;
        read_json(r, path)
    }
}

/// The JSON of a successful answer, or the server's error.
pub fn read_json<T: serde::de::DeserializeOwned>(
    r: reqwest::blocking::Response,
    what: &str,
) -> Result<T> {
    let status = r.status();
    let text = r.text()?;
    if !status.is_success() {
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                Some(format!(
                    "{}: {}",
                    v["error"]["code"].as_str()?,
                    v["error"]["message"].as_str()?
                ))
            })
            .unwrap_or(text);
        bail!("{what}: {status}: {msg}");
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: the answer does not read"))
}
