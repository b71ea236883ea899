//! What every command that reads the live state shares: the configuration and the
//! backends that reach what it describes, the first read, the plan and its presentation.

use super::{Options, Reported, View, fail, out, report};
use crate::apply::{self, Backends};
use crate::config::{self, Config};
use crate::diag::Diagnostics;
use crate::director::LocalDirector;
use crate::host::{Host, SshHost};
use crate::ipvs::{Ipvs, NetlinkIpvs};
use crate::plan::{self, Goal, Observed, Plan};
use std::io::IsTerminal;
use std::time::Instant;

/// The configuration and the backends that reach what it describes.
pub struct Session {
    pub config: Config,
    ipvs: NetlinkIpvs,
    hosts: Vec<Box<dyn Host>>,
    director: LocalDirector,
}

impl Session {
    /// Loads the configuration and reads the live IPVS table, returned beside the session
    /// with the configuration's warnings (a configuration with errors opens no session).
    /// `load_ipvs`: when the kernel has no IPVS yet, load it (apply does; plan only reads).
    pub fn open(
        options: &Options,
        load_ipvs: bool,
    ) -> Result<(Session, LiveTable, Diagnostics), Reported> {
        // Neither needs the other, so the table is dumped while the configuration is
        // evaluated: on a director with two cores a plan takes the longer of the two.
        let (loaded, live) = std::thread::scope(|scope| {
            let live = scope.spawn(|| {
                let mut ipvs = connect_ipvs(load_ipvs)?;
                // One core evaluates the configuration meanwhile.
                let all = ipvs.dump_sockets;
                ipvs.dump_sockets = all.saturating_sub(1);
                let table = crate::log::timed("live IPVS table read", || ipvs.observe());
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
        let config = config.ok_or(Reported)?;
        let (ipvs, table) = live.map_err(|e: crate::ipvs::IpvsError| fail(&e))?;
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
    pub fn parts(&mut self, drain: bool) -> (&Config, Backends<'_>) {
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
pub type LiveTable = Result<crate::ipvs::Table, crate::ipvs::IpvsError>;

pub fn connect_ipvs(load_ipvs: bool) -> Result<NetlinkIpvs, crate::ipvs::IpvsError> {
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
pub fn make_plan(
    config: &Config,
    backends: &mut Backends,
    table: LiveTable,
    goal: Goal,
) -> Result<(Observed, Plan), Reported> {
    let start = Instant::now();
    let observed = apply::observe_with(config, backends, table).map_err(|errors| {
        for e in &errors {
            fail(e);
        }
        Reported
    })?;
    let plan =
        plan::make(config, &observed, goal).map_err(|diags| report(&Diagnostics(diags), false))?;
    crate::log::debug(|| {
        let steps = plan.steps();
        let ipvs_changes = steps
            .iter()
            .filter(|(_, s)| matches!(s, plan::Step::Ipvs { .. }))
            .count();
        format!(
            "observed and planned in {:.2}s: {} steps, {ipvs_changes} of them IPVS changes (one netlink request each)",
            start.elapsed().as_secs_f64(),
            steps.len()
        )
    });
    Ok((observed, plan))
}

/// The plan as one JSON document, with every warning of the configuration (stderr shows
/// one per kind).
pub fn plan_json(plan: &Plan, warnings: &Diagnostics) -> serde_json::Value {
    let mut doc = plan::render::json(plan);
    doc["diagnostics"] = warnings.0.iter().map(|d| d.to_json()).collect();
    doc
}

/// The plan on stdout: one JSON document, or the human form (in colour on a terminal).
pub fn show_plan(plan: &Plan, warnings: &Diagnostics, view: View, color: bool) {
    match view {
        View::Json => out(&format!("{:#}\n", plan_json(plan, warnings))),
        View::Markdown => out(&plan::markdown::markdown(plan)),
        View::Human => {
            let color = color && std::io::stdout().is_terminal();
            for part in plan::render::human_parts(plan, color) {
                out(&part);
            }
        }
    }
}
