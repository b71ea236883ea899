//! From declarations to the desired state: checks across services (duplicates, ignored
//! ranges, conflicting hosts) and the per-mode host and director settings.

use super::decode::{Declared, DeclaredServer, DeclaredService};
use super::{Config, DestinationMeta, DirectorMeta, HostMeta, ServiceMeta};
use crate::address::Address;
use crate::diag::{Diag, Diagnostics, Location};
use crate::model::{
    DestinationKey, Family, Forwarding, Host, InterfaceAddress, ServiceKey, State, Tunnel,
    TunnelType,
};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub fn build(declared: Declared, diags: &mut Diagnostics) -> Config {
    let mut desired = State::default();
    let mut config_director = DirectorMeta::default();
    if let Some(director) = declared.director {
        desired.director.sysctls = director.sysctls;
        desired.director.timeouts = director.timeouts;
        desired.director.sync_daemons = director.sync_daemons;
        config_director = DirectorMeta {
            interface: director.interface,
            dip: director.dip,
            ignore_vips: director.ignore_vips,
            ignore_fwmarks: director.ignore_fwmarks,
            remote: director.remote,
        };
    }
    let mut services = BTreeMap::new();
    let mut hosts: BTreeMap<String, (HostMeta, Location)> = BTreeMap::new();
    let mut locations = BTreeMap::new();
    let mut declared_at: BTreeMap<ServiceKey, (Address, Location)> = BTreeMap::new();

    for decl in declared.services {
        if let Some((first, _)) = declared_at.get(&decl.key) {
            diags.push(
                Diag::error(format!(
                    "{} has the same identity ({}) as {first}",
                    decl.address, decl.key
                ))
                .at(&decl.location.file, decl.location.span.clone())
                .label("declared twice")
                .help("two virtual servers cannot share protocol, VIP and port, or fwmark"),
            );
            continue;
        }
        check_ignored(
            &decl.key,
            &decl.vips,
            &decl.location,
            &config_director,
            diags,
        );
        declared_at.insert(decl.key, (decl.address.clone(), decl.location.clone()));

        let destinations = declare_servers(&decl, &mut desired, &mut hosts, &mut locations, diags);
        if let Some(interface) = &config_director.interface {
            for vip in &decl.vips {
                desired
                    .director
                    .addresses
                    .insert(InterfaceAddress::host(interface, *vip));
            }
        }
        locations.insert(decl.address.clone(), decl.location.clone());
        services.insert(
            decl.key,
            ServiceMeta {
                address: decl.address,
                drain: decl.drain,
                prevent_destroy: decl.prevent_destroy,
                max_depool: decl.max_depool,
                destinations,
            },
        );
        desired
            .services
            .insert(decl.key, decl.service.answering_every_client());
    }

    Config {
        desired,
        services,
        hosts: hosts.into_iter().map(|(k, (meta, _))| (k, meta)).collect(),
        director: config_director,
        parallelism: declared.parallelism,
        locations,
    }
}

/// The real servers of one service: their destinations' metadata, the settings their
/// hosts need (one SSH target per host), and the director sysctls NAT needs.
fn declare_servers(
    decl: &DeclaredService,
    desired: &mut State,
    hosts: &mut BTreeMap<String, (HostMeta, Location)>,
    locations: &mut BTreeMap<Address, Location>,
    diags: &mut Diagnostics,
) -> BTreeMap<DestinationKey, DestinationMeta> {
    let mut destinations = BTreeMap::new();
    for server in &decl.servers {
        let host = server.ssh.as_ref().map(|ssh| ssh.host.clone());
        if let Some(ssh) = &server.ssh {
            let meta = HostMeta {
                ssh: ssh.clone(),
                manage_firewall: server.manage_firewall,
            };
            match hosts.get(&ssh.host) {
                Some((existing, _)) if *existing != meta => {
                    host_conflict(server, &ssh.host, &hosts[&ssh.host].1, diags)
                }
                Some(_) => {}
                None => {
                    hosts.insert(ssh.host.clone(), (meta, server.location.clone()));
                }
            }
            let settings = desired.hosts.entry(ssh.host.clone()).or_default();
            for vip in &decl.vips {
                prepare_host(settings, &server.forwarding, *vip);
            }
        }
        if server.forwarding == Forwarding::Nat {
            let (name, value) = match decl.key.family() {
                Family::Ipv4 => ("net.ipv4.ip_forward", "1"),
                Family::Ipv6 => ("net.ipv6.conf.all.forwarding", "1"),
            };
            desired.director.sysctls.insert(name.into(), value.into());
            if let Some(host) = &host {
                desired
                    .hosts
                    .entry(host.clone())
                    .or_default()
                    .route_via_director = true;
            }
        }
        locations.insert(server.address.clone(), server.location.clone());
        destinations.insert(
            server.key,
            DestinationMeta {
                address: server.address.clone(),
                host,
            },
        );
    }
    destinations
}

