//! Who may do what (DESIGN.md, "Authority"): the one list of sections, the levels a role holds
//! in them, and what each endpoint needs. The gate ([`super::gate`]) enforces a need; the
//! authorization matrix test calls every endpoint as every kind of caller and compares the
//! answers with [`need_of`] and [`Grant::allows`], so this file is the contract.
//!
//! Compiled for the browser too: the sidebar and the permission editor list [`Section::ALL`].

use serde::{Deserialize, Serialize};

/// An Admin App section. The same list is the database's (`platform.section`, checked by a
/// test), the sidebar's, the roles' and the checks'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Section {
    Organizations,
    Users,
    Products,
    Agents,
    Knowledge,
    Guardrails,
    Billing,
    Audit,
    Settings,
}

impl Section {
    pub const ALL: [Section; 9] = [
        Section::Organizations,
        Section::Users,
        Section::Products,
        Section::Agents,
        Section::Knowledge,
        Section::Guardrails,
        Section::Billing,
        Section::Audit,
        Section::Settings,
    ];

    /// The stored and submitted name.
    pub fn key(self) -> &'static str {
        match self {
            Section::Organizations => "organizations",
            Section::Users => "users",
            Section::Products => "products",
            Section::Agents => "agents",
            Section::Knowledge => "knowledge",
            Section::Guardrails => "guardrails",
            Section::Billing => "billing",
            Section::Audit => "audit",
            Section::Settings => "settings",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Section::Organizations => "Organizations",
            Section::Users => "Users",
            Section::Products => "Products",
            Section::Agents => "Agents",
            Section::Knowledge => "Knowledge",
            Section::Guardrails => "Guardrails",
            Section::Billing => "Billing",
            Section::Audit => "Audit",
            Section::Settings => "Settings",
        }
    }

    pub fn from_key(key: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.key() == key)
    }

    /// The known sections among `keys`, in list order; unknown names are dropped.
    pub fn parse_all<S: AsRef<str>>(keys: &[S]) -> Vec<Section> {
        Section::ALL
            .into_iter()
            .filter(|s| keys.iter().any(|k| k.as_ref() == s.key()))
            .collect()
    }
}

/// How much a caller may do in a section: read it, write their own content in it, or
/// administer it (its configuration and other people's content).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Read,
    Write,
    Admin,
}

/// The built-in roles, strongest first, with the level each holds in the sections it may open
/// and the sections it opens by default. Custom roles write in their sections, like `member`.
pub const BUILTIN_ROLES: [(&str, Level, &[Section]); 6] = [
    ("owner", Level::Admin, &Section::ALL),
    ("admin", Level::Admin, &Section::ALL),
    (
        "manager",
        Level::Write,
        &[
            Section::Users,
            Section::Products,
            Section::Agents,
            Section::Knowledge,
            Section::Guardrails,
            Section::Audit,
        ],
    ),
    (
        "member",
        Level::Write,
        &[Section::Agents, Section::Knowledge],
    ),
    (
        "viewer",
        Level::Read,
        &[Section::Agents, Section::Knowledge],
    ),
    ("guest", Level::Read, &[]),
];

/// The level `role` holds in the sections it may open.
pub fn role_level(role: &str) -> Level {
    BUILTIN_ROLES
        .iter()
        .find(|(name, _, _)| *name == role)
        .map(|(_, level, _)| *level)
        .unwrap_or(Level::Write)
}

/// Whether `role` administers its org (owners and admins).
pub fn is_admin_role(role: &str) -> bool {
    role_level(role) == Level::Admin
}

/// What one caller holds in one org.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    pub superadmin: bool,
    /// `None`: not a member (a superadmin acting in the org).
    pub role: Option<String>,
    /// The sections the membership opens (its own list, else its role's).
    pub sections: Vec<Section>,
}

impl Grant {
    /// Whether this caller may act in `section` at `level`. Superadmins may do anything in any
    /// org; members only in their sections, up to their role's level. Closed by default.
    pub fn allows(&self, section: Section, level: Level) -> bool {
        if self.superadmin {
            return true;
        }
        match &self.role {
            Some(role) => self.sections.contains(&section) && role_level(role) >= level,
            None => false,
        }
    }

    pub fn is_owner(&self) -> bool {
        self.role.as_deref() == Some("owner")
    }
}

