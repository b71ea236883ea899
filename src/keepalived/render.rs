//! The keepalived file lvsform writes: its services as `virtual_server` blocks, each
//! real server with its check.

use super::{Check, HealthCheck, Vrrp};
use crate::model::{Forwarding, Scheduler, SchedulerFlag, Service, ServiceKey};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;
use std::time::Duration;

/// The file's first line: it is lvsform's, and changed only by `lvsform apply`.
pub const HEADER: &str = "# Written by lvsform: every change is planned and applied by `lvsform apply`; edits here are lost.\n";

/// The file for `services` (none: no file). Real servers are written in ascending order:
/// keepalived adds each at the head of the kernel's list (2.2.7, seen in the lab), which
/// leaves lvsform's canonical (descending) order, so that directors under keepalived, or
/// under lvsform alone, hash clients alike. A server added later by a reload goes to the
/// head, as lvsform's own additions do.
pub fn render(
    services: &BTreeMap<ServiceKey, (Service, HealthCheck)>,
    vrrp: Option<&VrrpInstance>,
) -> Option<String> {
    if services.is_empty() && vrrp.is_none() {
        return None;
    }
    let mut out = String::from(HEADER);
    if let Some(instance) = vrrp {
        out.push('\n');
        vrrp_instance(&mut out, instance);
    }
    for (key, (service, check)) in services {
        out.push('\n');
        virtual_server(&mut out, key, service, check);
    }
    Some(out)
}

/// What one director renders of the `vrrp` block (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpInstance {
    pub vrrp: Vrrp,
    pub interface: String,
    pub priority: u8,
    /// The VIPs it holds when it is the master.
    pub addresses: BTreeSet<IpAddr>,
    /// With `unicast`: its own DIP, and the other directors'.
    pub unicast: Option<(IpAddr, Vec<IpAddr>)>,
}

/// The instance's name in keepalived's configuration, state dump and logs.
pub const INSTANCE: &str = "lvsform";

/// Every director starts as BACKUP: the election (the highest priority) decides, and a
/// reload never claims the VIPs on its own. IPv6 VIPs beside IPv4 ones go in
/// `virtual_ipaddress_excluded` (they move with the instance, outside its adverts).
fn vrrp_instance(out: &mut String, instance: &VrrpInstance) {
    let interface = &instance.interface;
    if instance.vrrp.sync_connections {
        let _ = writeln!(
            out,
            "global_defs {{\n    lvs_sync_daemon {interface} {INSTANCE}\n}}\n"
        );
    }
    let _ = writeln!(out, "vrrp_instance {INSTANCE} {{");
    let _ = writeln!(out, "    state BACKUP");
    let _ = writeln!(out, "    interface {interface}");
    let _ = writeln!(
        out,
        "    virtual_router_id {}",
        instance.vrrp.virtual_router_id
    );
    let _ = writeln!(out, "    priority {}", instance.priority);
    let _ = writeln!(out, "    advert_int {}", instance.vrrp.advert_interval);
    if let Some((source, peers)) = &instance.unicast {
        let _ = writeln!(out, "    unicast_src_ip {source}");
        let _ = writeln!(out, "    unicast_peer {{");
        for peer in peers {
            let _ = writeln!(out, "        {peer}");
        }
        let _ = writeln!(out, "    }}");
    }
    let (v4, v6): (Vec<&IpAddr>, Vec<&IpAddr>) =
        instance.addresses.iter().partition(|a| a.is_ipv4());
    let (advertised, excluded) = if v4.is_empty() {
        (v6, vec![])
    } else {
        (v4, v6)
    };
    for (block, addresses) in [
        ("virtual_ipaddress", advertised),
        ("virtual_ipaddress_excluded", excluded),
    ] {
        if addresses.is_empty() {
            continue;
        }
        let _ = writeln!(out, "    {block} {{");
        for address in addresses {
            let prefix = if address.is_ipv4() { 32 } else { 128 };
            let _ = writeln!(out, "        {address}/{prefix} dev {interface}");
        }
        let _ = writeln!(out, "    }}");
    }
    let _ = writeln!(out, "}}");
}

