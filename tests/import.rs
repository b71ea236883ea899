//! `lvsform import` round trip (proptest over generated live tables within what the language
//! can declare): the written HCL loads without an error, declares exactly the live
//! services, and a plan against the same table is empty.

use lvsform::config::{self, Inputs};
use lvsform::director::DirectorFacts;
use lvsform::ipvs::FakeIpvs;
use lvsform::model::*;
use lvsform::plan::{self, Observed, ObservedDirector};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

const VIPS: [&str; 4] = [
    "203.0.113.10",
    "203.0.113.11",
    "2001:db8::10",
    "2001:db8::11",
];
const RIPS_V4: [&str; 3] = ["10.1.0.11", "10.1.0.12", "10.1.0.13"];
const RIPS_V6: [&str; 3] = ["2001:db8:1::11", "2001:db8:1::12", "2001:db8:1::13"];

fn tunnel() -> impl Strategy<Value = Tunnel> {
    prop_oneof![
        Just(Tunnel::default()),
        prop_oneof![Just(TunnelChecksum::NoCsum), Just(TunnelChecksum::Csum)].prop_map(
            |checksum| Tunnel {
                kind: TunnelType::Gre,
                port: 0,
                checksum
            }
        ),
        prop::sample::select(
            TunnelChecksum::ALL
                .iter()
                .map(|(_, c)| *c)
                .collect::<Vec<_>>()
        )
        .prop_map(|checksum| Tunnel {
            kind: TunnelType::Gue,
            port: 6080,
            checksum
        }),
    ]
}

/// One destination: forwarding, weight, thresholds, and whether a NAT one maps its port.
fn destination() -> impl Strategy<Value = (Destination, bool)> {
    (
        prop_oneof![
            Just(Forwarding::Nat),
            Just(Forwarding::Dr),
            tunnel().prop_map(Forwarding::Tun)
        ],
        0u32..5,
        prop_oneof![Just((0, 0)), (0u32..50, 50u32..100)],
        any::<bool>(),
    )
        .prop_map(|(forwarding, weight, (lower, upper), mapped)| {
            let dest = Destination {
                forwarding,
                weight,
                upper_threshold: upper,
                lower_threshold: lower,
            };
            (dest, mapped)
        })
}

/// (identity choice, scheduler, flags, persistence, one_packet, destinations by index)
type Spec = (
    (usize, usize, u8, bool),
    Scheduler,
    BTreeSet<SchedulerFlag>,
    Option<(u32, bool, bool)>,
    bool,
    BTreeMap<usize, (Destination, bool)>,
);

fn spec() -> impl Strategy<Value = Spec> {
    (
        (0..VIPS.len(), 0usize..3, 1u8..4, any::<bool>()),
        prop::sample::select(Scheduler::ALL.iter().map(|(_, s)| *s).collect::<Vec<_>>()),
        prop::collection::btree_set(
            prop_oneof![Just(SchedulerFlag::Fallback), Just(SchedulerFlag::Port)],
            0..3,
        ),
        prop::option::of((1u32..2000, any::<bool>(), any::<bool>())),
        any::<bool>(),
        prop::collection::btree_map(0..RIPS_V4.len(), destination(), 0..4),
    )
}

