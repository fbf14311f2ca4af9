//! Invitations against a real SMTP server (aiosmtpd): the email arrives with a link, the link
//! makes an account in the org with the invited role, and works once; revoke, resend and expiry;
//! another account is refused; an existing account signs in first. Removing a member ends their
//! access at the next request.

use server::testing::{smtp::SmtpServer, World};

const NEW_PASSWORD: &str = "a new password 123";

async fn world_with_mail(smtp: &SmtpServer) -> World {
    let url = smtp.url();
    World::build()
        .org(
            "Alpha",
            &[
                ("alice@alpha.test", "admin"),
                ("olga@alpha.test", "owner"),
                ("vic@alpha.test", "viewer"),
            ],
        )
        .org("Beta", &[("bob@beta.test", "admin")])
        .services(move |services| {
            services.mail = app::mail::Mail::new(
                Some(&url),
                "Tenantry <noreply@tenantry.test>",
                Some("http://admin.tenantry.test".to_string()),
            )
            .expect("the SMTP address is usable");
        })
        .await
}

/// Delivers every queued email (what the sender on each node does).
async fn deliver(w: &World) {
    while app::mail::send_next(&w.app.services)
        .await
        .expect("the sender runs")
    {}
}

async fn invite(w: &World, token: &str, email: &str, role: &str) -> server::testing::TestResponse {
    w.app
        .call(
            "invitations/invite",
            Some(token),
            &[
                ("org_id", &w.org("Alpha").to_string()),
                ("email", email),
                ("role", role),
            ],
        )
        .await
}

/// The token in the newest email to `email`.
fn emailed_token(smtp: &SmtpServer, email: &str) -> String {
    let message = smtp.to(email).pop().expect("an email arrived");
    let link = message
        .link("/invitations/accept?token=")
        .expect("the email holds the link");
    assert!(
        link.starts_with("http://admin.tenantry.test/invitations/accept?token=inv_"),
        "{link}"
    );
    link.split("token=").nth(1).expect("a token").to_string()
}

