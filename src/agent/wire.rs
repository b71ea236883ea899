//! The IPVS table as it travels from a remote director: each service once, its real servers
//! as rows (arrays, no field names) in the kernel's list order, their counters in the row.
//! About a fifth of the table's own JSON: what a large table costs over SSH is mostly its
//! size, to encode, encrypt and decode on slow machines.

use crate::ipvs::{DestinationCounters, Info, Stats, Table};
use crate::model::{
    Destination, DestinationKey, Forwarding, ServiceKey, ServiceSettings, SyncDaemon, Timeouts,
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

/// One real server: address, port, forwarding, weight, thresholds, then its counters
/// (absent when the table has none for it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row(
    IpAddr,
    u16,
    Forwarding,
    u32,
    u32,
    u32,
    Option<(u32, u32, u32, StatsRow)>,
);

/// Stats as ten numbers in `Stats`' field order, or none when all are zero (most are, in
/// a table read right after a start).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StatsRow(Vec<u64>);

impl From<&Stats> for StatsRow {
    fn from(s: &Stats) -> StatsRow {
        let all = [
            s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes, s.cps, s.inpps, s.outpps, s.inbps,
            s.outbps,
        ];
        StatsRow(if all.iter().all(|&n| n == 0) {
            vec![]
        } else {
            all.to_vec()
        })
    }
}

impl From<StatsRow> for Stats {
    fn from(row: StatsRow) -> Stats {
        let n = |i: usize| row.0.get(i).copied().unwrap_or(0);
        Stats {
            conns: n(0),
            inpkts: n(1),
            outpkts: n(2),
            inbytes: n(3),
            outbytes: n(4),
            cps: n(5),
            inpps: n(6),
            outpps: n(7),
            inbps: n(8),
            outbps: n(9),
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
                        let counters = table.counters.get(&(*key, *d)).map(|c| {
                            (c.active, c.inactive, c.persistent, StatsRow::from(&c.stats))
                        });
                        Some(Row(
                            d.address,
                            d.port,
                            dest.forwarding,
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

impl From<WireTable> for Table {
    fn from(wire: WireTable) -> Table {
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
                destinations.insert(
                    dest_key,
                    Destination {
                        forwarding,
                        weight,
                        upper_threshold: upper,
                        lower_threshold: lower,
                    },
                );
                if let Some((active, inactive, persistent, stats)) = counters {
                    let counters = DestinationCounters {
                        active,
                        inactive,
                        persistent,
                        stats: stats.into(),
                    };
                    table.counters.insert((key, dest_key), counters);
                }
                order.push(dest_key);
            }
            if service.ordered {
                table.order.insert(key, order);
            }
            if let Some(stats) = service.stats {
                table.service_stats.insert(key, stats);
            }
            table.services.insert(
                key,
                crate::model::Service {
                    settings: service.settings,
                    destinations,
                },
            );
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Change, FakeIpvs, Ipvs};
    use crate::model::{Protocol, Scheduler, Tunnel};

    #[test]
    fn a_table_travels_unchanged_and_in_a_fifth_of_its_json() {
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
        // A service whose real servers were not read has no order and no counters.
        table.order.remove(&service(443));
        table.counters.retain(|(s, _), _| *s != service(443));
        table.unknown_schedulers.insert(service(443), "twos".into());

        let wire = serde_json::to_vec(&WireTable::from(&table)).unwrap();
        let back: WireTable = serde_json::from_slice(&wire).unwrap();
        assert_eq!(Table::from(back), table);
        let full = serde_json::to_vec(&table).unwrap().len();
        assert!(
            wire.len() * 4 < full,
            "{} bytes on the wire for {full} of JSON",
            wire.len()
        );
    }
}
