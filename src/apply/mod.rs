//! Carrying out a plan as one unit: the steps in phase order, each executed step journaled
//! with its inverse; then what the steps touched is read back and planned again, and any
//! failure on the way — a step, a cancel, a verification that finds work left — undoes
//! the journal in reverse. Generic over the backends; progress is reported, never printed.

mod observe;
mod staged;
mod steps;

pub use observe::{ObserveError, observe, observe_after, observe_named, observe_with};
pub use staged::{Fleet, NamedRequest, run_named};
pub use steps::Undo;

use crate::address::Address;
use crate::config::Config;
use crate::diag::Diag;
use crate::director::{Director, DirectorError};
use crate::host::{Host, HostApplyError};
use crate::ipvs::{Ipvs, IpvsError};
use crate::model::{Service, ServiceKey};
use crate::plan::{Goal, Observed, Plan, Step};
use miette::Diagnostic;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What an apply works on.
pub struct Backends<'a> {
    pub ipvs: &'a mut dyn Ipvs,
    /// Managed hosts by SSH address.
    pub hosts: &'a mut [Box<dyn Host>],
    pub director: &'a mut dyn Director,
    pub parallelism: usize,
    /// Wait for the connections of removed real servers (`--no-drain`: false).
    pub drain: bool,
}

/// A plan to carry out, with what it was made from.
pub struct Request<'a> {
    pub config: &'a Config,
    pub plan: &'a Plan,
    /// The state the plan was made against: undo values for IPVS, and everything the
    /// steps do not touch when verifying.
    pub observed: Observed,
    pub goal: Goal,
    /// `--target`: verification checks only the targeted part.
    pub targets: &'a [String],
}

/// Asks a running apply to stop before its next step, or in a drain, and roll back.
/// Clones share the request (a signal handler holds one).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// IPVS changes the kernel refused (the others of their batch took effect).
    #[error(transparent)]
    Ipvs(#[from] crate::ipvs::ApplyError),
    /// Hosts that failed a change, each stopped at its first failure.
    #[error("{}", hosts_failed(.0))]
    Hosts(Vec<HostApplyError>),
    #[error("{0}: not a managed host")]
    UnknownHost(String),
    #[error(transparent)]
    Director(#[from] DirectorError),
    /// The table could not be read while waiting for connections to drain.
    #[error(transparent)]
    Drain(IpvsError),
    #[error("interrupted")]
    Cancelled,
    #[error("interrupted while draining")]
    CancelledInDrain,
    #[error("verification failed: {0} changes remain after applying")]
    ChangesRemain(usize),
    /// The state after the steps could not be read, or not planned against.
    #[error("verification failed: the live state cannot be read back")]
    ReadBack {
        errors: Vec<ObserveError>,
        diagnostics: Vec<Diag>,
    },
}

/// One host's error as it is; several as a count, each related.
fn hosts_failed(errors: &[HostApplyError]) -> String {
    match errors {
        [only] => only.to_string(),
        _ => format!("changes failed on {} hosts", errors.len()),
    }
}

impl miette::Diagnostic for Error {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            Error::Hosts(errors) if errors.len() == 1 => errors[0].help(),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            Error::Hosts(errors) if errors.len() > 1 => {
                Some(Box::new(errors.iter().map(|e| e as &dyn Diagnostic)))
            }
            Error::ReadBack { errors, .. } => {
                Some(Box::new(errors.iter().map(|e| e as &dyn Diagnostic)))
            }
            _ => None,
        }
    }
}

/// A failed apply, after its rollback.
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    /// Undo steps that failed: what is left as the failed apply made it (empty: the
    /// rollback restored everything).
    pub left: Vec<String>,
}

/// Steps of one kind that run together.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub first: &'a Step,
    pub count: usize,
}

impl fmt::Display for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.first {
            Step::Ipvs { change, .. } => write!(f, "{change}")?,
            Step::Host { host, change } => write!(f, "{host}: {change}")?,
            Step::Director(change) => write!(f, "{change}")?,
            Step::Drain { service, dest, .. } => write!(f, "drain {dest} of {service}")?,
        }
        if self.count > 1 {
            write!(f, " (and {} more)", self.count - 1)?;
        }
        Ok(())
    }
}

