//! `lvsform show` without a plan file: the director's live IPVS table, as `ipvsadm -Ln`
//! shows it but in lvsform's vocabulary (`--stats`: counters and rates, like
//! `ipvsadm -Ln --stats --rate`).

use crate::ipvs::{Stats, Table};
use crate::model::{Forwarding, IpNetmask, Service, Tunnel, TunnelChecksum, TunnelType};
use std::fmt::Write;

pub fn render(table: &Table, stats: bool) -> String {
    let mut out = String::new();
    let t = &table.timeouts;
    let _ = writeln!(
        out,
        "IPVS {} (connection table {} entries); timeouts tcp {}s, tcp_fin {}s, udp {}s",
        table.info.version_text(),
        table.info.conn_tab_size,
        t.tcp,
        t.tcp_fin,
        t.udp
    );
    for daemon in &table.sync_daemons {
        let _ = writeln!(
            out,
            "sync daemon: {} on {}, syncid {}",
            daemon.state, daemon.interface, daemon.syncid
        );
    }
    if table.services.is_empty() && table.unknown_schedulers.is_empty() {
        out.push_str("No virtual servers.\n");
        return out;
    }
    for (key, scheduler) in &table.unknown_schedulers {
        let _ = writeln!(
            out,
            "\n{}  scheduler {scheduler}: unknown to this lvsform, left alone",
            crate::address::Address::undeclared_service(key)
        );
    }
    for (key, service) in &table.services {
        out.push('\n');
        let _ = writeln!(
            out,
            "{}  {}",
            crate::address::Address::undeclared_service(key),
            service_settings(service)
        );
        if stats {
            let s = table.service_stats.get(key).copied().unwrap_or_default();
            let _ = writeln!(out, "  {}", stats_line(&s));
        }
        for (dkey, dest) in &service.destinations {
            let counters = table
                .counters
                .get(&(*key, *dkey))
                .copied()
                .unwrap_or_default();
            let mut line = format!(
                "  real_server[\"{dkey}\"]  {}  weight {}",
                forwarding(&dest.forwarding),
                dest.weight
            );
            if dest.upper_threshold != 0 || dest.lower_threshold != 0 {
                let _ = write!(
                    line,
                    "  thresholds {}..{}",
                    dest.lower_threshold, dest.upper_threshold
                );
            }
            let _ = write!(
                line,
                "  active {}  inactive {}",
                counters.active, counters.inactive
            );
            if counters.persistent != 0 || service.settings.persistence.is_some() {
                let _ = write!(line, "  persistent {}", counters.persistent);
            }
            out.push_str(&line);
            out.push('\n');
            if stats {
                let _ = writeln!(out, "    {}", stats_line(&counters.stats));
            }
        }
        if service.destinations.is_empty() {
            out.push_str("  (no real servers)\n");
        }
    }
    out
}

fn service_settings(service: &Service) -> String {
    let s = &service.settings;
    let mut text = format!("scheduler {}", s.scheduler);
    if !s.flags.is_empty() {
        let flags: Vec<String> = s
            .flags
            .iter()
            .map(|f| format!("{}-{f}", s.scheduler))
            .collect();
        let _ = write!(text, " [{}]", flags.join(", "));
    }
    if let Some(p) = &s.persistence {
        let _ = write!(text, ", persistence {}s", p.timeout);
        match p.netmask {
            IpNetmask::V4(mask) if mask.is_broadcast() => {}
            IpNetmask::V6(128) => {}
            IpNetmask::V4(mask) => {
                let _ = write!(text, " netmask {mask}");
            }
            IpNetmask::V6(len) => {
                let _ = write!(text, " netmask /{len}");
            }
        }
        if let Some(engine) = &p.engine {
            let _ = write!(text, " engine {engine}");
        }
    }
    if s.one_packet {
        text.push_str(", one_packet");
    }
    text
}

