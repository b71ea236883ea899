//! `lvsform import`: HCL that declares what the live IPVS table holds, so that `plan` on it
//! right after is empty; or what a keepalived configuration (`keepalived`) or an
//! `ipvsadm -S` rules file (`ipvsadm`) makes, so that an apply makes the same table.
//! Attributes at their defaults are left out, but for protocol, mode and scheduler.

mod ipvsadm;
mod keepalived;

pub use ipvsadm::from_ipvsadm;
pub use keepalived::from_keepalived;

/// Services read from a file to import: with their checks (keepalived's), and a warning
/// with its file and line for everything that has no equivalent.
#[derive(Debug, Default)]
pub struct Imported {
    pub services: BTreeMap<ServiceKey, Service>,
    pub checks: BTreeMap<ServiceKey, HealthCheck>,
    pub warnings: Vec<crate::diag::Diag>,
}

impl Imported {
    /// The services as a table to write (the kernel's defaults besides).
    pub fn table(&self) -> Table {
        Table {
            services: self.services.clone(),
            timeouts: KERNEL_TIMEOUTS,
            sync_daemons: Default::default(),
            service_stats: Default::default(),
            counters: Default::default(),
            info: Default::default(),
            unknown_schedulers: Default::default(),
            order: Default::default(),
        }
    }
}

use crate::config::RemoteDirectorMeta;
use crate::defaults::KERNEL_TIMEOUTS;
use crate::ipvs::Table;
use crate::keepalived::{Check, HealthCheck};
use crate::model::{Destination, Forwarding, Mode, Service, ServiceKey, Tunnel};
use hcl::{Block, BlockBuilder, Body};
use std::collections::BTreeMap;

/// The configuration text for `table`. `manage_hosts`: whether lvsform is to keep the DR
/// and TUN real servers prepared over SSH (`import --hosts`); otherwise they are
/// declared with `manage = false`. `remote`: the director the table is from, when it is
/// reached over SSH.
/// `checks`: the services with a `health_check` (keepalived's). `origin`: where the
/// services come from, for the file's first line.
pub fn hcl(
    table: &Table,
    manage_hosts: bool,
    remote: Option<&RemoteDirectorMeta>,
    checks: &BTreeMap<ServiceKey, HealthCheck>,
    origin: &str,
) -> String {
    let mut body = Body::builder();
    if let Some(director) = director(table, remote) {
        body = body.add_block(director);
    }
    for (key, service) in &table.services {
        body = body.add_block(virtual_server(key, service, manage_hosts, checks.get(key)));
    }
    // hcl-rs writes every string escaped: a kernel string (an interface name, a
    // persistence engine) with `"` or `${` in it stays that string.
    let text = hcl::to_string(&body.build()).unwrap_or_default();
    let out = format!(
        "# Written by `lvsform import` from {origin}. Names are made from the\n\
         # addresses: rename them freely (a rename changes nothing live).\n\n{text}"
    );
    // The formatter aligns it as `lvsform fmt` would.
    crate::fmt::format(&out).unwrap_or(out)
}

fn director(table: &Table, remote: Option<&RemoteDirectorMeta>) -> Option<Block> {
    let t = table.timeouts;
    if t == KERNEL_TIMEOUTS && table.sync_daemons.is_empty() && remote.is_none() {
        return None;
    }
    let mut director = Block::builder("director");
    if let Some(remote) = remote {
        director = director.add_block(ssh(remote));
    }
    if t != KERNEL_TIMEOUTS {
        director = director.add_block(
            Block::builder("timeouts")
                .add_attribute(("tcp", t.tcp))
                .add_attribute(("tcp_fin", t.tcp_fin))
                .add_attribute(("udp", t.udp))
                .build(),
        );
    }
    for daemon in &table.sync_daemons {
        director = director.add_block(
            Block::builder("sync_daemon")
                .add_attribute(("state", daemon.state.to_string()))
                .add_attribute(("interface", daemon.interface.clone()))
                .add_attribute(("syncid", daemon.syncid))
                .build(),
        );
    }
    Some(director.build())
}

/// How the director is reached, as its `ssh` block says it (paths as they were resolved).
fn ssh(remote: &RemoteDirectorMeta) -> Block {
    let target = &remote.ssh;
    let mut ssh = Block::builder("ssh")
        .add_attribute(("host", target.host.clone()))
        .add_attribute(("user", target.user.clone()));
    if target.port != crate::defaults::SSH_PORT {
        ssh = ssh.add_attribute(("port", target.port));
    }
    if let Some(key) = &target.private_key {
        ssh = ssh.add_attribute(("private_key", key.display().to_string()));
    }
    if target.agent {
        ssh = ssh.add_attribute(("agent", true));
    }
    ssh = ssh.add_attribute(("known_hosts", target.known_hosts.display().to_string()));
    if target.sudo {
        ssh = ssh.add_attribute(("sudo", true));
    }
    if target.timeout != crate::defaults::SSH_TIMEOUT {
        ssh = ssh.add_attribute(("timeout", format!("{}s", target.timeout.as_secs())));
    }
    if remote.lvsform != "lvsform" {
        ssh = ssh.add_attribute(("lvsform", remote.lvsform.clone()));
    }
    ssh.build()
}

