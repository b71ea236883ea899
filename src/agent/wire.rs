//! The IPVS table as it travels from a remote director: each service once, its real servers
//! as rows (arrays, no field names) in the kernel's list order, their counters in the row.
//! About a sixth of the table's own JSON: what a large table costs over SSH is mostly its
//! size, to encode, encrypt and decode on slow machines. It travels in parts, so the
//! director reads the next while the runner decodes the last.

use crate::ipvs::{DestinationCounters, Info, Stats, Table};
use crate::model::{
    Destination, DestinationKey, Forwarding, Service, ServiceKey, ServiceSettings, SyncDaemon,
    Timeouts, Tunnel,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireTable {
    services: Vec<WireService>,
    timeouts: Timeouts,
    sync_daemons: BTreeSet<SyncDaemon>,
    info: Info,
    unknown_schedulers: Vec<(ServiceKey, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireService {
    key: ServiceKey,
    settings: ServiceSettings,
    stats: Option<Stats>,
    /// The rows are in the kernel's list order (else in lvsform's key order).
    ordered: bool,
    rows: Vec<Row>,
}

/// One real server: address, port, forwarding, weight, thresholds, then its counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row(
    IpAddr,
    u16,
    WireForwarding,
    u32,
    u32,
    u32,
    Option<CountersRow>,
);

/// `Forwarding` without its field names: `"Dr"` rather than `{"mode":"dr"}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum WireForwarding {
    Nat,
    Dr,
    Tun(Tunnel),
}

/// Active, inactive and persistent connections, then the ten stats in `Stats`' field
/// order; empty when all are zero (most are, in a table read right after a start).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CountersRow(Vec<u64>);

impl From<&DestinationCounters> for CountersRow {
    fn from(c: &DestinationCounters) -> CountersRow {
        let s = &c.stats;
        let all = [
            u64::from(c.active),
            u64::from(c.inactive),
            u64::from(c.persistent),
            s.conns,
            s.inpkts,
            s.outpkts,
            s.inbytes,
            s.outbytes,
            s.cps,
            s.inpps,
            s.outpps,
            s.inbps,
            s.outbps,
        ];
        CountersRow(if all.iter().all(|&n| n == 0) {
            vec![]
        } else {
            all.to_vec()
        })
    }
}

impl From<CountersRow> for DestinationCounters {
    fn from(row: CountersRow) -> DestinationCounters {
        let n = |i: usize| row.0.get(i).copied().unwrap_or(0);
        let connections = |i: usize| u32::try_from(n(i)).unwrap_or(u32::MAX);
        DestinationCounters {
            active: connections(0),
            inactive: connections(1),
            persistent: connections(2),
            stats: Stats {
                conns: n(3),
                inpkts: n(4),
                outpkts: n(5),
                inbytes: n(6),
                outbytes: n(7),
                cps: n(8),
                inpps: n(9),
                outpps: n(10),
                inbps: n(11),
                outbps: n(12),
            },
        }
    }
}

impl From<&Table> for WireTable {
    fn from(table: &Table) -> WireTable {
        // Both maps are in service order: each service's counters are taken in one walk.
        let mut counters = table.counters.iter().peekable();
        let services = table
            .services
            .iter()
            .map(|(key, service)| {
                while counters.next_if(|((s, _), _)| s < key).is_some() {}
                let mut own = Vec::new();
                while let Some(((_, d), c)) = counters.next_if(|((s, _), _)| s == key) {
                    own.push((d, c));
                }
                let order = table.order.get(key);
                let keys: Vec<&DestinationKey> = match order {
                    Some(order) => order.iter().collect(),
                    None => service.destinations.keys().collect(),
                };
                let rows = keys
                    .into_iter()
                    .filter_map(|d| {
                        let dest = service.destinations.get(d)?;
                        let counters = own
                            .binary_search_by_key(&d, |(d, _)| *d)
                            .ok()
                            .map(|i| CountersRow::from(own[i].1));
                        let forwarding = match dest.forwarding {
                            Forwarding::Nat => WireForwarding::Nat,
                            Forwarding::Dr => WireForwarding::Dr,
                            Forwarding::Tun(tunnel) => WireForwarding::Tun(tunnel),
                        };
                        Some(Row(
                            d.address,
                            d.port,
                            forwarding,
                            dest.weight,
                            dest.upper_threshold,
                            dest.lower_threshold,
                            counters,
                        ))
                    })
                    .collect();
                WireService {
                    key: *key,
                    settings: service.settings.clone(),
                    stats: table.service_stats.get(key).copied(),
                    ordered: order.is_some(),
                    rows,
                }
            })
            .collect();
        WireTable {
            services,
            timeouts: table.timeouts,
            sync_daemons: table.sync_daemons.clone(),
            info: table.info,
            unknown_schedulers: table
                .unknown_schedulers
                .iter()
                .map(|(k, s)| (*k, s.clone()))
                .collect(),
        }
    }
}

/// A table received in parts, as a director reads it: each part's rows are converted as it
/// arrives (while the director reads the next), the maps built once at the end, from sorted
/// lists, several times cheaper than a row at a time. What a director sends is checked as
/// any input: a real server or a service twice is refused (the kernel never lists one
/// twice).
#[derive(Default)]
pub struct TableParts {
    /// From the first part (every part repeats them).
    first: Option<(Timeouts, Info)>,
    sync_daemons: BTreeSet<SyncDaemon>,
    unknown_schedulers: Vec<(ServiceKey, String)>,
    services: Vec<(ServiceKey, Service)>,
    service_stats: Vec<(ServiceKey, Stats)>,
    counters: Vec<((ServiceKey, DestinationKey), DestinationCounters)>,
    order: Vec<(ServiceKey, Vec<DestinationKey>)>,
}

/// Why a table a director sent cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("real server {server} of {service} listed twice")]
    RealServerTwice {
        service: ServiceKey,
        server: DestinationKey,
    },
    #[error("a service is listed twice")]
    ServiceTwice,
    #[error("it sent no table")]
    NoTable,
}

