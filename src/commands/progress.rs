//! How an apply's progress shows: a bar or lines on stderr, or JSON events on stdout.

use super::out;
use crate::apply::{self, Event, Progress};
use crate::diag::{Diagnostics, error_text, render_by_kind};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress on stderr: a bar on a terminal, one line per batch otherwise (CI logs).
pub struct StderrProgress {
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl StderrProgress {
    /// `total`: the number of steps.
    pub fn new(total: usize) -> StderrProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} steps, {elapsed}: {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = indicatif::ProgressBar::new(total as u64).with_style(style);
            // Drains wait for connections to end: the spinner shows lvsform is alive.
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        StderrProgress {
            start: Instant::now(),
            bar,
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl Progress for StderrProgress {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Started(batch) => {
                if let Some(bar) = &self.bar {
                    bar.set_message(batch.to_string());
                }
            }
            Event::Finished { batch, done, total } => match &self.bar {
                Some(bar) => bar.set_position(done as u64),
                None => eprintln!(
                    "[{done}/{total}] {batch} ({:.1}s)",
                    self.start.elapsed().as_secs_f64()
                ),
            },
            Event::Verifying => {
                if let Some(bar) = &self.bar {
                    bar.set_message("reading back what changed");
                }
            }
            Event::Failed(error) => {
                if let Some(diagnostics) = replan_diagnostics(error) {
                    self.say(&diagnostics);
                }
                self.say(&format!("error: {}\nRolling back.", error_text(error)));
            }
            Event::Undone { undo, error: None } => self.say(&format!("undone: {undo}")),
            Event::Undone {
                undo,
                error: Some(e),
            } => self.say(&format!("UNDO FAILED: {undo}: {}", error_text(e))),
        }
    }
}

impl Drop for StderrProgress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Why the state read back after an apply could not be planned against.
fn replan_diagnostics(error: &apply::Error) -> Option<String> {
    match error {
        apply::Error::ReadBack { diagnostics, .. } if !diagnostics.is_empty() => {
            let text = render_by_kind(&Diagnostics(diagnostics.clone()), false);
            Some(text.trim_end().to_string())
        }
        _ => None,
    }
}

/// `apply --json`: one JSON object per line on stdout for every step, failure and undo.
pub struct JsonProgress;

impl Progress for JsonProgress {
    fn event(&mut self, event: Event<'_>) {
        if let Event::Failed(error) = &event
            && let Some(diagnostics) = replan_diagnostics(error)
        {
            eprintln!("{diagnostics}");
        }
        if let Some(line) = event_json(&event) {
            out(&format!("{line}\n"));
        }
    }
}

/// An event as `apply --json` prints it (docs/schemas/apply-events.schema.json); none for
/// a batch that starts or the verification.
pub(super) fn event_json(event: &Event<'_>) -> Option<Value> {
    Some(match event {
        Event::Finished { batch, done, total } => {
            json!({"event": "step", "done": done, "total": total, "what": batch.to_string()})
        }
        Event::Failed(error) => json!({"event": "failed", "error": error_text(*error)}),
        Event::Undone { undo, error } => json!({
            "event": "undo",
            "what": undo.to_string(),
            "ok": error.is_none(),
            "error": error.map(|e| error_text(e)),
        }),
        Event::Started(_) | Event::Verifying => return None,
    })
}

/// The last line of `apply --json`: how the apply ended, its counts, what is left.
pub fn result_json(
    outcome: &Result<(), apply::Failure>,
    (add, change, destroy): (usize, usize, usize),
) -> Value {
    let (status, left) = match outcome {
        Ok(()) => ("applied", vec![]),
        Err(failure) if failure.left.is_empty() => ("rolled_back", vec![]),
        Err(failure) => ("rollback_failed", failure.left.clone()),
    };
    let summary = json!({"add": add, "change": change, "destroy": destroy});
    json!({"event": "result", "status": status, "summary": summary, "left": left})
}
