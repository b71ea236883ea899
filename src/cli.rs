//! The command line: clap types stay here; commands receive plain values.

use crate::config::{self, Inputs, VarArg, files};
use crate::diag::{Diagnostics, render_by_kind};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Exit codes (SPEC §3).
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_FMT_CHANGES: u8 = 3;
pub const EXIT_ROLLBACK_FAILED: u8 = 4;

#[derive(Parser)]
#[command(
    name = "lvsform",
    version,
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
        #[arg(long)]
        json: bool,
        /// Exit 2 when there are changes, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Save the plan to this file, for `lvsform apply FILE`.
        #[arg(short = 'o', long = "out", value_name = "PLANFILE")]
        out: Option<PathBuf>,
        /// Limit the plan to this resource address and what it needs (repeatable).
        #[arg(long = "target", value_name = "ADDR")]
        target: Vec<String>,
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
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Show the director's live IPVS table.
    Show {
        /// A plan file saved by `plan -o`; without it, the live table.
        planfile: Option<PathBuf>,
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
        /// Add per-service and per-server counters and rates.
        #[arg(long)]
        stats: bool,
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
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if let Some(dir) = &cli.chdir
        && let Err(err) = std::env::set_current_dir(dir)
    {
        eprintln!("error: cannot change to {}: {err}", dir.display());
        return EXIT_ERROR;
    }
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let sub = matches.subcommand().map(|(_, m)| m);
    match cli.command {
        Command::Validate { dir, json, vars } => {
            let vars = sub.map(|m| ordered_vars(&vars, m)).unwrap_or_default();
            validate(&dir, json, &Inputs::from_env(vars), color)
        }
        Command::Fmt { dir, check } => fmt(&dir, check, color),
        Command::Import { out, hosts } => match live_table() {
            Ok(table) => crate::commands::import(&table, out.as_deref(), hosts, color),
            Err(code) => code,
        },
        Command::Plan {
            dir,
            json,
            detailed_exitcode,
            out,
            target,
            vars,
        } => {
            let vars = sub.map(|m| ordered_vars(&vars, m)).unwrap_or_default();
            let options = crate::commands::Options {
                dir,
                inputs: Inputs::from_env(vars),
                json,
                color,
                targets: target,
            };
            crate::commands::plan(&options, detailed_exitcode, out.as_deref())
        }
        Command::Apply {
            dir,
            auto_approve,
            json,
            no_drain,
            lock_timeout,
            target,
            vars,
        } => {
            let apply = crate::commands::ApplyOptions {
                auto_approve,
                drain: !no_drain,
                lock_timeout,
            };
            if dir.is_file() {
                return crate::commands::apply_saved(&dir, color, &apply);
            }
            let vars = sub.map(|m| ordered_vars(&vars, m)).unwrap_or_default();
            let options = crate::commands::Options {
                dir,
                inputs: Inputs::from_env(vars),
                json,
                color,
                targets: target,
            };
            crate::commands::apply(&options, &apply, crate::plan::Goal::Converge)
        }
        Command::Destroy {
            dir,
            auto_approve,
            no_drain,
            lock_timeout,
            vars,
        } => {
            let apply = crate::commands::ApplyOptions {
                auto_approve,
                drain: !no_drain,
                lock_timeout,
            };
            let vars = sub.map(|m| ordered_vars(&vars, m)).unwrap_or_default();
            let options = crate::commands::Options {
                dir,
                inputs: Inputs::from_env(vars),
                json: false,
                color,
                targets: vec![],
            };
            crate::commands::apply(&options, &apply, crate::plan::Goal::Destroy)
        }
        Command::Show {
            planfile: Some(path),
            json,
            ..
        } => {
            let options = crate::commands::Options {
                dir: PathBuf::new(),
                inputs: Inputs::default(),
                json,
                color,
                targets: vec![],
            };
            crate::commands::show_saved(&path, &options)
        }
        Command::Show {
            planfile: None,
            json,
            stats,
        } => show(json, stats),
    }
}

/// Prints to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Diagnostics on stderr, one kind at a time (the full list is in `--json`).
pub(crate) fn report(diags: &Diagnostics, color: bool) {
    let _ = std::io::stderr()
        .lock()
        .write_all(render_by_kind(diags, color).as_bytes());
}

fn validate(dir: &Path, json: bool, inputs: &Inputs, color: bool) -> u8 {
    let (config, diags) = config::load(dir, inputs);
    if json {
        let doc = serde_json::json!({
            "format_version": "1",
            "valid": config.is_some(),
            "error_count": diags.errors(),
            "warning_count": diags.warnings(),
            "diagnostics": diags.0.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
        });
        out(&format!("{doc:#}\n"));
    } else {
        report(&diags, color);
    }
    match config {
        Some(config) => {
            if !json {
                let servers: usize = config
                    .desired
                    .services
                    .values()
                    .map(|s| s.destinations.len())
                    .sum();
                out(&format!(
                    "The configuration is valid: {} virtual servers, {servers} real servers, {} managed hosts.\n",
                    config.desired.services.len(),
                    config.desired.hosts.len()
                ));
            }
            EXIT_OK
        }
        None => {
            if !json {
                eprintln!(
                    "{} error(s): the configuration is not valid.",
                    diags.errors()
                );
            }
            EXIT_ERROR
        }
    }
}

fn fmt(dir: &Path, check: bool, color: bool) -> u8 {
    let mut paths = match files::config_files(dir) {
        Ok(paths) => paths,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", dir.display());
            return EXIT_ERROR;
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
                    return EXIT_ERROR;
                }
                out(&format!("{}\n", files::display_name(&path)));
            }
            Err(err) => {
                eprintln!("error: {}: {err}", files::display_name(&path));
                return EXIT_ERROR;
            }
        }
    }
    if diags.has_errors() {
        report(&diags, color);
        return EXIT_ERROR;
    }
    if check && changed {
        EXIT_FMT_CHANGES
    } else {
        EXIT_OK
    }
}

/// The director's IPVS table, or the exit code after saying why it cannot be read.
fn live_table() -> Result<crate::ipvs::Table, u8> {
    use crate::ipvs::Ipvs;
    crate::ipvs::NetlinkIpvs::connect()
        .and_then(|mut ipvs| ipvs.observe())
        .map_err(|err| {
            eprintln!("error: {err}");
            EXIT_ERROR
        })
}

fn show(json: bool, stats: bool) -> u8 {
    let table = match live_table() {
        Ok(table) => table,
        Err(code) => return code,
    };
    if json {
        let doc = serde_json::json!({ "format_version": "1", "table": table });
        out(&format!("{doc:#}\n"));
    } else {
        out(&crate::show::render(&table, stats));
    }
    EXIT_OK
}

fn parse_lock_timeout(text: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(text)
        .ok_or_else(|| format!("\"{text}\" is not a duration like 30s"))
}
