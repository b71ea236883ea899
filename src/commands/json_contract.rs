//! The JSON contract (docs/json.md): what `plan --json`, `show PLANFILE --json` and
//! `apply --json` print is valid against docs/schemas, for every golden plan and every
//! kind of apply event; the policy example reads only documented fields.

use super::progress::{event_json, result_json};
use super::session::plan_json;
use crate::apply::{self, Batch, Event, Undo};
use crate::config::{self, Inputs};
use crate::plan::{self, Action, Observed, Step};
use serde_json::{Value, json};
use std::path::PathBuf;

const PLAN_ID: &str = "https://lvsform.invalid/schemas/plan.schema.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema(name: &str) -> Value {
    let path = root().join("docs/schemas").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Serves the plan schema to the events schema, which refers to it.
struct Schemas;

impl jsonschema::Retrieve for Schemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        match uri.as_str() {
            PLAN_ID => Ok(schema("plan.schema.json")),
            other => Err(format!("no schema {other}").into()),
        }
    }
}

fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::options()
        .with_retriever(Schemas)
        .build(&schema(name))
        .unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, value: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{value:#}");
}

/// The plan documents of every golden case, with the configuration's warnings.
fn golden_plans() -> Vec<(String, plan::Plan, Value)> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("tests/goldens"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    cases
        .iter()
        .filter_map(|case| {
            let (config, warnings) = config::load(&case.join("config"), &Inputs::default());
            let text = std::fs::read_to_string(case.join("observed.json")).unwrap();
            let observed: Observed = serde_json::from_str(&text).unwrap();
            let plan = plan::make(&config?, &observed, plan::Goal::Converge, &[]).ok()?;
            let document = plan_json(&plan, &warnings);
            Some((case.display().to_string(), plan, document))
        })
        .collect()
}

#[test]
fn plan_documents_and_plan_events_match_their_schemas() {
    let (plans, events) = (
        validator("plan.schema.json"),
        validator("apply-events.schema.json"),
    );
    let cases = golden_plans();
    assert!(cases.len() >= 8, "{}", cases.len());
    let mut diagnostics = 0;
    for (case, _, document) in &cases {
        assert_valid(&plans, document);
        let mut event = document.clone();
        event["event"] = json!("plan");
        assert_valid(&events, &event);
        assert!(
            !plans.is_valid(&event),
            "{case}: the plan document has no event"
        );
        diagnostics += document["diagnostics"].as_array().unwrap().len();
    }
    assert!(diagnostics > 0, "some golden configuration warns");
    let (_, _, document) = &cases[0];
    let mut tampered = document.clone();
    tampered["changes"][0]["action"] = json!("remove");
    assert!(!plans.is_valid(&tampered), "the schema is not vacuous");
}

#[test]
fn apply_events_match_their_schema() {
    let events = validator("apply-events.schema.json");
    let (_, plan, _) = golden_plans().into_iter().next().unwrap();
    let steps = plan.steps();
    let step: &Step = &steps[0].1;
    let undo = Undo::Director(crate::director::DirectorChange::SetSysctl {
        name: "net.ipv4.ip_forward".into(),
        value: "0".into(),
        before: Some("1".into()),
    });
    let error = apply::Error::Cancelled;
    let probe = crate::probe::PlannedProbe {
        address: "virtual_server.web.real_server.a".into(),
        director: Some("lb1".into()),
        service: crate::model::ServiceKey::Address {
            protocol: crate::model::Protocol::Tcp,
            vip: "203.0.113.10".parse().unwrap(),
            port: 80,
        },
        server: crate::model::DestinationKey {
            address: "10.1.0.11".parse().unwrap(),
            port: 80,
        },
        forwarding: crate::model::Forwarding::Dr,
        probe: crate::probe::Probe {
            check: crate::keepalived::Check::Http {
                path: "/".into(),
                status: 200,
            },
            timeout: std::time::Duration::from_secs(2),
        },
        gate: true,
    };
    let outcomes = [
        crate::probe::Seen::Status { status: 503 },
        crate::probe::Seen::Error {
            message: "No route to host".into(),
        },
    ]
    .map(|seen| crate::probe::Outcome {
        passed: false,
        seen,
        millis: 3,
    });
    let printed: Vec<Value> = [
        Event::Probed {
            probe: &probe,
            through: false,
            outcome: &outcomes[0],
        },
        Event::Probed {
            probe: &probe,
            through: true,
            outcome: &outcomes[1],
        },
        Event::Finished {
            batch: Batch {
                first: step,
                count: 3,
                director: Some("lb1"),
            },
            done: 3,
            total: steps.len(),
        },
        Event::Failed(&error),
        Event::Undone {
            undo: &undo,
            error: None,
        },
        Event::Undone {
            undo: &undo,
            error: Some(&error),
        },
    ]
    .iter()
    .map(|e| event_json(e).expect("printed"))
    .collect();
    let failure = |left: apply::Left| {
        Err(apply::Failure {
            error: apply::Error::Cancelled,
            left: Box::new(left),
        })
    };
    let left = apply::Left {
        items: vec!["director: not as it was".into()],
        in_doubt: vec!["delete service fwm/1".into()],
        reasons: vec![("director lb2: lost the connection".into(), 2)],
    };
    let results = [
        result_json(&Ok(()), plan.summary()),
        result_json(&failure(apply::Left::default()), plan.summary()),
        result_json(&failure(left), plan.summary()),
    ];
    for event in printed.iter().chain(&results) {
        assert_valid(&events, event);
    }
    assert_eq!(printed[0]["outcome"]["status"], 503);
    assert_eq!(printed[1]["through"], "203.0.113.10:80");
    let mut with_probes = crate::plan::Plan::default();
    with_probes.probes.push(probe.clone());
    let document = plan_json(&with_probes, &Default::default());
    assert_valid(&validator("plan.schema.json"), &document);
    assert_eq!(document["probes"][0]["check"]["type"], "http");
    assert_eq!(results[2]["status"], "rollback_failed");
    assert_eq!(results[2]["reasons"][0]["count"], 2);
    let mut tampered = printed[0].clone();
    tampered["done"] = json!("three");
    assert!(!events.is_valid(&tampered), "the schema is not vacuous");
    assert!(event_json(&Event::Verifying).is_none());
}

/// examples/ci/policy-max-destroyed.sh over a real plan document.
#[test]
fn the_policy_example_reads_the_documented_fields() {
    let (_, plan, document) = golden_plans()
        .into_iter()
        .find(|(case, ..)| case.ends_with("drain-removed-server"))
        .unwrap();
    let run = |max: &str| {
        let mut child =
            std::process::Command::new(root().join("examples/ci/policy-max-destroyed.sh"))
                .arg(max)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("sh and jq");
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(document.to_string().as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let going = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .filter(|c| c.address.to_string().contains("real_server"))
        .count();
    assert!(going > 0);
    let (code, text) = run(&(going - 1).to_string());
    assert_eq!(code, Some(1), "{text}");
    let said = format!("destroys or replaces {going} real servers");
    assert!(text.contains(&said), "{text}");
    let (code, text) = run(&going.to_string());
    assert_eq!(code, Some(0), "{text}");
}
