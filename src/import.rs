//! `lvsform import`: HCL that declares what the live IPVS table holds, so that `plan` on it
//! right after is empty. Attributes at their defaults are left out.

use crate::defaults::KERNEL_TIMEOUTS;
use crate::ipvs::Table;
use crate::model::{
    Destination, Forwarding, IpNetmask, Mode, Protocol, Service, ServiceKey, Tunnel,
};
use std::fmt::Write;

/// The configuration text for `table`. `manage_hosts`: whether lvsform is to keep the DR
/// and TUN real servers prepared over SSH (`import --hosts`); otherwise they are
/// declared with `manage = false`.
pub fn hcl(table: &Table, manage_hosts: bool) -> String {
    let mut out = String::from(
        "# Written by `lvsform import` from the live IPVS table. Names are made from the\n\
         # addresses: rename them freely (a rename changes nothing live).\n",
    );
    director(&mut out, table);
    for (key, service) in &table.services {
        virtual_server(&mut out, key, service, manage_hosts);
    }
    // The text is built line by line; the formatter aligns it as `lvsform fmt` would.
    crate::fmt::format(&out).unwrap_or(out)
}

fn director(out: &mut String, table: &Table) {
    let t = table.timeouts;
    if t == KERNEL_TIMEOUTS && table.sync_daemons.is_empty() {
        return;
    }
    out.push_str("\ndirector {\n");
    if t != KERNEL_TIMEOUTS {
        let _ = writeln!(
            out,
            "timeouts {{\ntcp = {}\ntcp_fin = {}\nudp = {}\n}}",
            t.tcp, t.tcp_fin, t.udp
        );
    }
    for daemon in &table.sync_daemons {
        let _ = writeln!(
            out,
            "sync_daemon {{\nstate = \"{}\"\ninterface = \"{}\"\nsyncid = {}\n}}",
            daemon.state, daemon.interface, daemon.syncid
        );
    }
    out.push_str("}\n");
}

/// A block label from an address-like text: `tcp/203.0.113.10:80` → `tcp_203_0_113_10_80`.
fn label(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn virtual_server(out: &mut String, key: &ServiceKey, service: &Service, manage_hosts: bool) {
    // The service's mode is its real servers' usual one; the others say theirs.
    let mode = common_mode(service);
    let name = match key {
        ServiceKey::Address { .. } => label(&key.to_string()),
        ServiceKey::Fwmark { mark, .. } => format!("fwmark_{mark}"),
    };
    let _ = writeln!(out, "\nvirtual_server \"{name}\" {{");
    let service_port = match key {
        ServiceKey::Address {
            protocol,
            vip,
            port,
        } => {
            if *protocol != Protocol::Tcp {
                let _ = writeln!(out, "protocol = \"{protocol}\"");
            }
            let _ = writeln!(out, "vip = \"{vip}\"\nport = {port}");
            *port
        }
        ServiceKey::Fwmark { mark, .. } => {
            let _ = writeln!(out, "fwmark = {mark}");
            0
        }
    };
    let s = &service.settings;
    let _ = writeln!(out, "mode = \"{mode}\"\nscheduler = \"{}\"", s.scheduler);
    if !s.flags.is_empty() {
        let flags: Vec<String> = s
            .flags
            .iter()
            .map(|f| format!("\"{}-{f}\"", s.scheduler))
            .collect();
        let _ = writeln!(out, "scheduler_flags = [{}]", flags.join(", "));
    }
    if let Some(p) = &s.persistence {
        let _ = writeln!(out, "persistence {{\ntimeout = {}", p.timeout);
        match p.netmask {
            IpNetmask::V4(mask) if mask != std::net::Ipv4Addr::BROADCAST => {
                let _ = writeln!(out, "netmask = \"{mask}\"");
            }
            IpNetmask::V6(prefix) if prefix != 128 => {
                let _ = writeln!(out, "netmask = \"{prefix}\"");
            }
            _ => {}
        }
        if let Some(engine) = &p.engine {
            let _ = writeln!(out, "engine = \"{engine}\"");
        }
        out.push_str("}\n");
    }
    if s.one_packet {
        out.push_str("one_packet = true\n");
    }
    // lvsform cannot tell a fwmark service's VIPs from the table, and needs them to
    // prepare its hosts.
    let managed = manage_hosts && matches!(key, ServiceKey::Address { .. });
    for (dkey, dest) in &service.destinations {
        // The address names a real server; its port only when it differs from the service's.
        let name = if dkey.port == service_port {
            label(&dkey.address.to_string())
        } else {
            label(&dkey.to_string())
        };
        let _ = writeln!(
            out,
            "real_server \"rs_{name}\" {{\naddress = \"{}\"",
            dkey.address
        );
        if dkey.port != service_port {
            let _ = writeln!(out, "port = {}", dkey.port);
        }
        real_server(out, dest, mode, managed);
        out.push_str("}\n");
    }
    out.push_str("}\n");
}

fn real_server(out: &mut String, dest: &Destination, service_mode: Mode, managed: bool) {
    if dest.weight != 1 {
        let _ = writeln!(out, "weight = {}", dest.weight);
    }
    let mode = dest.forwarding.mode();
    if mode != service_mode {
        let _ = writeln!(out, "mode = \"{mode}\"");
    }
    if dest.upper_threshold != 0 {
        let _ = writeln!(out, "upper_threshold = {}", dest.upper_threshold);
    }
    if dest.lower_threshold != 0 {
        let _ = writeln!(out, "lower_threshold = {}", dest.lower_threshold);
    }
    if let Forwarding::Tun(tunnel) = dest.forwarding
        && tunnel != Tunnel::default()
    {
        let _ = writeln!(out, "tunnel {{\ntype = \"{}\"", tunnel.kind);
        if tunnel.port != 0 {
            let _ = writeln!(out, "port = {}", tunnel.port);
        }
        let _ = writeln!(out, "checksum = \"{}\"\n}}", tunnel.checksum);
    }
    if mode != Mode::Nat && !managed {
        out.push_str("manage = false\n");
    }
}

/// The mode most of a service's real servers use (DR, as ipvsadm's default, when none).
fn common_mode(service: &Service) -> Mode {
    let mut counts = [(Mode::Dr, 0), (Mode::Nat, 0), (Mode::Tun, 0)];
    for dest in service.destinations.values() {
        let mode = dest.forwarding.mode();
        if let Some(count) = counts.iter_mut().find(|(m, _)| *m == mode) {
            count.1 += 1;
        }
    }
    // On a tie the earlier mode wins: `max_by_key` keeps the last maximum.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(crate::defaults::MODE, |(m, _)| *m)
}
