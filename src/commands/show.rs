//! `lvsform show`: the live IPVS table, or a saved plan.

use super::session::show_plan;
use super::{Reported, Status, View, fail, out};
use crate::backend::Connector;
use crate::diag::Diagnostics;
use crate::planfile::PlanFile;

/// This machine's IPVS table, or the exit code after saying why it cannot be read.
pub fn live_table(connector: &dyn Connector) -> Result<crate::ipvs::Table, Reported> {
    let mut director = connector.director(None, false).map_err(|e| fail(&e))?;
    director.parts().ipvs.observe().map_err(|e| fail(&e))
}

pub fn show(connector: &dyn Connector, json: bool, stats: bool) -> Status {
    let table = match live_table(connector) {
        Ok(table) => table,
        Err(Reported) => return Status::Failed,
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
            eprintln!("error: {e}");
            Status::Failed
        }
    }
}
