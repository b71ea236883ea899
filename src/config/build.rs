//! From declarations to the desired state: checks across services (duplicates, ignored
//! ranges, conflicting hosts) and the per-mode host and director settings.

use super::decode::{Declared, DeclaredDirector, DeclaredServer, DeclaredService};
use super::{Config, DestinationMeta, DirectorConfig, DirectorMeta, HostMeta, ServiceMeta};
use crate::address::Address;
use crate::diag::{Diag, Diagnostics, Location};
use crate::model::{
    DestinationKey, Family, Forwarding, Host, InterfaceAddress, Protocol, Scheduler, ServiceKey,
    State, Tunnel, TunnelType,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

pub fn build(declared: Declared, diags: &mut Diagnostics) -> Config {
    vrrp_rules(&declared, diags);
    let mut desired = State::default();
    let mut directors: Vec<DirectorConfig> = declared
        .directors
        .into_iter()
        .map(|director| DirectorConfig {
            meta: DirectorMeta {
                name: director.name,
                interface: director.interface,
                dip: director.dip,
                ignore_vips: director.ignore_vips,
                ignore_fwmarks: director.ignore_fwmarks,
                remote: director.remote,
                keepalived: director.keepalived,
                vrrp_priority: director.vrrp_priority.map(|(p, _)| p),
            },
            settings: crate::model::Director {
                sysctls: director.sysctls,
                addresses: Default::default(),
                timeouts: director.timeouts,
                sync_daemons: director.sync_daemons,
            },
            services: BTreeSet::new(),
            vrrp_addresses: BTreeSet::new(),
        })
        .collect();
    if directors.is_empty() {
        // No director block: this machine, with nothing but what the services need.
        directors.push(DirectorConfig::default());
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
        let serving = serving_directors(&decl, &directors, diags);
        for &i in &serving {
            check_ignored(
                &decl.key,
                &decl.vips,
                &decl.location,
                &directors[i].meta,
                diags,
            );
        }
        declared_at.insert(decl.key, (decl.address.clone(), decl.location.clone()));

        let mut sysctls = BTreeMap::new();
        let destinations = declare_servers(
            &decl,
            &mut desired,
            &mut sysctls,
            &mut hosts,
            &mut locations,
            diags,
        );
        hashing_guidance(&decl, &serving, &directors, diags);
        for &i in &serving {
            let director = &mut directors[i];
            director.settings.sysctls.extend(sysctls.clone());
            add_vips(director, &decl.vips);
            director.services.insert(decl.key);
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
                health_check: decl.health_check.clone(),
                probe: decl.probe.clone(),
            },
        );
        let mut service = decl.service.answering_every_client();
        if decl.health_check.is_some()
            && crate::keepalived::render::holds_place(service.settings.scheduler)
        {
            // keepalived holds a failing server in place at weight 0: its clients go to
            // the others (SPEC §8).
            service
                .settings
                .flags
                .insert(crate::model::SchedulerFlag::Fallback);
        }
        desired.services.insert(decl.key, service);
    }

    Config {
        desired,
        services,
        hosts: hosts.into_iter().map(|(k, (meta, _))| (k, meta)).collect(),
        directors,
        parallelism: declared.parallelism,
        locations,
        vrrp: declared.vrrp.map(|(vrrp, _)| vrrp),
    }
}

/// The VIPs a director holds on its interface (when it has one: keepalived may own them),
/// lvsform's to add, or VRRP's.
fn add_vips(director: &mut DirectorConfig, vips: &[IpAddr]) {
    if let Some(interface) = &director.meta.interface {
        let addresses = match director.meta.vrrp_priority {
            Some(_) => &mut director.vrrp_addresses,
            None => &mut director.settings.addresses,
        };
        addresses.extend(
            vips.iter()
                .map(|vip| InterfaceAddress::host(interface, *vip)),
        );
    }
}

/// The rules of VRRP (SPEC §10): a `vrrp` block and directors with priorities go together;
/// each of those directors has an interface for the VIPs (and a DIP for unicast), its own
/// priority, and no sync daemon of lvsform's beside keepalived's.
fn vrrp_rules(declared: &Declared, diags: &mut Diagnostics) {
    let at = |location: &Location, diag: Diag| diag.at(&location.file, location.span.clone());
    let members: Vec<&DeclaredDirector> = (declared.directors.iter())
        .filter(|d| d.vrrp_priority.is_some())
        .collect();
    let Some((vrrp, block)) = &declared.vrrp else {
        for director in members {
            let (_, location) = director.vrrp_priority.as_ref().expect("a member");
            diags.push(at(
                location,
                Diag::error("a director's `vrrp` priority needs the top-level `vrrp` block")
                    .help("add vrrp { virtual_router_id = 51 } at the top level, or remove the director's vrrp block"),
            ));
        }
        return;
    };
    if members.is_empty() {
        diags.push(at(
            block,
            Diag::error("a `vrrp` block without directors in it")
                .help("give each director that shares the VIPs a priority: director \"lb1\" { vrrp { priority = 150 } }"),
        ));
    }
    let name = |d: &DeclaredDirector| match &d.name {
        Some(name) => format!("director \"{name}\""),
        None => "the director".into(),
    };
    for (i, director) in members.iter().enumerate() {
        let (priority, location) = director.vrrp_priority.as_ref().expect("a member");
        if director.interface.is_none() {
            diags.push(at(
                &director.location,
                Diag::error(format!(
                    "{} is in `vrrp` and has no `interface`",
                    name(director)
                ))
                .help("VRRP holds the VIPs on the director's interface: add interface = \"eth0\""),
            ));
        }
        if vrrp.unicast && director.dip.is_none() {
            diags.push(at(
                &director.location,
                Diag::error(format!("{} has no `dip` for VRRP's unicast peers", name(director)))
                    .help("with unicast = true the directors advertise to each other's DIP: add dip = \"10.1.0.1\""),
            ));
        }
        if let Some(other) = members[..i]
            .iter()
            .find(|d| d.vrrp_priority.as_ref().map(|(p, _)| p) == Some(priority))
        {
            diags.push(at(
                location,
                Diag::error(format!("{} has the VRRP priority {priority} of {}", name(director), name(other)))
                    .help("give each director its own priority: the highest holds the VIPs, the next takes over"),
            ));
        }
        if vrrp.sync_connections && !director.sync_daemons.is_empty() {
            diags.push(at(
                &director.location,
                Diag::error(format!("{} has a `sync_daemon` beside VRRP's `sync_connections`", name(director)))
                    .help("keepalived runs the connection sync daemon and follows the VRRP state: remove the sync_daemon block, or set sync_connections = false"),
            ));
        }
    }
    let strict: Vec<String> = (members.iter())
        .filter(|d| d.sysctls.get("net.ipv4.vs.sloppy_tcp").map(String::as_str) != Some("1"))
        .map(|d| name(d))
        .collect();
    if members.len() > 1 && !strict.is_empty() {
        diags.push(at(
            block,
            Diag::warning(format!(
                "the directors share VIPs through VRRP, and net.ipv4.vs.sloppy_tcp is not 1 on {}: a director that takes over drops the TCP connections it did not see start (or were not synced yet)",
                strict.join(", ")
            ))
            .help("add sysctl = { \"net.ipv4.vs.sloppy_tcp\" = 1 } to every director in vrrp"),
        ));
    }
}

