//! What every command that reads the live state shares: the configuration and the
//! backends that reach what it describes, the first read, the plan and its presentation.

use super::{Options, Reported, View, fail, out, report};
use crate::apply::{self, Backends};
use crate::backend::{BackendError, Connector, DirectorBackend, LeftOut};
use crate::config::{self, Config, RemoteDirectorMeta};
use crate::diag::Diagnostics;
use crate::host::Host;
use crate::plan::{self, Goal, Observed, Plan};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// The configuration and the backends that reach what it describes.
pub struct Session {
    pub config: Config,
    /// Each director, in declared order (each holds its lock, for an apply).
    directors: Vec<Box<dyn DirectorBackend>>,
    hosts: Vec<Box<dyn Host>>,
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

/// A director reached, with its table when read already.
struct Reached {
    backend: Box<dyn DirectorBackend>,
    table: Option<LiveTable>,
    locked: bool,
    /// This machine, read before the configuration said it is a director.
    ahead: bool,
}

impl Session {
    /// Loads the configuration and reaches every director the run is for (`--director`:
    /// those named, else all): each locked for an apply (in name order), and its IPVS
    /// table read (in parallel); returned beside the session with the configuration's
    /// warnings (a configuration with errors opens no session). A director left out is
    /// not reached at all, and has no table.
    pub fn open(
        options: &Options,
        access: Access,
        connector: &dyn Connector,
    ) -> Result<(Session, Vec<Option<LiveTable>>, Diagnostics), Reported> {
        let only = &options.directors;
        let (loaded, ahead, early) = load_reaching(options, access, connector);
        let (config, diags) = loaded;
        report(&diags, options.color);
        let config = config.ok_or(Reported)?;
        let mut reached = reach_every_director(&config, only, access, connector, ahead, early)?;
        if let Access::Apply { lock_timeout } = access {
            reached = lock_in_name_order(&config, reached, lock_timeout, connector)?;
        }
        let tables = read_tables(&mut reached);
        let directors = (config.directors.iter().zip(reached))
            .map(|(director, reached)| match reached {
                Some(reached) => reached.backend,
                None => Box::new(LeftOut::new(director.name().unwrap_or_default())),
            })
            .collect();
        let session = Session {
            hosts: config.hosts.values().map(|h| connector.host(h)).collect(),
            directors,
            config,
        };
        Ok((session, tables, diags))
    }

