//! The language end to end: examples, modules, for_each, variable precedence, the model the
//! configuration produces, and its serde round trip.

use lvsform::config::{self, Config, Inputs, VarArg};
use lvsform::model::{
    DestinationKey, Family, Forwarding, InterfaceAddress, Protocol, Scheduler, SchedulerFlag,
    Service, ServiceKey, State,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_with(dir: &Path, inputs: &Inputs) -> Config {
    let (config, diags) = config::load(dir, inputs);
    let messages: Vec<String> = diags.0.iter().map(|d| d.compact()).collect();
    config.unwrap_or_else(|| panic!("{} does not load:\n{}", dir.display(), messages.join("\n")))
}

fn load(dir: &Path) -> Config {
    load_with(dir, &Inputs::default())
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn tcp(vip: &str, port: u16) -> ServiceKey {
    ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: ip(vip),
        port,
    }
}

/// `(destination, weight)` pairs of a service, in key order.
fn weights(service: &Service) -> Vec<(String, u32)> {
    service
        .destinations
        .iter()
        .map(|(k, d)| (k.to_string(), d.weight))
        .collect()
}

/// A scratch configuration directory with the given files.
fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn every_example_validates_without_warnings() {
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let dir = entry.unwrap().path();
        // examples/ci holds pipeline recipes and policies, not a cluster definition.
        if dir.ends_with("ci") {
            continue;
        }
        let (config, diags) = config::load(&dir, &Inputs::default());
        assert!(
            config.is_some(),
            "{}: {:?}",
            dir.display(),
            diags.0.iter().map(|d| d.compact()).collect::<Vec<_>>()
        );
        assert_eq!(diags.0.len(), 0, "{}: unexpected warnings", dir.display());
        count += 1;
    }
    assert!(
        count >= 6,
        "nat, dr, tun, fwmark, ipv6 and modules-demo at least"
    );
}

#[test]
fn dr_example_prepares_hosts_and_weights() {
    let config = load(&root().join("examples/dr"));
    let service = &config.desired.services[&tcp("203.0.113.10", 80)];
    assert_eq!(service.settings.scheduler, Scheduler::Wrr);
    assert_eq!(
        weights(service),
        [
            ("10.1.0.11:80".into(), 3),
            ("10.1.0.12:80".into(), 2),
            ("10.1.0.13:80".into(), 1)
        ]
    );
    assert!(
        service
            .destinations
            .values()
            .all(|d| d.forwarding == Forwarding::Dr)
    );

    let host = &config.desired.hosts["10.1.0.12"];
    assert!(
        host.addresses
            .contains(&InterfaceAddress::host("lo", ip("203.0.113.10")))
    );
    for name in [
        "net.ipv4.conf.all.arp_ignore",
        "net.ipv4.conf.lo.arp_ignore",
    ] {
        assert_eq!(host.sysctls[name], "1");
    }
    for name in [
        "net.ipv4.conf.all.arp_announce",
        "net.ipv4.conf.lo.arp_announce",
    ] {
        assert_eq!(host.sysctls[name], "2");
    }
    assert!(host.modules.is_empty() && !host.route_via_director);
    // The director keeps the VIP on its interface; DR needs no forwarding sysctl.
    assert!(
        config.directors[0]
            .settings
            .addresses
            .contains(&InterfaceAddress::host("eth0", ip("203.0.113.10")))
    );
    assert!(
        !config.directors[0]
            .settings
            .sysctls
            .contains_key("net.ipv4.ip_forward")
    );
    let meta = &config.services[&tcp("203.0.113.10", 80)];
    assert_eq!(meta.drain.as_secs(), 30);
    assert_eq!(
        meta.destinations[&DestinationKey {
            address: ip("10.1.0.11"),
            port: 80
        }]
            .address
            .as_str(),
        "virtual_server.web.real_server.web[\"10.1.0.11\"]"
    );
}

