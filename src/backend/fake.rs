//! Backends in memory for running the commands in tests: a world of fake directors and
//! hosts that a command borrows, and gives back when it ends, as it left them.

use super::{BackendError, Connector, DirectorBackend};
use crate::agent::AgentError;
use crate::apply::DirectorBackends;
use crate::config::{HostMeta, RemoteDirectorMeta};
use crate::director::FakeDirector;
use crate::host::{FakeHost, Host, HostApplyError, HostChange, HostError, HostFacts};
use crate::ipvs::FakeIpvs;
use crate::lock::LockError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the fakes hold between commands.
#[derive(Debug, Clone, Default)]
pub struct FakeWorld {
    /// Each director's table and settings, by its SSH host ("" is this machine). A
    /// director missing here cannot be reached.
    pub directors: BTreeMap<String, (FakeIpvs, FakeDirector)>,
    /// Each managed host, by SSH address.
    pub hosts: BTreeMap<String, FakeHost>,
    /// Directors whose apply lock someone else holds.
    pub locked: BTreeSet<String>,
    /// Every director a command tried to reach, by its SSH host.
    pub reached: BTreeSet<String>,
}

/// Lends the fakes of a shared world to commands.
#[derive(Debug, Clone, Default)]
pub struct FakeConnector(Arc<Mutex<FakeWorld>>);

impl FakeConnector {
    pub fn new(world: FakeWorld) -> FakeConnector {
        FakeConnector(Arc::new(Mutex::new(world)))
    }

    /// The world, as the last command left it (every backend given back).
    pub fn world(&self) -> MutexGuard<'_, FakeWorld> {
        lock(&self.0)
    }
}

fn lock(world: &Mutex<FakeWorld>) -> MutexGuard<'_, FakeWorld> {
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Connector for FakeConnector {
    fn director(
        &self,
        remote: Option<&RemoteDirectorMeta>,
        _load_ipvs: bool,
    ) -> Result<Box<dyn DirectorBackend>, BackendError> {
        let key = remote.map_or(String::new(), |r| r.ssh.host.clone());
        let mut world = self.world();
        world.reached.insert(key.clone());
        let (ipvs, settings) = world
            .directors
            .remove(&key)
            .ok_or_else(|| AgentError::Lost {
                host: key.clone(),
                detail: "no such fake director".into(),
            })?;
        drop(world);
        Ok(Box::new(LentDirector {
            key,
            ipvs,
            settings,
            locked: false,
            world: self.0.clone(),
        }))
    }

    fn host(&self, meta: &HostMeta) -> Box<dyn Host> {
        let name = meta.ssh.host.clone();
        let host = self.world().hosts.remove(&name).unwrap_or_else(|| {
            let mut host = FakeHost::new(&name, HostFacts::default());
            host.unreachable = true;
            host
        });
        Box::new(LentHost {
            host,
            world: self.0.clone(),
        })
    }
}

/// A fake director lent to a command.
struct LentDirector {
    key: String,
    ipvs: FakeIpvs,
    settings: FakeDirector,
    locked: bool,
    world: Arc<Mutex<FakeWorld>>,
}

impl DirectorBackend for LentDirector {
    fn lock(&mut self, timeout: Duration) -> Result<(), BackendError> {
        if !self.locked {
            if !lock(&self.world).locked.insert(self.key.clone()) {
                return Err(LockError::Held {
                    path: format!("the fake lock of director \"{}\"", self.key),
                    holder: crate::lock::Holder::Lvsform(0),
                    waited: timeout.as_secs(),
                }
                .into());
            }
            self.locked = true;
        }
        Ok(())
    }

    fn parts(&mut self) -> DirectorBackends<'_> {
        DirectorBackends {
            ipvs: &mut self.ipvs,
            settings: &mut self.settings,
        }
    }
}

impl Drop for LentDirector {
    fn drop(&mut self) {
        let mut world = lock(&self.world);
        if self.locked {
            world.locked.remove(&self.key);
        }
        let taken = (
            std::mem::take(&mut self.ipvs),
            std::mem::take(&mut self.settings),
        );
        world.directors.insert(self.key.clone(), taken);
    }
}

/// A fake host lent to a command.
struct LentHost {
    host: FakeHost,
    world: Arc<Mutex<FakeWorld>>,
}

impl Host for LentHost {
    fn name(&self) -> &str {
        self.host.name()
    }

    fn observe(&mut self) -> Result<HostFacts, HostError> {
        self.host.observe()
    }

    fn apply(&mut self, changes: &[HostChange]) -> Result<(), HostApplyError> {
        self.host.apply(changes)
    }
}

impl Drop for LentHost {
    fn drop(&mut self) {
        let name = self.host.name.clone();
        let host = std::mem::replace(&mut self.host, FakeHost::new(&name, HostFacts::default()));
        lock(&self.world).hosts.insert(name, host);
    }
}
