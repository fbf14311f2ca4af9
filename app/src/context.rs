//! What the server hands to every server function through Leptos context (server only).

use sqlx::PgPool;

use crate::AppError;

/// The runtime role's pool: it owns nothing and cannot bypass row-level security.
pub fn pool() -> Result<PgPool, AppError> {
    leptos::prelude::use_context::<PgPool>()
        .ok_or_else(|| AppError::internal("server function context", "no database pool provided"))
}
