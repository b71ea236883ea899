//! Planning and applying against the in-memory backends: a mixed plan (director, IPVS,
//! several hosts) applied fully reaches the desired state and plans empty afterwards; a
//! failure injected at every single step rolls everything back exactly.

#[path = "support/fakes.rs"]
mod fakes;

use fakes::{FakeDirector, World, carry_out, converge, load};
use lvsform::apply;
use lvsform::apply::Request;
use lvsform::config::Config;
use lvsform::host::{FakeHost, HostFacts};
use lvsform::ipvs::{Change, FakeIpvs, Ipvs};
use lvsform::model::*;
use lvsform::plan::{self, Action, Goal, Step};

const CONFIG: &str = r#"
director {
  interface = "eth0"
  dip       = "10.1.0.1"
  timeouts {
    tcp = 600
  }
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  scheduler = "wrr"
  mode      = "dr"
  real_server "a" {
    address = "10.1.0.11"
    weight  = 5
  }
  real_server "b" {
    address = "10.1.0.12"
  }
}

virtual_server "dns" {
  protocol = "udp"
  vip      = "203.0.113.53"
  port     = 53
  mode     = "tun"
  real_server "c" {
    address         = "10.1.0.13"
    manage_firewall = true
  }
}
"#;

fn config() -> Config {
    load(CONFIG)
}

