//! Every failure of a staged apply, over generated configurations of one to three directors
//! (this machine and directors over SSH, all fakes lent by a `FakeConnector`) and the real
//! servers they share, through `lvsform apply` in process: a failure at each step in turn —
//! a director's settings, a real server's preparation, each director's IPVS changes, the
//! real servers' cleanup — a change that does not stick, and a cancel between stages all
//! leave the world exactly as it was (exit 1); an undo that fails is exit 4.

use lvsform::apply::{self, Backends, Cancel, DirectorBackends, Event, Progress, Request};
use lvsform::backend::{FakeConnector, FakeWorld};
use lvsform::commands::{self, ApplyOptions, Options, View};
use lvsform::config::{self, Config, Inputs};
use lvsform::director::FakeDirector;
use lvsform::host::{FakeHost, Host, HostFacts};
use lvsform::ipvs::{Change, FakeIpvs, Ipvs};
use lvsform::model::*;
use lvsform::plan::{self, Goal};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const RIPS: [&str; 3] = ["10.1.0.11", "10.1.0.12", "10.1.0.13"];
const SCHEDULERS: [&str; 3] = ["wrr", "wlc", "mh"];

/// A generated case: the directors, the services and what each director holds already.
#[derive(Debug, Clone)]
struct Case {
    /// How many directors, and which one is this machine (none: all over SSH).
    directors: usize,
    local: Option<usize>,
    /// Each service: scheduler, real servers with weights, the directors it is on (all
    /// when every flag is set).
    services: Vec<(usize, BTreeMap<usize, u16>, Vec<bool>)>,
    /// Per director: which services are live already, with a weight added to each real
    /// server's; whether a service nobody declares is live; whether its sysctl is set.
    live: Vec<(Vec<Option<u16>>, bool, bool)>,
    /// Per real server: whether it is prepared for the first service already.
    prepared: Vec<bool>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=3, any::<bool>(), 0usize..3)
        .prop_flat_map(|(directors, has_local, local)| {
            let service = (
                0..SCHEDULERS.len(),
                prop::collection::btree_map(0..RIPS.len(), 1u16..4, 1..=3),
                prop::collection::vec(any::<bool>(), directors),
            );
            let services = prop::collection::vec(service, 1..=3);
            let live = prop::collection::vec(
                (
                    prop::collection::vec(prop::option::of(0u16..2), 3),
                    any::<bool>(),
                    any::<bool>(),
                ),
                directors,
            );
            let prepared = prop::collection::vec(any::<bool>(), RIPS.len());
            (
                Just(directors),
                Just(has_local.then_some(local % directors)),
                services,
                live,
                prepared,
            )
        })
        .prop_map(|(directors, local, services, live, prepared)| Case {
            directors,
            local,
            services,
            live,
            prepared,
        })
}

impl Case {
    /// One director is the unlabeled block; several are named, `lb0`….
    fn named(&self) -> bool {
        self.directors > 1
    }

    /// The fake world's key of director `d`: its SSH host, or "" for this machine.
    fn key(&self, d: usize) -> String {
        if self.local == Some(d) {
            String::new()
        } else {
            format!("10.0.0.{}", d + 1)
        }
    }

    fn vip(s: usize) -> String {
        format!("203.0.113.{}", 10 + s)
    }

