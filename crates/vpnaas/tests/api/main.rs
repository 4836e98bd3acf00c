//! Black-box tests of the vpnaas API: the real server on 127.0.0.1:0, a fresh SQLite file each.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code may panic

pub mod auth;
mod capacity;
mod certs;
mod cli;
mod connections;
mod detail;
mod discovery;
mod endpoint_groups;
mod fuzz;
mod galera;
mod gateway;
mod hardening;
mod inventory;
mod lists;
mod metrics;
mod networks;
mod neutron;
mod openapi;
mod peer_config;
mod policies;
mod profiles;
mod quotas;
mod replicas;
mod requests;
mod restart;
mod secrets;
mod support;
mod tenancy;
pub mod tls;
mod tunnel;
mod upgrade;
mod vpnservices;
