//! Named directors against the in-memory backends: one plan over both (addresses under
//! `director["NAME"]`, the real servers prepared once), applied in stages; sh tables in the
//! same order on both; a failure at any IPVS change of the second director rolls the first
//! director, the second and the hosts back exactly.

#[path = "support/fakes.rs"]
mod fakes;

use fakes::{FakeDirector, Quiet};
use lvsform::apply::{self, Backends, Cancel, DirectorBackends};
use lvsform::config::Config;
use lvsform::host::{FakeHost, HostFacts};
use lvsform::ipvs::{Change, FakeIpvs, Ipvs};
use lvsform::model::*;
use lvsform::plan::{self, Goal, Observed};

const CONFIG: &str = r#"
director "lb1" {
  interface = "eth0"
}

director "lb2" {
  interface = "eth0"
  ssh {
    host = "10.1.0.2"
  }
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "dr"
  scheduler = "sh"
  real_server "a" {
    address = "10.1.0.11"
  }
  real_server "b" {
    address = "10.1.0.12"
  }
}

virtual_server "api" {
  vip       = "203.0.113.20"
  port      = 443
  mode      = "dr"
  directors = ["lb2"]
  real_server "b" {
    address = "10.1.0.12"
  }
}
"#;

fn config() -> Config {
    fakes::load(CONFIG)
}

/// Two directors and two hosts; lb2 serves a stale service whose VIP 10.1.0.11 holds.
#[derive(Clone)]
struct Fakes {
    ipvs: [FakeIpvs; 2],
    directors: [FakeDirector; 2],
    hosts: Vec<FakeHost>,
}

fn stale() -> ServiceKey {
    ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.99".parse().unwrap(),
        port: 80,
    }
}

fn fakes() -> Fakes {
    let mut lb2 = FakeIpvs::default();
    lb2.apply(&[Change::AddService {
        key: stale(),
        settings: ServiceSettings {
            scheduler: Scheduler::Rr,
            flags: Default::default(),
            persistence: None,
            one_packet: false,
        },
    }])
    .unwrap();
    lb2.applied = 0;
    let mut facts = HostFacts {
        sysctls: ["all", "lo"]
            .iter()
            .flat_map(|s| {
                ["arp_ignore", "arp_announce"]
                    .map(|k| (format!("net.ipv4.conf.{s}.{k}"), "0".to_string()))
            })
            .collect(),
        ..HostFacts::default()
    };
    facts.links.insert("lo".into(), true);
    let mut stale_host = facts.clone();
    stale_host.addresses.insert(InterfaceAddress::host(
        "lo",
        "203.0.113.99".parse().unwrap(),
    ));
    Fakes {
        ipvs: [FakeIpvs::default(), lb2],
        directors: [FakeDirector::default(), FakeDirector::default()],
        hosts: vec![
            FakeHost::new("10.1.0.11", stale_host),
            FakeHost::new("10.1.0.12", facts),
        ],
    }
}

impl Fakes {
    /// Runs `work` on a fleet of these fakes; the hosts come back out of their boxes.
    fn run<T>(&mut self, work: impl FnOnce(&mut Backends) -> T) -> T {
        let (ipvs, settings) = (&mut self.ipvs, &mut self.directors);
        fakes::with_boxed_hosts(&mut self.hosts, |hosts| {
            let mut fleet = Backends {
                directors: ipvs
                    .iter_mut()
                    .zip(settings)
                    .map(|(ipvs, settings)| DirectorBackends { ipvs, settings })
                    .collect(),
                hosts,
                parallelism: 2,
                drain: false,
            };
            work(&mut fleet)
        })
    }

    fn observe(&mut self, config: &Config) -> Observed {
        self.run(|fleet| apply::observe(config, fleet)).unwrap()
    }

    fn snapshot(&self) -> String {
        format!(
            "{:?} {:?} {:?}",
            self.ipvs
                .iter()
                .map(|i| &i.table.services)
                .collect::<Vec<_>>(),
            self.directors.iter().map(|d| &d.facts).collect::<Vec<_>>(),
            self.hosts.iter().map(|h| &h.facts).collect::<Vec<_>>()
        )
    }
}

