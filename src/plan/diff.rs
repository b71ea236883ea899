//! diff(desired, observed) -> Plan.

use super::{Action, Observed, Phase, Plan, ResourceChange, Step, persist};
use crate::config::{Config, Depool};
use crate::diag::Diag;
use crate::director::DirectorChange;
use crate::host::{HostChange, HostFacts, firewall};
use crate::ipvs::Change;
use crate::model::{
    Destination, DestinationKey, Forwarding, Host, InterfaceAddress, Protocol, Service, ServiceKey,
};
use crate::parallel::for_each_parallel;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

pub fn diff(config: &Config, observed: &Observed) -> Result<Plan, Vec<Diag>> {
    let mut d = Differ::new(config, observed);
    d.director();
    d.services();
    d.hosts();
    d.director_cleanup();
    d.warnings();
    d.plan.steps.sort_by_key(|(phase, _)| *phase);
    if d.errors.is_empty() {
        Ok(d.plan)
    } else {
        Err(d.errors)
    }
}

struct Differ<'a> {
    config: &'a Config,
    observed: &'a Observed,
    plan: Plan,
    errors: Vec<Diag>,
    /// VIPs of live services this plan deletes.
    retired_vips: BTreeSet<IpAddr>,
    /// The `director` resource's changed attributes.
    director_before: BTreeMap<String, Value>,
    director_after: BTreeMap<String, Value>,
}

fn service_json(key: &ServiceKey, service: &Service) -> Value {
    let s = &service.settings;
    let mut v = match key {
        ServiceKey::Address {
            protocol,
            vip,
            port,
        } => json!({"protocol": protocol, "vip": vip, "port": port}),
        ServiceKey::Fwmark { mark, family } => json!({"fwmark": mark, "family": family}),
    };
    let map = v.as_object_mut().expect("an object");
    map.insert("scheduler".into(), json!(s.scheduler));
    map.insert(
        "scheduler_flags".into(),
        json!(
            s.flags
                .iter()
                .map(|f| format!("{}-{f}", s.scheduler))
                .collect::<Vec<_>>()
        ),
    );
    map.insert(
        "persistence".into(),
        serde_json::to_value(&s.persistence).unwrap_or(Value::Null),
    );
    map.insert("one_packet".into(), json!(s.one_packet));
    v
}