/// A service as the language can declare it, built from a generated spec.
fn service(spec: Spec) -> (ServiceKey, Service) {
    let ((vip, protocol, mark, by_fwmark), scheduler, flags, persistence, one_packet, dests) = spec;
    let mut vip: IpAddr = VIPS[vip].parse().unwrap();
    if by_fwmark && dests.is_empty() {
        // An empty fwmark service has no real server to tell its family: IPv4, as the
        // language takes it.
        vip = VIPS[0].parse().unwrap();
    }
    let protocol = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][protocol];
    let key = if by_fwmark {
        ServiceKey::Fwmark {
            mark: u32::from(mark),
            family: Family::of(&vip),
        }
    } else {
        ServiceKey::Address {
            protocol,
            vip,
            port: 80,
        }
    };
    let rips = if vip.is_ipv4() { RIPS_V4 } else { RIPS_V6 };
    let destinations = dests
        .into_iter()
        .map(|(i, (dest, mapped))| {
            let port = match key {
                ServiceKey::Fwmark { .. } => 0,
                _ if dest.forwarding == Forwarding::Nat && mapped => 8080,
                _ => 80,
            };
            let dkey = DestinationKey {
                address: rips[i].parse().unwrap(),
                port,
            };
            (dkey, dest)
        })
        .collect();
    let settings = ServiceSettings {
        scheduler,
        // Flags belong to the hashing schedulers only.
        flags: if matches!(scheduler, Scheduler::Sh | Scheduler::Mh) {
            flags
        } else {
            BTreeSet::new()
        },
        persistence: persistence.map(|(timeout, narrow, sip)| Persistence {
            timeout,
            netmask: match (vip.is_ipv4(), narrow) {
                (true, true) => IpNetmask::V4("255.255.255.0".parse().unwrap()),
                (true, false) => IpNetmask::V4(std::net::Ipv4Addr::BROADCAST),
                (false, true) => IpNetmask::V6(64),
                (false, false) => IpNetmask::V6(128),
            },
            engine: sip.then(|| "sip".to_string()),
        }),
        one_packet: one_packet
            && !matches!(
                key,
                ServiceKey::Address {
                    protocol: Protocol::Tcp | Protocol::Sctp,
                    ..
                }
            ),
    };
    (
        key,
        Service {
            settings,
            destinations,
        },
    )
}

fn table() -> impl Strategy<Value = lvsform::ipvs::Table> {
    (
        prop::collection::vec(spec(), 0..5),
        prop_oneof![Just((900, 120, 300)), (1u32..2000, 1u32..200, 1u32..600)],
        any::<bool>(),
    )
        .prop_map(|(specs, (tcp, tcp_fin, udp), sync)| {
            // A table as lvsform leaves it: sh/mh with a real server at weight 0 have the
            // fallback flag, real servers are in lvsform's order.
            let mut table = FakeIpvs::default().table;
            for spec in specs {
                let (key, service) = service(spec);
                let service = service.answering_every_client();
                let order = service.canonical_order().copied().collect();
                if !table.services.contains_key(&key) {
                    table.order.insert(key, order);
                    table.services.insert(key, service);
                }
            }
            table.timeouts = Timeouts { tcp, tcp_fin, udp };
            if sync {
                table.sync_daemons.insert(SyncDaemon {
                    state: SyncState::Master,
                    interface: "eth1".into(),
                    syncid: 7,
                });
            }
            table
        })
}

proptest! {
    #[test]
    fn an_imported_table_loads_and_plans_empty(table in table(), manage_hosts: bool) {
        let text = lvsform::import::hcl(&table, manage_hosts, None, &Default::default(), "the live IPVS table");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("imported.lvs.hcl"), &text).unwrap();
        let (config, diags) = config::load(dir.path(), &Inputs::default());
        // Warnings are fine (a live service may have all weights 0, say); errors are not.
        let errors: Vec<String> = diags.0.iter().filter(|d| d.is_error()).map(|d| d.compact()).collect();
        prop_assert!(errors.is_empty(), "{errors:?}\n{text}");
        let config = config.unwrap();
        prop_assert_eq!(&config.desired.services, &table.services, "{}", text);
        // The director as NAT wants it; hosts, when managed, as their services want them.
        let observed = Observed {
            directors: vec![Some(ObservedDirector {
                table: table.clone(),
                settings: DirectorFacts {
                    sysctls: config.directors[0].settings.sysctls.clone(),
                    ..Default::default()
                },
            })],
            hosts: BTreeMap::new(),
        };
        let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
        prop_assert!(plan.is_empty(), "{}\n{}", plan::render::human(&plan, false), text);
        // What `lvsform fmt` would write.
        prop_assert_eq!(lvsform::fmt::format(&text).unwrap(), text);
    }
}