impl TableParts {
    pub fn add(&mut self, part: WireTable) -> Result<(), WireError> {
        self.first.get_or_insert((part.timeouts, part.info));
        self.sync_daemons.extend(part.sync_daemons);
        self.unknown_schedulers.extend(part.unknown_schedulers);
        for service in part.services {
            let key = service.key;
            let listed: Vec<DestinationKey> = service
                .rows
                .iter()
                .map(|Row(address, port, ..)| DestinationKey {
                    address: *address,
                    port: *port,
                })
                .collect();
            let mut rows: Vec<_> = listed.iter().copied().zip(service.rows).collect();
            rows.sort_unstable_by_key(|(d, _)| *d);
            if let Some(pair) = rows.windows(2).find(|pair| pair[0].0 == pair[1].0) {
                return Err(WireError::RealServerTwice {
                    service: key,
                    server: pair[0].0,
                });
            }
            let mut destinations = Vec::with_capacity(rows.len());
            for (dest_key, Row(_, _, forwarding, weight, upper, lower, counters)) in rows {
                let forwarding = match forwarding {
                    WireForwarding::Nat => Forwarding::Nat,
                    WireForwarding::Dr => Forwarding::Dr,
                    WireForwarding::Tun(tunnel) => Forwarding::Tun(tunnel),
                };
                let dest = Destination {
                    forwarding,
                    weight,
                    upper_threshold: upper,
                    lower_threshold: lower,
                };
                destinations.push((dest_key, dest));
                if let Some(counters) = counters {
                    self.counters.push(((key, dest_key), counters.into()));
                }
            }
            if service.ordered {
                self.order.push((key, listed));
            }
            if let Some(stats) = service.stats {
                self.service_stats.push((key, stats));
            }
            let service = Service {
                settings: service.settings,
                destinations: destinations.into_iter().collect(),
            };
            self.services.push((key, service));
        }
        Ok(())
    }

