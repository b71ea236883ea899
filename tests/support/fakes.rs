//! In-memory backends for apply tests: a fake director, a silent progress reporter, and a
//! "world" of fakes that can run plans and be compared before and after.
#![allow(dead_code)] // each test binary uses part of it

use lvsform::apply::{Backends, Director, Progress};
use lvsform::director::{DirectorChange, DirectorFacts};
use lvsform::host::{FakeHost, Host, HostFacts};
use lvsform::ipvs::FakeIpvs;
use lvsform::model::*;
use std::collections::BTreeMap;

#[derive(Clone, Default)]
pub struct FakeDirector {
    pub facts: DirectorFacts,
    pub applied: usize,
    pub fail_at: Option<usize>,
}

impl Director for FakeDirector {
    fn observe(&mut self, _: &[String], _: Option<&str>) -> Result<DirectorFacts, String> {
        Ok(self.facts.clone())
    }

    fn apply(&mut self, change: &DirectorChange) -> Result<(), String> {
        if self.fail_at == Some(self.applied) {
            self.applied += 1;
            return Err("injected failure".into());
        }
        self.applied += 1;
        match change {
            DirectorChange::SetSysctl { name, value, .. } => {
                self.facts.sysctls.insert(name.clone(), value.clone());
            }
            DirectorChange::AddAddress(a) => {
                self.facts.addresses.insert(a.clone());
            }
            DirectorChange::DelAddress(a) => {
                self.facts.addresses.remove(a);
            }
        }
        Ok(())
    }
}

pub struct Quiet;

impl Progress for Quiet {
    fn step(&mut self, _: usize, _: usize, _: &str) {}
    fn failed(&mut self, _: &str) {}
    fn undo(&mut self, _: &str, _: &Result<(), String>) {}
}

/// The world before the apply: what the fakes hold.
#[derive(Clone)]
pub struct World {
    pub ipvs: FakeIpvs,
    pub hosts: Vec<FakeHost>,
    pub director: FakeDirector,
}

impl World {
    pub fn run<T>(&mut self, parallelism: usize, f: impl FnOnce(&mut Backends) -> T) -> T {
        let mut hosts: Vec<Box<dyn Host>> = self
            .hosts
            .drain(..)
            .map(|h| Box::new(h) as Box<dyn Host>)
            .collect();
        let result = {
            let mut backends = Backends {
                ipvs: &mut self.ipvs,
                hosts: &mut hosts,
                director: &mut self.director,
                parallelism,
                drain: false,
            };
            f(&mut backends)
        };
        // The fakes come back out of their boxes through their observations.
        self.hosts = hosts
            .into_iter()
            .map(|mut h| {
                let name = h.name().to_string();
                FakeHost::new(&name, h.observe().unwrap())
            })
            .collect();
        result
    }

    pub fn snapshot(
        &self,
    ) -> (
        BTreeMap<ServiceKey, Service>,
        Timeouts,
        Vec<HostFacts>,
        DirectorFacts,
    ) {
        let mut hosts: Vec<HostFacts> = self.hosts.iter().map(|h| h.facts.clone()).collect();
        hosts.sort_by_key(|f| format!("{f:?}"));
        (
            self.ipvs.table.services.clone(),
            self.ipvs.table.timeouts,
            hosts,
            self.director.facts.clone(),
        )
    }
}
