//! Guardrail evaluation: an org's enabled policies, in priority order, applied to a text.
//!
//! Pure: no database, no clock. A policy that blocks ends the evaluation; redactions accumulate
//! and the first policy that redacted is the one that decided. Policies are validated when
//! saved ([`Policy::parse`]), so evaluation itself cannot fail.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::KINDS;

/// The longest text evaluated, in characters (about 25 pages).
pub const MAX_TEXT_CHARS: usize = 50_000;

/// What the evaluation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Block,
    Redact,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Block => "block",
            Self::Redact => "redact",
        })
    }
}

/// The PII a redaction policy can look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pii {
    Email,
    Phone,
    Card,
}

/// A policy's rule, parsed and checked.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Blocks a text naming any keyword (whole words, any case) or matching any pattern.
    Blocked {
        keywords: Vec<String>,
        patterns: Vec<Regex>,
    },
    Redact(Vec<Pii>),
    /// Longer texts are blocked, or cut to the limit when `truncate`.
    MaxLength {
        max_chars: usize,
        truncate: bool,
    },
    AllowedModels(Vec<String>),
    /// A text naming any keyword goes to a human instead of out: blocked, and flagged.
    Escalate {
        keywords: Vec<String>,
    },
}

/// A policy ready to evaluate.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub rule: Rule,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub action: Action,
    /// The policy that decided (`None` for allow).
    pub policy_id: Option<String>,
    pub policy_name: Option<String>,
    /// Why, in a sentence.
    pub reason: Option<String>,
    /// The text after redaction (or truncation); the input when allowed or blocked.
    pub text: String,
    /// An escalation policy sent it to a human.
    pub escalated: bool,
}

fn strings(params: &Value, key: &str, errors: &mut Vec<String>) -> Vec<String> {
    match params.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item.as_str().map(str::trim) {
                Some("") => None,
                Some(s) => Some(s.to_string()),
                None => {
                    errors.push(format!("{key}: every entry must be text"));
                    None
                }
            })
            .collect(),
        Some(_) => {
            errors.push(format!("{key}: must be a list"));
            Vec::new()
        }
    }
}

impl Rule {
    /// Checks a policy's parameters for its kind. The errors name the parameter and what is
    /// wrong with it, one sentence each.
    pub fn parse(kind: &str, params: &Value, known_models: &[&str]) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        if !params.is_object() {
            return Err(vec!["parameters must be a JSON object".to_string()]);
        }
        let rule = match kind {
            "blocked_topics" => {
                let keywords = strings(params, "keywords", &mut errors);
                let patterns = strings(params, "patterns", &mut errors)
                    .into_iter()
                    .filter_map(|p| {
                        match regex::RegexBuilder::new(&p)
                            .case_insensitive(true)
                            .size_limit(1 << 20)
                            .build()
                        {
                            Ok(re) => Some(re),
                            Err(e) => {
                                let detail = e.to_string();
                                let last =
                                    detail.lines().last().unwrap_or_default().trim().to_string();
                                errors.push(format!(
                                    "patterns: {p:?} is not a valid pattern ({last})"
                                ));
                                None
                            }
                        }
                    })
                    .collect::<Vec<_>>();
                if keywords.is_empty() && patterns.is_empty() && errors.is_empty() {
                    errors.push("keywords: give at least one keyword or pattern".to_string());
                }
                Rule::Blocked { keywords, patterns }
            }
            "pii_redaction" => {
                let mut types = Vec::new();
                let named = strings(params, "types", &mut errors);
                let named = if named.is_empty() && params.get("types").is_none() {
                    vec!["email".to_string(), "phone".to_string(), "card".to_string()]
                } else {
                    named
                };
                for t in named {
                    match t.as_str() {
                        "email" => types.push(Pii::Email),
                        "phone" => types.push(Pii::Phone),
                        "card" => types.push(Pii::Card),
                        other => errors
                            .push(format!("types: {other:?} is not one of email, phone, card")),
                    }
                }
                if types.is_empty() && errors.is_empty() {
                    errors.push("types: choose at least one of email, phone, card".to_string());
                }
                Rule::Redact(types)
            }
            "max_length" => {
                let max_chars = match params.get("max_chars").and_then(Value::as_u64) {
                    Some(n) if (1..=MAX_TEXT_CHARS as u64).contains(&n) => n as usize,
                    _ => {
                        errors.push(format!(
                            "max_chars: must be a whole number from 1 to {MAX_TEXT_CHARS}"
                        ));
                        0
                    }
                };
                let truncate = match params.get("truncate") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        errors.push("truncate: must be true or false".to_string());
                        false
                    }
                };
                Rule::MaxLength {
                    max_chars,
                    truncate,
                }
            }
            "allowed_models" => {
                let models = strings(params, "models", &mut errors);
                for m in &models {
                    if !known_models.contains(&m.as_str()) {
                        errors.push(format!(
                            "models: {m:?} is not a known model (known: {})",
                            known_models.join(", ")
                        ));
                    }
                }
                if models.is_empty() && errors.is_empty() {
                    errors.push("models: list at least one allowed model".to_string());
                }
                Rule::AllowedModels(models)
            }
            "escalate" => {
                let keywords = strings(params, "keywords", &mut errors);
                if keywords.is_empty() && errors.is_empty() {
                    errors.push("keywords: give at least one keyword".to_string());
                }
                Rule::Escalate { keywords }
            }
            other => {
                errors.push(format!(
                    "kind: {other:?} is not one of {}",
                    KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                ));
                Rule::Escalate {
                    keywords: Vec::new(),
                }
            }
        };
        if errors.is_empty() {
            Ok(rule)
        } else {
            Err(errors)
        }
    }
}

