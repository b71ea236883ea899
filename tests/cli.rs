//! The command line as users and CI see it: exit codes, stdout/stderr, files changed.

use std::path::Path;
use std::process::{Command, Output};

fn lvsform(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvsform"))
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .output()
        .expect("run lvsform")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_accepts_an_example() {
    let out = lvsform(&["validate", "examples/dr"], root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "The configuration is valid: 1 virtual servers, 3 real servers, 3 managed hosts.\n"
    );
}

#[test]
fn validate_reports_every_error_with_its_place_and_exits_1() {
    let out = lvsform(&["validate", "tests/invalid/many-errors-at-once"], root());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "errors go to stderr only");
    let stderr = text(&out.stderr);
    for place in [
        "main.lvs.hcl:2:15",
        "main.lvs.hcl:3:15",
        "main.lvs.hcl:4:15",
    ] {
        assert!(stderr.contains(place), "{place} missing in:\n{stderr}");
    }
    assert!(stderr.contains("help: one of: rr, wrr"), "{stderr}");
    assert!(stderr.contains("3 error(s): the configuration is not valid."));
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour when stderr is not a terminal"
    );
}

#[test]
fn validate_json_is_one_document() {
    let out = lvsform(
        &["validate", "--json", "tests/invalid/unknown-scheduler"],
        root(),
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["error_count"], 1);
    let diag = &doc["diagnostics"][0];
    assert_eq!(diag["line"], 4);
    assert_eq!(diag["column"], 15);
    assert_eq!(diag["severity"], "error");
    assert_eq!(diag["help"], "did you mean \"wrr\"?");
}