    fn hcl(&self) -> String {
        let mut text = String::new();
        for d in 0..self.directors {
            let label = if self.named() {
                format!(" \"lb{d}\"")
            } else {
                String::new()
            };
            text.push_str(&format!(
                "director{label} {{\n  interface = \"eth0\"\n  sysctl = {{ \"net.ipv4.vs.sloppy_tcp\" = 1 }}\n"
            ));
            if self.local != Some(d) {
                text.push_str(&format!("  ssh {{\n    host = \"{}\"\n  }}\n", self.key(d)));
            }
            text.push_str("}\n");
        }
        for (s, (scheduler, servers, on)) in self.services.iter().enumerate() {
            text.push_str(&format!(
                "virtual_server \"s{s}\" {{\n  vip = \"{}\"\n  port = 80\n  mode = \"dr\"\n  scheduler = \"{}\"\n  drain = \"0s\"\n",
                Case::vip(s),
                SCHEDULERS[*scheduler]
            ));
            let serving: Vec<String> = (0..self.directors)
                .filter(|d| on[*d])
                .map(|d| format!("\"lb{d}\""))
                .collect();
            if self.named() && !serving.is_empty() && serving.len() < self.directors {
                text.push_str(&format!("  directors = [{}]\n", serving.join(", ")));
            }
            for (rip, weight) in servers {
                text.push_str(&format!(
                    "  real_server \"r{rip}\" {{\n    address = \"{}\"\n    weight = {weight}\n  }}\n",
                    RIPS[*rip]
                ));
            }
            text.push_str("}\n");
        }
        text
    }

    /// The world before the apply.
    fn world(&self) -> FakeWorld {
        let mut world = FakeWorld::default();
        for d in 0..self.directors {
            let (live, stale, sysctl) = &self.live[d];
            let mut ipvs = FakeIpvs::default();
            let mut changes = Vec::new();
            for (s, (_, servers, _)) in self.services.iter().enumerate() {
                let Some(extra) = live[s] else { continue };
                let key = service_key(&Case::vip(s));
                changes.push(add_service(key));
                for (rip, weight) in servers {
                    changes.push(add_dest(key, RIPS[*rip], weight + extra));
                }
            }
            if *stale {
                let key = service_key("203.0.113.99");
                changes.push(add_service(key));
                changes.push(add_dest(key, RIPS[0], 1));
            }
            ipvs.apply(&changes).unwrap();
            ipvs.applied = 0;
            let mut settings = FakeDirector::default();
            let value = if *sysctl { "1" } else { "0" };
            settings
                .facts
                .sysctls
                .insert("net.ipv4.vs.sloppy_tcp".into(), value.into());
            world.directors.insert(self.key(d), (ipvs, settings));
        }
        for (h, rip) in RIPS.iter().enumerate() {
            let mut facts = HostFacts::default();
            facts.links.insert("lo".into(), true);
            let value = if self.prepared[h] {
                ("1", "2")
            } else {
                ("0", "0")
            };
            for scope in ["all", "lo"] {
                let ignore = format!("net.ipv4.conf.{scope}.arp_ignore");
                facts.sysctls.insert(ignore, value.0.into());
                let announce = format!("net.ipv4.conf.{scope}.arp_announce");
                facts.sysctls.insert(announce, value.1.into());
            }
            if self.prepared[h] {
                let vip = Case::vip(0).parse().unwrap();
                facts.addresses.insert(InterfaceAddress::host("lo", vip));
            }
            world
                .hosts
                .insert(rip.to_string(), FakeHost::new(rip, facts));
        }
        world
    }
}

fn service_key(vip: &str) -> ServiceKey {
    ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: vip.parse().unwrap(),
        port: 80,
    }
}

fn add_service(key: ServiceKey) -> Change {
    Change::AddService {
        key,
        settings: ServiceSettings {
            scheduler: Scheduler::Wlc,
            flags: Default::default(),
            persistence: None,
            one_packet: false,
        },
    }
}

fn add_dest(service: ServiceKey, rip: &str, weight: u16) -> Change {
    Change::AddDest {
        service,
        key: DestinationKey {
            address: rip.parse().unwrap(),
            port: 80,
        },
        dest: Destination {
            forwarding: Forwarding::Dr,
            weight: u32::from(weight),
            upper_threshold: 0,
            lower_threshold: 0,
        },
    }
}

