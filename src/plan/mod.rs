//! The plan: a pure function of the configuration and the observed state. It lists the
//! user-facing changes (rendered for review, as text or JSON) and the steps that carry them
//! out, in the fixed phase order of SPEC §5, each step able to say how to undo itself.

mod diff;
pub mod render;

pub use diff::{destroy, diff};

use crate::director::{DirectorChange, DirectorFacts};
use crate::host::{HostChange, HostFacts};
use crate::ipvs::{self, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything lvsform read before planning.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    pub table: Table,
    pub director: DirectorFacts,
    /// Facts of every managed host, by SSH address.
    pub hosts: BTreeMap<String, HostFacts>,
}

/// The order in which steps run (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Director,
    HostPrepare,
    ServiceUpsert,
    DestUpsert,
    Drain,
    DestRemove,
    ServiceRemove,
    HostCleanup,
    DirectorCleanup,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    Ipvs(ipvs::Change),
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

/// A user-facing change of one resource address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub action: Action,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// What it affects right now: live connection counts of destinations deleted or zeroed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
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
    pub changes: Vec<ResourceChange>,
    pub steps: Vec<(Phase, Step)>,
    /// Aggregated warnings: one line per kind.
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
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
