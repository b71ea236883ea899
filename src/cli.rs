//! The command line: clap types stay here; commands receive plain values.

use crate::backend::Connector;
use crate::commands::{self, Status};
use crate::config::{Inputs, VarArg};
use clap::error::ErrorKind;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

/// The exit code of each way a command can end (the README's table).
/// `lvsform --version`: the version and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("LVSFORM_COMMIT"), ")");

#[derive(Parser)]
#[command(
    name = "lvsform",
    version = VERSION,
    about = "Terraform for Linux Virtual Server: plan and apply IPVS load balancers from HCL"
)]
struct Cli {
    /// Run as if started in DIR (like git -C).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    chdir: Option<PathBuf>,
    /// Never use colour (also: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    no_color: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration without reading any live state.
    Validate {
        /// The configuration directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Print the result as one JSON document on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Read the live state and show what apply would change.
    Plan {
        /// The configuration directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Print the plan as one JSON document on stdout.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Print the plan as a pull-request comment (Markdown, under GitHub's 65,536
        /// characters) on stdout.
        #[arg(long)]
        markdown: bool,
        /// Exit 2 when there are changes, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Save the plan to this file, for `lvsform apply FILE`.
        #[arg(short = 'o', long = "out", value_name = "PLANFILE")]
        out: Option<PathBuf>,
        /// Limit the plan to this resource address and what it needs (repeatable).
        #[arg(long = "target", value_name = "ADDR")]
        target: Vec<String>,
        /// With named directors: only this director's changes (repeatable), for a rollout
        /// by hand; real servers are prepared, and cleaned up by a run over all directors.
        #[arg(long = "director", value_name = "NAME")]
        director: Vec<String>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Plan, ask, and carry out the changes; roll back on failure.
    Apply {
        /// The configuration directory, or a plan file saved by `plan -o`.
        #[arg(default_value = ".", value_name = "DIR|PLANFILE")]
        dir: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Print the plan as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Delete real servers at once instead of waiting for their connections to end.
        #[arg(long)]
        no_drain: bool,
        /// How long to wait for another apply to finish (e.g. 30s).
        #[arg(long, default_value = "0s", value_parser = parse_lock_timeout)]
        lock_timeout: std::time::Duration,
        /// Limit the changes to this resource address and what it needs (repeatable).
        #[arg(long = "target", value_name = "ADDR")]
        target: Vec<String>,
        /// With named directors: only this director's changes (repeatable), for a rollout
        /// by hand; real servers are prepared, and cleaned up by a run over all directors.
        #[arg(long = "director", value_name = "NAME")]
        director: Vec<String>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Remove everything the configuration manages (its services, and the VIPs on its
    /// real servers and director).
    Destroy {
        /// The configuration directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Delete real servers at once instead of waiting for their connections to end.
        #[arg(long)]
        no_drain: bool,
        /// How long to wait for another apply to finish (e.g. 30s).
        #[arg(long, default_value = "0s", value_parser = parse_lock_timeout)]
        lock_timeout: std::time::Duration,
        /// With named directors: only this director's changes (repeatable), for a rollout
        /// by hand; real servers are prepared, and cleaned up by a run over all directors.
        #[arg(long = "director", value_name = "NAME")]
        director: Vec<String>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Show the director's live IPVS table.
    Show {
        /// A plan file saved by `plan -o`; without it, the live table.
        planfile: Option<PathBuf>,
        /// Print one JSON document on stdout.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Print the saved plan as a pull-request comment (Markdown) on stdout.
        #[arg(long, requires = "planfile")]
        markdown: bool,
        /// Add per-service and per-server counters and rates.
        #[arg(long)]
        stats: bool,
        #[command(flatten)]
        director: DirectorChoice,
    },
    /// Write HCL that declares the live IPVS table (`plan` on it right after is empty).
    Import {
        /// Write DIR/imported.lvs.hcl and check it with a plan; without it, print the HCL.
        #[arg(long = "out", value_name = "DIR")]
        out: Option<PathBuf>,
        /// Manage the DR/TUN real servers over SSH (reads them now); otherwise they are
        /// declared with manage = false.
        #[arg(long)]
        hosts: bool,
        /// Import what this keepalived configuration makes (its virtual servers, groups,
        /// includes and checks) instead of a live table; protocol, mode and scheduler are
        /// written out with keepalived's meaning.
        #[arg(long = "from-keepalived", value_name = "FILE", conflicts_with_all = ["from_ipvsadm", "director"])]
        from_keepalived: Option<PathBuf>,
        /// Import the rules of this `ipvsadm -Sn` file instead of a live table.
        #[arg(
            long = "from-ipvsadm",
            value_name = "FILE",
            conflicts_with = "director"
        )]
        from_ipvsadm: Option<PathBuf>,
        #[command(flatten)]
        director: DirectorChoice,
    },
    /// Rewrite configuration files in the canonical format.
    Fmt {
        /// The configuration directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Change nothing; exit 3 if a file would change.
        #[arg(long)]
        check: bool,
    },
    /// Print the completion script for a shell (e.g. `lvsform completions bash >
    /// /etc/bash_completion.d/lvsform`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Serve a remote runner on standard input and output (lvsform runs this over SSH on a
    /// director with an `ssh` block; not for people).
    #[command(hide = true)]
    Agent,
    /// Write the man pages of lvsform and of each command into DIR (for packaging).
    #[command(hide = true)]
    Man {
        /// Where to write lvsform.1, lvsform-plan.1, ….
        dir: PathBuf,
    },
}

/// The completion script for `shell` on stdout.
fn completions(shell: clap_complete::Shell) -> Status {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "lvsform", &mut script);
    commands::out(&String::from_utf8_lossy(&script));
    Status::Done
}

/// `lvsform agent`: the director's end of a remote director, until its input ends.
/// What `import` reads a file as.
enum FileKind {
    Keepalived,
    Ipvsadm,
}

/// `import --from-keepalived FILE` or `--from-ipvsadm FILE`: the services the file makes,
/// with a warning (file and line) for everything that has no equivalent.
fn import_file(
    connector: &dyn Connector,
    out: Option<&std::path::Path>,
    hosts: bool,
    path: &std::path::Path,
    kind: FileKind,
    color: bool,
) -> Status {
    let (read, origin) = match kind {
        FileKind::Keepalived => (
            crate::import::from_keepalived(path),
            format!("keepalived's configuration {}", path.display()),
        ),
        FileKind::Ipvsadm => (
            crate::import::from_ipvsadm(path),
            format!("the ipvsadm rules {}", path.display()),
        ),
    };
    match read {
        Ok(imported) => {
            for warning in &imported.warnings {
                eprintln!("{}", warning.compact());
            }
            let import = commands::ImportOptions {
                out,
                manage_hosts: hosts,
                director: None,
                checks: &imported.checks,
                origin: &origin,
                color,
            };
            commands::import(connector, &imported.table(), &import)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Status::Failed
        }
    }
}

fn agent() -> Status {
    match crate::agent::serve_stdio() {
        Ok(()) => Status::Done,
        Err(e) => {
            eprintln!("error: lvsform agent: {e}");
            Status::Failed
        }
    }
}

/// lvsform.1 and one page per visible command, in `dir`.
fn man_pages(dir: &std::path::Path) -> Status {
    let cli = Cli::command();
    let pages = std::iter::once(cli.clone()).chain(
        cli.get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.clone().name(format!("lvsform-{}", c.get_name()))),
    );
    for page in pages {
        let path = dir.join(format!("{}.1", page.get_name()));
        let mut text = Vec::new();
        let written = clap_mangen::Man::new(page)
            .render(&mut text)
            .and_then(|()| std::fs::write(&path, text));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            return Status::Failed;
        }
    }
    Status::Done
}

