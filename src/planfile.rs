//! Saved plans (`plan -o FILE`, `apply FILE`, `show FILE`): the plan with what it was made
//! from — the configuration (directory, variables, desired state) and a record of the live
//! state — so that applying it later refuses when either has moved.

use crate::config::{Config, VarArg};
use crate::model::entries;
use crate::plan::{Observed, Plan};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub const FORMAT_VERSION: &str = "1";

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
    pub plan: Plan,
}

/// The live state as far as a plan depends on it: everything but counters and rates.
pub fn record(observed: &Observed) -> Value {
    let services: Vec<Value> = observed
        .table
        .services
        .iter()
        .map(|(key, service)| json!({"key": key.to_string(), "service": service_value(service)}))
        .collect();
    json!({
        "services": services,
        "timeouts": observed.table.timeouts,
        "sync_daemons": observed.table.sync_daemons,
        "director": observed.director,
        "hosts": observed.hosts,
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
    for field in ["timeouts", "sync_daemons", "director"] {
        if before[field] != after[field] {
            out.push(field.to_string());
        }
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

impl PlanFile {
    pub fn new(
        dir: &Path,
        vars: &[VarArg],
        targets: &[String],
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
            desired: serde_json::to_value(&config.desired).unwrap_or(Value::Null),
            fingerprint: fingerprint(&record),
            observed: record,
            targets: targets.to_vec(),
            plan,
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write the plan to {}: {e}", path.display()))
    }

    pub fn read(path: &Path) -> Result<PlanFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: PlanFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not an lvsform plan file: {e}", path.display()))?;
        if file.format_version != FORMAT_VERSION
            || file.lvsform_version != env!("CARGO_PKG_VERSION")
        {
            return Err(format!(
                "{} was made by lvsform {} (plan format {}); this is lvsform {}: make the plan again",
                path.display(),
                file.lvsform_version,
                file.format_version,
                env!("CARGO_PKG_VERSION")
            ));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_names_what_changed() {
        let before = json!({"services": [{"key": "tcp/1.1.1.1:80", "service": {"w": 1}}], "timeouts": 1, "sync_daemons": [], "director": {}, "hosts": {"h1": {"a": 1}, "h2": {}}});
        let mut after = before.clone();
        after["services"][0]["service"]["w"] = json!(2);
        after["hosts"]["h1"]["a"] = json!(3);
        after["timeouts"] = json!(2);
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
}