/// The first keyword found as a whole word, ignoring case.
fn find_keyword<'a>(text: &str, keywords: &'a [String]) -> Option<&'a str> {
    let lower = text.to_lowercase();
    keywords.iter().map(String::as_str).find(|k| {
        let k = k.to_lowercase();
        lower.match_indices(&k).any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + k.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

struct PiiPatterns {
    email: Regex,
    phone: Regex,
    card: Regex,
}

fn pii_patterns() -> &'static PiiPatterns {
    static PATTERNS: std::sync::OnceLock<PiiPatterns> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| PiiPatterns {
        email: Regex::new(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b").expect("email pattern"),
        // Card candidates: 13 to 19 digits, optionally grouped by spaces or dashes.
        card: Regex::new(r"\b(?:\d[ -]?){12,18}\d\b").expect("card pattern"),
        // International or national numbers of 7 to 15 digits with the usual separators.
        phone: Regex::new(
            r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}",
        )
        .expect("phone pattern"),
    })
}

/// Redacts the kinds of PII asked for; returns the text and whether anything changed.
pub fn redact(text: &str, types: &[Pii]) -> (String, bool) {
    let p = pii_patterns();
    let mut out = text.to_string();
    // Cards before phones: a card number would otherwise read as a phone number.
    for pii in [Pii::Email, Pii::Card, Pii::Phone] {
        if !types.contains(&pii) {
            continue;
        }
        out = match pii {
            Pii::Email => p.email.replace_all(&out, "[EMAIL]").into_owned(),
            Pii::Card => p
                .card
                .replace_all(&out, |c: &regex::Captures| {
                    let digits: Vec<u32> = c[0].chars().filter_map(|ch| ch.to_digit(10)).collect();
                    if (13..=19).contains(&digits.len()) && luhn(&digits) {
                        "[CARD]".to_string()
                    } else {
                        c[0].to_string()
                    }
                })
                .into_owned(),
            Pii::Phone => p
                .phone
                .replace_all(&out, |c: &regex::Captures| {
                    let digits = c[0].chars().filter(char::is_ascii_digit).count();
                    if (7..=15).contains(&digits) {
                        "[PHONE]".to_string()
                    } else {
                        c[0].to_string()
                    }
                })
                .into_owned(),
        };
    }
    let changed = out != text;
    (out, changed)
}

