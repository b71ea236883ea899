//! The netlink IPVS backend against a real kernel, cross-checked with ipvsadm.
//!
//! The host kernel here has no IPVS, so these tests are ignored by a plain `cargo test` and
//! run inside the lab VM by `tests/lab/kernel-tests.sh` (part of `scripts/test`) with
//! `--include-ignored`. They change the VM's IPVS table, so they run one at a time.

use lvsform::agent::{
    self, Hello, Request, Response, TableParts, WireTable, read_frame, write_frame,
};
use lvsform::ipvs::{Change, Ipvs, IpvsError, NetlinkIpvs};
use lvsform::model::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Mutex;

const LAB: &str = "needs a kernel with IPVS: run in the lab VM by tests/lab/kernel-tests.sh";

/// Tests share the one IPVS table of the VM.
static TABLE: Mutex<()> = Mutex::new(());

fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("ipvsadm")
        .args(args)
        .output()
        .expect("ipvsadm");
    assert!(
        out.status.success(),
        "ipvsadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ipvsadm_stdin(args: &[&str], input: &str) {
    use std::io::Write;
    let mut child = Command::new("ipvsadm")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("ipvsadm");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "ipvsadm {args:?} failed");
}

/// Runs a command whose failure is expected at times (nothing to stop, already there).
fn quiet(argv: &[&str]) {
    let _ = Command::new(argv[0])
        .args(&argv[1..])
        .stderr(std::process::Stdio::null())
        .status();
}

