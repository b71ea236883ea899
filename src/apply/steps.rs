//! Executing steps: consecutive steps of one kind run as a batch on their backend, and
//! every executed step is journaled with what undoes it; a rollback undoes the journal in
//! reverse.

use super::{Batch, Cancel, Error, Event, Progress, Reach};
use crate::defaults::KEEPALIVED_SETTLE;
use crate::director::{DirectorChange, KeepalivedQuery};
use crate::host::{Host, HostChange, for_each_parallel};
use crate::ipvs::{ApplyError, Change};
use crate::keepalived;
use crate::model::{Service, ServiceKey};
use crate::plan::{Phase, Step};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What undoes one executed step.
#[derive(Debug, Clone)]
pub enum Undo {
    Ipvs {
        changes: Vec<Change>,
        /// The step may not have been carried out: its answer was lost.
        in_doubt: bool,
    },
    Host {
        host: String,
        change: HostChange,
    },
    Director(DirectorChange),
}

impl std::fmt::Display for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undo::Ipvs { changes, .. } => {
                let changes: Vec<String> = changes.iter().map(ToString::to_string).collect();
                f.write_str(&changes.join(", "))
            }
            Undo::Host { host, change } => write!(f, "{host}: {change}"),
            Undo::Director(change) => write!(f, "{change}"),
        }
    }
}

/// Every executed step with what undoes it, oldest first.
#[derive(Debug, Default)]
pub struct Journal(Vec<Undo>);

impl Journal {
    /// Undoes everything in reverse; returns what could not be undone.
    pub fn rollback(self, backends: &mut Reach, progress: &mut dyn Progress) -> Vec<NotUndone> {
        rollback(self.0, backends, progress)
    }
}

/// An undo that failed, or whose outcome is unknown.
#[derive(Debug)]
pub struct NotUndone {
    pub undo: Undo,
    pub error: Error,
    /// Whether the state is as the apply made it, or as before, is unknown: the step or
    /// its undo may or may not have been carried out.
    pub in_doubt: bool,
}

/// The most steps run at once (IPVS changes still go 128 to a netlink message): progress
/// shows, and a cancel is heard, within a large plan.
const MAX_BATCH: usize = 4096;

