//! An in-memory IPVS table for fast tests of the planner and of rollback. It refuses what
//! the kernel refuses, with the kernel's errno, and can fail any chosen change on purpose.

use super::{ApplyError, Change, Info, Ipvs, IpvsError, Table};
use crate::model::{Service, ServiceKey};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct FakeIpvs {
    pub table: Table,
    /// Changes applied so far, over the fake's lifetime.
    pub applied: usize,
    /// The change (counted like `applied`) that fails with EIO instead of taking effect.
    pub fail_at: Option<usize>,
    /// The change (counted like `applied`) that is acknowledged and has no effect, as when
    /// another tool reverts it at once: only verification can notice.
    pub lose_at: Option<usize>,
    /// The first change (counted like `applied`) of those that all fail with EIO, as on a
    /// director that went away: its undos fail too.
    pub fail_from: Option<usize>,
    /// The change (counted like `applied`) after which the link to a remote director is
    /// lost: the changes of its batch up to it take effect, the whole batch is reported in
    /// doubt (its answer was lost), and everything after fails, reads too.
    pub cut_after: Option<usize>,
}

impl Default for FakeIpvs {
    fn default() -> Self {
        FakeIpvs {
            table: Table {
                services: BTreeMap::new(),
                // A kernel that just loaded IPVS.
                timeouts: crate::defaults::KERNEL_TIMEOUTS,
                sync_daemons: BTreeSet::new(),
                service_stats: BTreeMap::new(),
                counters: BTreeMap::new(),
                info: Info {
                    version: 0x010201,
                    conn_tab_size: 4096,
                },
                unknown_schedulers: BTreeMap::new(),
                order: BTreeMap::new(),
            },
            applied: 0,
            fail_at: None,
            lose_at: None,
            fail_from: None,
            cut_after: None,
        }
    }
}

impl FakeIpvs {
    fn is_cut(&self) -> bool {
        self.cut_after.is_some_and(|last| self.applied > last)
    }

    fn change(&mut self, change: &Change) -> Result<(), i32> {
        let t = &mut self.table;
        match change {
            Change::AddService { key, settings } => {
                if t.services.contains_key(key) {
                    return Err(libc::EEXIST);
                }
                t.services.insert(
                    *key,
                    Service {
                        settings: settings.clone(),
                        destinations: BTreeMap::new(),
                    },
                );
                t.service_stats.insert(*key, Default::default());
                t.order.insert(*key, Vec::new());
            }
            Change::EditService { key, settings } => {
                t.services.get_mut(key).ok_or(libc::ESRCH)?.settings = settings.clone();
            }
            Change::DelService { key } => {
                t.services.remove(key).ok_or(libc::ESRCH)?;
                t.service_stats.remove(key);
                t.order.remove(key);
                t.counters.retain(|(s, _), _| s != key);
            }
            Change::AddDest { service, key, dest } => {
                let destinations =
                    &mut t.services.get_mut(service).ok_or(libc::ESRCH)?.destinations;
                if destinations.contains_key(key) {
                    return Err(libc::EEXIST);
                }
                destinations.insert(*key, dest.clone());
                t.counters.insert((*service, *key), Default::default());
                // As the kernel does: a new real server goes to the head of the list.
                t.order.entry(*service).or_default().insert(0, *key);
            }
            Change::EditDest { service, key, dest } => {
                let destinations =
                    &mut t.services.get_mut(service).ok_or(libc::ESRCH)?.destinations;
                *destinations.get_mut(key).ok_or(libc::ENOENT)? = dest.clone();
            }
            Change::DelDest { service, key } => {
                let destinations =
                    &mut t.services.get_mut(service).ok_or(libc::ESRCH)?.destinations;
                destinations.remove(key).ok_or(libc::ENOENT)?;
                t.counters.remove(&(*service, *key));
                if let Some(order) = t.order.get_mut(service) {
                    order.retain(|d| d != key);
                }
            }
            Change::SetTimeouts(timeouts) => t.timeouts = *timeouts,
            Change::StartDaemon(daemon) => {
                if t.sync_daemons.iter().any(|d| d.state == daemon.state) {
                    return Err(libc::EEXIST);
                }
                t.sync_daemons.insert(daemon.clone());
            }
            Change::StopDaemon(daemon) => {
                let before = t.sync_daemons.len();
                t.sync_daemons.retain(|d| d.state != daemon.state);
                if t.sync_daemons.len() == before {
                    return Err(libc::ESRCH);
                }
            }
        }
        Ok(())
    }
}