/// Applies the enabled policies in priority order (lowest number first, then by id).
pub fn evaluate(policies: &[Policy], text: &str, model: Option<&str>) -> Outcome {
    let mut order: Vec<&Policy> = policies.iter().filter(|p| p.enabled).collect();
    order.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.id.cmp(&b.id)));
    let mut current = text.to_string();
    let mut first_redaction: Option<(&Policy, String)> = None;
    let block = |p: &Policy, reason: String, escalated: bool| Outcome {
        action: Action::Block,
        policy_id: Some(p.id.clone()),
        policy_name: Some(p.name.clone()),
        reason: Some(reason),
        text: text.to_string(),
        escalated,
    };
    for policy in order {
        match &policy.rule {
            Rule::Blocked { keywords, patterns } => {
                if let Some(k) = find_keyword(&current, keywords) {
                    return block(policy, format!("mentions the blocked topic {k:?}"), false);
                }
                if let Some(re) = patterns.iter().find(|re| re.is_match(&current)) {
                    return block(
                        policy,
                        format!("matches the blocked pattern {:?}", re.as_str()),
                        false,
                    );
                }
            }
            Rule::Escalate { keywords } => {
                if let Some(k) = find_keyword(&current, keywords) {
                    return block(policy, format!("mentions {k:?}: handed to a human"), true);
                }
            }
            Rule::AllowedModels(models) => {
                if let Some(model) = model {
                    if !models.iter().any(|m| m == model) {
                        return block(policy, format!("the model {model:?} is not allowed"), false);
                    }
                }
            }
            Rule::MaxLength {
                max_chars,
                truncate,
            } => {
                let chars = current.chars().count();
                if chars > *max_chars {
                    if *truncate {
                        current = current.chars().take(*max_chars).collect();
                        first_redaction.get_or_insert((
                            policy,
                            format!("cut from {chars} to {max_chars} characters"),
                        ));
                    } else {
                        return block(
                            policy,
                            format!("{chars} characters is over the limit of {max_chars}"),
                            false,
                        );
                    }
                }
            }
            Rule::Redact(types) => {
                let (redacted, changed) = redact(&current, types);
                if changed {
                    current = redacted;
                    first_redaction.get_or_insert((policy, "personal data redacted".to_string()));
                }
            }
        }
    }
    match first_redaction {
        Some((p, reason)) => Outcome {
            action: Action::Redact,
            policy_id: Some(p.id.clone()),
            policy_name: Some(p.name.clone()),
            reason: Some(reason),
            text: current,
            escalated: false,
        },
        None => Outcome {
            action: Action::Allow,
            policy_id: None,
            policy_name: None,
            reason: None,
            text: current,
            escalated: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"];

    fn policy(id: &str, priority: i32, enabled: bool, kind: &str, params: Value) -> Policy {
        Policy {
            id: id.to_string(),
            name: format!("{kind} {id}"),
            priority,
            enabled,
            rule: Rule::parse(kind, &params, &MODELS).unwrap_or_else(|e| panic!("{id}: {e:?}")),
        }
    }

    #[test]
    fn every_kind_decides_as_its_table_says() {
        // What, the policy, the text, the model, the action expected, the text expected.
        type Case<'a> = (&'a str, Policy, &'a str, Option<&'a str>, Action, &'a str);
        let cases: Vec<Case> = vec![
            (
                "keyword",
                policy(
                    "k",
                    1,
                    true,
                    "blocked_topics",
                    json!({"keywords": ["lawsuit"]}),
                ),
                "About the Lawsuit, then.",
                None,
                Action::Block,
                "About the Lawsuit, then.",
            ),
            (
                "keyword inside a word is no match",
                policy("k", 1, true, "blocked_topics", json!({"keywords": ["law"]})),
                "lawful and lawn",
                None,
                Action::Allow,
                "lawful and lawn",
            ),
            (
                "pattern",
                policy(
                    "p",
                    1,
                    true,
                    "blocked_topics",
                    json!({"patterns": ["crypto\\w*"]}),
                ),
                "buy CRYPTOcoins",
                None,
                Action::Block,
                "buy CRYPTOcoins",
            ),
            (
                "email",
                policy("e", 1, true, "pii_redaction", json!({"types": ["email"]})),
                "mail ana.b@example.co.uk now",
                None,
                Action::Redact,
                "mail [EMAIL] now",
            ),
            (
                "phone",
                policy("t", 1, true, "pii_redaction", json!({"types": ["phone"]})),
                "call +966 55 123 4567 today",
                None,
                Action::Redact,
                "call [PHONE] today",
            ),
            (
                "card (Luhn-valid)",
                policy("c", 1, true, "pii_redaction", json!({"types": ["card"]})),
                "card 4111 1111 1111 1111 ok",
                None,
                Action::Redact,
                "card [CARD] ok",
            ),
            (
                "not a card (fails Luhn)",
                policy("c", 1, true, "pii_redaction", json!({"types": ["card"]})),
                "order 4111 1111 1111 1112",
                None,
                Action::Allow,
                "order 4111 1111 1111 1112",
            ),
            (
                "all PII by default",
                policy("a", 1, true, "pii_redaction", json!({})),
                "x@y.io, 4111-1111-1111-1111",
                None,
                Action::Redact,
                "[EMAIL], [CARD]",
            ),
            (
                "too long: blocked",
                policy("m", 1, true, "max_length", json!({"max_chars": 5})),
                "123456",
                None,
                Action::Block,
                "123456",
            ),
            (
                "too long: cut",
                policy(
                    "m",
                    1,
                    true,
                    "max_length",
                    json!({"max_chars": 5, "truncate": true}),
                ),
                "123456",
                None,
                Action::Redact,
                "12345",
            ),
            (
                "at the limit",
                policy("m", 1, true, "max_length", json!({"max_chars": 6})),
                "123456",
                None,
                Action::Allow,
                "123456",
            ),
            (
                "model not allowed",
                policy(
                    "o",
                    1,
                    true,
                    "allowed_models",
                    json!({"models": ["gpt-4o"]}),
                ),
                "hi",
                Some("gpt-4o-mini"),
                Action::Block,
                "hi",
            ),
            (
                "model allowed",
                policy(
                    "o",
                    1,
                    true,
                    "allowed_models",
                    json!({"models": ["gpt-4o"]}),
                ),
                "hi",
                Some("gpt-4o"),
                Action::Allow,
                "hi",
            ),
            (
                "escalate",
                policy("h", 1, true, "escalate", json!({"keywords": ["refund"]})),
                "I want a refund!",
                None,
                Action::Block,
                "I want a refund!",
            ),
        ];
        for (what, p, text, model, action, out) in cases {
            let outcome = evaluate(std::slice::from_ref(&p), text, model);
            assert_eq!(outcome.action, action, "{what}: {outcome:?}");
            assert_eq!(outcome.text, out, "{what}");
            let decided = action != Action::Allow;
            assert_eq!(outcome.policy_id.is_some(), decided, "{what}");
            assert_eq!(outcome.escalated, what == "escalate", "{what}");
        }
    }

    #[test]
    fn priority_order_decides_and_disabled_policies_are_skipped() {
        let redact = policy("r", 1, true, "pii_redaction", json!({"types": ["email"]}));
        let block = policy(
            "b",
            2,
            true,
            "blocked_topics",
            json!({"keywords": ["secret"]}),
        );
        // Redaction first, then the block still ends it: a block wins whatever came before.
        let o = evaluate(&[block.clone(), redact.clone()], "secret: a@b.io", None);
        assert_eq!(
            (o.action, o.policy_id.as_deref()),
            (Action::Block, Some("b"))
        );
        assert_eq!(
            o.text, "secret: a@b.io",
            "a blocked text is returned as given"
        );

        // A block policy can only see what earlier ones left: the pattern targets the address.
        let addr = policy(
            "z",
            2,
            true,
            "blocked_topics",
            json!({"patterns": ["@b\\.io"]}),
        );
        let o = evaluate(&[addr.clone(), redact.clone()], "write a@b.io", None);
        assert_eq!(
            (o.action, o.policy_id.as_deref()),
            (Action::Redact, Some("r"))
        );
        let first = Policy {
            priority: 0,
            ..addr.clone()
        };
        let o = evaluate(&[first, redact.clone()], "write a@b.io", None);
        assert_eq!(
            (o.action, o.policy_id.as_deref()),
            (Action::Block, Some("z"))
        );

        // Disabled: as if absent.
        let off = Policy {
            enabled: false,
            ..block.clone()
        };
        let o = evaluate(&[off, redact.clone()], "secret: a@b.io", None);
        assert_eq!(
            (o.action, o.text.as_str()),
            (Action::Redact, "secret: [EMAIL]")
        );

        // Two redactions: the first (by priority) is named, both apply.
        let cut = policy(
            "c",
            5,
            true,
            "max_length",
            json!({"max_chars": 10, "truncate": true}),
        );
        let o = evaluate(&[cut, redact], "to a@b.io and more text", None);
        assert_eq!(
            (o.action, o.policy_id.as_deref()),
            (Action::Redact, Some("r"))
        );
        assert_eq!(o.text, "to [EMAIL]");

        // Equal priorities: by id, so the order is stable.
        let b1 = policy("a1", 3, true, "blocked_topics", json!({"keywords": ["x"]}));
        let b2 = policy("a2", 3, true, "escalate", json!({"keywords": ["x"]}));
        assert_eq!(
            evaluate(&[b2, b1], "x", None).policy_id.as_deref(),
            Some("a1")
        );
        assert_eq!(evaluate(&[], "anything", None).action, Action::Allow);
    }

    #[test]
    fn bad_parameters_are_refused_naming_the_parameter() {
        for (kind, params, expected) in [
            (
                "blocked_topics",
                json!({"patterns": ["(unclosed"]}),
                "patterns: \"(unclosed\" is not a valid pattern",
            ),
            ("blocked_topics", json!({}), "keywords: give at least one"),
            (
                "blocked_topics",
                json!({"keywords": "lawsuit"}),
                "keywords: must be a list",
            ),
            (
                "pii_redaction",
                json!({"types": ["ssn"]}),
                "types: \"ssn\" is not one of",
            ),
            (
                "max_length",
                json!({"max_chars": 0}),
                "max_chars: must be a whole number",
            ),
            (
                "max_length",
                json!({"max_chars": 10, "truncate": "yes"}),
                "truncate: must be true or false",
            ),
            (
                "allowed_models",
                json!({"models": ["gpt-9"]}),
                "models: \"gpt-9\" is not a known model",
            ),
            (
                "escalate",
                json!({"keywords": []}),
                "keywords: give at least one keyword",
            ),
            ("shout", json!({}), "kind: \"shout\" is not one of"),
            (
                "escalate",
                json!(["refund"]),
                "parameters must be a JSON object",
            ),
        ] {
            let errors = Rule::parse(kind, &params, &MODELS).expect_err(kind);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "{kind} {params}: {errors:?}"
            );
        }
    }
}
