//! `lvsform show`: the live IPVS table, or a saved plan.

use super::session::show_plan;
use super::{Refusal, Reported, Status, View, fail, out, report};
use crate::backend::Connector;
use crate::config::{Inputs, RemoteDirectorMeta};
use crate::diag::Diagnostics;
use crate::ipvs::Table;
use crate::planfile::PlanFile;

/// A director a configuration names, for `show` and `import`.
pub struct NamedDirector {
    pub name: String,
    /// The configuration directory.
    pub dir: std::path::PathBuf,
    pub inputs: Inputs,
}

/// The IPVS table of this machine or of the director `from` names, with how that director
/// is reached (none: this machine); the error is said on stderr.
pub fn live_table(
    connector: &dyn Connector,
    from: Option<&NamedDirector>,
    color: bool,
) -> Result<(Table, Option<RemoteDirectorMeta>), Reported> {
    let remote = match from {
        Some(from) => reached_by(from, color)?,
        None => None,
    };
    let mut director = connector
        .director(remote.as_ref(), false)
        .map_err(|e| fail(&e))?;
    let table = director.parts().ipvs.observe().map_err(|e| fail(&e))?;
    Ok((table, remote))
}

/// How the director `from` names is reached.
fn reached_by(from: &NamedDirector, color: bool) -> Result<Option<RemoteDirectorMeta>, Reported> {
    let (config, diags) = crate::config::load(&from.dir, &from.inputs);
    report(&diags, color);
    let config = config.ok_or(Reported)?;
    match config
        .directors
        .iter()
        .find(|d| d.name() == Some(from.name.as_str()))
    {
        Some(director) => Ok(director.meta.remote.clone()),
        None => Err(fail(&Refusal::UnknownDirector {
            name: from.name.clone(),
            known: config
                .directors
                .iter()
                .filter_map(|d| d.name())
                .collect::<Vec<_>>()
                .join(", "),
        })),
    }
}

pub fn show(
    connector: &dyn Connector,
    from: Option<&NamedDirector>,
    json: bool,
    stats: bool,
    color: bool,
) -> Status {
    let Ok((table, _)) = live_table(connector, from, color) else {
        return Status::Failed;
    };
    if json {
        let doc = serde_json::json!({ "format_version": "1", "table": table });
        out(&format!("{doc:#}\n"));
    } else {
        out(&crate::show::render(&table, stats));
    }
    Status::Done
}

/// `show PLANFILE`.
pub fn show_saved(path: &std::path::Path, view: View, color: bool) -> Status {
    match PlanFile::read(path) {
        Ok(file) => {
            show_plan(&file.plan, &Diagnostics::default(), view, color);
            Status::Done
        }
        Err(e) => {
            fail(&e);
            Status::Failed
        }
    }
}
