//! A small blocking client of the ARM REST API that `rsvault serve` speaks:
//! bearer-token auth, `api-version`, the `{"error": {"code", "message"}}`
//! envelope, list paging, and the long-running-operation polling Azure's
//! clients do (`Azure-AsyncOperation` status URLs, `Location` result URLs).

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use rsvault_arm::operation::{OperationState, OperationStatus};
use rsvault_arm::{ErrorResponse, List};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// `api-version` of `Microsoft.RecoveryServices/vaults` (as `az` 2.91 sends).
pub const VAULT_API: &str = "2026-07-01";
/// `api-version` of the backup resources under a vault.
pub const BACKUP_API: &str = "2026-08-01";
/// `api-version` of the secondary region's view of a geo-redundant vault
/// (Azure's passive stamp, as `az --use-secondary-region` sends it).
pub const CRR_API: &str = "2021-11-15";
/// `api-version` of `Microsoft.Compute`.
pub const COMPUTE_API: &str = "2026-04-01";

/// The subscription id used when none is given.
pub const DEFAULT_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";

/// How to reach the server; global options of `rsvault backup` and `rsvault vm`.
#[derive(Debug, Args)]
pub struct ConnArgs {
    /// URL of the rsvault server.
    #[arg(
        long,
        env = "RSVAULT_ENDPOINT",
        default_value = "https://127.0.0.1:7431",
        global = true,
        help_heading = "Global Arguments"
    )]
    pub endpoint: String,
    /// Bearer token (default: one the server's token endpoint gives for
    /// --client-id/--client-secret, else for the host Owner's credential in
    /// the server's data directory).
    #[arg(
        long,
        env = "RSVAULT_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = "Global Arguments"
    )]
    pub token: Option<String>,
    /// A service principal's app id to log in as (with --client-secret).
    #[arg(
        long,
        env = "RSVAULT_CLIENT_ID",
        global = true,
        help_heading = "Global Arguments"
    )]
    pub client_id: Option<String>,
    /// The service principal's client secret (better in the environment).
    #[arg(
        long,
        env = "RSVAULT_CLIENT_SECRET",
        hide_env_values = true,
        global = true,
        help_heading = "Global Arguments"
    )]
    pub client_secret: Option<String>,
    /// The server's tenant id (default: `organizations`, which any rsvault
    /// server takes).
    #[arg(
        long,
        env = "RSVAULT_TENANT_ID",
        global = true,
        help_heading = "Global Arguments"
    )]
    pub tenant: Option<String>,
    /// The server's data directory, where the host Owner's credential is
    /// (identity/owner.json) and the server's certificate
    /// (default: $XDG_DATA_HOME/rsvault or ~/.local/share/rsvault).
    #[arg(
        long,
        env = "RSVAULT_DATA_DIR",
        global = true,
        help_heading = "Global Arguments"
    )]
    pub data_dir: Option<PathBuf>,
    /// PEM certificates to trust for the server's TLS (default: the server's
    /// own <data-dir>/tls/server.crt when it is there, else the public roots).
    #[arg(
        long,
        env = "RSVAULT_CA_FILE",
        global = true,
        help_heading = "Global Arguments"
    )]
    pub ca_file: Option<PathBuf>,
    /// Subscription id.
    #[arg(
        long,
        env = "RSVAULT_SUBSCRIPTION",
        default_value = DEFAULT_SUBSCRIPTION,
        global = true,
        help_heading = "Global Arguments"
    )]
    pub subscription: String,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        value_enum,
        default_value = "json",
        global = true,
        help_heading = "Global Arguments"
    )]
    pub output: crate::output::Format,
    /// Print every HTTP request and response status to stderr.
    #[arg(long, global = true, help_heading = "Global Arguments")]
    pub debug: bool,
}

/// An error the server answered with the ARM envelope (or an HTTP status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) {}", self.code, self.message)
    }
}

impl std::error::Error for ArmError {}

