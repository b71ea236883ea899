//! The director's IPVS table: observed and changed through a narrow interface with two
//! implementations, the kernel over generic netlink (`NetlinkIpvs`) and an in-memory
//! table that fails the way the kernel does (`FakeIpvs`).

pub mod codec;
mod consts;
mod convert;
#[cfg(any(test, feature = "fakes"))]
mod fake;
#[cfg(test)]
mod fixtures;
mod netlink;

pub use codec::Stats;
#[cfg(any(test, feature = "fakes"))]
pub use fake::FakeIpvs;
pub use netlink::NetlinkIpvs;

use crate::model::{
    Destination, DestinationKey, Service, ServiceKey, ServiceSettings, SyncDaemon, Timeouts,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What the kernel holds, with the counters the plan shows beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    #[serde(with = "crate::model::entries")]
    pub services: BTreeMap<ServiceKey, Service>,
    pub timeouts: Timeouts,
    pub sync_daemons: BTreeSet<SyncDaemon>,
    #[serde(with = "crate::model::entries")]
    pub service_stats: BTreeMap<ServiceKey, Stats>,
    #[serde(with = "crate::model::entries")]
    pub counters: BTreeMap<(ServiceKey, DestinationKey), DestinationCounters>,
    pub info: Info,
    /// Live services whose scheduler this lvsform does not know, with its name: shown, and
    /// never changed (lvsform could not put them back).
    #[serde(default, with = "crate::model::entries")]
    pub unknown_schedulers: BTreeMap<ServiceKey, String>,
    /// The real servers of each service in the kernel's list order, head first, as a dump
    /// returns them (`ipvsadm -Ln` sorts it away): sh and mh fill their tables in it.
    #[serde(default, with = "crate::model::entries")]
    pub order: BTreeMap<ServiceKey, Vec<DestinationKey>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationCounters {
    pub active: u32,
    pub inactive: u32,
    pub persistent: u32,
    pub stats: Stats,
}

/// `ipvsadm --version` facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The version code, e.g. 0x010201 for 1.2.1.
    pub version: u32,
    pub conn_tab_size: u32,
}

impl Info {
    pub fn version_text(&self) -> String {
        let v = self.version;
        format!("{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
    }
}

/// A service as listed by GET_SERVICE.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEntry {
    pub key: ServiceKey,
    pub settings: ServiceSettings,
    pub stats: Stats,
    /// A scheduler this lvsform does not know (a newer kernel's): `settings` then holds a
    /// stand-in, and the service is kept apart from the ones lvsform manages.
    pub unknown_scheduler: Option<String>,
}

/// One change to the table, in ipvsadm's verbs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    AddService {
        key: ServiceKey,
        settings: ServiceSettings,
    },
    EditService {
        key: ServiceKey,
        settings: ServiceSettings,
    },
    DelService {
        key: ServiceKey,
    },
    AddDest {
        service: ServiceKey,
        key: DestinationKey,
        dest: Destination,
    },
    EditDest {
        service: ServiceKey,
        key: DestinationKey,
        dest: Destination,
    },
    DelDest {
        service: ServiceKey,
        key: DestinationKey,
    },
    SetTimeouts(Timeouts),
    StartDaemon(SyncDaemon),
    StopDaemon(SyncDaemon),
}

impl Change {
    /// The service a change is about (none for timeouts and sync daemons).
    pub fn service(&self) -> Option<ServiceKey> {
        match self {
            Change::AddService { key, .. }
            | Change::EditService { key, .. }
            | Change::DelService { key } => Some(*key),
            Change::AddDest { service, .. }
            | Change::EditDest { service, .. }
            | Change::DelDest { service, .. } => Some(*service),
            Change::SetTimeouts(_) | Change::StartDaemon(_) | Change::StopDaemon(_) => None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AddService { key, .. } => write!(f, "add service {key}"),
            Change::EditService { key, .. } => write!(f, "edit service {key}"),
            Change::DelService { key } => write!(f, "delete service {key}"),
            Change::AddDest { service, key, .. } => write!(f, "add real server {key} to {service}"),
            Change::EditDest { service, key, .. } => {
                write!(f, "edit real server {key} of {service}")
            }
            Change::DelDest { service, key } => {
                write!(f, "delete real server {key} from {service}")
            }
            Change::SetTimeouts(t) => write!(
                f,
                "set timeouts tcp {} tcpfin {} udp {}",
                t.tcp, t.tcp_fin, t.udp
            ),
            Change::StartDaemon(d) => {
                write!(f, "start the {} sync daemon on {}", d.state, d.interface)
            }
            Change::StopDaemon(d) => write!(f, "stop the {} sync daemon", d.state),
        }
    }
}

#[derive(Debug)]
pub enum IpvsError {
    /// The kernel has no IPVS (the generic netlink family does not exist).
    NoIpvs,
    /// Not allowed: every IPVS command, GET included, needs CAP_NET_ADMIN.
    Permission,
    /// The kernel refused one change.
    Rejected {
        change: String,
        errno: i32,
    },
    /// The kernel refused a read.
    Read {
        what: &'static str,
        errno: i32,
    },
    Decode(codec::DecodeError),
    Io(std::io::Error),
    /// A remote director's error, or the loss of its connection.
    Remote(Box<crate::agent::AgentError>),
}

