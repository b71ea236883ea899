//! The plan: a pure function of the configuration and the observed state. It is one list
//! of resource changes, each with the steps that carry it out: the views (text, JSON) are
//! rendered from the changes, apply runs their steps in phase order, and `--target` keeps
//! or drops a change with its steps, so that what is shown and what runs cannot disagree.

mod diff;
pub mod markdown;
mod persist;
pub mod render;
pub mod vrrp;

pub use diff::{director_part, hosts_part, keepalived_services};

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Make the live state match the configuration.
    Converge,
    /// Remove everything the configuration manages.
    Destroy,
}

/// The plan for `goal`: each director's part in declared order (a named director's
/// addresses under `director["NAME"]`), then the real servers' part, which serves them
/// all.
///
/// `only` (`--director`) limits it to those named directors, for a rollout by hand: the
/// real servers are prepared for them, and neither cleaned up nor destroyed (the other
/// directors may still send them traffic) — a plan over every director does that.
pub fn make(
    config: &crate::config::Config,
    observed: &Observed,
    goal: Goal,
    only: &[String],
) -> Result<Plan, Vec<crate::diag::Diag>> {
    let mut errors = unknown_directors(config, only);
    if !errors.is_empty() {
        return Err(errors); // and none of them was reached
    }
    let mut plan = Plan::default();
    let mut retired = std::collections::BTreeSet::new();
    for (index, director) in config.directors.iter().enumerate() {
        if !only.is_empty() && !director.name().is_some_and(|n| only.iter().any(|o| o == n)) {
            continue;
        }
        match director_part(config, index, observed, goal) {
            Ok((part, vips)) => {
                retired.extend(vips);
                plan.absorb(part, director.name());
            }
            Err(diags) => errors.extend(diags),
        }
    }
    let partial = !only.is_empty();
    if partial {
        retired.clear();
    }
    if !(partial && goal == Goal::Destroy) {
        match hosts_part(config, observed, retired, goal) {
            Ok(part) => plan.absorb(part, None),
            Err(diags) => errors.extend(diags),
        }
    }
    if errors.is_empty() {
        plan.vrrp = vrrp::lines(config, observed);
        Ok(plan)
    } else {
        Err(errors)
    }
}

/// `--director` names that no director has.
fn unknown_directors(config: &crate::config::Config, only: &[String]) -> Vec<crate::diag::Diag> {
    use crate::diag::Diag;
    if !only.is_empty() && !config.named() {
        return vec![
            Diag::error("--director chooses among named directors, and the configuration has none")
                .help("name the director blocks (director \"lb1\" { … }), or leave --director out"),
        ];
    }
    let names: Vec<&str> = config.directors.iter().filter_map(|d| d.name()).collect();
    only.iter()
        .filter(|name| !names.contains(&name.as_str()))
        .map(|name| {
            Diag::error(format!("--director {name}: no director has that name"))
                .help(format!("the directors are: {}", names.join(", ")))
        })
        .collect()
}

use crate::address::Address;
use crate::director::{DirectorChange, DirectorFacts};
use crate::host::{HostChange, HostFacts};
use crate::ipvs::{self, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything lvsform read before planning: each director's table and settings, and every
/// managed host's facts, read once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Observed {
    /// One per director, in declared order; none for a director the run leaves out
    /// (`--director` names others), which is never reached, read or planned.
    pub directors: Vec<Option<ObservedDirector>>,
    /// Facts of every managed host, by SSH address.
    pub hosts: BTreeMap<String, HostFacts>,
}

/// What one director holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObservedDirector {
    pub table: Table,
    pub settings: DirectorFacts,
}

/// The order in which steps run: every DR/TUN host is ready before it gets traffic, and
/// nothing is removed before what replaces it is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Director,
    HostPrepare,
    ServiceUpsert,
    DestUpsert,
    /// Real servers that go are set to weight 0, all of them before any drain waits, so
    /// that the drains run at once.
    Depool,
    Drain,
    DestRemove,
    /// Services get back the settings a drain changed for its duration.
    Restore,
    ServiceRemove,
    HostCleanup,
    DirectorCleanup,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// An IPVS change and the changes that undo it, made from the values it replaces.
    Ipvs {
        change: ipvs::Change,
        undo: Vec<ipvs::Change>,
    },
    Host {
        host: String,
        change: HostChange,
    },
    Director(DirectorChange),
    /// Wait until the destination has no active connections, or `timeout`.
    Drain {
        service: crate::model::ServiceKey,
        dest: crate::model::DestinationKey,
        timeout: Duration,
    },
}

impl Step {
    /// The IPVS services this step changes (a keepalived file: those it holds, before
    /// and after), to read back.
    pub fn services(&self) -> Vec<crate::model::ServiceKey> {
        match self {
            Step::Ipvs { change, .. } => change.service().into_iter().collect(),
            Step::Drain { service, .. } => vec![*service],
            Step::Director(DirectorChange::Keepalived(write)) => write
                .services
                .keys()
                .chain(write.services_before.keys())
                .copied()
                .collect(),
            _ => vec![],
        }
    }
}

