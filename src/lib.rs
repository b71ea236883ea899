//! lvsform: Terraform for Linux Virtual Server.
//!
//! The configuration (`config`) evaluates HCL into the desired `model::State`; later stages
//! observe the live state into the same type and plan the difference.

pub mod address;
pub mod agent;
pub mod apply;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod config;
pub mod defaults;
pub mod diag;
pub mod director;
pub mod fmt;
pub mod host;
pub mod import;
pub mod ipvs;
pub mod keepalived;
pub mod lock;
pub mod log;
pub mod model;
pub mod parallel;
pub mod plan;
pub mod planfile;
pub mod probe;
pub mod show;
