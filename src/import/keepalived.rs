//! `import --from-keepalived FILE`: the services a keepalived configuration makes (its
//! `virtual_server` blocks, `virtual_server_group`s and `include`d files), their checks
//! as `health_check` blocks, and a warning with file and line for every keyword lvsform
//! has no equivalent for.

use super::Imported;
use crate::diag::{Diag, SourceFile};
use crate::keepalived::conf::{self, Groups, Item, Notes};
use std::path::Path;
use std::sync::Arc;

/// How deep `include`s are followed.
const MAX_DEPTH: usize = 8;

/// Reads `path` and what it includes.
pub fn from_keepalived(path: &Path) -> Result<Imported, String> {
    let mut files = Vec::new();
    let mut imported = Imported::default();
    read(path, 0, &mut files, &mut imported)?;
    let mut groups = Groups::new();
    for (file, items) in &files {
        let mut notes = Notes::new();
        for item in items
            .iter()
            .filter(|i| i.words.first().is_some_and(|w| w == "virtual_server_group"))
        {
            if let Some((name, members)) = conf::group(item, &mut notes) {
                groups.insert(name, members);
            }
        }
        warn(&mut imported, file, notes);
    }
    for (file, items) in &files {
        let mut notes = Notes::new();
        for item in items {
            match item.words.first().map(String::as_str) {
                Some("virtual_server") => {
                    for (key, service, check) in conf::virtual_server(item, &groups, &mut notes) {
                        if imported.services.insert(key, service).is_some() {
                            notes.push((
                                item.line,
                                format!("{key} is declared twice: the last one is imported"),
                            ));
                        }
                        match check {
                            Some(check) => imported.checks.insert(key, check),
                            None => imported.checks.remove(&key),
                        };
                    }
                }
                Some("virtual_server_group" | "include") => {}
                Some(other) => notes.push((
                    item.line,
                    format!(
                        "`{other}` is keepalived's own, with no equivalent in lvsform: not imported"
                    ),
                )),
                None => {}
            }
        }
        warn(&mut imported, file, notes);
    }
    Ok(imported)
}

/// Parses `path` into `files`, then what its `include` lines name (globs allowed, relative
/// to the including file), as keepalived reads them.
fn read(
    path: &Path,
    depth: usize,
    files: &mut Vec<(Arc<SourceFile>, Vec<Item>)>,
    imported: &mut Imported,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = SourceFile::new(path.display().to_string(), text);
    let items = conf::parse(file.text());
    let dir = path.parent().unwrap_or(Path::new("."));
    let includes: Vec<(usize, String)> = items
        .iter()
        .filter(|i| i.words.first().is_some_and(|w| w == "include"))
        .filter_map(|i| Some((i.line, i.words.get(1)?.clone())))
        .collect();
    files.push((file.clone(), items));
    for (line, pattern) in includes {
        let found = conf::expand(&conf::lexical(&dir.join(&pattern)));
        let found: Vec<_> = found.into_iter().filter(|p| p.is_file()).collect();
        if found.is_empty() {
            warn(
                imported,
                &file,
                vec![(
                    line,
                    format!("include {pattern} names no file (keepalived goes on without it)"),
                )],
            );
        } else if depth >= MAX_DEPTH {
            warn(
                imported,
                &file,
                vec![(
                    line,
                    format!("include {pattern} is nested too deep: not followed"),
                )],
            );
        } else {
            for included in found {
                read(&included, depth + 1, files, imported)?;
            }
        }
    }
    Ok(())
}

/// Each note as a warning on its line of `file`, in the order of the lines.
fn warn(imported: &mut Imported, file: &Arc<SourceFile>, mut notes: Notes) {
    notes.sort_by_key(|(line, _)| *line);
    for (line, message) in notes {
        let warning = Diag::warning(message).at(file, file.line_span(line));
        imported.warnings.push(warning);
    }
}
