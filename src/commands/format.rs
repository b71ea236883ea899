//! `lvsform fmt`.

use super::{Status, out, report};
use crate::config::files;
use crate::diag::Diagnostics;
use std::path::Path;

pub fn fmt(dir: &Path, check: bool, color: bool) -> Status {
    let mut paths = match files::config_files(dir) {
        Ok(paths) => paths,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", dir.display());
            return Status::Failed;
        }
    };
    let vars_file = dir.join(files::VARS_FILE);
    if vars_file.is_file() {
        paths.push(vars_file);
    }
    let mut diags = Diagnostics::default();
    let mut changed = false;
    for path in paths {
        let Some(parsed) = files::parse_file(&path, &mut diags) else {
            continue;
        };
        match crate::fmt::format(parsed.source.text()) {
            Ok(formatted) if formatted == parsed.source.text() => {}
            Ok(formatted) => {
                changed = true;
                if !check && let Err(err) = std::fs::write(&path, formatted) {
                    eprintln!("error: cannot write {}: {err}", path.display());
                    return Status::Failed;
                }
                out(&format!("{}\n", files::display_name(&path)));
            }
            Err(err) => {
                eprintln!("error: {}: {err}", files::display_name(&path));
                return Status::Failed;
            }
        }
    }
    if diags.has_errors() {
        report(&diags, color);
        return Status::Failed;
    }
    if check && changed {
        Status::Unformatted
    } else {
        Status::Done
    }
}
