//! `lvsform plan`.

use super::session::{Access, Session, make_plan, show_plan};
use super::{Options, Status};
use crate::plan::Goal;
use crate::planfile::PlanFile;

pub fn plan(
    options: &Options,
    detailed_exitcode: bool,
    out_file: Option<&std::path::Path>,
) -> Status {
    let Ok((mut session, table, warnings)) = Session::open(options, Access::Read) else {
        return Status::Failed;
    };
    let (config, mut backends) = session.parts(true);
    let Ok((observed, plan)) = make_plan(config, &mut backends, table, Goal::Converge) else {
        return Status::Failed;
    };
    let plan = plan.targeted(config, &options.targets);
    show_plan(&plan, &warnings, options.view, options.color);
    if let Some(path) = out_file {
        let vars = &options.inputs.vars;
        if let Err(e) = PlanFile::new(
            &options.dir,
            vars,
            &options.targets,
            config,
            &observed,
            plan.clone(),
        )
        .write(path)
        {
            eprintln!("error: {e}");
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
