//! Saved plans (`plan -o FILE`, `apply FILE`, `show FILE`): the plan with what it was made
//! from — the configuration (directory, variables, desired state) and a record of the live
//! state — so that applying it later refuses when either has moved.

use crate::address::Address;
use crate::config::{Config, VarArg};
use crate::model::{ServiceKey, entries};
use crate::plan::{Observed, ObservedDirector, Plan, ResourceChange};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const FORMAT_VERSION: &str = "4";

#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFile {
    pub format_version: String,
    pub lvsform_version: String,
    /// The configuration directory, absolute.
    pub dir: PathBuf,
    /// `--var` and `--var-file` as given (files made absolute).
    pub vars: Vec<VarArg>,
    /// The desired state the plan was made for.
    pub desired: Value,
    /// The live state it was made from, without counters.
    pub observed: Value,
    pub fingerprint: String,
    /// `--target` addresses the plan was limited to.
    pub targets: Vec<String>,
    /// `--director` names the plan was limited to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directors: Vec<String>,
    pub plan: Plan,
}

/// What differs between a saved plan and the plan made again now: the addresses whose
/// changes (as shown, or their steps) differ, "its probes" when those do, or "its
/// warnings" when only the rest does.
/// Live connection counts (`impact`) move all the time and are not compared.
pub fn differences(saved: &Plan, now: &Plan) -> Vec<String> {
    let reviewed = |plan: &Plan| -> BTreeMap<Address, ResourceChange> {
        plan.changes
            .iter()
            .map(|c| {
                let change = ResourceChange {
                    impact: None,
                    ..c.clone()
                };
                (c.address.clone(), change)
            })
            .collect()
    };
    let (before, after) = (reviewed(saved), reviewed(now));
    let addresses: BTreeSet<&Address> = before.keys().chain(after.keys()).collect();
    let mut differ: Vec<String> = addresses
        .into_iter()
        .filter(|a| before.get(*a) != after.get(*a))
        .map(ToString::to_string)
        .collect();
    if differ.is_empty() && saved.probes != now.probes {
        differ.push("its probes".into());
    }
    let same_rest = saved.replaced == now.replaced && saved.warnings == now.warnings;
    if differ.is_empty() && !same_rest {
        differ.push("its warnings".into());
    }
    differ
}

/// The live state as far as a plan depends on it: everything but counters and rates; each
/// director's in declared order, and every host's once.
pub fn record(observed: &Observed) -> Value {
    json!({
        "directors": observed.directors.iter().map(|d| d.as_ref().map(record_director)).collect::<Vec<_>>(),
        "hosts": observed.hosts,
    })
}

/// What the plan was made for: the desired state, and each director's settings and
/// services.
pub fn desired(config: &Config) -> Value {
    let mut desired = serde_json::to_value(&config.desired).unwrap_or(Value::Null);
    desired["directors"] = config
        .directors
        .iter()
        .map(|d| json!({"name": d.name(), "settings": d.settings, "services": d.services.iter().map(ToString::to_string).collect::<Vec<_>>()}))
        .collect();
    desired
}

fn record_director(observed: &ObservedDirector) -> Value {
    let table = &observed.table;
    let services: Vec<Value> = table
        .services
        .iter()
        .map(|(key, service)| json!({"key": key.to_string(), "service": service_value(service)}))
        .collect();
    // sh and mh map clients by the order of real servers: part of what their plans
    // depend on (for other schedulers it is not).
    let hashes = |key: &ServiceKey| {
        let service = table.services.get(key);
        service.is_some_and(|s| s.settings.scheduler.hashes())
    };
    let order: Vec<Value> = table
        .order
        .iter()
        .filter(|(key, _)| hashes(key))
        .map(|(key, order)| json!({"key": key.to_string(), "order": order}))
        .collect();
    json!({
        "services": services,
        "order": order,
        "timeouts": table.timeouts,
        "sync_daemons": table.sync_daemons,
        "director": observed.settings,
    })
}