fn virtual_server(out: &mut String, key: &ServiceKey, service: &Service, check: &HealthCheck) {
    let s = &service.settings;
    match key {
        ServiceKey::Address {
            protocol,
            vip,
            port,
        } => {
            let _ = writeln!(out, "virtual_server {vip} {port} {{");
            let _ = writeln!(out, "    protocol {}", protocol.as_str().to_uppercase());
        }
        ServiceKey::Fwmark { mark, family } => {
            let _ = writeln!(out, "virtual_server fwmark {mark} {{");
            if *family == crate::model::Family::Ipv6 {
                let _ = writeln!(out, "    ip_family inet6");
            }
        }
    }
    let _ = writeln!(out, "    lb_algo {}", s.scheduler);
    let mode = service.destinations.values().next().map(|d| d.forwarding);
    if let Some(forwarding) = mode {
        let _ = writeln!(out, "    lvs_method {}", method(forwarding));
    }
    let _ = writeln!(out, "    delay_loop {}", seconds(check.interval));
    for flag in &s.flags {
        let name = match flag {
            SchedulerFlag::Fallback => "fallback",
            SchedulerFlag::Port => "port",
        };
        let _ = writeln!(out, "    {}-{name}", s.scheduler);
    }
    if s.one_packet {
        let _ = writeln!(out, "    ops");
    }
    if let Some(p) = &s.persistence {
        let _ = writeln!(out, "    persistence_timeout {}", p.timeout);
        if let Some(netmask) = p.netmask.written() {
            let _ = writeln!(out, "    persistence_granularity {netmask}");
        }
        if let Some(engine) = &p.engine {
            let _ = writeln!(out, "    persistence_engine {engine}");
        }
    }
    for (dest_key, dest) in &service.destinations {
        let _ = writeln!(
            out,
            "    real_server {} {} {{",
            dest_key.address, dest_key.port
        );
        let _ = writeln!(out, "        weight {}", dest.weight);
        if Some(dest.forwarding) != mode {
            let _ = writeln!(out, "        lvs_method {}", method(dest.forwarding));
        }
        if dest.upper_threshold > 0 {
            let _ = writeln!(out, "        uthreshold {}", dest.upper_threshold);
        }
        if dest.lower_threshold > 0 {
            let _ = writeln!(out, "        lthreshold {}", dest.lower_threshold);
        }
        if holds_place(s.scheduler) {
            let _ = writeln!(out, "        inhibit_on_failure");
        }
        checker(out, check);
        let _ = writeln!(out, "    }}");
    }
    let _ = writeln!(out, "}}");
}

/// sh and mh: a server that fails stays in its place at weight 0 (`inhibit_on_failure`),
/// since keepalived would re-add it at the head of the list and move clients.
pub fn holds_place(scheduler: Scheduler) -> bool {
    scheduler.hashes()
}

fn checker(out: &mut String, check: &HealthCheck) {
    let indent = "        ";
    match &check.kind {
        Check::Http { path, status } => {
            let _ = writeln!(out, "{indent}HTTP_GET {{");
            let _ = writeln!(out, "{indent}    url {{");
            let _ = writeln!(out, "{indent}        path {path}");
            let _ = writeln!(out, "{indent}        status_code {status}");
            let _ = writeln!(out, "{indent}    }}");
        }
        Check::Tcp => {
            let _ = writeln!(out, "{indent}TCP_CHECK {{");
        }
    }
    // Without it keepalived checks the real server's own port.
    if let Some(port) = check.port {
        let _ = writeln!(out, "{indent}    connect_port {port}");
    }
    let _ = writeln!(
        out,
        "{indent}    connect_timeout {}",
        seconds(check.timeout)
    );
    // keepalived's `retry` counts the tries after the first failure.
    let _ = writeln!(out, "{indent}    retry {}", check.retries - 1);
    let _ = writeln!(
        out,
        "{indent}    delay_before_retry {}",
        seconds(check.interval)
    );
    let _ = writeln!(out, "{indent}}}");
}

fn method(forwarding: Forwarding) -> String {
    match forwarding {
        Forwarding::Nat => "NAT".into(),
        Forwarding::Dr => "DR".into(),
        Forwarding::Tun(t) => {
            let mut text = format!("TUN type {}", t.kind);
            if t.kind == crate::model::TunnelType::Gue {
                let _ = write!(text, " port {}", t.port);
            }
            if t.checksum != crate::model::TunnelChecksum::NoCsum {
                let _ = write!(text, " {}", t.checksum);
            }
            text
        }
    }
}

