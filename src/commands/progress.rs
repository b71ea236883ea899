//! How an apply's progress shows: a bar or lines on stderr, or JSON events on stdout.

use super::out;
use crate::apply::{self, Event, Progress};
use crate::diag::{Diagnostics, error_text, render_by_kind, separated};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress on stderr: a bar on a terminal, one line per batch otherwise (CI logs).
pub struct StderrProgress {
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
    /// Undos in a row that ended alike, said in one line when the run ends.
    undos: Option<UndoRun>,
}

/// Consecutive undos with the same outcome: the first, how many, the error if they failed.
struct UndoRun {
    first: String,
    count: usize,
    error: Option<String>,
}

impl std::fmt::Display for UndoRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let more = match self.count {
            1 => String::new(),
            n => format!(" (and {} more)", separated(n - 1)),
        };
        match &self.error {
            None => write!(f, "undone: {}{more}", self.first),
            Some(error) => write!(f, "UNDO FAILED: {}{more}: {error}", self.first),
        }
    }
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
            undos: None,
        }
    }

    /// Says the run of undos so far.
    fn end_undos(&mut self) {
        if let Some(run) = self.undos.take() {
            self.say(&run.to_string());
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
        if !matches!(event, Event::Undone { .. }) {
            self.end_undos();
        }
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
            Event::Probed {
                probe,
                through,
                outcome,
            } => {
                let verdict = if outcome.passed { "ok" } else { "FAILED" };
                self.say(&format!(
                    "probe {} {}: {verdict}, {outcome}",
                    probe.server_text(),
                    apply::way(through, probe)
                ));
            }
            Event::Failed(error) => {
                if let Some(diagnostics) = replan_diagnostics(error) {
                    self.say(&diagnostics);
                }
                self.say(&format!("error: {}\nRolling back.", error_text(error)));
            }
            Event::Undone { undo, error } => {
                let error = error.map(|e| error_text(e));
                match &mut self.undos {
                    Some(run) if run.error == error => run.count += 1,
                    _ => {
                        self.end_undos();
                        self.undos = Some(UndoRun {
                            first: undo.to_string(),
                            count: 1,
                            error,
                        });
                    }
                }
            }
        }
    }
}

impl Drop for StderrProgress {
    fn drop(&mut self) {
        self.end_undos();
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
        Event::Probed {
            probe,
            through,
            outcome,
        } => {
            let mut line = json!({
                "event": "probe",
                "address": probe.address,
                "server": probe.server.to_string(),
                "via": if *through { "vip" } else { "direct" },
                "outcome": outcome,
            });
            if *through {
                let (vip, port) = probe.vip();
                line["through"] = json!(crate::model::SocketText(vip, port).to_string());
                line["mode"] = json!(probe.forwarding.mode());
            }
            if let Some(director) = &probe.director {
                line["director"] = json!(director);
            }
            line
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
    let empty = apply::Left::default();
    let (status, left) = match outcome {
        Ok(()) => ("applied", &empty),
        Err(failure) if failure.left.is_empty() => ("rolled_back", &empty),
        Err(failure) => ("rollback_failed", &*failure.left),
    };
    let summary = json!({"add": add, "change": change, "destroy": destroy});
    let reasons: Vec<Value> = (left.reasons.iter())
        .map(|(error, count)| json!({"error": error, "count": count}))
        .collect();
    json!({
        "event": "result",
        "status": status,
        "summary": summary,
        "left": left.items,
        "in_doubt": left.in_doubt,
        "reasons": reasons,
    })
}