/// A live world that differs from the configuration in every way the planner handles.
fn world() -> World {
    let mut ipvs = FakeIpvs::default();
    let web = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10".parse().unwrap(),
        port: 80,
    };
    let stale = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.99".parse().unwrap(),
        port: 8080,
    };
    let dest = |weight| Destination {
        forwarding: Forwarding::Dr,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
    };
    let rr = ServiceSettings {
        scheduler: Scheduler::Rr,
        flags: Default::default(),
        persistence: None,
        one_packet: false,
    };
    ipvs.apply(&[
        Change::AddService {
            key: web,
            settings: rr.clone(),
        },
        Change::AddDest {
            service: web,
            key: DestinationKey {
                address: "10.1.0.11".parse().unwrap(),
                port: 80,
            },
            dest: dest(1),
        },
        Change::AddDest {
            service: web,
            key: DestinationKey {
                address: "10.1.0.19".parse().unwrap(),
                port: 80,
            },
            dest: dest(1),
        },
        Change::AddService {
            key: stale,
            settings: rr,
        },
        Change::AddDest {
            service: stale,
            key: DestinationKey {
                address: "10.1.0.11".parse().unwrap(),
                port: 8080,
            },
            dest: dest(2),
        },
    ])
    .unwrap();
    ipvs.applied = 0;
    let mut facts = HostFacts {
        sysctls: ["all", "lo", "tunl0"]
            .iter()
            .flat_map(|s| {
                ["arp_ignore", "arp_announce", "rp_filter"]
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
    let hosts = vec![
        FakeHost::new("10.1.0.11", stale_host),
        FakeHost::new("10.1.0.12", facts.clone()),
        // A firewall that drops IP-in-IP: lvsform adds its rule.
        FakeHost::new(
            "10.1.0.13",
            HostFacts {
                iptables_input: Some("-P INPUT DROP".into()),
                ..facts
            },
        ),
    ];
    let mut director = FakeDirector::default();
    director.facts.addresses.insert(InterfaceAddress::host(
        "eth0",
        "203.0.113.99".parse().unwrap(),
    ));
    World {
        ipvs,
        hosts,
        director,
    }
}

#[test]
fn a_full_apply_converges_and_the_next_plan_is_empty() {
    let config = config();
    let mut world = world();
    let observed = world.run(4, |b| apply::observe(&config, b)).unwrap();
    let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
    let actions: Vec<(String, Action)> = plan
        .changes
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect();
    assert!(
        actions.contains(&("virtual_server.web".into(), Action::Update)),
        "{actions:?}"
    );
    assert!(actions.contains(&("virtual_server.dns".into(), Action::Create)));
    assert!(actions.contains(&(
        "virtual_server[\"tcp/203.0.113.99:8080\"]".into(),
        Action::Delete
    )));
    assert!(actions.contains(&(
        "virtual_server.web.real_server[\"10.1.0.19:80\"]".into(),
        Action::Delete
    )));
    let phases: Vec<_> = plan.steps().iter().map(|(p, _)| *p).collect();
    assert!(
        phases.windows(2).all(|w| w[0] <= w[1]),
        "steps in phase order"
    );
    let text = plan::render::human(&plan, false);
    assert!(
        text.contains("Plan: 3 to add, 6 to change, 2 to destroy."),
        "{text}"
    );

    world
        .run(4, carry_out(converge(&config, &plan, &observed)))
        .unwrap();
    // The verification read (only what the plan touched) and a full read agree.
    let mut touched = observed.clone();
    world
        .run(4, |b| {
            apply::reread_director(&config, 0, b, &mut touched, &plan.steps())?;
            apply::reread_hosts(b, &mut touched, &plan.steps())
        })
        .unwrap();
    assert!(
        plan::make(&config, &touched, plan::Goal::Converge, &[])
            .unwrap()
            .is_empty()
    );
    let again = world.run(4, |b| apply::observe(&config, b)).unwrap();
    let replan = plan::make(&config, &again, plan::Goal::Converge, &[]).unwrap();
    assert!(replan.is_empty(), "{}", plan::render::human(&replan, false));
    assert_eq!(
        touched.directors[0].as_ref().unwrap().table.services,
        again.directors[0].as_ref().unwrap().table.services
    );
    assert_eq!(
        again.directors[0].as_ref().unwrap().table.services,
        config.desired.services
    );
    // The retired VIP left the host that held it and the director.
    assert!(
        !again.hosts["10.1.0.11"]
            .addresses
            .iter()
            .any(|a| a.address.addr().to_string() == "203.0.113.99")
    );
    assert!(
        !world
            .director
            .facts
            .addresses
            .iter()
            .any(|a| a.address.addr().to_string() == "203.0.113.99")
    );
    assert!(again.hosts["10.1.0.13"].modules.contains("ipip"));
    assert!(lvsform::host::firewall::has_rule(&again.hosts["10.1.0.13"]));
}

/// The configuration, the world before the apply, what lvsform reads of it, and the plan.
fn planned() -> (Config, World, plan::Observed, plan::Plan) {
    let config = config();
    let pristine = world();
    let observed = pristine
        .clone()
        .run(4, |b| apply::observe(&config, b))
        .unwrap();
    let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
    (config, pristine, observed, plan)
}

/// Where step `index` runs, and how many steps ran there before it.
fn backend_of(steps: &[&(plan::Phase, Step)], index: usize) -> Option<(String, usize)> {
    let key = |step: &Step| match step {
        Step::Ipvs { .. } => Some("ipvs".to_string()),
        Step::Host { host, .. } => Some(format!("host {host}")),
        Step::Director(_) => Some("director".to_string()),
        Step::Drain { .. } => None,
    };
    let target = key(&steps[index].1)?;
    let before = steps[..index]
        .iter()
        .filter(|(_, s)| key(s).as_ref() == Some(&target))
        .count();
    Some((target, before))
}

#[test]
fn a_failure_at_every_step_rolls_everything_back() {
    let (config, pristine, observed, plan) = planned();
    let mut checked = 0;
    for index in 0..plan.steps().len() {
        let Some((backend, nth)) = backend_of(&plan.steps(), index) else {
            continue;
        };
        let mut world = pristine.clone();
        match backend.as_str() {
            "ipvs" => world.ipvs.fail_at = Some(nth),
            "director" => world.director.fail_at = Some(nth),
            host => {
                let name = host.trim_start_matches("host ");
                world.host(name).fail_at = Some(nth);
            }
        }
        let failure = world
            .run(3, carry_out(converge(&config, &plan, &observed)))
            .err()
            .unwrap_or_else(|| panic!("step {index} ({backend} #{nth}) should fail"));
        assert!(
            failure.left.is_empty(),
            "step {index}: undo failed: {:?}",
            failure.left
        );
        assert!(
            world.snapshot() == pristine.snapshot(),
            "step {index} ({backend} #{nth}): the world is not as before"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} steps were checked");
}

#[test]
fn destroy_removes_only_what_the_configuration_declares() {
    let config = config();
    let mut world = world();
    let observed = world.run(4, |b| apply::observe(&config, b)).unwrap();
    let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
    world
        .run(4, carry_out(converge(&config, &plan, &observed)))
        .unwrap();
    // An undeclared service appears after the apply.
    let stranger = ServiceKey::Fwmark {
        mark: 9,
        family: Family::Ipv4,
    };
    let rr = ServiceSettings {
        scheduler: Scheduler::Rr,
        flags: Default::default(),
        persistence: None,
        one_packet: false,
    };
    world
        .ipvs
        .apply(&[Change::AddService {
            key: stranger,
            settings: rr,
        }])
        .unwrap();

    let observed = world.run(4, |b| apply::observe(&config, b)).unwrap();
    let plan = plan::make(&config, &observed, plan::Goal::Destroy, &[]).unwrap();
    world
        .run(
            4,
            carry_out(Request {
                goal: Goal::Destroy,
                ..converge(&config, &plan, &observed)
            }),
        )
        .unwrap();
    assert_eq!(
        world
            .ipvs
            .table
            .services
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [stranger]
    );
    assert!(world.hosts.iter().all(|h| {
        !h.facts
            .addresses
            .iter()
            .any(|a| a.interface == "lo" && a.address.addr().to_string() == "203.0.113.10")
    }));
    assert!(world.director.facts.addresses.is_empty());
    // lvsform's firewall rule goes too; the policy stays as it was.
    let tun_host = world.hosts.iter().find(|h| h.name == "10.1.0.13").unwrap();
    assert_eq!(
        tun_host.facts.iptables_input.as_deref(),
        Some("-P INPUT DROP")
    );
    let observed = world.run(4, |b| apply::observe(&config, b)).unwrap();
    assert!(
        plan::make(&config, &observed, plan::Goal::Destroy, &[])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn target_limits_the_plan_to_an_address_and_what_it_needs() {
    let config = config();
    let world = world();
    let observed = world
        .clone()
        .run(4, |b| apply::observe(&config, b))
        .unwrap();
    let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
    let only_dns = plan
        .clone()
        .targeted(&config, &["virtual_server.dns.real_server.c".to_string()]);
    let addresses: Vec<&str> = only_dns
        .changes
        .iter()
        .map(|c| c.address.as_str())
        .collect();
    // The real server, the service it needs, and the host it runs on.
    assert_eq!(
        addresses,
        [
            "virtual_server.dns",
            "virtual_server.dns.real_server.c",
            "host[\"10.1.0.13\"]"
        ]
    );
    assert!(
        only_dns
            .steps()
            .iter()
            .all(|(_, s)| !matches!(s, Step::Host { host, .. } if host != "10.1.0.13"))
    );
    assert!(only_dns.steps().len() < plan.steps().len());
    let none = plan
        .clone()
        .targeted(&config, &["virtual_server.nothing".to_string()]);
    assert!(none.is_empty());
    let all = plan.clone().targeted(&config, &[]);
    assert_eq!(all.steps().len(), plan.steps().len());
}

#[test]
fn a_replace_creates_the_new_service_then_deletes_the_old_one_even_under_target() {
    let config = load(
        r#"
virtual_server "web" {
  vip  = "203.0.113.10"
  port = 8080
  mode = "nat"
  real_server "a" {
    address = "10.1.0.11"
    port    = 80
  }
}

virtual_server "dns" {
  vip      = "203.0.113.53"
  port     = 53
  protocol = "udp"
  mode     = "nat"
  real_server "c" {
    address = "10.1.0.13"
  }
}
"#,
    );
    let old = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10".parse().unwrap(),
        port: 80,
    };
    let mut ipvs = FakeIpvs::default();
    ipvs.apply(&[
        Change::AddService {
            key: old,
            settings: config
                .desired
                .services
                .values()
                .next()
                .unwrap()
                .settings
                .clone(),
        },
        Change::AddDest {
            service: old,
            key: DestinationKey {
                address: "10.1.0.11".parse().unwrap(),
                port: 80,
            },
            dest: Destination {
                forwarding: Forwarding::Nat,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
            },
        },
    ])
    .unwrap();
    let mut world = World {
        ipvs,
        hosts: vec![],
        director: FakeDirector::default(),
    };
    let observed = world.run(1, |b| apply::observe(&config, b)).unwrap();
    let targets = ["virtual_server.web".to_string()];
    let plan = plan::make(&config, &observed, plan::Goal::Converge, &[])
        .unwrap()
        .targeted(&config, &targets);
    let actions: Vec<(&str, Action)> = plan
        .changes
        .iter()
        .map(|c| (c.address.as_str(), c.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("virtual_server.web", Action::Replace),
            ("virtual_server.web.real_server.a", Action::Create)
        ]
    );
    let services: Vec<(plan::Phase, &str)> = plan
        .steps()
        .iter()
        .filter_map(|(phase, s)| match s {
            Step::Ipvs {
                change: Change::AddService { .. },
                ..
            } => Some((*phase, "add")),
            Step::Ipvs {
                change: Change::DelService { .. },
                ..
            } => Some((*phase, "delete")),
            _ => None,
        })
        .collect();
    assert_eq!(
        services,
        [
            (plan::Phase::ServiceUpsert, "add"),
            (plan::Phase::ServiceRemove, "delete")
        ]
    );
    world
        .run(
            1,
            carry_out(Request {
                targets: &targets,
                ..converge(&config, &plan, &observed)
            }),
        )
        .unwrap();
    let keys: Vec<String> = world
        .ipvs
        .table
        .services
        .keys()
        .map(|k| k.to_string())
        .collect();
    // The old service is gone; the untargeted DNS service was not created.
    assert_eq!(keys, ["tcp/203.0.113.10:8080"]);
}

#[test]
fn destroy_refuses_a_service_with_prevent_destroy() {
    let config = load(&CONFIG.replace(
        "  scheduler = \"wrr\"\n",
        "  scheduler = \"wrr\"\n  prevent_destroy = true\n",
    ));
    let mut world = world();
    let messages = refusals(&config, &mut world, Goal::Destroy);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains(
            "main.lvs.hcl:11:15: error: virtual_server.web has prevent_destroy = true, and this plan destroys it"
        ),
        "{messages:?}"
    );
}

/// Remembers an apply's events in words; cancels the apply (as Ctrl-C does) once
/// `cancel_after` batches have finished.
struct Recorder {
    events: Vec<String>,
    cancel: apply::Cancel,
    cancel_after: Option<usize>,
}

impl apply::Progress for Recorder {
    fn event(&mut self, event: apply::Event<'_>) {
        let text = match event {
            apply::Event::Started(batch) => format!("start {batch}"),
            apply::Event::Finished { done, total, .. } => {
                let finished = self.events.iter().filter(|e| e.starts_with("done")).count();
                if self.cancel_after == Some(finished + 1) {
                    self.cancel.cancel();
                }
                format!("done {done}/{total}")
            }
            apply::Event::Verifying => "verifying".into(),
            apply::Event::Failed(error) => format!("failed: {error}"),
            apply::Event::Undone { undo, error } => format!("undone {undo} {error:?}"),
            apply::Event::Probed { probe, .. } => format!("probed {}", probe.server),
        };
        self.events.push(text);
    }
}

impl Recorder {
    fn new(cancel_after: Option<usize>) -> Recorder {
        Recorder {
            events: vec![],
            cancel: apply::Cancel::default(),
            cancel_after,
        }
    }

    /// Applies `plan` to `world` recording its events; the apply must fail.
    fn fail(
        &mut self,
        world: &mut World,
        config: &Config,
        plan: &plan::Plan,
        observed: &plan::Observed,
    ) -> apply::Failure {
        let cancel = self.cancel.clone();
        world
            .run(4, |b| {
                apply::run(converge(config, plan, observed), b, self, &cancel)
            })
            .unwrap_err()
    }

    /// The events from the first that starts with `prefix`, each shortened to its first word.
    fn kinds_from(&self, prefix: &str) -> Vec<&str> {
        let start = self.events.iter().position(|e| e.starts_with(prefix));
        self.events[start.unwrap_or(self.events.len())..]
            .iter()
            .map(|e| e.split([' ', ':']).next().unwrap_or_default())
            .collect()
    }
}

#[test]
fn a_change_that_does_not_stick_fails_verification_and_is_rolled_back() {
    let (config, pristine, observed, plan) = planned();
    // The weight edit of web's real server "a" is acknowledged and has no effect.
    let ipvs_changes: Vec<&Change> = plan
        .steps()
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Ipvs { change, .. } => Some(change),
            _ => None,
        })
        .collect();
    let edit = ipvs_changes
        .iter()
        .position(|c| matches!(c, Change::EditDest { dest, .. } if dest.weight == 5))
        .expect("the plan edits a weight");
    let mut world = pristine.clone();
    world.ipvs.lose_at = Some(edit);
    let mut recorder = Recorder::new(None);
    let failure = recorder.fail(&mut world, &config, &plan, &observed);
    assert!(
        matches!(&failure.error, apply::Error::ChangesRemain { steps: 1, addresses } if addresses.len() == 1),
        "{:?}",
        failure.error
    );
    assert!(failure.left.is_empty(), "{:?}", failure.left);
    assert!(
        world.snapshot() == pristine.snapshot(),
        "rolled back exactly"
    );
    // Every step up to the director's ran before its verification (the real servers'
    // cleanup comes after it); the rollback undid them all.
    let steps = plan.steps().len();
    let cleanup = plan
        .steps()
        .iter()
        .filter(|(phase, step)| {
            *phase == plan::Phase::HostCleanup && matches!(step, Step::Host { .. })
        })
        .count();
    assert!(cleanup > 0, "the plan cleans a host up");
    let done = steps - cleanup;
    assert!(
        recorder.events.contains(&format!("done {done}/{steps}")),
        "{:?}",
        recorder.events
    );
    assert!(
        !recorder
            .events
            .iter()
            .any(|e| e.starts_with(&format!("done {steps}/")))
    );
    let after: Vec<&str> = recorder.kinds_from("verifying");
    assert_eq!(after[..2], ["verifying", "failed"]);
    assert!(after[2..].iter().all(|k| *k == "undone") && after.len() > 2);
    assert!(
        recorder
            .events
            .contains(&"failed: verification failed: 1 changes remain after applying (virtual_server.web.real_server.a)".to_string())
    );
}

/// Real servers that go are all set to weight 0 before any drain waits, so that their
/// drains run as one batch: the longest drain, not the sum of them.
#[test]
fn real_servers_that_go_drain_together() {
    let (config, pristine, observed, plan) = planned();
    let steps = plan.steps();
    let drains: Vec<usize> = (0..steps.len())
        .filter(|i| matches!(steps[*i].1, Step::Drain { .. }))
        .collect();
    assert_eq!(
        drains.len(),
        2,
        "10.1.0.19 leaves web; the stale service goes"
    );
    assert_eq!(drains[1], drains[0] + 1, "consecutive");
    let zeroed = steps[..drains[0]]
        .iter()
        .filter(|(phase, _)| *phase == plan::Phase::Depool)
        .count();
    assert_eq!(zeroed, 2);
    let mut world = pristine.clone();
    let mut recorder = Recorder::new(None);
    let cancel = recorder.cancel.clone();
    world
        .run(4, |b| {
            apply::run(
                converge(&config, &plan, &observed),
                b,
                &mut recorder,
                &cancel,
            )
        })
        .unwrap();
    let drain_batches: Vec<&String> = recorder
        .events
        .iter()
        .filter(|e| e.starts_with("start drain"))
        .collect();
    assert_eq!(drain_batches.len(), 1, "{drain_batches:?}");
    assert!(drain_batches[0].ends_with("(and 1 more)"));
}

#[test]
fn a_cancel_between_batches_stops_the_apply_and_rolls_it_back() {
    let (config, pristine, observed, plan) = planned();
    let mut world = pristine.clone();
    let mut recorder = Recorder::new(Some(2));
    let failure = recorder.fail(&mut world, &config, &plan, &observed);
    assert!(
        matches!(failure.error, apply::Error::Cancelled),
        "{:?}",
        failure.error
    );
    assert!(failure.left.is_empty(), "{:?}", failure.left);
    assert!(
        world.snapshot() == pristine.snapshot(),
        "rolled back exactly"
    );
    let kinds = recorder.kinds_from("start");
    let failed = kinds.iter().position(|k| *k == "failed").unwrap();
    assert_eq!(
        kinds[..failed],
        ["start", "done", "start", "done"],
        "two batches ran, no third began: {:?}",
        recorder.events
    );
    assert!(failed + 1 < kinds.len(), "the rollback undid something");
    assert!(!kinds.contains(&"verifying"));
}

/// The connection to a host breaks while its script runs: every change of that batch is in
/// doubt, so every one is undone (undoing what did not happen changes nothing), and the
/// world is as before.
#[test]
fn a_connection_lost_mid_batch_is_rolled_back_entirely() {
    let (config, pristine, observed, plan) = planned();
    for host in ["10.1.0.11", "10.1.0.13"] {
        let mut world = pristine.clone();
        let fake = world.host(host);
        fake.stall_at = Some(0);
        let failure = world
            .run(4, carry_out(converge(&config, &plan, &observed)))
            .expect_err("the connection broke");
        assert!(
            failure.error.to_string().contains("connection lost"),
            "{}",
            failure.error
        );
        assert!(failure.left.is_empty(), "{:?}", failure.left);
        assert!(
            world.snapshot() == pristine.snapshot(),
            "{host}: rolled back exactly"
        );
    }
}

/// An undo that is acknowledged and has no effect: the rollback is not claimed, and what
/// does not read as before is named.
#[test]
fn a_rollback_that_did_not_restore_everything_says_so() {
    let (config, pristine, observed, plan) = planned();
    // The last host step (a cleanup, after every IPVS step) fails.
    let last = plan
        .steps()
        .iter()
        .rposition(|(_, s)| matches!(s, Step::Host { .. }))
        .expect("host steps");
    let last_ipvs = plan
        .steps()
        .iter()
        .rposition(|(_, s)| matches!(s, Step::Ipvs { .. }))
        .expect("IPVS steps");
    assert!(last > last_ipvs);
    let (backend, nth) = backend_of(&plan.steps(), last).expect("a host step");
    let host = backend.strip_prefix("host ").expect("a host");
    // The rollback's last IPVS change (undoing the first IPVS step) is lost: nothing after
    // it can fail because of it.
    let ipvs: Vec<&Vec<Change>> = plan
        .steps()
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Ipvs { undo, .. } => Some(undo),
            _ => None,
        })
        .collect();
    let undo_changes: usize = ipvs.iter().map(|undo| undo.len()).sum();
    let mut world = pristine.clone();
    world.ipvs.lose_at = Some(ipvs.len() + undo_changes - 1);
    world.host(host).fail_at = Some(nth);
    let failure = world
        .run(4, carry_out(converge(&config, &plan, &observed)))
        .expect_err("the host fails");
    assert!(world.snapshot() != pristine.snapshot());
    assert!(
        failure
            .left
            .items
            .iter()
            .any(|l| l.contains("before the apply")),
        "{:?}",
        failure.left
    );
}

