//! Every integration test in one binary: one link instead of one per file (each linked test
//! binary is over half a gigabyte), and one test PostgreSQL cluster for the whole run. Each
//! test still gets a database of its own (`server::testing`).

mod access_cache;
mod account;
mod agents;
mod audit;
mod audit_coverage;
mod authority;
mod billing;
mod cli;
mod crashes;
mod credentials;
mod database;
mod domains;
mod guardrails;
mod holes;
mod hostile;
mod invitations;
mod isolation;
mod knowledge;
mod llm_keys;
mod members;
mod orgs_edit;
mod orgs_page;
mod products;
mod round_trips;
mod sqlx_cache;
mod stores;
mod stripe;
mod tenancy;