#[test]
fn one_plan_over_named_directors_applies_in_stages_and_converges() {
    let config = config();
    let remote = config.directors[1]
        .meta
        .remote
        .as_ref()
        .expect("lb2 over SSH");
    assert_eq!(remote.name.as_deref(), Some("lb2"), "messages name it so");
    let mut world = fakes();
    let observed = world.observe(&config);
    let plan = plan::make(&config, &observed, Goal::Converge, &[]).unwrap();
    let addresses: Vec<(String, Option<String>)> = plan
        .changes
        .iter()
        .map(|c| (c.address.to_string(), c.director.clone()))
        .collect();
    let has = |address: &str, director: Option<&str>| {
        addresses.contains(&(address.to_string(), director.map(str::to_string)))
    };
    assert!(
        has("director[\"lb1\"].virtual_server.web", Some("lb1")),
        "{addresses:?}"
    );
    assert!(has("director[\"lb2\"].virtual_server.web", Some("lb2")));
    assert!(has("director[\"lb2\"].virtual_server.api", Some("lb2")));
    assert!(
        !has("director[\"lb1\"].virtual_server.api", Some("lb1")),
        "api is lb2's only"
    );
    assert!(has(
        "director[\"lb2\"].virtual_server[\"tcp/203.0.113.99:80\"]",
        Some("lb2")
    ));
    assert!(
        has("director[\"lb1\"]", Some("lb1")),
        "the VIP on lb1's eth0"
    );
    // The real servers once, with the stale VIP cleaned up.
    assert_eq!(
        addresses
            .iter()
            .filter(|(a, _)| a == "host[\"10.1.0.11\"]")
            .count(),
        1
    );
    let text = plan::render::human(&plan, false);
    for section in [
        "── director \"lb1\" ──",
        "── director \"lb2\" ──",
        "── real servers (every director) ──",
    ] {
        assert!(text.contains(section), "{text}");
    }
    let mut json = plan::render::json(&plan);
    assert!(
        json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["director"] == "lb2"),
        "{json}"
    );
    // The documented contract holds a plan over named directors too.
    let schema = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/schemas/plan.schema.json"
    ))
    .unwrap();
    let validator = jsonschema::validator_for(&serde_json::from_str(&schema).unwrap()).unwrap();
    json["diagnostics"] = serde_json::json!([]);
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    json["changes"][0]["director"] = serde_json::json!(1);
    assert!(!validator.is_valid(&json), "a director is a name");

    let request = fakes::converge(&config, &plan, &observed);
    world
        .run(|fleet| apply::run(request, fleet, &mut Quiet, &Cancel::default()))
        .expect("applies");
    let web = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10".parse().unwrap(),
        port: 80,
    };
    assert_eq!(world.ipvs[0].table.services.len(), 1, "lb1: web only");
    assert_eq!(world.ipvs[1].table.services.len(), 2, "lb2: web and api");
    assert!(!world.ipvs[1].table.services.contains_key(&stale()));
    assert_eq!(
        world.ipvs[0].table.order.get(&web),
        world.ipvs[1].table.order.get(&web),
        "sh maps clients by the order of real servers: the same on both"
    );
    let host = &world.hosts[0].facts;
    assert!(
        !host
            .addresses
            .iter()
            .any(|a| a.address.addr().to_string() == "203.0.113.99")
    );
    let observed = world.observe(&config);
    let again = plan::make(&config, &observed, Goal::Converge, &[]).unwrap();
    assert!(again.is_empty(), "{}", plan::render::human(&again, false));
}

#[test]
fn a_failure_at_any_change_of_the_second_director_rolls_back_everything() {
    let config = config();
    let mut failures = 0;
    for fail_at in 0.. {
        let mut world = fakes();
        let before = world.snapshot();
        let observed = world.observe(&config);
        let plan = plan::make(&config, &observed, Goal::Converge, &[]).unwrap();
        world.ipvs[1].fail_at = Some(fail_at);
        let request = fakes::converge(&config, &plan, &observed);
        let outcome = world.run(|fleet| apply::run(request, fleet, &mut Quiet, &Cancel::default()));
        let Err(failure) = outcome else {
            break; // past lb2's last change
        };
        failures += 1;
        assert!(failure.left.is_empty(), "at {fail_at}: {:?}", failure.left);
        world.ipvs[1].fail_at = None;
        assert_eq!(
            world.snapshot(),
            before,
            "failing at lb2's change {fail_at}"
        );
    }
    assert!(failures >= 4, "lb2 makes several changes: {failures}");
}

#[test]
fn what_a_failed_rollback_leaves_is_named_under_its_director() {
    let config = config();
    let mut world = fakes();
    let observed = world.observe(&config);
    let plan = plan::make(&config, &observed, Goal::Converge, &[]).unwrap();
    // lb2 goes away after its first change: that change cannot be undone.
    world.ipvs[1].fail_from = Some(1);
    let request = fakes::converge(&config, &plan, &observed);
    let failure = world
        .run(|fleet| apply::run(request, fleet, &mut Quiet, &Cancel::default()))
        .expect_err("fails");
    assert!(!failure.left.is_empty());
    assert!(
        failure
            .left
            .items
            .iter()
            .all(|l| l.contains("director[\"lb2\"]")),
        "{:?}",
        failure.left
    );
}

