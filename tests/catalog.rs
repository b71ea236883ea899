//! The catalogs of invalid configurations (`tests/invalid/*`) and of valid ones that warn
//! (`tests/warnings/*`): each case is a directory with its expected diagnostics in
//! `expected.txt`, in the compact `file:line:col: severity: message` form.
//! `UPDATE_EXPECTED=1 cargo test --test catalog` rewrites the expectations (review the diff).

use lvsform::config::{self, Inputs};
use std::path::Path;

fn check_catalog(folder: &str, want_valid: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(folder);
    let update = std::env::var_os("UPDATE_EXPECTED").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("catalog folder")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (config, diags) = config::load(case, &Inputs::default());
        if config.is_some() != want_valid {
            failures.push(format!("{name}: expected valid = {want_valid}"));
        }
        if want_valid && diags.warnings() == 0 {
            failures.push(format!("{name}: expected a warning"));
        }
        let got: String = diags.0.iter().map(|d| d.compact() + "\n").collect();
        // Errors must point into a file, except where there is no file to point at.
        for diag in &diags.0 {
            if diag.help.is_none() {
                failures.push(format!(
                    "{name}: diagnostic without a help line: {}",
                    diag.message
                ));
            }
            if diag.location.is_none()
                && !["no-config-files", "variable-wrong-type-vars-file"].contains(&name.as_str())
            {
                failures.push(format!(
                    "{name}: diagnostic without a place: {}",
                    diag.message
                ));
            }
        }
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!("{name}:\n--- expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(cases.len() >= 4, "catalog {folder} is empty");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_configurations_give_located_diagnostics() {
    check_catalog("invalid", false);
}

#[test]
fn warning_configurations_are_valid_and_warn() {
    check_catalog("warnings", true);
}
