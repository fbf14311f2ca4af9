//! The tenancy gate: which organization a request is for, whether the caller may act in it, and
//! the only way to reach tenant data. Built up piece by piece; see ../shared/DESIGN.md.

#[cfg(feature = "ssr")]
pub mod agent;
#[cfg(feature = "ssr")]
pub mod gate;
pub mod host;