/// A block label from an address-like text: `tcp/203.0.113.10:80` → `tcp_203_0_113_10_80`.
fn label(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn virtual_server(
    key: &ServiceKey,
    service: &Service,
    manage_hosts: bool,
    check: Option<&HealthCheck>,
) -> Block {
    // The service's mode is its real servers' usual one; the others say theirs.
    let mode = common_mode(service);
    let name = match key {
        ServiceKey::Address { .. } => label(&key.to_string()),
        ServiceKey::Fwmark { mark, .. } => format!("fwmark_{mark}"),
    };
    let mut block = Block::builder("virtual_server").add_label(name);
    let service_port = match key {
        ServiceKey::Address {
            protocol,
            vip,
            port,
        } => {
            block = block
                .add_attribute(("protocol", protocol.to_string()))
                .add_attribute(("vip", vip.to_string()))
                .add_attribute(("port", *port));
            *port
        }
        ServiceKey::Fwmark { mark, .. } => {
            block = block.add_attribute(("fwmark", *mark));
            0
        }
    };
    let s = &service.settings;
    block = block
        .add_attribute(("mode", mode.to_string()))
        .add_attribute(("scheduler", s.scheduler.to_string()));
    if !s.flags.is_empty() {
        let flags: Vec<String> = s
            .flags
            .iter()
            .map(|f| format!("{}-{f}", s.scheduler))
            .collect();
        block = block.add_attribute(("scheduler_flags", flags));
    }
    if let Some(p) = &s.persistence {
        let mut persistence = Block::builder("persistence").add_attribute(("timeout", p.timeout));
        if let Some(netmask) = p.netmask.written() {
            persistence = persistence.add_attribute(("netmask", netmask));
        }
        if let Some(engine) = &p.engine {
            persistence = persistence.add_attribute(("engine", engine.clone()));
        }
        block = block.add_block(persistence.build());
    }
    if s.one_packet {
        block = block.add_attribute(("one_packet", true));
    }
    if let Some(check) = check {
        block = block.add_block(health_check(check));
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
        let mut server = Block::builder("real_server")
            .add_label(format!("rs_{name}"))
            .add_attribute(("address", dkey.address.to_string()));
        if dkey.port != service_port {
            server = server.add_attribute(("port", dkey.port));
        }
        block = block.add_block(real_server(server, dest, mode, managed));
    }
    block.build()
}

fn health_check(check: &HealthCheck) -> Block {
    let kind = match &check.kind {
        Check::Http { path, status } => Block::builder("http")
            .add_attribute(("path", path.clone()))
            .add_attribute(("status", *status))
            .build(),
        Check::Tcp => Block::builder("tcp").build(),
    };
    let mut block = Block::builder("health_check").add_block(kind);
    if let Some(port) = check.port {
        block = block.add_attribute(("port", port));
    }
    let duration = |d: std::time::Duration| match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        _ => format!("{}ms", d.as_millis()),
    };
    block
        .add_attribute(("interval", duration(check.interval)))
        .add_attribute(("timeout", duration(check.timeout)))
        .add_attribute(("retries", check.retries))
        .build()
}

fn real_server(
    mut server: BlockBuilder,
    dest: &Destination,
    service_mode: Mode,
    managed: bool,
) -> Block {
    if dest.weight != 1 {
        server = server.add_attribute(("weight", dest.weight));
    }
    let mode = dest.forwarding.mode();
    if mode != service_mode {
        server = server.add_attribute(("mode", mode.to_string()));
    }
    if dest.upper_threshold != 0 {
        server = server.add_attribute(("upper_threshold", dest.upper_threshold));
    }
    if dest.lower_threshold != 0 {
        server = server.add_attribute(("lower_threshold", dest.lower_threshold));
    }
    if let Forwarding::Tun(tunnel) = dest.forwarding
        && tunnel != Tunnel::default()
    {
        let mut block = Block::builder("tunnel").add_attribute(("type", tunnel.kind.to_string()));
        if tunnel.port != 0 {
            block = block.add_attribute(("port", tunnel.port));
        }
        block = block.add_attribute(("checksum", tunnel.checksum.to_string()));
        server = server.add_block(block.build());
    }
    if mode != Mode::Nat && !managed {
        server = server.add_attribute(("manage", false));
    }
    server.build()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{FakeIpvs, Ipvs};
    use crate::model::{SyncDaemon, SyncState};

    #[test]
    fn a_kernel_string_is_written_escaped_and_reads_back_as_it_was() {
        let mut table = FakeIpvs::default().observe().unwrap();
        let hostile = "eth\"0${var.x}%{if}\\n";
        table.sync_daemons.insert(SyncDaemon {
            state: SyncState::Master,
            interface: hostile.into(),
            syncid: 1,
        });
        let text = hcl(&table, false, None, &BTreeMap::new(), "the live IPVS table");
        let body: hcl::Body = hcl::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let director = body
            .blocks()
            .find(|b| b.identifier() == "director")
            .unwrap();
        let daemon = director
            .body()
            .blocks()
            .find(|b| b.identifier() == "sync_daemon")
            .unwrap();
        let interface = daemon
            .body()
            .attributes()
            .find(|a| a.key() == "interface")
            .unwrap();
        // A template with escaped markers evaluates to the text it stands for.
        use hcl::eval::Evaluate;
        let value = interface
            .expr()
            .evaluate(&hcl::eval::Context::new())
            .unwrap();
        assert_eq!(value, hcl::Value::from(hostile), "{text}");
    }
}
