//! Client certificates: a service principal's X.509 certificate (its
//! public part) as a credential, and the signed JWT assertion a client
//! sends in its place of a secret (`client_assertion`, RFC 7523), as MSAL
//! makes it for `az login --service-principal --certificate` and
//! azure-identity's `CertificateCredential`: RS256 with the SHA-1
//! thumbprint (`x5t`), or PS256 with the SHA-256 one (`x5t#S256`); ES256
//! for an EC key.

use super::directory::Authenticated;
use super::secrets::new_guid;
use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::{CredentialRecord, PrincipalKind};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// How a certificate credential's `hash` begins: the rest is the
/// certificate's DER, in standard base64.
pub const CERT_PREFIX: &str = "x509:";
/// An assertion is good for this long at most (MSAL makes them for 10 minutes).
const MAX_LIFETIME_SECS: f64 = 3600.0;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn bad_cert(why: impl std::fmt::Display) -> ServiceError {
    ServiceError::bad_request(
        "Request_BadRequest",
        format!("The key credential is not a usable X.509 certificate: {why}."),
    )
}

/// A certificate's PEM.
fn pem(der: &[u8]) -> String {
    let body = b64().encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The key a certificate holds, and the algorithms that key signs with.
fn key_of(der: &[u8]) -> Option<(DecodingKey, &'static [Algorithm])> {
    let p = pem(der);
    if let Ok(k) = DecodingKey::from_rsa_pem(p.as_bytes()) {
        return Some((k, &[Algorithm::RS256, Algorithm::PS256]));
    }
    DecodingKey::from_ec_pem(p.as_bytes())
        .ok()
        .map(|k| (k, &[Algorithm::ES256][..]))
}

/// A certificate's DER from its PEM, or from base64 of its DER (Graph's
/// `keyCredentials.key`); checked to hold an RSA or EC P-256 key.
pub fn parse_certificate(text: &str) -> Result<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    let body: String = match text.split_once(BEGIN) {
        // A PEM (perhaps with the key too): its first certificate.
        Some((_, rest)) => rest
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect(),
        None if text.contains("-----BEGIN") => {
            return Err(bad_cert(
                "the PEM holds no CERTIFICATE (give the certificate, never the private key alone)",
            ));
        }
        None => text.split_whitespace().collect(),
    };
    let der = b64()
        .decode(body.trim())
        .map_err(|e| bad_cert(format!("not base64 ({e})")))?;
    match x509_parser::parse_x509_certificate(&der) {
        Ok(([], _)) => {}
        Ok(_) => return Err(bad_cert("bytes follow the certificate")),
        Err(e) => return Err(bad_cert(format!("not DER of an X.509 certificate ({e})"))),
    }
    if key_of(&der).is_none() {
        return Err(bad_cert("it holds no RSA or EC P-256 public key"));
    }
    Ok(der)
}

