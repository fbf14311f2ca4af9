//! What a request's `Host` header says about the organization: nothing (the platform itself, or
//! an IP address), `<slug>.<base domain>`, or a domain that may be an organization's verified
//! custom domain. Total over arbitrary input: every header value gets an answer or a reason,
//! never a panic.

use std::net::{IpAddr, Ipv6Addr};

/// The most a DNS name may hold (RFC 1035), without the trailing dot.
const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTarget {
    /// The base domain itself, or an IP address: names no organization.
    Platform,
    /// `<slug>.<base domain>`: the slug, lowercase.
    Subdomain(String),
    /// Any other well-formed domain, lowercase, without a trailing dot. It names an organization
    /// only if one has verified it as its custom domain.
    Custom(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the Host header is empty")]
    Empty,
    #[error("the Host header has an invalid port")]
    Port,
    #[error("the Host header is not ASCII; internationalised names must use their xn-- form")]
    NotAscii,
    #[error("the Host header is not a valid domain name: {0}")]
    Invalid(&'static str),
    #[error("only one label may precede the base domain")]
    NestedSubdomain,
}

/// Classifies `host` (a `Host` header value, port allowed) against `base_domain`.
pub fn classify(host: &str, base_domain: &str) -> Result<HostTarget, HostError> {
    let name = match strip_port(host.trim())? {
        Name::Ip => return Ok(HostTarget::Platform),
        Name::Domain(name) => normalize(name)?,
    };
    let base = normalize(base_domain.trim())?;
    if name == base {
        return Ok(HostTarget::Platform);
    }
    match name
        .strip_suffix(&base)
        .and_then(|prefix| prefix.strip_suffix('.'))
    {
        Some(slug) if slug.contains('.') => Err(HostError::NestedSubdomain),
        Some(slug) => Ok(HostTarget::Subdomain(slug.to_string())),
        None => Ok(HostTarget::Custom(name)),
    }
}

enum Name<'a> {
    Ip,
    Domain(&'a str),
}

/// A configured base domain, checked and normalised like a `Host` (lowercase, no trailing dot).
pub fn base_domain(name: &str) -> Result<String, HostError> {
    normalize(name.trim())
}

/// Removes an optional `:port`, recognising IP literals (`[::1]:3000`, `127.0.0.1`, bare `::1`).
fn strip_port(host: &str) -> Result<Name<'_>, HostError> {
    if host.is_empty() {
        return Err(HostError::Empty);
    }
    if let Some(rest) = host.strip_prefix('[') {
        let (literal, after) = rest
            .split_once(']')
            .ok_or(HostError::Invalid("unclosed ["))?;
        literal
            .parse::<Ipv6Addr>()
            .map_err(|_| HostError::Invalid("bad IPv6 address"))?;
        return match after {
            "" => Ok(Name::Ip),
            _ => after
                .strip_prefix(':')
                .map_or(Err(HostError::Port), |p| port(p).map(|_| Name::Ip)),
        };
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(Name::Ip);
    }
    let name = match host.rsplit_once(':') {
        Some((name, p)) => {
            port(p)?;
            name
        }
        None => host,
    };
    if name.parse::<IpAddr>().is_ok() {
        return Ok(Name::Ip);
    }
    Ok(Name::Domain(name))
}

fn port(digits: &str) -> Result<u16, HostError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::Port);
    }
    digits
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or(HostError::Port)
}