/// What a rollback must bring back: every director's services, timeouts, sync daemons
/// and settings, and every host's facts.
fn snapshot(world: &FakeWorld) -> String {
    let directors: Vec<_> = world
        .directors
        .iter()
        .map(|(key, (ipvs, settings))| {
            let t = &ipvs.table;
            (
                key,
                &t.services,
                t.timeouts,
                &t.sync_daemons,
                &settings.facts,
            )
        })
        .collect();
    let hosts: Vec<_> = world.hosts.values().map(|h| &h.facts).collect();
    format!("{directors:?} {hosts:?}")
}

fn load(dir: &Path) -> Config {
    let (config, diags) = config::load(dir, &Inputs::default());
    config.unwrap_or_else(|| {
        let errors: Vec<String> = diags.0.iter().map(|d| d.compact()).collect();
        panic!("{errors:?}")
    })
}

/// Runs `work` on backends lent from `world`; they go back into it after.
fn with_backends<T>(
    case: &Case,
    world: &mut FakeWorld,
    work: impl FnOnce(&mut Backends) -> T,
) -> T {
    let keys: Vec<String> = (0..case.directors).map(|d| case.key(d)).collect();
    let mut directors: Vec<(FakeIpvs, FakeDirector)> = keys
        .iter()
        .map(|key| world.directors.remove(key).unwrap())
        .collect();
    let mut hosts: Vec<Box<dyn Host>> = std::mem::take(&mut world.hosts)
        .into_values()
        .map(|h| Box::new(h) as Box<dyn Host>)
        .collect();
    let mut backends = Backends {
        directors: directors
            .iter_mut()
            .map(|(ipvs, settings)| DirectorBackends { ipvs, settings })
            .collect(),
        hosts: &mut hosts,
        parallelism: 2,
        drain: false,
    };
    let result = work(&mut backends);
    world.directors.extend(keys.into_iter().zip(directors));
    for mut host in hosts {
        let name = host.name().to_string();
        world
            .hosts
            .insert(name.clone(), FakeHost::new(&name, host.observe().unwrap()));
    }
    result
}

const AUTO: ApplyOptions = ApplyOptions {
    auto_approve: true,
    drain: false,
    lock_timeout: Duration::ZERO,
};

/// `lvsform apply` in process on `world`: its exit code, and the world it leaves.
fn apply_command(dir: &Path, world: FakeWorld) -> (u8, FakeWorld) {
    let fakes = FakeConnector::new(world);
    let options = Options {
        dir: dir.to_path_buf(),
        inputs: Inputs::default(),
        view: View::Human,
        color: false,
        targets: vec![],
        directors: vec![],
    };
    let code = commands::apply(&fakes, &options, &AUTO, Goal::Converge).exit_code();
    let world = fakes.world().clone();
    (code, world)
}

