//! diff(desired, observed) -> Plan.

mod destroy;
mod director;
mod hosts;
mod replace;
mod services;
mod warnings;

pub use destroy::destroy;
use hosts::show_host_change;

use super::{Action, Observed, Phase, Plan, ResourceChange, Step, persist};
use crate::address::Address;
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
    diff_retiring(config, observed).map(|(plan, _)| plan)
}

/// `diff`, and the VIPs of the live services it deletes: a named director's view has no
/// hosts, and the hosts' part of the plan cleans those VIPs up (`hosts_part`).
pub fn diff_retiring(
    config: &Config,
    observed: &Observed,
) -> Result<(Plan, BTreeSet<IpAddr>), Vec<Diag>> {
    let mut d = Differ::new(config, observed);
    d.director();
    d.services();
    d.hosts();
    d.director_cleanup();
    d.warnings();
    let retired = std::mem::take(&mut d.retired_vips);
    d.finish().map(|plan| (plan, retired))
}

/// The real servers' part of a plan over named directors: `config` whole, `observed` one
/// director's with every host's facts, `retired` the VIPs the directors' parts delete.
pub fn hosts_part(
    config: &Config,
    observed: &Observed,
    retired: BTreeSet<IpAddr>,
    goal: super::Goal,
) -> Result<Plan, Vec<Diag>> {
    let mut d = Differ::new(config, observed);
    match goal {
        super::Goal::Converge => {
            d.retired_vips = retired;
            d.hosts();
        }
        super::Goal::Destroy => d.destroy_hosts(),
    }
    d.finish()
}

struct Differ<'a> {
    config: &'a Config,
    observed: &'a Observed,
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
    fn new(config: &'a Config, observed: &'a Observed) -> Self {
        Differ {
            config,
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
        let d = &self.config.director;
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
