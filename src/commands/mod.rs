//! The commands, wired to the real backends: each reports on stdout (data) and stderr
//! (everything else) and returns a status, which the command line turns into an exit code.

mod apply;
mod format;
mod import;
#[cfg(test)]
mod json_contract;
mod plan;
mod progress;
mod session;
mod show;
mod validate;

pub use apply::{ApplyOptions, apply, apply_saved};
pub use format::fmt;
pub use import::{ImportOptions, import};
pub use plan::plan;
pub use show::{NamedDirector, live_table, show, show_saved};
pub use validate::validate;

use crate::config::Inputs;
use crate::diag::{Diagnostics, error_text, render_by_kind};
use std::io::Write;
use std::path::PathBuf;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Done,
    /// An error; nothing changed, or everything was rolled back.
    Failed,
    /// A plan with `--detailed-exitcode` has changes.
    Changes,
    /// `fmt --check` found files to reformat.
    Unformatted,
    /// An apply failed and its rollback could not restore everything.
    RollbackIncomplete,
}

impl Status {
    /// The exit code, part of the interface (a CI pipeline branches on it).
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Done => 0,
            Status::Failed => 1,
            Status::Changes => 2,
            Status::Unformatted => 3,
            Status::RollbackIncomplete => 4,
        }
    }
}

/// A problem that was already reported on stderr.
#[derive(Debug)]
pub struct Reported;

/// Reports an error on stderr, with its help line and the errors it gathers.
pub fn fail(error: &dyn miette::Diagnostic) -> Reported {
    eprintln!("error: {}", error_text(error));
    Reported
}

/// What the commands themselves refuse to do.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Refusal {
    #[error("{dir} already holds a configuration ({file}); nothing was written")]
    #[diagnostic(help("import into an empty directory"))]
    ImportOverConfiguration { dir: String, file: String },
    #[error("the configuration in {dir} has changed since the plan was made; nothing was changed")]
    #[diagnostic(help("make the plan again"))]
    ConfigurationMoved { dir: String },
    #[error(
        "the plan is stale: the live state has changed since it was made ({moved}); nothing was changed"
    )]
    #[diagnostic(help("make the plan again"))]
    LiveStateMoved { moved: String },
    #[error("the plan file does not hold the plan lvsform makes now ({what}); nothing was changed")]
    #[diagnostic(help(
        "a plan file is applied only as it was made: make the plan again, and review it"
    ))]
    PlanDiffers { what: String },
    #[error(
        "a saved plan is applied as it was made: --var, --var-file and --target belong to `lvsform plan`"
    )]
    #[diagnostic(help("make the plan again with them: lvsform plan -o PLANFILE --target …"))]
    SavedPlanOptions,
    #[error("no director is named \"{name}\"")]
    #[diagnostic(help("the directors are: {known}"))]
    UnknownDirector { name: String, known: String },
    #[error("apply needs confirmation, and standard input is not a terminal")]
    #[diagnostic(help("review the plan, then run again with --auto-approve"))]
    NoTerminal,
}

pub struct Options {
    pub dir: PathBuf,
    pub inputs: Inputs,
    pub view: View,
    pub color: bool,
    /// `--target`: resource addresses to limit the plan to.
    pub targets: Vec<String>,
    /// `--director`: the named directors to limit the plan to.
    pub directors: Vec<String>,
}

/// How a plan is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Terraform's shape, for people.
    Human,
    /// One JSON document (for apply: one event per line).
    Json,
    /// A pull-request comment.
    Markdown,
}

/// Prints to stdout; a closed pipe (`| head`) is not an error.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Diagnostics on stderr, one kind at a time (the full list is in `--json`).
pub fn report(diags: &Diagnostics, color: bool) -> Reported {
    let _ = std::io::stderr()
        .lock()
        .write_all(render_by_kind(diags, color).as_bytes());
    Reported
}
