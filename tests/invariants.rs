//! Properties of plan and apply over generated configurations and live states (proptest,
//! in-memory backends): applying a plan reaches the desired state and the next plan is
//! empty; sh/mh services end in lvsform's order of real servers with the fewest real
//! servers deleted and added again; a failure anywhere rolls the world back to exactly
//! where it was.

#[path = "support/fakes.rs"]
mod fakes;

use fakes::{FakeDirector, World, carry_out, converge};
use lvsform::apply;
use lvsform::config::Config;
use lvsform::host::{FakeHost, HostFacts};
use lvsform::ipvs::{Change, FakeIpvs, Ipvs};
use lvsform::model::*;
use lvsform::plan;
use proptest::prelude::*;
use std::collections::BTreeMap;

const VIPS: [&str; 3] = ["203.0.113.10", "203.0.113.11", "203.0.113.12"];
const PORTS: [u16; 2] = [80, 443];
const RIPS: [&str; 4] = ["10.1.0.11", "10.1.0.12", "10.1.0.13", "10.1.0.14"];
const SCHEDULERS: [&str; 5] = ["rr", "wrr", "wlc", "sh", "mh"];

/// One service: (vip, port, scheduler, mode is DR, real servers with weights).
type ServiceSpec = (usize, usize, usize, bool, BTreeMap<usize, u32>);

fn service_spec() -> impl Strategy<Value = ServiceSpec> {
    (
        0..VIPS.len(),
        0..PORTS.len(),
        0..SCHEDULERS.len(),
        any::<bool>(),
        prop::collection::btree_map(0..RIPS.len(), 0u32..4, 0..4),
    )
}

fn services() -> impl Strategy<Value = Vec<ServiceSpec>> {
    prop::collection::vec(service_spec(), 0..4).prop_map(|mut specs| {
        // One service per identity.
        specs.sort_by_key(|s| (s.0, s.1));
        specs.dedup_by_key(|s| (s.0, s.1));
        specs
    })
}

