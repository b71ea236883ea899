//! `lvsform validate`.

use super::{Status, out, report};
use crate::config::{self, Inputs};
use std::path::Path;

pub fn validate(dir: &Path, json: bool, inputs: &Inputs, color: bool) -> Status {
    let (config, diags) = config::load(dir, inputs);
    if json {
        let doc = serde_json::json!({
            "format_version": "1",
            "valid": config.is_some(),
            "error_count": diags.errors(),
            "warning_count": diags.warnings(),
            "diagnostics": diags.0.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
        });
        out(&format!("{doc:#}\n"));
    } else {
        report(&diags, color);
    }
    match config {
        Some(config) => {
            if !json {
                let servers: usize = config
                    .desired
                    .services
                    .values()
                    .map(|s| s.destinations.len())
                    .sum();
                out(&format!(
                    "The configuration is valid: {} virtual servers, {servers} real servers, {} managed hosts.\n",
                    config.desired.services.len(),
                    config.desired.hosts.len()
                ));
            }
            Status::Done
        }
        None => {
            if !json {
                eprintln!(
                    "{} error(s): the configuration is not valid.",
                    diags.errors()
                );
            }
            Status::Failed
        }
    }
}