#[test]
fn chdir_and_var_order_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.lvs.hcl"),
        "variable \"port\" {\n  type = number\n}\nvirtual_server \"web\" {\n  vip  = \"203.0.113.10\"\n  port = var.port\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ports.vars"), "port = 70000\n").unwrap();
    let cwd = dir.path().to_str().unwrap();
    // The file's out-of-range value loses to the later --var ...
    let out = lvsform(
        &[
            "-C",
            cwd,
            "validate",
            "--var-file",
            "ports.vars",
            "--var",
            "port=80",
        ],
        root(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // ... and wins when it comes later.
    let out = lvsform(
        &[
            "-C",
            cwd,
            "validate",
            "--var",
            "port=80",
            "--var-file",
            "ports.vars",
        ],
        root(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("70000 is outside 1..65535"));
}

#[test]
fn fmt_check_rewrite_and_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let messy = "virtual_server \"web\" {\nvip = \"203.0.113.10\"\n      port    = 80\n}\n";
    let file = dir.path().join("main.lvs.hcl");
    std::fs::write(&file, messy).unwrap();

    let out = lvsform(&["fmt", "--check", "."], dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "main.lvs.hcl\n");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        messy,
        "--check changes nothing"
    );

    let out = lvsform(&["fmt", "."], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "virtual_server \"web\" {\n  vip  = \"203.0.113.10\"\n  port = 80\n}\n"
    );
    let out = lvsform(&["fmt", "--check", "."], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());

    std::fs::write(&file, "virtual_server \"web\" {\n").unwrap();
    let out = lvsform(&["fmt", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("main.lvs.hcl:1:"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "virtual_server \"web\" {\n"
    );
}

#[test]
fn plan_aggregates_warnings_of_one_kind() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from(
        "virtual_server \"web\" {\n  vip  = \"203.0.113.10\"\n  port = 80\n  mode = \"dr\"\n",
    );
    for i in 1..=3 {
        config.push_str(&format!(
            "  real_server \"r{i}\" {{\n    address = \"10.1.0.1{i}\"\n    manage  = false\n  }}\n"
        ));
    }
    config.push_str("}\n");
    std::fs::write(dir.path().join("main.lvs.hcl"), config).unwrap();
    // The warnings come from the configuration, before the live state is read (which needs
    // IPVS and root; the outcome of that part does not matter here).
    let out = lvsform(&["plan", "."], dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("╭─").count(), 1, "one snippet:\n{stderr}");
    assert_eq!(
        stderr.matches("  also main.lvs.hcl:").count(),
        2,
        "{stderr}"
    );
}

/// `count` DR real servers in explicit blocks, each with `extra` (one line of HCL).
fn dr_servers(count: usize, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from(
        "virtual_server \"web\" {\n  vip  = \"203.0.113.10\"\n  port = 80\n  mode = \"dr\"\n",
    );
    for i in 0..count {
        config.push_str(&format!(
            "  real_server \"r{i}\" {{\n    address = \"10.1.{}.{}\"\n    {extra}\n  }}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    config.push_str("}\n");
    std::fs::write(dir.path().join("main.lvs.hcl"), config).unwrap();
    dir
}

#[test]
fn validate_shows_one_snippet_per_kind_and_json_lists_all() {
    let dir = dr_servers(1200, "manage = false");
    let out = lvsform(&["validate", "."], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("╭─").count(), 1, "one snippet:\n{stderr}");
    assert!(stderr.contains("[main.lvs.hcl:7:14]"), "{stderr}");
    for place in ["11:14", "15:14", "19:14"] {
        let line =
            format!("  also main.lvs.hcl:{place}: warning: DR real server with manage = false");
        assert!(stderr.contains(&line), "{line} missing in:\n{stderr}");
    }
    assert!(
        stderr.contains("  … and 1,196 more: 1,200 warnings of this kind in all"),
        "{stderr}"
    );
    assert!(stderr.lines().count() < 20, "{stderr}");

    let out = lvsform(&["validate", "--json", "."], dir.path());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["warning_count"], 1200);
    let all = doc["diagnostics"].as_array().unwrap();
    assert_eq!(all.len(), 1200);
    assert_eq!(all[1199]["line"], 7 + 4 * 1199);
}

#[test]
fn errors_of_one_kind_are_counted_and_still_fail() {
    let dir = dr_servers(300, "weight  = 70000");
    let out = lvsform(&["validate", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("╭─").count(), 1, "one snippet:\n{stderr}");
    assert!(
        stderr.contains("  … and 296 more: 300 errors of this kind in all"),
        "{stderr}"
    );
    assert!(stderr.contains("300 error(s): the configuration is not valid."));
}

/// A mistyped option is an error (1), never "changes" (2) to a pipeline that runs
/// `plan --detailed-exitcode`; help and version are answers (0).
#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    for args in [
        &["plan", "--detailed-exitcode", "--no-such-option"][..],
        &["frobnicate"],
        &[],
        &["apply", "--lock-timeout", "soon"],
        &["plan", "--json", "--markdown"],
        // Markdown is for plans: the live table has none.
        &["show", "--markdown"],
    ] {
        let out = lvsform(args, root());
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
    for args in [&["--help"][..], &["plan", "--help"], &["--version"]] {
        let out = lvsform(args, root());
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

/// Durations too long for the clock are refused, not a crash.
#[test]
fn an_overlong_duration_is_a_usage_error() {
    let out = lvsform(
        &[
            "apply",
            "--lock-timeout",
            "10000000000000000000s10000000000000000000s",
        ],
        root(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is not a duration"));
}

const VALID: &str =
    "virtual_server \"web\" {\n  vip  = \"203.0.113.10\"\n  port = 80\n  mode = \"nat\"\n}\n";

fn dangling_link(dir: &Path) {
    std::os::unix::fs::symlink(dir.join("missing"), dir.join("gone.lvs.hcl")).unwrap()
}

fn directory(dir: &Path) {
    std::fs::create_dir(dir.join("sub.lvs.hcl")).unwrap()
}

fn name_not_utf8(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.lvs.hcl");
    std::fs::write(dir.join(name), VALID).unwrap()
}

/// Anything named like a configuration file that cannot be read is an error, never
/// skipped (the live table is authoritative: a skipped file's services would be deleted);
/// a variables file that is not a regular file is refused at once (a FIFO would block).
#[test]
fn unreadable_configuration_files_are_errors() {
    let cases = [
        ("gone.lvs.hcl", dangling_link as fn(&Path)),
        ("sub.lvs.hcl", directory),
        (".lvs.hcl: its name is not UTF-8", name_not_utf8),
    ];
    for (named, make) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.lvs.hcl"), VALID).unwrap();
        make(dir.path());
        let out = lvsform(&["validate", "."], dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{named}: {stderr}");
        assert!(
            stderr.contains("cannot read") && stderr.contains(named),
            "{stderr}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.lvs.hcl"), VALID).unwrap();
    let fifo = dir.path().join("vars.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for file in [fifo.to_str().unwrap(), "/dev/zero"] {
        let out = lvsform(&["validate", ".", "--var-file", file], dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
        assert!(stderr.contains("it is not a regular file"), "{stderr}");
    }
}

/// A saved plan is applied as it was made and reviewed: options that would change it are
/// refused, not silently ignored.
#[test]
fn a_saved_plan_takes_no_variables_or_targets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web.plan"), "{}").unwrap();
    for extra in [
        &["--var", "weight=3"][..],
        &["--var-file", "other.vars"],
        &["--target", "virtual_server.web"],
    ] {
        let mut args = vec!["apply", "web.plan"];
        args.extend_from_slice(extra);
        let out = lvsform(&args, dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(
            stderr.contains("a saved plan is applied as it was made") && stderr.contains("help:"),
            "{stderr}"
        );
    }
}

/// `--version` names the commit; completions are scripts each shell accepts; man pages
/// come for lvsform and every command.
#[test]
fn version_completions_and_man_pages() {
    let version = text(&lvsform(&["--version"], root()).stdout);
    let commit = version
        .trim_end()
        .strip_prefix(concat!("lvsform ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = lvsform(&["completions", shell], root());
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(
            script.contains("detailed-exitcode") && script.contains("markdown"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lvsform.bash");
    std::fs::write(&script, lvsform(&["completions", "bash"], root()).stdout).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success(), "bash accepts the script");
    assert_eq!(
        lvsform(&["completions", "tcsh"], root()).status.code(),
        Some(1)
    );

    let out = lvsform(&["man", dir.path().to_str().unwrap()], root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for command in [
        "",
        "-validate",
        "-plan",
        "-apply",
        "-destroy",
        "-show",
        "-import",
        "-fmt",
        "-completions",
    ] {
        let page = std::fs::read_to_string(dir.path().join(format!("lvsform{command}.1")))
            .unwrap_or_else(|e| panic!("lvsform{command}.1: {e}"));
        assert!(page.contains(&format!(".TH lvsform{command} 1")), "{page}");
    }
    let plan = std::fs::read_to_string(dir.path().join("lvsform-plan.1")).unwrap();
    assert!(plan.contains("markdown"));
    assert!(
        !dir.path().join("lvsform-man.1").exists(),
        "the hidden command has no page"
    );
}

/// The commands in process, against a world of fakes: exit codes and what they leave.
mod against_fakes {
    use lvsform::backend::{FakeConnector, FakeWorld};
    use lvsform::commands::{self, ApplyOptions, Options, View};
    use lvsform::config::Inputs;
    use lvsform::director::FakeDirector;
    use lvsform::host::{FakeHost, HostFacts};
    use lvsform::ipvs::{FakeIpvs, Ipvs};
    use lvsform::plan::Goal;
    use std::path::Path;
    use std::time::Duration;

    const ONE_DIRECTOR: &str = r#"
director {
  interface = "eth0"
}
virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "dr"
  real_server "web1" {
    address = "10.1.0.11"
  }
  real_server "web2" {
    address = "10.1.0.12"
  }
}
"#;

    const TWO_DIRECTORS: &str = r#"
director "lb1" {
  ssh {
    host = "10.1.0.1"
  }
}
director "lb2" {
  ssh {
    host = "10.1.0.2"
  }
}
virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "dr"
  real_server "web1" {
    address = "10.1.0.11"
  }
}
"#;

    /// A real server as a fresh Debian host is.
    fn fresh_host(name: &str) -> FakeHost {
        let mut facts = HostFacts::default();
        for scope in ["all", "lo"] {
            for sysctl in ["arp_ignore", "arp_announce"] {
                let name = format!("net.ipv4.conf.{scope}.{sysctl}");
                facts.sysctls.insert(name, "0".into());
            }
        }
        facts.links.insert("lo".into(), true);
        FakeHost::new(name, facts)
    }

    /// Directors by SSH host ("" is this machine), each with an empty table, and the real
    /// servers 10.1.0.11 and 10.1.0.12.
    fn world(directors: &[&str]) -> FakeConnector {
        let mut world = FakeWorld::default();
        for name in directors {
            let director = (FakeIpvs::default(), FakeDirector::default());
            world.directors.insert(name.to_string(), director);
        }
        for host in ["10.1.0.11", "10.1.0.12"] {
            world.hosts.insert(host.into(), fresh_host(host));
        }
        FakeConnector::new(world)
    }

    fn configuration(hcl: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.lvs.hcl"), hcl).unwrap();
        dir
    }

    fn options(dir: &Path, directors: &[&str]) -> Options {
        Options {
            dir: dir.to_path_buf(),
            inputs: Inputs::default(),
            view: View::Human,
            color: false,
            targets: vec![],
            directors: directors.iter().map(|d| d.to_string()).collect(),
        }
    }

    const AUTO: ApplyOptions = ApplyOptions {
        auto_approve: true,
        drain: false,
        lock_timeout: Duration::ZERO,
    };

    fn plan(fakes: &FakeConnector, dir: &Path, out: Option<&Path>) -> u8 {
        commands::plan(fakes, &options(dir, &[]), true, out).exit_code()
    }

    fn apply(fakes: &FakeConnector, dir: &Path, directors: &[&str]) -> u8 {
        commands::apply(fakes, &options(dir, directors), &AUTO, Goal::Converge).exit_code()
    }

    /// What the hosts hold.
    fn hosts(fakes: &FakeConnector) -> Vec<HostFacts> {
        fakes
            .world()
            .hosts
            .values()
            .map(|h| h.facts.clone())
            .collect()
    }

    fn services(fakes: &FakeConnector, director: &str) -> usize {
        fakes.world().directors[director].0.table.services.len()
    }

    #[test]
    fn plan_exits_2_with_changes_apply_0_then_plan_0() {
        let dir = configuration(ONE_DIRECTOR);
        let fakes = world(&[""]);
        assert_eq!(plan(&fakes, dir.path(), None), 2);
        assert_eq!(services(&fakes, ""), 0, "a plan changes nothing");
        assert_eq!(apply(&fakes, dir.path(), &[]), 0);
        assert_eq!(services(&fakes, ""), 1);
        let world = fakes.world();
        let host = &world.hosts["10.1.0.11"].facts;
        assert_eq!(host.sysctls["net.ipv4.conf.all.arp_ignore"], "1");
        drop(world);
        assert_eq!(plan(&fakes, dir.path(), None), 0, "nothing left to do");
        assert!(
            fakes.world().locked.is_empty(),
            "the lock went with the command"
        );
    }

    #[test]
    fn a_failed_apply_rolled_back_exits_1_and_an_undo_that_fails_exits_4() {
        let dir = configuration(ONE_DIRECTOR);
        let fakes = world(&[""]);
        let before = hosts(&fakes);
        fakes.world().directors.get_mut("").unwrap().0.fail_at = Some(1);
        assert_eq!(apply(&fakes, dir.path(), &[]), 1);
        assert_eq!(services(&fakes, ""), 0, "rolled back");
        assert_eq!(hosts(&fakes), before, "hosts too");

        // The director goes away after its second change: the first cannot be undone.
        let fakes = world(&[""]);
        fakes.world().directors.get_mut("").unwrap().0.fail_from = Some(1);
        assert_eq!(apply(&fakes, dir.path(), &[]), 4);
        assert_eq!(services(&fakes, ""), 1, "what is left, as reported");
    }

    #[test]
    fn an_unreachable_director_or_a_held_lock_exits_1_and_changes_nothing() {
        let dir = configuration(TWO_DIRECTORS);
        let fakes = world(&["10.1.0.1"]);
        assert_eq!(apply(&fakes, dir.path(), &[]), 1, "lb2 cannot be reached");
        assert_eq!(services(&fakes, "10.1.0.1"), 0);

        let fakes = world(&["10.1.0.1", "10.1.0.2"]);
        fakes.world().locked.insert("10.1.0.2".into());
        assert_eq!(apply(&fakes, dir.path(), &[]), 1, "lb2's lock is held");
        assert_eq!(services(&fakes, "10.1.0.1"), 0);
        assert!(
            fakes.world().locked.contains("10.1.0.2"),
            "not ours to free"
        );
        assert!(
            !fakes.world().locked.contains("10.1.0.1"),
            "lb1's taken and freed"
        );
    }

    #[test]
    fn director_limits_an_apply_to_the_directors_named() {
        let dir = configuration(TWO_DIRECTORS);
        let fakes = world(&["10.1.0.1", "10.1.0.2"]);
        assert_eq!(apply(&fakes, dir.path(), &["lb1"]), 0);
        assert_eq!(services(&fakes, "10.1.0.1"), 1);
        assert_eq!(services(&fakes, "10.1.0.2"), 0, "lb2 untouched");
        assert_eq!(apply(&fakes, dir.path(), &["lb9"]), 1, "no such director");
        assert_eq!(apply(&fakes, dir.path(), &[]), 0);
        assert_eq!(services(&fakes, "10.1.0.2"), 1);
        assert_eq!(plan(&fakes, dir.path(), None), 0);
    }

    #[test]
    fn director_reaches_only_the_directors_named() {
        let dir = configuration(TWO_DIRECTORS);
        // lb2 is down: a run for lb1 alone never tries it.
        let fakes = world(&["10.1.0.1"]);
        assert_eq!(apply(&fakes, dir.path(), &["lb1"]), 0);
        assert_eq!(services(&fakes, "10.1.0.1"), 1);
        assert!(
            !fakes.world().reached.contains("10.1.0.2"),
            "{:?}",
            fakes.world().reached
        );
        // A saved plan for lb1 applies without lb2 too.
        let saved = dir.path().join("lb1.plan");
        let fakes = world(&["10.1.0.1"]);
        let lb1 = options(dir.path(), &["lb1"]);
        assert_eq!(
            commands::plan(&fakes, &lb1, true, Some(&saved)).exit_code(),
            2
        );
        let applied = commands::apply_saved(&fakes, &saved, false, false, &AUTO);
        assert_eq!(applied.exit_code(), 0);
        assert_eq!(services(&fakes, "10.1.0.1"), 1);
        assert!(!fakes.world().reached.contains("10.1.0.2"));
        // Every director: lb2 is tried, and the run fails.
        assert_eq!(apply(&fakes, dir.path(), &[]), 1, "lb2 is down");
        assert!(fakes.world().reached.contains("10.1.0.2"));
    }

    #[test]
    fn a_saved_plan_is_refused_when_stale_or_forged_and_applied_when_neither() {
        let dir = configuration(ONE_DIRECTOR);
        let saved = dir.path().join("web.plan");
        let apply_saved = |fakes: &FakeConnector| {
            commands::apply_saved(fakes, &saved, false, false, &AUTO).exit_code()
        };

        // Stale: a service was added by hand after the plan was made.
        let fakes = world(&[""]);
        assert_eq!(plan(&fakes, dir.path(), Some(&saved)), 2);
        let by_hand = lvsform::ipvs::Change::AddService {
            key: lvsform::model::ServiceKey::Fwmark {
                mark: 7,
                family: lvsform::model::Family::Ipv4,
            },
            settings: lvsform::model::ServiceSettings {
                scheduler: lvsform::model::Scheduler::Wlc,
                flags: Default::default(),
                persistence: None,
                one_packet: false,
            },
        };
        let mut held = fakes.world();
        held.directors
            .get_mut("")
            .unwrap()
            .0
            .apply(&[by_hand])
            .unwrap();
        drop(held);
        assert_eq!(apply_saved(&fakes), 1, "stale");
        assert_eq!(services(&fakes, ""), 1, "only the service added by hand");

        // Forged: the plan in the file is not the plan made again.
        let fakes = world(&[""]);
        assert_eq!(plan(&fakes, dir.path(), Some(&saved)), 2);
        let text = std::fs::read_to_string(&saved).unwrap();
        let forged = text.replace("\"weight\": 1", "\"weight\": 9");
        assert_ne!(forged, text, "the plan shows a weight");
        std::fs::write(&saved, forged).unwrap();
        assert_eq!(apply_saved(&fakes), 1, "forged");
        assert_eq!(services(&fakes, ""), 0);

        // As made: applied.
        assert_eq!(plan(&fakes, dir.path(), Some(&saved)), 2);
        assert_eq!(apply_saved(&fakes), 0);
        assert_eq!(services(&fakes, ""), 1);
    }
}

/// `show` and `import` of a director the configuration names, over SSH (fakes).
mod a_named_director {
    use lvsform::backend::{FakeConnector, FakeWorld};
    use lvsform::commands::{self, ImportOptions, NamedDirector, Options, View};
    use lvsform::config::Inputs;
    use lvsform::director::FakeDirector;
    use lvsform::ipvs::{Change, FakeIpvs, Ipvs};
    use lvsform::model::*;

    const CONFIG: &str = r#"
director "lb1" {
  ssh {
    host = "10.1.0.1"
  }
}
director "lb2" {
  ssh {
    host = "10.1.0.2"
    port = 2222
    user = "deploy"
    sudo = true
  }
}
"#;

    /// lb2 holds a service with a real server; lb1 nothing.
    fn world() -> FakeConnector {
        let key = ServiceKey::Address {
            protocol: Protocol::Udp,
            vip: "203.0.113.53".parse().unwrap(),
            port: 53,
        };
        let mut lb2 = FakeIpvs::default();
        lb2.apply(&[
            Change::AddService {
                key,
                settings: ServiceSettings {
                    scheduler: Scheduler::Rr,
                    flags: Default::default(),
                    persistence: None,
                    one_packet: false,
                },
            },
            Change::AddDest {
                service: key,
                key: DestinationKey {
                    address: "10.1.0.21".parse().unwrap(),
                    port: 53,
                },
                dest: Destination {
                    forwarding: Forwarding::Dr,
                    weight: 2,
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
            },
        ])
        .unwrap();
        let mut world = FakeWorld::default();
        for (host, ipvs) in [("10.1.0.1", FakeIpvs::default()), ("10.1.0.2", lb2)] {
            world
                .directors
                .insert(host.into(), (ipvs, FakeDirector::default()));
        }
        FakeConnector::new(world)
    }

    fn named(dir: &std::path::Path, name: &str) -> NamedDirector {
        NamedDirector {
            name: name.into(),
            dir: dir.to_path_buf(),
            inputs: Inputs::default(),
        }
    }

    #[test]
    fn show_and_import_read_the_director_named_and_import_plans_empty_against_it() {
        let config = tempfile::tempdir().unwrap();
        std::fs::write(config.path().join("main.lvs.hcl"), CONFIG).unwrap();
        let fakes = world();
        let lb2 = named(config.path(), "lb2");
        let show = |from: &NamedDirector| commands::show(&fakes, Some(from), true, false, false);
        assert_eq!(show(&lb2).exit_code(), 0);
        assert_eq!(show(&named(config.path(), "lb9")).exit_code(), 1);

        let (table, remote) = commands::live_table(&fakes, Some(&lb2), false).unwrap();
        assert_eq!(table.services.len(), 1, "lb2's table, not this machine's");
        let remote = remote.expect("lb2 is reached over SSH");
        assert_eq!(
            (remote.ssh.port, remote.ssh.user.as_str()),
            (2222, "deploy")
        );
        let out = tempfile::tempdir().unwrap();
        let import = ImportOptions {
            out: Some(out.path()),
            manage_hosts: false,
            director: Some(&remote),
            checks: &Default::default(),
            origin: "the live IPVS table",
            color: false,
        };
        assert_eq!(commands::import(&fakes, &table, &import).exit_code(), 0);
        let text = std::fs::read_to_string(out.path().join("imported.lvs.hcl")).unwrap();
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for attribute in [
            "host = \"10.1.0.2\"",
            "port = 2222",
            "user = \"deploy\"",
            "sudo = true",
        ] {
            assert!(words.contains(attribute), "{attribute} in\n{text}");
        }
        let options = Options {
            dir: out.path().to_path_buf(),
            inputs: Inputs::default(),
            view: View::Human,
            color: false,
            targets: vec![],
            directors: vec![],
        };
        let plan = commands::plan(&fakes, &options, true, None).exit_code();
        assert_eq!(
            plan, 0,
            "the imported configuration describes lb2 as it is:\n{text}"
        );
    }
}
