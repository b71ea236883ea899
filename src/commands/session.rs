//! What every command that reads the live state shares: the configuration and the
//! backends that reach what it describes, the first read, the plan and its presentation.

use super::{Options, Reported, View, fail, out, report};
use crate::agent;
use crate::apply::{self, Backends};
use crate::config::{self, Config, RemoteDirectorMeta};
use crate::diag::Diagnostics;
use crate::director::{Director, LocalDirector};
use crate::host::{Host, SshHost};
use crate::ipvs::{Ipvs, NetlinkIpvs};
use crate::lock::Lock;
use crate::plan::{self, Goal, Observed, Plan};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// The configuration and the backends that reach what it describes.
pub struct Session {
    pub config: Config,
    ipvs: Box<dyn Ipvs>,
    hosts: Vec<Box<dyn Host>>,
    director: Box<dyn Director>,
    /// This machine's apply lock, when it is the director and the command applies (a
    /// remote director's lock is held by lvsform there, for as long as the session).
    _lock: Option<Lock>,
}

/// What a command does with the director.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Access {
    Read,
    /// Takes the director's lock (waiting up to this long) and loads IPVS if it must.
    Apply {
        lock_timeout: Duration,
    },
}

impl Session {
    /// Loads the configuration and reads the live IPVS table, returned beside the session
    /// with the configuration's warnings (a configuration with errors opens no session).
    pub fn open(
        options: &Options,
        access: Access,
    ) -> Result<(Session, LiveTable, Diagnostics), Reported> {
        let apply = access != Access::Read;
        // On a director with two cores a plan takes the longer of reading the table and
        // evaluating the configuration, not their sum: the table of this machine is read
        // meanwhile. Whether this machine is the director only the configuration says, so
        // that read is a guess, dropped for a remote director. An apply reads only under
        // the lock: ahead only if the lock is free at once.
        let early_lock = if apply {
            Lock::acquire(Duration::ZERO).ok()
        } else {
            None
        };
        let read_ahead = !apply || early_lock.is_some();
        // A remote director is reached (and, for an apply, locked and read) as soon as its
        // block is read, while the rest of the configuration is evaluated.
        let (found_remote, remote_found) = std::sync::mpsc::channel::<RemoteDirectorMeta>();
        let (loaded, early, early_remote) = std::thread::scope(|scope| {
            let early = read_ahead.then(|| {
                scope.spawn(|| {
                    let mut ipvs = NetlinkIpvs::connect()?;
                    // One core evaluates the configuration meanwhile.
                    let all = ipvs.dump_sockets;
                    ipvs.dump_sockets = all.saturating_sub(1);
                    let table = crate::log::timed("live IPVS table read", || ipvs.observe());
                    ipvs.dump_sockets = all;
                    Ok::<_, crate::ipvs::IpvsError>((ipvs, table))
                })
            });
            let early_remote = scope.spawn(move || {
                let remote = remote_found.recv().ok()?;
                Some((remote.clone(), reach(&remote, access)))
            });
            let loaded = crate::log::timed("configuration loaded", || {
                config::load_reaching(&options.dir, &options.inputs, &|remote| {
                    let _ = found_remote.send(remote.clone());
                })
            });
            drop(found_remote);
            let early = early.map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            let early_remote = early_remote
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (loaded, early, early_remote)
        });
        let (config, diags) = loaded;
        report(&diags, options.color);
        let config = config.ok_or(Reported)?;
        let hosts = config
            .hosts
            .values()
            .map(|h| Box::new(SshHost::new(h.ssh.clone())) as Box<dyn Host>)
            .collect();
        let (ipvs, director, table, lock): (Box<dyn Ipvs>, Box<dyn Director>, _, _) = match &config
            .director
            .remote
        {
            Some(remote) => {
                drop(early_lock);
                let reached = match early_remote {
                    Some((early, reached)) if &early == remote => reached,
                    _ => reach(remote, access),
                };
                let (remote, table) = reached.map_err(|e| fail(&e))?;
                (
                    Box::new(remote.ipvs()),
                    Box::new(remote.settings()),
                    table,
                    None,
                )
            }
            None => {
                let lock = match (access, early_lock) {
                    (Access::Read, _) => None,
                    (Access::Apply { .. }, Some(lock)) => Some(lock),
                    (Access::Apply { lock_timeout }, None) => {
                        Some(Lock::acquire(lock_timeout).map_err(|e| fail(&e))?)
                    }
                };
                let (ipvs, table) = match early {
                    Some(Ok(read)) => read,
                    // Not read yet, or no IPVS to read (which an apply loads).
                    _ => {
                        let mut ipvs = NetlinkIpvs::connect_loading(apply).map_err(|e| fail(&e))?;
                        let table = crate::log::timed("live IPVS table read", || ipvs.observe());
                        (ipvs, table)
                    }
                };
                (Box::new(ipvs), Box::new(LocalDirector), table, lock)
            }
        };
        let session = Session {
            config,
            ipvs,
            hosts,
            director,
            _lock: lock,
        };
        Ok((session, table, diags))
    }

    /// Splits the session into the configuration (read) and the backends (used).
    pub fn parts(&mut self, drain: bool) -> (&Config, Backends<'_>) {
        let backends = Backends {
            ipvs: &mut *self.ipvs,
            hosts: &mut self.hosts,
            director: &mut *self.director,
            parallelism: self.config.parallelism,
            drain,
        };
        (&self.config, backends)
    }
}

/// The IPVS table as first read, or why it could not be.
pub type LiveTable = Result<crate::ipvs::Table, crate::ipvs::IpvsError>;

/// A remote director reached over SSH, locked for an apply, and its table read.
fn reach(
    remote: &RemoteDirectorMeta,
    access: Access,
) -> Result<(agent::RemoteDirector, LiveTable), agent::AgentError> {
    let director = crate::log::timed("remote director reached", || {
        agent::connect(remote, access != Access::Read)
    })?;
    if let Access::Apply { lock_timeout } = access {
        director.lock(lock_timeout)?;
    }
    let table = crate::log::timed("live IPVS table read", || director.ipvs().observe());
    Ok((director, table))
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
