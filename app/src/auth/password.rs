//! Password hashing with argon2id, always off the async threads: one hash costs tens of
//! milliseconds of CPU, which would otherwise stall every request sharing the worker.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use crate::AppError;

/// At most this many hashes at once: each takes 19 MiB and a core for tens of milliseconds, so a
/// burst of sign-ins queues here instead of exhausting memory and the blocking pool.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

async fn hashing_turn() -> Result<tokio::sync::SemaphorePermit<'static>, AppError> {
    HASHING
        .acquire()
        .await
        .map_err(|e| AppError::internal("password hashing queue", e))
}

use super::MIN_PASSWORD_LEN as MIN_LEN;

/// What is wrong with a new password, if anything.
pub fn check_new(password: &str) -> Option<String> {
    if password.chars().count() < MIN_LEN {
        Some(format!("Use at least {MIN_LEN} characters."))
    } else if password.len() > 1024 {
        Some("Use at most 1024 bytes.".to_string())
    } else {
        None
    }
}

pub async fn hash(password: String) -> Result<String, AppError> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| AppError::internal("password hashing task", e))?
    .map_err(|e| AppError::internal("password hashing", e))
}

/// Whether `password` matches `stored`. With no stored hash it still spends the same time, so a
/// missing account cannot be told from a wrong password by the clock.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && stored != DUMMY_HASH
    })
    .await
    .map_err(|e| AppError::internal("password check task", e))
}

/// An argon2id hash of a random string nobody knows, with the default parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vq7gWq8V3XTjxWv6h6e7fFQGk3o1mBzS9F7l4Q0T3mY";