/// Which director `show` and `import` read: this machine, or one a configuration names.
#[derive(clap::Args)]
struct DirectorChoice {
    /// Read the director of this name in the configuration (over SSH when it has an ssh
    /// block) instead of this machine.
    #[arg(long, value_name = "NAME")]
    director: Option<String>,
    /// The configuration that names the director.
    #[arg(
        long = "config",
        value_name = "DIR",
        default_value = ".",
        requires = "director"
    )]
    config: PathBuf,
    #[command(flatten)]
    vars: VarArgs,
}

impl DirectorChoice {
    fn chosen(self, inputs: Inputs) -> Option<commands::NamedDirector> {
        Some(commands::NamedDirector {
            name: self.director?,
            dir: self.config,
            inputs,
        })
    }
}

#[derive(clap::Args)]
struct VarArgs {
    /// Set a variable: NAME=VALUE (repeatable; later wins).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    var: Vec<String>,
    /// Read variables from a file of `name = value` lines (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    var_file: Vec<PathBuf>,
}

/// `--var` and `--var-file` merged in command-line order, which decides precedence.
fn ordered_vars(args: &VarArgs, matches: &ArgMatches) -> Vec<VarArg> {
    let positions = |id: &str| {
        matches
            .indices_of(id)
            .map(|i| i.collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut all: Vec<(usize, VarArg)> = positions("var")
        .into_iter()
        .zip(args.var.iter().map(|v| VarArg::Pair(v.clone())))
        .chain(
            positions("var_file")
                .into_iter()
                .zip(args.var_file.iter().map(|f| VarArg::File(f.clone()))),
        )
        .collect();
    all.sort_by_key(|(position, _)| *position);
    all.into_iter().map(|(_, arg)| arg).collect()
}

/// Parses the command line, runs the command and returns the exit code.
pub fn run() -> u8 {
    dispatch().exit_code()
}

fn dispatch() -> Status {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (matches, cli)));
    let (matches, cli) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            let _ = err.print();
            // Help and version are answers. Every usage error exits 1, as Terraform's do:
            // clap's 2 would read as "changes" under --detailed-exitcode.
            return match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Status::Done,
                _ => Status::Failed,
            };
        }
    };
    if let Some(dir) = &cli.chdir
        && let Err(err) = std::env::set_current_dir(dir)
    {
        eprintln!("error: cannot change to {}: {err}", dir.display());
        return Status::Failed;
    }
    let context = Context {
        connector: &crate::backend::SystemConnector,
        color: !cli.no_color
            && std::env::var_os("NO_COLOR").is_none()
            && std::io::stderr().is_terminal(),
        matches: matches.subcommand().map(|(_, m)| m),
    };
    context.run(cli.command)
}

