//! What every command that reads the live state shares: the configuration and the
//! backends that reach what it describes, the first read, the plan and its presentation.

use super::{Options, Reported, View, fail, out, report};
use crate::agent;
use crate::apply::{self, Backends, DirectorBackends};
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
    /// Each director's table and settings: the one director, or each named one in
    /// declared order.
    directors: Vec<(Box<dyn Ipvs>, Box<dyn Director>)>,
    hosts: Vec<Box<dyn Host>>,
    /// This machine's apply lock, when it is a director and the command applies (a remote
    /// director's lock is held by lvsform there, for as long as the session).
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

/// A plan to carry out, with what it was made from.
pub struct Run<'a> {
    pub observed: Observed,
    pub plan: &'a Plan,
    pub goal: Goal,
    pub targets: &'a [String],
    /// Wait for the connections of removed real servers (`--no-drain`: false).
    pub drain: bool,
}

/// A remote director reached (with its table, when read), or why it could not be.
type Reached = Result<(agent::RemoteDirector, Option<LiveTable>), agent::AgentError>;

/// The IPVS table of this machine read ahead, with its connection.
type ReadAhead = Result<(NetlinkIpvs, LiveTable), crate::ipvs::IpvsError>;

impl Session {
    /// Loads the configuration and reads every director's live IPVS table (in parallel),
    /// returned beside the session with the configuration's warnings (a configuration with
    /// errors opens no session).
    pub fn open(
        options: &Options,
        access: Access,
    ) -> Result<(Session, Vec<LiveTable>, Diagnostics), Reported> {
        let apply = access != Access::Read;
        // On a director with two cores a plan takes the longer of reading the table and
        // evaluating the configuration, not their sum: the table of this machine is read
        // meanwhile. Whether this machine is a director only the configuration says, so
        // that read is a guess, dropped when every director is remote. An apply reads only
        // under the lock: ahead only if the lock is free at once.
        let early_lock = if apply {
            Lock::acquire(Duration::ZERO).ok()
        } else {
            None
        };
        let read_ahead = !apply || early_lock.is_some();
        // Remote directors are reached (and, for an apply, locked and read) as soon as
        // their blocks are read, each on its own thread, while the rest is evaluated.
        // Several directors are locked in name order once all are known (two applies then
        // never hold one each and wait for the other's), and read after.
        let (found_remote, remote_found) = std::sync::mpsc::channel::<(bool, RemoteDirectorMeta)>();
        let (loaded, mut early, mut early_remote) = std::thread::scope(|scope| {
            let early = read_ahead.then(|| {
                scope.spawn(|| {
                    let mut ipvs = NetlinkIpvs::connect()?;
                    // One core evaluates the configuration meanwhile.
                    let table = crate::log::timed("live IPVS table read", || {
                        ipvs.with_a_core_spare(|ipvs| ipvs.observe())
                    });
                    Ok((ipvs, table))
                })
            });
            let early_remote = scope.spawn(move || {
                let reaching: Vec<_> = remote_found
                    .iter()
                    .map(|(named, remote)| {
                        let whole = !(named && apply);
                        scope.spawn(move || (remote.clone(), reach(&remote, access, whole)))
                    })
                    .collect();
                reaching.into_iter().map(join).collect::<Vec<_>>()
            });
            let loaded = crate::log::timed("configuration loaded", || {
                config::load_reaching(&options.dir, &options.inputs, &|named, remote| {
                    let _ = found_remote.send((named, remote.clone()));
                })
            });
            drop(found_remote);
            (loaded, early.map(join), join(early_remote))
        });
        let (config, diags) = loaded;
        report(&diags, options.color);
        let config = config.ok_or(Reported)?;
        let hosts = config
            .hosts
            .values()
            .map(|h| Box::new(SshHost::new(h.ssh.clone())) as Box<dyn Host>)
            .collect();
        let metas = config.directors.iter().map(|d| &d.meta);
        let staged_locks = apply && config.named();
        let mut early_lock = early_lock;
        let mut reached = Vec::new();
        let mut failed = false;
        for meta in metas {
            match &meta.remote {
                Some(remote) => {
                    let position = early_remote.iter().position(|(early, _)| early == remote);
                    let found = match position {
                        Some(i) => early_remote.swap_remove(i).1,
                        None => reach(remote, access, !staged_locks),
                    };
                    match found {
                        Ok((director, table)) => reached.push(Some((director, table))),
                        Err(e) => {
                            fail(&e);
                            failed = true;
                        }
                    }
                }
                None => reached.push(None),
            }
        }
        if failed {
            return Err(Reported);
        }
        let mut lock = None;
        if let (true, Access::Apply { lock_timeout }) = (staged_locks, access) {
            let mut order: Vec<usize> = (0..reached.len()).collect();
            order.sort_by_key(|&i| config.directors[i].name());
            // This machine's lock was taken ahead, out of that order: kept only when this
            // machine comes first (a lock held while waiting for another must be earlier
            // in the order); otherwise it is taken again in turn, and its table read after.
            if reached[order[0]].is_some() {
                early_lock = None;
                early = None;
            }
            for i in order {
                match &reached[i] {
                    Some((director, _)) => director.lock(lock_timeout).map_err(|e| fail(&e))?,
                    None => lock = local_lock(access, &mut early_lock)?,
                }
            }
        }
        // The tables not read yet: the remote ones at once.
        let tables: Vec<Option<LiveTable>> = std::thread::scope(|scope| {
            let reading: Vec<_> = reached
                .iter()
                .map(|found| match found {
                    Some((director, None)) => Some(scope.spawn(move || {
                        crate::log::timed("live IPVS table read", || director.ipvs().observe())
                    })),
                    _ => None,
                })
                .collect();
            reading.into_iter().map(|thread| thread.map(join)).collect()
        });
        let mut directors: Vec<(Box<dyn Ipvs>, Box<dyn Director>)> = Vec::new();
        let mut live = Vec::new();
        for (found, read) in reached.into_iter().zip(tables) {
            match found {
                Some((director, table)) => {
                    directors.push((Box::new(director.ipvs()), Box::new(director.settings())));
                    live.push(table.or(read).expect("every remote table is read"));
                }
                None => {
                    if !staged_locks {
                        lock = local_lock(access, &mut early_lock)?;
                    }
                    let (ipvs, table) = local_table(access, &mut early)?;
                    directors.push((Box::new(ipvs), Box::new(LocalDirector)));
                    live.push(table);
                }
            }
        }
        let tables = live;
        let session = Session {
            config,
            directors,
            hosts,
            _lock: lock,
        };
        Ok((session, tables, diags))
    }

