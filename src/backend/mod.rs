//! How a command reaches what a configuration describes: each director — this machine
//! (netlink, /proc, `ip`, the lock file) or another over SSH (lvsform there) — through one
//! trait, and each managed host. The commands get them from a `Connector`: the real one,
//! or, in tests, one that lends fakes.

#[cfg(any(test, feature = "fakes"))]
mod fake;

#[cfg(any(test, feature = "fakes"))]
pub use fake::{FakeConnector, FakeWorld};

use crate::agent::{self, AgentError};
use crate::apply::DirectorBackends;
use crate::config::{HostMeta, RemoteDirectorMeta};
use crate::director::{Director, DirectorChange, DirectorError, DirectorFacts, LocalDirector};
use crate::host::{Host, SshHost};
use crate::ipvs::{ApplyError, Change, Ipvs, IpvsError, NetlinkIpvs, Table};
use crate::lock::{Lock, LockError};
use crate::model::ServiceKey;
use std::collections::BTreeSet;
use std::time::Duration;

/// A director as a command holds it, whatever reaches it.
pub trait DirectorBackend: Send {
    /// Takes the director's apply lock, waiting up to `timeout`; held as long as this
    /// backend (a second call keeps it).
    fn lock(&mut self, timeout: Duration) -> Result<(), BackendError>;

    /// Its IPVS table and its own settings.
    fn parts(&mut self) -> DirectorBackends<'_>;

    /// Reads the whole table while other work (evaluating the configuration) runs beside.
    fn observe_beside_work(&mut self) -> Result<Table, IpvsError> {
        self.parts().ipvs.observe()
    }
}

/// Where a command's backends come from.
pub trait Connector: Sync {
    /// Reaches a director: this machine, or (`remote`) another over SSH. `load_ipvs`: the
    /// command changes the director, so a kernel without IPVS gets it loaded.
    fn director(
        &self,
        remote: Option<&RemoteDirectorMeta>,
        load_ipvs: bool,
    ) -> Result<Box<dyn DirectorBackend>, BackendError>;

    /// A managed host (reached when first used).
    fn host(&self, meta: &HostMeta) -> Box<dyn Host>;
}

/// Why a director cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BackendError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Ipvs(#[from] IpvsError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
}

/// A director a run leaves out (`--director` names others): never reached, read or
/// planned. Should anything use it, it fails, naming the director.
pub struct LeftOut {
    ipvs: LeftOutPart,
    settings: LeftOutPart,
}

impl LeftOut {
    pub fn new(name: &str) -> LeftOut {
        LeftOut {
            ipvs: LeftOutPart(name.to_string()),
            settings: LeftOutPart(name.to_string()),
        }
    }
}

/// Either part of a director left out, by its name.
struct LeftOutPart(String);

impl LeftOutPart {
    fn error(&self) -> DirectorError {
        DirectorError::LeftOut(self.0.clone())
    }
}

impl DirectorBackend for LeftOut {
    fn lock(&mut self, _: Duration) -> Result<(), BackendError> {
        Ok(()) // nothing of it is changed: its lock is not needed
    }

    fn parts(&mut self) -> DirectorBackends<'_> {
        DirectorBackends {
            ipvs: &mut self.ipvs,
            settings: &mut self.settings,
        }
    }
}

impl Ipvs for LeftOutPart {
    fn observe_some(&mut self, _: Option<&BTreeSet<ServiceKey>>) -> Result<Table, IpvsError> {
        Err(IpvsError::Io(std::io::Error::other(self.error())))
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), ApplyError> {
        let failed = (0..changes.len())
            .map(|i| (i, IpvsError::Io(std::io::Error::other(self.error()))))
            .collect();
        ApplyError::result(failed)
    }
}

impl Director for LeftOutPart {
    fn observe(
        &mut self,
        _: &[String],
        _: Option<&str>,
        _: Option<&crate::director::KeepalivedQuery>,
    ) -> Result<DirectorFacts, DirectorError> {
        Err(self.error())
    }

    fn apply(&mut self, _: &DirectorChange) -> Result<(), DirectorError> {
        Err(self.error())
    }

    fn probe(
        &mut self,
        _: &crate::probe::ProbeRun,
    ) -> Result<crate::probe::Outcome, DirectorError> {
        Err(self.error())
    }
}

/// The real backends: netlink and this machine's files for itself, SSH for the others.
pub struct SystemConnector;

impl Connector for SystemConnector {
    fn director(
        &self,
        remote: Option<&RemoteDirectorMeta>,
        load_ipvs: bool,
    ) -> Result<Box<dyn DirectorBackend>, BackendError> {
        Ok(match remote {
            Some(remote) => Box::new(agent::connect(remote, load_ipvs)?),
            None => Box::new(NetlinkDirector {
                ipvs: NetlinkIpvs::connect_loading(load_ipvs)?,
                settings: LocalDirector,
                lock: None,
            }),
        })
    }

    fn host(&self, meta: &HostMeta) -> Box<dyn Host> {
        Box::new(SshHost::new(meta.ssh.clone()))
    }
}

/// This machine as a director.
pub struct NetlinkDirector {
    ipvs: NetlinkIpvs,
    settings: LocalDirector,
    lock: Option<Lock>,
}

impl DirectorBackend for NetlinkDirector {
    fn lock(&mut self, timeout: Duration) -> Result<(), BackendError> {
        if self.lock.is_none() {
            self.lock = Some(Lock::acquire(timeout)?);
        }
        Ok(())
    }

    fn parts(&mut self) -> DirectorBackends<'_> {
        DirectorBackends {
            ipvs: &mut self.ipvs,
            settings: &mut self.settings,
        }
    }

    fn observe_beside_work(&mut self) -> Result<Table, IpvsError> {
        // One core does the other work meanwhile.
        self.ipvs.with_a_core_spare(|ipvs| ipvs.observe())
    }
}