/// What every command is run with.
struct Context<'a> {
    connector: &'a dyn crate::backend::Connector,
    color: bool,
    /// The subcommand's arguments, for the order of `--var` and `--var-file`.
    matches: Option<&'a ArgMatches>,
}

impl Context<'_> {
    fn run(&self, command: Command) -> Status {
        let (connector, color) = (self.connector, self.color);
        match command {
            Command::Validate { dir, json, vars } => {
                commands::validate(&dir, json, &self.inputs(&vars), color)
            }
            Command::Fmt { dir, check } => commands::fmt(&dir, check, color),
            Command::Completions { shell } => completions(shell),
            Command::Man { dir } => man_pages(&dir),
            Command::Agent => agent(),
            Command::Import {
                out,
                hosts,
                from_keepalived,
                from_ipvsadm,
                director,
            } => {
                let file = match (from_keepalived, from_ipvsadm) {
                    (Some(path), _) => Some((path, FileKind::Keepalived)),
                    (None, Some(path)) => Some((path, FileKind::Ipvsadm)),
                    (None, None) => None,
                };
                if let Some((path, kind)) = file {
                    return import_file(connector, out.as_deref(), hosts, &path, kind, color);
                }
                let inputs = self.inputs(&director.vars);
                let from = director.chosen(inputs);
                match commands::live_table(connector, from.as_ref(), color) {
                    Ok((table, remote)) => {
                        let import = commands::ImportOptions {
                            out: out.as_deref(),
                            manage_hosts: hosts,
                            director: remote.as_ref(),
                            checks: &Default::default(),
                            origin: "the live IPVS table",
                            color,
                        };
                        commands::import(connector, &table, &import)
                    }
                    Err(commands::Reported) => Status::Failed,
                }
            }
            Command::Plan {
                dir,
                json,
                markdown,
                detailed_exitcode,
                out,
                target,
                director,
                vars,
            } => {
                let options = self.options(dir, &vars, view(json, markdown), target, director);
                commands::plan(connector, &options, detailed_exitcode, out.as_deref())
            }
            Command::Apply {
                dir,
                auto_approve,
                json,
                no_drain,
                lock_timeout,
                target,
                director,
                vars,
            } => {
                let apply = apply_options(auto_approve, no_drain, lock_timeout);
                if dir.is_file() {
                    return self.apply_saved(&dir, json, &apply, &vars, &target, &director);
                }
                let options = self.options(dir, &vars, view(json, false), target, director);
                commands::apply(connector, &options, &apply, crate::plan::Goal::Converge)
            }
            Command::Destroy {
                dir,
                auto_approve,
                no_drain,
                lock_timeout,
                director,
                vars,
            } => {
                let apply = apply_options(auto_approve, no_drain, lock_timeout);
                let options = self.options(dir, &vars, commands::View::Human, vec![], director);
                commands::apply(connector, &options, &apply, crate::plan::Goal::Destroy)
            }
            Command::Show {
                planfile: Some(path),
                json,
                markdown,
                ..
            } => commands::show_saved(&path, view(json, markdown), color),
            Command::Show {
                planfile: None,
                json,
                stats,
                director,
                ..
            } => {
                let inputs = self.inputs(&director.vars);
                let from = director.chosen(inputs);
                commands::show(connector, from.as_ref(), json, stats, color)
            }
        }
    }

    /// `apply PLANFILE`: the plan as it was made, so nothing that would make another.
    fn apply_saved(
        &self,
        path: &std::path::Path,
        json: bool,
        apply: &commands::ApplyOptions,
        vars: &VarArgs,
        targets: &[String],
        directors: &[String],
    ) -> Status {
        if !vars.var.is_empty()
            || !vars.var_file.is_empty()
            || !targets.is_empty()
            || !directors.is_empty()
        {
            commands::fail(&commands::Refusal::SavedPlanOptions);
            return Status::Failed;
        }
        commands::apply_saved(self.connector, path, json, self.color, apply)
    }

    fn inputs(&self, vars: &VarArgs) -> Inputs {
        Inputs::from_env(
            self.matches
                .map(|m| ordered_vars(vars, m))
                .unwrap_or_default(),
        )
    }

    fn options(
        &self,
        dir: PathBuf,
        vars: &VarArgs,
        view: commands::View,
        targets: Vec<String>,
        directors: Vec<String>,
    ) -> commands::Options {
        commands::Options {
            dir,
            inputs: self.inputs(vars),
            view,
            color: self.color,
            targets,
            directors,
        }
    }
}

fn apply_options(
    auto_approve: bool,
    no_drain: bool,
    lock_timeout: std::time::Duration,
) -> commands::ApplyOptions {
    commands::ApplyOptions {
        auto_approve,
        drain: !no_drain,
        lock_timeout,
    }
}

fn view(json: bool, markdown: bool) -> commands::View {
    match (json, markdown) {
        (true, _) => commands::View::Json,
        (_, true) => commands::View::Markdown,
        _ => commands::View::Human,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("\"{0}\" is not a duration like 30s")]
struct NotADuration(String);

fn parse_lock_timeout(text: &str) -> Result<std::time::Duration, NotADuration> {
    crate::config::parse_duration(text).ok_or_else(|| NotADuration(text.to_string()))
}
