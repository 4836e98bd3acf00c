//! vpnaas-agent: the gateway agent that runs a router's IPsec site connections in strongSwan's charon and reports their status.
//!
//! Functional core, imperative shell: `render` (desired connection → VICI messages) and
//! `reconcile` (desired vs loaded → actions) are pure; `vici` speaks charon's protocol,
//! `charon` puts the daemon behind a small trait, `engine` runs one convergence pass, and
//! `sync` is the loop that talks to the server (ADR 0003). `testbed` builds a two-site lab
//! for tests.

pub mod charon;
pub mod engine;
pub mod keystone;
pub mod reconcile;
pub mod render;
pub mod sync;
pub mod testbed;
pub mod vici;

pub use sync::{run, AgentOptions, Credential};
