//! Reading what a plan compares: each director's IPVS table and settings, and every
//! managed host in parallel; after a stage of an apply, only what its steps touched.

use super::{Backends, DirectorBackends};
use crate::config::Config;
use crate::director::{Director, DirectorError, DirectorFacts, KeepalivedQuery};
use crate::host::{Host, HostError, HostFacts, for_each_parallel};
use crate::ipvs::{IpvsError, Table};
use crate::plan::{Observed, ObservedDirector, Phase, Step};
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

/// Reads everything the plan compares: each director's IPVS table and settings, and every
/// managed host once, in parallel. Every failure is reported, not just the first.
pub fn observe(config: &Config, backends: &mut Backends) -> Result<Observed, Vec<ObserveError>> {
    let tables = backends
        .directors
        .iter_mut()
        .map(|d| Some(d.ipvs.observe()))
        .collect();
    observe_with(config, backends, tables)
}

/// `observe` with each director's IPVS table already read, in declared order (`lvsform`
/// reads them while the configuration is evaluated); none for a director the run leaves
/// out, which is not read at all.
pub fn observe_with(
    config: &Config,
    backends: &mut Backends,
    tables: Vec<Option<Result<Table, IpvsError>>>,
) -> Result<Observed, Vec<ObserveError>> {
    let mut errors = Vec::new();
    let facts = for_each_parallel(backends.hosts, backends.parallelism, |h| {
        (h.name().to_string(), h.observe())
    });
    let mut observed = Observed::default();
    gather(facts, &mut observed.hosts, &mut errors);
    for (index, (director, table)) in backends.directors.iter_mut().zip(tables).enumerate() {
        let Some(table) = table else {
            observed.directors.push(None);
            continue;
        };
        let settings = read_settings(config, index, &mut *director.settings);
        match (table, settings) {
            (Ok(mut table), Ok(mut settings)) => {
                if let Err(e) = with_keepalived(config, index, director, &mut table, &mut settings)
                {
                    errors.push(e);
                }
                observed
                    .directors
                    .push(Some(ObservedDirector { table, settings }))
            }
            (table, settings) => {
                errors.extend(table.err().map(ObserveError::from));
                errors.extend(settings.err().map(ObserveError::from));
            }
        }
    }
    if errors.is_empty() {
        Ok(observed)
    } else {
        Err(errors)
    }
}

/// How often keepalived's services and its state are read again, at most, for a moment
/// when both agree.
const KEEPALIVED_READS: usize = 5;

/// keepalived changes its services on its own as its checks go up and down, so a table
/// read before its state may show a server its state already holds down, or the reverse:
/// its services are read again between two reads of its state that agree, and the plan
/// compares one moment of both.
fn with_keepalived(
    config: &Config,
    index: usize,
    director: &mut DirectorBackends,
    table: &mut Table,
    settings: &mut DirectorFacts,
) -> Result<(), ObserveError> {
    let health = |s: &DirectorFacts| match s.keepalived.as_ref().and_then(|k| k.daemon.as_ref()) {
        Some(Ok(daemon)) => Some(daemon.down.clone()),
        _ => None,
    };
    for _ in 0..KEEPALIVED_READS {
        let keys = crate::plan::keepalived_services(config, index, settings);
        if keys.is_empty() || health(settings).is_none() {
            return Ok(());
        }
        let fresh = director.ipvs.observe_some(Some(&keys))?;
        // keepalived alone: the director's sysctls and addresses were just read.
        let query = keepalived_query(config, index);
        let again = director.settings.observe(&[], None, Some(&query))?;
        let agreed = health(&again) == health(settings);
        settings.keepalived = again.keepalived;
        if agreed {
            for key in &keys {
                match fresh.services.get(key) {
                    Some(service) => table.services.insert(*key, service.clone()),
                    None => table.services.remove(key),
                };
                table.counters.retain(|(service, _), _| service != key);
                table.order.remove(key);
            }
            table.counters.extend(
                fresh
                    .counters
                    .into_iter()
                    .filter(|((s, _), _)| keys.contains(s)),
            );
            table
                .order
                .extend(fresh.order.into_iter().filter(|(s, _)| keys.contains(s)));
            return Ok(());
        }
    }
    Ok(())
}

/// The settings director `index` is declared with, as they are.
pub(super) fn read_settings(
    config: &Config,
    index: usize,
    settings: &mut dyn Director,
) -> Result<DirectorFacts, DirectorError> {
    let director = &config.directors[index];
    let sysctls: Vec<String> = director.settings.sysctls.keys().cloned().collect();
    let keepalived = keepalived_query(config, index);
    settings.observe(
        &sysctls,
        director.meta.interface.as_deref(),
        Some(&keepalived),
    )
}

/// What to read of director `index`'s keepalived: its file always, keepalived itself
/// when the director serves services with checks.
fn keepalived_query(config: &Config, index: usize) -> KeepalivedQuery {
    let director = &config.directors[index];
    KeepalivedQuery {
        files: director.meta.keepalived.clone(),
        daemon: director.meta.vrrp_priority.is_some()
            || (director.services.iter()).any(|key| config.services[key].health_check.is_some()),
    }
}

/// Reads again what a director's steps changed, for verification: the real servers of
/// the services they touched, and the director's settings; the rest of its table stays as
/// in `observed` (a full dump of a large table would double the time of a small apply).
pub fn reread_director(
    config: &Config,
    index: usize,
    backends: &mut Backends,
    observed: &mut Observed,
    steps: &[&(Phase, Step)],
) -> Result<(), Vec<ObserveError>> {
    let Some(before) = &mut observed.directors[index] else {
        return Ok(()); // left out of the run: it has no steps to verify
    };
    let touched: BTreeSet<_> = steps.iter().flat_map(|(_, s)| s.services()).collect();
    let director = &mut backends.directors[index];
    let mut table = director
        .ipvs
        .observe_some(Some(&touched))
        .map_err(|e| vec![e.into()])?;
    let mut settings =
        read_settings(config, index, &mut *director.settings).map_err(|e| vec![e.into()])?;
    with_keepalived(config, index, director, &mut table, &mut settings).map_err(|e| vec![e])?;
    for (key, service) in table.services.iter_mut() {
        if !touched.contains(key)
            && let Some(old) = before.table.services.get_mut(key)
        {
            service.destinations = std::mem::take(&mut old.destinations);
        }
    }
    for (key, counters) in std::mem::take(&mut before.table.counters) {
        if !touched.contains(&key.0) {
            table.counters.insert(key, counters);
        }
    }
    for (key, order) in std::mem::take(&mut before.table.order) {
        if !touched.contains(&key) && table.services.contains_key(&key) {
            table.order.insert(key, order);
        }
    }
    *before = ObservedDirector { table, settings };
    Ok(())
}

/// Reads again the hosts that steps changed, for verification.
pub fn reread_hosts(
    backends: &mut Backends,
    observed: &mut Observed,
    steps: &[&(Phase, Step)],
) -> Result<(), Vec<ObserveError>> {
    let touched: BTreeSet<&str> = steps
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Host { host, .. } => Some(host.as_str()),
            _ => None,
        })
        .collect();
    let mut reread: Vec<&mut Box<dyn Host>> = backends
        .hosts
        .iter_mut()
        .filter(|h| touched.contains(h.name()))
        .collect();
    let facts = for_each_parallel(&mut reread, backends.parallelism, |h| {
        (h.name().to_string(), h.observe())
    });
    let mut errors = Vec::new();
    gather(facts, &mut observed.hosts, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
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
