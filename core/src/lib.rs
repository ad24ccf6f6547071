//! Waakvlam's pure core: the legal calendar, the workflow language, events, the engine and the
//! simulate loop. No async runtime, no HTTP, no SQL, no dynamic loading and no `unsafe`: its
//! `Cargo.toml` does not have them, and `.ci/run` checks the dependency tree.
//!
//! See ARCHITECTURE.md for the map of this crate.
#![forbid(unsafe_code)]

pub mod calendar;
pub mod config;
pub mod engine;
pub mod event;
pub mod ijw;
pub mod overview;
pub mod problem;
pub mod report;
pub mod simulate;
pub mod suggest;
pub mod synthetic;
pub mod workflow;
pub mod yaml;