/// What an endpoint requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, signed in or not (sign-in, registration, the session probe).
    Public,
    /// Any signed-in person, whichever org they act in (or none).
    SignedIn,
    /// A member of the org acting in (any role), or a superadmin.
    Member,
    /// A section at a level, in the org acting in (superadmins: any org).
    Section(Section, Level),
    /// A platform superadmin.
    Platform,
    /// An agent with a live key, in the org it is assigned to.
    Agent,
}

impl Need {
    /// Whether `grant` (a signed-in person's, in the org acting in) satisfies this need.
    pub fn allows(self, grant: &Grant) -> bool {
        match self {
            Need::Public | Need::SignedIn => true,
            Need::Member => grant.superadmin || grant.role.is_some(),
            Need::Section(section, level) => grant.allows(section, level),
            Need::Platform => grant.superadmin,
            Need::Agent => false,
        }
    }
}

use Level::{Admin, Read, Write};
use Need::{Agent, Member, Platform, Public, SignedIn};
use Section::{Agents, Audit, Guardrails, Knowledge, Organizations, Users};

const fn section(section: Section, level: Level) -> Need {
    Need::Section(section, level)
}

/// Every endpoint's need, in one place: server functions by path, pages by route, and the
/// routes outside Leptos (`crate::routes`: the agent API, webhooks, progress streams) as
/// `METHOD path`. An endpoint missing here is refused by the gate (closed by
/// default) and fails the matrix test.
pub const NEEDS: &[(&str, Need)] = &[
    // Signing in and the session itself.
    ("/api/auth/current_session", Public),
    ("/api/auth/sign_in", Public),
    ("/api/auth/sign_out", Public),
    ("/api/auth/register", Public),
    ("/api/auth/registration_open", Public),
    ("/api/auth/create_first_superadmin", Public),
    ("/api/auth/switch_org", SignedIn),
    ("/api/home/check_database", SignedIn),
    // Your account: your own password and sessions, whoever you are.
    ("/api/account/my_account", SignedIn),
    ("/api/account/change_password", SignedIn),
    ("/api/account/revoke_session", SignedIn),
    ("/api/account/sign_out_others", SignedIn),
    // The audit log: an org's admins read their org's, superadmins the platform's.
    ("/api/audit/org_events", section(Audit, Admin)),
    ("/api/audit/platform_events", Platform),
    // The isolation evidence: the platform's.
    ("/api/isolation/isolation_checks", Platform),
    // Organizations: the list shows what the caller manages; entitlements are the platform's.
    ("/api/orgs/list_orgs", SignedIn),
    // Usage analytics, from the org's ClickHouse database.
    (
        "/api/analytics/org_analytics",
        section(Section::Billing, Read),
    ),
    ("/api/orgs/current_org", Member),
    ("/api/orgs/create_org", Platform),
    ("/api/orgs/org_header", Member),
    ("/api/orgs/org_overview", section(Organizations, Read)),
    ("/api/orgs/get_org", section(Organizations, Read)),
    ("/api/orgs/update_org", section(Organizations, Admin)),
    ("/api/orgs/disable_org", section(Organizations, Admin)),
    ("/api/orgs/enable_org", Platform),
    ("/api/orgs/delete_org", Platform),
    ("/api/orgs/add_role", section(Users, Admin)),
    ("/api/orgs/remove_role", section(Users, Admin)),
    // Custom domains: an org's admins claim and prove them; only proven ones route.
    ("/api/domains/list_domains", section(Organizations, Read)),
    ("/api/domains/add_domain", section(Organizations, Admin)),
    ("/api/domains/check_domain", section(Organizations, Admin)),
    ("/api/domains/remove_domain", section(Organizations, Admin)),
    ("/api/domains/domain_conflicts", Platform),
    // Users and memberships.
    ("/api/members/list_users", section(Users, Admin)),
    ("/api/members/get_user", section(Users, Admin)),
    ("/api/members/org_members", section(Users, Admin)),
    ("/api/members/create_user", section(Users, Admin)),
    ("/api/members/update_user", section(Users, Admin)),
    ("/api/members/set_membership", section(Users, Admin)),
    ("/api/members/remove_member", section(Users, Admin)),
    // Invitations: sent by the org's user admins; the link's holder sees and accepts it.
    ("/api/invitations/list_invitations", section(Users, Admin)),
    ("/api/invitations/invite", section(Users, Admin)),
    ("/api/invitations/resend_invitation", section(Users, Admin)),
    ("/api/invitations/revoke_invitation", section(Users, Admin)),
    ("/api/invitations/invitation_details", Public),
    ("/api/invitations/accept_invitation", Public),
    // Agents: the registry and the unassigned pool are the platform's.
    ("/api/agents/list_agents", section(Agents, Read)),
    ("/api/agents/org_agents", section(Agents, Read)),
    ("/api/agents/create_agent", Platform),
    ("/api/agents/issue_key", Platform),
    ("/api/agents/agent_keys", Platform),
    ("/api/agents/revoke_key", Platform),
    ("/api/agents/assign_agent", Platform),
    ("/api/agents/unassign_agent", section(Agents, Admin)),
    ("/api/credentials/list_credentials", section(Agents, Admin)),
    ("/api/credentials/save_credential", section(Agents, Admin)),
    ("/api/credentials/delete_credential", section(Agents, Admin)),
    // LLM keys: the org's are configuration; a member's own are theirs.
    ("/api/llm_keys/save_llm_key", section(Agents, Admin)),
    ("/api/llm_keys/delete_llm_key", section(Agents, Admin)),
    ("/api/llm_keys/set_allow_user_keys", section(Agents, Admin)),
    ("/api/llm_keys/own_llm_keys", Member),
    ("/api/llm_keys/save_own_llm_key", Member),
    ("/api/llm_keys/delete_own_llm_key", Member),
    // Knowledge: entries are written by members, changed by their author or an admin.
    ("/api/knowledge/list_entries", section(Knowledge, Read)),
    ("/api/knowledge/get_entry", section(Knowledge, Read)),
    ("/api/knowledge/save_entry", section(Knowledge, Write)),
    ("/api/knowledge/delete_entry", section(Knowledge, Write)),
    ("/api/knowledge/mark_platform_owner", Platform),
    // Guardrails.
    ("/api/guardrails/list_policies", section(Guardrails, Read)),
    (
        "/api/guardrails/list_interventions",
        section(Guardrails, Read),
    ),
    ("/api/guardrails/save_policy", section(Guardrails, Admin)),
    ("/api/guardrails/delete_policy", section(Guardrails, Admin)),
    // Products: the catalog is public to the signed-in; installing is the org's admins'.
    ("/api/products/catalog", SignedIn),
    (
        "/api/products/org_products",
        section(Section::Products, Read),
    ),
    ("/api/products/install", section(Section::Products, Admin)),
    (
        "/api/products/uninstall_preview",
        section(Section::Products, Admin),
    ),
    ("/api/products/uninstall", section(Section::Products, Admin)),
    ("/api/products/retry_run", section(Section::Products, Admin)),
    (
        "/api/products/roll_back_run",
        section(Section::Products, Admin),
    ),
    (
        "/api/products/stop_upgrade",
        section(Section::Products, Admin),
    ),
    // Billing: rates, prices and plans are entitlements; the org's tab is read-only to it.
    ("/api/billing/org_billing", section(Section::Billing, Read)),
    ("/api/billing/update_subscription", Platform),
    ("/api/billing/set_default_rate", Platform),
    ("/api/billing/set_agent_rate", Platform),
    ("/api/billing/overview", Platform),
    ("/api/billing/model_prices", Platform),
    ("/api/billing/save_model_price", Platform),
    ("/api/billing/delete_model_price", Platform),
    ("/api/billing/save_plan", Platform),
    ("/api/billing/delete_plan", Platform),
    ("/api/billing/start_stripe_subscription", Platform),
    // Pages.
    ("/sign-in", Public),
    ("/setup", Public),
    ("/register", Public),
    ("/invitations/accept", Public),
    ("/", SignedIn),
    ("/organizations", SignedIn),
    ("/organizations/new", Platform),
    // The org detail view: one page per tab, each needing what its data needs.
    ("/organizations/:id", section(Organizations, Read)),
    ("/organizations/:id/members", section(Users, Admin)),
    ("/organizations/:id/agents", section(Agents, Read)),
    ("/organizations/:id/credentials", section(Agents, Admin)),
    (
        "/organizations/:id/billing",
        section(Section::Billing, Read),
    ),
    (
        "/organizations/:id/products",
        section(Section::Products, Read),
    ),
    (
        "/organizations/:id/analytics",
        section(Section::Billing, Read),
    ),
    ("/organizations/:id/domains", section(Organizations, Read)),
    ("/organizations/:id/edit", section(Organizations, Admin)),
    (
        "/organizations/:id/confirm/:action",
        section(Organizations, Admin),
    ),
    ("/agents", section(Agents, Read)),
    ("/agents/:id", Platform),
    ("/knowledge", section(Knowledge, Read)),
    ("/knowledge/:id", section(Knowledge, Read)),
    ("/guardrails", section(Guardrails, Read)),
    ("/guardrails/:id", section(Guardrails, Admin)),
    ("/products", section(Section::Products, Read)),
    ("/billing", Platform),
    ("/llm-keys", SignedIn),
    ("/account", SignedIn),
    ("/audit", section(Audit, Admin)),
    ("/isolation", Platform),
    ("/settings", Platform),
    ("/users", section(Users, Admin)),
    ("/users/new", section(Users, Admin)),
    ("/users/:id", section(Users, Admin)),
    // The agent API.
    ("GET /api/v1/agent", Agent),
    ("GET /api/v1/memory", Agent),
    ("POST /api/v1/memory", Agent),
    ("POST /api/v1/guardrails/evaluate", Agent),
    ("GET /api/v1/knowledge/search", Agent),
    ("POST /api/v1/credentials/reveal", Agent),
    ("POST /api/v1/usage", Agent),
    ("GET /api/v1/llm-key", Agent),
    // A run's progress stream, in the caller's session like the Products tab it feeds.
    (
        "GET /api/events/product-runs/{org_id}/{run_id}",
        section(Section::Products, Read),
    ),
    // The audit log as CSV, streamed, filtered as the viewer filters it.
    (
        "GET /api/audit/orgs/{org_id}/export.csv",
        section(Audit, Admin),
    ),
    ("GET /api/audit/platform-export.csv", Platform),
    ("GET /api/platform/isolation-report.html", Platform),
    // Stripe's webhook: anyone may post, only a valid signature is acted on.
    ("POST /webhooks/stripe", Public),
];