/// Runs the steps and returns the journal of what they did; on the first failure, the
/// error with the journal so far (the caller rolls it back).
pub fn execute(
    steps: &[&(Phase, Step)],
    backends: &mut Reach,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<Journal, (Error, Journal)> {
    let mut journal: Vec<Undo> = Vec::new();
    let total = steps.len();
    let mut index = 0;
    let result = loop {
        let Some((phase, first)) = steps.get(index) else {
            break Ok(());
        };
        if cancel.is_cancelled() {
            break Err(Error::Cancelled);
        }
        // Consecutive steps of one kind in one phase run as one batch.
        let end = steps[index..]
            .iter()
            .take(MAX_BATCH)
            .position(|(p, s)| {
                p != phase || std::mem::discriminant(s) != std::mem::discriminant(first)
            })
            .map_or((index + MAX_BATCH).min(steps.len()), |n| index + n);
        let batch: Vec<&Step> = steps[index..end].iter().map(|(_, s)| s).collect();
        let described = Batch {
            first,
            count: batch.len(),
            director: None,
        };
        progress.event(Event::Started(described));
        let outcome = match first {
            Step::Ipvs { .. } => run_ipvs(&batch, backends, &mut journal),
            Step::Host { .. } => run_hosts(&batch, backends, &mut journal),
            Step::Director(_) => run_director(&batch, backends, &mut journal),
            Step::Drain { .. } => run_drains(&batch, backends, cancel),
        };
        progress.event(Event::Finished {
            batch: described,
            done: end,
            total,
        });
        if let Err(error) = outcome {
            break Err(error);
        }
        index = end;
    };
    match result {
        Ok(()) => Ok(Journal(journal)),
        Err(error) => Err((error, Journal(journal))),
    }
}

fn run_ipvs(batch: &[&Step], backends: &mut Reach, journal: &mut Vec<Undo>) -> Result<(), Error> {
    let (changes, undos): (Vec<Change>, Vec<&Vec<Change>>) = batch
        .iter()
        .filter_map(|s| match s {
            Step::Ipvs { change, undo } => Some((change.clone(), undo)),
            _ => None,
        })
        .unzip();
    let outcome = backends.ipvs.apply(&changes);
    let (failed, in_doubt): (BTreeSet<usize>, BTreeSet<usize>) = match &outcome {
        Ok(()) => Default::default(),
        Err(e) => (
            e.failed.iter().map(|(i, _)| *i).collect(),
            e.in_doubt.iter().map(|(i, _)| *i).collect(),
        ),
    };
    // A change in doubt is undone too, and the rollback says so if it cannot be.
    for (i, undo) in undos.into_iter().enumerate() {
        if !failed.contains(&i) {
            journal.push(Undo::Ipvs {
                changes: undo.clone(),
                in_doubt: in_doubt.contains(&i),
            });
        }
    }
    Ok(outcome?)
}

fn run_hosts(batch: &[&Step], backends: &mut Reach, journal: &mut Vec<Undo>) -> Result<(), Error> {
    let mut per_host: BTreeMap<&str, Vec<HostChange>> = BTreeMap::new();
    for step in batch {
        if let Step::Host { host, change } = step {
            per_host
                .entry(host.as_str())
                .or_default()
                .push(change.clone());
        }
    }
    let mut work: Vec<(&mut Box<dyn Host>, Vec<HostChange>)> = backends
        .hosts
        .iter_mut()
        .filter_map(|h| {
            let changes = per_host.remove(h.name())?;
            Some((h, changes))
        })
        .collect();
    if let Some(host) = per_host.keys().next() {
        return Err(Error::UnknownHost(host.to_string()));
    }
    let results = for_each_parallel(&mut work, backends.parallelism, |(host, changes)| {
        host.apply(changes)
    });
    let mut errors = Vec::new();
    for ((host, changes), result) in work.iter().zip(results) {
        // A change in doubt is undone too: undoing what did not happen changes nothing.
        let done = match &result {
            Ok(()) => changes.len(),
            Err(e) => (e.applied + e.unknown).min(changes.len()),
        };
        for change in &changes[..done] {
            journal.push(Undo::Host {
                host: host.name().to_string(),
                change: change.inverse(),
            });
        }
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Hosts(errors))
    }
}

fn run_director(
    batch: &[&Step],
    backends: &mut Reach,
    journal: &mut Vec<Undo>,
) -> Result<(), Error> {
    for step in batch {
        if let Step::Director(change) = step {
            // A change that fails changed nothing (a keepalived file is put back when
            // keepalived cannot be reloaded).
            backends.director.apply(change)?;
            journal.push(Undo::Director(change.inverse()));
            settle(change, backends)?;
        }
    }
    Ok(())
}

/// How often the table is read while keepalived makes it.
const SETTLE_POLL: Duration = Duration::from_millis(250);

/// After keepalived is given a file: waits (up to `KEEPALIVED_SETTLE`) until the table
/// is what keepalived must make of it — every server of it there at its weight, or held
/// down by its check, and nothing else. Any other change is done when made.
fn settle(change: &DirectorChange, backends: &mut Reach) -> Result<(), Error> {
    let DirectorChange::Keepalived(write) = change else {
        return Ok(());
    };
    let keys: BTreeSet<ServiceKey> = write
        .services
        .keys()
        .chain(write.services_before.keys())
        .copied()
        .collect();
    let query = KeepalivedQuery {
        files: write.files.clone(),
        daemon: true,
    };
    let start = Instant::now();
    loop {
        let table = backends
            .ipvs
            .observe_some(Some(&keys))
            .map_err(|e| Error::ReadBack {
                errors: vec![e.into()],
                diagnostics: vec![],
            })?;
        let facts = backends.director.observe(&[], None, Some(&query))?;
        let down = match facts.keepalived.and_then(|k| k.daemon) {
            Some(Ok(daemon)) => daemon.down,
            _ => Default::default(),
        };
        let expected = keepalived::held(&write.services, &down);
        let live: BTreeMap<ServiceKey, Service> = table
            .services
            .into_iter()
            .filter(|(key, _)| keys.contains(key))
            .collect();
        let Some(difference) = first_difference(&expected, &live) else {
            return Ok(());
        };
        if start.elapsed() >= KEEPALIVED_SETTLE {
            return Err(Error::Unsettled {
                file: write.files.file.clone(),
                waited: KEEPALIVED_SETTLE.as_secs(),
                difference,
            });
        }
        std::thread::sleep(SETTLE_POLL);
    }
}