fn check_ignored(
    key: &ServiceKey,
    vips: &[IpAddr],
    location: &Location,
    director: &DirectorMeta,
    diags: &mut Diagnostics,
) {
    for vip in vips {
        if let Some(range) = director.ignore_vips.iter().find(|net| net.contains(vip)) {
            diags.push(
                Diag::error(format!("VIP {vip} is inside the ignored range {range}"))
                    .at(&location.file, location.span.clone())
                    .help("lvsform never touches services in director.ignore: move the VIP or narrow the range"),
            );
        }
    }
    if let ServiceKey::Fwmark { mark, .. } = key
        && director.ignore_fwmarks.contains(mark)
    {
        diags.push(
            Diag::error(format!("fwmark {mark} is in director.ignore.fwmarks"))
                .at(&location.file, location.span.clone())
                .help("lvsform never touches ignored services: use another mark or remove it from the ignore list"),
        );
    }
}

fn host_conflict(server: &DeclaredServer, host: &str, first: &Location, diags: &mut Diagnostics) {
    let (line, _) = first.file.line_col(first.span.start);
    diags.push(
        Diag::error(format!(
            "host {host} is reached with different SSH settings than at {}:{line}",
            first.file.name()
        ))
        .at(&server.location.file, server.location.span.clone())
        .help("a host is one SSH target: give every real server on it the same ssh settings"),
    );
}

/// Adds what a real server needs to receive `vip` by its forwarding method.
pub fn prepare_host(host: &mut Host, forwarding: &Forwarding, vip: IpAddr) {
    let v4 = vip.is_ipv4();
    let mut sysctl = |name: String, value: &str| {
        host.sysctls.insert(name, value.to_string());
    };
    match forwarding {
        Forwarding::Nat => {}
        Forwarding::Dr => {
            host.addresses.insert(InterfaceAddress::host("lo", vip));
            if v4 {
                for scope in ["all", "lo"] {
                    sysctl(format!("net.ipv4.conf.{scope}.arp_ignore"), "1");
                    sysctl(format!("net.ipv4.conf.{scope}.arp_announce"), "2");
                }
            }
        }
        Forwarding::Tun(tunnel) => {
            let (module, link) = tunnel_device(tunnel, v4);
            host.modules.insert(module.to_string());
            if tunnel.kind == TunnelType::Gue {
                host.modules.insert("fou".into());
            }
            host.links_up.insert(link.to_string());
            host.addresses.insert(InterfaceAddress::host(link, vip));
            host.accept_ipip |= v4 && tunnel.kind == TunnelType::Ipip;
            if v4 {
                sysctl(format!("net.ipv4.conf.{link}.rp_filter"), "0");
                sysctl("net.ipv4.conf.all.rp_filter".into(), "0");
                sysctl("net.ipv4.conf.all.arp_ignore".into(), "1");
                sysctl("net.ipv4.conf.all.arp_announce".into(), "2");
            }
        }
    }
}

/// The kernel module and fallback device that receive a tunnel's packets.
fn tunnel_device(tunnel: &Tunnel, v4: bool) -> (&'static str, &'static str) {
    match (tunnel.kind, v4) {
        (TunnelType::Gre, true) => ("ip_gre", "gre0"),
        (TunnelType::Gre, false) => ("ip6_gre", "ip6gre0"),
        (_, true) => ("ipip", "tunl0"),
        (_, false) => ("ip6_tunnel", "ip6tnl0"),
    }
}
