//! The authorization matrix: every server function, page and agent API route the router
//! serves, called as every kind of caller, answers as its declared need
//! (`app::tenancy::access::NEEDS`) and the role table (`Grant::allows`) say it should, not as
//! its code path happens to. An endpoint with no declared need fails here.

use app::tenancy::access::{need_of, page_pattern, Grant, Need, Section, BUILTIN_ROLES};
use server::testing::{server_fn_request, TestApp};

/// Who calls.
#[derive(Clone)]
enum Caller {
    Anonymous,
    /// A person with a session token, holding `grant` in the org acting in (org A), or, for
    /// org B's admin, aiming at org A from org B.
    Person {
        label: String,
        token: String,
        grant: Grant,
        other_org: bool,
    },
    Agent {
        label: String,
        key: String,
    },
}

impl Caller {
    fn label(&self) -> &str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Person { label, .. } | Caller::Agent { label, .. } => label,
        }
    }

    /// The answer the declared need calls for: `Some(true)` let through, `Some(false)`
    /// refused, `None` no rule (a signed-in endpoint seen from another org).
    fn expected(&self, need: Need) -> Option<bool> {
        match (self, need) {
            (_, Need::Public) => None,
            (Caller::Anonymous, _) => Some(false),
            (Caller::Agent { .. }, Need::Agent) => Some(true),
            (Caller::Agent { .. }, _) => Some(false),
            (Caller::Person { .. }, Need::Agent) => Some(false),
            (
                Caller::Person {
                    other_org: true, ..
                },
                Need::SignedIn,
            ) => None,
            (
                Caller::Person {
                    other_org: true,
                    grant,
                    ..
                },
                _,
            ) => Some(grant.superadmin),
            (Caller::Person { grant, .. }, need) => Some(need.allows(grant)),
        }
    }
}

/// Refused: 401, or 403/404 (an org the caller may not enter looks like no org at all).
fn refused(status: u16) -> bool {
    matches!(status, 401 | 403)
}