#[test]
fn a_rollout_by_hand_changes_only_the_directors_asked_for() {
    let config = config();
    let mut world = fakes();
    let observed = world.observe(&config);
    let only = ["lb1".to_string()];
    let plan = plan::make(&config, &observed, Goal::Converge, &only).unwrap();
    assert!(
        plan.changes
            .iter()
            .all(|c| c.director.as_deref() != Some("lb2")),
        "nothing of lb2's"
    );
    let host = plan
        .changes
        .iter()
        .find(|c| c.address.as_str() == "host[\"10.1.0.11\"]")
        .expect("the real servers are prepared");
    assert!(
        host.steps
            .iter()
            .all(|(phase, _)| *phase != plan::Phase::HostCleanup),
        "the stale VIP stays while lb2 may still send its traffic"
    );
    let request = fakes::converge(&config, &plan, &observed);
    world
        .run(|fleet| apply::run(request, fleet, &mut Quiet, &Cancel::default()))
        .expect("applies lb1");
    assert_eq!(world.ipvs[0].table.services.len(), 1, "lb1 done");
    assert!(
        world.ipvs[1].table.services.contains_key(&stale()),
        "lb2 untouched"
    );
    let observed = world.observe(&config);
    let rest = plan::make(&config, &observed, Goal::Converge, &[]).unwrap();
    assert!(
        rest.changes
            .iter()
            .all(|c| c.director.as_deref() != Some("lb1"))
    );
    assert!(
        rest.changes
            .iter()
            .any(|c| c.director.as_deref() == Some("lb2"))
    );

    let unknown = plan::make(&config, &observed, Goal::Converge, &["lb9".into()]);
    let errors = unknown.unwrap_err();
    assert!(
        errors[0].compact().contains("the directors are: lb1, lb2"),
        "{:?}",
        errors[0].compact()
    );
}

/// The link to lb2 is lost after any of its changes, while the answer to that change's
/// batch is on the way: lb1 and the hosts are rolled back, and what the apply did on lb2
/// is all listed — left (undone certainly not) or in doubt — with the reason said once.
#[test]
fn a_link_lost_on_the_second_director_lists_everything_it_may_have_left() {
    let config = config();
    let mut cuts = 0;
    for cut_after in 0.. {
        let mut world = fakes();
        let before = world.clone();
        let observed = world.observe(&config);
        let plan = plan::make(&config, &observed, Goal::Converge, &[]).unwrap();
        world.ipvs[1].cut_after = Some(cut_after);
        let request = fakes::converge(&config, &plan, &observed);
        let outcome = world.run(|fleet| apply::run(request, fleet, &mut Quiet, &Cancel::default()));
        let Err(failure) = outcome else {
            break; // past lb2's last change
        };
        cuts += 1;
        let left = &failure.left;
        assert!(!left.in_doubt.is_empty(), "the lost batch, at {cut_after}");
        let listed: Vec<&String> = left.items.iter().chain(&left.in_doubt).collect();
        assert!(
            listed.iter().all(|l| l.starts_with("director[\"lb2\"]: ")),
            "{listed:?}"
        );
        assert_eq!(
            left.reasons.len(),
            1,
            "one reason, said once: {:?}",
            left.reasons
        );
        assert_eq!(left.reasons[0].1, listed.len());
        // Every service of lb2 that is not as before is named in the list.
        let lb2 = (
            &before.ipvs[1].table.services,
            &world.ipvs[1].table.services,
        );
        let keys: std::collections::BTreeSet<&ServiceKey> =
            lb2.0.keys().chain(lb2.1.keys()).collect();
        for key in keys {
            if lb2.0.get(key) != lb2.1.get(key) {
                let named = format!(" {key}");
                assert!(
                    listed.iter().any(|l| l.contains(&named)),
                    "cut after {cut_after}: {key} differs and is not listed: {listed:?}"
                );
            }
        }
        // lb1 and the real servers are as before.
        world.ipvs[1] = before.ipvs[1].clone();
        world.directors[1] = before.directors[1].clone();
        assert_eq!(world.snapshot(), before.snapshot(), "cut after {cut_after}");
    }
    assert!(cuts >= 4, "lb2 makes several changes: {cuts}");
}
