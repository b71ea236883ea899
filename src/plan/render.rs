//! Plans for people (Terraform's shape) and for machines (`--json`), both rendered from the
//! same `ResourceChange` list so that they cannot disagree.

use super::{Action, Plan};
use serde_json::{Value, json};
use std::fmt::Write;

pub fn json(plan: &Plan) -> Value {
    let (add, change, destroy) = plan.summary();
    json!({
        "format_version": "1",
        "changes": plan.changes.iter().map(|c| json!({
            "address": c.address,
            "action": c.action,
            "before": c.before,
            "after": c.after,
            "impact": c.impact,
        })).collect::<Vec<_>>(),
        "summary": {"add": add, "change": change, "destroy": destroy},
        "warnings": plan.warnings,
    })
}

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn symbol(action: Action) -> (&'static str, &'static str, &'static str) {
    match action {
        Action::Create => ("+", "32", "will be created"),
        Action::Update => ("~", "33", "will be updated in place"),
        Action::Delete => ("-", "31", "will be destroyed"),
        Action::Replace => ("-/+", "35", "must be replaced"),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

pub fn human(plan: &Plan, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("No changes. Live state matches the configuration.\n");
        return out;
    }
    if !plan.changes.is_empty() {
        out.push_str("lvsform will perform the following actions:\n");
    }
    for change in &plan.changes {
        let (sign, code, verb) = symbol(change.action);
        let _ = writeln!(out, "\n  # {} {verb}", change.address);
        let mut head = format!("{sign} {}", change.address);
        if let Some(impact) = &change.impact {
            let _ = write!(head, "  ({impact})");
        }
        let _ = writeln!(out, "  {}", style.paint(code, &head));
        let empty = serde_json::Map::new();
        let before = change
            .before
            .as_ref()
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let after = change
            .after
            .as_ref()
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
        for key in keys {
            if let Some(diff) = file_diff(key, before.get(key), after.get(key)) {
                for line in diff.lines() {
                    let code = match line.chars().next() {
                        Some('+') if !line.starts_with("+++") => "32",
                        Some('-') if !line.starts_with("---") => "31",
                        _ => "0",
                    };
                    let _ = writeln!(out, "      {}", style.paint(code, line));
                }
                continue;
            }
            let line = match (before.get(key), after.get(key)) {
                (Some(b), Some(a)) if b == a => continue,
                (Some(b), Some(a)) if change.action == Action::Update => style.paint(
                    "33",
                    &format!("~ {key:<width$} = {} -> {}", text(b), text(a)),
                ),
                (_, Some(a)) => style.paint("32", &format!("+ {key:<width$} = {}", text(a))),
                (Some(b), None) => style.paint("31", &format!("- {key:<width$} = {}", text(b))),
                (None, None) => continue,
            };
            let _ = writeln!(out, "      {line}");
        }
    }
    for warning in &plan.warnings {
        let _ = writeln!(out, "\nWarning: {warning}");
    }
    let (add, change, destroy) = plan.summary();
    let _ = writeln!(
        out,
        "\nPlan: {add} to add, {change} to change, {destroy} to destroy."
    );
    out
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
