//! Carrying out a plan: steps in phase order, every executed step journaled with its
//! inverse, and on the first failure the journal undone in reverse (SPEC §5).

use crate::director::{DirectorChange, DirectorFacts};
use crate::host::{Host, HostChange, for_each_parallel};
use crate::ipvs::{Change, Ipvs, Table};
use crate::model::{Destination, Service};
use crate::plan::{Phase, Step};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C or SIGTERM: the apply stops before its next step and rolls back.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);
use std::time::{Duration, Instant};

/// The director's own settings (sysctls, VIPs on its interface).
pub trait Director {
    fn observe(
        &mut self,
        sysctls: &[String],
        interface: Option<&str>,
    ) -> Result<DirectorFacts, String>;
    fn apply(&mut self, change: &DirectorChange) -> Result<(), String>;
}

/// The director lvsform runs on.
pub struct LocalDirector;

impl Director for LocalDirector {
    fn observe(
        &mut self,
        sysctls: &[String],
        interface: Option<&str>,
    ) -> Result<DirectorFacts, String> {
        crate::director::observe(sysctls, interface)
    }

    fn apply(&mut self, change: &DirectorChange) -> Result<(), String> {
        crate::director::apply(change)
    }
}

/// Reports progress; the core never prints.
pub trait Progress {
    /// A batch of steps starts (`what` describes it).
    fn begin(&mut self, _what: &str) {}
    /// A batch of steps ended: `done` of `total` steps are done.
    fn step(&mut self, done: usize, total: usize, what: &str);
    /// A step failed; the rollback follows.
    fn failed(&mut self, error: &str);
    fn undo(&mut self, what: &str, result: &Result<(), String>);
}

pub struct Backends<'a> {
    pub ipvs: &'a mut dyn Ipvs,
    /// Managed hosts by SSH address.
    pub hosts: &'a mut [Box<dyn Host>],
    pub director: &'a mut dyn Director,
    pub parallelism: usize,
    pub drain: bool,
}

/// What undoes one executed step.
#[derive(Debug, Clone)]
pub enum Undo {
    Ipvs(Vec<Change>),
    Host { host: String, change: HostChange },
    Director(DirectorChange),
}

impl Undo {
    fn describe(&self) -> String {
        match self {
            Undo::Ipvs(changes) => changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            Undo::Host { host, change } => format!("{host}: {change}"),
            Undo::Director(change) => change.to_string(),
        }
    }
}

#[derive(Debug)]
pub struct Failure {
    /// What failed, in words.
    pub error: String,
    /// Undo steps that failed: what is left as the failed apply made it.
    pub left: Vec<String>,
}

/// How to undo an IPVS change, from the state it was planned against.
fn ipvs_inverse(change: &Change, before: &Table) -> Vec<Change> {
    let service = |key| before.services.get(key);
    let dest = |s, d| {
        service(s)
            .and_then(|svc: &Service| svc.destinations.get(d))
            .cloned()
    };
    match change {
        Change::AddService { key, .. } => vec![Change::DelService { key: *key }],
        Change::EditService { key, .. } => service(key)
            .map(|s| {
                vec![Change::EditService {
                    key: *key,
                    settings: s.settings.clone(),
                }]
            })
            .unwrap_or_default(),
        Change::DelService { key } => match service(key) {
            Some(s) => {
                let mut undo = vec![Change::AddService {
                    key: *key,
                    settings: s.settings.clone(),
                }];
                undo.extend(s.destinations.iter().map(|(d, dest): (_, &Destination)| {
                    Change::AddDest {
                        service: *key,
                        key: *d,
                        dest: dest.clone(),
                    }
                }));
                undo
            }
            None => vec![],
        },
        Change::AddDest { service, key, .. } => vec![Change::DelDest {
            service: *service,
            key: *key,
        }],
        Change::EditDest { service, key, .. } => dest(service, key)
            .map(|d| {
                vec![Change::EditDest {
                    service: *service,
                    key: *key,
                    dest: d,
                }]
            })
            .unwrap_or_default(),
        Change::DelDest { service, key } => dest(service, key)
            .map(|d| {
                vec![Change::AddDest {
                    service: *service,
                    key: *key,
                    dest: d,
                }]
            })
            .unwrap_or_default(),
        Change::SetTimeouts(_) => vec![Change::SetTimeouts(before.timeouts)],
        Change::StartDaemon(d) => vec![Change::StopDaemon(d.clone())],
        Change::StopDaemon(d) => vec![Change::StartDaemon(d.clone())],
    }
}

/// Every executed step with what undoes it, oldest first.
#[derive(Debug, Default)]
pub struct Journal(Vec<Undo>);

impl Journal {
    /// Undoes everything in reverse; returns what could not be undone.
    pub fn rollback(self, backends: &mut Backends, progress: &mut dyn Progress) -> Vec<String> {
        rollback(self.0, backends, progress)
    }
}

