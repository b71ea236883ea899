//! `lvsform plan`.

use super::session::{Access, Session, show_plan};
use super::{Options, Status, fail};
use crate::backend::Connector;
use crate::plan::Goal;
use crate::planfile::PlanFile;

pub fn plan(
    connector: &dyn Connector,
    options: &Options,
    detailed_exitcode: bool,
    out_file: Option<&std::path::Path>,
) -> Status {
    let Ok((mut session, tables, warnings)) = Session::open(options, Access::Read, connector)
    else {
        return Status::Failed;
    };
    let Ok((observed, plan)) = session.plan(tables, Goal::Converge, &options.directors) else {
        return Status::Failed;
    };
    let config = &session.config;
    let plan = plan.targeted(config, &options.targets);
    show_plan(&plan, &warnings, options.view, options.color);
    if let Some(path) = out_file {
        let vars = &options.inputs.vars;
        if let Err(e) = PlanFile::new(
            &options.dir,
            vars,
            &options.targets,
            &options.directors,
            config,
            &observed,
            plan.clone(),
        )
        .write(path)
        {
            fail(&e);
            return Status::Failed;
        }
        eprintln!(
            "Saved the plan to {}: apply it with `lvsform apply {}`.",
            path.display(),
            path.display()
        );
    }
    if detailed_exitcode && !plan.is_empty() {
        Status::Changes
    } else {
        Status::Done
    }
}
