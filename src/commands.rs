//! `plan` and `apply`: configuration, live state, plan, execution — wired to the real
//! backends, reported on stdout (data) and stderr (everything else).

use crate::apply::{self, Backends, Cancel, Event, Progress};
use crate::cli::{EXIT_CHANGES, EXIT_ERROR, EXIT_OK, EXIT_ROLLBACK_FAILED, out, report};
use crate::config::{self, Config, Inputs};
use crate::diag::{Diagnostics, render_by_kind};
use crate::director::LocalDirector;
use crate::host::{Host, SshHost};
use crate::ipvs::{Ipvs, NetlinkIpvs};
use crate::plan::{self, Goal, Observed, Plan};
use crate::planfile::{self, PlanFile};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Options {
    pub dir: PathBuf,
    pub inputs: Inputs,
    pub json: bool,
    pub color: bool,
    /// `--target`: resource addresses to limit the plan to.
    pub targets: Vec<String>,
}

/// The configuration and the backends that reach what it describes.
struct Session {
    config: Config,
    ipvs: NetlinkIpvs,
    hosts: Vec<Box<dyn Host>>,
    director: LocalDirector,
}

impl Session {
    /// Loads the configuration and reads the live IPVS table, returned beside the session
    /// with the configuration's warnings (a configuration with errors opens no session).
    /// `load_ipvs`: when the kernel has no IPVS yet, load it (apply does; plan only reads).
    fn open(options: &Options, load_ipvs: bool) -> Result<(Session, LiveTable, Diagnostics), ()> {
        // Neither needs the other, so the table is dumped while the configuration is
        // evaluated: on a director with two cores a plan takes the longer of the two.
        let (loaded, live) = std::thread::scope(|scope| {
            let live = scope.spawn(|| {
                let mut ipvs = connect_ipvs(load_ipvs)?;
                // One core evaluates the configuration meanwhile.
                let all = ipvs.dump_sockets;
                ipvs.dump_sockets = all.saturating_sub(1);
                let table = crate::log::timed("live IPVS table read", || ipvs.observe())
                    .map_err(|e| e.to_string());
                ipvs.dump_sockets = all;
                Ok((ipvs, table))
            });
            let loaded = crate::log::timed("configuration loaded", || {
                config::load(&options.dir, &options.inputs)
            });
            let live = live
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (loaded, live)
        });
        let (config, diags) = loaded;
        report(&diags, options.color);
        let config = config.ok_or(())?;
        let (ipvs, table) = live.map_err(|e: crate::ipvs::IpvsError| eprintln!("error: {e}"))?;
        let hosts = config
            .hosts
            .values()
            .map(|h| Box::new(SshHost::new(h.ssh.clone())) as Box<dyn Host>)
            .collect();
        let session = Session {
            config,
            ipvs,
            hosts,
            director: LocalDirector,
        };
        Ok((session, table, diags))
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

/// The IPVS table as first read, or why it could not be.
type LiveTable = Result<crate::ipvs::Table, String>;

fn connect_ipvs(load_ipvs: bool) -> Result<NetlinkIpvs, crate::ipvs::IpvsError> {
    match NetlinkIpvs::connect() {
        Err(crate::ipvs::IpvsError::NoIpvs) if load_ipvs => {
            let loaded = std::process::Command::new("modprobe")
                .arg("ip_vs")
                .status()
                .is_ok_and(|s| s.success());
            crate::log::debug(|| {
                format!(
                    "modprobe ip_vs: {}",
                    if loaded { "loaded" } else { "failed" }
                )
            });
            NetlinkIpvs::connect()
        }
        other => other,
    }
}

/// Reads the rest of the live state and plans against it; reports every problem on stderr.
fn make_plan(
    config: &Config,
    backends: &mut Backends,
    table: LiveTable,
    goal: Goal,
) -> Result<(Observed, Plan), ()> {
    let start = Instant::now();
    let observed = apply::observe_with(config, backends, table).map_err(|errors| {
        for e in errors {
            eprintln!("error: {e}");
        }
    })?;
    let plan =
        plan::make(config, &observed, goal).map_err(|diags| report(&Diagnostics(diags), false))?;
    let ipvs_changes = plan
        .steps
        .iter()
        .filter(|(_, s)| matches!(s, plan::Step::Ipvs(_)))
        .count();
    crate::log::debug(|| {
        format!(
            "observed and planned in {:.2}s: {} steps, {ipvs_changes} of them IPVS changes (one netlink request each)",
            start.elapsed().as_secs_f64(),
            plan.steps.len()
        )
    });
    Ok((observed, plan))
}

/// The plan as one JSON document, with every warning of the configuration (stderr shows
/// one per kind).
fn plan_json(plan: &Plan, warnings: &Diagnostics) -> serde_json::Value {
    let mut doc = plan::render::json(plan);
    doc["diagnostics"] = warnings.0.iter().map(|d| d.to_json()).collect();
    doc
}

fn show_plan(plan: &Plan, warnings: &Diagnostics, options: &Options) {
    if options.json {
        out(&format!("{:#}\n", plan_json(plan, warnings)));
    } else {
        let color = options.color && std::io::stdout().is_terminal();
        for part in plan::render::human_parts(plan, color) {
            out(&part);
        }
    }
}

pub fn plan(options: &Options, detailed_exitcode: bool, out_file: Option<&std::path::Path>) -> u8 {
    let Ok((mut session, table, warnings)) = Session::open(options, false) else {
        return EXIT_ERROR;
    };
    let (config, mut backends) = session.parts(true);
    let Ok((observed, plan)) = make_plan(config, &mut backends, table, Goal::Converge) else {
        return EXIT_ERROR;
    };
    let plan = plan.targeted(config, &options.targets);
    show_plan(&plan, &warnings, options);
    if let Some(path) = out_file {
        let vars = &options.inputs.vars;
        if let Err(e) = PlanFile::new(
            &options.dir,
            vars,
            &options.targets,
            config,
            &observed,
            plan.clone(),
        )
        .write(path)
        {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
        eprintln!(
            "Saved the plan to {}: apply it with `lvsform apply {}`.",
            path.display(),
            path.display()
        );
    }
    if detailed_exitcode && !plan.is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}

/// Progress on stderr: a bar on a terminal, one line per batch otherwise (CI logs).
struct StderrProgress {
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl StderrProgress {
    /// `total`: the number of steps.
    fn new(total: usize) -> StderrProgress {
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
                if let Some(details) = read_back_details(error) {
                    self.say(&details);
                }
                self.say(&format!("error: {error}\nRolling back."));
            }
            Event::Undone { undo, error: None } => self.say(&format!("undone: {undo}")),
            Event::Undone {
                undo,
                error: Some(e),
            } => self.say(&format!("UNDO FAILED: {undo}: {e}")),
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

pub struct ApplyOptions {
    pub auto_approve: bool,
    pub drain: bool,
    pub lock_timeout: Duration,
}

pub fn apply(options: &Options, apply_options: &ApplyOptions, goal: Goal) -> u8 {
    let Some(_lock) = lock(apply_options) else {
        return EXIT_ERROR;
    };
    let Ok((mut session, table, warnings)) = Session::open(options, true) else {
        return EXIT_ERROR;
    };
    let (config, mut backends) = session.parts(apply_options.drain);
    let Ok((observed, plan)) = make_plan(config, &mut backends, table, goal) else {
        return EXIT_ERROR;
    };
    let plan = plan.targeted(config, &options.targets);
    if options.json {
        // Events, one JSON object per line: the plan first.
        let mut event = plan_json(&plan, &warnings);
        event["event"] = serde_json::json!("plan");
        out(&format!("{event}\n"));
    } else {
        crate::log::timed("plan shown", || show_plan(&plan, &warnings, options));
    }
    if plan.is_empty() {
        return EXIT_OK;
    }
    if !apply_options.auto_approve && !confirmed() {
        return EXIT_ERROR;
    }
    let request = apply::Request {
        config,
        plan: &plan,
        observed,
        goal,
        targets: &options.targets,
    };
    carry_out(request, &mut backends, options.json)
}

/// `apply PLANFILE`: no question (the plan was reviewed when it was made), but a refusal
/// when the configuration or the live state has moved since.
pub fn apply_saved(path: &std::path::Path, color: bool, apply_options: &ApplyOptions) -> u8 {
    let file = match PlanFile::read(path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let Some(_lock) = lock(apply_options) else {
        return EXIT_ERROR;
    };
    let options = Options {
        dir: file.dir.clone(),
        inputs: Inputs::from_env(file.vars.clone()),
        json: false,
        color,
        targets: vec![],
    };
    let Ok((mut session, table, _)) = Session::open(&options, true) else {
        return EXIT_ERROR;
    };
    if serde_json::to_value(&session.config.desired).ok().as_ref() != Some(&file.desired) {
        eprintln!(
            "error: the configuration in {} has changed since the plan was made; nothing was changed\n  help: make the plan again",
            file.dir.display()
        );
        return EXIT_ERROR;
    }
    let (config, mut backends) = session.parts(apply_options.drain);
    let observed = match apply::observe_with(config, &mut backends, table) {
        Ok(observed) => observed,
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("error: {e}"));
            return EXIT_ERROR;
        }
    };
    let record = planfile::record(&observed);
    if planfile::fingerprint(&record) != file.fingerprint {
        eprintln!(
            "error: the plan is stale: the live state has changed since it was made ({}); nothing was changed\n  help: make the plan again",
            planfile::moved(&file.observed, &record).join(", ")
        );
        return EXIT_ERROR;
    }
    if file.plan.is_empty() {
        eprintln!("No changes. Live state matches the configuration.");
        return EXIT_OK;
    }
    let request = apply::Request {
        config,
        plan: &file.plan,
        observed,
        goal: Goal::Converge,
        targets: &file.targets,
    };
    carry_out(request, &mut backends, false)
}

fn lock(apply_options: &ApplyOptions) -> Option<crate::lock::Lock> {
    crate::lock::Lock::acquire(apply_options.lock_timeout)
        .map_err(|e| eprintln!("error: {e}"))
        .ok()
}

/// Executes a plan, verifies that nothing is left to do, and rolls back otherwise.
fn carry_out(request: apply::Request, backends: &mut Backends, json: bool) -> u8 {
    // Ctrl-C and SIGTERM stop the apply between steps; what was done is rolled back.
    let cancel = Cancel::default();
    let on_signal = cancel.clone();
    if let Err(e) = ctrlc::set_handler(move || on_signal.cancel()) {
        crate::log::debug(|| format!("no interrupt handler: {e}"));
    }
    let plan = request.plan;
    let mut reporter: Box<dyn Progress> = if json {
        Box::new(JsonProgress)
    } else {
        Box::new(StderrProgress::new(plan.steps.len()))
    };
    let outcome = apply::run(request, backends, reporter.as_mut(), &cancel);
    drop(reporter); // the bar goes before the outcome is printed
    let (add, change, destroy) = plan.summary();
    if json {
        let (status, left) = match &outcome {
            Ok(()) => ("applied", vec![]),
            Err(failure) if failure.left.is_empty() => ("rolled_back", vec![]),
            Err(failure) => ("rollback_failed", failure.left.clone()),
        };
        let summary = serde_json::json!({"add": add, "change": change, "destroy": destroy});
        out(&format!(
            "{}\n",
            serde_json::json!({"event": "result", "status": status, "summary": summary, "left": left})
        ));
    }
    match outcome {
        Ok(()) => {
            if !json {
                eprintln!(
                    "Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed."
                );
            }
            EXIT_OK
        }
        Err(failure) => rollback_outcome(&failure.left),
    }
}

/// Why the state after an apply could not be read back or planned against.
fn read_back_details(error: &apply::Error) -> Option<String> {
    let apply::Error::ReadBack {
        errors,
        diagnostics,
    } = error
    else {
        return None;
    };
    let mut text: String = errors.iter().map(|e| format!("error: {e}\n")).collect();
    text.push_str(&render_by_kind(&Diagnostics(diagnostics.clone()), false));
    Some(text.trim_end().to_string())
}

/// `apply --json`: one JSON object per line on stdout for every step, failure and undo.
struct JsonProgress;

impl Progress for JsonProgress {
    fn event(&mut self, event: Event<'_>) {
        let line = match event {
            Event::Finished { batch, done, total } => serde_json::json!(
                {"event": "step", "done": done, "total": total, "what": batch.to_string()}
            ),
            Event::Failed(error) => {
                if let Some(details) = read_back_details(error) {
                    eprintln!("{details}");
                }
                serde_json::json!({"event": "failed", "error": error.to_string()})
            }
            Event::Undone { undo, error } => serde_json::json!(
                {"event": "undo", "what": undo.to_string(), "ok": error.is_none(), "error": error}
            ),
            Event::Started(_) | Event::Verifying => return,
        };
        out(&format!("{line}\n"));
    }
}

/// `show PLANFILE`.
pub fn show_saved(path: &std::path::Path, options: &Options) -> u8 {
    match PlanFile::read(path) {
        Ok(file) => {
            show_plan(&file.plan, &Diagnostics::default(), options);
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
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

/// `import`: the HCL on stdout, or written to `DIR/imported.lvs.hcl` and checked with a
/// plan (removed again when that plan fails, e.g. on an unreachable host).
pub fn import(
    table: &crate::ipvs::Table,
    out_dir: Option<&std::path::Path>,
    manage_hosts: bool,
    color: bool,
) -> u8 {
    let text = crate::import::hcl(table, manage_hosts);
    let Some(dir) = out_dir else {
        out(&text);
        return EXIT_OK;
    };
    let existing = std::fs::read_dir(dir).into_iter().flatten().flatten();
    if let Some(file) = existing
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".lvs.hcl"))
    {
        eprintln!(
            "error: {} already holds a configuration ({}); nothing was written\n  help: import into an empty directory",
            dir.display(),
            file.display()
        );
        return EXIT_ERROR;
    }
    let path = dir.join("imported.lvs.hcl");
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &text)) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return EXIT_ERROR;
    }
    let options = Options {
        dir: dir.to_path_buf(),
        inputs: Inputs::from_env(vec![]),
        json: false,
        color,
        targets: vec![],
    };
    let planned = Session::open(&options, false).and_then(|(mut session, table, _)| {
        let (config, mut backends) = session.parts(true);
        make_plan(config, &mut backends, table, Goal::Converge).map(|(_, plan)| plan)
    });
    let servers: usize = table.services.values().map(|s| s.destinations.len()).sum();
    let wrote = format!(
        "Wrote {}: {} virtual servers, {servers} real servers.",
        path.display(),
        table.services.len()
    );
    match planned {
        Ok(plan) if plan.is_empty() => {
            eprintln!("{wrote} A plan on it finds no changes.");
            EXIT_OK
        }
        Ok(plan) => {
            show_plan(&plan, &Diagnostics::default(), &options);
            eprintln!(
                "{wrote} The plan above is what lvsform would still change: the director or the real servers are not yet as it keeps them."
            );
            EXIT_OK
        }
        Err(()) => {
            let _ = std::fs::remove_file(&path);
            eprintln!("Nothing was written: a plan on the imported configuration failed.");
            EXIT_ERROR
        }
    }
}