/// What an apply reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// A batch starts.
    Started(Batch<'a>),
    /// A batch ended: `done` of `total` steps are done.
    Finished {
        batch: Batch<'a>,
        done: usize,
        total: usize,
    },
    /// Every step ran; what they touched is read back.
    Verifying,
    /// The apply failed; the rollback follows.
    Failed(&'a Error),
    /// A journal entry was undone, or could not be.
    Undone {
        undo: &'a Undo,
        error: Option<&'a Error>,
    },
}

/// Receives an apply's events (a progress bar, JSON lines, nothing in tests).
pub trait Progress {
    fn event(&mut self, event: Event<'_>);
}

/// Carries out `request.plan`: executes, verifies, and rolls back on any failure.
pub fn run(
    request: Request,
    backends: &mut Backends,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<(), Failure> {
    let Request {
        config,
        plan,
        observed,
        goal,
        targets,
    } = request;
    // The run order, derived once: the same steps are read back after they ran.
    let steps = plan.steps();
    let before = Touched::before(&observed, &steps);
    let executed = crate::log::timed("steps executed", || {
        steps::execute(&steps, backends, progress, cancel)
    });
    let (error, journal) = match executed {
        Ok(journal) => {
            progress.event(Event::Verifying);
            let error = match verify(config, backends, observed, &steps, goal) {
                Ok(left) => {
                    let left = left.targeted(config, targets);
                    if left.is_empty() {
                        return Ok(());
                    }
                    Error::ChangesRemain(left.steps().len())
                }
                Err(error) => error,
            };
            (error, journal)
        }
        Err(failed) => failed,
    };
    progress.event(Event::Failed(&error));
    let mut left = journal.rollback(backends, progress);
    if left.is_empty() {
        // A rollback is claimed only when what the steps touched reads as before.
        left = before.differences(config, backends);
    }
    Err(Failure { error, left })
}

/// What a plan's steps touch, as it was before them: a rollback must bring back exactly
/// this.
struct Touched {
    /// The services the IPVS steps touch (absent: did not exist).
    services: std::collections::BTreeMap<ServiceKey, Option<Service>>,
    timeouts: crate::model::Timeouts,
    sync_daemons: std::collections::BTreeSet<crate::model::SyncDaemon>,
    director: crate::director::DirectorFacts,
    hosts: std::collections::BTreeMap<String, crate::host::HostFacts>,
}

impl Touched {
    fn before(observed: &Observed, steps: &[&(crate::plan::Phase, Step)]) -> Touched {
        let mut services = std::collections::BTreeMap::new();
        let mut hosts = std::collections::BTreeMap::new();
        for (_, step) in steps {
            let key = match step {
                Step::Ipvs { change, .. } => change.service(),
                Step::Drain { service, .. } => Some(*service),
                Step::Host { host, .. } => {
                    if let Some(facts) = observed.hosts.get(host) {
                        hosts.insert(host.clone(), facts.clone());
                    }
                    None
                }
                Step::Director(_) => None,
            };
            if let Some(key) = key {
                services
                    .entry(key)
                    .or_insert_with(|| observed.table.services.get(&key).cloned());
            }
        }
        Touched {
            services,
            timeouts: observed.table.timeouts,
            sync_daemons: observed.table.sync_daemons.clone(),
            director: observed.director.clone(),
            hosts,
        }
    }

    /// What does not read as it was, after a rollback.
    fn differences(&self, config: &Config, backends: &mut Backends) -> Vec<String> {
        let mut left = Vec::new();
        let unreadable = |what: &str, e: &dyn fmt::Display| {
            format!("{what}: cannot be read back to check the rollback: {e}")
        };
        let keys = self.services.keys().copied().collect();
        match backends.ipvs.observe_some(Some(&keys)) {
            Ok(table) => {
                for (key, service) in &self.services {
                    if table.services.get(key) != service.as_ref() {
                        left.push(format!(
                            "{}: not as it was before the apply",
                            Address::undeclared_service(key)
                        ));
                    }
                }
                if table.timeouts != self.timeouts || table.sync_daemons != self.sync_daemons {
                    left.push(
                        "director: IPVS timeouts or sync daemons not as they were before the apply"
                            .into(),
                    );
                }
            }
            Err(e) => left.push(unreadable("the IPVS table", &e)),
        }
        let sysctls: Vec<String> = config.desired.director.sysctls.keys().cloned().collect();
        match backends
            .director
            .observe(&sysctls, config.director.interface.as_deref())
        {
            Ok(facts) if facts == self.director => {}
            Ok(_) => left.push("director: not as it was before the apply".into()),
            Err(e) => left.push(unreadable("director", &e)),
        }
        let facts = crate::parallel::for_each_parallel(backends.hosts, backends.parallelism, |h| {
            self.hosts
                .contains_key(h.name())
                .then(|| (h.name().to_string(), h.observe()))
        });
        for (name, result) in facts.into_iter().flatten() {
            match result {
                Ok(facts) if Some(&facts) == self.hosts.get(&name) => {}
                Ok(_) => left.push(format!(
                    "{}: not as it was before the apply",
                    Address::host(&name)
                )),
                Err(e) => left.push(unreadable(&Address::host(&name).to_string(), &e)),
            }
        }
        left
    }
}

/// What is left to do after a plan's steps ran, from a fresh read of what they touched.
fn verify(
    config: &Config,
    backends: &mut Backends,
    before: Observed,
    steps: &[&(crate::plan::Phase, Step)],
    goal: Goal,
) -> Result<Plan, Error> {
    let start = std::time::Instant::now();
    let after =
        observe_after(config, backends, before, steps).map_err(|errors| Error::ReadBack {
            errors,
            diagnostics: vec![],
        })?;
    let left = crate::plan::make(config, &after, goal).map_err(|diagnostics| Error::ReadBack {
        errors: vec![],
        diagnostics,
    })?;
    crate::log::debug(|| {
        format!(
            "verified in {:.2}s: {} steps left",
            start.elapsed().as_secs_f64(),
            left.steps().len()
        )
    });
    Ok(left)
}
