//! `plan` and `apply`: configuration, live state, plan, execution — wired to the real
//! backends, reported on stdout (data) and stderr (everything else).

use crate::apply::{self, Backends, LocalDirector, Progress};
use crate::cli::{EXIT_CHANGES, EXIT_ERROR, EXIT_OK, EXIT_ROLLBACK_FAILED, out, report};
use crate::config::{self, Config, Inputs};
use crate::host::{Host, SshHost};
use crate::ipvs::NetlinkIpvs;
use crate::plan::{self, Observed, Plan};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Options {
    pub dir: PathBuf,
    pub inputs: Inputs,
    pub json: bool,
    pub color: bool,
}

/// The configuration and the backends that reach what it describes.
struct Session {
    config: Config,
    ipvs: NetlinkIpvs,
    hosts: Vec<Box<dyn Host>>,
    director: LocalDirector,
}

impl Session {
    fn open(options: &Options) -> Result<Session, ()> {
        let (config, diags) = config::load(&options.dir, &options.inputs);
        report(&diags, options.color);
        let config = config.ok_or(())?;
        let ipvs = NetlinkIpvs::connect().map_err(|e| eprintln!("error: {e}"))?;
        let hosts = config
            .hosts
            .values()
            .map(|h| Box::new(SshHost::new(h.ssh.clone())) as Box<dyn Host>)
            .collect();
        Ok(Session {
            config,
            ipvs,
            hosts,
            director: LocalDirector,
        })
    }

    /// Splits the session into the configuration (read) and the backends (used).
    fn parts(&mut self, drain: bool) -> (&Config, Backends<'_>) {
        let backends = Backends {
            ipvs: &mut self.ipvs,
            hosts: &mut self.hosts,
            director: &mut self.director,
            parallelism: self.config.parallelism,
            drain,
        };
        (&self.config, backends)
    }
}

/// Reads the live state and plans against it; reports every problem on stderr.
fn make_plan(config: &Config, backends: &mut Backends) -> Result<(Observed, Plan), ()> {
    let observed = apply::observe(config, backends).map_err(|errors| {
        for e in errors {
            eprintln!("error: {e}");
        }
    })?;
    let plan = plan::diff(config, &observed)
        .map_err(|diags| report(&crate::diag::Diagnostics(diags), false))?;
    Ok((observed, plan))
}

fn show_plan(plan: &Plan, options: &Options) {
    if options.json {
        out(&format!("{:#}\n", plan::render::json(plan)));
    } else {
        out(&plan::render::human(
            plan,
            options.color && std::io::stdout().is_terminal(),
        ));
    }
}

pub fn plan(options: &Options, detailed_exitcode: bool) -> u8 {
    let Ok(mut session) = Session::open(options) else {
        return EXIT_ERROR;
    };
    let (config, mut backends) = session.parts(true);
    let Ok((_, plan)) = make_plan(config, &mut backends) else {
        return EXIT_ERROR;
    };
    show_plan(&plan, options);
    if detailed_exitcode && !plan.is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}

struct StderrProgress {
    start: Instant,
}

impl Progress for StderrProgress {
    fn step(&mut self, done: usize, total: usize, what: &str) {
        eprintln!(
            "[{done}/{total}] {what} ({:.1}s)",
            self.start.elapsed().as_secs_f64()
        );
    }

    fn failed(&mut self, error: &str) {
        eprintln!("error: {error}\nRolling back.");
    }

    fn undo(&mut self, what: &str, result: &Result<(), String>) {
        match result {
            Ok(()) => eprintln!("undone: {what}"),
            Err(e) => eprintln!("UNDO FAILED: {what}: {e}"),
        }
    }
}

pub struct ApplyOptions {
    pub auto_approve: bool,
    pub drain: bool,
    pub lock_timeout: Duration,
}

pub fn apply(options: &Options, apply_options: &ApplyOptions) -> u8 {
    let lock = match crate::lock::Lock::acquire(apply_options.lock_timeout) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let Ok(mut session) = Session::open(options) else {
        return EXIT_ERROR;
    };
    let (config, mut backends) = session.parts(apply_options.drain);
    let Ok((observed, plan)) = make_plan(config, &mut backends) else {
        return EXIT_ERROR;
    };
    show_plan(&plan, options);
    if plan.is_empty() {
        return EXIT_OK;
    }
    if !apply_options.auto_approve && !confirmed() {
        return EXIT_ERROR;
    }
    let mut progress = StderrProgress {
        start: Instant::now(),
    };
    let result = apply::execute(&plan.steps, &observed.table, &mut backends, &mut progress);
    let code = match result {
        Ok(journal) => match make_plan(config, &mut backends) {
            Ok((_, left)) if left.is_empty() => {
                let (add, change, destroy) = plan.summary();
                eprintln!(
                    "Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed."
                );
                EXIT_OK
            }
            verification => {
                let what = match verification {
                    Ok((_, left)) => format!("{} changes remain after applying", left.steps.len()),
                    Err(()) => "the live state cannot be read back".to_string(),
                };
                progress.failed(&format!("verification failed: {what}"));
                let left = journal.rollback(&mut backends, &mut progress);
                rollback_outcome(&left)
            }
        },
        Err(failure) => rollback_outcome(&failure.left),
    };
    drop(lock);
    code
}

fn rollback_outcome(left: &[String]) -> u8 {
    if left.is_empty() {
        eprintln!("Everything was rolled back; the live state is as it was.");
        EXIT_ERROR
    } else {
        eprintln!(
            "error: the rollback could not restore everything. Left as the failed apply made it:"
        );
        for item in left {
            eprintln!("  - {item}");
        }
        EXIT_ROLLBACK_FAILED
    }
}

/// Asks on a terminal; refuses when standard input is not one.
fn confirmed() -> bool {
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "error: apply needs confirmation, and standard input is not a terminal\n  help: review the plan, then run again with --auto-approve"
        );
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