fn forwarding(forwarding: &Forwarding) -> String {
    match forwarding {
        Forwarding::Nat => "nat".into(),
        Forwarding::Dr => "dr".into(),
        Forwarding::Tun(Tunnel {
            kind: TunnelType::Ipip,
            ..
        }) => "tun".into(),
        Forwarding::Tun(t) => {
            let mut text = format!("tun ({}", t.kind);
            if t.kind == TunnelType::Gue {
                let _ = write!(text, " port {}", t.port);
            }
            if t.checksum != TunnelChecksum::NoCsum {
                let _ = write!(text, " {}", t.checksum);
            }
            text.push(')');
            text
        }
    }
}

fn stats_line(s: &Stats) -> String {
    format!(
        "conns {}  packets in {} out {}  bytes in {} out {}  |  rates: {} conn/s, {} in pkt/s, {} out pkt/s, {} in B/s, {} out B/s",
        s.conns,
        s.inpkts,
        s.outpkts,
        s.inbytes,
        s.outbytes,
        s.cps,
        s.inpps,
        s.outpps,
        s.inbps,
        s.outbps
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Change, FakeIpvs, Ipvs};
    use crate::model::*;

    #[test]
    fn renders_services_destinations_and_stats() {
        let mut ipvs = FakeIpvs::default();
        let key = ServiceKey::Address {
            protocol: Protocol::Udp,
            vip: "203.0.113.53".parse().unwrap(),
            port: 53,
        };
        let settings = ServiceSettings {
            scheduler: Scheduler::Sh,
            flags: [SchedulerFlag::Port].into(),
            persistence: Some(Persistence {
                timeout: 60,
                netmask: IpNetmask::V4("255.255.255.0".parse().unwrap()),
                engine: None,
            }),
            one_packet: true,
        };
        let dkey = DestinationKey {
            address: "198.51.100.21".parse().unwrap(),
            port: 53,
        };
        let tunnel = Tunnel {
            kind: TunnelType::Gue,
            port: 6080,
            checksum: TunnelChecksum::RemCsum,
        };
        let dest = Destination {
            forwarding: Forwarding::Tun(tunnel),
            weight: 2,
            upper_threshold: 10,
            lower_threshold: 5,
        };
        ipvs.apply(&[
            Change::AddService { key, settings },
            Change::AddDest {
                service: key,
                key: dkey,
                dest,
            },
        ])
        .unwrap();
        let table = ipvs.observe().unwrap();
        let text = render(&table, true);
        assert_eq!(
            text,
            "IPVS 1.2.1 (connection table 4096 entries); timeouts tcp 900s, tcp_fin 120s, udp 300s\n\
             \n\
             virtual_server[\"udp/203.0.113.53:53\"]  scheduler sh [sh-port], persistence 60s netmask 255.255.255.0, one_packet\n  \
             conns 0  packets in 0 out 0  bytes in 0 out 0  |  rates: 0 conn/s, 0 in pkt/s, 0 out pkt/s, 0 in B/s, 0 out B/s\n  \
             real_server[\"198.51.100.21:53\"]  tun (gue port 6080 remcsum)  weight 2  thresholds 5..10  active 0  inactive 0  persistent 0\n    \
             conns 0  packets in 0 out 0  bytes in 0 out 0  |  rates: 0 conn/s, 0 in pkt/s, 0 out pkt/s, 0 in B/s, 0 out B/s\n"
        );
        assert!(
            render(&FakeIpvs::default().observe().unwrap(), false)
                .ends_with("No virtual servers.\n")
        );
    }

    #[test]
    fn services_with_an_unknown_scheduler_are_shown_apart() {
        let mut ipvs = FakeIpvs::default();
        let key = ServiceKey::Fwmark {
            mark: 7,
            family: crate::model::Family::Ipv4,
        };
        ipvs.table.unknown_schedulers.insert(key, "fastest".into());
        let text = render(&ipvs.table, false);
        assert!(
            text.contains("virtual_server[\"fwmark/7\"]  scheduler fastest: unknown to this lvsform, left alone"),
            "{text}"
        );
        assert!(!text.contains("No virtual servers."));
    }
}
