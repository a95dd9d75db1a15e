//! Passwords of console accounts: argon2id (RFC 9106) with OWASP's
//! parameters (19 MiB, 2 passes, 1 lane), kept as PHC strings; and the
//! random values of sessions and form tokens.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The shortest password an account may have.
pub const MIN_LENGTH: usize = 10;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP's argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password is refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("cannot read random bytes: {0}")]
    Random(#[from] std::io::Error),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// The PHC string of `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    let salt =
        SaltString::encode_b64(&random::<16>()?).map_err(|e| PasswordError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` is the one hashed in `phc`. A hash that does not
/// parse matches nothing.
pub fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of no password, verified against when a login names no
/// account, so that the answer takes as long as for a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash("no account has this password").unwrap_or_else(|_| "$argon2id$invalid".into())
    })
}

/// `N` bytes from the kernel's random source.
pub fn random<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// A random token for a cookie or a form: 32 bytes, base64url.
pub fn token() -> std::io::Result<String> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&phc, "correct horse battery"));
        assert!(!verify(&phc, "correct horse batterz"));
        assert!(!verify("not a hash", "correct horse battery"));
        // A fresh salt each time.
        assert_ne!(phc, hash("correct horse battery").unwrap());
        assert!(matches!(hash("short"), Err(PasswordError::TooShort)));
    }
}
