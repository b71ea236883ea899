//! Planner goldens: one folder per case under tests/goldens/, with the configuration in
//! `config/`, the live state in `observed/` (written as a configuration too: its services
//! are the live IPVS table, its real servers' settings the hosts' facts), optional
//! `counters.txt` (`SERVICE DEST ACTIVE INACTIVE` lines), optional `iptables/HOST` (what
//! `iptables -S INPUT` prints on that host), and the expected `plan.txt`
//! (human form, or the diagnostics of a refused plan) and `plan.json`.
//! `UPDATE_EXPECTED=1 cargo test --test goldens` rewrites the expectations (review the diff).

use lvsform::config::{self, Config, Inputs};
use lvsform::director::DirectorFacts;
use lvsform::host::{HostFacts, managed_sysctls};
use lvsform::ipvs::{DestinationCounters, FakeIpvs};
use lvsform::model::Timeouts;
use lvsform::plan::{self, Observed};
use std::path::Path;

fn load(dir: &Path) -> Config {
    let (config, diags) = config::load(dir, &Inputs::default());
    config.unwrap_or_else(|| {
        panic!(
            "{}: {:?}",
            dir.display(),
            diags.0.iter().map(|d| d.compact()).collect::<Vec<_>>()
        )
    })
}

/// The live state described by a configuration.
fn observed(case: &Path) -> Observed {
    let live = load(&case.join("observed"));
    let mut table = FakeIpvs::default().table;
    table.services = live.desired.services.clone();
    table.timeouts = live.desired.director.timeouts.unwrap_or(Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    });
    table.sync_daemons = live.desired.director.sync_daemons.clone();
    if let Ok(text) = std::fs::read_to_string(case.join("counters.txt")) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let service = *table
                .services
                .keys()
                .find(|k| k.to_string() == fields[0])
                .expect("counters: service");
            let dest = *table.services[&service]
                .destinations
                .keys()
                .find(|d| d.to_string() == fields[1])
                .expect("counters: dest");
            let counters = DestinationCounters {
                active: fields[2].parse().unwrap(),
                inactive: fields[3].parse().unwrap(),
                ..Default::default()
            };
            table.counters.insert((service, dest), counters);
        }
    }
    let wanted = load(&case.join("config"));
    // Every host the configuration manages exists; what it holds comes from the live side.
    let hosts = wanted
        .hosts
        .keys()
        .map(|name| {
            let mut facts = HostFacts {
                sysctls: managed_sysctls()
                    .into_iter()
                    .filter(|s| !s.contains("tunl0") && !s.contains("gre0"))
                    .map(|s| (s, "0".to_string()))
                    .collect(),
                ..HostFacts::default()
            };
            facts.links.insert("lo".into(), true);
            if let Some(host) = live.desired.hosts.get(name) {
                facts.sysctls.extend(host.sysctls.clone());
                facts.addresses = host.addresses.clone();
                facts.modules = host.modules.clone();
                facts
                    .links
                    .extend(host.links_up.iter().map(|l| (l.clone(), true)));
            }
            let rules = std::fs::read_to_string(case.join("iptables").join(name));
            facts.iptables_input = rules.ok().map(|r| r.trim_end().to_string());
            (name.clone(), facts)
        })
        .collect();
    let director = DirectorFacts {
        sysctls: live.desired.director.sysctls.clone(),
        addresses: live.desired.director.addresses.clone(),
    };
    Observed {
        table,
        director,
        hosts,
    }
}

#[test]
fn planner_goldens() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens");
    let update = std::env::var_os("UPDATE_EXPECTED").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let config = load(&case.join("config"));
        let observed = observed(case);
        let (text, json) = match plan::diff(&config, &observed) {
            Ok(plan) => (
                plan::render::human(&plan, false),
                format!("{:#}\n", plan::render::json(&plan)),
            ),
            Err(diags) => (
                diags.iter().map(|d| d.compact() + "\n").collect(),
                String::new(),
            ),
        };
        for (file, got) in [("plan.txt", &text), ("plan.json", &json)] {
            let path = case.join(file);
            if update {
                if got.is_empty() {
                    let _ = std::fs::remove_file(&path);
                } else {
                    std::fs::write(&path, got).unwrap();
                }
                continue;
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            if *got != expected {
                failures.push(format!(
                    "{name}/{file}:\n--- expected\n{expected}--- got\n{got}"
                ));
            }
        }
    }
    assert!(cases.len() >= 5, "only {} cases", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
