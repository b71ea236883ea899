//! In-memory backends for apply tests: a fake director, a silent progress reporter, and a
//! "world" of fakes that can run plans and be compared before and after.
#![allow(dead_code)] // each test binary uses part of it

use lvsform::apply::{self, Backends, Cancel, DirectorBackends, Event, Failure, Progress, Request};
use lvsform::config::Config;
use lvsform::director::DirectorFacts;
pub use lvsform::director::FakeDirector;
use lvsform::host::{FakeHost, Host, HostFacts};
use lvsform::ipvs::FakeIpvs;
use lvsform::model::*;
use lvsform::plan::{Goal, Observed, Plan};
use std::collections::BTreeMap;

pub struct Quiet;

impl Progress for Quiet {
    fn event(&mut self, _: Event<'_>) {}
}

/// The configuration of one file holding `hcl`; panics with the diagnostics if invalid.
pub fn load(hcl: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.lvs.hcl"), hcl).unwrap();
    let (config, diags) = lvsform::config::load(dir.path(), &Default::default());
    config.unwrap_or_else(|| {
        panic!(
            "{:?}\n{hcl}",
            diags.0.iter().map(|d| d.compact()).collect::<Vec<_>>()
        )
    })
}

/// A request to converge: `plan`, made against `observed`.
pub fn converge<'a>(config: &'a Config, plan: &'a Plan, observed: &Observed) -> Request<'a> {
    Request {
        config,
        plan,
        observed: observed.clone(),
        goal: Goal::Converge,
        targets: &[],
    }
}

/// Runs `request` as `lvsform apply` does (verification and rollback included), with
/// nothing cancelled and nothing reported.
pub fn carry_out(request: Request<'_>) -> impl FnOnce(&mut Backends) -> Result<(), Failure> + '_ {
    move |b| apply::run(request, b, &mut Quiet, &Cancel::default())
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
        let (ipvs, director) = (&mut self.ipvs, &mut self.director);
        with_boxed_hosts(&mut self.hosts, |hosts| {
            let mut backends = Backends {
                directors: vec![DirectorBackends {
                    ipvs,
                    settings: director,
                }],
                hosts,
                parallelism,
                drain: false,
            };
            f(&mut backends)
        })
    }

    /// The fake host named `name`.
    pub fn host(&mut self, name: &str) -> &mut FakeHost {
        self.hosts
            .iter_mut()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no fake host {name}"))
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

/// Runs `f` on the fake hosts as backends, boxed; they come back out of their boxes
/// through their observations.
pub fn with_boxed_hosts<T>(
    fakes: &mut Vec<FakeHost>,
    f: impl FnOnce(&mut [Box<dyn Host>]) -> T,
) -> T {
    let mut hosts: Vec<Box<dyn Host>> = fakes
        .drain(..)
        .map(|h| Box::new(h) as Box<dyn Host>)
        .collect();
    let result = f(&mut hosts);
    *fakes = hosts
        .into_iter()
        .map(|mut h| {
            let name = h.name().to_string();
            FakeHost::new(&name, h.observe().unwrap())
        })
        .collect();
    result
}
