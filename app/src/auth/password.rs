//! Password hashing with argon2id, always off the async threads: one hash costs tens of
//! milliseconds of CPU, which would otherwise stall every request sharing the worker.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use crate::AppError;

/// At most one hash per core at once: each takes 19 MiB and a core for tens of milliseconds,
/// so a burst of sign-ins queues here instead of exhausting memory and the blocking pool (more
/// at once would only share the same cores, each finishing later).
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// How long a caller waits for a turn before being told to try again (503): a queue longer
/// than this is an overload, and waiting longer would only hold the caller's connection.
const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn hashing_turn() -> Result<tokio::sync::SemaphorePermit<'static>, AppError> {
    match tokio::time::timeout(HASHING_WAIT, HASHING.acquire()).await {
        Ok(turn) => turn.map_err(|e| AppError::internal("password hashing queue", e)),
        Err(_) => {
            tracing::warn!("password hashing queue full for {HASHING_WAIT:?}: refusing");
            Err(AppError::Busy)
        }
    }
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