/// A live service with a scheduler this lvsform does not know (a newer kernel's) blocks
/// nothing else: undeclared, it is left alone with a warning; declared, its plan stops with
/// an error at the declaration.
#[test]
fn unknown_schedulers_are_left_alone() {
    let config = config();
    let stranger = ServiceKey::Fwmark {
        mark: 7,
        family: Family::Ipv4,
    };
    let mut world = world();
    world
        .ipvs
        .table
        .unknown_schedulers
        .insert(stranger, "fastest".into());
    let observed = world.run(4, |b| apply::observe(&config, b)).unwrap();
    let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("virtual_server[\"fwmark/7\"] uses `fastest`")),
        "{:?}",
        plan.warnings
    );
    let touches_it = plan.steps().iter().any(|(_, s)| match s {
        Step::Ipvs { change, .. } => change.service() == Some(stranger),
        _ => false,
    });
    assert!(!touches_it);
    assert!(!plan.is_empty(), "the other services are still planned");

    let web = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10".parse().unwrap(),
        port: 80,
    };
    let mut world = world_with(|ipvs| {
        ipvs.table.services.remove(&web);
        ipvs.table.unknown_schedulers.insert(web, "fastest".into());
    });
    let messages = refusals(&config, &mut world, Goal::Converge);
    assert!(
        messages.iter().any(|m| m.contains(
            "error: virtual_server.web is live with scheduler `fastest`, which this lvsform does not know"
        )),
        "{messages:?}"
    );
}