fn reset() {
    ipvsadm(&["-C"]);
    for state in ["master", "backup"] {
        quiet(&["ipvsadm", "--stop-daemon", state]);
    }
    ipvsadm(&["--set", "900", "120", "300"]);
    quiet(&["ip", "link", "add", "sync0", "type", "dummy"]);
    Command::new("ip")
        .args(["link", "set", "sync0", "up", "multicast", "on"])
        .status()
        .unwrap();
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn settings(scheduler: Scheduler) -> ServiceSettings {
    ServiceSettings {
        scheduler,
        flags: BTreeSet::new(),
        persistence: None,
        one_packet: false,
    }
}

fn dest(forwarding: Forwarding, weight: u32) -> Destination {
    Destination {
        forwarding,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

fn dkey(address: &str, port: u16) -> DestinationKey {
    DestinationKey {
        address: ip(address),
        port,
    }
}

/// A table that uses every feature lvsform manages.
fn mixed_table() -> BTreeMap<ServiceKey, Service> {
    let mut services = BTreeMap::new();
    let web = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: ip("203.0.113.10"),
        port: 80,
    };
    let mut thresholds = dest(Forwarding::Dr, 3);
    thresholds.upper_threshold = 1000;
    thresholds.lower_threshold = 800;
    services.insert(
        web,
        Service {
            settings: settings(Scheduler::Wrr),
            destinations: BTreeMap::from([
                (dkey("10.1.0.11", 80), thresholds),
                (dkey("10.1.0.12", 80), dest(Forwarding::Dr, 0)),
            ]),
        },
    );
    let sip = ServiceKey::Address {
        protocol: Protocol::Udp,
        vip: ip("203.0.113.11"),
        port: 5060,
    };
    services.insert(
        sip,
        Service {
            settings: ServiceSettings {
                persistence: Some(Persistence {
                    timeout: 120,
                    netmask: IpNetmask::V4(Ipv4Addr::new(255, 255, 255, 0)),
                    engine: Some("sip".into()),
                }),
                one_packet: true,
                ..settings(Scheduler::Wlc)
            },
            destinations: BTreeMap::from([(dkey("10.1.0.21", 5080), dest(Forwarding::Nat, 2))]),
        },
    );
    let sctp = ServiceKey::Address {
        protocol: Protocol::Sctp,
        vip: ip("203.0.113.12"),
        port: 3868,
    };
    services.insert(
        sctp,
        Service {
            settings: ServiceSettings {
                flags: BTreeSet::from([SchedulerFlag::Fallback, SchedulerFlag::Port]),
                ..settings(Scheduler::Sh)
            },
            destinations: BTreeMap::from([(dkey("10.1.0.31", 3868), dest(Forwarding::Dr, 1))]),
        },
    );
    let v6 = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: ip("2001:db8::10"),
        port: 443,
    };
    let gue = Tunnel {
        kind: TunnelType::Gue,
        port: 6080,
        checksum: TunnelChecksum::Csum,
    };
    let gre = Tunnel {
        kind: TunnelType::Gre,
        port: 0,
        checksum: TunnelChecksum::NoCsum,
    };
    services.insert(
        v6,
        Service {
            settings: ServiceSettings {
                flags: BTreeSet::from([SchedulerFlag::Port]),
                persistence: Some(Persistence {
                    timeout: 600,
                    netmask: IpNetmask::V6(64),
                    engine: None,
                }),
                ..settings(Scheduler::Mh)
            },
            destinations: BTreeMap::from([
                (dkey("2001:db8:1::11", 443), dest(Forwarding::Tun(gue), 1)),
                (dkey("2001:db8:1::12", 443), dest(Forwarding::Tun(gre), 1)),
                (dkey("2001:db8:1::13", 443), dest(Forwarding::Dr, 5)),
            ]),
        },
    );
    let mark = ServiceKey::Fwmark {
        mark: 10,
        family: Family::Ipv4,
    };
    services.insert(
        mark,
        Service {
            settings: ServiceSettings {
                persistence: Some(Persistence {
                    timeout: 300,
                    netmask: IpNetmask::V4(Ipv4Addr::BROADCAST),
                    engine: None,
                }),
                ..settings(Scheduler::Rr)
            },
            destinations: BTreeMap::from([(
                dkey("10.1.0.41", 0),
                dest(Forwarding::Tun(Tunnel::default()), 1),
            )]),
        },
    );
    let mark6 = ServiceKey::Fwmark {
        mark: 11,
        family: Family::Ipv6,
    };
    services.insert(
        mark6,
        Service {
            settings: settings(Scheduler::Lc),
            destinations: BTreeMap::from([(dkey("2001:db8:1::51", 0), dest(Forwarding::Dr, 1))]),
        },
    );
    services
}

/// The same table as ipvsadm rules (`ipvsadm -R` input).
const MIXED_RULES: &str = "\
-A -t 203.0.113.10:80 -s wrr
-a -t 203.0.113.10:80 -r 10.1.0.11:80 -g -w 3 -x 1000 -y 800
-a -t 203.0.113.10:80 -r 10.1.0.12:80 -g -w 0
-A -u 203.0.113.11:5060 -s wlc -o -p 120 -M 255.255.255.0 --pe sip
-a -u 203.0.113.11:5060 -r 10.1.0.21:5080 -m -w 2
-A --sctp-service 203.0.113.12:3868 -s sh -b sh-fallback,sh-port
-a --sctp-service 203.0.113.12:3868 -r 10.1.0.31:3868 -g -w 1
-A -t [2001:db8::10]:443 -s mh -b mh-port -p 600 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:443 -i --tun-type gue --tun-port 6080 --tun-csum -w 1
-a -t [2001:db8::10]:443 -r [2001:db8:1::12]:443 -i --tun-type gre -w 1
-a -t [2001:db8::10]:443 -r [2001:db8:1::13]:443 -g -w 5
-A -f 10 -s rr -p 300
-a -f 10 -r 10.1.0.41:0 -i -w 1
-A -f 11 -6 -s lc
-a -f 11 -6 -r [2001:db8:1::51]:0 -g -w 1
";

/// Every change that builds `services` from an empty table.
fn build_changes(services: &BTreeMap<ServiceKey, Service>) -> Vec<Change> {
    let mut changes = Vec::new();
    for (key, service) in services {
        changes.push(Change::AddService {
            key: *key,
            settings: service.settings.clone(),
        });
        for (dk, d) in &service.destinations {
            changes.push(Change::AddDest {
                service: *key,
                key: *dk,
                dest: d.clone(),
            });
        }
    }
    changes
}

/// `ipvsadm -Sn` lines, sorted (its order follows the kernel's hash table).
fn saved_rules() -> Vec<String> {
    let mut lines: Vec<String> = ipvsadm(&["-Sn"]).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the lab VM by tests/lab/kernel-tests.sh"]
fn a_table_written_by_lvsform_is_what_ipvsadm_lists() {
    let _lock = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reset();
    let mut ipvs = NetlinkIpvs::connect().expect(LAB);
    let table = mixed_table();
    ipvs.apply(&build_changes(&table)).expect("apply");
    let ours = saved_rules();
    ipvsadm(&["-C"]);
    ipvsadm_stdin(&["-R"], MIXED_RULES);
    assert_eq!(
        ours,
        saved_rules(),
        "lvsform's table differs from ipvsadm's for the same rules"
    );
    assert_eq!(ours.len(), MIXED_RULES.lines().count());
}

/// The kernel puts each new real server at the head of its service's list, and a dump
/// returns the list in order: lvsform reads it as `Table.order`, and the fake IPVS the
/// planner tests run on keeps it the same way.
#[test]
#[ignore = "needs a kernel with IPVS: run in the lab VM by tests/lab/kernel-tests.sh"]
fn the_order_of_real_servers_is_read_as_the_kernel_keeps_it() {
    let _lock = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reset();
    let key = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: ip("203.0.113.40"),
        port: 80,
    };
    let add = |address: &str| Change::AddDest {
        service: key,
        key: dkey(address, 80),
        dest: dest(Forwarding::Nat, 1),
    };
    let changes = vec![
        Change::AddService {
            key,
            settings: settings(Scheduler::Mh),
        },
        add("10.1.0.12"),
        add("10.1.0.11"),
        add("10.1.0.13"),
        Change::DelDest {
            service: key,
            key: dkey("10.1.0.12", 80),
        },
        add("10.1.0.12"),
    ];
    let mut ipvs = NetlinkIpvs::connect().expect(LAB);
    ipvs.apply(&changes).expect("apply");
    let mut fake = lvsform::ipvs::FakeIpvs::default();
    fake.apply(&changes).expect("the fake takes it");
    let expected: Vec<DestinationKey> = ["10.1.0.12", "10.1.0.13", "10.1.0.11"]
        .iter()
        .map(|a| dkey(a, 80))
        .collect();
    assert_eq!(ipvs.observe().expect("observe").order[&key], expected);
    assert_eq!(fake.observe().unwrap().order[&key], expected);
    let listed: Vec<String> = ipvsadm(&["-Ln", "--nosort", "-t", "203.0.113.40:80"])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-> 10.1.0."))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        listed,
        ["12:80", "13:80", "11:80"],
        "as ipvsadm --nosort lists it"
    );
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the lab VM by tests/lab/kernel-tests.sh"]
fn a_table_written_by_ipvsadm_is_read_back_exactly() {
    let _lock = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reset();
    ipvsadm_stdin(&["-R"], MIXED_RULES);
    ipvsadm(&["--set", "1000", "100", "200"]);
    ipvsadm(&[
        "--start-daemon",
        "master",
        "--mcast-interface",
        "sync0",
        "--syncid",
        "7",
    ]);
    let mut ipvs = NetlinkIpvs::connect().expect(LAB);
    let table = ipvs.observe().expect("observe");
    let expected = mixed_table();
    for (key, service) in &expected {
        assert_eq!(table.services.get(key), Some(service), "{key}");
    }
    assert_eq!(table.services.len(), expected.len());
    assert_eq!(
        table.timeouts,
        Timeouts {
            tcp: 1000,
            tcp_fin: 100,
            udp: 200
        }
    );
    assert_eq!(
        table.sync_daemons.into_iter().collect::<Vec<_>>(),
        [SyncDaemon {
            state: SyncState::Master,
            interface: "sync0".into(),
            syncid: 7
        }]
    );
    assert_eq!(table.info.version_text(), "1.2.1");
    assert!(table.info.conn_tab_size > 0);
    let counters = table.counters[&(*expected.keys().next().unwrap(), dkey("10.1.0.11", 80))];
    assert_eq!((counters.active, counters.inactive), (0, 0));
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the lab VM by tests/lab/kernel-tests.sh"]
fn edits_timeouts_daemons_and_deletes_take_effect() {
    let _lock = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reset();
    let mut ipvs = NetlinkIpvs::connect().expect(LAB);
    let mut table = mixed_table();
    ipvs.apply(&build_changes(&table)).expect("build");
    let web = *table.keys().next().unwrap();
    let new_settings = ServiceSettings {
        scheduler: Scheduler::Lc,
        ..table[&web].settings.clone()
    };
    let mut edited = table[&web].destinations[&dkey("10.1.0.12", 80)].clone();
    edited.weight = 7;
    let daemon = SyncDaemon {
        state: SyncState::Backup,
        interface: "sync0".into(),
        syncid: 3,
    };
    ipvs.apply(&[
        Change::EditService {
            key: web,
            settings: new_settings.clone(),
        },
        Change::EditDest {
            service: web,
            key: dkey("10.1.0.12", 80),
            dest: edited.clone(),
        },
        Change::DelDest {
            service: web,
            key: dkey("10.1.0.11", 80),
        },
        Change::SetTimeouts(Timeouts {
            tcp: 60,
            tcp_fin: 30,
            udp: 20,
        }),
        Change::StartDaemon(daemon.clone()),
    ])
    .expect("edits");
    let observed = ipvs.observe().unwrap();
    let service = table.get_mut(&web).unwrap();
    service.settings = new_settings;
    service.destinations.remove(&dkey("10.1.0.11", 80));
    service.destinations.insert(dkey("10.1.0.12", 80), edited);
    assert_eq!(observed.services, table);
    assert_eq!(
        observed.timeouts,
        Timeouts {
            tcp: 60,
            tcp_fin: 30,
            udp: 20
        }
    );
    assert!(ipvsadm(&["-Ln", "--timeout"]).contains("Timeout (tcp tcpfin udp): 60 30 20"));
    assert!(observed.sync_daemons.contains(&daemon));
    assert!(ipvsadm(&["-Ln", "--daemon"]).contains("backup sync daemon (mcast=sync0, syncid=3"));

    let deletes: Vec<Change> = table
        .keys()
        .map(|key| Change::DelService { key: *key })
        .collect();
    ipvs.apply(&deletes).expect("delete");
    ipvs.apply(&[Change::StopDaemon(daemon)]).expect("stop");
    let observed = ipvs.observe().unwrap();
    assert!(observed.services.is_empty() && observed.sync_daemons.is_empty());
    assert_eq!(ipvsadm(&["-Sn"]), "");
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the lab VM by tests/lab/kernel-tests.sh"]
fn kernel_rejections_name_the_change_and_spare_the_rest() {
    let _lock = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reset();
    let mut ipvs = NetlinkIpvs::connect().expect(LAB);
    let table = mixed_table();
    let web = *table.keys().next().unwrap();
    let missing = ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: ip("198.51.100.1"),
        port: 80,
    };
    let mut changes = build_changes(&table);
    changes.insert(
        1,
        Change::AddService {
            key: web,
            settings: settings(Scheduler::Rr),
        },
    );
    changes.push(Change::AddDest {
        service: missing,
        key: dkey("10.9.9.9", 80),
        dest: dest(Forwarding::Dr, 1),
    });
    changes.push(Change::DelDest {
        service: web,
        key: dkey("10.9.9.9", 80),
    });
    let error = ipvs.apply(&changes).expect_err("three changes must fail");
    let failed: Vec<(usize, String)> = error
        .failed
        .iter()
        .map(|(i, e)| (*i, e.to_string()))
        .collect();
    let last = changes.len() - 1;
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(failed[0].0, 1);
    assert!(
        failed[0].1.starts_with(
            "the kernel refused to add service tcp/203.0.113.10:80: it already exists"
        ),
        "{}",
        failed[0].1
    );
    assert_eq!(failed[1].0, last - 1);
    assert!(
        failed[1]
            .1
            .contains("add real server 10.9.9.9:80 to tcp/198.51.100.1:80: no such service"),
        "{}",
        failed[1].1
    );
    assert_eq!(failed[2].0, last);
    assert!(
        failed[2].1.contains("no such real server"),
        "{}",
        failed[2].1
    );
    // Every other change took effect.
    assert_eq!(ipvs.observe().unwrap().services, table);
    assert!(matches!(
        error.failed[0].1,
        IpvsError::Rejected {
            errno: libc::EEXIST,
            ..
        }
    ));
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the lab VM by tests/lab/kernel-tests.sh"]
fn large_batches_are_acknowledged_completely() {
    let _lock = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reset();
    let mut ipvs = NetlinkIpvs::connect().expect(LAB);
    let mut table = BTreeMap::new();
    for s in 0..20u16 {
        let key = ServiceKey::Address {
            protocol: Protocol::Tcp,
            vip: ip("203.0.113.100"),
            port: 1000 + s,
        };
        let destinations = (0..250u32)
            .map(|d| {
                (
                    DestinationKey {
                        address: IpAddr::V4(Ipv4Addr::from(0x0a02_0000 + d)),
                        port: 1000 + s,
                    },
                    dest(Forwarding::Dr, d % 7),
                )
            })
            .collect();
        table.insert(
            key,
            Service {
                settings: settings(Scheduler::Rr),
                destinations,
            },
        );
    }
    ipvs.apply(&build_changes(&table)).expect("5,020 changes");
    assert_eq!(ipvs.observe().unwrap().services, table);
    assert_eq!(ipvsadm(&["-Sn"]).lines().count(), 20 * 251);
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the lab VM by tests/lab/kernel-tests.sh"]
fn a_large_table_reads_the_same_on_one_socket_and_on_several() {
    let _lock = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reset();
    let mut ipvs = NetlinkIpvs::connect().expect(LAB);
    // 600 services: more than two sockets' share (256 each), so four sockets read it.
    let table: BTreeMap<ServiceKey, Service> = (0..600u16)
        .map(|s| {
            let key = ServiceKey::Address {
                protocol: Protocol::Udp,
                vip: ip("203.0.113.101"),
                port: 2000 + s,
            };
            let destinations = (0..3u32)
                .map(|d| {
                    let address = IpAddr::V4(Ipv4Addr::from(0x0a03_0000 + u32::from(s) * 4 + d));
                    (
                        DestinationKey { address, port: 53 },
                        dest(Forwarding::Nat, d + 1),
                    )
                })
                .collect();
            let service = Service {
                settings: settings(Scheduler::Wrr),
                destinations,
            };
            (key, service)
        })
        .collect();
    ipvs.apply(&build_changes(&table)).expect("2,400 changes");
    ipvs.dump_sockets = 1;
    let one = ipvs.observe().unwrap();
    ipvs.dump_sockets = 4;
    let several = ipvs.observe().unwrap();
    assert_eq!(one.services, table);
    assert_eq!(several.services, table);
    assert_eq!(several.counters.len(), 600 * 3);
    assert_eq!(ipvsadm(&["-Sn"]).lines().count(), 600 * 4);

    // In parts, as a remote director sends it: from four sockets at once, their union is
    // the table.
    let parts = Mutex::new(TableParts::default());
    let count = std::sync::atomic::AtomicUsize::new(0);
    ipvs.observe_in_parts(None, 64, &|part| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        parts.lock().unwrap().add(WireTable::from(&part)).unwrap();
        Ok(())
    })
    .unwrap();
    // The first part, then 600 services in parts of at most 64.
    assert!(count.into_inner() > 10);
    assert_eq!(parts.into_inner().unwrap().finish().unwrap(), several);

    // And through `lvsform agent` itself: its hello, the parts, then `Done`; the same
    // table, or only the services asked for.
    let only: BTreeSet<ServiceKey> = table.keys().take(100).copied().collect();
    for only in [None, Some(only)] {
        let mut request = Vec::new();
        let read = Request::ReadTable {
            only: only.clone(),
            load_ipvs: false,
        };
        write_frame(&mut request, &read).unwrap();
        let mut answer = Vec::new();
        agent::serve(request.as_slice(), &mut answer).unwrap();
        let mut frames = answer.as_slice();
        assert_eq!(
            read_frame::<Hello>(&mut frames).unwrap(),
            Some(Hello::ours())
        );
        let mut parts = TableParts::default();
        loop {
            match read_frame::<Response>(&mut frames).unwrap() {
                Some(Response::TablePart(part)) => parts.add(*part).unwrap(),
                Some(Response::Done) => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(read_frame::<Response>(&mut frames).unwrap().is_none());
        let expected = ipvs.observe_some(only.as_ref()).unwrap();
        let with_servers = expected.services.values();
        let read = with_servers.filter(|s| !s.destinations.is_empty()).count();
        assert_eq!(read, only.as_ref().map_or(600, BTreeSet::len));
        assert_eq!(parts.finish().unwrap(), expected);
    }
}

/// Tunnel settings over SSH on the lab's first real server (rs1, 10.1.0.11): ipip, tunl0
/// and rp_filter exist only in the VM's kernel. Runs after tests/lab/vm/checks/traffic.sh
/// has built the topology (tests/lab/vm/checks/tunnel-hosts.sh).
#[test]
#[ignore = "needs the lab topology: run in the lab VM by tests/lab/kernel-tests.sh"]
fn lab_host_tunnel_settings_over_ssh() {
    use lvsform::host::SshTarget;
    use lvsform::host::{Host, HostChange, SshHost};
    let target = SshTarget {
        host: "10.1.0.11".into(),
        port: 22,
        user: "root".into(),
        private_key: Some("/lab/ssh/id_ed25519".into()),
        agent: false,
        known_hosts: "/lab/ssh/known_hosts".into(),
        sudo: false,
        timeout: std::time::Duration::from_secs(10),
        strict_host_key_checking: true,
    };
    let in_rs1 = |argv: &[&str]| {
        let out = Command::new("ip")
            .args(["netns", "exec", "rs1"])
            .args(argv)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    in_rs1(&["ip", "link", "set", "tunl0", "down"]); // the traffic checks left it up
    let mut host = SshHost::new(target);
    let before = host.observe().expect("rs1 over SSH");
    assert!(
        before.modules.contains("ipip"),
        "the lab loads ipip at boot"
    );
    assert_eq!(before.links.get("tunl0"), Some(&false));
    let vip = lvsform::model::InterfaceAddress::host("tunl0", ip("203.0.113.53"));
    let sysctl = |name: &str, value: &str| HostChange::SetSysctl {
        name: name.into(),
        value: value.into(),
        before: before.sysctls.get(name).cloned(),
    };
    let changes = vec![
        HostChange::LinkUp("tunl0".into()),
        HostChange::AddAddress(vip.clone()),
        sysctl("net.ipv4.conf.tunl0.rp_filter", "0"),
        sysctl("net.ipv4.conf.all.rp_filter", "0"),
        sysctl("net.ipv4.conf.all.arp_ignore", "1"),
        sysctl("net.ipv4.conf.all.arp_announce", "2"),
    ];
    // Loading a module that is there changes nothing.
    host.apply(&[HostChange::LoadModule("ipip".into())])
        .expect("modprobe ipip");
    host.apply(&changes).expect("prepare tunl0");
    assert!(in_rs1(&["ip", "-o", "addr", "show", "dev", "tunl0"]).contains("203.0.113.53/32"));
    assert!(in_rs1(&["ip", "-o", "link", "show", "tunl0"]).contains(",UP"));
    assert_eq!(
        in_rs1(&["sysctl", "-n", "net.ipv4.conf.tunl0.rp_filter"]).trim(),
        "0"
    );
    let during = host.observe().unwrap();
    assert!(during.addresses.contains(&vip));
    assert_eq!(during.links.get("tunl0"), Some(&true));

    let undo: Vec<HostChange> = changes.iter().rev().map(HostChange::inverse).collect();
    host.apply(&undo).expect("undo");
    assert_eq!(
        host.observe().unwrap(),
        before,
        "the undo restores rs1 exactly"
    );
}