/// The SHA-1 thumbprint of a certificate, upper-case hex (as Azure shows it).
pub fn thumbprint(der: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// A credential's certificate, if it is one.
pub fn certificate_of(c: &CredentialRecord) -> Option<Vec<u8>> {
    b64().decode(c.hash.strip_prefix(CERT_PREFIX)?).ok()
}

/// Whether a certificate is the one an assertion's header names.
fn named_by(der: &[u8], header: &jsonwebtoken::Header) -> bool {
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decode = |t: &Option<String>| {
        t.as_ref()
            .and_then(|t| url.decode(t.trim_end_matches('=')).ok())
    };
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    decode(&header.x5t).is_some_and(|t| t == sha1.as_ref())
        || decode(&header.x5t_s256).is_some_and(|t| t == sha256.as_ref())
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    /// Seconds since the epoch: MSAL writes them as floats.
    exp: f64,
    #[serde(default)]
    iat: Option<f64>,
}

impl Service {
    /// Adds a certificate credential (valid until `end`, RFC 3339, if
    /// given) to a service principal; with `replace`, its other
    /// certificates go.
    pub fn add_certificate(
        &self,
        id: &str,
        der: &[u8],
        display_name: &str,
        end: Option<&str>,
        replace: bool,
    ) -> Result<CredentialRecord> {
        let p = self.principal(id)?;
        if p.kind != PrincipalKind::ServicePrincipal {
            return Err(bad_cert(
                "only a service principal logs in with a certificate",
            ));
        }
        if replace {
            for c in self.meta.credentials(&p.object_id)? {
                if c.hash.starts_with(CERT_PREFIX) {
                    self.meta.delete_credential(&p.object_id, &c.key_id)?;
                }
            }
        }
        let expires = end
            .map(|e| {
                e.parse::<jiff::Timestamp>()
                    .map(|t| t.to_string())
                    .map_err(|x| bad_cert(format!("endDateTime '{e}' is not a time ({x})")))
            })
            .transpose()?;
        let cred = CredentialRecord {
            key_id: new_guid(),
            principal: p.object_id.clone(),
            hash: format!("{CERT_PREFIX}{}", b64().encode(der)),
            display_name: display_name.to_owned(),
            created: self.now().to_string(),
            expires,
        };
        self.meta.add_credential(&cred, false)?;
        Ok(cred)
    }

    /// Replaces a service principal's credentials with a certificate
    /// (PEM, or base64 of its DER): its secrets stop working.
    pub fn reset_certificate(
        &self,
        id: &str,
        certificate: &str,
    ) -> Result<crate::metastore::PrincipalRecord> {
        let der = parse_certificate(certificate)?;
        let p = self.principal(id)?;
        for c in self.meta.credentials(&p.object_id)? {
            self.meta.delete_credential(&p.object_id, &c.key_id)?;
        }
        self.add_certificate(&p.object_id, &der, "certificate", None, false)?;
        Ok(p)
    }

    /// Checks a client assertion: a JWT signed with the key of one of the
    /// service principal's unexpired certificates (named by thumbprint),
    /// issued by and about `client_id`, for one of `audiences` (this
    /// server's token endpoint), unexpired and short-lived.
    pub fn authenticate_assertion(
        &self,
        client_id: &str,
        assertion: &str,
        audiences: &[String],
    ) -> Result<Option<Authenticated>> {
        let Ok(header) = jsonwebtoken::decode_header(assertion) else {
            tracing::info!(client_id, "a client assertion is not a JWT");
            return Ok(None);
        };
        let Some(principal) = self
            .meta
            .find_principal_by_app(client_id)?
            .filter(|p| p.kind == PrincipalKind::ServicePrincipal)
        else {
            return Ok(None);
        };
        let now = self.now();
        for c in self.meta.credentials(&principal.object_id)? {
            let Some(der) = certificate_of(&c) else {
                continue;
            };
            if c.expires
                .as_deref()
                .is_some_and(|e| e <= now.to_string().as_str())
                || !named_by(&der, &header)
            {
                continue;
            }
            let Some((key, algs)) = key_of(&der) else {
                continue;
            };
            if !algs.contains(&header.alg) {
                tracing::info!(client_id, alg = ?header.alg, "a client assertion's algorithm does not fit its key");
                return Ok(None);
            }
            let mut v = Validation::new(header.alg);
            v.set_audience(audiences);
            v.set_issuer(&[client_id]);
            v.sub = Some(client_id.to_owned());
            v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
            v.leeway = 60;
            let data = match jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &v) {
                Ok(d) => d,
                Err(e) => {
                    tracing::info!(client_id, "a client assertion was refused: {e}");
                    return Ok(None);
                }
            };
            let issued = data.claims.iat.unwrap_or(0.0);
            #[allow(clippy::cast_precision_loss)]
            let secs = now.as_second() as f64;
            if data.claims.exp > secs.max(issued) + MAX_LIFETIME_SECS {
                tracing::info!(client_id, "a client assertion lives longer than an hour");
                return Ok(None);
            }
            return Ok(Some(Authenticated {
                principal,
                credential: c.key_id,
            }));
        }
        tracing::info!(client_id, x5t = ?header.x5t, "a client assertion names no certificate of the application");
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_certificates_are_taken() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n";
        for bad in [
            "",
            "not base64!",
            "AAAA",
            key,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        ] {
            assert!(parse_certificate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn thumbprints_are_sha1_in_upper_hex() {
        assert_eq!(
            thumbprint(b"abc"),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
    }
}
