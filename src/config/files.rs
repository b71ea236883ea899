//! Reading configuration directories: the `*.lvs.hcl` files of a module, parsed with spans,
//! and the tree of modules they call, discovered before anything is evaluated.

use crate::diag::{Diag, Diagnostics, SourceFile};
use crate::parallel::for_each_parallel;
use hcl::edit::Span;
use hcl::edit::structure::{Body, Structure};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const SUFFIX: &str = ".lvs.hcl";
pub const VARS_FILE: &str = "lvsform.vars.hcl";

pub struct ParsedFile {
    pub source: Arc<SourceFile>,
    pub body: Body,
}

/// The parsed files of one module directory.
pub struct Module {
    pub dir: PathBuf,
    pub files: Vec<ParsedFile>,
    /// For each `module` block (file index, block index in file), the module it calls.
    pub calls: HashMap<(usize, usize), usize>,
}

/// Every module directory reachable from the root, parsed once; index 0 is the root.
#[derive(Default)]
pub struct Modules {
    pub modules: Vec<Module>,
}

/// Everything in a directory named like a configuration file, sorted by name. Entries that
/// cannot be one (a directory, a dangling link, a name that is not UTF-8) are listed too,
/// so that reading them fails loudly: the live table is authoritative, and a file silently
/// skipped would have its services deleted.
pub fn config_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_config = path.file_name().is_some_and(|n| {
            let name = n.as_encoded_bytes();
            name.len() > SUFFIX.len() && name.ends_with(SUFFIX.as_bytes())
        });
        if is_config {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Larger than any configuration, small enough to read whole.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// Why a configuration or variables file cannot be read.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("its name is not UTF-8")]
    NameNotUtf8,
    #[error("it is not a regular file")]
    NotAFile,
    #[error("it is larger than {} MiB", MAX_FILE_BYTES >> 20)]
    TooLarge,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The text of a configuration or variables file. Only a regular file is read: a FIFO
/// would block and `/dev/zero` never ends.
fn read_config(path: &Path) -> Result<String, Unreadable> {
    if path.file_name().is_some_and(|n| n.to_str().is_none()) {
        return Err(Unreadable::NameNotUtf8);
    }
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(Unreadable::NotAFile);
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(Unreadable::TooLarge);
    }
    Ok(std::fs::read_to_string(path)?)
}

