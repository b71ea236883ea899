//! What a stage's steps touch, as it was before them: a rollback is claimed only when all
//! of it reads as before again.

use super::Backends;
use super::observe::read_settings;
use crate::address::Address;
use crate::config::Config;
use crate::director::DirectorFacts;
use crate::host::HostFacts;
use crate::model::{Service, ServiceKey, SyncDaemon, Timeouts};
use crate::plan::{Observed, Phase, Step};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub enum Touched {
    /// A director's stage: the services its steps touch (absent: did not exist), and the
    /// director's timeouts, sync daemons and settings.
    Director {
        index: usize,
        services: BTreeMap<ServiceKey, Option<Service>>,
        timeouts: Timeouts,
        sync_daemons: BTreeSet<SyncDaemon>,
        settings: DirectorFacts,
    },
    /// A stage on the real servers: the hosts its steps touch.
    Hosts(BTreeMap<String, HostFacts>),
}

impl Touched {
    /// What the steps of the stage on `director` (none: on the real servers) touch.
    pub fn before(
        observed: &Observed,
        director: Option<usize>,
        steps: &[&(Phase, Step)],
    ) -> Touched {
        let Some(index) = director else {
            let hosts = steps
                .iter()
                .filter_map(|(_, step)| match step {
                    Step::Host { host, .. } => observed.hosts.get_key_value(host),
                    _ => None,
                })
                .map(|(name, facts)| (name.clone(), facts.clone()))
                .collect();
            return Touched::Hosts(hosts);
        };
        let Some(seen) = &observed.directors[index] else {
            // Left out of the run: no stage of it runs.
            return Touched::Hosts(BTreeMap::new());
        };
        let services = steps
            .iter()
            .flat_map(|(_, step)| step.services())
            .map(|key| (key, seen.table.services.get(&key).cloned()))
            .collect();
        Touched::Director {
            index,
            services,
            timeouts: seen.table.timeouts,
            sync_daemons: seen.table.sync_daemons.clone(),
            settings: seen.settings.clone(),
        }
    }

    /// What does not read as it was, after a rollback.
    pub fn differences(&self, config: &Config, backends: &mut Backends) -> Vec<String> {
        let unreadable = |what: &str, e: &dyn fmt::Display| {
            format!("{what}: cannot be read back to check the rollback: {e}")
        };
        let mut left = Vec::new();
        match self {
            Touched::Director {
                index,
                services,
                timeouts,
                sync_daemons,
                settings,
            } => {
                // Addresses as the plan shows them: under director["NAME"] when named.
                let named = |address: Address| match config.directors[*index].name() {
                    Some(name) => address.in_director(name),
                    None => address,
                };
                let director = &mut backends.directors[*index];
                let keys = services.keys().copied().collect();
                match director.ipvs.observe_some(Some(&keys)) {
                    Ok(table) => {
                        for (key, service) in services {
                            if table.services.get(key) != service.as_ref() {
                                left.push(format!(
                                    "{}: not as it was before the apply",
                                    named(Address::undeclared_service(key))
                                ));
                            }
                        }
                        if table.timeouts != *timeouts || table.sync_daemons != *sync_daemons {
                            left.push(format!(
                                "{}: IPVS timeouts or sync daemons not as they were before the apply",
                                named(Address::director())
                            ));
                        }
                    }
                    Err(e) => left.push(unreadable(
                        &format!("{}'s IPVS table", named(Address::director())),
                        &e,
                    )),
                }
                let director_address = named(Address::director()).to_string();
                match read_settings(config, *index, &mut *director.settings) {
                    Ok(facts) if facts.as_configured() == settings.as_configured() => {}
                    Ok(_) => left.push(format!(
                        "{director_address}: not as it was before the apply"
                    )),
                    Err(e) => left.push(unreadable(&director_address, &e)),
                }
            }
            Touched::Hosts(hosts) => {
                let facts =
                    crate::parallel::for_each_parallel(backends.hosts, backends.parallelism, |h| {
                        hosts
                            .contains_key(h.name())
                            .then(|| (h.name().to_string(), h.observe()))
                    });
                for (name, result) in facts.into_iter().flatten() {
                    match result {
                        Ok(facts) if Some(&facts) == hosts.get(&name) => {}
                        Ok(_) => left.push(format!(
                            "{}: not as it was before the apply",
                            Address::host(&name)
                        )),
                        Err(e) => left.push(unreadable(&Address::host(&name).to_string(), &e)),
                    }
                }
            }
        }
        left
    }
}
