//! The IPVS table as it travels from a remote director: each service once, its real servers
//! as rows (arrays, no field names) in the kernel's list order, their counters in the row.
//! About a sixth of the table's own JSON: what a large table costs over SSH is mostly its
//! size, to encode, encrypt and decode on slow machines.

use crate::ipvs::{DestinationCounters, Info, Stats, Table};
use crate::model::{
    Destination, DestinationKey, Forwarding, ServiceKey, ServiceSettings, SyncDaemon, Timeouts,
    Tunnel,
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
        let services = table
            .services
            .iter()
            .map(|(key, service)| {
                let order = table.order.get(key);
                let keys: Vec<&DestinationKey> = match order {
                    Some(order) => order.iter().collect(),
                    None => service.destinations.keys().collect(),
                };
                let rows = keys
                    .into_iter()
                    .filter_map(|d| {
                        let dest = service.destinations.get(d)?;
                        let counters = table.counters.get(&(*key, *d)).map(CountersRow::from);
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

/// What a director sends is checked as any input: a real server or a service twice is
/// refused (the kernel never lists one twice).
impl TryFrom<WireTable> for Table {
    type Error = String;

    fn try_from(wire: WireTable) -> Result<Table, String> {
        let mut table = Table {
            services: BTreeMap::new(),
            timeouts: wire.timeouts,
            sync_daemons: wire.sync_daemons,
            service_stats: BTreeMap::new(),
            counters: BTreeMap::new(),
            info: wire.info,
            unknown_schedulers: wire.unknown_schedulers.into_iter().collect(),
            order: BTreeMap::new(),
        };
        for service in wire.services {
            let key = service.key;
            let mut destinations = BTreeMap::new();
            let mut order = Vec::with_capacity(service.rows.len());
            for Row(address, port, forwarding, weight, upper, lower, counters) in service.rows {
                let dest_key = DestinationKey { address, port };
                if destinations.contains_key(&dest_key) {
                    return Err(format!("real server {dest_key} of {key} listed twice"));
                }
                let forwarding = match forwarding {
                    WireForwarding::Nat => Forwarding::Nat,
                    WireForwarding::Dr => Forwarding::Dr,
                    WireForwarding::Tun(tunnel) => Forwarding::Tun(tunnel),
                };
                destinations.insert(
                    dest_key,
                    Destination {
                        forwarding,
                        weight,
                        upper_threshold: upper,
                        lower_threshold: lower,
                    },
                );
                if let Some(counters) = counters {
                    table.counters.insert((key, dest_key), counters.into());
                }
                order.push(dest_key);
            }
            if service.ordered {
                table.order.insert(key, order);
            }
            if let Some(stats) = service.stats {
                table.service_stats.insert(key, stats);
            }
            let service = crate::model::Service {
                settings: service.settings,
                destinations,
            };
            if table.services.insert(key, service).is_some() {
                return Err(format!("service {key} listed twice"));
            }
        }
        Ok(table)
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
        assert_eq!(Table::try_from(back), Ok(table.clone()));
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
        let error = Table::try_from(twice).unwrap_err();
        assert!(error.contains("listed twice"), "{error}");
        let mut twice = WireTable::from(&table);
        twice.services.push(twice.services[0].clone());
        assert!(Table::try_from(twice).is_err());
    }
}