/// Seconds as keepalived reads them: `2`, `0.5`.
fn seconds(duration: Duration) -> String {
    let micros = duration.subsec_micros();
    if micros == 0 {
        return duration.as_secs().to_string();
    }
    let fraction = format!("{micros:06}");
    format!("{}.{}", duration.as_secs(), fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    use crate::model::*;

    fn service(scheduler: Scheduler, forwarding: Forwarding) -> Service {
        let dest = |weight| Destination {
            forwarding,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
        };
        let key = |last: u8| DestinationKey {
            address: std::net::IpAddr::from([10, 1, 0, last]),
            port: 80,
        };
        Service {
            settings: ServiceSettings {
                scheduler,
                flags: BTreeSet::new(),
                persistence: None,
                one_packet: false,
            },
            destinations: [(key(11), dest(1)), (key(12), dest(0)), (key(13), dest(70))].into(),
        }
    }

    /// A fwmark service's real servers have no port of their own (0).
    fn fwmarked(mut service: Service) -> Service {
        service.destinations = std::mem::take(&mut service.destinations)
            .into_iter()
            .map(|(key, dest)| (DestinationKey { port: 0, ..key }, dest))
            .collect();
        service
    }

    /// What lvsform writes reads back as the same services and checks: the file is what
    /// a reload is waited for with, and what a drain re-renders.
    #[test]
    fn a_rendered_file_reads_back_as_its_services_and_checks() {
        let http = HealthCheck {
            kind: Check::Http {
                path: "/healthz".into(),
                status: 204,
            },
            port: Some(8080),
            interval: Duration::from_millis(1500),
            timeout: Duration::from_secs(1),
            retries: 3,
        };
        let tcp = HealthCheck {
            kind: Check::Tcp,
            port: None,
            interval: Duration::from_secs(5),
            timeout: Duration::from_millis(500),
            retries: 1,
        };
        let mut hashing = service(Scheduler::Sh, Forwarding::Dr);
        hashing.settings.flags = [SchedulerFlag::Fallback, SchedulerFlag::Port].into();
        let mut persistent = service(Scheduler::Wrr, Forwarding::Nat);
        persistent.settings.persistence = Some(Persistence {
            timeout: 600,
            netmask: IpNetmask::V4("255.255.255.0".parse().unwrap()),
            engine: None,
        });
        persistent.settings.one_packet = true;
        let mut tunnel = service(
            Scheduler::Mh,
            Forwarding::Tun(Tunnel {
                kind: TunnelType::Gue,
                port: 6080,
                checksum: TunnelChecksum::Csum,
            }),
        );
        tunnel
            .destinations
            .values_mut()
            .next()
            .unwrap()
            .upper_threshold = 100;
        tunnel
            .destinations
            .values_mut()
            .last()
            .unwrap()
            .lower_threshold = 5;
        let address = |protocol, port| ServiceKey::Address {
            protocol,
            vip: "203.0.113.10".parse().unwrap(),
            port,
        };
        let services: BTreeMap<ServiceKey, (Service, HealthCheck)> = [
            (address(Protocol::Tcp, 80), (hashing, http.clone())),
            (address(Protocol::Udp, 53), (persistent, tcp.clone())),
            (address(Protocol::Sctp, 9), (tunnel, tcp)),
            (
                ServiceKey::Fwmark {
                    mark: 7,
                    family: Family::Ipv4,
                },
                (fwmarked(service(Scheduler::Rr, Forwarding::Dr)), http),
            ),
        ]
        .into();
        let text = render(&services, None).unwrap();
        let read: BTreeMap<ServiceKey, (Service, HealthCheck)> =
            super::super::conf::services(&text)
                .into_iter()
                .map(|(key, (service, check))| (key, (service, check.unwrap())))
                .collect();
        assert_eq!(read, services, "{text}");
        assert!(render(&BTreeMap::new(), None).is_none());
    }

    #[test]
    fn servers_are_written_in_ascending_order_so_keepalived_leaves_them_descending() {
        let check = HealthCheck {
            kind: Check::Tcp,
            port: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries: 1,
        };
        let key = ServiceKey::Fwmark {
            mark: 1,
            family: Family::Ipv4,
        };
        let service = service(Scheduler::Sh, Forwarding::Dr);
        let text = render(&[(key, (service.clone(), check))].into(), None).unwrap();
        let written: Vec<&str> = text.lines().filter(|l| l.contains("real_server")).collect();
        let mut kernel: Vec<String> = written
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .collect();
        kernel.reverse(); // keepalived adds each at the head of the kernel's list
        let canonical: Vec<String> = service
            .canonical_order()
            .map(|d| d.address.to_string())
            .collect();
        assert_eq!(kernel, canonical);
        assert!(
            text.contains("inhibit_on_failure"),
            "sh holds a failed server in place"
        );
    }

    #[test]
    fn seconds_are_written_as_keepalived_reads_them() {
        assert_eq!(seconds(Duration::from_secs(2)), "2");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.25");
    }

    #[test]
    fn the_vrrp_instance_starts_as_backup_with_its_priority_peers_and_vips() {
        let instance = VrrpInstance {
            vrrp: Vrrp {
                virtual_router_id: 51,
                advert_interval: 1,
                unicast: true,
                sync_connections: true,
            },
            interface: "eth0".into(),
            priority: 150,
            addresses: ["203.0.113.10", "2001:db8::10", "203.0.113.11"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect(),
            unicast: Some((
                "10.1.0.1".parse().unwrap(),
                vec!["10.1.0.2".parse().unwrap()],
            )),
        };
        let text = render(&BTreeMap::new(), Some(&instance)).unwrap();
        let expected = "global_defs {
    lvs_sync_daemon eth0 lvsform
}

vrrp_instance lvsform {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    unicast_src_ip 10.1.0.1
    unicast_peer {
        10.1.0.2
    }
    virtual_ipaddress {
        203.0.113.10/32 dev eth0
        203.0.113.11/32 dev eth0
    }
    virtual_ipaddress_excluded {
        2001:db8::10/128 dev eth0
    }
}
";
        assert_eq!(text, format!("{HEADER}\n{expected}"));
        // keepalived's services in it are read back as before: the instance is not one.
        assert!(super::super::conf::services(&text).is_empty());
    }
}