/// The first service whose table differs from what is expected, said plainly.
fn first_difference(
    expected: &BTreeMap<ServiceKey, Service>,
    live: &BTreeMap<ServiceKey, Service>,
) -> Option<String> {
    let keys: BTreeSet<&ServiceKey> = expected.keys().chain(live.keys()).collect();
    keys.into_iter()
        .find_map(|key| match (expected.get(key), live.get(key)) {
            (Some(_), None) => Some(format!("{key} is missing")),
            (None, Some(_)) => Some(format!("{key} is still there")),
            (Some(want), Some(have)) if want.settings != have.settings => {
                Some(format!("{key} has other settings"))
            }
            (Some(want), Some(have)) => {
                let servers: BTreeSet<_> = want
                    .destinations
                    .keys()
                    .chain(have.destinations.keys())
                    .collect();
                servers.into_iter().find_map(|dest| {
                    match (want.destinations.get(dest), have.destinations.get(dest)) {
                        (Some(_), None) => Some(format!("{key}: real server {dest} is missing")),
                        (None, Some(_)) => {
                            Some(format!("{key}: real server {dest} is still there"))
                        }
                        (Some(w), Some(h)) if w != h => Some(format!(
                            "{key}: real server {dest} has weight {} (the file says {})",
                            h.weight, w.weight
                        )),
                        _ => None,
                    }
                })
            }
            _ => None,
        })
}

