//! Carrying out a plan, in stages: the real servers are prepared, then each director in
//! declared order — its steps, then a read-back that must find nothing left to do there —
//! and the real servers are cleaned up after the last (one director is the case of one
//! director stage). Every executed step is journaled with its inverse; any failure on the
//! way — a step, a cancel, a verification that finds work left — undoes every stage so
//! far, the latest first. Generic over the backends; progress is reported, never printed.

mod observe;
mod run;
mod steps;
mod touched;

pub use observe::{ObserveError, observe, observe_with, reread_director, reread_hosts};
pub use run::run;
pub use steps::{NotUndone, Undo};

use crate::config::Config;
use crate::diag::Diag;
use crate::director::{Director, DirectorError};
use crate::host::{Host, HostApplyError};
use crate::ipvs::{Ipvs, IpvsError};
use crate::plan::{Goal, Observed, Plan, Step};
use crate::probe::{Outcome, PlannedProbe};
use miette::Diagnostic;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What an apply works on: every director's backends, in declared order, and the managed
/// hosts.
pub struct Backends<'a> {
    pub directors: Vec<DirectorBackends<'a>>,
    /// Managed hosts by SSH address.
    pub hosts: &'a mut [Box<dyn Host>],
    pub parallelism: usize,
    /// Wait for the connections of removed real servers (`--no-drain`: false).
    pub drain: bool,
}

/// One director's backends: its IPVS table and its own settings.
pub struct DirectorBackends<'a> {
    pub ipvs: &'a mut dyn Ipvs,
    pub settings: &'a mut dyn Director,
}

impl Backends<'_> {
    /// What the steps of one stage reach: director `index` and the hosts.
    fn reach(&mut self, index: usize) -> Reach<'_> {
        let director = &mut self.directors[index];
        Reach {
            ipvs: &mut *director.ipvs,
            director: &mut *director.settings,
            hosts: self.hosts,
            parallelism: self.parallelism,
            drain: self.drain,
        }
    }
}

/// What the steps of one stage reach: one director's backends and the hosts.
struct Reach<'a> {
    ipvs: &'a mut dyn Ipvs,
    director: &'a mut dyn Director,
    hosts: &'a mut [Box<dyn Host>],
    parallelism: usize,
    drain: bool,
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
    /// What a read-back after the steps still finds to do, and where.
    #[error("verification failed: {steps} changes remain after applying ({})", remaining(.addresses))]
    ChangesRemain {
        steps: usize,
        addresses: Vec<String>,
    },
    /// keepalived did not make the table its file says in time.
    #[error("keepalived did not make the table {file} says within {waited} s: {difference}")]
    Unsettled {
        file: String,
        waited: u64,
        difference: String,
    },
    /// The VRRP VIPs are not where the priorities say, after the directors' stages.
    #[error("VRRP did not settle within {waited} s: the VIPs should be on {expected} alone, and are on {}", if holders.is_empty() { "no director".to_string() } else { holders.join(" and ") })]
    VrrpUnsettled {
        expected: String,
        holders: Vec<String>,
        waited: u64,
    },
    /// Probes that failed: before any change (each server probed directly), or the first
    /// through a VIP after a director's changes.
    #[error("{}", probes_failed(.0))]
    Probes(Vec<ProbeFailure>),
    /// The state after the steps could not be read, or not planned against.
    #[error("verification failed: the live state cannot be read back")]
    ReadBack {
        errors: Vec<ObserveError>,
        diagnostics: Vec<Diag>,
    },
}

/// The first few addresses, and how many more.
fn remaining(addresses: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = addresses[..addresses.len().min(SHOWN)].join(", ");
    if addresses.len() > SHOWN {
        text.push_str(&format!(" and {} more", addresses.len() - SHOWN));
    }
    text
}

fn probes_failed(failures: &[ProbeFailure]) -> String {
    match failures {
        [only] => only.to_string(),
        _ => format!(
            "{} real servers failed their probes before any change",
            failures.len()
        ),
    }
}

/// A probe that ran and failed.
#[derive(Debug, thiserror::Error)]
#[error("probe of {} {}: {outcome}", .probe.server_text(), way(*.through, .probe))]
pub struct ProbeFailure {
    pub probe: PlannedProbe,
    /// Through the VIP (else directly).
    pub through: bool,
    pub outcome: Outcome,
}

/// How a probe went: `directly`, `through 203.0.113.10:80 (dr)`.
pub fn way(through: bool, probe: &PlannedProbe) -> String {
    let (vip, port) = probe.vip();
    match through {
        true => format!(
            "through {} ({})",
            crate::model::SocketText(vip, port),
            probe.forwarding.mode()
        ),
        false => "directly".into(),
    }
}

impl Diagnostic for ProbeFailure {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(match self.through {
            true => Box::new(format!(
                "it answers directly but not through the VIP: {}",
                self.probe.likely_cause()
            )),
            false => Box::new(format!(
                "the server does not answer the probe ({}): start its service, or correct the service's probe block",
                self.probe.probe
            )),
        })
    }
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
            Error::Probes(failures) if failures.len() == 1 => failures[0].help(),
            Error::Director(error) => error.help(),
            Error::Drain(error) => error.help(),
            Error::Unsettled { .. } => Some(Box::new(
                "keepalived's log on the director says why (journalctl -u keepalived)",
            )),
            Error::VrrpUnsettled { .. } => Some(Box::new(
                "keepalived's log on each director says its VRRP state (journalctl -u keepalived); the directors must hear each other's adverts (multicast 224.0.0.18, or unicast between their DIPs)",
            )),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            Error::Hosts(errors) if errors.len() > 1 => {
                Some(Box::new(errors.iter().map(|e| e as &dyn Diagnostic)))
            }
            Error::Probes(failures) if failures.len() > 1 => {
                Some(Box::new(failures.iter().map(|e| e as &dyn Diagnostic)))
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
    /// What the rollback could not restore (empty: it restored everything).
    pub left: Box<Left>,
}

/// What a rollback could not restore, each item under the director's name when it has
/// one.
#[derive(Debug, Default)]
pub struct Left {
    /// Undos that failed: left as the failed apply made it.
    pub items: Vec<String>,
    /// Undos of changes that may or may not have been carried out (their answer was
    /// lost), that could not be undone or whose undo's outcome is unknown.
    pub in_doubt: Vec<String>,
    /// Why: each distinct error once, with how many undos it stopped.
    pub reasons: Vec<(String, usize)>,
}

impl Left {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.in_doubt.is_empty()
    }

    fn add(&mut self, what: String, error: &Error, in_doubt: bool) {
        match in_doubt {
            true => self.in_doubt.push(what),
            false => self.items.push(what),
        }
        let reason = crate::diag::error_text(error);
        match self.reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += 1,
            None => self.reasons.push((reason, 1)),
        }
    }
}

/// Steps of one kind that run together.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub first: &'a Step,
    pub count: usize,
    /// The named director whose stage runs it.
    pub director: Option<&'a str>,
}

impl fmt::Display for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(director) = self.director {
            write!(f, "{director}: ")?;
        }
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
    /// A probe ran (`through`: through the VIP, else directly).
    Probed {
        probe: &'a PlannedProbe,
        through: bool,
        outcome: &'a Outcome,
    },
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
