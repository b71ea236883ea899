//! The plan as a pull-request comment (`plan --markdown`, `show PLANFILE --markdown`): the
//! summary and a table of counts first, then what goes or is replaced with its live
//! connections, then one collapsible section per resource. It stays under GitHub's
//! comment limit by summarising what does not fit, and says so.

use super::render::{Attribute, Text, attributes, symbol};
use super::{Action, Plan, ResourceChange};
use std::fmt::Write;

/// GitHub's limit on a comment, in characters; bytes are counted, which is stricter.
pub const LIMIT: usize = 65_536;

/// What the closing line may take: the note on what was left out.
const CLOSING: usize = 400;

pub fn markdown(plan: &Plan) -> String {
    let mut out = String::from("## lvsform plan\n\n");
    if plan.is_empty() {
        out.push_str("No changes. Live state matches the configuration.\n");
        held_down(&mut out, plan);
        return out;
    }
    let (add, change, destroy) = plan.summary();
    let _ = writeln!(
        out,
        "**Plan: {add} to add, {change} to change, {destroy} to destroy.**\n"
    );
    out.push_str("| action | resources |\n|---|---:|\n");
    for action in [
        Action::Delete,
        Action::Replace,
        Action::Update,
        Action::Create,
    ] {
        let count = plan.changes.iter().filter(|c| c.action == action).count();
        if count > 0 {
            let _ = writeln!(out, "| {} | {count} |", verb(action));
        }
    }
    for warning in &plan.warnings {
        let _ = write!(out, "\n> **Warning:** {}\n", escape(warning));
    }
    held_down(&mut out, plan);
    probes(&mut out, plan);
    // Deletions and replacements first, then updates, then creations; each in plan order.
    let mut changes: Vec<&ResourceChange> = plan.changes.iter().collect();
    changes.sort_by_key(|c| match c.action {
        Action::Delete | Action::Replace => 0,
        Action::Update => 1,
        Action::Create => 2,
    });
    let going = changes
        .iter()
        .take_while(|c| matches!(c.action, Action::Delete | Action::Replace))
        .count();
    if going > 0 {
        out.push_str(
            "\n### Destroyed or replaced\n\n| resource | action | live now |\n|---|---|---|\n",
        );
        // Half of the room at most: the sections follow.
        let rows = changes[..going].iter().map(|c| {
            let impact = c.impact.as_deref().map(escape).unwrap_or_default();
            let address = escape(&c.address.to_string());
            format!(
                "| <code>{address}</code> | {} | {impact} |\n",
                verb(c.action)
            )
        });
        let shown = append_within(&mut out, rows, LIMIT / 2);
        if shown < going {
            let _ = writeln!(out, "| … | {} more | |", going - shown);
        }
    }
    out.push_str("\n### Changes\n");
    let sections = changes.iter().map(|c| section(c));
    let shown = append_within(&mut out, sections, LIMIT - CLOSING);
    if shown < changes.len() {
        let _ = write!(
            out,
            "\n**… and {} more resources not shown here** (a comment holds {LIMIT} characters): \
             the whole plan is in `lvsform show PLANFILE` or `lvsform plan`.\n",
            changes.len() - shown
        );
    }
    out
}

/// Appends parts while `out` stays within `limit` bytes; returns how many were.
fn append_within(out: &mut String, parts: impl Iterator<Item = String>, limit: usize) -> usize {
    let mut count = 0;
    for part in parts {
        if out.len() + part.len() > limit {
            break;
        }
        out.push_str(&part);
        count += 1;
    }
    count
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "destroy",
        Action::Replace => "replace",
    }
}