/// Waits until every drained destination has no active connections, or its timeout.
fn run_drains(batch: &[&Step], backends: &mut Reach, cancel: &Cancel) -> Result<(), Error> {
    if !backends.drain {
        return Ok(());
    }
    let start = Instant::now();
    let mut waiting: Vec<&Step> = batch.to_vec();
    // Only the drained services' real servers are read: a remote director sends less.
    let services: BTreeSet<_> = batch
        .iter()
        .filter_map(|step| match step {
            Step::Drain { service, .. } => Some(*service),
            _ => None,
        })
        .collect();
    while !waiting.is_empty() {
        let table = backends
            .ipvs
            .observe_some(Some(&services))
            .map_err(Error::Drain)?;
        waiting.retain(|step| {
            let Step::Drain {
                service,
                dest,
                timeout,
            } = step
            else {
                return false;
            };
            let active = table
                .counters
                .get(&(*service, *dest))
                .map_or(0, |c| c.active);
            active > 0 && start.elapsed() < *timeout
        });
        if cancel.is_cancelled() {
            return Err(Error::CancelledInDrain);
        }
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    Ok(())
}

/// Undoes the journal in reverse; returns what could not be undone. Consecutive undos on
/// hosts go as one batch per host, the hosts in parallel; consecutive IPVS undos as
/// batches of up to `MAX_BATCH` changes, as they were applied.
fn rollback(
    journal: Vec<Undo>,
    backends: &mut Reach,
    progress: &mut dyn Progress,
) -> Vec<NotUndone> {
    let mut left = Vec::new();
    let mut undos = journal.into_iter().rev().peekable();
    while let Some(undo) = undos.next() {
        let outcomes: Vec<(Undo, Result<(), Error>)> = match undo {
            Undo::Host { .. } => {
                let mut run = vec![undo];
                while let Some(next) = undos.next_if(|u| matches!(u, Undo::Host { .. })) {
                    run.push(next);
                }
                let results = undo_on_hosts(&run, backends);
                run.into_iter().zip(results).collect()
            }
            Undo::Ipvs { .. } => {
                let mut run = vec![undo];
                let mut size = ipvs_changes(&run[0]).len();
                while let Some(next) = undos.next_if(|u| {
                    matches!(u, Undo::Ipvs { .. }) && size + ipvs_changes(u).len() <= MAX_BATCH
                }) {
                    size += ipvs_changes(&next).len();
                    run.push(next);
                }
                let results = undo_on_ipvs(&run, backends);
                run.into_iter().zip(results).collect()
            }
            Undo::Director(ref change) => {
                let result = backends
                    .director
                    .apply(change)
                    .map_err(Error::from)
                    .and_then(|()| settle(change, backends));
                vec![(undo, result)]
            }
        };
        for (undo, result) in outcomes {
            progress.event(Event::Undone {
                undo: &undo,
                error: result.as_ref().err(),
            });
            if let Err(error) = result {
                let in_doubt = matches!(undo, Undo::Ipvs { in_doubt: true, .. })
                    || matches!(&error, Error::Ipvs(e) if !e.in_doubt.is_empty());
                left.push(NotUndone {
                    undo,
                    error,
                    in_doubt,
                });
            }
        }
    }
    left
}

fn ipvs_changes(undo: &Undo) -> &[Change] {
    match undo {
        Undo::Ipvs { changes, .. } => changes,
        _ => &[],
    }
}

/// IPVS undos (all `Undo::Ipvs`) as one batch; one result each, with the errors of its
/// own changes.
fn undo_on_ipvs(run: &[Undo], backends: &mut Reach) -> Vec<Result<(), Error>> {
    let mut changes = Vec::new();
    let mut owner = Vec::new();
    for (index, undo) in run.iter().enumerate() {
        for change in ipvs_changes(undo) {
            changes.push(change.clone());
            owner.push(index);
        }
    }
    let mut errors: Vec<ApplyError> = run.iter().map(|_| ApplyError::default()).collect();
    if let Err(error) = backends.ipvs.apply(&changes) {
        for (i, e) in error.failed {
            errors[owner[i]].failed.push((i, e));
        }
        for (i, e) in error.in_doubt {
            errors[owner[i]].in_doubt.push((i, e));
        }
    }
    errors
        .into_iter()
        .map(|e| match e.is_empty() {
            true => Ok(()),
            false => Err(Error::Ipvs(e)),
        })
        .collect()
}

/// Host undos (all `Undo::Host`), in order per host; one result each. After a host's first
/// failure its later undos count as failed: they did not run, or may not have.
fn undo_on_hosts(run: &[Undo], backends: &mut Reach) -> Vec<Result<(), Error>> {
    let mut per_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, undo) in run.iter().enumerate() {
        if let Undo::Host { host, .. } = undo {
            per_host.entry(host.as_str()).or_default().push(index);
        }
    }
    let mut results: Vec<Result<(), Error>> = run
        .iter()
        .map(|undo| match undo {
            Undo::Host { host, .. } => Err(Error::UnknownHost(host.clone())),
            _ => Ok(()),
        })
        .collect();
    let mut work: Vec<(&mut Box<dyn Host>, Vec<usize>)> = backends
        .hosts
        .iter_mut()
        .filter_map(|h| {
            let indexes = per_host.remove(h.name())?;
            Some((h, indexes))
        })
        .collect();
    let applied = for_each_parallel(&mut work, backends.parallelism, |(host, indexes)| {
        let changes: Vec<HostChange> = indexes
            .iter()
            .filter_map(|i| match &run[*i] {
                Undo::Host { change, .. } => Some(change.clone()),
                _ => None,
            })
            .collect();
        host.apply(&changes)
    });
    for ((_, indexes), outcome) in work.iter().zip(applied) {
        for (position, index) in indexes.iter().enumerate() {
            results[*index] = match &outcome {
                Err(e) if position >= e.applied => Err(Error::Hosts(vec![e.clone()])),
                _ => Ok(()),
            };
        }
    }
    results
}