async fn accept(
    w: &World,
    session: Option<&str>,
    token: &str,
    name: &str,
) -> server::testing::TestResponse {
    w.app
        .call(
            "invitations/accept_invitation",
            session,
            &[("token", token), ("name", name), ("password", NEW_PASSWORD)],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emailed_link_makes_an_account_in_the_org_with_the_role_once() {
    let smtp = SmtpServer::start();
    let w = world_with_mail(&smtp).await;
    let r = invite(&w, w.token("alice"), " Dana@Example.test ", "viewer").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.json()["link"].is_null(),
        "with SMTP the link goes by email only"
    );
    // Queued in the database until the sender delivers it.
    assert!(smtp.messages().is_empty());
    deliver(&w).await;
    let mail = smtp.to("dana@example.test");
    assert_eq!(mail.len(), 1, "one email");
    assert_eq!(
        mail[0].header("Subject").as_deref(),
        Some("You are invited to Alpha on Tenantry")
    );
    let token = emailed_token(&smtp, "dana@example.test");
    // Delivered: the link is no longer in the database.
    let bodies: Vec<String> = sqlx::query_scalar("select body from email_outbox")
        .fetch_all(&w.app.owner)
        .await
        .unwrap();
    assert!(bodies.iter().all(|b| !b.contains(&token)), "{bodies:?}");

    let details = w
        .app
        .call("invitations/invitation_details", None, &[("token", &token)])
        .await;
    assert_eq!(details.status, 200, "{}", details.body);
    let d = details.json();
    assert_eq!(
        (
            d["org_name"].as_str(),
            d["email"].as_str(),
            d["state"].as_str()
        ),
        (Some("Alpha"), Some("dana@example.test"), Some("open"))
    );
    assert_eq!(d["account_exists"], false);

    let accepted = accept(&w, None, &token, "Dana").await;
    assert!(accepted.status < 400, "{accepted:?}");
    let session = accepted.session_cookie().expect("signed in");
    let role: String = sqlx::query_scalar(
        "select m.role_name from membership m join app_user u using (user_id)
          where u.email = 'dana@example.test' and m.org_id = $1",
    )
    .bind(w.org("Alpha"))
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(role, "viewer");
    // Signed in, in the org, as a viewer: the org reads, the Users section does not.
    let current = w.app.call("orgs/current_org", Some(&session), &[]).await;
    assert_eq!(current.status, 200, "{}", current.body);
    let users = w.app.call("members/list_users", Some(&session), &[]).await;
    assert_eq!(users.status, 403, "{}", users.body);

    // Single use.
    let again = accept(&w, None, &token, "Mallory").await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already been used"), "{}", again.body);
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where org_id = $1
          and action in ('invitation.create', 'invitation.accept') and target = 'dana@example.test'",
    )
    .bind(w.org("Alpha"))
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(audited, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_keeps_one_invitation_revoke_and_expiry_end_it() {
    let smtp = SmtpServer::start();
    let w = world_with_mail(&smtp).await;
    let alpha = w.org("Alpha").to_string();
    assert_eq!(
        invite(&w, w.token("alice"), "carol@example.test", "member")
            .await
            .status,
        200
    );
    deliver(&w).await;
    let first = emailed_token(&smtp, "carol@example.test");
    // A second invite to the same address is refused: resend it instead.
    let twice = invite(&w, w.token("alice"), "carol@example.test", "member").await;
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert!(twice.body.contains("resend"), "{}", twice.body);
    let id: uuid::Uuid = sqlx::query_scalar(
        "select invitation_id from invitation where email = 'carol@example.test'",
    )
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    let resent = w
        .app
        .call(
            "invitations/resend_invitation",
            Some(w.token("alice")),
            &[
                ("org_id", &alpha),
                ("invitation_id", &id.to_string()),
                ("days", "30"),
            ],
        )
        .await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    deliver(&w).await;
    assert_eq!(smtp.to("carol@example.test").len(), 2);
    let second = emailed_token(&smtp, "carol@example.test");
    assert_ne!(first, second);
    let (count, sends, days): (i64, i32, f64) = sqlx::query_as(
        "select count(*) over (), sends,
                (extract(epoch from expires_at - now()) / 86400)::float8
           from invitation where email = 'carol@example.test'",
    )
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!((count, sends), (1, 2), "one invitation, sent twice");
    assert!((29.9..30.1).contains(&days), "extended to 30 days: {days}");
    // The older link stopped working; the newer one works.
    let old = w
        .app
        .call("invitations/invitation_details", None, &[("token", &first)])
        .await;
    assert_eq!(old.status, 400, "{}", old.body);
    let list = w
        .app
        .call(
            "invitations/list_invitations",
            Some(w.token("alice")),
            &[("org_id", &alpha)],
        )
        .await;
    assert_eq!(list.json()["invitations"].as_array().unwrap().len(), 1);

    // Revoked: the link is refused, and the list no longer has it.
    let revoked = w
        .app
        .call(
            "invitations/revoke_invitation",
            Some(w.token("alice")),
            &[("org_id", &alpha), ("invitation_id", &id.to_string())],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let after = accept(&w, None, &second, "Carol").await;
    assert_eq!(after.status, 409, "{}", after.body);
    assert!(after.body.contains("withdrawn"), "{}", after.body);

    // Expired: refused, with the reason.
    assert_eq!(
        invite(&w, w.token("alice"), "erin@example.test", "member")
            .await
            .status,
        200
    );
    deliver(&w).await;
    let erin = emailed_token(&smtp, "erin@example.test");
    sqlx::query("update invitation set expires_at = now() - interval '1 minute' where email = 'erin@example.test'")
        .execute(&w.app.owner)
        .await
        .unwrap();
    let late = accept(&w, None, &erin, "Erin").await;
    assert_eq!(late.status, 409, "{}", late.body);
    assert!(late.body.contains("expired"), "{}", late.body);
    let made: i64 = sqlx::query_scalar(
        "select count(*) from app_user where email in ('carol@example.test', 'erin@example.test')",
    )
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(made, 0, "no account from a revoked or expired link");

    // Bad input is named: the days, the email, a role above the admin's own.
    for (field, fields) in [
        (
            "days",
            vec![
                ("email", "x@example.test"),
                ("role", "member"),
                ("days", "31"),
            ],
        ),
        (
            "email",
            vec![("email", "not an email"), ("role", "member"), ("days", "")],
        ),
        (
            "role",
            vec![
                ("email", "y@example.test"),
                ("role", "owner"),
                ("days", "7"),
            ],
        ),
    ] {
        let mut all = vec![("org_id", alpha.as_str())];
        all.extend(fields);
        let r = w
            .app
            .call("invitations/invite", Some(w.token("alice")), &all)
            .await;
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert!(
            r.json()["Validation"][field].is_array(),
            "{field}: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_is_refused_and_an_existing_account_signs_in_first() {
    let smtp = SmtpServer::start();
    let w = world_with_mail(&smtp).await;
    // bob (Beta's admin) is invited to Alpha.
    assert_eq!(
        invite(&w, w.token("alice"), "bob@beta.test", "member")
            .await
            .status,
        200
    );
    deliver(&w).await;
    let token = emailed_token(&smtp, "bob@beta.test");
    let details = w
        .app
        .call("invitations/invitation_details", None, &[("token", &token)])
        .await
        .json();
    assert_eq!(details["account_exists"], true);
    // Not signed in: sign in first (no second account with that address).
    let anonymous = accept(&w, None, &token, "Impostor").await;
    assert_eq!(anonymous.status, 409, "{}", anonymous.body);
    assert!(anonymous.body.contains("sign in"), "{}", anonymous.body);
    // Signed in as someone else: refused, and nothing changes.
    let other = accept(&w, Some(w.token("vic")), &token, "").await;
    assert_eq!(other.status, 403, "{}", other.body);
    assert!(
        other.body.contains("signed in as vic@alpha.test"),
        "{}",
        other.body
    );
    // As bob: he joins, and his session now acts in Alpha.
    let joined = accept(&w, Some(w.token("bob")), &token, "").await;
    assert!(joined.status < 400, "{joined:?}");
    let session = joined
        .session_cookie()
        .expect("the session switched to Alpha");
    let current = w.app.call("orgs/current_org", Some(&session), &[]).await;
    assert_eq!(
        current.json()["id"],
        w.org("Alpha").to_string(),
        "{}",
        current.body
    );
    let role: String =
        sqlx::query_scalar("select role_name from membership where org_id = $1 and user_id = $2")
            .bind(w.org("Alpha"))
            .bind(w.user("bob"))
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(role, "member");
    // A forged or mangled token is no invitation.
    for bad in [
        "",
        "inv_",
        "inv_zz",
        &token.replace("inv_", "tnt_"),
        &format!("{token}0"),
    ] {
        let r = w
            .app
            .call("invitations/invitation_details", None, &[("token", bad)])
            .await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_the_admin_gets_the_link_and_nothing_is_queued() {
    let w = World::build()
        .org("Alpha", &[("alice@alpha.test", "admin")])
        .await;
    let r = w
        .app
        .call(
            "invitations/invite",
            Some(w.token("alice")),
            &[
                ("org_id", &w.org("Alpha").to_string()),
                ("email", "fay@example.test"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let link = r.json()["link"]
        .as_str()
        .expect("the link, to pass on")
        .to_string();
    let token = link.split("token=").nth(1).expect("a token");
    // The link never follows the request's Host header (the caller chooses it).
    let spoofed = w
        .app
        .send(server::testing::server_fn_request(
            "invitations/invite",
            Some(w.token("alice")),
            &[
                ("org_id", &w.org("Alpha").to_string()),
                ("email", "gil@example.test"),
                ("role", "member"),
            ],
            &[("host", "203.0.113.9")],
        ))
        .await;
    assert_eq!(spoofed.status, 200, "{}", spoofed.body);
    let spoofed_link = spoofed.json()["link"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        spoofed_link.starts_with("http://tenantry.test/invitations/accept?token="),
        "{spoofed_link}"
    );
    let queued: i64 = sqlx::query_scalar("select count(*) from email_outbox")
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(queued, 0);
    let accepted = w
        .app
        .call(
            "invitations/accept_invitation",
            None,
            &[
                ("token", token),
                ("name", "Fay"),
                ("password", NEW_PASSWORD),
            ],
        )
        .await;
    assert!(accepted.status < 400, "{accepted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_loses_the_org_at_the_next_request_and_the_last_owner_stays() {
    let w = World::build()
        .org(
            "Alpha",
            &[
                ("olga@alpha.test", "owner"),
                ("alice@alpha.test", "admin"),
                ("mo@alpha.test", "member"),
            ],
        )
        .await;
    let alpha = w.org("Alpha").to_string();
    let before = w
        .app
        .call("orgs/current_org", Some(w.token("mo")), &[])
        .await;
    assert_eq!(before.status, 200, "{}", before.body);
    let remove = |who: &'static str, by: &'static str| {
        let (alpha, w) = (alpha.clone(), &w);
        async move {
            w.app
                .call(
                    "members/remove_member",
                    Some(w.token(by)),
                    &[("org_id", &alpha), ("user_id", &w.user(who).to_string())],
                )
                .await
        }
    };
    // An admin cannot remove an owner; the last owner cannot be removed, even by themselves.
    assert_eq!(remove("olga", "alice").await.status, 403);
    let last = remove("olga", "olga").await;
    assert_eq!(last.status, 409, "{}", last.body);
    assert!(last.body.contains("last owner"), "{}", last.body);

    let removed = remove("mo", "alice").await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    // The same token, the very next request: refused.
    let after = w
        .app
        .call("orgs/current_org", Some(w.token("mo")), &[])
        .await;
    assert_eq!(after.status, 403, "{}", after.body);
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where org_id = $1 and action = 'membership.remove'",
    )
    .bind(w.org("Alpha"))
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    // Removing them again: no such membership.
    assert_eq!(remove("mo", "alice").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_ends_with_its_inviters_authority_and_needs_an_active_org() {
    let w = World::build()
        .org(
            "Alpha",
            &[("olga@alpha.test", "owner"), ("alice@alpha.test", "admin")],
        )
        .await;
    let alpha = w.org("Alpha").to_string();
    let invite = |email: &'static str, by: &'static str| {
        let (alpha, w) = (alpha.clone(), &w);
        async move {
            let r = w
                .app
                .call(
                    "invitations/invite",
                    Some(w.token(by)),
                    &[("org_id", &alpha), ("email", email), ("role", "admin")],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let link = r.json()["link"].as_str().unwrap().to_string();
            link.split("token=").nth(1).unwrap().to_string()
        }
    };
    let accept = |token: String| {
        let w = &w;
        async move {
            w.app
                .call(
                    "invitations/accept_invitation",
                    None,
                    &[
                        ("token", &token),
                        ("name", "Newcomer"),
                        ("password", NEW_PASSWORD),
                    ],
                )
                .await
        }
    };
    // alice invites her second address as an admin, then is removed: the invitation goes too.
    let alt = invite("alice.alt@example.test", "alice").await;
    let removed = w
        .app
        .call(
            "members/remove_member",
            Some(w.token("olga")),
            &[
                ("org_id", &alpha),
                ("user_id", &w.user("alice").to_string()),
            ],
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    let r = accept(alt).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("withdrawn"), "{}", r.body);

    // An inviter disabled since: refused.
    let later = invite("later@example.test", "olga").await;
    sqlx::query("update app_user set status = 'disabled' where user_id = $1")
        .bind(w.user("olga"))
        .execute(&w.app.owner)
        .await
        .unwrap();
    let r = accept(later.clone()).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("can no longer invite"), "{}", r.body);
    sqlx::query("update app_user set status = 'active' where user_id = $1")
        .bind(w.user("olga"))
        .execute(&w.app.owner)
        .await
        .unwrap();
    // A disabled org takes no new members.
    sqlx::query("update organization set status = 'disabled' where org_id = $1")
        .bind(w.org("Alpha"))
        .execute(&w.app.owner)
        .await
        .unwrap();
    let r = accept(later).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("not taking new members"), "{}", r.body);
    let made: i64 =
        sqlx::query_scalar("select count(*) from app_user where email like '%@example.test'")
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(made, 0);
}

/// An org may queue at most 200 emails an hour: the next invitation is refused, saying why,
/// and nothing of it is kept.
#[tokio::test]
async fn an_org_sends_at_most_two_hundred_emails_an_hour() {
    let smtp = SmtpServer::start();
    let w = world_with_mail(&smtp).await;
    let alpha = w.org("Alpha");
    // 199 sent this hour, and one more by an invitation: the allowance is used up.
    sqlx::query(
        "insert into email_outbox (org_id, recipient, subject, body, sent_at)
         select $1, 'x' || g || '@example.test', 's', '', now() from generate_series(1, 199) g",
    )
    .bind(alpha)
    .execute(&w.app.owner)
    .await
    .unwrap();
    let last = invite(&w, w.token("alice"), "last@example.test", "member").await;
    assert_eq!(last.status, 200, "{}", last.body);
    let over = invite(&w, w.token("alice"), "over@example.test", "member").await;
    assert_eq!(over.status, 429, "{}", over.body);
    assert!(
        over.body.contains("200 emails in the last hour"),
        "{}",
        over.body
    );
    let kept: i64 =
        sqlx::query_scalar("select count(*) from invitation where email = 'over@example.test'")
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(kept, 0, "the refused invitation is not half-made");
    // Another org's allowance is its own.
    let beta = w
        .app
        .call(
            "invitations/invite",
            Some(w.token("bob")),
            &[
                ("org_id", &w.org("Beta").to_string()),
                ("email", "beta-guest@example.test"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(beta.status, 200, "{}", beta.body);
}
