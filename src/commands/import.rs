//! `lvsform import`.

use super::session::{Access, Session, show_plan};
use super::{Options, Refusal, Reported, Status, View, fail, out};
use crate::backend::Connector;
use crate::config::{Inputs, RemoteDirectorMeta};
use crate::diag::Diagnostics;
use crate::plan::Goal;

/// What `import` writes, and where.
pub struct ImportOptions<'a> {
    /// Write `DIR/imported.lvs.hcl` and check it; none: print the HCL.
    pub out: Option<&'a std::path::Path>,
    /// Keep the DR/TUN real servers prepared over SSH.
    pub manage_hosts: bool,
    /// The director the table is from, when reached over SSH: declared in the HCL.
    pub director: Option<&'a RemoteDirectorMeta>,
    /// The services with a `health_check` (imported from keepalived).
    pub checks:
        &'a std::collections::BTreeMap<crate::model::ServiceKey, crate::keepalived::HealthCheck>,
    /// Where the services come from: "the live IPVS table", a file.
    pub origin: &'a str,
    pub color: bool,
}

/// `import`: the HCL on stdout, or written to `DIR/imported.lvs.hcl` and checked with a
/// plan (removed again when that plan fails, e.g. on an unreachable host).
pub fn import(
    connector: &dyn Connector,
    table: &crate::ipvs::Table,
    options: &ImportOptions,
) -> Status {
    let &ImportOptions {
        out: out_dir,
        manage_hosts,
        director,
        checks,
        origin,
        color,
    } = options;
    let text = crate::import::hcl(table, manage_hosts, director, checks, origin);
    let Some(dir) = out_dir else {
        out(&text);
        return Status::Done;
    };
    let existing = std::fs::read_dir(dir).into_iter().flatten().flatten();
    if let Some(file) = existing
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".lvs.hcl"))
    {
        fail(&Refusal::ImportOverConfiguration {
            dir: dir.display().to_string(),
            file: file.display().to_string(),
        });
        return Status::Failed;
    }
    let path = dir.join("imported.lvs.hcl");
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &text)) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return Status::Failed;
    }
    let options = Options {
        dir: dir.to_path_buf(),
        inputs: Inputs::from_env(vec![]),
        view: View::Human,
        color,
        targets: vec![],
        directors: vec![],
    };
    let planned =
        Session::open(&options, Access::Read, connector).and_then(|(mut session, tables, _)| {
            session
                .plan(tables, Goal::Converge, &[])
                .map(|(_, plan)| plan)
        });
    let servers: usize = table.services.values().map(|s| s.destinations.len()).sum();
    let wrote = format!(
        "Wrote {}: {} virtual servers, {servers} real servers.",
        path.display(),
        table.services.len()
    );
    match planned {
        Ok(plan) if plan.is_empty() => {
            eprintln!("{wrote} A plan on it finds no changes.");
            Status::Done
        }
        Ok(plan) => {
            show_plan(&plan, &Diagnostics::default(), View::Human, color);
            eprintln!(
                "{wrote} The plan above is what lvsform would still change: the director or the real servers are not yet as it keeps them."
            );
            Status::Done
        }
        Err(Reported) => {
            let _ = std::fs::remove_file(&path);
            eprintln!("Nothing was written: a plan on the imported configuration failed.");
            Status::Failed
        }
    }
}