#[tokio::test]
async fn every_endpoint_answers_each_caller_as_its_declared_need_says() {
    let app = TestApp::new().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let a = app.create_org(&root, "Matrix A", "matrix-a.example").await;
    let b = app.create_org(&root, "Matrix B", "matrix-b.example").await;
    let sections_of = |role: &str| -> Vec<Section> {
        BUILTIN_ROLES
            .iter()
            .find(|(name, _, _)| *name == role)
            .map(|(_, _, s)| s.to_vec())
            .unwrap()
    };
    let mut callers = vec![Caller::Anonymous];
    for role in ["guest", "viewer", "member", "manager", "admin", "owner"] {
        let email = format!("{role}@matrix-a.test");
        let user = app.user(&email, false, None).await;
        app.add_member(a, user, role).await;
        callers.push(Caller::Person {
            label: format!("{role} of A"),
            token: app.sign_in(&email).await,
            grant: Grant {
                superadmin: false,
                role: Some(role.to_string()),
                sections: sections_of(role),
            },
            other_org: false,
        });
    }
    let bound = app.user("client@matrix-a.test", false, Some(a)).await;
    app.add_member(a, bound, "admin").await;
    callers.push(Caller::Person {
        label: "bound client admin of A".to_string(),
        token: app.sign_in("client@matrix-a.test").await,
        grant: Grant {
            superadmin: false,
            role: Some("admin".to_string()),
            sections: sections_of("admin"),
        },
        other_org: false,
    });
    let b_admin = app.user("admin@matrix-b.test", false, None).await;
    app.add_member(b, b_admin, "admin").await;
    callers.push(Caller::Person {
        label: "admin of B".to_string(),
        token: app.sign_in("admin@matrix-b.test").await,
        grant: Grant::default(),
        other_org: true,
    });
    let (_, a_key) = app.agent(&root, "Matrix Agent A", Some(a)).await;
    let (_, b_key) = app.agent(&root, "Matrix Agent B", Some(b)).await;
    callers.push(Caller::Agent {
        label: "agent of A".to_string(),
        key: a_key,
    });
    callers.push(Caller::Agent {
        label: "agent of B".to_string(),
        key: b_key,
    });
    let root_in_a = app.switch(&root, a).await;
    callers.push(Caller::Person {
        label: "superadmin".to_string(),
        token: root_in_a,
        grant: Grant {
            superadmin: true,
            role: None,
            sections: Section::ALL.to_vec(),
        },
        other_org: false,
    });

    // Every endpoint the router serves, and its declared need: a missing one fails here.
    let mut server_fns: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect();
    server_fns.sort();
    server_fns.dedup();
    // Signing out ends the caller's session: last.
    server_fns.sort_by_key(|path| path.ends_with("/sign_out"));
    let pages: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|route| route.path().to_string())
        .collect();
    let api_routes = app::routes::routes();
    let mut undeclared = Vec::new();
    for path in &server_fns {
        if need_of(path).is_none() {
            undeclared.push(path.clone());
        }
    }
    let page_addresses: Vec<(String, &'static str)> = pages
        .iter()
        .filter_map(|pattern| {
            let address: String = pattern
                .split('/')
                .map(|segment| match segment {
                    ":id" | "{id}" => a.to_string(),
                    ":action" | "{action}" => "disable".to_string(),
                    s => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let address = if address.is_empty() {
                "/".to_string()
            } else {
                address
            };
            match page_pattern(&address) {
                Some(declared) => Some((address, declared)),
                None => {
                    undeclared.push(pattern.clone());
                    None
                }
            }
        })
        .collect();
    for (method, path, _) in &api_routes {
        if need_of(&format!("{method} {path}")).is_none() {
            undeclared.push(format!("{method} {path}"));
        }
    }
    assert!(
        undeclared.is_empty(),
        "endpoints with no declared need: {undeclared:?}"
    );

    // Arguments aimed at org A; every other id names nothing, so no call destroys a fixture.
    let a_id = a.to_string();
    let owned = app
        .fields_aimed_at(a, "owner@matrix-a.test", "matrix-a.example")
        .await;
    let fields: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let mut mismatches = Vec::new();
    let mut calls = 0;
    let mut public_answers: std::collections::BTreeMap<String, Vec<(String, u16)>> =
        Default::default();
    // Pages and agent routes first: the server functions end with signing out.
    for (address, pattern) in &page_addresses {
        let need = need_of(pattern).unwrap();
        for caller in &callers {
            let mut request = axum::http::Request::get(address.as_str());
            match caller {
                Caller::Anonymous => {}
                Caller::Person {
                    token, other_org, ..
                } => {
                    request =
                        request.header("cookie", format!("{}={token}", app::auth::token::COOKIE));
                    if *other_org {
                        request = request.header("x-tenantry-org", &a_id);
                    }
                }
                Caller::Agent { key, .. } => {
                    request = request.header("authorization", format!("Bearer {key}"));
                }
            }
            let response = app
                .send(request.body(axum::body::Body::empty()).unwrap())
                .await;
            calls += 1;
            let got_in = response.status == 200;
            let sent_to_sign_in = (300..400).contains(&response.status)
                && response
                    .headers
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .is_some_and(|l| l.starts_with("/sign-in"));
            let ok = match caller.expected(need) {
                None => response.status < 500,
                Some(true) => got_in,
                Some(false) => match caller {
                    Caller::Person { .. } => refused(response.status) || response.status == 404,
                    _ => sent_to_sign_in,
                },
            };
            if !ok {
                mismatches.push(format!(
                    "page {address} ({need:?}) as {}: {}",
                    caller.label(),
                    response.status
                ));
            }
        }
    }

    for (method, path, _) in &api_routes {
        for caller in &callers {
            let (key, label) = match caller {
                Caller::Anonymous => (String::new(), "anonymous"),
                Caller::Person { token, label, .. } => (token.clone(), label.as_str()),
                Caller::Agent { key, label } => (key.clone(), label.as_str()),
            };
            let body = (*method == axum::http::Method::POST)
                .then(|| serde_json::json!({ "content": "matrix", "text": "matrix" }));
            // Aimed at org A; a run id that names nothing.
            let aimed = path
                .replace("{org_id}", &a_id)
                .replace("{run_id}", &uuid::Uuid::new_v4().to_string());
            let address = if *method == axum::http::Method::GET {
                format!("{aimed}?q=matrix&provider=openai")
            } else {
                aimed
            };
            let response = app
                .agent_call(method.as_str(), &address, &key, body, &[])
                .await;
            calls += 1;
            let need = need_of(&format!("{method} {path}")).unwrap();
            let wrong = caller
                .expected(need)
                .is_some_and(|allowed| allowed == refused(response.status));
            if response.status >= 500 || wrong {
                mismatches.push(format!(
                    "{method} {path} as {label}: {} {}",
                    response.status, response.body
                ));
            }
        }
    }

    for path in &server_fns {
        let need = need_of(path).unwrap();
        for caller in &callers {
            let endpoint = path.trim_start_matches("/api/");
            let request = match caller {
                Caller::Anonymous => server_fn_request(endpoint, None, &fields, &[]),
                Caller::Person {
                    token, other_org, ..
                } => {
                    let headers: Vec<(&str, &str)> = if *other_org {
                        vec![("x-tenantry-org", &a_id)]
                    } else {
                        vec![]
                    };
                    server_fn_request(endpoint, Some(token), &fields, &headers)
                }
                Caller::Agent { key, .. } => {
                    let auth = format!("Bearer {key}");
                    server_fn_request(endpoint, None, &fields, &[("authorization", &auth)])
                }
            };
            let response = app.send(request).await;
            calls += 1;
            if response.body.contains("could not be read") {
                mismatches.push(format!(
                    "{path} as {}: the matrix's arguments miss a field: {}",
                    caller.label(),
                    response.body
                ));
            }
            if response.status >= 500 {
                mismatches.push(format!(
                    "{path} as {}: {} {}",
                    caller.label(),
                    response.status,
                    response.body
                ));
            }
            if need == Need::Public {
                public_answers
                    .entry(path.clone())
                    .or_default()
                    .push((caller.label().to_string(), response.status));
            }
            if let Some(allowed) = caller.expected(need) {
                if allowed == refused(response.status) {
                    mismatches.push(format!(
                        "{path} ({need:?}) as {}: expected {}, got {} {}",
                        caller.label(),
                        if allowed { "let through" } else { "refused" },
                        response.status,
                        response.body.chars().take(200).collect::<String>()
                    ));
                }
            }
            app.reactivate_all().await;
        }
    }
    // A public endpoint answers everyone alike: who calls does not change it.
    for (path, answers) in &public_answers {
        let refusals: Vec<_> = answers.iter().filter(|(_, s)| refused(*s)).collect();
        if !refusals.is_empty() && refusals.len() != answers.len() {
            mismatches.push(format!(
                "public {path} refuses only some callers: {answers:?}"
            ));
        }
    }

    assert!(
        mismatches.is_empty(),
        "{} of {calls} answers differ from the declared needs:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    let endpoints = server_fns.len() + page_addresses.len() + api_routes.len();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "authorization matrix: {endpoints} endpoints ({} server functions, {} pages, {} \
             routes outside Leptos: agent API, webhook, progress streams) × {} callers = {calls} answers, each as declared\n",
            server_fns.len(),
            page_addresses.len(),
            api_routes.len(),
            callers.len()
        )
        .as_bytes(),
    );
}
