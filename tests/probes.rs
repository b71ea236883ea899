//! Probes at apply (SPEC §9) against the in-memory backends: which probes a plan lists,
//! that a server refusing its direct probe stops the apply before any change, and that a
//! failure through the VIP rolls the whole apply back. The real path (a temporary fwmark
//! service, the director's own connection through IPVS) is proven in the lab
//! (tests/lab/vm/probes.sh).

#[path = "support/fakes.rs"]
mod fakes;

use fakes::{FakeDirector, World, carry_out, converge};
use lvsform::apply::{self, Error};
use lvsform::config::Config;
use lvsform::host::FakeHost;
use lvsform::ipvs::{Change, FakeIpvs, Ipvs};
use lvsform::model::*;
use lvsform::plan;

const CONFIG: &str = r#"
director {
  interface = "eth0"
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  scheduler = "wrr"
  mode      = "dr"
  probe {
    http {
      path = "/health"
    }
    timeout = "500ms"
  }
  real_server "a" {
    address = "10.1.0.11"
    weight  = 5
  }
  real_server "b" {
    address = "10.1.0.12"
  }
  real_server "c" {
    address = "10.1.0.13"
    weight  = 0
  }
  real_server "d" {
    address = "10.1.0.14"
  }
  real_server "e" {
    address = "10.1.0.15"
  }
}

virtual_server "api" {
  vip  = "203.0.113.10"
  port = 443
  mode = "dr"
  real_server "a" {
    address = "10.1.0.11"
  }
}
"#;

fn config() -> Config {
    fakes::load(CONFIG)
}

fn server(last: u8, port: u16) -> DestinationKey {
    DestinationKey {
        address: format!("10.1.0.{last}").parse().unwrap(),
        port,
    }
}

/// Live: web with a at weight 1 (raised to 5), d at weight 0 (raised to 1), e as
/// declared; b is new, c is new at weight 0; api is new.
fn world() -> World {
    let mut ipvs = FakeIpvs::default();
    let web = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10".parse().unwrap(),
        port: 80,
    };
    let dest = |weight| Destination {
        forwarding: Forwarding::Dr,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
    };
    let settings = ServiceSettings {
        scheduler: Scheduler::Wrr,
        flags: Default::default(),
        persistence: None,
        one_packet: false,
    };
    let mut changes = vec![Change::AddService { key: web, settings }];
    for (last, weight) in [(11, 1), (14, 0), (15, 1)] {
        changes.push(Change::AddDest {
            service: web,
            key: server(last, 80),
            dest: dest(weight),
        });
    }
    ipvs.apply(&changes).unwrap();
    ipvs.applied = 0;
    World {
        ipvs,
        hosts: Vec::<FakeHost>::new(),
        director: FakeDirector::default(),
    }
}

/// The configuration, the world before the apply, what lvsform reads of it, and the
/// plan (the director's alone: no real server is a managed host).
fn planned() -> (Config, World, plan::Observed, plan::Plan) {
    let config = config();
    let pristine = world();
    let observed = pristine
        .clone()
        .run(2, |b| apply::observe(&config, b))
        .unwrap();
    let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
    (config, pristine, observed, plan)
}

#[test]
fn the_plan_lists_a_probe_for_each_server_that_will_carry_new_traffic() {
    let (_, _, _, plan) = planned();
    let probes: Vec<(String, bool)> = plan
        .probes
        .iter()
        .map(|p| (p.server.to_string(), p.gate))
        .collect();
    // a changes weight (through the VIP only), b is new and d leaves weight 0 (directly
    // first); c stays at weight 0, e is unchanged, api has no probe.
    assert_eq!(
        probes,
        [
            ("10.1.0.11:80".to_string(), false),
            ("10.1.0.12:80".to_string(), true),
            ("10.1.0.14:80".to_string(), true),
        ]
    );
    let text = plan::render::human(&plan, false);
    assert!(
        text.contains("\n  - 10.1.0.12:80 (virtual_server.web.real_server.b): HTTP GET /health answering 200, directly, then through 203.0.113.10:80 (dr), within 500ms\n"),
        "{text}"
    );
    let json = plan::render::json(&plan);
    assert_eq!(json["probes"][1]["server"], "10.1.0.12:80");
    assert_eq!(json["probes"][1]["check"]["path"], "/health");
    assert_eq!(json["probes"][0]["direct_first"], false);
    assert!(
        plan::markdown::markdown(&plan)
            .contains("- 10.1.0.14:80 (virtual_server.web.real_server.d): HTTP GET")
    );
}