/// The world of `world()`, its IPVS table changed by `change`.
fn world_with(change: impl FnOnce(&mut FakeIpvs)) -> World {
    let mut world = world();
    change(&mut world.ipvs);
    world
}

/// A real server out of lvsform's order and set to weight 0 in the same plan is deleted,
/// added again at weight 0: it counts against max_depool like any zeroed weight.
#[test]
fn a_moved_real_server_set_to_weight_zero_counts_against_max_depool() {
    let config = load(
        r#"
director {
  interface = "eth0"
}

virtual_server "shard" {
  vip        = "203.0.113.30"
  port       = 80
  scheduler  = "sh"
  mode       = "nat"
  max_depool = 0
  real_server "a" {
    address = "10.1.0.11"
    manage  = false
  }
  real_server "b" {
    address = "10.1.0.12"
    weight  = 0
    manage  = false
  }
}
"#,
    );
    let key = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.30".parse().unwrap(),
        port: 80,
    };
    let add = |address: &str| Change::AddDest {
        service: key,
        key: DestinationKey {
            address: address.parse().unwrap(),
            port: 80,
        },
        dest: Destination {
            forwarding: Forwarding::Nat,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
        },
    };
    let mut ipvs = FakeIpvs::default();
    let settings = ServiceSettings {
        scheduler: Scheduler::Sh,
        flags: Default::default(),
        persistence: None,
        one_packet: false,
    };
    // 10.1.0.12 first, so the list reads 10.1.0.11, 10.1.0.12: 10.1.0.12 must move.
    ipvs.apply(&[
        Change::AddService { key, settings },
        add("10.1.0.12"),
        add("10.1.0.11"),
    ])
    .unwrap();
    let mut world = World {
        ipvs,
        hosts: vec![],
        director: FakeDirector::default(),
    };
    let messages = refusals(&config, &mut world, Goal::Converge);
    assert!(
        messages.iter().any(|m| m.contains(
            "virtual_server.shard would remove or zero 1 of its 2 real servers; max_depool allows 0"
        )),
        "{messages:?}"
    );
}

/// The errors, one line each, of a plan for `goal` that `world` makes refuse.
fn refusals(config: &Config, world: &mut World, goal: Goal) -> Vec<String> {
    let observed = world.run(4, |b| apply::observe(config, b)).unwrap();
    let errors = plan::make(config, &observed, goal, &[]).unwrap_err();
    errors.iter().map(|d| d.compact()).collect()
}
