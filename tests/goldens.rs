//! Planner goldens: one folder per case under tests/goldens/, with the configuration in
//! `config/`, the live state in `observed.json` (the IPVS table with its counters, the
//! director's facts and every managed host's facts, as lvsform reads them; written
//! independently of the configuration, so that a bug in deriving state from a
//! configuration cannot cancel out), and the expected `plan.txt` (human form, or the
//! diagnostics of a refused plan), `plan.json` and `plan.md` (the pull-request comment).
//! `UPDATE_EXPECTED=1 cargo test --test goldens` rewrites the expectations (review the diff).

use lvsform::config::{self, Config, Inputs};
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

/// The live state of a case: what lvsform would have read (the IPVS table with its
/// counters, the director's facts, every managed host's facts), as the JSON of `Observed`.
fn observed(case: &Path) -> Observed {
    let path = case.join("observed.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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
        let (text, json, markdown) = match plan::make(&config, &observed, plan::Goal::Converge, &[])
        {
            Ok(plan) => (
                plan::render::human(&plan, false),
                format!("{:#}\n", plan::render::json(&plan)),
                plan::markdown::markdown(&plan),
            ),
            Err(diags) => (
                diags.iter().map(|d| d.compact() + "\n").collect(),
                String::new(),
                String::new(),
            ),
        };
        let views = [
            ("plan.txt", &text),
            ("plan.json", &json),
            ("plan.md", &markdown),
        ];
        for (file, got) in views {
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

/// `--target` of a service keepalived keeps takes its director's keepalived file along
/// (the service's own change has no steps); a target elsewhere does not.
#[test]
fn targeting_a_keepalived_service_takes_its_file_along() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/keepalived-health-checks");
    let config = load(&case.join("config"));
    let observed = observed(&case);
    let plan = plan::make(&config, &observed, plan::Goal::Converge, &[]).unwrap();
    let addresses = |targets: &[&str]| -> Vec<String> {
        let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        plan.clone()
            .targeted(&config, &targets)
            .changes
            .iter()
            .map(|c| c.address.to_string())
            .collect()
    };
    assert_eq!(
        addresses(&["virtual_server.web"]),
        ["virtual_server.web", "keepalived"]
    );
    assert!(addresses(&["virtual_server.admin"]).is_empty());
    assert!(
        !plan
            .clone()
            .targeted(&config, &["virtual_server.web".into()])
            .is_empty()
    );
}
