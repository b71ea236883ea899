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
    let mut d = Differ::new(config, observed);
    d.director();
    d.services();
    d.hosts();
    d.director_cleanup();
    d.warnings();
    d.finish()
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
    /// The plan in phase order, or every error found.
    pub(super) fn finish(mut self) -> Result<Plan, Vec<Diag>> {
        self.plan.steps.sort_by_key(|(phase, _)| *phase);
        if self.errors.is_empty() {
            Ok(self.plan)
        } else {
            Err(self.errors)
        }
    }

    /// Host cleanup steps, each also shown in the host's before/after.
    pub(super) fn clean_up_host(
        &mut self,
        name: &str,
        changes: Vec<HostChange>,
        before: &mut BTreeMap<String, Value>,
        after: &mut BTreeMap<String, Value>,
    ) {
        for change in changes {
            show_host_change(&change, before, after);
            self.step(
                Phase::HostCleanup,
                Step::Host {
                    host: name.to_string(),
                    change,
                },
            );
        }
    }

    pub(super) fn step(&mut self, phase: Phase, step: Step) {
        self.plan.steps.push((phase, step));
    }

    /// An IPVS change with what undoes it.
    pub(super) fn ipvs(&mut self, phase: Phase, change: Change, undo: Vec<Change>) {
        self.step(phase, Step::Ipvs { change, undo });
    }

    pub(super) fn change(
        &mut self,
        address: Address,
        action: Action,
        before: Option<Value>,
        after: Option<Value>,
        impact: Option<String>,
    ) {
        let forces_replacement = match (action, &before, &after) {
            (Action::Replace, Some(b), Some(a)) => ServiceKey::IDENTITY
                .iter()
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
        });
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
            .map(|(d, dest)| Change::AddDest {
                service: *key,
                key: *d,
                dest: dest.clone(),
            }),
    );
    undo
}
