//! The people, orgs and agents a test starts from, made through the same endpoints a browser
//! and an agent use, and looked up by name: one builder instead of a `World` per test file.
//!
//! ```ignore
//! let w = World::build()
//!     .org("Alpha", &[("alice@alpha.test", "admin")])
//!     .org("Beta", &[("bob@beta.test", "owner")])
//!     .agent("Alpha Agent", "Alpha")
//!     .await;
//! w.app.call("orgs/get_org", Some(w.token("alice")), &[("org_id", &w.org("Alpha").to_string())]);
//! ```

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use uuid::Uuid;

use super::TestApp;

/// A platform for one test: the app, its superadmin `root@platform.test` signed in, and the
/// orgs, members and agents the builder named.
pub struct World {
    pub app: TestApp,
    /// The superadmin's session token.
    pub root: String,
    orgs: Vec<(String, Uuid)>,
    /// (email, user id, session token)
    people: Vec<(String, Uuid, String)>,
    /// (name, agent id, API key)
    agents: Vec<(String, Uuid, String)>,
}

/// What a [`World`] holds before it is made: awaiting it makes it.
#[derive(Default)]
#[must_use = "a world is made when awaited"]
pub struct WorldBuilder {
    /// (name, members as (email, role))
    orgs: Vec<(String, Vec<(String, String)>)>,
    /// (name, org name)
    agents: Vec<(String, Option<String>)>,
    /// Adjusts the app's services before it is made (SMTP, say).
    configure: Option<Box<dyn FnOnce(&mut app::context::Services)>>,
}

impl World {
    pub fn build() -> WorldBuilder {
        WorldBuilder::default()
    }

    /// The two-org platform most tests start from: Alpha with its admin alice, Beta with its
    /// admin bob.
    pub async fn alpha_beta() -> World {
        Self::build()
            .org("Alpha", &[("alice@alpha.test", "admin")])
            .org("Beta", &[("bob@beta.test", "admin")])
            .await
    }

    /// The org named `name`.
    pub fn org(&self, name: &str) -> Uuid {
        lookup(&self.orgs, name, "org", |(n, _)| n, |(_, id)| *id)
    }

    /// The session token of the person whose email starts `<local>@`, signed in and acting in
    /// their first org.
    pub fn token(&self, local: &str) -> &str {
        lookup(&self.people, local, "person", local_part, |(_, _, t)| {
            t.as_str()
        })
    }

    /// The user id of the person whose email starts `<local>@`.
    pub fn user(&self, local: &str) -> Uuid {
        lookup(&self.people, local, "person", local_part, |(_, id, _)| *id)
    }

    /// The id of the agent named `name`.
    pub fn agent(&self, name: &str) -> Uuid {
        lookup(&self.agents, name, "agent", |(n, _, _)| n, |(_, id, _)| *id)
    }

    /// The API key of the agent named `name`.
    pub fn key(&self, name: &str) -> &str {
        lookup(
            &self.agents,
            name,
            "agent",
            |(n, _, _)| n,
            |(_, _, k)| k.as_str(),
        )
    }
}

fn local_part((email, _, _): &(String, Uuid, String)) -> &str {
    email.split('@').next().unwrap_or_default()
}

fn lookup<'a, T, K: AsRef<str> + ?Sized + 'a, V>(
    items: &'a [T],
    name: &str,
    kind: &str,
    key: impl Fn(&'a T) -> &'a K,
    value: impl Fn(&'a T) -> V,
) -> V {
    items
        .iter()
        .find(|item| key(item).as_ref() == name)
        .map(value)
        .unwrap_or_else(|| panic!("this test's world has no {kind} named {name:?}"))
}

impl WorldBuilder {
    /// An org named `name` (domain `<first word of name>.example`, lower-cased), with each
    /// `(email, role)` a member, signed in.
    pub fn org(mut self, name: &str, members: &[(&str, &str)]) -> Self {
        let members = members
            .iter()
            .map(|(e, r)| (e.to_string(), r.to_string()))
            .collect();
        self.orgs.push((name.to_string(), members));
        self
    }

    /// An agent named `name`, assigned to the org named `org` (or to none).
    pub fn agent(mut self, name: &str, org: Option<&str>) -> Self {
        self.agents
            .push((name.to_string(), org.map(str::to_string)));
        self
    }

    /// The app's services adjusted by `configure` (an SMTP server, say).
    pub fn services(
        mut self,
        configure: impl FnOnce(&mut app::context::Services) + 'static,
    ) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    async fn make(mut self) -> World {
        let app = match self.configure.take() {
            Some(configure) => TestApp::with_services(configure).await,
            None => TestApp::new().await,
        };
        let root = app.root().await;
        let mut world = World {
            app,
            root,
            orgs: Vec::new(),
            people: Vec::new(),
            agents: Vec::new(),
        };
        for (name, members) in self.orgs {
            let first = name.split_whitespace().next().unwrap_or_default();
            let domain = format!("{}.example", first.to_lowercase());
            let org = world.app.create_org(&world.root, &name, &domain).await;
            for (email, role) in members {
                let user = match world.people.iter().find(|(e, _, _)| *e == email) {
                    Some((_, user, _)) => *user,
                    None => {
                        let user = world.app.user(&email, false, None).await;
                        world.people.push((email.clone(), user, String::new()));
                        user
                    }
                };
                world.app.add_member(org, user, &role).await;
            }
            world.orgs.push((name, org));
        }
        // Signed in after every membership exists: each lands in their first org.
        for person in &mut world.people {
            person.2 = world.app.sign_in(&person.0).await;
        }
        for (name, org) in self.agents {
            let org = org.map(|org| world.org(&org));
            let (id, key) = world.app.agent(&world.root, &name, org).await;
            world.agents.push((name, id, key));
        }
        world
    }
}

impl IntoFuture for WorldBuilder {
    type Output = World;
    type IntoFuture = Pin<Box<dyn Future<Output = World>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.make())
    }
}