/// Runs the steps. On success returns the journal (a later check may still undo it); on
/// failure undoes what was done and reports what could not be undone.
/// The most steps run at once (IPVS changes still go 128 to a netlink message).
const MAX_BATCH: usize = 4096;

pub fn execute(
    steps: &[(Phase, Step)],
    before: &Table,
    backends: &mut Backends,
    progress: &mut dyn Progress,
) -> Result<Journal, Failure> {
    let mut journal: Vec<Undo> = Vec::new();
    let total = steps.len();
    let mut done = 0;
    let mut index = 0;
    let result = loop {
        let Some((phase, first)) = steps.get(index) else {
            break Ok(());
        };
        if INTERRUPTED.load(Ordering::SeqCst) {
            break Err("interrupted".to_string());
        }
        // Consecutive steps of one kind in one phase run as one batch, of a size that
        // lets progress show and Ctrl-C stop within a large plan.
        let end = steps[index..]
            .iter()
            .take(MAX_BATCH)
            .position(|(p, s)| {
                p != phase || std::mem::discriminant(s) != std::mem::discriminant(first)
            })
            .map_or((index + MAX_BATCH).min(steps.len()), |n| index + n);
        let batch: Vec<&Step> = steps[index..end].iter().map(|(_, s)| s).collect();
        let what = describe(first, batch.len());
        progress.begin(&what);
        let outcome = match first {
            Step::Ipvs(_) => run_ipvs(&batch, before, backends, &mut journal),
            Step::Host { .. } => run_hosts(&batch, backends, &mut journal),
            Step::Director(_) => run_director(&batch, backends, &mut journal),
            Step::Drain { .. } => run_drains(&batch, backends),
        };
        done += batch.len();
        progress.step(done, total, &what);
        if let Err(error) = outcome {
            break Err(error);
        }
        index = end;
    };
    match result {
        Ok(()) => Ok(Journal(journal)),
        Err(error) => {
            progress.failed(&error);
            let left = rollback(journal, backends, progress);
            Err(Failure { error, left })
        }
    }
}

fn describe(step: &Step, count: usize) -> String {
    let what = match step {
        Step::Ipvs(change) => change.to_string(),
        Step::Host { host, change } => format!("{host}: {change}"),
        Step::Director(change) => change.to_string(),
        Step::Drain { service, dest, .. } => format!("drain {dest} of {service}"),
    };
    if count > 1 {
        format!("{what} (and {} more)", count - 1)
    } else {
        what
    }
}

fn run_ipvs(
    batch: &[&Step],
    before: &Table,
    backends: &mut Backends,
    journal: &mut Vec<Undo>,
) -> Result<(), String> {
    let changes: Vec<Change> = batch
        .iter()
        .filter_map(|s| {
            if let Step::Ipvs(c) = s {
                Some(c.clone())
            } else {
                None
            }
        })
        .collect();
    let outcome = backends.ipvs.apply(&changes);
    let failed: std::collections::BTreeSet<usize> = match &outcome {
        Ok(()) => Default::default(),
        Err(e) => e.failed.iter().map(|(i, _)| *i).collect(),
    };
    for (i, change) in changes.iter().enumerate() {
        if !failed.contains(&i) {
            journal.push(Undo::Ipvs(ipvs_inverse(change, before)));
        }
    }
    outcome.map_err(|e| e.to_string())
}

