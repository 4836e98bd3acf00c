//! vpnaas-agent: the gateway agent that runs a router's IPsec site connections in strongSwan's charon and reports their status.
//!
//! Functional core, imperative shell: rendering a desired connection and speaking VICI are
//! strongSwan's dialect (`vpnaas_strongswan`); `reconcile` (desired vs loaded → actions) is
//! pure, `charon` puts the daemon behind a small trait, `engine` runs one convergence pass, and
//! `sync` is the loop that talks to the server (ADR 0003). `testbed` (the cargo feature of
//! that name, for tests only) builds a two-site lab.

pub mod charon;
pub mod engine;
pub mod events;
pub mod host;
pub mod managed;
pub mod reconcile;
pub mod sync;
#[cfg(feature = "testbed")]
pub mod testbed;

pub use host::{run_host, HostCharons, HostOptions};
pub use sync::{run, AgentOptions, Credential, SetupError};