/// One resource: its address and impact as the summary, its attributes as a diff.
fn section(change: &ResourceChange) -> String {
    let (sign, _, words) = symbol(change.action);
    let mut body = String::new();
    let (width, shown) = attributes(change);
    for attribute in shown {
        let _ = match attribute {
            Attribute::File(diff) => write!(body, "{diff}"),
            Attribute::Changed {
                key,
                old,
                new,
                forces,
            } => {
                let note = if forces { "  # forces replacement" } else { "" };
                writeln!(
                    body,
                    "- {key:<width$} = {}\n+ {key:<width$} = {}{note}",
                    Text(old),
                    Text(new)
                )
            }
            Attribute::Added { key, new } => writeln!(body, "+ {key:<width$} = {}", Text(new)),
            Attribute::Removed { key, old } => writeln!(body, "- {key:<width$} = {}", Text(old)),
        };
    }
    let impact = change
        .impact
        .as_deref()
        .map(|i| format!(" ({})", html(i)))
        .unwrap_or_default();
    let mut text = format!(
        "\n<details><summary><code>{sign} {}</code> {words}{impact}</summary>\n\n",
        html(&change.address.to_string()),
    );
    if !body.is_empty() {
        let fence = fence(&body);
        let _ = write!(text, "{fence}diff\n{body}{fence}\n\n");
    }
    text.push_str("</details>\n");
    text
}

/// A code fence longer than any run of backticks in `body`, so that file contents
/// cannot close it.
fn fence(body: &str) -> String {
    let longest = body
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    "`".repeat(longest.max(2) + 1)
}

/// Text for HTML (the summary line of a section).
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Who holds the VRRP VIPs and the real servers keepalived holds down, as lists.
fn held_down(out: &mut String, plan: &Plan) {
    if !plan.vrrp.is_empty() {
        out.push_str("\nVRRP (keepalived):\n\n");
        for line in &plan.vrrp {
            let _ = writeln!(out, "- {}", escape(line));
        }
    }
    if !plan.held_down.is_empty() {
        out.push_str("\nHeld down by keepalived's health checks (not drift):\n\n");
        for line in &plan.held_down {
            let _ = writeln!(out, "- {}", escape(line));
        }
    }
}

/// The probes apply will run, as a list.
fn probes(out: &mut String, plan: &Plan) {
    if !plan.probes.is_empty() {
        out.push_str("\nApply will probe (a failure stops it, or rolls it back):\n\n");
        for probe in &plan.probes {
            let _ = writeln!(out, "- {}", escape(&probe.plan_line()));
        }
    }
}

/// Text for a table cell or a paragraph: no table breaks, no HTML.
fn escape(text: &str) -> String {
    html(text).replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use serde_json::json;

    fn change(i: usize, action: Action) -> ResourceChange {
        ResourceChange {
            address: Address::from(
                format!("virtual_server.web.real_server.n[\"10.1.{i}\"]").as_str(),
            ),
            action,
            before: Some(json!({"weight": 1, "/etc/x": "a\n```\nb\n"})),
            after: (action != Action::Delete)
                .then(|| json!({"weight": 2, "/etc/x": "a\n```\nc\n"})),
            impact: Some(format!("{i} active | 0 inactive connections")),
            forces_replacement: vec![],
            director: None,
            // A change with no steps would make an empty plan.
            steps: vec![(
                crate::plan::Phase::Director,
                crate::plan::Step::Director(crate::director::DirectorChange::SetSysctl {
                    name: "net.ipv4.ip_forward".into(),
                    value: "1".into(),
                    before: None,
                }),
            )],
        }
    }

    #[test]
    fn a_large_plan_stays_under_the_comment_limit_and_says_what_it_left_out() {
        let mut changes: Vec<ResourceChange> =
            (0..3000).map(|i| change(i, Action::Update)).collect();
        changes.push(change(9999, Action::Delete));
        let plan = Plan {
            changes,
            ..Plan::default()
        };
        let text = markdown(&plan);
        assert!(text.len() <= LIMIT, "{}", text.len());
        assert!(
            text.starts_with(
                "## lvsform plan\n\n**Plan: 0 to add, 3000 to change, 1 to destroy.**"
            )
        );
        let deletion = text.find("10.1.9999").unwrap();
        assert!(
            deletion < text.find("10.1.0\"").unwrap(),
            "what goes comes first"
        );
        assert!(
            text.contains("| 9999 active \\| 0 inactive connections |"),
            "cells are escaped"
        );
        let shown = text.matches("<details>").count();
        assert!(shown > 10 && shown < 3001, "{shown}");
        assert!(
            text.contains(&format!(
                "**… and {} more resources not shown here**",
                3001 - shown
            )),
            "{}",
            &text[text.len() - 300..]
        );
        // A file holding ``` does not end its fence.
        assert!(text.contains("````diff\n"));
        assert_eq!(markdown(&plan), text, "deterministic");
    }
}
