//! The signed token a browser keeps in its cookie and an API client sends as Bearer.
//!
//! Only HS256 with our own secret is accepted: a token signed with `none` or any other algorithm,
//! expired, or tampered with is refused before anything else is looked at. A valid signature is
//! not enough: the gate also checks the token's session in the database on every request.

use std::sync::Arc;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long a sign-in lasts, in seconds (the session row expires at the same time).
pub const SESSION_TTL_SECS: i64 = 12 * 60 * 60;

/// The cookie the browser keeps the token in.
pub const COOKIE: &str = "tenantry_session";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The session; revoking it ends the token at once.
    pub sid: Uuid,
    /// The active organization, if one is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Uuid>,
    /// Role in the active organization, for display; authorization reads the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The organization a client user is locked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_org: Option<Uuid>,
    #[serde(default)]
    pub superadmin: bool,
    pub iat: i64,
    pub exp: i64,
}

/// The HS256 keys, made from one secret.
#[derive(Clone)]
pub struct TokenKeys(Arc<(EncodingKey, DecodingKey)>);

impl TokenKeys {
    /// At least 32 bytes; the server reads or creates it at start-up.
    pub fn new(secret: &[u8]) -> Self {
        assert!(secret.len() >= 32, "token secret shorter than 32 bytes");
        Self(Arc::new((
            EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
        )))
    }

    pub fn sign(&self, claims: &Claims) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &self.0 .0)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The claims of a well-formed, unexpired HS256 token signed with our secret.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match decode::<Claims>(token, &self.0 .1, &validation) {
            Ok(data) => Some(data.claims),
            Err(err) => {
                tracing::debug!(%err, "token rejected");
                None
            }
        }
    }
}

/// The `Set-Cookie` value that stores `token` for a browser.
pub fn cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_TTL_SECS}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the token.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The token a request carries: `Authorization: Bearer …`, else the session cookie.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_offset: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            org: None,
            role: None,
            bound_org: None,
            superadmin: false,
            iat: now,
            exp: now + exp_offset,
        }
    }

    #[test]
    fn a_signed_token_round_trips_and_other_secrets_do_not_verify() {
        let keys = TokenKeys::new(&[7; 32]);
        let c = claims(60);
        assert_eq!(keys.verify(&keys.sign(&c)), Some(c.clone()));
        assert_eq!(TokenKeys::new(&[8; 32]).verify(&keys.sign(&c)), None);
        assert_eq!(keys.verify(&keys.sign(&claims(-1))), None, "expired");
    }

    #[test]
    fn bearer_wins_over_the_cookie() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "cookie",
            "a=b; tenantry_session=fromcookie".parse().unwrap(),
        );
        assert_eq!(from_headers(&headers).as_deref(), Some("fromcookie"));
        headers.insert("authorization", "Bearer frombearer".parse().unwrap());
        assert_eq!(from_headers(&headers).as_deref(), Some("frombearer"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(from_headers(&headers), None);
    }
}