/// How a file is named in diagnostics: relative to the working directory when inside it.
pub fn display_name(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = path.strip_prefix(&cwd).unwrap_or(path);
    path.strip_prefix(".")
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Reads and parses one file; a syntax error becomes a located diagnostic.
pub fn parse_file(path: &Path, diags: &mut Diagnostics) -> Option<ParsedFile> {
    let text = match read_config(path) {
        Ok(text) => text,
        Err(why) => {
            diags.push(
                Diag::error(format!("cannot read {}: {why}", path.display()))
                    .help("configuration and variables files must be readable regular UTF-8 files; fix or remove it"),
            );
            return None;
        }
    };
    let source = SourceFile::new(display_name(path), text);
    match hcl::edit::parser::parse_body(source.text()) {
        Ok(body) => Some(ParsedFile { source, body }),
        Err(err) => {
            let offset = err.location().offset();
            diags.push(syntax_error(&source, offset, err.message()));
            None
        }
    }
}

fn syntax_error(source: &Arc<SourceFile>, offset: usize, message: &str) -> Diag {
    // The parser may place an error inside a multi-byte character.
    let offset = source.clamp(offset);
    let end = source.text()[offset..]
        .chars()
        .next()
        .map_or(offset, |c| offset + c.len_utf8());
    let mut diag = Diag::error(format!("syntax error: {message}"))
        .at(source, offset..end)
        .label("here");
    // hcl-rs reports the second attribute of a one-line block with this message.
    if source.text()[..offset]
        .rsplit('\n')
        .next()
        .is_some_and(|line| line.contains('{'))
        && !source.text()[offset..].starts_with('\n')
    {
        diag = diag.help(
            "a block written on one line may hold only one attribute: put each attribute on its own line",
        );
    } else if message.contains("redefined attribute") {
        diag = diag.help("an attribute may be set once per block: remove one of the two");
    } else {
        diag = diag.help("check the HCL syntax near this point (quotes, braces, `=`)");
    }
    diag
}

impl Modules {
    /// Parses the root directory and, recursively, every module it calls.
    pub fn load(root: &Path, diags: &mut Diagnostics) -> Option<Modules> {
        let mut modules = Modules::default();
        let mut by_dir = HashMap::new();
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let files = match config_files(&root) {
            Ok(files) if files.is_empty() => {
                diags.push(
                    Diag::error(format!(
                        "no configuration files (*{SUFFIX}) in {}",
                        display_name(&root)
                    ))
                    .help(
                        "lvsform reads every *.lvs.hcl file of the directory (not sub-directories)",
                    ),
                );
                return None;
            }
            Ok(files) => files,
            Err(err) => {
                diags.push(Diag::error(format!(
                    "cannot read the configuration directory {}: {err}",
                    root.display()
                )));
                return None;
            }
        };
        modules.add(root, files, &mut by_dir, &mut Vec::new(), diags);
        Some(modules)
    }

    fn add(
        &mut self,
        dir: PathBuf,
        paths: Vec<PathBuf>,
        by_dir: &mut HashMap<PathBuf, usize>,
        stack: &mut Vec<PathBuf>,
        diags: &mut Diagnostics,
    ) -> usize {
        let index = self.modules.len();
        by_dir.insert(dir.clone(), index);
        // Files parse on all cores: a large configuration is usually many files.
        let mut paths = paths;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.min(paths.len());
        let parsed = for_each_parallel(&mut paths, threads, |path| {
            let mut found = Diagnostics::default();
            (parse_file(path, &mut found), found)
        });
        let mut files = Vec::new();
        for (file, found) in parsed {
            diags.0.extend(found.0);
            files.extend(file);
        }
        self.modules.push(Module {
            dir: dir.clone(),
            files: Vec::new(),
            calls: HashMap::new(),
        });
        stack.push(dir.clone());
        let mut calls = HashMap::new();
        for (file_index, file) in files.iter().enumerate() {
            for (block_index, block) in file.body.iter().enumerate() {
                let Structure::Block(block) = block else {
                    continue;
                };
                if block.ident.as_str() != "module" {
                    continue;
                }
                if let Some(called) =
                    self.call(&file.source, &dir, &block.body, by_dir, stack, diags)
                {
                    calls.insert((file_index, block_index), called);
                }
            }
        }
        stack.pop();
        self.modules[index].files = files;
        self.modules[index].calls = calls;
        index
    }

    /// Resolves a `module` block's `source` (a literal path, relative to the calling file)
    /// and loads that module if it is new.
    fn call(
        &mut self,
        file: &Arc<SourceFile>,
        dir: &Path,
        body: &Body,
        by_dir: &mut HashMap<PathBuf, usize>,
        stack: &mut Vec<PathBuf>,
        diags: &mut Diagnostics,
    ) -> Option<usize> {
        let attr = body.get_attribute("source")?;
        let span = attr.value.span().unwrap_or(0..0);
        let Some(source) = attr.value.as_str() else {
            diags.push(
                Diag::error("a module `source` must be a literal string")
                    .at(file, span)
                    .label("not a plain string")
                    .help("write the path of the module directory in quotes, e.g. source = \"../modules/dr-service\""),
            );
            return None;
        };
        let target = super::expand_path(dir, source);
        let target = match target.canonicalize() {
            Ok(path) if path.is_dir() => path,
            _ => {
                diags.push(
                    Diag::error(format!("module source \"{source}\" is not a directory"))
                        .at(file, span)
                        .label(format!("resolves to {}", target.display()))
                        .help(
                            "module sources are directories, relative to the file that names them",
                        ),
                );
                return None;
            }
        };
        if stack.contains(&target) {
            diags.push(
                Diag::error(format!("module \"{source}\" calls itself"))
                    .at(file, span)
                    .label("a module cycle")
                    .help("a module may not call, directly or indirectly, a module that calls it"),
            );
            return None;
        }
        if let Some(&index) = by_dir.get(&target) {
            return Some(index);
        }
        match config_files(&target) {
            Ok(paths) if !paths.is_empty() => Some(self.add(target, paths, by_dir, stack, diags)),
            _ => {
                diags.push(
                    Diag::error(format!("module \"{source}\" has no *{SUFFIX} files"))
                        .at(file, span)
                        .label(format!("{}", target.display())),
                );
                None
            }
        }
    }
}
