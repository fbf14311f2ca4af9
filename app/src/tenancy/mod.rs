//! The tenancy gate: which organization a request is for, whether the caller may act in it
//! (the need each endpoint declares in [`access`]), and the only way to reach tenant data.
//! See ../shared/DESIGN.md.

pub mod access;
#[cfg(feature = "ssr")]
pub mod agent;
#[cfg(feature = "ssr")]
pub mod gate;
pub mod host;