#[test]
fn a_server_refusing_its_direct_probe_stops_the_apply_before_any_change() {
    let (config, pristine, observed, plan) = planned();
    let mut world = pristine.clone();
    world.director.refusing.insert((server(14, 80), false));
    let failure = world
        .run(2, carry_out(converge(&config, &plan, &observed)))
        .unwrap_err();
    let Error::Probes(failures) = &failure.error else {
        panic!("{:?}", failure.error)
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].probe.server, server(14, 80));
    assert!(!failures[0].through);
    assert!(
        failures[0].to_string().starts_with(
            "probe of 10.1.0.14:80 (virtual_server.web.real_server.d) directly: connection refused"
        ),
        "{}",
        failures[0]
    );
    // Both servers that start getting traffic were probed, nothing else ran.
    let probed: Vec<_> = world
        .director
        .probed
        .iter()
        .map(|r| (r.server, r.through.is_some()))
        .collect();
    assert_eq!(probed, [(server(12, 80), false), (server(14, 80), false)]);
    assert_eq!(world.ipvs.applied, 0);
    assert!(failure.left.is_empty());
    assert!(world.snapshot() == pristine.snapshot());
}

#[test]
fn a_healthy_apply_probes_directly_first_and_through_the_vip_after_the_changes() {
    let (config, pristine, observed, plan) = planned();
    let mut world = pristine.clone();
    world
        .run(2, carry_out(converge(&config, &plan, &observed)))
        .unwrap();
    let probed: Vec<_> = world
        .director
        .probed
        .iter()
        .map(|r| (r.server, r.through.is_some()))
        .collect();
    assert_eq!(
        probed,
        [
            (server(12, 80), false),
            (server(14, 80), false),
            (server(11, 80), true),
            (server(12, 80), true),
            (server(14, 80), true),
        ]
    );
    let through = world.director.probed[2].through.unwrap();
    assert_eq!(through.vip.to_string(), "203.0.113.10");
    assert_eq!((through.port, through.forwarding), (80, Forwarding::Dr));
}

#[test]
fn a_server_failing_through_the_vip_rolls_the_whole_apply_back() {
    let (config, pristine, observed, plan) = planned();
    let mut world = pristine.clone();
    world.director.refusing.insert((server(12, 80), true));
    let failure = world
        .run(2, carry_out(converge(&config, &plan, &observed)))
        .unwrap_err();
    let Error::Probes(failures) = &failure.error else {
        panic!("{:?}", failure.error)
    };
    assert!(failures[0].through);
    let help = miette::Diagnostic::help(&failure.error)
        .unwrap()
        .to_string();
    assert!(help.contains("must hold the VIP on `lo`"), "{help}");
    // The probes stop at the first failure: d was not probed through the VIP.
    assert_eq!(world.director.probed.len(), 4);
    assert!(failure.left.is_empty(), "{:?}", failure.left);
    assert!(world.ipvs.applied > 0);
    assert!(world.snapshot() == pristine.snapshot());
}

#[test]
fn a_saved_plan_whose_probes_differ_is_not_the_plan_made_again() {
    let (_, _, _, plan) = planned();
    let mut other = plan.clone();
    other.probes[0].probe.timeout = std::time::Duration::from_secs(1);
    assert_eq!(
        lvsform::planfile::differences(&plan, &other),
        ["its probes"]
    );
    assert!(lvsform::planfile::differences(&plan, &plan.clone()).is_empty());
}

#[test]
fn probes_follow_their_servers_under_target() {
    let (config, _, _, plan) = planned();
    let targeted = plan.targeted(&config, &["virtual_server.web.real_server.b".to_string()]);
    let servers: Vec<_> = targeted.probes.iter().map(|p| p.server).collect();
    assert_eq!(servers, [server(12, 80)]);
}