/// Where changes go: each director's table and settings, and each host, by how many
/// changes a full apply makes there.
#[derive(Debug, Clone, Copy)]
enum Backend<'a> {
    Ipvs(&'a str),
    Settings(&'a str),
    Host(&'a str),
}

impl Backend<'_> {
    fn applied(self, world: &FakeWorld) -> usize {
        match self {
            Backend::Ipvs(key) => world.directors[key].0.applied,
            Backend::Settings(key) => world.directors[key].1.applied,
            Backend::Host(name) => world.hosts[name].applied,
        }
    }

    /// Makes change `at` (counted from the start of the apply) fail there.
    fn fail_at(self, world: &mut FakeWorld, at: usize) {
        match self {
            Backend::Ipvs(key) => world.directors.get_mut(key).unwrap().0.fail_at = Some(at),
            Backend::Settings(key) => world.directors.get_mut(key).unwrap().1.fail_at = Some(at),
            Backend::Host(name) => world.hosts.get_mut(name).unwrap().fail_at = Some(at),
        }
    }
}

/// Cancels the apply when the first director's stage has been verified.
struct CancelAfterFirstStage(Cancel);

impl Progress for CancelAfterFirstStage {
    fn event(&mut self, event: Event<'_>) {
        if matches!(event, Event::Verifying) {
            self.0.cancel();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_failure_of_a_staged_apply_restores_the_world(case in case()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.lvs.hcl"), case.hcl()).unwrap();
        let config = load(dir.path());
        let pristine = case.world();
        let before = snapshot(&pristine);

        // A full apply converges: how many changes it makes where.
        let (code, done) = apply_command(dir.path(), pristine.clone());
        prop_assert_eq!(code, 0);
        let mut replanned = done.clone();
        let observed = with_backends(&case, &mut replanned, |b| apply::observe(&config, b)).unwrap();
        let left = plan::make(&config, &observed, Goal::Converge, &[]).unwrap();
        prop_assert!(left.is_empty(), "{}", plan::render::human(&left, false));

        let keys: Vec<String> = (0..case.directors).map(|d| case.key(d)).collect();
        let mut backends: Vec<Backend> = Vec::new();
        for key in &keys {
            backends.push(Backend::Ipvs(key));
            backends.push(Backend::Settings(key));
        }
        backends.extend(RIPS.iter().map(|rip| Backend::Host(rip)));
        let mut failures = 0;
        for backend in &backends {
            for at in 0..backend.applied(&done) {
                let mut world = pristine.clone();
                backend.fail_at(&mut world, at);
                let (code, after) = apply_command(dir.path(), world);
                prop_assert_eq!(code, 1, "failing {:?} at {}", backend, at);
                prop_assert_eq!(&snapshot(&after), &before, "failing {:?} at {}", backend, at);
                failures += 1;
            }
        }
        prop_assert!(failures > 0, "every case changes something");
        if let Ok(path) = std::env::var("LVSFORM_FAILURE_MATRIX") {
            // The matrix's size, for a report: one line per case.
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
            writeln!(file, "{} {failures}", case.directors).unwrap();
        }

        // A change that does not stick: verification fails; exit 1 only when the world
        // reads as before (an undo of what never happened may fail: exit 4).
        for key in &keys {
            let changes = Backend::Ipvs(key).applied(&done);
            if changes == 0 {
                continue;
            }
            let mut world = pristine.clone();
            world.directors.get_mut(key.as_str()).unwrap().0.lose_at = Some(changes - 1);
            let (code, after) = apply_command(dir.path(), world);
            prop_assert!(code == 1 || code == 4, "{code}");
            if code == 1 {
                prop_assert_eq!(&snapshot(&after), &before);
            }
        }

        // A director that goes away after its first change: that change cannot be undone.
        if let Some(key) = keys.iter().find(|k| Backend::Ipvs(k).applied(&done) >= 2) {
            let mut world = pristine.clone();
            world.directors.get_mut(key.as_str()).unwrap().0.fail_from = Some(1);
            let (code, _) = apply_command(dir.path(), world);
            prop_assert_eq!(code, 4);
        }

        // Cancelled between stages: rolled back, or (no stage after) done.
        let mut world = pristine.clone();
        let (observed, plan) = {
            let observed = with_backends(&case, &mut world, |b| apply::observe(&config, b)).unwrap();
            let plan = plan::make(&config, &observed, Goal::Converge, &[]).unwrap();
            (observed, plan)
        };
        let cancel = Cancel::default();
        let mut progress = CancelAfterFirstStage(cancel.clone());
        let request = Request { config: &config, plan: &plan, observed, goal: Goal::Converge, targets: &[] };
        let outcome = with_backends(&case, &mut world, |b| apply::run(request, b, &mut progress, &cancel));
        match outcome {
            Ok(()) => prop_assert_eq!(snapshot(&world), snapshot(&done)),
            Err(failure) => {
                prop_assert!(failure.left.is_empty(), "{:?}", failure.left);
                prop_assert_eq!(snapshot(&world), before);
            }
        }
    }
}