/// The declared need of an endpoint (a server function's path, a page's route pattern, or
/// `METHOD path` of an agent API route).
pub fn need_of(endpoint: &str) -> Option<Need> {
    NEEDS
        .iter()
        .find(|(name, _)| *name == endpoint)
        .map(|(_, need)| *need)
}

/// The page route pattern (as in [`NEEDS`]) that `path` is an address of.
pub fn page_pattern(path: &str) -> Option<&'static str> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let segments: Vec<&str> = path.split('/').collect();
    NEEDS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| name.starts_with('/') && !name.starts_with("/api/"))
        .find(|pattern| {
            let parts: Vec<&str> = pattern.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || (p.starts_with(':') && !s.is_empty()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_reaches_exactly_its_level() {
        let grant = |role: &str, sections: &[Section]| Grant {
            superadmin: false,
            role: Some(role.to_string()),
            sections: sections.to_vec(),
        };
        let viewer = grant("viewer", &[Knowledge]);
        assert!(viewer.allows(Knowledge, Read));
        assert!(!viewer.allows(Knowledge, Write));
        let member = grant("member", &[Knowledge]);
        assert!(member.allows(Knowledge, Write));
        assert!(!member.allows(Knowledge, Admin));
        assert!(!member.allows(Guardrails, Read));
        let admin = grant("admin", &[Knowledge]);
        assert!(admin.allows(Knowledge, Admin));
        assert!(
            !admin.allows(Users, Read),
            "a narrowed admin stays narrowed"
        );
        assert!(!Grant::default().allows(Knowledge, Read));
        let root = Grant {
            superadmin: true,
            ..Grant::default()
        };
        assert!(root.allows(Section::Billing, Admin));
        assert!(grant("custom-role", &[Knowledge]).allows(Knowledge, Write));
    }

    #[test]
    fn pages_match_their_patterns() {
        assert_eq!(page_pattern("/"), Some("/"));
        assert_eq!(page_pattern("/organizations/"), Some("/organizations"));
        assert_eq!(
            page_pattern("/organizations/new"),
            Some("/organizations/new")
        );
        assert_eq!(
            page_pattern("/organizations/abc"),
            Some("/organizations/:id")
        );
        assert_eq!(
            page_pattern("/organizations/abc/confirm/delete"),
            Some("/organizations/:id/confirm/:action")
        );
        assert_eq!(page_pattern("/nowhere"), None);
        assert_eq!(page_pattern("/api/orgs/list_orgs"), None);
    }

    #[test]
    fn every_endpoint_is_declared_once() {
        let mut names: Vec<&str> = NEEDS.iter().map(|(n, _)| *n).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "an endpoint is declared twice");
    }
}