/// A realistic keepalived.conf (the one the lab runs with keepalived, then applies as
/// imported): every service it makes is declared with keepalived's meaning, its checks
/// become `health_check` blocks, lvsform's file for them makes the same services again,
/// and each keyword without an equivalent is a warning on its own file and line.
#[test]
fn a_keepalived_configuration_imports_as_the_services_it_makes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = root.join("tests/lab/configs/keepalived-import/keepalived.conf");
    let imported = lvsform::import::from_keepalived(&source).unwrap();
    let address = |protocol, vip: &str, port| ServiceKey::Address {
        protocol,
        vip: vip.parse().unwrap(),
        port,
    };
    let marked = ServiceKey::Fwmark {
        mark: 7,
        family: Family::Ipv4,
    };
    let keys: Vec<ServiceKey> = imported.services.keys().copied().collect();
    let mut expected = vec![
        address(Protocol::Tcp, "203.0.113.20", 80),
        address(Protocol::Tcp, "203.0.113.21", 80),
        address(Protocol::Tcp, "203.0.113.22", 80),
        address(Protocol::Udp, "203.0.113.30", 53),
        marked,
    ];
    expected.sort();
    assert_eq!(
        keys, expected,
        "a group of three, UDP by keepalived's default, a fwmark"
    );
    let dns = &imported.services[&address(Protocol::Udp, "203.0.113.30", 53)];
    assert!(
        dns.destinations
            .values()
            .all(|d| d.forwarding == Forwarding::Nat),
        "no lb_kind is NAT"
    );
    let hashed = &imported.services[&marked].settings;
    assert_eq!(
        hashed.flags,
        BTreeSet::from([SchedulerFlag::Fallback]),
        "sh-port before lb_algo is ignored, as keepalived does"
    );
    assert_eq!(imported.checks.len(), 5);

    let dir = tempfile::tempdir().unwrap();
    let text = lvsform::import::hcl(&imported.table(), false, None, &imported.checks, "a test");
    std::fs::write(dir.path().join("imported.lvs.hcl"), &text).unwrap();
    let (config, diags) = config::load(dir.path(), &Inputs::default());
    let config = config.unwrap_or_else(|| {
        panic!(
            "{text}\n{:?}",
            diags.0.iter().map(|d| d.compact()).collect::<Vec<_>>()
        )
    });
    assert_eq!(config.desired.services, imported.services, "{text}");
    let checked: BTreeMap<ServiceKey, (Service, lvsform::keepalived::HealthCheck)> = config
        .desired
        .services
        .iter()
        .map(|(key, service)| {
            let check = config.services[key]
                .health_check
                .clone()
                .expect("every service is checked");
            assert_eq!(check, imported.checks[key]);
            (*key, (service.clone(), check))
        })
        .collect();
    let file = lvsform::keepalived::render::render(&checked, None).unwrap();
    let remade: BTreeMap<ServiceKey, Service> = lvsform::keepalived::conf::services(&file)
        .into_iter()
        .map(|(key, (service, _))| (key, service))
        .collect();
    assert_eq!(
        remade, imported.services,
        "lvsform's file makes what keepalived made"
    );

    let warnings: Vec<(String, usize)> = imported
        .warnings
        .iter()
        .map(|w| {
            let (file, line, _) = w.position().unwrap();
            (file.rsplit('/').next().unwrap().to_string(), line)
        })
        .collect();
    assert_eq!(
        warnings,
        [
            ("keepalived.conf".to_string(), 4),
            ("other.conf".to_string(), 24),
            ("web.conf".to_string(), 8),
            ("web.conf".to_string(), 9),
            ("web.conf".to_string(), 17),
        ],
        "global_defs, sh-port before lb_algo, a group's granularity, sorry_server, digest"
    );
}
