//! The planner's own cost, without a kernel: SERVICES × SERVERS NAT real servers (the shape
//! of `bench/apply.sh`), planned from an empty table and against a table that already
//! matches, and rendered for people and for machines.
//! `cargo bench --bench plan -- [SERVICES] [SERVERS]` (default 1000 and 50).

use lvsform::config::{self, Inputs};
use lvsform::ipvs::FakeIpvs;
use lvsform::plan::{self, Observed, ObservedDirector};
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn timed<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = work();
    println!("{what:<32} {:>8.3}s", start.elapsed().as_secs_f64());
    result
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let services: usize = args.next().map_or(1000, |a| a.parse().expect("SERVICES"));
    let servers: usize = args.next().map_or(50, |a| a.parse().expect("SERVERS"));
    let dir = tempfile::tempdir().unwrap();
    let hcl = format!(
        r#"virtual_server "s" {{
  for_each  = {{ for i in range({services}) : format("s%04d", i) => cidrhost("203.0.0.0/16", i + 1) }}
  vip       = each.value
  port      = 80
  mode      = "nat"
  scheduler = "wrr"
  real_server "r" {{
    for_each = {{ for j in range({servers}) : format("r%03d", j) => j }}
    address  = cidrhost("10.1.0.0/16", each.value + 1)
    port     = 8080
    weight   = each.value % 10 + 1
  }}
}}
"#
    );
    std::fs::write(dir.path().join("main.lvs.hcl"), hcl).unwrap();
    println!("{services} services x {servers} real servers");
    let (config, diags) = timed("configuration loaded", || {
        config::load(dir.path(), &Inputs::default())
    });
    let config = config.unwrap_or_else(|| panic!("{:?}", diags.0));
    let mut observed = Observed {
        directors: vec![Some(ObservedDirector {
            table: FakeIpvs::default().table,
            settings: Default::default(),
        })],
        hosts: Default::default(),
    };
    let plan = timed("plan from an empty table", || {
        plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap()
    });
    // One step per service and real server, and net.ipv4.ip_forward for NAT.
    assert_eq!(plan.steps().len(), services * (servers + 1) + 1);
    let text = timed("rendered for people", || plan::render::human(&plan, false));
    let json = timed("rendered as JSON", || plan::render::json(&plan).to_string());
    println!(
        "{} changes: {} bytes of text, {} bytes of JSON",
        plan.changes.len(),
        text.len(),
        json.len()
    );
    let director = observed.directors[0].as_mut().expect("read");
    director.table.services = config.desired.services.clone();
    director.settings.sysctls = config.directors[0].settings.sysctls.clone();
    let noop = timed("plan against a matching table", || {
        plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap()
    });
    assert!(noop.is_empty());
}