/// Lowercase, one trailing dot removed, and checked label by label (letters, digits, hyphens;
/// 1–63 characters; no leading or trailing hyphen; at most 253 in all).
fn normalize(name: &str) -> Result<String, HostError> {
    if !name.is_ascii() {
        return Err(HostError::NotAscii);
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty() {
        return Err(HostError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(HostError::Invalid("longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostError::Invalid("empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostError::Invalid("a label is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(HostError::Invalid(
                "only letters, digits, hyphens and dots are allowed",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostError::Invalid("a label starts or ends with a hyphen"));
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::{classify, HostError, HostTarget::*};

    const BASE: &str = "tenantry.test";

    #[test]
    fn known_hosts() {
        let long_label = "a".repeat(64);
        let long_name = format!("{}.com", ["abcdefghij"; 23].join("."));
        let cases: Vec<(&str, Result<_, HostError>)> = vec![
            ("tenantry.test", Ok(Platform)),
            ("TENANTRY.test:3000", Ok(Platform)),
            ("tenantry.test.", Ok(Platform)),
            ("acme.tenantry.test", Ok(Subdomain("acme".into()))),
            ("Acme.Tenantry.Test.:8080", Ok(Subdomain("acme".into()))),
            (
                "xn--bcher-kva.tenantry.test",
                Ok(Subdomain("xn--bcher-kva".into())),
            ),
            ("a.b.tenantry.test", Err(HostError::NestedSubdomain)),
            (
                "assistant.acme.com",
                Ok(Custom("assistant.acme.com".into())),
            ),
            ("eviltenantry.test", Ok(Custom("eviltenantry.test".into()))),
            ("127.0.0.1", Ok(Platform)),
            ("127.0.0.1:3000", Ok(Platform)),
            ("[::1]:3000", Ok(Platform)),
            ("[::1]", Ok(Platform)),
            ("::1", Ok(Platform)),
            ("", Err(HostError::Empty)),
            ("   ", Err(HostError::Empty)),
            (".", Err(HostError::Empty)),
            ("acme.tenantry.test:", Err(HostError::Port)),
            ("acme.tenantry.test:0", Err(HostError::Port)),
            ("acme.tenantry.test:65536", Err(HostError::Port)),
            ("acme.tenantry.test:+80", Err(HostError::Port)),
            ("[::1]x", Err(HostError::Port)),
            ("[::1", Err(HostError::Invalid("unclosed ["))),
            ("[nonsense]:80", Err(HostError::Invalid("bad IPv6 address"))),
            ("bücher.tenantry.test", Err(HostError::NotAscii)),
            ("a..tenantry.test", Err(HostError::Invalid("empty label"))),
            (
                "-acme.tenantry.test",
                Err(HostError::Invalid("a label starts or ends with a hyphen")),
            ),
            (
                "ac_me.tenantry.test",
                Err(HostError::Invalid(
                    "only letters, digits, hyphens and dots are allowed",
                )),
            ),
            (
                "acme.tenantry.test..",
                Err(HostError::Invalid("empty label")),
            ),
        ];
        for (host, expected) in cases {
            assert_eq!(classify(host, BASE), expected, "{host:?}");
        }
        assert_eq!(
            classify(&format!("{long_label}.tenantry.test"), BASE),
            Err(HostError::Invalid("a label is longer than 63 characters"))
        );
        assert_eq!(
            classify(&long_name, BASE),
            Err(HostError::Invalid("longer than 253 characters"))
        );
    }

    /// Property: over arbitrary input (host-like fragments, any bytes, any Unicode), classify
    /// never panics, and what it accepts is well formed and consistent with the input.
    /// A small deterministic generator instead of a property-testing crate: a dev-dependency
    /// would change shared crates' features and split the test build from the served one.
    #[test]
    fn any_input_gets_an_answer_and_answers_are_well_formed() {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            "-",
            ".",
            ":",
            "[",
            "]",
            "::1",
            "acme",
            "tenantry",
            "test",
            "xn--",
            "ü",
            "\u{202e}",
            "\0",
            " ",
            "65535",
            "99999",
            "%",
            "_",
            "..",
            "127.0.0.1",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let parts = next() % 12;
            let mut host = String::new();
            for _ in 0..parts {
                if next() % 5 == 0 {
                    host.push(char::from_u32((next() % 0x11_0000) as u32).unwrap_or('x'));
                } else {
                    host.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
                }
            }
            if next() % 4 == 0 {
                host.push_str(".tenantry.test");
            }
            if next() % 50 == 0 {
                host = host.repeat(40);
            }
            match classify(&host, BASE) {
                Ok(Subdomain(slug)) => {
                    assert!(
                        !slug.is_empty() && slug.len() <= 63 && !slug.contains('.'),
                        "{host:?}"
                    );
                    assert!(slug
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                    assert!(host.to_ascii_lowercase().contains(&slug), "{host:?}");
                }
                Ok(Custom(name)) => {
                    assert!(name.len() <= 253 && !name.ends_with('.'), "{host:?}");
                    assert!(
                        !name.ends_with(".tenantry.test") && name != "tenantry.test",
                        "{host:?}"
                    );
                }
                Ok(Platform) | Err(_) => {}
            }
        }
    }
}