fn run_hosts(
    batch: &[&Step],
    backends: &mut Backends,
    journal: &mut Vec<Undo>,
) -> Result<(), String> {
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
        return Err(format!("{host}: not a managed host"));
    }
    let results = for_each_parallel(&mut work, backends.parallelism, |(host, changes)| {
        host.apply(changes)
    });
    let mut errors = Vec::new();
    for ((host, changes), result) in work.iter().zip(results) {
        let applied = match &result {
            Ok(()) => changes.len(),
            Err(e) => e.applied,
        };
        for change in &changes[..applied] {
            journal.push(Undo::Host {
                host: host.name().to_string(),
                change: change.inverse(),
            });
        }
        if let Err(e) = result {
            errors.push(e.to_string());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

fn run_director(
    batch: &[&Step],
    backends: &mut Backends,
    journal: &mut Vec<Undo>,
) -> Result<(), String> {
    for step in batch {
        if let Step::Director(change) = step {
            backends.director.apply(change)?;
            journal.push(Undo::Director(change.inverse()));
        }
    }
    Ok(())
}

/// Waits until every drained destination has no active connections, or its timeout.
fn run_drains(batch: &[&Step], backends: &mut Backends) -> Result<(), String> {
    if !backends.drain {
        return Ok(());
    }
    let start = Instant::now();
    let mut waiting: Vec<&Step> = batch.to_vec();
    while !waiting.is_empty() {
        let table = backends.ipvs.observe().map_err(|e| e.to_string())?;
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
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err("interrupted while draining".to_string());
        }
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    Ok(())
}

/// Undoes the journal in reverse; returns what could not be undone.
fn rollback(
    journal: Vec<Undo>,
    backends: &mut Backends,
    progress: &mut dyn Progress,
) -> Vec<String> {
    let mut left = Vec::new();
    for undo in journal.into_iter().rev() {
        let result = match &undo {
            Undo::Ipvs(changes) => backends.ipvs.apply(changes).map_err(|e| e.to_string()),
            Undo::Host { host, change } => {
                match backends.hosts.iter_mut().find(|h| h.name() == host) {
                    Some(h) => h
                        .apply(std::slice::from_ref(change))
                        .map_err(|e| e.to_string()),
                    None => Err(format!("{host}: not a managed host")),
                }
            }
            Undo::Director(change) => backends.director.apply(change),
        };
        progress.undo(&undo.describe(), &result);
        if let Err(e) = result {
            left.push(format!("{}: {e}", undo.describe()));
        }
    }
    left
}

/// Reads everything the plan compares: the IPVS table, the director's settings, and every
/// managed host in parallel. Every failure is reported, not just the first.
pub fn observe(
    config: &crate::config::Config,
    backends: &mut Backends,
) -> Result<crate::plan::Observed, Vec<String>> {
    let table = backends.ipvs.observe().map_err(|e| e.to_string());
    observe_with(config, backends, table)
}

/// `observe` with the IPVS table already read (`lvsform` reads it while the configuration
/// is evaluated).
pub fn observe_with(
    config: &crate::config::Config,
    backends: &mut Backends,
    table: Result<Table, String>,
) -> Result<crate::plan::Observed, Vec<String>> {
    let mut errors = Vec::new();
    let sysctls: Vec<String> = config.desired.director.sysctls.keys().cloned().collect();
    let director = backends
        .director
        .observe(&sysctls, config.director.interface.as_deref());
    let facts = for_each_parallel(backends.hosts, backends.parallelism, |h| {
        (h.name().to_string(), h.observe())
    });
    let mut hosts = BTreeMap::new();
    for (name, result) in facts {
        match result {
            Ok(f) => {
                hosts.insert(name, f);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let table = table.map_err(|e| errors.push(e)).ok();
    let director = director.map_err(|e| errors.push(e)).ok();
    match (table, director) {
        (Some(table), Some(director)) if errors.is_empty() => Ok(crate::plan::Observed {
            table,
            director,
            hosts,
        }),
        _ => Err(errors),
    }
}

/// Reads again what a plan changed, for verification: the real servers of the services it
/// touched and the hosts it touched; the rest is taken from `before` (a full dump of a
/// large table would double the time of a small apply).
pub fn observe_after(
    config: &crate::config::Config,
    backends: &mut Backends,
    mut before: crate::plan::Observed,
    steps: &[(Phase, Step)],
) -> Result<crate::plan::Observed, Vec<String>> {
    let touched: std::collections::BTreeSet<_> = steps
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Ipvs(c) => c.service(),
            Step::Drain { service, .. } => Some(*service),
            _ => None,
        })
        .collect();
    let touched_hosts: std::collections::BTreeSet<&str> = steps
        .iter()
        .filter_map(|(_, s)| {
            if let Step::Host { host, .. } = s {
                Some(host.as_str())
            } else {
                None
            }
        })
        .collect();
    let mut errors = Vec::new();
    let mut table = backends
        .ipvs
        .observe_some(Some(&touched))
        .map_err(|e| vec![e.to_string()])?;
    for (key, service) in table.services.iter_mut() {
        if !touched.contains(key)
            && let Some(old) = before.table.services.get_mut(key)
        {
            service.destinations = std::mem::take(&mut old.destinations);
        }
    }
    for (key, counters) in before.table.counters {
        if !touched.contains(&key.0) {
            table.counters.insert(key, counters);
        }
    }
    let sysctls: Vec<String> = config.desired.director.sysctls.keys().cloned().collect();
    let director = backends
        .director
        .observe(&sysctls, config.director.interface.as_deref())
        .map_err(|e| errors.push(e))
        .ok();
    let mut reread: Vec<&mut Box<dyn Host>> = backends
        .hosts
        .iter_mut()
        .filter(|h| touched_hosts.contains(h.name()))
        .collect();
    let facts = for_each_parallel(&mut reread, backends.parallelism, |h| {
        (h.name().to_string(), h.observe())
    });
    let mut hosts = before.hosts;
    for (name, result) in facts {
        match result {
            Ok(f) => {
                hosts.insert(name, f);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    match director {
        Some(director) if errors.is_empty() => Ok(crate::plan::Observed {
            table,
            director,
            hosts,
        }),
        _ => Err(errors),
    }
}
