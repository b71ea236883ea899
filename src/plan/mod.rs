//! The plan: a pure function of the configuration and the observed state. It is one list
//! of resource changes, each with the steps that carry it out: the views (text, JSON) are
//! rendered from the changes, apply runs their steps in phase order, and `--target` keeps
//! or drops a change with its steps, so that what is shown and what runs cannot disagree.

mod diff;
pub mod markdown;
mod persist;
pub mod render;

pub use diff::{destroy, diff, diff_retiring, hosts_part};

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Make the live state match the configuration.
    Converge,
    /// Remove everything the configuration manages.
    Destroy,
}

/// The plan over named directors (`config.directors`, `observed` in their order, each with
/// every host's facts): each director's part in declared order, its addresses under
/// `director["NAME"]`, then the real servers' part, which serves them all.
///
/// `only` (`--director`) limits it to those directors, for a rollout by hand: the real
/// servers are prepared for them, and neither cleaned up nor destroyed (the other
/// directors may still send them traffic) — a plan over every director does that.
pub fn make_named(
    config: &crate::config::Config,
    observed: &[Observed],
    goal: Goal,
    only: &[String],
) -> Result<Plan, Vec<crate::diag::Diag>> {
    let mut plan = Plan::default();
    let mut errors = Vec::new();
    for name in only {
        if !config.directors.iter().any(|d| &d.name == name) {
            let names: Vec<&str> = config.directors.iter().map(|d| d.name.as_str()).collect();
            errors.push(
                crate::diag::Diag::error(format!("--director {name}: no director has that name"))
                    .help(if names.is_empty() {
                        "--director chooses among named directors (director \"lb1\" { … }), and the configuration has none".to_string()
                    } else {
                        format!("the directors are: {}", names.join(", "))
                    }),
            );
        }
    }
    let mut retired = std::collections::BTreeSet::new();
    for (index, (director, observed)) in config.directors.iter().zip(observed).enumerate() {
        if !only.is_empty() && !only.contains(&director.name) {
            continue;
        }
        let view = config.director_view(index);
        let part = match goal {
            Goal::Converge => diff_retiring(&view, observed),
            Goal::Destroy => destroy(&view, observed).map(|plan| (plan, Default::default())),
        };
        match part {
            Ok((part, vips)) => {
                retired.extend(vips);
                plan.absorb(part, Some(&director.name));
            }
            Err(diags) => errors.extend(diags),
        }
    }
    let partial = !only.is_empty();
    if partial {
        retired.clear();
    }
    if let Some(first) = observed
        .first()
        .filter(|_| !(partial && goal == Goal::Destroy))
    {
        match hosts_part(config, first, retired, goal) {
            Ok(part) => plan.absorb(part, None),
            Err(diags) => errors.extend(diags),
        }
    }
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

/// The plan for `goal`.
pub fn make(
    config: &crate::config::Config,
    observed: &Observed,
    goal: Goal,
) -> Result<Plan, Vec<crate::diag::Diag>> {
    match goal {
        Goal::Converge => diff(config, observed),
        Goal::Destroy => destroy(config, observed),
    }
}

use crate::address::Address;
use crate::director::{DirectorChange, DirectorFacts};
use crate::host::{HostChange, HostFacts};
use crate::ipvs::{self, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything lvsform read before planning.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub table: Table,
    pub director: DirectorFacts,
    /// Facts of every managed host, by SSH address.
    pub hosts: BTreeMap<String, HostFacts>,
}

/// What lvsform read before planning: of the one director, or of each named director in
/// declared order (each with every host's facts).
#[derive(Debug, Clone)]
pub enum Live {
    One(Box<Observed>),
    Named(Vec<Observed>),
}

impl Live {
    /// The plan for `goal` against this live state; `only`: `--director`.
    pub fn plan(
        &self,
        config: &crate::config::Config,
        goal: Goal,
        only: &[String],
    ) -> Result<Plan, Vec<crate::diag::Diag>> {
        match self {
            Live::One(_) if !only.is_empty() => {
                Err(
                    vec![crate::diag::Diag::error(
                "--director chooses among named directors, and the configuration has none",
            )
            .help("name the director blocks (director \"lb1\" { … }), or leave --director out")],
                )
            }
            Live::One(observed) => make(config, observed, goal),
            Live::Named(observed) => make_named(config, observed, goal, only),
        }
    }
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

    /// `(add, change, destroy)` as in Terraform's summary; a replace counts as both.
    pub fn summary(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for change in &self.changes {
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
        Plan {
            changes: self
                .changes
                .into_iter()
                .filter(|c| keep(&c.address))
                .collect(),
            warnings: self.warnings,
            replaced: self.replaced,
        }
    }
}
