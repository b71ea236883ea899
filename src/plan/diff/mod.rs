//! diff(desired, observed) -> Plan.

mod destroy;
mod director;
mod hosts;
mod keepalived;
mod replace;
mod services;
mod warnings;

use hosts::show_host_change;
pub use keepalived::keepalived_services;

use super::{Action, Goal, Observed, Phase, Plan, ResourceChange, Step, persist};
use crate::address::Address;
use crate::config::{Config, Depool, DirectorConfig};
use crate::diag::Diag;
use crate::director::{DirectorChange, DirectorFacts};
use crate::host::{HostChange, HostFacts, firewall};
use crate::ipvs::{Change, Table};
use crate::model::{
    Destination, DestinationKey, Forwarding, Host, InterfaceAddress, Protocol, Service, ServiceKey,
};
use crate::parallel::for_each_parallel;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

/// Director `index`'s part of the plan for `goal` (its services and settings), and the
/// VIPs of the live services it deletes: the real servers' part cleans those up
/// (`hosts_part`).
pub fn director_part(
    config: &Config,
    index: usize,
    observed: &Observed,
    goal: Goal,
) -> Result<(Plan, BTreeSet<IpAddr>), Vec<Diag>> {
    let served = config.served_by(index);
    let Some(seen) = observed.directors.get(index).and_then(Option::as_ref) else {
        return Err(vec![not_read(config, index)]);
    };
    // keepalived's services are planned apart: the rest of the differ never sees them
    // live. A service whose check is dropped leaves keepalived's file first, then is
    // created over netlink (keepalived's write runs first among the services' steps).
    let owned = keepalived::keepalived_services(config, index, &seen.settings);
    let (desired, checked, table, live) = if owned.is_empty() {
        (
            served,
            BTreeMap::new(),
            std::borrow::Cow::Borrowed(&seen.table),
            BTreeMap::new(),
        )
    } else {
        let (checked, desired) = served
            .iter()
            .map(|(k, s)| (*k, s.clone()))
            .partition(|(k, _)| config.services[k].health_check.is_some());
        let mut table = seen.table.clone();
        let live = owned
            .iter()
            .filter_map(|key| Some((*key, table.services.remove(key)?)))
            .collect();
        table.order.retain(|key, _| !owned.contains(key));
        (
            std::borrow::Cow::Owned(desired),
            checked,
            std::borrow::Cow::Owned(table),
            live,
        )
    };
    let view = ObservedView {
        table: &table,
        director: &seen.settings,
        hosts: &observed.hosts,
    };
    let mut d = Differ::with(config, &config.directors[index], &desired, view);
    match goal {
        Goal::Converge => {
            d.director();
            d.keepalived(
                &checked,
                keepalived::vrrp_instance(config, &config.directors[index]),
                &live,
            );
            d.services();
            d.director_cleanup();
            d.warnings();
        }
        Goal::Destroy => {
            d.keepalived(&BTreeMap::new(), None, &live);
            d.destroy_services();
            d.destroy_director();
        }
    }
    let retired = std::mem::take(&mut d.retired_vips);
    d.finish().map(|mut plan| {
        plan.probes = crate::probe::planned(config, &plan);
        (plan, retired)
    })
}

/// The real servers' part of a plan, which serves every director: `retired` are the VIPs
/// the directors' parts delete.
pub fn hosts_part(
    config: &Config,
    observed: &Observed,
    retired: BTreeSet<IpAddr>,
    goal: Goal,
) -> Result<Plan, Vec<Diag>> {
    // The real servers' part reads no director's state: any director read will do.
    let Some((index, seen)) = (observed.directors.iter().enumerate())
        .find_map(|(index, seen)| Some((index, seen.as_ref()?)))
    else {
        return Err(vec![not_read(config, 0)]);
    };
    let mut d = Differ::new(config, index, &config.desired.services, seen, observed);
    match goal {
        Goal::Converge => {
            d.retired_vips = retired;
            d.hosts();
        }
        Goal::Destroy => d.destroy_hosts(),
    }
    d.finish()
}

/// A director planned that was left out of the run: a bug, said as such.
fn not_read(config: &Config, index: usize) -> Diag {
    let name = config.directors[index].name().unwrap_or("(this machine)");
    Diag::error(format!(
        "director {name} was not read, and cannot be planned (a bug in lvsform)"
    ))
    .help("plan without --director, and report this")
}

/// What one director has, and every managed host.
#[derive(Clone, Copy)]
struct ObservedView<'a> {
    table: &'a Table,
    director: &'a DirectorFacts,
    hosts: &'a BTreeMap<String, HostFacts>,
}

struct Differ<'a> {
    config: &'a Config,
    /// The director this part of the plan is for (the real servers' part: the first).
    director: &'a DirectorConfig,
    /// The declared services it serves.
    desired: &'a BTreeMap<ServiceKey, Service>,
    observed: ObservedView<'a>,
    plan: Plan,
    errors: Vec<Diag>,
    /// VIPs of live services this plan deletes.
    retired_vips: BTreeSet<IpAddr>,
    /// The `director` resource's changed attributes and its steps, gathered by several
    /// parts of the plan and recorded as one change at the end.
    director_before: BTreeMap<String, Value>,
    director_after: BTreeMap<String, Value>,
    director_steps: Vec<(Phase, Step)>,
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

