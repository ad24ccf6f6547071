//! The `waakvlam` binary's library: the command line, the configuration of the daemon, the
//! store, the scheduling core, delivery, the HTTP API and reload. It builds on `waakvlam-core`
//! (the pure engine) and `waakvlam-plugin-host` (the only `unsafe`), and has none of its own.
//!
//! See ARCHITECTURE.md for the map of this crate.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod csv;
pub mod delivery;
pub mod dutch;
pub mod guard;
pub mod ijw;
pub mod leadership;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod mounts;
pub mod oidc;
pub mod openapi;
pub mod reload;
pub mod report;
pub mod run;
pub mod scheduler;
pub mod scope;
pub mod store;
pub mod tokens;
pub mod warnings;
pub mod web;
pub mod whatif;
