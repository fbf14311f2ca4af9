//! Your account: the sessions you have (this one marked), signing out another or all others
//! (refused on their very next request), and changing the password (the current one checked,
//! field errors, every other session signed out, the new password signs in). One audit event
//! each; nobody reaches another person's sessions.

use server::testing::{TestResponse, World, TEST_PASSWORD};

const NEW_PASSWORD: &str = "a changed password 42";

async fn account(w: &World, token: &str) -> TestResponse {
    w.app.call("account/my_account", Some(token), &[]).await
}

async fn revoke(w: &World, token: &str, session_id: &str) -> TestResponse {
    w.app
        .call(
            "account/revoke_session",
            Some(token),
            &[("session_id", session_id)],
        )
        .await
}

fn other_session_id(response: &TestResponse) -> String {
    response.json()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .expect("another session")["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn account_events(w: &World) -> Vec<String> {
    sqlx::query_scalar(
        "select action from audit_event
          where actor_user_id = $1 and (action like 'session.%' or action like 'password.%')
          order by audit_event_id",
    )
    .bind(w.user("alice"))
    .fetch_all(&w.app.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn sessions_are_listed_and_another_is_signed_out_at_once() {
    let w = World::alpha_beta().await;
    let here = w.token("alice").to_string();
    let laptop = w.app.sign_in("alice@alpha.test").await;
    let mine = account(&w, &here).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.json()["email"], "alice@alpha.test");
    let sessions = mine.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let laptop_id = other_session_id(&mine);

    // Not this session, not a forged id, not someone else's.
    let this_id = sessions.iter().find(|s| s["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let own = revoke(&w, &here, &this_id).await;
    assert_eq!(own.status, 400, "{}", own.body);
    assert!(own.body.contains("sign out instead"), "{}", own.body);
    let forged = revoke(&w, &here, "nope").await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let bobs = account(&w, w.token("bob")).await;
    let bobs_id = bobs.json()["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stolen = revoke(&w, &here, &bobs_id).await;
    assert_eq!(stolen.status, 404, "{}", stolen.body);
    assert_eq!(
        account(&w, w.token("bob")).await.status,
        200,
        "bob is still signed in"
    );

    let revoked = revoke(&w, &here, &laptop_id).await;
    assert!(revoked.status < 400, "{}", revoked.body);
    assert_eq!(
        account(&w, &laptop).await.status,
        401,
        "the laptop is signed out"
    );
    assert_eq!(account(&w, &here).await.status, 200, "this session goes on");

    // Sign out everywhere else.
    let phone = w.app.sign_in("alice@alpha.test").await;
    let tablet = w.app.sign_in("alice@alpha.test").await;
    let all = w
        .app
        .call("account/sign_out_others", Some(&here), &[])
        .await;
    assert!(all.status < 400, "{}", all.body);
    assert_eq!(account(&w, &phone).await.status, 401);
    assert_eq!(account(&w, &tablet).await.status, 401);
    assert_eq!(
        account(&w, &here).await.json()["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        account_events(&w).await,
        ["session.revoke", "session.revoke_others"]
    );
}

#[tokio::test]
async fn changing_the_password_checks_the_current_one_and_signs_out_the_rest() {
    let w = World::alpha_beta().await;
    let here = w.token("alice").to_string();
    let elsewhere = w.app.sign_in("alice@alpha.test").await;
    let change = |current: &'static str, new: &'static str, confirm: &'static str| {
        let here = here.clone();
        let app = &w.app;
        async move {
            app.call(
                "account/change_password",
                Some(&here),
                &[
                    ("current_password", current),
                    ("new_password", new),
                    ("confirm_password", confirm),
                ],
            )
            .await
        }
    };
    for (current, new, confirm, field) in [
        ("", NEW_PASSWORD, NEW_PASSWORD, "current_password"),
        (TEST_PASSWORD, "short", "short", "new_password"),
        (TEST_PASSWORD, TEST_PASSWORD, TEST_PASSWORD, "new_password"),
        (
            TEST_PASSWORD,
            NEW_PASSWORD,
            "something else",
            "confirm_password",
        ),
        (
            "not my password",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "current_password",
        ),
    ] {
        let refused = change(current, new, confirm).await;
        assert_eq!(refused.status, 400, "{field}: {}", refused.body);
        assert!(
            refused.json()["Validation"][field].is_array(),
            "{field}: {}",
            refused.body
        );
    }
    assert_eq!(
        account(&w, &elsewhere).await.status,
        200,
        "nothing changed yet"
    );

    let changed = change(TEST_PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert!(changed.status < 400, "{}", changed.body);
    assert_eq!(
        account(&w, &elsewhere).await.status,
        401,
        "other sessions end"
    );
    // This browser goes on under a new session; a copy of its old cookie is dead.
    let renewed = changed.session_cookie().expect("a renewed session cookie");
    assert_ne!(renewed, here);
    assert_eq!(
        account(&w, &here).await.status,
        401,
        "the old token of this session ends"
    );
    let now = account(&w, &renewed).await;
    assert_eq!(now.status, 200, "{}", now.body);
    assert_eq!(now.json()["sessions"].as_array().unwrap().len(), 1);
    let old = w
        .app
        .call(
            "auth/sign_in",
            None,
            &[("email", "alice@alpha.test"), ("password", TEST_PASSWORD)],
        )
        .await;
    assert!(old.session_cookie().is_none(), "the old password is dead");
    let new = w
        .app
        .call(
            "auth/sign_in",
            None,
            &[("email", "alice@alpha.test"), ("password", NEW_PASSWORD)],
        )
        .await;
    assert!(new.session_cookie().is_some(), "{}", new.body);
    assert_eq!(
        account_events(&w).await,
        ["password.change_failed", "password.change"],
        "the wrong current password is recorded too"
    );
}

#[tokio::test]
async fn guesses_of_the_current_password_share_the_sign_in_limit() {
    let w = World::alpha_beta().await;
    let here = w.token("alice").to_string();
    let guess = || {
        w.app.call(
            "account/change_password",
            Some(&here),
            &[
                ("current_password", "a wrong guess"),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
    };
    for n in 0..5 {
        assert_eq!(guess().await.status, 400, "guess {n}");
    }
    assert_eq!(guess().await.status, 429, "the sixth guess waits");
    let sign_in = w
        .app
        .call(
            "auth/sign_in",
            None,
            &[("email", "alice@alpha.test"), ("password", TEST_PASSWORD)],
        )
        .await;
    assert_eq!(
        sign_in.status, 429,
        "one budget with sign-in: {}",
        sign_in.body
    );
    assert_eq!(account_events(&w).await.len(), 6);
}
