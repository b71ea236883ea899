//! IPVS throughput against the real kernel, compared with ipvsadm in the same VM run.
//! Needs a kernel with IPVS and ipvsadm: run it in the lab with `bench/ipvs.sh`, which
//! starts it in a fresh network namespace and names another fresh one for ipvsadm -R: both
//! write into an empty table that never held destinations (the kernel keeps deleted
//! destinations in a "trash" list for minutes and scans it on every add, so a table that
//! was just flushed is slower to fill).
//!
//! (a) writing SERVICES × DESTS DR destinations into an empty table vs `ipvsadm -R` of the
//!     same rules; (b) a full dump vs `ipvsadm -Sn`; (c) one weight edit on that table.

use lvsform::ipvs::{Change, Ipvs, NetlinkIpvs};
use lvsform::model::*;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs ipvsadm, in network namespace `netns` when given, and times it.
fn ipvsadm(netns: Option<&str>, args: &[&str], input: Option<&str>) -> Duration {
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ipvsadm"]);
            c
        }
        None => Command::new("ipvsadm"),
    };
    let start = Instant::now();
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("ipvsadm");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success(), "ipvsadm {args:?}");
    start.elapsed()
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let services: u32 = args.next().map_or(1000, |a| a.parse().expect("SERVICES"));
    let dests: u32 = args.next().map_or(50, |a| a.parse().expect("DESTS"));
    let restore_netns = args
        .next()
        .expect("the name of an empty network namespace for ipvsadm -R");
    let settings = ServiceSettings {
        scheduler: Scheduler::Wrr,
        flags: BTreeSet::new(),
        persistence: None,
        one_packet: false,
    };
    let mut changes = Vec::new();
    let mut rules = String::new();
    for s in 0..services {
        let vip = Ipv4Addr::from(0xcb00_7100 + s); // 203.0.113.0 onwards
        let key = ServiceKey::Address {
            protocol: Protocol::Tcp,
            vip: IpAddr::V4(vip),
            port: 80,
        };
        changes.push(Change::AddService {
            key,
            settings: settings.clone(),
        });
        rules.push_str(&format!("-A -t {vip}:80 -s wrr\n"));
        for d in 0..dests {
            let rip = Ipv4Addr::from(0x0a01_0000 + d);
            let dest = Destination {
                forwarding: Forwarding::Dr,
                weight: 1 + d % 5,
                upper_threshold: 0,
                lower_threshold: 0,
            };
            changes.push(Change::AddDest {
                service: key,
                key: DestinationKey {
                    address: IpAddr::V4(rip),
                    port: 80,
                },
                dest: dest.clone(),
            });
            rules.push_str(&format!(
                "-a -t {vip}:80 -r {rip}:80 -g -w {}\n",
                dest.weight
            ));
        }
    }
    let total = services * dests;
    println!("table: {services} services x {dests} DR destinations = {total} destinations");

    let restore = ipvsadm(Some(&restore_netns), &["-R"], Some(&rules));
    let mut ipvs = NetlinkIpvs::connect().expect("IPVS");
    let start = Instant::now();
    ipvs.apply(&changes).expect("apply");
    let write = start.elapsed();
    println!(
        "(a) write from empty: lvsform {:.2}s, ipvsadm -R {:.2}s, ratio {:.2} (goal <= 0.25)",
        write.as_secs_f64(),
        restore.as_secs_f64(),
        write.as_secs_f64() / restore.as_secs_f64()
    );

    let save = ipvsadm(None, &["-Sn"], None);
    let start = Instant::now();
    let table = ipvs.observe().expect("observe");
    let dump = start.elapsed();
    let observed: usize = table.services.values().map(|s| s.destinations.len()).sum();
    assert_eq!(observed, total as usize, "the dump misses destinations");
    println!(
        "(b) full dump: lvsform {:.2}s, ipvsadm -Sn {:.2}s, ratio {:.2} (goal <= 1.0)",
        dump.as_secs_f64(),
        save.as_secs_f64(),
        dump.as_secs_f64() / save.as_secs_f64()
    );

    let Some(Change::AddDest { service, key, dest }) = changes.get(1).cloned() else {
        unreachable!()
    };
    let before = ipvs.requests_sent;
    let start = Instant::now();
    ipvs.apply(&[Change::EditDest {
        service,
        key,
        dest: Destination { weight: 42, ..dest },
    }])
    .expect("edit");
    let edit = start.elapsed();
    println!(
        "(c) one weight edit: {} netlink request(s), {:.1} ms",
        ipvs.requests_sent - before,
        edit.as_secs_f64() * 1000.0
    );
}
