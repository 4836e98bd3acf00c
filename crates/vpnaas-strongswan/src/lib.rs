//! vpnaas-strongswan: strongSwan's dialect. `render` turns a desired connection of the gateway
//! contract (ADR 0003) into what charon loads, as VICI messages or as swanctl.conf text, and
//! checks it against what a running charon can do; `vici` is charon's protocol and an async
//! client over its Unix socket. Rendering is pure; only `vici::Client` does I/O.

pub mod render;
pub mod swanctl;
pub mod vici;
