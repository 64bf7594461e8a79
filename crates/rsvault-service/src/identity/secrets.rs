//! Client secrets and passwords: made at random, kept only as argon2id
//! hashes.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;

/// A new client secret: 40 characters from the URL-safe base64 alphabet
/// (240 random bits).
pub fn new_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 30]>())
}

/// A new random GUID, lower case.
pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The argon2id hash of a secret, as a PHC string.
pub fn hash(secret: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("hash a secret: {e}"))
}

/// Whether `secret` is the one `hash` was made from (false for a hash
/// that does not parse).
pub fn verify(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_against_their_hash_only() {
        let s = new_secret();
        assert_eq!(s.len(), 40);
        assert_ne!(s, new_secret());
        let h = hash(&s).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains(&s));
        assert!(verify(&s, &h));
        assert!(!verify(&new_secret(), &h));
        assert!(!verify(&s, "not a hash"));
        assert_eq!(new_guid().len(), 36);
    }
}
