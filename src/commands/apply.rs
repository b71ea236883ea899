//! `lvsform apply` and `lvsform destroy`: plan, ask, carry out; and `apply PLANFILE`.

use super::progress::{JsonProgress, StderrProgress, result_json};
use super::session::{Access, Run, Session, plan_json, show_plan};
use super::{Options, Refusal, Status, View, fail, out, report};
use crate::apply::{Cancel, Left, Progress};
use crate::backend::Connector;
use crate::config::Inputs;
use crate::diag::{Diagnostics, separated};
use crate::plan::Goal;
use crate::planfile::{self, PlanFile};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

pub struct ApplyOptions {
    pub auto_approve: bool,
    pub drain: bool,
    pub lock_timeout: Duration,
}

pub fn apply(
    connector: &dyn Connector,
    options: &Options,
    apply_options: &ApplyOptions,
    goal: Goal,
) -> Status {
    let Ok((mut session, tables, warnings)) =
        Session::open(options, access(apply_options), connector)
    else {
        return Status::Failed;
    };
    let Ok((observed, plan)) = session.plan(tables, goal, &options.directors) else {
        return Status::Failed;
    };
    let plan = plan.targeted(&session.config, &options.targets);
    let json = options.view == View::Json;
    if json {
        // Events, one JSON object per line: the plan first.
        let mut event = plan_json(&plan, &warnings);
        event["event"] = serde_json::json!("plan");
        out(&format!("{event}\n"));
    } else {
        crate::log::timed("plan shown", || {
            show_plan(&plan, &warnings, View::Human, options.color)
        });
    }
    if plan.is_empty() {
        return Status::Done;
    }
    if !apply_options.auto_approve && !confirmed() {
        return Status::Failed;
    }
    let run = Run {
        observed,
        plan: &plan,
        goal,
        targets: &options.targets,
        drain: apply_options.drain,
    };
    carry_out(&mut session, run, json)
}

/// `apply PLANFILE`: no question (the plan was reviewed when it was made), but a refusal
/// when the configuration or the live state has moved since.
pub fn apply_saved(
    connector: &dyn Connector,
    path: &std::path::Path,
    json: bool,
    color: bool,
    apply_options: &ApplyOptions,
) -> Status {
    let file = match PlanFile::read(path) {
        Ok(file) => file,
        Err(e) => {
            fail(&e);
            return Status::Failed;
        }
    };
    let options = Options {
        dir: file.dir.clone(),
        inputs: Inputs::from_env(file.vars.clone()),
        view: View::Human,
        color,
        targets: vec![],
        // The run reaches the directors the plan was made for.
        directors: file.directors.clone(),
    };
    let Ok((mut session, tables, _)) = Session::open(&options, access(apply_options), connector)
    else {
        return Status::Failed;
    };
    if planfile::desired(&session.config) != file.desired {
        fail(&Refusal::ConfigurationMoved {
            dir: file.dir.display().to_string(),
        });
        return Status::Failed;
    }
    let Ok(observed) = session.observe(tables) else {
        return Status::Failed;
    };
    let record = planfile::record(&observed);
    if planfile::fingerprint(&record) != file.fingerprint {
        fail(&Refusal::LiveStateMoved {
            moved: planfile::moved(&file.observed, &record).join(", "),
        });
        return Status::Failed;
    }
    // The steps in the file are never run: anyone could have edited them. The plan is made
    // again from the configuration and the state just read, and runs only if it is the
    // plan that was reviewed.
    let config = &session.config;
    let plan = match crate::plan::make(config, &observed, Goal::Converge, &file.directors) {
        Ok(plan) => plan.targeted(config, &file.targets),
        Err(diags) => {
            report(&Diagnostics(diags), color);
            return Status::Failed;
        }
    };
    let differences = planfile::differences(&file.plan, &plan);
    if !differences.is_empty() {
        fail(&Refusal::PlanDiffers {
            what: differences.join(", "),
        });
        return Status::Failed;
    }
    if plan.is_empty() {
        eprintln!("No changes. Live state matches the configuration.");
        return Status::Done;
    }
    let run = Run {
        observed,
        plan: &plan,
        goal: Goal::Converge,
        targets: &file.targets,
        drain: apply_options.drain,
    };
    carry_out(&mut session, run, json)
}

fn access(apply_options: &ApplyOptions) -> Access {
    Access::Apply {
        lock_timeout: apply_options.lock_timeout,
    }
}

/// Executes a plan, verifies that nothing is left to do, and rolls back otherwise.
fn carry_out(session: &mut Session, run: Run, json: bool) -> Status {
    // Ctrl-C and SIGTERM stop the apply between steps; what was done is rolled back.
    let cancel = Cancel::default();
    let on_signal = cancel.clone();
    if let Err(e) = ctrlc::set_handler(move || on_signal.cancel()) {
        crate::log::debug(|| format!("no interrupt handler: {e}"));
    }
    let plan = run.plan;
    let mut reporter: Box<dyn Progress> = if json {
        Box::new(JsonProgress)
    } else {
        Box::new(StderrProgress::new(plan.steps().len()))
    };
    let outcome = session.apply(run, reporter.as_mut(), &cancel);
    drop(reporter); // the bar goes before the outcome is printed
    let (add, change, destroy) = plan.summary();
    if json {
        out(&format!(
            "{}\n",
            result_json(&outcome, (add, change, destroy))
        ));
    }
    match outcome {
        Ok(()) => {
            if !json {
                eprintln!(
                    "Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed."
                );
            }
            Status::Done
        }
        Err(failure) => rollback_outcome(&failure.left),
    }
}

fn rollback_outcome(left: &Left) -> Status {
    if left.is_empty() {
        eprintln!("Everything was rolled back; the live state is as it was.");
        return Status::Failed;
    }
    eprintln!("error: the rollback could not restore everything, because:");
    for (reason, count) in &left.reasons {
        let reason = reason.replace('\n', "\n    ");
        eprintln!("  - {reason} ({} undos)", separated(*count));
    }
    let lists = [
        ("Left as the failed apply made it", &left.items),
        (
            "In doubt: sent, but whether they took effect is unknown (their answer was lost); each as what would undo it",
            &left.in_doubt,
        ),
    ];
    for (title, items) in lists.into_iter().filter(|(_, items)| !items.is_empty()) {
        eprintln!("{title} ({}):", separated(items.len()));
        for item in items {
            eprintln!("  - {item}");
        }
    }
    eprintln!(
        "Run `lvsform plan` once every director and real server answers: it shows what differs from the configuration."
    );
    Status::RollbackIncomplete
}

/// Asks on a terminal; refuses when standard input is not one.
fn confirmed() -> bool {
    if !std::io::stdin().is_terminal() {
        fail(&Refusal::NoTerminal);
        return false;
    }
    eprint!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        true
    } else {
        eprintln!("Apply cancelled.");
        false
    }
}
