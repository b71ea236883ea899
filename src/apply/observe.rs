//! Reading what a plan compares: the IPVS table, the director's settings, and every
//! managed host in parallel; after an apply, only what its steps touched.

use super::Backends;
use crate::config::Config;
use crate::director::DirectorError;
use crate::host::{Host, HostError, HostFacts, for_each_parallel};
use crate::ipvs::{IpvsError, Table};
use crate::plan::{Observed, Phase, Step};
use std::collections::{BTreeMap, BTreeSet};

/// Why part of the live state could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ObserveError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Ipvs(#[from] IpvsError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Director(#[from] DirectorError),
}

/// Reads everything the plan compares: the IPVS table, the director's settings, and every
/// managed host in parallel. Every failure is reported, not just the first.
pub fn observe(config: &Config, backends: &mut Backends) -> Result<Observed, Vec<ObserveError>> {
    let table = backends.ipvs.observe();
    observe_with(config, backends, table)
}

/// `observe` with the IPVS table already read (`lvsform` reads it while the configuration
/// is evaluated).
pub fn observe_with(
    config: &Config,
    backends: &mut Backends,
    table: Result<Table, IpvsError>,
) -> Result<Observed, Vec<ObserveError>> {
    let mut errors = Vec::new();
    let sysctls: Vec<String> = config.desired.director.sysctls.keys().cloned().collect();
    let director = backends
        .director
        .observe(&sysctls, config.director.interface.as_deref());
    let facts = for_each_parallel(backends.hosts, backends.parallelism, |h| {
        (h.name().to_string(), h.observe())
    });
    let mut hosts = BTreeMap::new();
    gather(facts, &mut hosts, &mut errors);
    let table = table.map_err(|e| errors.push(e.into())).ok();
    let director = director.map_err(|e| errors.push(e.into())).ok();
    match (table, director) {
        (Some(table), Some(director)) if errors.is_empty() => Ok(Observed {
            table,
            director,
            hosts,
        }),
        _ => Err(errors),
    }
}

/// Reads everything a plan over named directors compares: each director's settings (its
/// table read already, in `tables`), and every managed host once; one `Observed` per
/// director, each with every host's facts.
pub fn observe_named(
    config: &Config,
    fleet: &mut super::Fleet,
    tables: Vec<Result<Table, IpvsError>>,
) -> Result<Vec<Observed>, Vec<ObserveError>> {
    let mut errors = Vec::new();
    let facts = for_each_parallel(fleet.hosts, fleet.parallelism, |h| {
        (h.name().to_string(), h.observe())
    });
    let mut hosts = BTreeMap::new();
    gather(facts, &mut hosts, &mut errors);
    let mut observed = Vec::new();
    for ((director, (_, settings)), table) in config
        .directors
        .iter()
        .zip(fleet.directors.iter_mut())
        .zip(tables)
    {
        let sysctls: Vec<String> = director.settings.sysctls.keys().cloned().collect();
        let facts = settings.observe(&sysctls, director.meta.interface.as_deref());
        match (table, facts) {
            (Ok(table), Ok(director)) => observed.push(Observed {
                table,
                director,
                hosts: hosts.clone(),
            }),
            (table, facts) => {
                errors.extend(table.err().map(ObserveError::from));
                errors.extend(facts.err().map(ObserveError::from));
            }
        }
    }
    if errors.is_empty() {
        Ok(observed)
    } else {
        Err(errors)
    }
}

/// Reads again what a plan changed, for verification: the real servers of the services it
/// touched and the hosts it touched; the rest is taken from `before` (a full dump of a
/// large table would double the time of a small apply).
pub fn observe_after(
    config: &Config,
    backends: &mut Backends,
    mut before: Observed,
    steps: &[&(Phase, Step)],
) -> Result<Observed, Vec<ObserveError>> {
    let touched: BTreeSet<_> = steps
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Ipvs { change, .. } => change.service(),
            Step::Drain { service, .. } => Some(*service),
            _ => None,
        })
        .collect();
    let touched_hosts: BTreeSet<&str> = steps
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
        .map_err(|e| vec![e.into()])?;
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
    for (key, order) in before.table.order {
        if !touched.contains(&key) && table.services.contains_key(&key) {
            table.order.insert(key, order);
        }
    }
    let sysctls: Vec<String> = config.desired.director.sysctls.keys().cloned().collect();
    let director = backends
        .director
        .observe(&sysctls, config.director.interface.as_deref())
        .map_err(|e| errors.push(e.into()))
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
    gather(facts, &mut hosts, &mut errors);
    match director {
        Some(director) if errors.is_empty() => Ok(Observed {
            table,
            director,
            hosts,
        }),
        _ => Err(errors),
    }
}

/// Hosts' facts as read, into `hosts`; each failure into `errors`.
fn gather(
    facts: Vec<(String, Result<HostFacts, HostError>)>,
    hosts: &mut BTreeMap<String, HostFacts>,
    errors: &mut Vec<ObserveError>,
) {
    for (name, result) in facts {
        match result {
            Ok(f) => {
                hosts.insert(name, f);
            }
            Err(e) => errors.push(e.into()),
        }
    }
}
