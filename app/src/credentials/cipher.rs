//! AES-256-GCM for credentials. Each secret gets a random 96-bit nonce, and the org and name it
//! was saved under are its associated data: a ciphertext copied to another org or name does not
//! decrypt.

use std::{fmt, sync::Arc};

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use uuid::Uuid;

use crate::AppError;

#[derive(Clone)]
pub struct Cipher(Arc<Aes256Gcm>);

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(…)")
    }
}

/// What a ciphertext is bound to.
fn context(org: Uuid, agent: Option<Uuid>, name: &str) -> Vec<u8> {
    format!(
        "tenantry credential v1|{org}|{}|{name}",
        agent.map(|a| a.to_string()).unwrap_or_default()
    )
    .into_bytes()
}

/// The characters of a secret people may see after saving it: the last four, or fewer for a
/// short secret, so the mask never gives most of one away.
pub fn shown_tail(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let shown = if chars.len() >= 12 {
        4
    } else {
        chars.len() / 4
    };
    chars[chars.len() - shown..].iter().collect()
}

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Arc::new(Aes256Gcm::new(key.into())))
    }

    /// A key from 64 hexadecimal characters.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self::new(&key))
    }

    /// The nonce and the ciphertext of `secret`.
    pub fn seal(
        &self,
        org: Uuid,
        agent: Option<Uuid>,
        name: &str,
        secret: &str,
    ) -> Result<(Vec<u8>, Vec<u8>), AppError> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let aad = context(org, agent, name);
        let ciphertext = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| AppError::internal("credentials", "encryption failed"))?;
        Ok((nonce.to_vec(), ciphertext))
    }

    pub fn open(
        &self,
        org: Uuid,
        agent: Option<Uuid>,
        name: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<String, AppError> {
        if nonce.len() != 12 {
            return Err(AppError::internal(
                "credentials",
                "a stored nonce is not 96 bits",
            ));
        }
        let aad = context(org, agent, name);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                AppError::internal(
                    "credentials",
                    "a credential did not decrypt (another key, or moved)",
                )
            })?;
        String::from_utf8(plain).map_err(|_| AppError::internal("credentials", "not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_another_org_name_or_key() {
        let cipher = Cipher::from_hex(&"ab".repeat(32)).unwrap();
        let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
        let (nonce, ct) = cipher.seal(org, None, "stripe", "sk_live_1234").unwrap();
        assert!(
            !ct.windows(4).any(|w| w == b"1234"),
            "the secret is not stored in clear"
        );
        assert_eq!(
            cipher.open(org, None, "stripe", &nonce, &ct).unwrap(),
            "sk_live_1234"
        );
        assert!(cipher.open(other, None, "stripe", &nonce, &ct).is_err());
        assert!(cipher.open(org, None, "github", &nonce, &ct).is_err());
        assert!(cipher
            .open(org, Some(other), "stripe", &nonce, &ct)
            .is_err());
        let wrong = Cipher::from_hex(&"cd".repeat(32)).unwrap();
        assert!(wrong.open(org, None, "stripe", &nonce, &ct).is_err());
        let (nonce2, _) = cipher.seal(org, None, "stripe", "sk_live_1234").unwrap();
        assert_ne!(nonce, nonce2, "a fresh nonce every time");
    }

    #[test]
    fn keys_are_64_hex_characters() {
        assert!(Cipher::from_hex("abcd").is_none());
        assert!(Cipher::from_hex(&"zz".repeat(32)).is_none());
        assert!(Cipher::from_hex(&"0f".repeat(32)).is_some());
    }
}