impl Ipvs for FakeIpvs {
    fn observe_some(&mut self, only: Option<&BTreeSet<ServiceKey>>) -> Result<Table, IpvsError> {
        if self.is_cut() {
            return Err(IpvsError::Io(std::io::Error::other("link lost")));
        }
        let mut table = self.table.clone();
        if let Some(keys) = only {
            for (key, service) in table.services.iter_mut() {
                if !keys.contains(key) {
                    service.destinations.clear();
                }
            }
            table.counters.retain(|(s, _), _| keys.contains(s));
            table.order.retain(|s, _| keys.contains(s));
        }
        Ok(table)
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), ApplyError> {
        let lost = || IpvsError::Io(std::io::Error::other("link lost"));
        if self.is_cut() {
            return ApplyError::result(
                changes
                    .iter()
                    .enumerate()
                    .map(|(i, _)| (i, lost()))
                    .collect(),
            );
        }
        let mut failed = Vec::new();
        for (index, change) in changes.iter().enumerate() {
            let gone = self.fail_from.is_some_and(|first| self.applied >= first);
            let outcome = if gone || self.fail_at == Some(self.applied) {
                Err(libc::EIO)
            } else if self.lose_at == Some(self.applied) {
                Ok(())
            } else {
                self.change(change)
            };
            self.applied += 1;
            if let Err(errno) = outcome {
                failed.push((
                    index,
                    IpvsError::Rejected {
                        change: change.to_string(),
                        errno,
                    },
                ));
            }
            if self.is_cut() {
                // The rest of the batch is never carried out, and its answer never comes.
                return Err(ApplyError {
                    failed: vec![],
                    in_doubt: (0..changes.len()).map(|i| (i, lost())).collect(),
                });
            }
        }
        ApplyError::result(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn key() -> ServiceKey {
        ServiceKey::Address {
            protocol: Protocol::Tcp,
            vip: "10.0.0.1".parse().unwrap(),
            port: 80,
        }
    }

    fn settings() -> ServiceSettings {
        ServiceSettings {
            scheduler: Scheduler::Rr,
            flags: Default::default(),
            persistence: None,
            one_packet: false,
        }
    }

    fn dest() -> (DestinationKey, Destination) {
        (
            DestinationKey {
                address: "10.0.1.1".parse().unwrap(),
                port: 80,
            },
            Destination {
                forwarding: Forwarding::Dr,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
            },
        )
    }

    fn errno(result: Result<(), ApplyError>) -> Vec<(usize, i32)> {
        match result {
            Ok(()) => vec![],
            Err(e) => e
                .failed
                .into_iter()
                .map(|(i, e)| match e {
                    IpvsError::Rejected { errno, .. } => (i, errno),
                    other => panic!("unexpected {other}"),
                })
                .collect(),
        }
    }

    #[test]
    fn fails_the_way_the_kernel_does() {
        let mut ipvs = FakeIpvs::default();
        let (dkey, d) = dest();
        let add_dest = Change::AddDest {
            service: key(),
            key: dkey,
            dest: d.clone(),
        };
        assert_eq!(
            errno(ipvs.apply(std::slice::from_ref(&add_dest))),
            [(0, libc::ESRCH)],
            "destination without service"
        );
        let add = Change::AddService {
            key: key(),
            settings: settings(),
        };
        assert_eq!(
            errno(ipvs.apply(&[add.clone(), add_dest.clone(), add.clone(), add_dest.clone()])),
            [(2, libc::EEXIST), (3, libc::EEXIST)]
        );
        let del_dest = Change::DelDest {
            service: key(),
            key: dkey,
        };
        assert_eq!(
            errno(ipvs.apply(&[del_dest.clone(), del_dest])),
            [(1, libc::ENOENT)]
        );
        assert_eq!(
            errno(ipvs.apply(&[Change::EditDest {
                service: key(),
                key: dkey,
                dest: d
            }])),
            [(0, libc::ENOENT)]
        );
        assert_eq!(
            errno(ipvs.apply(&[
                Change::DelService { key: key() },
                Change::DelService { key: key() }
            ])),
            [(1, libc::ESRCH)]
        );
        assert!(ipvs.observe().unwrap().services.is_empty());
    }

    #[test]
    fn injected_failure_hits_the_chosen_change_only() {
        let mut ipvs = FakeIpvs {
            fail_at: Some(1),
            ..FakeIpvs::default()
        };
        let (dkey, d) = dest();
        let changes = [
            Change::AddService {
                key: key(),
                settings: settings(),
            },
            Change::AddDest {
                service: key(),
                key: dkey,
                dest: d.clone(),
            },
            Change::SetTimeouts(Timeouts {
                tcp: 1,
                tcp_fin: 2,
                udp: 3,
            }),
        ];
        assert_eq!(errno(ipvs.apply(&changes)), [(1, libc::EIO)]);
        let table = ipvs.observe().unwrap();
        assert!(table.services[&key()].destinations.is_empty());
        assert_eq!(table.timeouts.udp, 3);
        assert_eq!(ipvs.applied, 3);
    }
}
