//! Waakvlam: deadlines for Dutch youth care.
//!
//! See ARCHITECTURE.md for the map of this crate.
pub mod calendar;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod event;
pub mod load;
pub mod plugin;
pub mod problem;
pub mod scope;
pub mod simulate;
pub mod store;
pub mod suggest;
pub mod synthetic;
pub mod workflow;
pub mod yaml;