/// Where sh or mh runs on several directors, what costs traffic: sh moves most clients
/// when the directors' orders differ (mh few), and a director that takes over drops the
/// connections it did not see start unless it is sloppy (see docs/hashing.md).
fn hashing_guidance(
    decl: &DeclaredService,
    serving: &[usize],
    directors: &[DirectorConfig],
    diags: &mut Diagnostics,
) {
    let scheduler = decl.service.settings.scheduler;
    if serving.len() < 2 || !scheduler.hashes() {
        return;
    }
    let at = |diag: Diag| diag.at(&decl.location.file, decl.location.span.clone());
    if scheduler == Scheduler::Sh {
        diags.push(at(Diag::warning(format!(
            "{} uses sh on {} directors: if their orders of real servers ever differ, most clients move",
            decl.address,
            serving.len()
        ))
        .help("use scheduler = \"mh\" (maglev hashing): the same spread, and a difference moves few clients")));
    }
    let sysctl = match decl.key {
        ServiceKey::Address {
            protocol: Protocol::Udp,
            ..
        } => return, // nothing to take over
        ServiceKey::Address {
            protocol: Protocol::Sctp,
            ..
        } => "net.ipv4.vs.sloppy_sctp",
        _ => "net.ipv4.vs.sloppy_tcp",
    };
    let strict: Vec<&str> = serving
        .iter()
        .map(|&i| &directors[i])
        .filter(|d| d.settings.sysctls.get(sysctl).map(String::as_str) != Some("1"))
        .filter_map(DirectorConfig::name)
        .collect();
    if !strict.is_empty() {
        diags.push(at(Diag::warning(format!(
            "{} hashes clients on several directors, and {sysctl} is not 1 on {}: a director that takes over drops the connections it did not see start",
            decl.address,
            strict.join(", ")
        ))
        .help(format!("add sysctl = {{ \"{sysctl}\" = 1 }} to every director"))));
    }
}

/// The directors (by index) that serve a service: those of its `directors`, or all.
fn serving_directors(
    decl: &DeclaredService,
    directors: &[DirectorConfig],
    diags: &mut Diagnostics,
) -> Vec<usize> {
    let Some((names, location)) = &decl.directors else {
        return (0..directors.len()).collect();
    };
    if directors[0].name().is_none() {
        diags.push(
            Diag::error("`directors` chooses among named directors, and there are none")
                .at(&location.file, location.span.clone())
                .help("name the director blocks (director \"lb1\" { … }), or remove `directors`"),
        );
        return vec![];
    }
    let mut serving = Vec::new();
    for name in names {
        match directors
            .iter()
            .position(|d| d.name() == Some(name.as_str()))
        {
            Some(i) if !serving.contains(&i) => serving.push(i),
            Some(_) => {}
            None => {
                let known: Vec<&str> = directors.iter().filter_map(DirectorConfig::name).collect();
                let help = match super::value::suggest(name, known.iter().copied()) {
                    Some(near) => format!("did you mean \"{near}\"?"),
                    None => format!("the directors are: {}", known.join(", ")),
                };
                diags.push(
                    Diag::error(format!(
                        "no director is named \"{}\"",
                        name.escape_default()
                    ))
                    .at(&location.file, location.span.clone())
                    .help(help),
                );
            }
        }
    }
    if serving.is_empty() && names.is_empty() {
        diags.push(
            Diag::error(format!("{} is served by no director", decl.address))
                .at(&location.file, location.span.clone())
                .help("name at least one director, or remove `directors` to use all"),
        );
    }
    serving.sort_unstable();
    serving
}

/// The real servers of one service: their destinations' metadata, the settings their
/// hosts need (one SSH target per host), and the director sysctls NAT needs.
fn declare_servers(
    decl: &DeclaredService,
    desired: &mut State,
    director_sysctls: &mut BTreeMap<String, String>,
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
            director_sysctls.insert(name.into(), value.into());
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
