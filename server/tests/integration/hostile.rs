//! Hostile input, generated: every field of every server function gets huge numbers, control
//! characters, unusual unicode, nothing and far too much, one field at a time with the rest
//! valid. No answer may be a 5xx, no request may panic the server, and no answer may carry the
//! database's own words.

use server::testing::{server_fn_request, TestApp};

/// Values no field expects.
fn hostile_values() -> Vec<(&'static str, String)> {
    vec![
        (
            "a huge number",
            "99999999999999999999999999999999".to_string(),
        ),
        ("a negative number", "-9223372036854775809".to_string()),
        ("a NUL", "a\u{0}b".to_string()),
        ("a newline", "x\n".to_string()),
        ("an escape", "\u{1b}[31mred".to_string()),
        (
            "right-to-left and emoji",
            "\u{202e}gnp.exe \u{1F600}\u{0301}".to_string(),
        ),
        ("nothing", String::new()),
        ("far too much", "x".repeat(100_001)),
    ]
}

/// Words of PostgreSQL's own that must never reach a caller.
const DATABASE_WORDS: [&str; 9] = [
    "violates",
    "SQLSTATE",
    "invalid input syntax",
    "duplicate key",
    "null value in column",
    "syntax error at",
    "out of range for type",
    "invalid byte sequence",
    "pg_catalog",
];

#[tokio::test]
async fn hostile_values_in_every_field_of_every_server_function_get_a_clear_answer() {
    let app = TestApp::new().await;
    let root = app.root().await;
    let (a, _) = app
        .org_with(
            &root,
            "Hostile A",
            "hostile-a.example",
            &[("owner@hostile.test", "owner")],
        )
        .await;
    let root_in_a = app.switch(&root, a).await;
    let valid = app
        .fields_aimed_at(a, "owner@hostile.test", "hostile-a.example")
        .await;
    let mut server_fns: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        // Signing out would end the callers' sessions; it takes no fields.
        .filter(|path| path != "auth/sign_out")
        .collect();
    server_fns.sort();
    server_fns.dedup();

    // `HOSTILE_ONLY=orgs/create_org` narrows a run while debugging.
    if let Ok(only) = std::env::var("HOSTILE_ONLY") {
        server_fns.retain(|path| *path == only);
    }
    let valid_fields: Vec<(&str, &str)> = valid.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let send = |endpoint: &str, fields: Vec<(&str, &str)>| {
        app.send(server_fn_request(endpoint, Some(&root_in_a), &fields, &[]))
    };

    let mut problems = Vec::new();
    let mut requests = 0;
    let mut tried_fields = 0;
    for endpoint in &server_fns {
        // Which fields does it read? One it requires answers "missing field" without it; one
        // it takes as optional answers differently when far too long. Only those get the rest.
        let baseline = send(endpoint, valid_fields.clone()).await.status;
        let mut read = Vec::new();
        for (field, _) in &valid {
            let without: Vec<(&str, &str)> = valid_fields
                .iter()
                .copied()
                .filter(|(k, _)| k != field)
                .collect();
            let missing = send(endpoint, without).await;
            requests += 2;
            let long = "x".repeat(20_000);
            let overlong = send(
                endpoint,
                valid_fields
                    .iter()
                    .map(|(k, v)| (*k, if k == field { long.as_str() } else { *v }))
                    .collect(),
            )
            .await;
            for response in [&missing, &overlong] {
                check(endpoint, field, "a probe", response, &mut problems);
            }
            if missing.body.contains(&format!("missing field `{field}`"))
                || overlong.status != baseline
            {
                read.push(*field);
            }
        }
        tried_fields += read.len();
        for field in read {
            for (what, value) in hostile_values() {
                let fields: Vec<(&str, &str)> = valid_fields
                    .iter()
                    .map(|(k, v)| (*k, if *k == field { value.as_str() } else { *v }))
                    .collect();
                let response = send(endpoint, fields).await;
                requests += 1;
                check(endpoint, field, what, &response, &mut problems);
            }
        }
        app.reactivate_all().await;
    }
    assert!(
        problems.is_empty(),
        "{} of {requests} hostile requests were answered badly:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "hostile input: {} server functions, {tried_fields} fields they read × {} values, \
             {requests} requests with the probes, no 5xx, no database text\n",
            server_fns.len(),
            hostile_values().len()
        )
        .as_bytes(),
    );
}

/// Records what is wrong with one answer: a 5xx, or the database's own words.
fn check(
    endpoint: &str,
    field: &str,
    what: &str,
    response: &server::testing::TestResponse,
    problems: &mut Vec<String>,
) {
    let excerpt = || response.body.chars().take(200).collect::<String>();
    if response.status >= 500 {
        problems.push(format!(
            "{endpoint} with {what} in {field}: {} {}",
            response.status,
            excerpt()
        ));
    }
    if let Some(word) = DATABASE_WORDS.iter().find(|w| response.body.contains(*w)) {
        problems.push(format!(
            "{endpoint} with {what} in {field}: the answer says {word:?}: {}",
            excerpt()
        ));
    }
}

#[tokio::test]
async fn creating_the_same_org_sixteen_times_at_once_makes_one_and_refuses_the_rest_clearly() {
    let app = TestApp::new().await;
    let root = app.root().await;
    let attempts = (0..16).map(|_| {
        app.send(server_fn_request(
            "orgs/create_org",
            Some(&root),
            &[
                ("org[name]", "Twin Org"),
                ("org[domain]", "twin.example"),
                ("org[product]", "crm"),
                ("org[status]", "active"),
            ],
            &[],
        ))
    });
    let answers = futures::future::join_all(attempts).await;
    let made = answers.iter().filter(|r| r.status == 200).count();
    let bad: Vec<_> = answers
        .iter()
        .filter(|r| r.status >= 500)
        .map(|r| r.body.clone())
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(made, 1, "{answers:?}");
}