fn dest_json(key: &DestinationKey, dest: &Destination) -> Value {
    let tunnel = match dest.forwarding {
        Forwarding::Tun(t) => serde_json::to_value(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    json!({
        "address": key.address,
        "port": key.port,
        "weight": dest.weight,
        "mode": dest.forwarding.mode(),
        "upper_threshold": dest.upper_threshold,
        "lower_threshold": dest.lower_threshold,
        "tunnel": tunnel,
    })
}

fn drains(key: &ServiceKey) -> bool {
    !matches!(
        key,
        ServiceKey::Address {
            protocol: Protocol::Udp,
            ..
        }
    )
}

impl<'a> Differ<'a> {
    fn new(config: &'a Config, observed: &'a Observed) -> Self {
        Differ {
            config,
            observed,
            plan: Plan::default(),
            errors: Vec::new(),
            retired_vips: BTreeSet::new(),
            director_before: BTreeMap::new(),
            director_after: BTreeMap::new(),
        }
    }
}

impl Differ<'_> {
    fn step(&mut self, phase: Phase, step: Step) {
        self.plan.steps.push((phase, step));
    }

    fn change(
        &mut self,
        address: String,
        action: Action,
        before: Option<Value>,
        after: Option<Value>,
        impact: Option<String>,
    ) {
        self.plan.changes.push(ResourceChange {
            address,
            action,
            before,
            after,
            impact,
        });
    }

    fn ignored(&self, key: &ServiceKey) -> bool {
        let d = &self.config.director;
        match key {
            ServiceKey::Address { vip, .. } => d.ignore_vips.iter().any(|net| net.contains(vip)),
            ServiceKey::Fwmark { mark, .. } => d.ignore_fwmarks.contains(mark),
        }
    }

    fn impact(
        &self,
        service: &ServiceKey,
        dest: &DestinationKey,
        drain: Option<Duration>,
    ) -> String {
        let c = self
            .observed
            .table
            .counters
            .get(&(*service, *dest))
            .copied()
            .unwrap_or_default();
        let mut text = format!("{} active, {} inactive connections", c.active, c.inactive);
        if let Some(drain) = drain.filter(|d| !d.is_zero()) {
            text.push_str(&format!(", will drain up to {}s", drain.as_secs()));
        }
        text
    }

    /// Declared services missing from the live table, each with the undeclared live service
    /// it replaces. lvsform keeps no state, so a replace (IPVS cannot change a service's
    /// protocol, VIP, port, fwmark or family in place) is recognised by the real servers:
    /// the two sides must have the same real-server addresses, and no other service on
    /// either side may have them too.
    fn replacements(&self) -> BTreeMap<ServiceKey, ServiceKey> {
        let desired = &self.config.desired.services;
        let observed = &self.observed.table.services;
        let servers = |s: &Service| -> BTreeSet<IpAddr> {
            s.destinations.keys().map(|d| d.address).collect()
        };
        // Services of one side by their real-server addresses: a set held by exactly one
        // service on each side pairs them. (An index, not a search per service: a plan
        // that moves every VIP must not cost services².)
        let by_servers = |side: &mut dyn Iterator<Item = (&ServiceKey, &Service)>| {
            let mut index: BTreeMap<BTreeSet<IpAddr>, Vec<ServiceKey>> = BTreeMap::new();
            for (key, service) in side.filter(|(_, s)| !s.destinations.is_empty()) {
                index.entry(servers(service)).or_default().push(*key);
            }
            index
        };
        let missing = by_servers(&mut desired.iter().filter(|(k, _)| !observed.contains_key(k)));
        let orphans = by_servers(
            &mut observed
                .iter()
                .filter(|(k, _)| !desired.contains_key(k) && !self.ignored(k)),
        );
        missing
            .iter()
            .filter_map(
                |(set, new)| match (new.as_slice(), orphans.get(set)?.as_slice()) {
                    ([new], [old]) => Some((*new, *old)),
                    _ => None,
                },
            )
            .collect()
    }

    /// "N real servers, M active connections", and the drain when there is one.
    fn service_impact(&self, key: &ServiceKey, have: &Service, drain: Duration) -> String {
        let active: u32 = have
            .destinations
            .keys()
            .map(|d| {
                self.observed
                    .table
                    .counters
                    .get(&(*key, *d))
                    .map_or(0, |c| c.active)
            })
            .sum();
        let servers = have.destinations.len();
        let plural = if servers == 1 { "" } else { "s" };
        let mut text = format!("{servers} real server{plural}, {active} active connections");
        if drains(key) && !drain.is_zero() {
            text.push_str(&format!(", will drain up to {}s", drain.as_secs()));
        }
        text
    }

    /// A located error for a declared service that this plan would delete or replace
    /// while it has `prevent_destroy = true`.
    fn refuse_destroy(&mut self, key: &ServiceKey, what: &str) {
        let meta = &self.config.services[key];
        let mut diag = Diag::error(format!(
            "{} has prevent_destroy = true, and this plan {what}",
            meta.address
        ))
        .help("remove prevent_destroy from the configuration first if it really must go");
        if let Some(location) = self.config.locations.get(&meta.address) {
            diag = diag.at(&location.file, location.span.clone());
        }
        self.errors.push(diag);
    }

    fn services(&mut self) {
        let desired = &self.config.desired.services;
        let observed = &self.observed.table.services;
        let replaced = self.replacements();
        let successors: BTreeMap<ServiceKey, ServiceKey> =
            replaced.iter().map(|(new, old)| (*old, *new)).collect();
        // Declared services are planned independently of each other: a large
        // configuration is planned in chunks on all cores, joined in order.
        let declared: Vec<(&ServiceKey, &Service)> = desired.iter().collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = declared.len().div_ceil(cores).max(256);
        let (config, live) = (self.config, self.observed);
        let mut chunks: Vec<&[(&ServiceKey, &Service)]> = declared.chunks(chunk).collect();
        let parts = for_each_parallel(&mut chunks, cores, |services| {
            let mut part = Differ::new(config, live);
            for (key, want) in services.iter() {
                part.declared_service(key, want, &replaced);
            }
            part
        });
        for part in parts {
            self.plan.changes.extend(part.plan.changes);
            self.plan.steps.extend(part.plan.steps);
            self.plan.replaced.extend(part.plan.replaced);
            self.errors.extend(part.errors);
        }
        for (key, have) in observed {
            if desired.contains_key(key) || self.ignored(key) {
                continue;
            }
            // A replaced service drains as its successor's declaration says; the change
            // was listed under the successor's address.
            let drain = match successors.get(key) {
                Some(new) => self.config.services[new].drain,
                None => {
                    let impact = self.service_impact(key, have, Duration::ZERO);
                    self.change(
                        format!("virtual_server[\"{key}\"]"),
                        Action::Delete,
                        Some(service_json(key, have)),
                        None,
                        Some(impact),
                    );
                    crate::defaults::DRAIN
                }
            };
            for (dkey, old) in &have.destinations {
                if drains(key) && !drain.is_zero() {
                    self.drain(key, dkey, old, drain);
                }
            }
            self.step(
                Phase::ServiceRemove,
                Step::Ipvs(Change::DelService { key: *key }),
            );
            if let ServiceKey::Address { vip, .. } = key {
                self.retired_vips.insert(*vip);
            }
        }
        let desired_timeouts = self.config.desired.director.timeouts;
        if let Some(t) = desired_timeouts
            && t != self.observed.table.timeouts
        {
            self.director_before
                .insert("timeouts".into(), json!(self.observed.table.timeouts));
            self.director_after.insert("timeouts".into(), json!(t));
            self.step(Phase::Director, Step::Ipvs(Change::SetTimeouts(t)));
        }
        let want_daemons = &self.config.desired.director.sync_daemons;
        let have_daemons = &self.observed.table.sync_daemons;
        if want_daemons != have_daemons {
            self.director_before
                .insert("sync_daemons".into(), json!(have_daemons));
            self.director_after
                .insert("sync_daemons".into(), json!(want_daemons));
        }
        for daemon in have_daemons.difference(want_daemons) {
            self.step(
                Phase::Director,
                Step::Ipvs(Change::StopDaemon(daemon.clone())),
            );
        }
        for daemon in want_daemons.difference(have_daemons) {
            self.step(
                Phase::Director,
                Step::Ipvs(Change::StartDaemon(daemon.clone())),
            );
        }
    }

    /// The changes of one declared service and its real servers.
    fn declared_service(
        &mut self,
        key: &ServiceKey,
        want: &Service,
        replaced: &BTreeMap<ServiceKey, ServiceKey>,
    ) {
        let observed = &self.observed.table.services;
        let nothing = BTreeMap::new();
        let meta = &self.config.services[key];
        // A missing service is created, then filled like an existing one that is empty.
        let have = match observed.get(key) {
            None => {
                let (action, before, impact) = match replaced.get(key) {
                    Some(old_key) => {
                        let old = &observed[old_key];
                        self.plan.replaced.insert(
                            format!("virtual_server[\"{old_key}\"]"),
                            meta.address.clone(),
                        );
                        if meta.prevent_destroy {
                            self.refuse_destroy(key, "replaces it");
                        }
                        (
                            Action::Replace,
                            Some(service_json(old_key, old)),
                            Some(self.service_impact(old_key, old, meta.drain)),
                        )
                    }
                    None => (Action::Create, None, None),
                };
                self.change(
                    meta.address.clone(),
                    action,
                    before,
                    Some(service_json(key, want)),
                    impact,
                );
                let settings = want.settings.clone();
                self.step(
                    Phase::ServiceUpsert,
                    Step::Ipvs(Change::AddService {
                        key: *key,
                        settings,
                    }),
                );
                &nothing
            }
            Some(have) => {
                if have.settings != want.settings {
                    let (before, after) = (service_json(key, have), service_json(key, want));
                    self.change(
                        meta.address.clone(),
                        Action::Update,
                        Some(before),
                        Some(after),
                        None,
                    );
                    let settings = want.settings.clone();
                    self.step(
                        Phase::ServiceUpsert,
                        Step::Ipvs(Change::EditService {
                            key: *key,
                            settings,
                        }),
                    );
                }
                &have.destinations
            }
        };
        let mut depooled = 0;
        for (dkey, dest) in &want.destinations {
            let address = meta.destinations[dkey].address.clone();
            let step = match have.get(dkey) {
                None => {
                    self.change(
                        address,
                        Action::Create,
                        None,
                        Some(dest_json(dkey, dest)),
                        None,
                    );
                    Change::AddDest {
                        service: *key,
                        key: *dkey,
                        dest: dest.clone(),
                    }
                }
                Some(old) if old != dest => {
                    let zeroed = dest.weight == 0 && old.weight > 0;
                    depooled += usize::from(zeroed);
                    let impact = zeroed.then(|| self.impact(key, dkey, None));
                    self.change(
                        address,
                        Action::Update,
                        Some(dest_json(dkey, old)),
                        Some(dest_json(dkey, dest)),
                        impact,
                    );
                    Change::EditDest {
                        service: *key,
                        key: *dkey,
                        dest: dest.clone(),
                    }
                }
                Some(_) => continue,
            };
            self.step(Phase::DestUpsert, Step::Ipvs(step));
        }
        for (dkey, old) in have {
            if !want.destinations.contains_key(dkey) {
                depooled += 1;
                let address = format!("{}.real_server[\"{dkey}\"]", meta.address);
                self.remove_dest(address, key, dkey, old, meta.drain);
            }
        }
        self.check_depool(key, have.len(), depooled);
    }

    /// Weight 0 and a wait (TCP/SCTP), then the deletion.
    fn remove_dest(
        &mut self,
        address: String,
        service: &ServiceKey,
        dkey: &DestinationKey,
        old: &Destination,
        drain: Duration,
    ) {
        let drain = if drains(service) {
            drain
        } else {
            Duration::ZERO
        };
        let impact = self.impact(service, dkey, Some(drain));
        self.change(
            address,
            Action::Delete,
            Some(dest_json(dkey, old)),
            None,
            Some(impact),
        );
        if !drain.is_zero() {
            self.drain(service, dkey, old, drain);
        }
        self.step(
            Phase::DestRemove,
            Step::Ipvs(Change::DelDest {
                service: *service,
                key: *dkey,
            }),
        );
    }

    fn drain(
        &mut self,
        service: &ServiceKey,
        dkey: &DestinationKey,
        old: &Destination,
        timeout: Duration,
    ) {
        if old.weight > 0 {
            let zero = Destination {
                weight: 0,
                ..old.clone()
            };
            self.step(
                Phase::Drain,
                Step::Ipvs(Change::EditDest {
                    service: *service,
                    key: *dkey,
                    dest: zero,
                }),
            );
        }
        self.step(
            Phase::Drain,
            Step::Drain {
                service: *service,
                dest: *dkey,
                timeout,
            },
        );
    }

    fn check_depool(&mut self, key: &ServiceKey, total: usize, depooled: usize) {
        let meta = &self.config.services[key];
        let allowed = match meta.max_depool {
            Depool::Percent(p) => total * usize::from(p) / 100,
            Depool::Count(n) => n as usize,
        };
        if depooled > allowed && depooled > 0 {
            let mut diag = Diag::error(format!(
                "{} would remove or zero {depooled} of its {total} real servers; max_depool allows {allowed}",
                meta.address
            ))
            .help("apply the change in smaller steps, or raise max_depool for this service");
            if let Some(location) = self.config.locations.get(&meta.address) {
                diag = diag.at(&location.file, location.span.clone());
            }
            self.errors.push(diag);
        }
    }

    fn hosts(&mut self) {
        let dip = self.config.director.dip;
        let mut no_systemd = 0;
        for (name, want) in &self.config.desired.hosts {
            let Some(have) = self.observed.hosts.get(name) else {
                continue;
            };
            let mut changes = host_changes(want, have);
            let (files, unit_ok) = persist::changes(want, have);
            no_systemd += usize::from(!unit_ok);
            changes.extend(files);
            if want.route_via_director {
                self.check_route(name, have, dip);
            }
            let rules = have.iptables_input.as_deref();
            if want.accept_ipip && rules.is_some_and(firewall::drops_ipip) {
                if self
                    .config
                    .hosts
                    .get(name)
                    .is_some_and(|h| h.manage_firewall)
                {
                    changes.push(HostChange::AddFirewallRule);
                } else {
                    self.errors.push(
                        Diag::error(format!("host[\"{name}\"]: its firewall drops IP-in-IP (IP protocol 4), so no TUN packet would reach it"))
                            .help(format!("on {name}: iptables -I INPUT -p 4 -j ACCEPT, or set manage_firewall = true on its real servers")),
                    );
                }
            }
            let mut before = BTreeMap::new();
            let mut after = BTreeMap::new();
            for change in &changes {
                show_host_change(change, &mut before, &mut after);
            }
            for change in changes {
                self.step(
                    Phase::HostPrepare,
                    Step::Host {
                        host: name.clone(),
                        change,
                    },
                );
            }
            let cleanup: Vec<InterfaceAddress> = have
                .addresses
                .iter()
                .filter(|a| {
                    self.retired_vips.contains(&a.address.addr())
                        && a.address.prefix_len() == a.address.max_prefix_len()
                })
                .filter(|a| !want.addresses.contains(a))
                .cloned()
                .collect();
            let mut cleanup: Vec<HostChange> =
                cleanup.into_iter().map(HostChange::DelAddress).collect();
            if !want.accept_ipip && firewall::has_rule(have) {
                cleanup.push(HostChange::DelFirewallRule);
            }
            for change in cleanup {
                show_host_change(&change, &mut before, &mut after);
                self.step(
                    Phase::HostCleanup,
                    Step::Host {
                        host: name.clone(),
                        change,
                    },
                );
            }
            if !after.is_empty() || !before.is_empty() {
                self.change(
                    format!("host[\"{name}\"]"),
                    Action::Update,
                    Some(json!(before)),
                    Some(json!(after)),
                    None,
                );
            }
        }
        if no_systemd > 0 {
            self.plan.warnings.push(format!(
                "{no_systemd} real server(s) have no systemd: the unit that re-adds their VIPs at boot is skipped"
            ));
        }
    }

    fn check_route(&mut self, host: &str, have: &HostFacts, dip: Option<IpAddr>) {
        let dip = dip.or_else(|| {
            let rip: IpAddr = host.parse().ok()?;
            self.observed
                .director
                .addresses
                .iter()
                .find(|a| a.address.contains(&rip))
                .map(|a| a.address.addr())
        });
        let Some(dip) = dip else {
            self.errors.push(
                Diag::error(format!("host[\"{host}\"]: NAT needs the director's address on the real servers' LAN, and none is known"))
                    .help("set director.dip, or director.interface to the interface on that LAN"),
            );
            return;
        };
        if have.default_route != Some(dip) {
            let found = have
                .default_route
                .map_or("no default route".to_string(), |g| {
                    format!("a default route via {g}")
                });
            self.errors.push(
                Diag::error(format!("host[\"{host}\"] has {found}; NAT needs it via the director ({dip}), or replies bypass IPVS"))
                    .help(format!("on {host}: ip route replace default via {dip}")),
            );
        }
    }

    fn director(&mut self) {
        let want = &self.config.desired.director;
        let have = &self.observed.director;
        for (name, value) in &want.sysctls {
            let old = have.sysctls.get(name);
            if old != Some(value) {
                self.director_before.insert(name.clone(), json!(old));
                self.director_after.insert(name.clone(), json!(value));
                self.step(
                    Phase::Director,
                    Step::Director(DirectorChange::SetSysctl {
                        name: name.clone(),
                        value: value.clone(),
                        before: old.cloned(),
                    }),
                );
            }
        }
        for address in want.addresses.difference(&have.addresses) {
            self.director_after.insert(
                format!("address {} on {}", address.address, address.interface),
                json!("present"),
            );
            self.step(
                Phase::Director,
                Step::Director(DirectorChange::AddAddress(address.clone())),
            );
        }
    }

    /// VIPs of deleted services leave the director's interface last.
    fn director_cleanup(&mut self) {
        let want = &self.config.desired.director.addresses;
        let stale: Vec<InterfaceAddress> = self
            .observed
            .director
            .addresses
            .iter()
            .filter(|a| self.retired_vips.contains(&a.address.addr()) && !want.contains(a))
            .cloned()
            .collect();
        for address in stale {
            self.director_before.insert(
                format!("address {} on {}", address.address, address.interface),
                json!("present"),
            );
            self.step(
                Phase::DirectorCleanup,
                Step::Director(DirectorChange::DelAddress(address)),
            );
        }
        if !self.director_before.is_empty() || !self.director_after.is_empty() {
            let before = json!(std::mem::take(&mut self.director_before));
            let after = json!(std::mem::take(&mut self.director_after));
            self.change(
                "director".into(),
                Action::Update,
                Some(before),
                Some(after),
                None,
            );
        }
    }

    /// Plan-time warnings, one line per kind with a count.
    fn warnings(&mut self) {
        // LVS-DR is unstable when the VIP is in the DIP's subnet: the kernel may pick either
        // address as the source of outgoing packets.
        let same_subnet = self
            .config
            .desired
            .services
            .iter()
            .filter(|(_, s)| {
                s.destinations
                    .values()
                    .any(|d| d.forwarding == Forwarding::Dr)
            })
            .filter(|(key, _)| match key {
                ServiceKey::Address { vip, .. } => {
                    self.observed.director.addresses.iter().any(|a| {
                        a.address.prefix_len() < a.address.max_prefix_len()
                            && a.address.contains(vip)
                    })
                }
                ServiceKey::Fwmark { .. } => false,
            })
            .count();
        if same_subnet > 0 {
            self.plan.warnings.push(format!(
                "{same_subnet} DR service(s) have their VIP in the subnet of the director's own address: LVS-DR is known to be unstable there"
            ));
        }
        // lvsform keeps no state: a real server that leaves the configuration altogether
        // is not reached over SSH any more, so what it was given stays on its host.
        let declared: BTreeSet<IpAddr> = self
            .config
            .desired
            .services
            .values()
            .flat_map(|s| s.destinations.keys())
            .map(|d| d.address)
            .collect();
        let leaving: BTreeSet<IpAddr> = self
            .observed
            .table
            .services
            .iter()
            .filter(|(key, _)| !self.ignored(key))
            .flat_map(|(key, have)| {
                let want = self.config.desired.services.get(key);
                have.destinations
                    .iter()
                    .filter(move |(d, _)| want.is_none_or(|w| !w.destinations.contains_key(d)))
            })
            .filter(|(d, dest)| {
                dest.forwarding != Forwarding::Nat && !declared.contains(&d.address)
            })
            .map(|(d, _)| d.address)
            .collect();
        if let Some(first) = leaving.first() {
            self.plan.warnings.push(format!(
                "{} DR/TUN real server(s) leave the configuration ({first}{}): lvsform no longer reaches them, so the VIPs and sysctls it gave them stay until removed by hand",
                leaving.len(),
                if leaving.len() > 1 { ", …" } else { "" }
            ));
        }
    }
}

/// What a host lacks of the settings it must hold.
pub fn host_changes(want: &Host, have: &HostFacts) -> Vec<HostChange> {
    let mut changes = Vec::new();
    for module in want.modules.iter().filter(|m| !have.modules.contains(*m)) {
        changes.push(HostChange::LoadModule(module.clone()));
    }
    for link in want
        .links_up
        .iter()
        .filter(|l| have.links.get(*l) != Some(&true))
    {
        changes.push(HostChange::LinkUp(link.clone()));
    }
    for (name, value) in &want.sysctls {
        let old = have.sysctls.get(name);
        if old != Some(value) {
            changes.push(HostChange::SetSysctl {
                name: name.clone(),
                value: value.clone(),
                before: old.cloned(),
            });
        }
    }
    for address in want.addresses.difference(&have.addresses) {
        changes.push(HostChange::AddAddress(address.clone()));
    }
    changes
}

/// How a host change shows in the plan: an attribute of the `host` resource before and
/// after (files as their text, so that they render as diffs).
fn show_host_change(
    change: &HostChange,
    before: &mut BTreeMap<String, Value>,
    after: &mut BTreeMap<String, Value>,
) {
    let address = |a: &InterfaceAddress| format!("address {} on {}", a.address, a.interface);
    let unit = || format!("unit {}", crate::host::UNIT);
    match change {
        HostChange::SetSysctl {
            name,
            value,
            before: old,
        } => {
            before.insert(name.clone(), json!(old));
            after.insert(name.clone(), json!(value));
        }
        HostChange::AddAddress(a) => {
            after.insert(address(a), json!("present"));
        }
        HostChange::DelAddress(a) => {
            before.insert(address(a), json!("present"));
        }
        HostChange::LoadModule(m) => {
            after.insert(format!("module {m}"), json!("loaded"));
        }
        HostChange::UnloadModule(m) => {
            before.insert(format!("module {m}"), json!("loaded"));
        }
        HostChange::LinkUp(l) => {
            after.insert(format!("link {l}"), json!("up"));
        }
        HostChange::LinkDown(l) => {
            before.insert(format!("link {l}"), json!("up"));
        }
        HostChange::WriteFile {
            path,
            content,
            before: old,
        } => {
            before.insert(path.clone(), json!(old.clone().unwrap_or_default()));
            after.insert(path.clone(), json!(content));
        }
        HostChange::RemoveFile { path, before: old } => {
            before.insert(path.clone(), json!(old));
            after.insert(path.clone(), json!(""));
        }
        HostChange::EnableUnit => {
            after.insert(unit(), json!("enabled"));
        }
        HostChange::DisableUnit => {
            before.insert(unit(), json!("enabled"));
        }
        HostChange::AddFirewallRule => {
            after.insert("firewall".into(), json!(firewall::RULE));
        }
        HostChange::DelFirewallRule => {
            before.insert("firewall".into(), json!(firewall::RULE));
        }
    }
}

/// The removal of everything the configuration manages (`lvsform destroy`): its services
/// (drained first), the VIPs on its real servers and on the director. Live services it does
/// not declare are left alone; sysctls keep their values.
pub fn destroy(config: &Config, observed: &Observed) -> Result<Plan, Vec<Diag>> {
    let mut d = Differ::new(config, observed);
    for (key, meta) in &config.services {
        let Some(have) = observed.table.services.get(key) else {
            continue;
        };
        if meta.prevent_destroy {
            d.refuse_destroy(key, "destroys it");
            continue;
        }
        d.change(
            meta.address.clone(),
            Action::Delete,
            Some(service_json(key, have)),
            None,
            None,
        );
        for (dkey, old) in &have.destinations {
            let address = meta.destinations.get(dkey).map_or_else(
                || format!("{}.real_server[\"{dkey}\"]", meta.address),
                |m| m.address.clone(),
            );
            let impact = d.impact(key, dkey, Some(meta.drain).filter(|_| drains(key)));
            d.change(
                address,
                Action::Delete,
                Some(dest_json(dkey, old)),
                None,
                Some(impact),
            );
            if drains(key) && !meta.drain.is_zero() {
                d.drain(key, dkey, old, meta.drain);
            }
        }
        d.step(
            Phase::ServiceRemove,
            Step::Ipvs(Change::DelService { key: *key }),
        );
    }
    for (name, want) in &config.desired.hosts {
        let Some(have) = observed.hosts.get(name) else {
            continue;
        };
        let present: Vec<InterfaceAddress> = want
            .addresses
            .intersection(&have.addresses)
            .cloned()
            .collect();
        let mut teardown = persist::teardown(have);
        if firewall::has_rule(have) {
            teardown.push(HostChange::DelFirewallRule);
        }
        teardown.extend(present.into_iter().map(HostChange::DelAddress));
        if teardown.is_empty() {
            continue;
        }
        let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
        for change in teardown {
            show_host_change(&change, &mut before, &mut after);
            d.step(
                Phase::HostCleanup,
                Step::Host {
                    host: name.clone(),
                    change,
                },
            );
        }
        d.change(
            format!("host[\"{name}\"]"),
            Action::Update,
            Some(json!(before)),
            Some(json!(after)),
            None,
        );
    }
    for address in config
        .desired
        .director
        .addresses
        .intersection(&observed.director.addresses)
    {
        d.director_before.insert(
            format!("address {} on {}", address.address, address.interface),
            json!("present"),
        );
        d.step(
            Phase::DirectorCleanup,
            Step::Director(DirectorChange::DelAddress(address.clone())),
        );
    }
    if !d.director_before.is_empty() {
        let before = json!(std::mem::take(&mut d.director_before));
        d.change(
            "director".into(),
            Action::Update,
            Some(before),
            Some(json!({})),
            None,
        );
    }
    d.plan.steps.sort_by_key(|(phase, _)| *phase);
    if d.errors.is_empty() {
        Ok(d.plan)
    } else {
        Err(d.errors)
    }
}