impl IpvsError {
    /// The errno behind it, when the kernel (here or on a remote director) gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Rejected { errno, .. } | IpvsError::Read { errno, .. } => Some(*errno),
            IpvsError::Io(e) => e.raw_os_error(),
            IpvsError::Remote(e) => e.errno(),
            _ => None,
        }
    }
}

impl fmt::Display for IpvsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpvsError::NoIpvs => write!(f, "the kernel has no IPVS"),
            IpvsError::Permission => write!(f, "not permitted to use IPVS"),
            IpvsError::Rejected { change, errno } => {
                write!(f, "the kernel refused to {change}: {}", errno_text(*errno))
            }
            IpvsError::Read { what, errno } => {
                write!(f, "cannot read {what}: {}", errno_text(*errno))
            }
            IpvsError::Decode(e) => write!(f, "{e}"),
            IpvsError::Io(e) => write!(f, "netlink: {e}"),
            IpvsError::Remote(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for IpvsError {}

impl miette::Diagnostic for IpvsError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            IpvsError::NoIpvs => Some(Box::new("load it with `modprobe ip_vs`")),
            IpvsError::Permission => Some(Box::new(
                "run lvsform as root (it needs CAP_NET_ADMIN, even to read the table)",
            )),
            IpvsError::Remote(e) => e.help(),
            _ => None,
        }
    }
}

/// What an IPVS errno means, in the words of the operation that failed.
fn errno_text(errno: i32) -> String {
    let meaning = match errno {
        libc::EEXIST => "it already exists",
        libc::ESRCH => "no such service",
        libc::ENOENT => "no such real server (or scheduler module missing)",
        libc::EINVAL => "invalid values",
        libc::EBUSY => "busy",
        libc::EPERM | libc::EACCES => "not permitted (needs CAP_NET_ADMIN)",
        libc::ENOMEM => "out of memory",
        libc::EAFNOSUPPORT => "address family not supported (IPv6 IPVS missing?)",
        libc::EOPNOTSUPP => "not supported by this kernel",
        _ => "",
    };
    let os = std::io::Error::from_raw_os_error(errno);
    if meaning.is_empty() {
        format!("{os}")
    } else {
        format!("{meaning} ({os})")
    }
}

/// How a batch fell short: the changes that failed and those in doubt, by index; every
/// change listed in neither took effect.
#[derive(Debug, Default)]
pub struct ApplyError {
    /// Changes that did not take effect, with why.
    pub failed: Vec<(usize, IpvsError)>,
    /// Changes that may or may not have taken effect: their answer was lost.
    pub in_doubt: Vec<(usize, IpvsError)>,
}

impl ApplyError {
    /// `Ok` when nothing failed.
    pub fn result(failed: Vec<(usize, IpvsError)>) -> Result<(), ApplyError> {
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ApplyError {
                failed,
                in_doubt: vec![],
            })
        }
    }

    /// A remote batch of `count` changes, each failed (`in_doubt`: or in doubt) for the
    /// same reason: a lost connection.
    pub fn lost(count: usize, error: &crate::agent::AgentError, in_doubt: bool) -> ApplyError {
        let each = (0..count)
            .map(|i| (i, IpvsError::Remote(Box::new(error.clone()))))
            .collect();
        match in_doubt {
            true => ApplyError {
                failed: vec![],
                in_doubt: each,
            },
            false => ApplyError {
                failed: each,
                in_doubt: vec![],
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.failed.is_empty() && self.in_doubt.is_empty()
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A lost connection fails every change of its batch alike: said once, counted.
        let mut parts: Vec<String> = counted(&self.failed)
            .into_iter()
            .map(|(message, n)| match n {
                1 => message,
                n => format!("{message} ({} changes)", crate::diag::separated(n)),
            })
            .collect();
        parts.extend(counted(&self.in_doubt).into_iter().map(|(message, n)| {
            let n = crate::diag::separated(n);
            format!("{message} ({n} changes in doubt: they may or may not have taken effect)")
        }));
        f.write_str(&parts.join("; "))
    }
}

/// Each distinct message once, in order of first appearance, with how often it appears.
fn counted(errors: &[(usize, IpvsError)]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (_, error) in errors {
        let message = error.to_string();
        match counts.iter_mut().find(|(m, _)| *m == message) {
            Some((_, n)) => *n += 1,
            None => counts.push((message, 1)),
        }
    }
    counts
}

impl std::error::Error for ApplyError {}

impl miette::Diagnostic for ApplyError {}

/// The director's IPVS table.
pub trait Ipvs {
    fn observe(&mut self) -> Result<Table, IpvsError> {
        self.observe_some(None)
    }

    /// The table, with the real servers (and their counters) of only the listed services
    /// when `only` is given: the others are listed with none.
    fn observe_some(&mut self, only: Option<&BTreeSet<ServiceKey>>) -> Result<Table, IpvsError>;

    /// Carries out the changes. The kernel handles each on its own: when some fail, the
    /// others have still taken effect, and the error lists exactly the failed ones.
    fn apply(&mut self, changes: &[Change]) -> Result<(), ApplyError>;
}