impl ArmError {
    /// The error of a non-2xx answer: the envelope when there is one.
    pub fn from_body(status: u16, body: &str) -> Self {
        match serde_json::from_str::<ErrorResponse>(body) {
            Ok(e) if !e.error.code.is_empty() => ArmError {
                status,
                code: e.error.code,
                message: e.error.message,
            },
            _ => ArmError {
                status,
                code: format!("HttpError{status}"),
                message: if body.trim().is_empty() {
                    format!("the server answered HTTP {status} with no body")
                } else {
                    body.trim().chars().take(500).collect()
                },
            },
        }
    }
}

/// One HTTP answer with a 2xx status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub async_operation: Option<String>,
    pub retry_after: Option<u64>,
    /// `METHOD URL` of the request, for messages.
    request: String,
    /// The body as sent (empty when there is none).
    text: String,
}

impl Reply {
    /// The body read as `T`; `None` when the answer has no body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        if self.text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&self.text).map(Some).with_context(|| {
            format!(
                "{} answered with a body this client cannot read",
                self.request
            )
        })
    }

    /// The body read as `T`, which the answer must have.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T> {
        self.json()?
            .ok_or_else(|| anyhow!("{} answered with no body", self.request))
    }
}

/// The client.
pub struct Arm {
    agent: ureq::Agent,
    endpoint: String,
    token: String,
    subscription: String,
    debug: bool,
}

/// The server's default data directory (as `rsvault serve` chooses it).
fn default_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("rsvault"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share/rsvault"))
}

/// The roots the client trusts: `--ca-file`, else the server's own
/// certificate in its data directory, else the public (webpki) roots.
fn root_certs(args: &ConnArgs) -> Result<ureq::tls::RootCerts> {
    let own = args
        .data_dir
        .clone()
        .or_else(default_data_dir)
        .map(|d| d.join("tls").join("server.crt"))
        .filter(|p| p.is_file());
    let Some(path) = args.ca_file.clone().or(own) else {
        return Ok(ureq::tls::RootCerts::WebPki);
    };
    let pem = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    let certs = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_context(|| format!("read the certificates in {}", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// A service principal's credential: from --client-id/--client-secret,
/// else the host Owner's in the server's data directory.
fn credential(args: &ConnArgs) -> Result<Credential> {
    if let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) {
        return Ok(Credential {
            app_id: id.clone(),
            password: secret.clone(),
            tenant: args
                .tenant
                .clone()
                .unwrap_or_else(|| "organizations".into()),
        });
    }
    let dir = args.data_dir.clone().or_else(default_data_dir).ok_or_else(|| {
        anyhow!("not logged in: pass --client-id and --client-secret (RSVAULT_CLIENT_ID, RSVAULT_CLIENT_SECRET), --token, or --data-dir on the server's host")
    })?;
    let path = dir.join("identity").join("owner.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "not logged in: pass --client-id and --client-secret (RSVAULT_CLIENT_ID, RSVAULT_CLIENT_SECRET) or --token, or point --data-dir at the server's data directory (reading {})",
            path.display()
        )
    })?;
    let mut c: Credential = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a credential file", path.display()))?;
    if let Some(t) = &args.tenant {
        c.tenant = t.clone();
    }
    Ok(c)
}

/// A credential file's fields (`az ad sp create-for-rbac`'s output).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credential {
    app_id: String,
    password: String,
    tenant: String,
}

