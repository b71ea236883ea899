//! Plans for people (Terraform's shape) and for machines (`--json`), both rendered from the
//! same `ResourceChange` list so that they cannot disagree.

use super::{Action, Plan, ResourceChange};
use crate::model::SocketText;
use crate::parallel::for_each_parallel;
use serde_json::{Value, json};
use std::fmt::Write;

pub fn json(plan: &Plan) -> Value {
    let (add, change, destroy) = plan.summary();
    let mut document = json!({
        "format_version": "1",
        "changes": plan.changes.iter().map(|c| {
            let mut change = json!({
                "address": c.address,
                "action": c.action,
                "before": c.before,
                "after": c.after,
                "impact": c.impact,
            });
            if let Some(director) = &c.director {
                change["director"] = json!(director);
            }
            change
        }).collect::<Vec<_>>(),
        "summary": {"add": add, "change": change, "destroy": destroy},
        "warnings": plan.warnings,
    });
    if !plan.held_down.is_empty() {
        document["held_down"] = json!(plan.held_down);
    }
    if !plan.vrrp.is_empty() {
        document["vrrp"] = json!(plan.vrrp);
    }
    if !plan.probes.is_empty() {
        document["probes"] = plan.probes.iter().map(probe_json).collect();
    }
    document
}

/// A planned probe as `plan --json` shows it.
pub fn probe_json(probe: &crate::probe::PlannedProbe) -> Value {
    let (vip, port) = probe.vip();
    let through = SocketText(vip, port).to_string();
    let mut value = json!({
        "address": probe.address,
        "server": probe.server.to_string(),
        "through": through,
        "mode": probe.forwarding.mode(),
        "check": probe.probe.check,
        "timeout_ms": probe.probe.timeout.as_millis() as u64,
        "direct_first": probe.gate,
    });
    if let Some(director) = &probe.director {
        value["director"] = json!(director);
    }
    value
}

/// The probes apply will run, said after the plan.
pub fn probes(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.probes.is_empty() {
        out.push_str("\nApply will probe (a failure stops it, or rolls it back):\n");
        for probe in &plan.probes {
            let _ = writeln!(out, "  - {}", probe.plan_line());
        }
    }
    out
}

/// The real servers keepalived holds down and who holds the VRRP VIPs, said after the
/// plan (or its "No changes").
pub fn held_down(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.vrrp.is_empty() {
        out.push_str("\nVRRP (keepalived):\n");
        for line in &plan.vrrp {
            let _ = writeln!(out, "  - {line}");
        }
    }
    if !plan.held_down.is_empty() {
        out.push_str("\nHeld down by keepalived's health checks (not drift, nothing to apply):\n");
        for line in &plan.held_down {
            let _ = writeln!(out, "  - {line}");
        }
    }
    out
}

struct Style {
    color: bool,
}

impl Style {
    /// Appends `text` to `out`, in colour `code` on a terminal.
    fn paint(&self, out: &mut String, code: &str, text: impl std::fmt::Display) {
        if self.color {
            let _ = write!(out, "\x1b[{code}m{text}\x1b[0m");
        } else {
            let _ = write!(out, "{text}");
        }
    }
}

/// The sign, colour and words of an action.
pub(super) fn symbol(action: Action) -> (&'static str, &'static str, &'static str) {
    match action {
        Action::Create => ("+", "32", "will be created"),
        Action::Update => ("~", "33", "will be updated in place"),
        Action::Delete => ("-", "31", "will be destroyed"),
        Action::Replace => ("-/+", "35", "must be replaced"),
    }
}

/// A value as HCL shows it: strings quoted, the rest as JSON.
pub(super) struct Text<'a>(pub(super) &'a Value);

impl std::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Fast paths for what plans are made of (serde_json's Display serializes).
        match self.0 {
            Value::String(s) if !s.contains(|c: char| c == '"' || c == '\\' || c.is_control()) => {
                write!(f, "\"{s}\"")
            }
            Value::String(s) => write!(f, "{s:?}"),
            Value::Number(n) if n.is_u64() => write!(f, "{}", n.as_u64().unwrap_or_default()),
            Value::Bool(b) => write!(f, "{b}"),
            other => write!(f, "{other}"),
        }
    }
}

pub fn human(plan: &Plan, color: bool) -> String {
    human_parts(plan, color).concat()
}