fn service_value(service: &crate::model::Service) -> Value {
    #[derive(Serialize)]
    struct Entries<'a>(
        #[serde(with = "entries")]
        &'a std::collections::BTreeMap<crate::model::DestinationKey, crate::model::Destination>,
    );
    json!({"settings": service.settings, "destinations": Entries(&service.destinations)})
}

/// FNV-1a over the JSON text: short, stable across builds and platforms.
pub fn fingerprint(record: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in record.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// What differs between two records, by resource address.
pub fn moved(before: &Value, after: &Value) -> Vec<String> {
    let directors = |v: &Value| v["directors"].as_array().cloned().unwrap_or_default();
    let (b, a) = (directors(before), directors(after));
    let mut out = Vec::new();
    if b.len() != a.len() {
        out.push("the directors".into());
    }
    let several = b.len() > 1;
    for (i, (b, a)) in b.iter().zip(&a).enumerate() {
        out.extend(moved_director(b, a).into_iter().map(|what| {
            if several {
                format!("director {}: {what}", i + 1)
            } else {
                what
            }
        }));
    }
    let hosts = |v: &Value| v["hosts"].as_object().cloned().unwrap_or_default();
    let (hb, ha) = (hosts(before), hosts(after));
    let names: BTreeSet<&String> = hb.keys().chain(ha.keys()).collect();
    for name in names {
        if hb.get(name) != ha.get(name) {
            out.push(crate::address::Address::host(name).to_string());
        }
    }
    out
}

fn moved_director(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let services = |v: &Value| -> Vec<(String, Value)> {
        v["services"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            s["key"].as_str().unwrap_or_default().to_string(),
                            s["service"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (b, a) = (services(before), services(after));
    let keys: BTreeSet<&String> = b.iter().chain(a.iter()).map(|(k, _)| k).collect();
    for key in keys {
        let find =
            |list: &[(String, Value)]| list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if find(&b) != find(&a) {
            out.push(format!("virtual_server[\"{key}\"]"));
        }
    }
    for field in ["order", "timeouts", "sync_daemons", "director"] {
        if before[field] != after[field] {
            out.push(field.to_string());
        }
    }
    out
}

impl PlanFile {
    pub fn new(
        dir: &Path,
        vars: &[VarArg],
        targets: &[String],
        directors: &[String],
        config: &Config,
        observed: &Observed,
        plan: Plan,
    ) -> PlanFile {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let record = record(observed);
        PlanFile {
            format_version: FORMAT_VERSION.into(),
            lvsform_version: env!("CARGO_PKG_VERSION").into(),
            dir: absolute(dir),
            vars: vars
                .iter()
                .map(|v| match v {
                    VarArg::File(f) => VarArg::File(absolute(f)),
                    other => other.clone(),
                })
                .collect(),
            desired: desired(config),
            fingerprint: fingerprint(&record),
            observed: record,
            targets: targets.to_vec(),
            directors: directors.to_vec(),
            plan,
        }
    }

    /// Writes the plan readable by its owner only (it names hosts and the live table),
    /// atomically: a new file beside the target, renamed over it, so that a reader never
    /// sees half a plan and a symlink at the target is replaced, never followed.
    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let failed = |source: std::io::Error| PlanFileError::Write {
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| failed(e.into()))? + "\n";
        let name = path
            .file_name()
            .ok_or_else(|| failed(std::io::ErrorKind::InvalidInput.into()))?;
        let temporary = path.with_file_name(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
            })
            .and_then(|()| std::fs::rename(&temporary, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map_err(failed)
    }

    pub fn read(path: &Path) -> Result<PlanFile, PlanFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        PlanFile::parse(&text, path)
    }

    /// A plan file's text, as untrusted input; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<PlanFile, PlanFileError> {
        let not_a_plan = |e: serde_json::Error| PlanFileError::NotAPlan {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        // The versions first: a plan of another version may not parse as this one's.
        #[derive(Deserialize)]
        struct Versions {
            format_version: String,
            lvsform_version: String,
        }
        let versions: Versions = serde_json::from_str(text).map_err(not_a_plan)?;
        if versions.format_version != FORMAT_VERSION
            || versions.lvsform_version != env!("CARGO_PKG_VERSION")
        {
            return Err(PlanFileError::OtherVersion {
                path: path.display().to_string(),
                theirs: versions.lvsform_version,
                format: versions.format_version,
                ours: env!("CARGO_PKG_VERSION"),
            });
        }
        serde_json::from_str(text).map_err(not_a_plan)
    }
}

/// Why a plan file cannot be written or used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanFileError {
    #[error("cannot write the plan to {path}: {source}")]
    #[diagnostic(help("write it where this user may create files"))]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    #[diagnostic(help("name a file that `lvsform plan -o FILE` wrote"))]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not an lvsform plan file: {detail}")]
    #[diagnostic(help("a plan file is what `lvsform plan -o FILE` writes; make the plan again"))]
    NotAPlan { path: String, detail: String },
    #[error("{path} was made by lvsform {theirs} (plan format {format}); this is lvsform {ours}")]
    #[diagnostic(help("make the plan again with this lvsform"))]
    OtherVersion {
        path: String,
        theirs: String,
        format: String,
        ours: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::director::DirectorChange;
    use crate::plan::{Action, Phase, Step};

    fn sysctl_plan(name: &str, impact: &str) -> Plan {
        Plan {
            changes: vec![ResourceChange {
                address: Address::director(),
                action: Action::Update,
                before: Some(json!({"sysctl": 0})),
                after: Some(json!({"sysctl": 1})),
                impact: Some(impact.into()),
                forces_replacement: vec![],
                director: None,
                steps: vec![(
                    Phase::Director,
                    Step::Director(DirectorChange::SetSysctl {
                        name: name.into(),
                        value: "1".into(),
                        before: Some("0".into()),
                    }),
                )],
            }],
            ..Plan::default()
        }
    }

    /// The live state recorded for `scheduler`'s service, its real servers added in the
    /// order of `addresses`.
    fn recorded(scheduler: crate::model::Scheduler, addresses: &[&str]) -> Value {
        use crate::ipvs::{Change, FakeIpvs, Ipvs};
        use crate::model::*;
        let key = ServiceKey::Address {
            protocol: Protocol::Tcp,
            vip: "203.0.113.10".parse().unwrap(),
            port: 80,
        };
        let settings = ServiceSettings {
            scheduler,
            flags: Default::default(),
            persistence: None,
            one_packet: false,
        };
        let mut changes = vec![Change::AddService { key, settings }];
        changes.extend(addresses.iter().map(|a| Change::AddDest {
            service: key,
            key: DestinationKey {
                address: a.parse().unwrap(),
                port: 80,
            },
            dest: Destination {
                forwarding: Forwarding::Nat,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
            },
        }));
        let mut ipvs = FakeIpvs::default();
        ipvs.apply(&changes).unwrap();
        record_director(&ObservedDirector {
            table: ipvs.table,
            settings: Default::default(),
        })
    }

    #[test]
    fn the_order_of_real_servers_is_recorded_where_it_matters() {
        use crate::model::Scheduler;
        let (one, other) = (["10.1.0.11", "10.1.0.12"], ["10.1.0.12", "10.1.0.11"]);
        assert_ne!(
            recorded(Scheduler::Mh, &one),
            recorded(Scheduler::Mh, &other)
        );
        assert_ne!(
            recorded(Scheduler::Sh, &one),
            recorded(Scheduler::Sh, &other)
        );
        assert_eq!(
            recorded(Scheduler::Wlc, &one),
            recorded(Scheduler::Wlc, &other)
        );
    }

    #[test]
    fn a_saved_plan_must_be_the_plan_made_again() {
        let saved = sysctl_plan("net.ipv4.ip_forward", "3 active connections");
        let now = sysctl_plan("net.ipv4.ip_forward", "5 active connections");
        assert!(differences(&saved, &now).is_empty(), "counters move");
        let forged = sysctl_plan("kernel.core_pattern", "3 active connections");
        assert_eq!(
            differences(&forged, &now),
            ["director"],
            "steps of the same view"
        );
        let mut reviewed_otherwise = saved.clone();
        reviewed_otherwise.changes[0].after = Some(json!({"sysctl": 2}));
        assert_eq!(differences(&reviewed_otherwise, &now), ["director"]);
        let mut extra = saved.clone();
        extra.changes[0]
            .steps
            .push(forged.changes[0].steps[0].clone());
        assert_eq!(differences(&extra, &now), ["director"]);
        let mut warned = saved.clone();
        warned.warnings.push("a warning made up".into());
        assert_eq!(differences(&warned, &now), ["its warnings"]);
    }

    #[test]
    fn a_plan_is_written_private_and_atomically_never_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let path = dir.path().join("web.plan");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let file = PlanFile {
            format_version: FORMAT_VERSION.into(),
            lvsform_version: env!("CARGO_PKG_VERSION").into(),
            dir: dir.path().to_path_buf(),
            vars: vec![],
            desired: Value::Null,
            observed: Value::Null,
            fingerprint: "f".into(),
            targets: vec![],
            directors: vec![],
            plan: Plan::default(),
        };
        file.write(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        assert!(metadata.is_file(), "the link was replaced by the plan");
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        assert_eq!(PlanFile::read(&path).unwrap().fingerprint, "f");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file is left");
    }

    #[test]
    fn moved_names_what_changed() {
        let before = json!({"directors": [{"services": [{"key": "tcp/1.1.1.1:80", "service": {"w": 1}}], "timeouts": 1, "sync_daemons": [], "director": {}}], "hosts": {"h1": {"a": 1}, "h2": {}}});
        let mut after = before.clone();
        after["directors"][0]["services"][0]["service"]["w"] = json!(2);
        after["hosts"]["h1"]["a"] = json!(3);
        after["directors"][0]["timeouts"] = json!(2);
        assert_eq!(
            moved(&before, &after),
            [
                "virtual_server[\"tcp/1.1.1.1:80\"]",
                "timeouts",
                "host[\"h1\"]"
            ]
        );
        assert!(moved(&before, &before).is_empty());
        assert_eq!(fingerprint(&before), fingerprint(&before.clone()));
        assert_ne!(fingerprint(&before), fingerprint(&after));
    }

    #[test]
    fn a_plan_file_that_cannot_be_used_says_why_with_its_name_and_a_help() {
        let path = Path::new("web.plan");
        let help = |e: &PlanFileError| miette::Diagnostic::help(e).map(|h| h.to_string());
        let garbage = PlanFile::parse("not json", path).expect_err("refused");
        assert!(
            garbage
                .to_string()
                .starts_with("web.plan is not an lvsform plan file")
        );
        assert!(help(&garbage).is_some_and(|h| h.contains("lvsform plan -o FILE")));
        let old = r#"{"format_version": "1", "lvsform_version": "0.0.1"}"#;
        let old = PlanFile::parse(old, path).expect_err("refused");
        assert!(
            old.to_string()
                .starts_with("web.plan was made by lvsform 0.0.1 (plan format 1)"),
            "{old}"
        );
        assert_eq!(
            help(&old).as_deref(),
            Some("make the plan again with this lvsform")
        );
        let missing = PlanFile::read(Path::new("/nonexistent/web.plan")).expect_err("refused");
        assert!(matches!(missing, PlanFileError::Read { .. }), "{missing}");
    }
}
