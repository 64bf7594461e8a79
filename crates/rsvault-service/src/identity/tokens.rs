//! The token issuer's keys and tokens: ES256 JWTs in the shape of Entra
//! ID's access tokens for ARM, signed with a key kept in the data
//! directory (`identity/keys/`, 0600), and verified with any key not yet
//! retired. A key is used for [`ROTATE_AFTER`]; the one before it is still
//! accepted for a day after that (longer than any token lives), then
//! removed: rotation with overlap. Token times are the real clock's, even
//! on a simulated service clock.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// How long a signing key signs new tokens.
pub const ROTATE_AFTER: i64 = 30 * 86_400;
/// How long after its successor was made a key still verifies tokens.
pub const OVERLAP: i64 = 86_400;
/// The longest a token may live.
pub const MAX_LIFETIME: i64 = 86_400;
/// Clock skew allowed when checking `nbf` and `exp`.
pub const LEEWAY: u64 = 60;

/// What went wrong with the issuer's files.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
    #[error("signing key {0}")]
    Key(String),
}

/// Why a token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not signed by a key of this server")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    /// `app` or `user`.
    pub idtyp: String,
    pub ver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// A user's sign-in name (ID tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The credential the token was got with: removing it revokes the
    /// token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsv_cred: Option<String>,
    /// The token's own id.
    pub uti: String,
}

/// The audience of refresh tokens: no API takes them as access tokens.
pub const REFRESH_AUDIENCE: &str = "urn:rsvault:refresh";
/// How long a refresh token lives (within the keys' overlap).
pub const REFRESH_LIFETIME: i64 = OVERLAP;

/// Who a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub object_id: String,
    pub app_id: Option<String>,
    pub user_name: Option<String>,
    pub display_name: String,
    pub credential: Option<String>,
}

struct SigningKey {
    kid: String,
    created: i64,
    encoding: EncodingKey,
    decoding: DecodingKey,
    x: String,
    y: String,
}

/// The issuer: its tenant, its name (`iss`) and its keys.
pub struct TokenIssuer {
    keys_dir: PathBuf,
    tenant: String,
    issuer: String,
    keys: RwLock<Vec<SigningKey>>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("tenant", &self.tenant)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> IssuerError {
    move |cause| IssuerError::Io { context, cause }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The real time, in seconds since the epoch.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Writes a private file: a temporary file (0600) renamed into place.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn key_from_pkcs8(kid: &str, created: i64, pkcs8: &[u8]) -> Result<SigningKey, IssuerError> {
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
        .map_err(|e| IssuerError::Key(format!("{kid}: {e}")))?;
    let point = pair.public_key().as_ref();
    if point.len() != 65 || point[0] != 4 {
        return Err(IssuerError::Key(format!(
            "{kid}: not an uncompressed P-256 point"
        )));
    }
    Ok(SigningKey {
        kid: kid.to_owned(),
        created,
        encoding: EncodingKey::from_ec_der(pkcs8),
        decoding: DecodingKey::from_ec_der(point),
        x: b64(&point[1..33]),
        y: b64(&point[33..65]),
    })
}

impl TokenIssuer {
    /// Opens (or makes) the issuer's state under `dir` (the data
    /// directory's `identity/`): the tenant id and the signing keys,
    /// rotating them when due. `issuer` is the `iss` of its tokens.
    pub fn open(dir: &Path, issuer_base: &str) -> Result<Self, IssuerError> {
        let keys_dir = dir.join("keys");
        for d in [dir, keys_dir.as_path()] {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .map_err(io(format!("create {}", d.display())))?;
        }
        let tenant_file = dir.join("tenant");
        let tenant = match std::fs::read_to_string(&tenant_file) {
            Ok(t) if uuid::Uuid::parse_str(t.trim()).is_ok() => t.trim().to_owned(),
            Ok(_) | Err(_) if !tenant_file.exists() => {
                let t = uuid::Uuid::new_v4().to_string();
                write_private(&tenant_file, format!("{t}\n").as_bytes())
                    .map_err(io(format!("write {}", tenant_file.display())))?;
                t
            }
            Ok(t) => {
                return Err(IssuerError::Key(format!(
                    "{} holds {:?}, not a tenant id (a GUID)",
                    tenant_file.display(),
                    t.trim()
                )));
            }
            Err(e) => return Err(io(format!("read {}", tenant_file.display()))(e)),
        };
        let issuer = TokenIssuer {
            keys_dir,
            issuer: format!("{}/{tenant}/v2.0", issuer_base.trim_end_matches('/')),
            tenant,
            keys: RwLock::new(Vec::new()),
        };
        let keys = issuer.load_keys()?;
        *issuer.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        issuer.rotate_if_due(now())?;
        Ok(issuer)
    }

    /// The tenant id.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The `iss` of this issuer's tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn load_keys(&self) -> Result<Vec<SigningKey>, IssuerError> {
        let mut keys = Vec::new();
        let entries = std::fs::read_dir(&self.keys_dir)
            .map_err(io(format!("read {}", self.keys_dir.display())))?;
        for e in entries {
            let e = e.map_err(io(format!("read {}", self.keys_dir.display())))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // A key whose writing a crash cut short.
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some((created, kid)) = name
                .strip_suffix(".p8")
                .and_then(|s| s.split_once('-'))
                .and_then(|(c, k)| c.parse::<i64>().ok().map(|c| (c, k.to_owned())))
            else {
                continue;
            };
            let der =
                std::fs::read(e.path()).map_err(io(format!("read {}", e.path().display())))?;
            keys.push(key_from_pkcs8(&kid, created, &der)?);
        }
        keys.sort_by_key(|k| k.created);
        Ok(keys)
    }

    /// Makes a new signing key when the newest is older than
    /// [`ROTATE_AFTER`] (or there is none), and removes keys retired more
    /// than [`OVERLAP`] ago.
    pub fn rotate_if_due(&self, now: i64) -> Result<(), IssuerError> {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if keys.last().is_none_or(|k| now - k.created >= ROTATE_AFTER) {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|e| IssuerError::Key(format!("generate: {e}")))?;
            let kid = hex::encode(rand::random::<[u8; 8]>());
            let path = self.keys_dir.join(format!("{now}-{kid}.p8"));
            write_private(&path, pkcs8.as_ref())
                .map_err(io(format!("write {}", path.display())))?;
            keys.push(key_from_pkcs8(&kid, now, pkcs8.as_ref())?);
            tracing::info!(kid, "made a new token signing key");
        }
        // A key is retired when its successor is made.
        let retired: Vec<usize> = (0..keys.len().saturating_sub(1))
            .filter(|&i| now - keys[i + 1].created >= OVERLAP)
            .collect();
        for &i in retired.iter().rev() {
            let k = keys.remove(i);
            let path = self.keys_dir.join(format!("{}-{}.p8", k.created, k.kid));
            let _ = std::fs::remove_file(path);
            tracing::info!(kid = k.kid, "removed a retired token signing key");
        }
        Ok(())
    }