    /// Reads the rest of the live state and plans against it; reports every problem on
    /// stderr.
    /// `only`: `--director`.
    pub fn plan(
        &mut self,
        tables: Vec<Option<LiveTable>>,
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
    pub fn observe(&mut self, tables: Vec<Option<LiveTable>>) -> Result<Observed, Reported> {
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
            directors: self.directors.iter_mut().map(|d| d.parts()).collect(),
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

/// The IPVS table as first read, or why it could not be.
pub type LiveTable = Result<crate::ipvs::Table, crate::ipvs::IpvsError>;

/// A remote director reached early, with the settings it was reached by.
type Early = (RemoteDirectorMeta, Result<Reached, BackendError>);

/// The configuration with its diagnostics, as `config::load` gives them.
type Loaded = (Option<Config>, Diagnostics);

/// Loads the configuration while reaching what it names. On a director with two cores a
/// plan takes the longer of reading the table and evaluating the configuration, not their
/// sum: this machine's table is read meanwhile (`ahead`), a guess that this machine is a
/// director, and for an apply only if its lock is free at once. Remote directors are
/// reached (and, unless several are locked in name order, locked and read) as soon as
/// their blocks are read, each on its own thread.
fn load_reaching(
    options: &Options,
    access: Access,
    connector: &dyn Connector,
) -> (Loaded, Result<Reached, BackendError>, Vec<Early>) {
    let only = &options.directors;
    let (found_remote, remote_found) = std::sync::mpsc::channel::<(bool, RemoteDirectorMeta)>();
    std::thread::scope(|scope| {
        let ahead = scope.spawn(|| read_ahead(access, connector));
        let early = scope.spawn(move || {
            let reaching: Vec<_> = remote_found
                .iter()
                .map(|(named, remote)| {
                    scope.spawn(move || {
                        let whole = reached_whole(access, named);
                        let reached = reach(connector, Some(&remote), access, whole);
                        (remote, reached)
                    })
                })
                .collect();
            reaching.into_iter().map(join).collect::<Vec<_>>()
        });
        let loaded = crate::log::timed("configuration loaded", || {
            config::load_reaching(&options.dir, &options.inputs, &|named, remote| {
                if chosen(only, remote.name.as_deref()) {
                    let _ = found_remote.send((named, remote.clone()));
                }
            })
        });
        drop(found_remote);
        (loaded, join(ahead), join(early))
    })
}

/// This machine's table, read while the configuration is evaluated; for an apply, under
/// its lock taken at once or not at all.
fn read_ahead(access: Access, connector: &dyn Connector) -> Result<Reached, BackendError> {
    let mut backend = connector.director(None, false)?;
    let locked = access != Access::Read;
    if locked {
        backend.lock(Duration::ZERO)?;
    }
    let table = crate::log::timed("live IPVS table read", || backend.observe_beside_work());
    Ok(Reached {
        backend,
        table: Some(table),
        locked,
        ahead: true,
    })
}

/// Whether a director is locked and read as soon as it is reached. Named directors are
/// locked in name order once all are known, for an apply (two applies then never hold one
/// each and wait for the other's), and read after.
fn reached_whole(access: Access, named: bool) -> bool {
    !(named && access != Access::Read)
}

/// A director reached (this machine, or `remote`); when `whole`, also locked for an apply
/// and its table read.
fn reach(
    connector: &dyn Connector,
    remote: Option<&RemoteDirectorMeta>,
    access: Access,
    whole: bool,
) -> Result<Reached, BackendError> {
    let apply = access != Access::Read;
    let mut backend = crate::log::timed("director reached", || connector.director(remote, apply))?;
    let (mut table, mut locked) = (None, false);
    if whole {
        if let Access::Apply { lock_timeout } = access {
            backend.lock(lock_timeout)?;
            locked = true;
        }
        table = Some(crate::log::timed("live IPVS table read", || {
            backend.parts().ipvs.observe()
        }));
    }
    Ok(Reached {
        backend,
        table,
        locked,
        ahead: false,
    })
}

/// Whether a run for the directors `only` names (none: every director) is for the
/// director of this name.
fn chosen(only: &[String], name: Option<&str>) -> bool {
    only.is_empty() || name.is_some_and(|name| only.iter().any(|o| o == name))
}

/// Every director of the configuration, in declared order: reached early, read ahead, or
/// reached now; none for a director the run leaves out. Every director that cannot be
/// reached is reported.
fn reach_every_director(
    config: &Config,
    only: &[String],
    access: Access,
    connector: &dyn Connector,
    ahead: Result<Reached, BackendError>,
    mut early: Vec<Early>,
) -> Result<Vec<Option<Reached>>, Reported> {
    let whole = reached_whole(access, config.named());
    let mut ahead = Some(ahead);
    let mut reached = Vec::new();
    let mut failed = false;
    for director in &config.directors {
        if !chosen(only, director.name()) {
            reached.push(None);
            continue;
        }
        let remote = director.meta.remote.as_ref();
        let found = match remote {
            Some(remote) => match early.iter().position(|(r, _)| r == remote) {
                Some(i) => early.swap_remove(i).1,
                None => reach(connector, Some(remote), access, whole),
            },
            None => match ahead.take() {
                Some(Ok(read)) => Ok(read),
                // Not read ahead, or no IPVS to read (which an apply loads).
                _ => reach(connector, None, access, false),
            },
        };
        match found {
            Ok(found) => reached.push(Some(found)),
            Err(e) => {
                fail(&e);
                failed = true;
            }
        }
    }
    if failed { Err(Reported) } else { Ok(reached) }
}

/// Takes every director's lock in name order. A lock taken ahead out of that order is
/// kept only when it comes first (a lock held while waiting for another must be earlier
/// in the order); otherwise it is given up and taken again in turn, its table read after.
fn lock_in_name_order(
    config: &Config,
    mut slots: Vec<Option<Reached>>,
    lock_timeout: Duration,
    connector: &dyn Connector,
) -> Result<Vec<Option<Reached>>, Reported> {
    let mut order: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].is_some()).collect();
    order.sort_by_key(|&i| config.directors[i].name());
    for (position, &i) in order.iter().enumerate() {
        let Some(mut director) = slots[i].take() else {
            continue;
        };
        if position > 0 && director.ahead {
            // Given up (with its lock) before it is reached again.
            drop(director);
            let remote = config.directors[i].meta.remote.as_ref();
            director = reach(connector, remote, Access::Apply { lock_timeout }, false)
                .map_err(|e| fail(&e))?;
        }
        if !director.locked {
            director.backend.lock(lock_timeout).map_err(|e| fail(&e))?;
            director.locked = true;
        }
        slots[i] = Some(director);
    }
    Ok(slots)
}

/// Each director's table: as read already, or now (in parallel); none for a director
/// left out.
fn read_tables(reached: &mut [Option<Reached>]) -> Vec<Option<LiveTable>> {
    std::thread::scope(|scope| {
        let reading: Vec<_> = reached
            .iter_mut()
            .map(|director| {
                let director = director.as_mut()?;
                Some(match director.table.take() {
                    Some(table) => Err(Box::new(table)),
                    None => Ok(scope.spawn(move || {
                        crate::log::timed("live IPVS table read", || {
                            director.backend.parts().ipvs.observe()
                        })
                    })),
                })
            })
            .collect();
        reading
            .into_iter()
            .map(|read| Some(read?.map_or_else(|table| *table, join)))
            .collect()
    })
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
