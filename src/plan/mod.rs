//! The plan: a pure function of the configuration and the observed state. It is one list
//! of resource changes, each with the steps that carry it out: the views (text, JSON) are
//! rendered from the changes, apply runs their steps in phase order, and `--target` keeps
//! or drops a change with its steps, so that what is shown and what runs cannot disagree.

mod diff;
pub mod markdown;
mod persist;
pub mod render;

pub use diff::{destroy, diff};

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Make the live state match the configuration.
    Converge,
    /// Remove everything the configuration manages.
    Destroy,
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
    /// Only what `--target` addresses ask for, with what they need: the service of a
    /// targeted real server, and the hosts its real servers run on.
    pub fn targeted(self, config: &crate::config::Config, targets: &[String]) -> Plan {
        if targets.is_empty() {
            return self;
        }
        let targets: Vec<Address> = targets.iter().map(|t| Address::from(t.as_str())).collect();
        let selected = |address: &Address| {
            targets
                .iter()
                .any(|t| address.is_within(t) || t.is_within(address))
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