    pub fn finish(self) -> Result<Table, WireError> {
        let (timeouts, info) = self.first.ok_or(WireError::NoTable)?;
        let listed = self.services.len();
        let services: BTreeMap<_, _> = self.services.into_iter().collect();
        if services.len() < listed {
            return Err(WireError::ServiceTwice);
        }
        Ok(Table {
            services,
            timeouts,
            sync_daemons: self.sync_daemons,
            service_stats: self.service_stats.into_iter().collect(),
            counters: self.counters.into_iter().collect(),
            info,
            unknown_schedulers: self.unknown_schedulers.into_iter().collect(),
            order: self.order.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Change, FakeIpvs, Ipvs};
    use crate::model::{Protocol, Scheduler};

    #[test]
    fn a_table_travels_unchanged_and_in_a_sixth_of_its_json() {
        let mut ipvs = FakeIpvs::default();
        let service = |port| ServiceKey::Address {
            protocol: Protocol::Tcp,
            vip: "203.0.113.10".parse().unwrap(),
            port,
        };
        let mut changes = Vec::new();
        for (port, scheduler) in [(80, Scheduler::Mh), (443, Scheduler::Wrr)] {
            changes.push(Change::AddService {
                key: service(port),
                settings: ServiceSettings {
                    scheduler,
                    flags: BTreeSet::new(),
                    persistence: None,
                    one_packet: false,
                },
            });
            // Added in descending order of address: the kernel's list is not key order.
            for i in (1..=200u32).rev() {
                let forwarding = if i % 7 == 0 {
                    Forwarding::Tun(Tunnel::default())
                } else {
                    Forwarding::Dr
                };
                changes.push(Change::AddDest {
                    service: service(port),
                    key: DestinationKey {
                        address: IpAddr::from([10, 1, (i / 250) as u8, (i % 250) as u8]),
                        port,
                    },
                    dest: Destination {
                        forwarding,
                        weight: i % 10,
                        upper_threshold: i,
                        lower_threshold: 0,
                    },
                });
            }
        }
        ipvs.apply(&changes).unwrap();
        let mut table = ipvs.observe().unwrap();
        let first = table.counters.keys().next().copied().unwrap();
        table.counters.get_mut(&first).unwrap().active = 7;
        table.counters.get_mut(&first).unwrap().stats.outbytes = 1 << 40;
        let second = table.counters.keys().nth(1).copied().unwrap();
        table.counters.get_mut(&second).unwrap().persistent = 3;
        // A service whose real servers were not read has no order and no counters.
        table.order.remove(&service(443));
        table.counters.retain(|(s, _), _| *s != service(443));
        table.unknown_schedulers.insert(service(443), "twos".into());

        let wire = serde_json::to_vec(&WireTable::from(&table)).unwrap();
        let back: WireTable = serde_json::from_slice(&wire).unwrap();
        assert_eq!(whole(back), Ok(table.clone()));
        let full = serde_json::to_vec(&table).unwrap().len();
        assert!(
            wire.len() * 6 < full,
            "{} bytes on the wire for {full} of JSON",
            wire.len()
        );

        // A real server, or a service, twice is refused.
        let mut twice = WireTable::from(&table);
        let row = twice.services[0].rows[0].clone();
        twice.services[0].rows.push(row);
        let error = whole(twice).unwrap_err();
        assert!(
            matches!(error, WireError::RealServerTwice { .. }),
            "{error}"
        );
        let mut twice = WireTable::from(&table);
        twice.services.push(twice.services[0].clone());
        assert!(whole(twice).is_err());
        assert!(TableParts::default().finish().is_err());

        // In two parts, the second without what is not per service: the same table.
        let mut first = WireTable::from(&table);
        let mut second = WireTable::from(&table);
        second.services = first.services.split_off(1);
        second.sync_daemons.clear();
        second.unknown_schedulers.clear();
        second.timeouts.tcp += 1; // every part repeats them; the first part's count
        let mut parts = TableParts::default();
        parts.add(first.clone()).unwrap();
        parts.add(second).unwrap();
        assert_eq!(parts.finish(), Ok(table.clone()));
        // A service in two parts is listed twice.
        let mut parts = TableParts::default();
        parts.add(first.clone()).unwrap();
        parts.add(first).unwrap();
        assert_eq!(parts.finish(), Err(WireError::ServiceTwice));
    }

    fn whole(wire: WireTable) -> Result<Table, WireError> {
        let mut parts = TableParts::default();
        parts.add(wire)?;
        parts.finish()
    }
}