/// The human form in consecutive parts, to be written one after the other (a plan of
/// tens of thousands of changes is megabytes of text: no need to join it first).
pub fn human_parts(plan: &Plan, color: bool) -> Vec<String> {
    let style = Style { color };
    if plan.is_empty() {
        return vec![
            "No changes. Live state matches the configuration.\n".into(),
            held_down(plan),
        ];
    }
    let mut parts = Vec::new();
    if !plan.changes.is_empty() {
        parts.push("lvsform will perform the following actions:\n".to_string());
    }
    // A plan from an empty table has a block for each of tens of thousands of real
    // servers: they are rendered in chunks on all cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = plan.changes.len().div_ceil(cores).max(4096);
    let mut chunks: Vec<(usize, &[ResourceChange])> = plan
        .changes
        .chunks(chunk)
        .enumerate()
        .map(|(i, changes)| (i * chunk, changes))
        .collect();
    parts.extend(for_each_parallel(&mut chunks, cores, |(start, changes)| {
        // About what a real server's block takes, to spare the regrowing.
        let mut text = String::with_capacity(changes.len() * 320);
        for (i, change) in changes.iter().enumerate() {
            // Under named directors, each director's changes, then the real servers', are
            // a section of their own.
            let previous = (*start + i)
                .checked_sub(1)
                .map(|p| &plan.changes[p].director);
            if change.director != *previous.unwrap_or(&None) {
                section(&mut text, change.director.as_deref(), &style);
            }
            block(&mut text, change, &style);
        }
        text
    }));
    let mut out = String::new();
    for warning in &plan.warnings {
        let _ = writeln!(out, "\nWarning: {warning}");
    }
    out.push_str(&held_down(plan));
    out.push_str(&probes(plan));
    let (add, change, destroy) = plan.summary();
    let _ = writeln!(
        out,
        "\nPlan: {add} to add, {change} to change, {destroy} to destroy."
    );
    parts.push(out);
    parts
}

/// The heading of a named director's changes, or of the real servers' after them.
fn section(out: &mut String, director: Option<&str>, style: &Style) {
    out.push('\n');
    match director {
        Some(name) => style.paint(out, "1", format!("── director \"{name}\" ──")),
        None => style.paint(out, "1", "── real servers (every director) ──"),
    }
    out.push('\n');
}

/// One change: its header, then its attributes (unchanged ones and nulls left out).
fn block(out: &mut String, change: &ResourceChange, style: &Style) {
    let (sign, code, verb) = symbol(change.action);
    let _ = writeln!(out, "\n  # {} {verb}", change.address);
    out.push_str("  ");
    match &change.impact {
        Some(impact) => style.paint(
            out,
            code,
            format_args!("{sign} {}  ({impact})", change.address),
        ),
        None => style.paint(out, code, format_args!("{sign} {}", change.address)),
    }
    out.push('\n');
    let (width, attributes) = attributes(change);
    for attribute in attributes {
        let mut line = |code: &str, text: std::fmt::Arguments| {
            out.push_str("      ");
            style.paint(out, code, text);
            out.push('\n');
        };
        match attribute {
            Attribute::File(diff) => {
                for text in diff.lines() {
                    let code = match text.chars().next() {
                        Some('+') if !text.starts_with("+++") => "32",
                        Some('-') if !text.starts_with("---") => "31",
                        _ => "0",
                    };
                    line(code, format_args!("{text}"));
                }
            }
            Attribute::Changed {
                key,
                old,
                new,
                forces,
            } => {
                let note = if forces { "  # forces replacement" } else { "" };
                line(
                    "33",
                    format_args!("~ {key:<width$} = {} -> {}{note}", Text(old), Text(new)),
                );
            }
            Attribute::Added { key, new } => {
                line("32", format_args!("+ {key:<width$} = {}", Text(new)))
            }
            Attribute::Removed { key, old } => {
                line("31", format_args!("- {key:<width$} = {}", Text(old)))
            }
        }
    }
}

/// A shown attribute of a change.
pub(super) enum Attribute<'a> {
    /// A file's change, as a unified diff.
    File(String),
    Changed {
        key: &'a str,
        old: &'a Value,
        new: &'a Value,
        /// Its change forces the replacement of the resource.
        forces: bool,
    },
    Added {
        key: &'a str,
        new: &'a Value,
    },
    Removed {
        key: &'a str,
        old: &'a Value,
    },
}

/// The width of the change's longest attribute name, and its attributes as shown: in
/// name order, unchanged ones and nulls left out.
pub(super) fn attributes(change: &ResourceChange) -> (usize, Vec<Attribute<'_>>) {
    static EMPTY: std::sync::LazyLock<serde_json::Map<String, Value>> =
        std::sync::LazyLock::new(serde_json::Map::new);
    let before = change.before.as_ref().and_then(Value::as_object);
    let after = change.after.as_ref().and_then(Value::as_object);
    let (before, after) = (before.unwrap_or(&EMPTY), after.unwrap_or(&EMPTY));
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    let shown = keys.into_iter().filter_map(|key| {
        let (old, new) = (before.get(key), after.get(key));
        if let Some(diff) = file_diff(key, old, new) {
            return Some(Attribute::File(diff));
        }
        match (old, new) {
            (Some(b), Some(a)) if b == a => None,
            (Some(old), Some(new)) if change.action != Action::Create => Some(Attribute::Changed {
                key,
                old,
                new,
                forces: change.forces_replacement.contains(key),
            }),
            (_, Some(Value::Null)) | (Some(Value::Null), None) | (None, None) => None,
            (_, Some(new)) => Some(Attribute::Added { key, new }),
            (Some(old), None) => Some(Attribute::Removed { key, old }),
        }
    });
    (width, shown.collect())
}

/// A file's change as a unified diff (persistence files are multi-line strings).
fn file_diff(path: &str, before: Option<&Value>, after: Option<&Value>) -> Option<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let (old, new) = (text(before), text(after));
    if !path.starts_with('/') || (!old.contains('\n') && !new.contains('\n')) {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&old, &new);
    let mut unified = diff.unified_diff();
    Some(unified.context_radius(2).header(path, path).to_string())
}