#[test]
fn nat_example_maps_ports_and_enables_forwarding() {
    let config = load(&root().join("examples/nat"));
    let service = &config.desired.services[&tcp("203.0.113.10", 80)];
    assert!(service.destinations.keys().all(|k| k.port == 8080));
    assert!(
        service
            .destinations
            .values()
            .all(|d| d.forwarding == Forwarding::Nat)
    );
    assert_eq!(
        config.directors[0].settings.sysctls["net.ipv4.ip_forward"],
        "1"
    );
    let host = &config.desired.hosts["10.1.0.11"];
    assert!(
        host.route_via_director,
        "manage = true on NAT asks for the route check"
    );
    assert!(host.addresses.is_empty() && host.sysctls.is_empty());
    assert_eq!(config.directors[0].meta.dip, Some(ip("10.1.0.1")));
}

#[test]
fn tun_example_prepares_tunnels() {
    let config = load(&root().join("examples/tun"));
    let dns = &config.desired.services[&ServiceKey::Address {
        protocol: Protocol::Udp,
        vip: ip("203.0.113.53"),
        port: 53,
    }];
    assert!(dns.settings.one_packet);
    let host = &config.desired.hosts["198.51.100.21"];
    assert!(host.modules.contains("ipip"));
    assert!(host.links_up.contains("tunl0"));
    assert!(
        host.addresses
            .contains(&InterfaceAddress::host("tunl0", ip("203.0.113.53")))
    );
    for (name, value) in [
        ("net.ipv4.conf.tunl0.rp_filter", "0"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.all.arp_ignore", "1"),
        ("net.ipv4.conf.all.arp_announce", "2"),
    ] {
        assert_eq!(host.sysctls[name], value, "{name}");
    }
    assert!(config.hosts["198.51.100.22"].manage_firewall);
    let gue = &config.desired.hosts["198.51.100.31"];
    assert!(gue.modules.contains("fou") && gue.modules.contains("ipip"));
}

#[test]
fn fwmark_and_ipv6_examples() {
    let config = load(&root().join("examples/fwmark"));
    let key = ServiceKey::Fwmark {
        mark: 1,
        family: Family::Ipv4,
    };
    let service = &config.desired.services[&key];
    assert_eq!(service.settings.persistence.as_ref().unwrap().timeout, 600);
    assert!(service.destinations.keys().all(|k| k.port == 0));
    assert!(
        config.desired.hosts["10.1.0.11"]
            .addresses
            .contains(&InterfaceAddress::host("lo", ip("203.0.113.10")))
    );

    let config = load(&root().join("examples/ipv6"));
    let service = &config.desired.services[&tcp("2001:db8:ffff::10", 80)];
    assert_eq!(service.settings.scheduler, Scheduler::Mh);
    assert_eq!(
        service.settings.flags.iter().copied().collect::<Vec<_>>(),
        [SchedulerFlag::Fallback, SchedulerFlag::Port]
    );
    let addresses: Vec<String> = service
        .destinations
        .keys()
        .map(|k| k.address.to_string())
        .collect();
    assert_eq!(
        addresses,
        ["2001:db8:1::b", "2001:db8:1::c", "2001:db8:1::d"]
    );
    let host = &config.desired.hosts["2001:db8:1::b"];
    assert!(host.sysctls.is_empty(), "IPv6 DR needs no ARP sysctls");
}

#[test]
fn modules_expand_with_addresses_and_for_each() {
    let config = load(&root().join("examples/modules-demo"));
    let addresses: Vec<&str> = config
        .services
        .values()
        .map(|m| m.address.as_str())
        .collect();
    assert_eq!(
        addresses,
        [
            "module.api.virtual_server.main",
            "module.admin.virtual_server.main",
            "module.edge[\"eu\"].virtual_server.main",
            "module.edge[\"us\"].virtual_server.main",
        ]
    );
    let api = &config.desired.services[&tcp("203.0.113.11", 443)];
    let weights: Vec<u32> = api.destinations.values().map(|d| d.weight).collect();
    assert_eq!(weights, [2, 1], "weights input with a default for api2");
    let admin = &config.desired.services[&tcp("203.0.113.12", 80)];
    assert_eq!(admin.destinations.keys().next().unwrap().port, 8080);
    let eu = &config.services[&tcp("203.0.113.21", 443)];
    let server = eu.destinations.values().next().unwrap();
    assert_eq!(
        server.address.as_str(),
        "module.edge[\"eu\"].virtual_server.main.real_server.server[\"eu-1\"]"
    );
    assert_eq!(server.host.as_deref(), Some("198.51.100.41"));
    assert_eq!(config.directors[0].meta.dip, Some(ip("10.1.0.1")));
}

#[test]
fn nested_modules_resolve_sources_relative_to_their_file() {
    let dir = scratch(&[
        (
            "root/main.lvs.hcl",
            "module \"outer\" {\n  source = \"../mods/outer\"\n  base = 10\n}\n",
        ),
        (
            "mods/outer/main.lvs.hcl",
            "variable \"base\" {\n  type = number\n}\nmodule \"inner\" {\n  source = \"../inner\"\n  port = var.base * 8\n}\n",
        ),
        (
            "mods/inner/main.lvs.hcl",
            "variable \"port\" {\n  type = number\n}\nvirtual_server \"svc\" {\n  vip = \"203.0.113.9\"\n  port = var.port\n}\n",
        ),
    ]);
    let config = load(&dir.path().join("root"));
    let meta = &config.services[&tcp("203.0.113.9", 80)];
    assert_eq!(
        meta.address.as_str(),
        "module.outer.module.inner.virtual_server.svc"
    );
}

#[test]
fn for_each_over_lists_maps_and_nested_blocks() {
    let dir = scratch(&[(
        "main.lvs.hcl",
        r#"
locals {
  sites = { a = 1, b = 2 }
}
virtual_server "svc" {
  for_each = local.sites
  vip      = "203.0.113.${each.value}"
  port     = 80
  real_server "rs" {
    for_each = ["10.1.0.11", "10.1.0.12"]
    address  = each.value
  }
  real_server "extra" {
    address = "10.1.0.${20 + 1}"
    weight  = length(local.sites)
  }
}
"#,
    )]);
    let config = load(dir.path());
    let addresses: Vec<String> = config
        .services
        .values()
        .flat_map(|m| m.destinations.values().map(|d| d.address.to_string()))
        .collect();
    assert_eq!(
        addresses,
        [
            "virtual_server.svc[\"a\"].real_server.rs[\"10.1.0.11\"]",
            "virtual_server.svc[\"a\"].real_server.rs[\"10.1.0.12\"]",
            "virtual_server.svc[\"a\"].real_server.extra",
            "virtual_server.svc[\"b\"].real_server.rs[\"10.1.0.11\"]",
            "virtual_server.svc[\"b\"].real_server.rs[\"10.1.0.12\"]",
            "virtual_server.svc[\"b\"].real_server.extra",
        ]
    );
    let extra = &config.desired.services[&tcp("203.0.113.2", 80)].destinations[&DestinationKey {
        address: ip("10.1.0.21"),
        port: 80,
    }];
    assert_eq!(extra.weight, 2);
}

#[test]
fn expressions_templates_and_conditionals() {
    let dir = scratch(&[(
        "main.lvs.hcl",
        r#"
locals {
  hosts   = { for i in range(3) : format("web%d", i + 1) => cidrhost("10.1.0.0/24", 11 + i) }
  names   = join(",", [for name, addr in local.hosts : upper(name) if addr != "10.1.0.12"])
  heavy   = contains(keys(local.hosts), "web1") ? 5 : 1
  ports   = concat([80], [443])
  merged  = merge({ a = 1 }, { b = 2 })
  text    = "%{ for n in ["x", "y"] ~}${n}-%{ endfor ~}end"
  nums    = tonumber("8") * 10 + 0
  doc     = <<-EOT
    hello
      world
    EOT
}
virtual_server "web" {
  vip       = "203.0.113.10"
  port      = local.ports[1]
  scheduler = local.names == "WEB1,WEB3" && local.text == "x-y-end" && local.doc == "hello\n  world\n" ? "rr" : "wlc"
  real_server "w" {
    for_each = local.hosts
    address  = each.value
    weight   = each.key == "web1" ? local.heavy : local.merged.b
    port     = local.nums == 80 ? 443 : 1
  }
}
"#,
    )]);
    let config = load(dir.path());
    let service = &config.desired.services[&tcp("203.0.113.10", 443)];
    assert_eq!(service.settings.scheduler, Scheduler::Rr);
    assert_eq!(
        weights(service),
        [
            ("10.1.0.11:443".into(), 5),
            ("10.1.0.12:443".into(), 2),
            ("10.1.0.13:443".into(), 2)
        ]
    );
}

#[test]
fn variable_precedence_follows_terraform() {
    let dir = scratch(&[
        (
            "main.lvs.hcl",
            "variable \"port\" {\n  type = number\n  default = 1\n}\nvirtual_server \"web\" {\n  vip = \"203.0.113.10\"\n  port = var.port\n}\n",
        ),
        ("a.vars", "port = 4\n"),
        ("b.vars", "port = 5\n"),
    ]);
    let port_of = |inputs: &Inputs| -> u16 {
        let config = load_with(dir.path(), inputs);
        match config.desired.services.keys().next().unwrap() {
            ServiceKey::Address { port, .. } => *port,
            other => panic!("unexpected {other}"),
        }
    };
    let env = vec![("LVSFORM_VAR_port".to_string(), "2".to_string())];
    assert_eq!(port_of(&Inputs::default()), 1, "default");
    assert_eq!(
        port_of(&Inputs {
            vars: vec![],
            env: env.clone()
        }),
        2,
        "environment over default"
    );
    std::fs::write(dir.path().join("lvsform.vars.hcl"), "port = 3\n").unwrap();
    assert_eq!(
        port_of(&Inputs {
            vars: vec![],
            env: env.clone()
        }),
        3,
        "vars file over environment"
    );
    let file = |name: &str| VarArg::File(dir.path().join(name));
    let pair = |text: &str| VarArg::Pair(text.to_string());
    assert_eq!(
        port_of(&Inputs {
            vars: vec![file("a.vars")],
            env: env.clone()
        }),
        4,
        "--var-file over vars file"
    );
    assert_eq!(
        port_of(&Inputs {
            vars: vec![file("a.vars"), pair("port=6")],
            env: env.clone()
        }),
        6,
        "later wins"
    );
    assert_eq!(
        port_of(&Inputs {
            vars: vec![pair("port=6"), file("b.vars")],
            env
        }),
        5,
        "command-line order decides"
    );
}

#[test]
fn unknown_command_line_variable_is_an_error() {
    let dir = scratch(&[(
        "main.lvs.hcl",
        "variable \"vip\" {\n  default = \"203.0.113.10\"\n}\n",
    )]);
    let (config, diags) = config::load(
        dir.path(),
        &Inputs {
            vars: vec![VarArg::Pair("vpi=1".into())],
            env: vec![],
        },
    );
    assert!(config.is_none());
    assert_eq!(
        diags.0[0].message,
        "--var sets `vpi`, which no variable block declares"
    );
    assert_eq!(diags.0[0].help.as_deref(), Some("did you mean `vip`?"));
}

#[test]
fn all_errors_of_a_run_are_reported_across_files() {
    let dir = scratch(&[
        (
            "a.lvs.hcl",
            "virtual_server \"a\" {\n  vip = \"1.2.3\"\n  port = 80\n}\n",
        ),
        (
            "b.lvs.hcl",
            "virtual_server \"b\" {\n  vip = \"203.0.113.10\"\n  port = 80\n  mode = \"dsr\"\n}\n",
        ),
        ("c.lvs.hcl", "virtual_server \"c\" {\n"),
    ]);
    let (config, diags) = config::load(dir.path(), &Inputs::default());
    assert!(config.is_none());
    let places: Vec<String> = diags
        .0
        .iter()
        .map(|d| {
            let (file, line, col) = d.position().unwrap();
            format!(
                "{}:{line}:{col}",
                Path::new(&file).file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    assert_eq!(
        places,
        ["a.lvs.hcl:2:9", "b.lvs.hcl:4:10", "c.lvs.hcl:1:21"]
    );
}

#[test]
fn state_round_trips_through_serde() {
    for example in ["dr", "nat", "tun", "fwmark", "ipv6", "modules-demo"] {
        let config = load(&root().join("examples").join(example));
        let json = serde_json::to_string(&config.desired).unwrap();
        let back: State = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config.desired, "{example}");
        assert!(!config.desired.services.is_empty());
    }
}

#[test]
fn fmt_is_idempotent_and_keeps_examples_canonical() {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for parent in ["examples", "modules"] {
        for entry in std::fs::read_dir(root().join(parent)).unwrap() {
            dirs.push(entry.unwrap().path());
        }
    }
    let mut files = 0;
    for dir in dirs {
        for path in config::files::config_files(&dir).unwrap() {
            let text = std::fs::read_to_string(&path).unwrap();
            let once = lvsform::fmt::format(&text).unwrap();
            assert_eq!(
                once,
                text,
                "{} is not in canonical format (run lvsform fmt)",
                path.display()
            );
            assert_eq!(lvsform::fmt::format(&once).unwrap(), once);
            files += 1;
        }
    }
    assert!(files >= 9);
}

/// No combination of operands, operators and functions may crash lvsform: every one gives a
/// value or a located diagnostic.
#[test]
fn hostile_expressions_never_panic() {
    let operands = [
        "0",
        "1",
        "-1",
        "1.5",
        "9223372036854775807",
        "\"a\"",
        "null",
        "[1]",
        "{a = 1}",
        "true",
    ];
    let operators = ["+", "-", "*", "/", "%", "==", "<", "&&", "||"];
    let mut locals = String::from("locals {\n");
    let mut n = 0;
    for a in operands {
        for op in operators {
            for b in operands {
                locals.push_str(&format!("  e{n} = {a} {op} {b}\n"));
                n += 1;
            }
        }
        locals.push_str(&format!(
            "  n{n} = -({a})\n  i{n} = {a}[0]\n  t{n} = \"${{{a}}}\"\n  f{n} = [for x in {a} : x]\n"
        ));
        n += 1;
        for function in [
            "format",
            "lower",
            "concat",
            "merge",
            "range",
            "cidrhost",
            "cidrsubnet",
            "tostring",
            "tonumber",
            "length",
            "join",
            "split",
            "keys",
            "values",
            "lookup",
            "contains",
        ] {
            locals.push_str(&format!(
                "  c{n} = {function}({a})\n  d{n} = {function}({a}, {a}, {a})\n"
            ));
            n += 1;
        }
    }
    locals.push_str("}\n");
    let dir = scratch(&[("main.lvs.hcl", &locals)]);
    let (config, diags) = config::load(dir.path(), &Inputs::default());
    assert!(config.is_none(), "most of these are errors");
    assert!(diags.errors() > 500, "{} errors", diags.errors());
    assert!(
        diags
            .0
            .iter()
            .all(|d| d.position().is_some() && d.help.is_some())
    );
    let zero_division = diags
        .0
        .iter()
        .filter(|d| d.message == "division by zero")
        .count();
    assert!(zero_division >= 5, "x / 0 for every numeric x");
}

#[test]
fn ssh_settings_layer_defaults_root_block_and_server_block() {
    let dir = scratch(&[(
        "main.lvs.hcl",
        r#"
locals {
  user = "deploy"
}
ssh {
  user        = local.user
  port        = 2222
  private_key = "keys/id_ed25519"
  sudo        = true
  parallelism = 4
}
virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  real_server "a" {
    address = "10.1.0.11"
  }
  real_server "b" {
    address = "10.1.0.12"
    ssh {
      host    = "web2.internal"
      user    = "ops"
      timeout = "3s"
    }
  }
}
"#,
    )]);
    let config = load(dir.path());
    assert_eq!(config.parallelism, 4);
    let a = &config.hosts["10.1.0.11"].ssh;
    assert_eq!((a.user.as_str(), a.port, a.sudo), ("deploy", 2222, true));
    assert_eq!(
        a.private_key.as_deref(),
        Some(
            dir.path()
                .canonicalize()
                .unwrap()
                .join("keys/id_ed25519")
                .as_path()
        )
    );
    assert!(a.strict_host_key_checking);
    assert_eq!(a.timeout.as_secs(), 10, "built-in default");
    let b = &config.hosts["web2.internal"].ssh;
    assert_eq!(
        (b.user.as_str(), b.port, b.timeout.as_secs()),
        ("ops", 2222, 3)
    );
    let meta = &config.services[&tcp("203.0.113.10", 80)];
    let host_of_b = &meta.destinations[&DestinationKey {
        address: ip("10.1.0.12"),
        port: 80,
    }]
        .host;
    assert_eq!(
        host_of_b.as_deref(),
        Some("web2.internal"),
        "hosts are keyed by SSH address"
    );
}

/// The diagnostics of a configuration that must not load, in compact form.
fn refused(files: &[(&str, String)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let (config, diags) = config::load(dir.path(), &Inputs::default());
    assert!(config.is_none(), "expected errors");
    diags.0.iter().map(|d| d.compact()).collect()
}

/// No configuration exhausts the stack or memory: a chain of 10,000 locals, nested
/// for-expressions over large ranges and modules that multiply each end in a located
/// error, within seconds.
#[test]
fn hostile_configurations_end_in_located_errors() {
    let mut chain = String::from("locals {\n");
    for i in 0..10_000 {
        chain.push_str(&format!("  a{i} = local.a{} + 1\n", i + 1));
    }
    chain.push_str("  a10000 = 0\n}\n");
    let errors = refused(&[("main.lvs.hcl", chain)]);
    assert!(
        errors[0]
            .contains("main.lvs.hcl:502:10: error: this expression nests deeper than 1000 levels"),
        "{errors:?}"
    );

    let nested = "locals {\n  big = [for a in range(100000) : [for b in range(100000) : b]]\n}\n";
    let errors = refused(&[("main.lvs.hcl", nested.to_string())]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .contains("main.lvs.hcl:2:35: error: for-expressions make more than 2000000 values"),
        "{errors:?}"
    );

    // Each module calls the next twice: 2^20 instances if nothing stopped it.
    let mut files = vec![(
        "main.lvs.hcl",
        "module \"m\" {\n  source = \"./m0\"\n}\n".to_string(),
    )];
    let names: Vec<String> = (0..=20).map(|i| format!("m{i}/main.lvs.hcl")).collect();
    for (i, name) in names.iter().enumerate() {
        let text = if i < 20 {
            format!(
                "module \"a\" {{\n  source = \"../m{0}\"\n}}\nmodule \"b\" {{\n  source = \"../m{0}\"\n}}\n",
                i + 1
            )
        } else {
            "locals {\n  x = 1\n}\n".to_string()
        };
        files.push((name.as_str(), text));
    }
    let errors = refused(&files);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("error: the configuration instantiates more than 10000 modules")),
        "{errors:?}"
    );
}