    /// Reads the rest of the live state and plans against it; reports every problem on
    /// stderr.
    /// `only`: `--director`.
    pub fn plan(
        &mut self,
        tables: Vec<LiveTable>,
        goal: Goal,
        only: &[String],
    ) -> Result<(Observed, Plan), Reported> {
        let start = Instant::now();
        let observed = self.observe(tables)?;
        let plan = plan::make(&self.config, &observed, goal, only)
            .map_err(|diags| report(&Diagnostics(diags), false))?;
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

    /// Reads the rest of the live state: each director's settings and every host.
    pub fn observe(&mut self, tables: Vec<LiveTable>) -> Result<Observed, Reported> {
        let (config, mut backends) = self.parts(true);
        apply::observe_with(config, &mut backends, tables).map_err(|errors| {
            for e in &errors {
                fail(e);
            }
            Reported
        })
    }

    /// Carries out a plan, director by director.
    pub fn apply(
        &mut self,
        run: Run,
        progress: &mut dyn apply::Progress,
        cancel: &apply::Cancel,
    ) -> Result<(), apply::Failure> {
        let (config, mut backends) = self.parts(run.drain);
        let request = apply::Request {
            config,
            plan: run.plan,
            observed: run.observed,
            goal: run.goal,
            targets: run.targets,
        };
        apply::run(request, &mut backends, progress, cancel)
    }

    /// The configuration, and every director's backends with the hosts.
    fn parts(&mut self, drain: bool) -> (&Config, Backends<'_>) {
        let backends = Backends {
            directors: self
                .directors
                .iter_mut()
                .map(|(ipvs, settings)| DirectorBackends {
                    ipvs: &mut **ipvs,
                    settings: &mut **settings,
                })
                .collect(),
            hosts: &mut self.hosts,
            parallelism: self.config.parallelism,
            drain,
        };
        (&self.config, backends)
    }
}

fn join<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// This machine's apply lock, for an apply: taken ahead, or now.
fn local_lock(access: Access, early_lock: &mut Option<Lock>) -> Result<Option<Lock>, Reported> {
    match (access, early_lock.take()) {
        (Access::Read, _) => Ok(None),
        (Access::Apply { .. }, Some(lock)) => Ok(Some(lock)),
        (Access::Apply { lock_timeout }, None) => {
            Lock::acquire(lock_timeout).map(Some).map_err(|e| fail(&e))
        }
    }
}

/// This machine's IPVS table: read ahead (under its lock, for an apply), or now.
fn local_table(
    access: Access,
    early: &mut Option<ReadAhead>,
) -> Result<(NetlinkIpvs, LiveTable), Reported> {
    match early.take() {
        Some(Ok(read)) => Ok(read),
        // Not read yet, or no IPVS to read (which an apply loads).
        _ => {
            let mut ipvs =
                NetlinkIpvs::connect_loading(access != Access::Read).map_err(|e| fail(&e))?;
            let table = crate::log::timed("live IPVS table read", || ipvs.observe());
            Ok((ipvs, table))
        }
    }
}

/// The IPVS table as first read, or why it could not be.
pub type LiveTable = Result<crate::ipvs::Table, crate::ipvs::IpvsError>;

/// A remote director reached over SSH; when `whole`, also locked for an apply and its
/// table read.
fn reach(remote: &RemoteDirectorMeta, access: Access, whole: bool) -> Reached {
    let director = crate::log::timed("remote director reached", || {
        agent::connect(remote, access != Access::Read)
    })?;
    if !whole {
        return Ok((director, None));
    }
    if let Access::Apply { lock_timeout } = access {
        director.lock(lock_timeout)?;
    }
    let table = crate::log::timed("live IPVS table read", || director.ipvs().observe());
    Ok((director, Some(table)))
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