/// A token for Resource Manager from the server's token endpoint
/// (client credentials).
fn log_in(agent: &ureq::Agent, endpoint: &str, c: &Credential, debug: bool) -> Result<String> {
    let url = format!("{endpoint}/{}/oauth2/v2.0/token", encode(&c.tenant));
    if debug {
        eprintln!("> POST {url} (client_credentials for {})", c.app_id);
    }
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
        encode(&c.app_id),
        encode(&c.password),
        encode("https://management.azure.com/.default")
    );
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form.as_bytes())
        .map_err(|e| anyhow!("cannot reach the rsvault server at {endpoint} to log in ({e}); is `rsvault serve` running? (--endpoint, RSVAULT_ENDPOINT)"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .context("read the token endpoint's answer")?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if status != 200 {
        let why = v["error_description"].as_str().unwrap_or(text.as_str());
        bail!("login as {} failed (HTTP {status}): {why}", c.app_id);
    }
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the token endpoint answered without an access_token"))
}

/// Percent-encodes one path segment or query value (RFC 3986 unreserved
/// characters and `;` stay as they are).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b';') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn header(r: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Arm {
    /// A client from the global options.
    pub fn new(args: &ConnArgs) -> Result<Self> {
        let endpoint = args.endpoint.trim_end_matches('/').to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            bail!("--endpoint '{endpoint}' must start with http:// or https://");
        }
        if args.subscription.is_empty() || args.subscription.contains('/') {
            bail!(
                "--subscription '{}' is not a subscription id",
                args.subscription
            );
        }
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(root_certs(args)?)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(300)))
            .user_agent(concat!("rsvault/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent: ureq::Agent = config.into();
        let token = match args
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(t) => t.to_owned(),
            None => log_in(&agent, &endpoint, &credential(args)?, args.debug)?,
        };
        Ok(Arm {
            agent,
            endpoint,
            token,
            subscription: args.subscription.clone(),
            debug: args.debug,
        })
    }

    /// The bearer token the client sends.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The subscription id.
    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    /// `/subscriptions/{sub}/resourceGroups/{rg}` (encoded).
    pub fn group_path(&self, rg: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            encode(&self.subscription),
            encode(rg)
        )
    }

    /// A full URL for a path, or for an absolute URL the server handed out
    /// (its path is sent to our endpoint, so a proxy or another host name
    /// in the server's answer does not matter).
    fn url(&self, path_or_url: &str, query: &[(&str, &str)]) -> String {
        let path = match path_or_url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => path_or_url,
        };
        let mut url = format!("{}{path}", self.endpoint);
        let mut sep = if path.contains('?') { '&' } else { '?' };
        for (k, v) in query {
            url.push(sep);
            url.push_str(&encode(k));
            url.push('=');
            url.push_str(&encode(v));
            sep = '&';
        }
        url
    }

    /// Sends one request without a body; non-2xx answers become [`ArmError`].
    pub fn send(&self, method: &str, path_or_url: &str, query: &[(&str, &str)]) -> Result<Reply> {
        self.send_bytes(method, path_or_url, query, None)
    }

    /// Sends one request with a JSON body; non-2xx answers become [`ArmError`].
    pub fn send_json<B: Serialize>(
        &self,
        method: &str,
        path_or_url: &str,
        query: &[(&str, &str)],
        body: &B,
    ) -> Result<Reply> {
        let bytes = serde_json::to_vec(body).context("encode the request body")?;
        self.send_bytes(method, path_or_url, query, Some(bytes))
    }

    fn send_bytes(
        &self,
        method: &str,
        path_or_url: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply> {
        let url = self.url(path_or_url, query);
        if self.debug {
            eprintln!("> {method} {url}");
            if let Some(b) = &body {
                eprintln!("> {}", String::from_utf8_lossy(b));
            }
        }
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Accept", "application/json");
        let sent = match body {
            Some(b) => self.agent.run(
                builder
                    .header("Content-Type", "application/json")
                    .body(b)
                    .with_context(|| format!("bad request URL {url}"))?,
            ),
            None => self.agent.run(
                builder
                    .body(())
                    .with_context(|| format!("bad request URL {url}"))?,
            ),
        };
        let mut resp = sent.map_err(|e| match e {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Io(_) => {
                anyhow!(
                    "cannot reach the rsvault server at {} ({e}); is `rsvault serve` running? (--endpoint, RSVAULT_ENDPOINT)",
                    self.endpoint
                )
            }
            e => anyhow!("{method} {url}: {e}"),
        })?;
        let status = resp.status().as_u16();
        let location = header(&resp, "location");
        let async_operation = header(&resp, "azure-asyncoperation");
        let retry_after = header(&resp, "retry-after").and_then(|s| s.trim().parse().ok());
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .with_context(|| format!("read the answer of {method} {url}"))?;
        if self.debug {
            eprintln!("< {status} {}", text.chars().take(2000).collect::<String>());
        }
        if !(200..300).contains(&status) {
            return Err(ArmError::from_body(status, &text).into());
        }
        Ok(Reply {
            status,
            location,
            async_operation,
            retry_after,
            request: format!("{method} {url}"),
            text,
        })
    }

    /// GET of one resource.
    pub fn get<T: DeserializeOwned>(&self, path: &str, api: &str) -> Result<T> {
        self.send("GET", path, &[("api-version", api)])?.body()
    }

    /// GET of a list, following `nextLink`, with an optional `$filter`.
    pub fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        api: &str,
        filter: Option<&str>,
    ) -> Result<Vec<T>> {
        let mut query = vec![("api-version", api)];
        if let Some(f) = filter.filter(|f| !f.is_empty()) {
            query.push(("$filter", f));
        }
        let mut out = Vec::new();
        let mut page: List<T> = self.send("GET", path, &query)?.json()?.unwrap_or_default();
        for _ in 0..10_000 {
            let next = page.next().map(str::to_owned);
            out.append(&mut page.value);
            match next {
                Some(next) => page = self.send("GET", &next, &[])?.json()?.unwrap_or_default(),
                None => return Ok(out),
            }
        }
        bail!("GET {path}: too many pages")
    }

    fn pause(reply: &Reply) {
        let secs = reply.retry_after.unwrap_or(1).clamp(1, 10);
        std::thread::sleep(Duration::from_secs(secs));
    }

    /// Polls the `Azure-AsyncOperation` URL of a 202 answer while the
    /// operation is `InProgress`; returns its final status. A failed or
    /// cancelled operation is an error carrying the operation's error.
    pub fn wait_async(&self, reply: &Reply, api: &str) -> Result<OperationStatus> {
        let url = reply.async_operation.clone().ok_or_else(|| {
            anyhow!("the server accepted the request without an Azure-AsyncOperation URL to follow")
        })?;
        loop {
            let r = self.send("GET", &url, &[("api-version", api)])?;
            let op: OperationStatus = r.json()?.unwrap_or_default();
            match &op.status {
                Some(OperationState::InProgress) => {
                    Self::pause(&r);
                    continue;
                }
                Some(s @ (OperationState::Failed | OperationState::Canceled)) => {
                    let e = op.error.unwrap_or_default();
                    let or = |t: String, d: &str| if t.is_empty() { d.to_owned() } else { t };
                    return Err(ArmError {
                        status: 200,
                        code: or(e.code, s.as_str()),
                        message: or(e.message, "the operation did not succeed"),
                    }
                    .into());
                }
                _ => return Ok(op),
            }
        }
    }

    /// Polls the `Location` URL of a 202 answer while it answers 202.
    pub fn wait_location(&self, reply: &Reply, api: &str) -> Result<()> {
        let url = reply.location.clone().ok_or_else(|| {
            anyhow!("the server accepted the request without a Location URL to follow")
        })?;
        let mut pause_after = reply.clone();
        loop {
            Self::pause(&pause_after);
            let r = self.send("GET", &url, &[("api-version", api)])?;
            if r.status != 202 {
                return Ok(());
            }
            pause_after = r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_and_plain_errors() {
        let e = ArmError::from_body(
            400,
            r#"{"error":{"code":"InvalidResourceName","message":"bad name","recommendations":[]}}"#,
        );
        assert_eq!(e.to_string(), "(InvalidResourceName) bad name");
        let e = ArmError::from_body(502, "");
        assert_eq!(e.code, "HttpError502");
        let e = ArmError::from_body(500, "oops");
        assert_eq!(e.message, "oops");
    }

    #[test]
    fn encoding_keeps_azure_names_readable() {
        assert_eq!(
            encode("IaasVMContainer;iaasvmcontainerv2;rg;vm1"),
            "IaasVMContainer;iaasvmcontainerv2;rg;vm1"
        );
        assert_eq!(
            encode("status eq 'InProgress'"),
            "status%20eq%20%27InProgress%27"
        );
        assert_eq!(encode("a/b?c"), "a%2Fb%3Fc");
    }
}