/// A change of one resource address, as reviewed, and the steps that carry it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: Address,
    pub action: Action,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// What it affects right now: live connection counts of destinations deleted or zeroed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    /// For a replace: the changed attributes that force it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forces_replacement: Vec<String>,
    /// What apply runs for it, each step in its phase.
    pub steps: Vec<(Phase, Step)>,
    /// The named director it belongs to (its IPVS and settings steps run there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub director: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Replace,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plan {
    /// In the order of review: declarations first, in their order.
    pub changes: Vec<ResourceChange>,
    /// Aggregated warnings: one line per kind.
    pub warnings: Vec<String>,
    /// For each replaced live service's address, the address of the declaration that
    /// replaces it (so that `--target` of the one takes the other along).
    #[serde(default)]
    pub replaced: BTreeMap<Address, Address>,
    /// Real servers keepalived's checks hold down, each with what keepalived reports: not
    /// drift, and nothing to apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_down: Vec<String>,
    /// Who holds the VIPs of the directors in VRRP, and whether the apply moves them
    /// (SPEC §10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vrrp: Vec<String>,
    /// The probes apply will run (SPEC §9), each director's in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<crate::probe::PlannedProbe>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| c.steps.is_empty())
    }

    /// Every step in the order apply runs them: by phase, and within a phase in the
    /// order of the changes.
    pub fn steps(&self) -> Vec<&(Phase, Step)> {
        let mut steps: Vec<&(Phase, Step)> = self.changes.iter().flat_map(|c| &c.steps).collect();
        steps.sort_by_key(|(phase, _)| *phase);
        steps
    }

    /// `(add, change, destroy)` as in Terraform's summary; a replace counts as both. A
    /// director's keepalived file counts only when nothing else of that director
    /// changes: it is how its services' changes are made, shown beside them.
    pub fn summary(&self) -> (usize, usize, usize) {
        let file = |c: &ResourceChange| c.address.outside_director() == Address::keepalived();
        let others: std::collections::BTreeSet<&Option<String>> = self
            .changes
            .iter()
            .filter(|c| !file(c))
            .map(|c| &c.director)
            .collect();
        let mut counts = (0, 0, 0);
        for change in &self.changes {
            if file(change) && others.contains(&change.director) {
                continue;
            }
            match change.action {
                Action::Create => counts.0 += 1,
                Action::Update => counts.1 += 1,
                Action::Delete => counts.2 += 1,
                Action::Replace => {
                    counts.0 += 1;
                    counts.2 += 1;
                }
            }
        }
        counts
    }
}

impl Plan {
    /// Adds a part of a plan over named directors; a director's part goes under
    /// `director["NAME"]`. A warning said by several parts is said once.
    pub fn absorb(&mut self, part: Plan, director: Option<&str>) {
        let under = |address: Address| match director {
            Some(name) => address.in_director(name),
            None => address,
        };
        for mut change in part.changes {
            change.address = under(change.address);
            change.director = director.map(str::to_string);
            self.changes.push(change);
        }
        for warning in part.warnings {
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
        for (old, new) in part.replaced {
            self.replaced.insert(under(old), under(new));
        }
        self.held_down
            .extend(part.held_down.into_iter().map(|line| match director {
                Some(name) => format!("{}.{line}", Address::director().in_director(name)),
                None => line,
            }));
        self.probes.extend(part.probes.into_iter().map(|mut probe| {
            probe.address = under(probe.address);
            probe.director = director.map(str::to_string);
            probe
        }));
    }

    /// Only what `--target` addresses ask for, with what they need: the service of a
    /// targeted real server, and the hosts its real servers run on.
    pub fn targeted(self, config: &crate::config::Config, targets: &[String]) -> Plan {
        if targets.is_empty() {
            return self;
        }
        let targets: Vec<Address> = targets.iter().map(|t| Address::from(t.as_str())).collect();
        // Under named directors, `virtual_server.web` is that service on every director.
        let selected = |address: &Address| {
            let bare = address.outside_director();
            targets.iter().any(|t| {
                address.is_within(t)
                    || t.is_within(address)
                    || bare.is_within(t)
                    || t.is_within(&bare)
            })
        };
        let hosts: std::collections::BTreeSet<Address> = config
            .services
            .values()
            .flat_map(|s| s.destinations.values())
            .filter(|d| selected(&d.address))
            .filter_map(|d| d.host.as_deref().map(Address::host))
            .collect();
        let keep = |address: &Address| {
            selected(address)
                || hosts.contains(address)
                || self.replaced.get(address).is_some_and(&selected)
        };
        // A service keepalived keeps changes through its director's keepalived file (its
        // own change has no steps): targeting it takes that file along, whole.
        let through_keepalived: std::collections::BTreeSet<&Option<String>> = self
            .changes
            .iter()
            .filter(|c| c.steps.is_empty() && keep(&c.address))
            .map(|c| &c.director)
            .collect();
        let keepalived = |c: &ResourceChange| {
            c.address.outside_director() == Address::keepalived()
                && through_keepalived.contains(&c.director)
        };
        let changes = self
            .changes
            .iter()
            .filter(|c| keep(&c.address) || keepalived(c))
            .cloned()
            .collect();
        let probes = self
            .probes
            .iter()
            .filter(|p| keep(&p.address))
            .cloned()
            .collect();
        Plan {
            changes,
            warnings: self.warnings,
            replaced: self.replaced,
            held_down: self.held_down,
            vrrp: self.vrrp,
            probes,
        }
    }
}