    /// A signed access token for `subject`, for `audience`, living
    /// `lifetime` seconds (at most [`MAX_LIFETIME`]).
    pub fn issue(
        &self,
        subject: &Subject,
        audience: &str,
        lifetime: i64,
        now: i64,
    ) -> Result<String, IssuerError> {
        self.sign(&self.claims(subject, audience, lifetime, now))
    }

    /// An ID token of a user for the client `client_id` (what MSAL reads
    /// the account from).
    pub fn issue_id_token(
        &self,
        subject: &Subject,
        client_id: &str,
        now: i64,
    ) -> Result<String, IssuerError> {
        let mut t = self.claims(subject, client_id, 3600, now);
        t.ver = "2.0".into();
        t.preferred_username = subject.user_name.clone();
        t.scp = None;
        self.sign(&t)
    }

    /// A refresh token: a signed token of [`REFRESH_AUDIENCE`] that the
    /// token endpoint trades for new tokens while its credential lives.
    pub fn issue_refresh_token(&self, subject: &Subject, now: i64) -> Result<String, IssuerError> {
        self.sign(&self.claims(subject, REFRESH_AUDIENCE, REFRESH_LIFETIME, now))
    }

    fn claims(&self, subject: &Subject, audience: &str, lifetime: i64, now: i64) -> Claims {
        let is_user = subject.user_name.is_some();
        Claims {
            aud: audience.to_owned(),
            iss: self.issuer.clone(),
            iat: now,
            nbf: now,
            exp: now + lifetime.clamp(60, MAX_LIFETIME),
            tid: self.tenant.clone(),
            oid: subject.object_id.clone(),
            sub: subject.object_id.clone(),
            idtyp: if is_user { "user" } else { "app" }.into(),
            ver: "1.0".into(),
            appid: subject.app_id.clone(),
            upn: subject.user_name.clone(),
            unique_name: subject.user_name.clone(),
            name: Some(subject.display_name.clone()),
            scp: is_user.then(|| "user_impersonation".into()),
            preferred_username: None,
            rsv_cred: subject.credential.clone(),
            uti: b64(&rand::random::<[u8; 16]>()),
        }
    }