/// A real server's place in the kernel's list of its service, shown when it moves.
const POSITION: &str = "position";

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
    fn new(
        config: &'a Config,
        index: usize,
        desired: &'a BTreeMap<ServiceKey, Service>,
        seen: &'a crate::plan::ObservedDirector,
        observed: &'a Observed,
    ) -> Self {
        let view = ObservedView {
            table: &seen.table,
            director: &seen.settings,
            hosts: &observed.hosts,
        };
        Differ::with(config, &config.directors[index], desired, view)
    }

    /// A part of the plan for the same director, planned apart (on another core).
    fn fork(&self) -> Differ<'a> {
        Differ::with(self.config, self.director, self.desired, self.observed)
    }

    fn with(
        config: &'a Config,
        director: &'a DirectorConfig,
        desired: &'a BTreeMap<ServiceKey, Service>,
        observed: ObservedView<'a>,
    ) -> Self {
        Differ {
            config,
            director,
            desired,
            observed,
            plan: Plan::default(),
            errors: Vec::new(),
            retired_vips: BTreeSet::new(),
            director_before: BTreeMap::new(),
            director_after: BTreeMap::new(),
            director_steps: Vec::new(),
        }
    }
}

impl Differ<'_> {
    /// The plan, or every error found.
    pub(super) fn finish(self) -> Result<Plan, Vec<Diag>> {
        if self.errors.is_empty() {
            Ok(self.plan)
        } else {
            Err(self.errors)
        }
    }

    /// A host's change: its steps in `phase`, each also shown in the host's before/after.
    pub(super) fn host_change(&mut self, name: &str, steps: Vec<(Phase, HostChange)>) {
        if steps.is_empty() {
            return;
        }
        let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
        for (_, change) in &steps {
            show_host_change(change, &mut before, &mut after);
        }
        let at = self.change(
            Address::host(name),
            Action::Update,
            Some(json!(before)),
            Some(json!(after)),
            None,
        );
        for (phase, change) in steps {
            let host = name.to_string();
            self.step(at, phase, Step::Host { host, change });
        }
    }

    /// A step of the change at index `at`.
    pub(super) fn step(&mut self, at: usize, phase: Phase, step: Step) {
        self.plan.changes[at].steps.push((phase, step));
    }

    /// An IPVS change with what undoes it, a step of the change at index `at`.
    pub(super) fn ipvs(&mut self, at: usize, phase: Phase, change: Change, undo: Vec<Change>) {
        self.step(at, phase, Step::Ipvs { change, undo });
    }

    /// A step of the `director` resource.
    pub(super) fn director_step(&mut self, phase: Phase, step: Step) {
        self.director_steps.push((phase, step));
    }

    /// The `director` resource's change, from what the parts of the plan gathered.
    pub(super) fn director_change(&mut self) {
        if self.director_steps.is_empty() {
            return;
        }
        let before = json!(std::mem::take(&mut self.director_before));
        let after = json!(std::mem::take(&mut self.director_after));
        let at = self.change(
            Address::director(),
            Action::Update,
            Some(before),
            Some(after),
            None,
        );
        self.plan.changes[at].steps = std::mem::take(&mut self.director_steps);
    }

    /// Records a change; returns its index, for its steps.
    pub(super) fn change(
        &mut self,
        address: Address,
        action: Action,
        before: Option<Value>,
        after: Option<Value>,
        impact: Option<String>,
    ) -> usize {
        let forces_replacement = match (action, &before, &after) {
            (Action::Replace, Some(b), Some(a)) => ServiceKey::IDENTITY
                .iter()
                .chain(&[POSITION])
                .filter(|key| b.get(**key) != a.get(**key))
                .map(|key| key.to_string())
                .collect(),
            _ => vec![],
        };
        self.plan.changes.push(ResourceChange {
            address,
            action,
            before,
            after,
            impact,
            forces_replacement,
            steps: Vec::new(),
            director: None,
        });
        self.plan.changes.len() - 1
    }

    pub(super) fn ignored(&self, key: &ServiceKey) -> bool {
        let d = &self.director.meta;
        match key {
            ServiceKey::Address { vip, .. } => d.ignore_vips.iter().any(|net| net.contains(vip)),
            ServiceKey::Fwmark { mark, .. } => d.ignore_fwmarks.contains(mark),
        }
    }
}

/// What brings back a deleted service: the service, then each of its real servers.
fn recreate(key: &ServiceKey, service: &Service) -> Vec<Change> {
    let mut undo = vec![Change::AddService {
        key: *key,
        settings: service.settings.clone(),
    }];
    undo.extend(
        service
            .destinations
            .iter()
            .map(|(d, dest)| add_dest(key, d, dest)),
    );
    undo
}

fn add_dest(service: &ServiceKey, key: &DestinationKey, dest: &Destination) -> Change {
    Change::AddDest {
        service: *service,
        key: *key,
        dest: dest.clone(),
    }
}

fn del_dest(service: &ServiceKey, key: &DestinationKey) -> Change {
    Change::DelDest {
        service: *service,
        key: *key,
    }
}
