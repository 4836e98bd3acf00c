//! vpnaas-core: the shared vocabulary of vpnaas (values, algorithms, resources, rules, faults), with no I/O.

pub mod algorithms;
pub mod allowed;
pub mod contract;
pub mod descriptor;
pub mod fault;
pub mod ha;
pub mod listing;
pub mod profile;
pub mod quota;
pub mod resources;
pub mod rules;
pub mod tunnel;
pub mod values;
pub mod wire;

pub use fault::{Class, Fault, Which};