fn hcl(specs: &[ServiceSpec]) -> String {
    let mut text = String::from("director {\n  interface = \"eth0\"\n}\n");
    for (i, (vip, port, scheduler, dr, servers)) in specs.iter().enumerate() {
        text.push_str(&format!(
            "virtual_server \"s{i}\" {{\n  vip = \"{}\"\n  port = {}\n  scheduler = \"{}\"\n  mode = \"{}\"\n  drain = \"{}\"\n",
            VIPS[*vip],
            PORTS[*port],
            SCHEDULERS[*scheduler],
            if *dr { "dr" } else { "nat" },
            // Drains on one port (the fakes do not wait): sh/mh turn fallback on for them.
            if *port == 0 { "0s" } else { "30s" },
        ));
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

fn load(specs: &[ServiceSpec]) -> Config {
    fakes::load(&hcl(specs))
}

/// A live world: the given services in IPVS (DR), their real servers added in an order
/// made from `shuffle`, each real server host with random ARP sysctls and maybe already
/// a VIP on lo.
fn world(live: &[ServiceSpec], sysctls: &[u8], vip_on_lo: &[bool], shuffle: u64) -> World {
    let mut ipvs = FakeIpvs::default();
    for (vip, port, scheduler, _, servers) in live {
        let key = ServiceKey::Address {
            protocol: Protocol::Tcp,
            vip: VIPS[*vip].parse().unwrap(),
            port: PORTS[*port],
        };
        let settings = ServiceSettings {
            scheduler: Scheduler::parse(SCHEDULERS[*scheduler]).unwrap(),
            flags: Default::default(),
            persistence: None,
            one_packet: false,
        };
        let mut changes = vec![Change::AddService { key, settings }];
        let mut servers: Vec<(&usize, &u32)> = servers.iter().collect();
        servers.sort_by_key(|(rip, _)| shuffle.rotate_left(**rip as u32 * 16) & 0xffff);
        for (rip, weight) in servers {
            let dest = Destination {
                forwarding: Forwarding::Dr,
                weight: *weight,
                upper_threshold: 0,
                lower_threshold: 0,
            };
            changes.push(Change::AddDest {
                service: key,
                key: DestinationKey {
                    address: RIPS[*rip].parse().unwrap(),
                    port: PORTS[*port],
                },
                dest,
            });
        }
        ipvs.apply(&changes).unwrap();
    }
    ipvs.applied = 0;
    let hosts = RIPS
        .iter()
        .enumerate()
        .map(|(i, rip)| {
            let mut facts = HostFacts::default();
            for (j, scope) in ["all", "lo"].iter().enumerate() {
                for (k, key) in ["arp_ignore", "arp_announce"].iter().enumerate() {
                    facts.sysctls.insert(
                        format!("net.ipv4.conf.{scope}.{key}"),
                        sysctls[(i * 4 + j * 2 + k) % sysctls.len()].to_string(),
                    );
                }
            }
            if vip_on_lo[i % vip_on_lo.len()] {
                facts.addresses.insert(InterfaceAddress::host(
                    "lo",
                    VIPS[i % VIPS.len()].parse().unwrap(),
                ));
            }
            FakeHost::new(rip, facts)
        })
        .collect();
    // Like a real director, this one has the forwarding sysctl NAT needs (set to 0).
    let mut director = FakeDirector::default();
    director
        .facts
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "0".into());
    World {
        ipvs,
        hosts,
        director,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn applying_a_plan_converges(
        desired in services(),
        live in services(),
        sysctls in prop::collection::vec(0u8..3, 1..8),
        vip_on_lo in prop::collection::vec(any::<bool>(), 1..4),
        shuffle: u64,
    ) {
        let config = load(&desired);
        let mut world = world(&live, &sysctls, &vip_on_lo, shuffle);
        let observed = world.run(3, |b| apply::observe(&config, b)).unwrap();
        let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
        world.run(3, carry_out(converge(&config, &plan, &observed))).unwrap();
        prop_assert_eq!(&world.ipvs.table.services, &config.desired.services);
        for (key, service) in &config.desired.services {
            let moved = moved_real_servers(&plan, &config.services[key].address);
            if service.settings.scheduler.hashes() {
                let canonical: Vec<DestinationKey> = service.canonical_order().copied().collect();
                prop_assert_eq!(&world.ipvs.table.order[key], &canonical);
                let live = observed.directors[0].as_ref().unwrap().table.order.get(key).cloned().unwrap_or_default();
                let fewest = fewest_moves(&live, &canonical);
                prop_assert_eq!(moved, fewest, "{}", plan::render::human(&plan, false));
            } else {
                prop_assert_eq!(moved, 0, "order does not matter to {}", service.settings.scheduler);
            }
        }
        let again = world.run(3, |b| apply::observe(&config, b)).unwrap();
        let replan = plan::make(&config, &again, plan::Goal::Converge, &[]).unwrap();
        prop_assert!(replan.is_empty(), "{}", plan::render::human(&replan, false));
    }

    #[test]
        fn a_failure_anywhere_restores_the_world(
        desired in services(),
        live in services(),
        sysctls in prop::collection::vec(0u8..3, 1..8),
        vip_on_lo in prop::collection::vec(any::<bool>(), 1..4),
        shuffle: u64,
        fail in 0usize..40,
    ) {
        let config = load(&desired);
        let pristine = world(&live, &sysctls, &vip_on_lo, shuffle);
        let observed = pristine.clone().run(3, |b| apply::observe(&config, b)).unwrap();
        let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
        let mut world = pristine.clone();
        // Fail the n-th IPVS change, or the n-th change of a host.
        match fail % 2 {
            0 => world.ipvs.fail_at = Some(fail / 2),
            _ => world.hosts[fail % RIPS.len()].fail_at = Some(fail / 8),
        }
        let result = world.run(3, carry_out(converge(&config, &plan, &observed)));
        match result {
            Ok(_) => prop_assert_eq!(&world.ipvs.table.services, &config.desired.services),
            Err(failure) => {
                prop_assert!(failure.left.is_empty(), "undo failed: {:?}", failure.left);
                prop_assert!(world.snapshot() == pristine.snapshot(), "the world moved after a rollback");
            }
        }
    }

    /// sh/mh refuse the clients of a real server at weight 0 without the fallback flag: no
    /// step of a plan leaves a declared service so unless it was so before the apply
    /// (drains hold the flag on from before a weight is 0 until the real server is gone).
    #[test]
    fn hashing_drains_hold_fallback_on(
        desired in services(),
        live in services(),
        shuffle: u64,
    ) {
        let config = load(&desired);
        let mut world = world(&live, &[0], &[false], shuffle);
        let observed = world.run(3, |b| apply::observe(&config, b)).unwrap();
        let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
        let refusing = |table: &lvsform::ipvs::Table, key: &ServiceKey| {
            table.services.get(key).is_some_and(|s| {
                s.settings.refuses_at_weight_zero() && s.destinations.values().any(|d| d.weight == 0)
            })
        };
        let mut table = observed.directors[0].as_ref().unwrap().table.clone();
        for (_, step) in plan.steps() {
            let plan::Step::Ipvs { change, .. } = step else { continue };
            table_apply(&mut table, change);
            for key in config.desired.services.keys() {
                prop_assert!(
                    !refusing(&table, key) || refusing(&observed.directors[0].as_ref().unwrap().table, key),
                    "{key} refuses clients after {change}"
                );
            }
        }
    }
}

/// The real servers of a service that the plan deletes and adds again.
fn moved_real_servers(plan: &plan::Plan, service: &lvsform::address::Address) -> usize {
    plan.changes
        .iter()
        .filter(|c| {
            c.action == plan::Action::Replace
                && c.address.is_within(service)
                && c.address != *service
        })
        .count()
}

/// The fewest real servers present in `live` (head first) to delete and add again, with
/// the new ones added and the others deleted, so that the list reads `canonical`: by
/// trying every subset, as the kernel would run it (each added one goes to the head).
fn fewest_moves(live: &[DestinationKey], canonical: &[DestinationKey]) -> usize {
    let present: Vec<DestinationKey> = live
        .iter()
        .filter(|d| canonical.contains(d))
        .copied()
        .collect();
    (0..1u32 << present.len())
        .filter(|subset| {
            let mut list: Vec<DestinationKey> = present
                .iter()
                .enumerate()
                .filter(|(i, _)| subset & (1 << i) == 0)
                .map(|(_, d)| *d)
                .collect();
            for d in canonical.iter().rev() {
                if !list.contains(d) {
                    list.insert(0, *d);
                }
            }
            list == canonical
        })
        .map(|subset| subset.count_ones() as usize)
        .min()
        .expect("deleting all of them always works")
}

/// A change applied to a copy of the table, as the fake IPVS does.
fn table_apply(table: &mut lvsform::ipvs::Table, change: &Change) {
    let mut ipvs = FakeIpvs {
        table: table.clone(),
        ..FakeIpvs::default()
    };
    ipvs.apply(std::slice::from_ref(change)).unwrap();
    *table = ipvs.table;
}