    fn sign(&self, claims: &Claims) -> Result<String, IssuerError> {
        self.rotate_if_due(claims.iat)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys.last().ok_or_else(|| IssuerError::Key("none".into()))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| IssuerError::Key(format!("sign: {e}")))
    }

    /// The claims of a token this issuer signed for one of `audiences`,
    /// after checking its signature, issuer, audience and times.
    pub fn verify(&self, token: &str, audiences: &[&str]) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::ES256 {
            return Err(TokenError::UnknownKey);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        let mut v = Validation::new(Algorithm::ES256);
        v.leeway = LEEWAY;
        v.validate_nbf = true;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(audiences);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        use jsonwebtoken::errors::ErrorKind as K;
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                K::InvalidSignature => TokenError::BadSignature,
                K::ExpiredSignature => TokenError::Expired,
                K::ImmatureSignature => TokenError::NotYetValid,
                K::InvalidIssuer => TokenError::WrongIssuer,
                K::InvalidAudience => TokenError::WrongAudience,
                _ => TokenError::Malformed,
            })
    }

    /// The public keys, as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({
            "keys": keys.iter().map(|k| serde_json::json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                "kid": k.kid, "x": k.x, "y": k.y,
            })).collect::<Vec<_>>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            object_id: "o1".into(),
            app_id: Some("a1".into()),
            user_name: None,
            display_name: "bot".into(),
            credential: Some("k1".into()),
        }
    }

    const AUD: &str = "https://management.core.windows.net/";

    #[test]
    fn tokens_verify_and_are_refused_when_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let iss = TokenIssuer::open(dir.path(), "https://127.0.0.1:7431").unwrap();
        let t = iss.issue(&subject(), AUD, 3600, now()).unwrap();
        let c = iss.verify(&t, &[AUD]).unwrap();
        assert_eq!(
            (c.oid.as_str(), c.appid.as_deref(), c.idtyp.as_str()),
            ("o1", Some("a1"), "app")
        );
        assert_eq!(c.tid, iss.tenant());
        assert_eq!(
            c.iss,
            format!("https://127.0.0.1:7431/{}/v2.0", iss.tenant())
        );
        assert_eq!(
            iss.verify(&t, &["https://other/"]),
            Err(TokenError::WrongAudience)
        );
        let old = iss.issue(&subject(), AUD, 60, now() - 3600).unwrap();
        assert_eq!(iss.verify(&old, &[AUD]), Err(TokenError::Expired));
        let future = iss.issue(&subject(), AUD, 3600, now() + 3600).unwrap();
        assert_eq!(iss.verify(&future, &[AUD]), Err(TokenError::NotYetValid));
        // A changed claim breaks the signature.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&parts[1])
                .unwrap(),
        )
        .unwrap();
        claims["oid"] = "owner".into();
        parts[1] = b64(claims.to_string().as_bytes());
        assert_eq!(
            iss.verify(&parts.join("."), &[AUD]),
            Err(TokenError::BadSignature)
        );
        assert_eq!(iss.verify("a.b", &[AUD]), Err(TokenError::Malformed));
        // Another server's tokens (its own keys and tenant) are refused.
        let other_dir = tempfile::tempdir().unwrap();
        let other = TokenIssuer::open(other_dir.path(), "https://127.0.0.1:7431").unwrap();
        let foreign = other.issue(&subject(), AUD, 3600, now()).unwrap();
        assert_eq!(iss.verify(&foreign, &[AUD]), Err(TokenError::UnknownKey));
    }

    #[test]
    fn refresh_and_id_tokens_are_not_access_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let iss = TokenIssuer::open(dir.path(), "https://h").unwrap();
        let user = Subject {
            user_name: Some("a@b".into()),
            app_id: None,
            ..subject()
        };
        let r = iss.issue_refresh_token(&user, now()).unwrap();
        assert_eq!(iss.verify(&r, &[AUD]), Err(TokenError::WrongAudience));
        let c = iss.verify(&r, &[REFRESH_AUDIENCE]).unwrap();
        assert_eq!((c.oid.as_str(), c.rsv_cred.as_deref()), ("o1", Some("k1")));
        let id = iss.issue_id_token(&user, "client-1", now()).unwrap();
        assert_eq!(iss.verify(&id, &[AUD]), Err(TokenError::WrongAudience));
        let c = iss.verify(&id, &["client-1"]).unwrap();
        assert_eq!(c.preferred_username.as_deref(), Some("a@b"));
        assert_eq!((c.idtyp.as_str(), c.ver.as_str()), ("user", "2.0"));
    }

    #[test]
    fn the_tenant_and_keys_persist_and_rotate_with_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let iss = TokenIssuer::open(dir.path(), "https://h").unwrap();
        let t = iss.issue(&subject(), AUD, 3600, now()).unwrap();
        let again = TokenIssuer::open(dir.path(), "https://h").unwrap();
        assert_eq!(again.tenant(), iss.tenant());
        assert!(
            again.verify(&t, &[AUD]).is_ok(),
            "the key is kept across starts"
        );
        let mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&dir.path().join("tenant")), 0o600);
        for e in std::fs::read_dir(dir.path().join("keys")).unwrap() {
            assert_eq!(mode(&e.unwrap().path()), 0o600);
        }
        // Due: a new key signs, the old one still verifies for the overlap.
        let later = now() + ROTATE_AFTER;
        again.rotate_if_due(later).unwrap();
        assert_eq!(again.jwks()["keys"].as_array().unwrap().len(), 2);
        assert!(again.verify(&t, &[AUD]).is_ok(), "within the overlap");
        again.rotate_if_due(later + OVERLAP).unwrap();
        assert_eq!(again.jwks()["keys"].as_array().unwrap().len(), 1);
        assert_eq!(again.verify(&t, &[AUD]), Err(TokenError::UnknownKey));
        assert_eq!(
            std::fs::read_dir(dir.path().join("keys")).unwrap().count(),
            1
        );
    }
}
