//! vpnaas-strongswan: strongSwan's dialect. `render` turns a desired connection of the gateway
//! contract (ADR 0003) into what charon loads, as VICI messages or as swanctl.conf text, and
//! checks it against what a running charon can do; `vici` is charon's protocol and an async
//! client over its Unix socket; `peer` and `libreswan` export the remote site's side of a
//! connection (ADR 0019). Rendering is pure; only `vici::Client` does I/O.

pub mod libreswan;
pub mod peer;
pub mod render;
pub mod swanctl;
pub mod vici;
