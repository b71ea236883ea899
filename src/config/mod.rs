//! From a directory of HCL files to the desired state: parse (with spans), evaluate,
//! validate, and derive what every host must hold.

mod body;
mod build;
mod decode;
mod eval;
pub mod files;
mod functions;
mod value;
mod vars;

pub use body::parse_duration;
pub use vars::VarArg;

use crate::address::Address;
use crate::diag::{Diag, Diagnostics, Location};
use crate::host::SshTarget;
use crate::log::timed;
use crate::model::{DestinationKey, Service, ServiceKey, State};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A loaded configuration: the desired state plus what the plan needs besides it
/// (names, sources, policies, how to reach hosts).
#[derive(Debug)]
pub struct Config {
    pub desired: State,
    /// Configuration address and policy of each declared service, by identity.
    pub services: BTreeMap<ServiceKey, ServiceMeta>,
    /// How to reach each managed host, by SSH address.
    pub hosts: BTreeMap<String, HostMeta>,
    /// Every director, in declared order: one or more. The unlabeled `director {}` block,
    /// or none (this machine), is the one director without a name.
    pub directors: Vec<DirectorConfig>,
    /// How many hosts are reached at once.
    pub parallelism: usize,
    /// Where each resource address is declared.
    pub locations: BTreeMap<Address, Location>,
    /// The top-level `vrrp` block: the directors with a priority share their VIPs through
    /// keepalived's VRRP (SPEC §10).
    pub vrrp: Option<crate::keepalived::Vrrp>,
}

#[derive(Debug, Clone)]
pub struct ServiceMeta {
    pub address: Address,
    pub drain: Duration,
    pub prevent_destroy: bool,
    pub max_depool: Depool,
    pub destinations: BTreeMap<DestinationKey, DestinationMeta>,
    /// Its `health_check`: the service is keepalived's on every director serving it.
    pub health_check: Option<crate::keepalived::HealthCheck>,
    /// Its `probe`: apply dials the real servers it adds or changes.
    pub probe: Option<crate::probe::Probe>,
}

#[derive(Debug, Clone)]
pub struct DestinationMeta {
    pub address: Address,
    /// The SSH address of the host, when lvsform manages it.
    pub host: Option<String>,
}

/// How much of a service's destinations one plan may remove or zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Depool {
    Percent(u8),
    Count(u32),
}

/// A director: how to reach it, what it holds, which services it serves.
#[derive(Debug, Clone, Default)]
pub struct DirectorConfig {
    pub meta: DirectorMeta,
    /// Its sysctls (with what its NAT services need), timeouts, sync daemons, and the VIPs
    /// of its services on its interface.
    pub settings: crate::model::Director,
    pub services: std::collections::BTreeSet<ServiceKey>,
    /// With a VRRP priority: the VIPs of its services on its interface, which keepalived's
    /// VRRP instance holds (they are not in `settings`).
    pub vrrp_addresses: std::collections::BTreeSet<crate::model::InterfaceAddress>,
}

impl Config {
    /// The index of the director named `name` (none: the unnamed one) — of a plan made
    /// from this configuration, whose directors are these.
    pub fn director_index(&self, name: Option<&str>) -> usize {
        (self.directors.iter())
            .position(|d| d.name() == name)
            .expect("a plan's director is one of the configuration's")
    }
}

impl DirectorConfig {
    /// The label of `director "NAME"`; none for the unlabeled director.
    pub fn name(&self) -> Option<&str> {
        self.meta.name.as_deref()
    }
}

#[derive(Debug, Clone, Default)]
pub struct DirectorMeta {
    /// The label of a named director.
    pub name: Option<String>,
    pub interface: Option<String>,
    pub dip: Option<IpAddr>,
    pub ignore_vips: Vec<IpNet>,
    pub ignore_fwmarks: Vec<u32>,
    /// How to reach the director when it is not this machine (its `ssh` block).
    pub remote: Option<RemoteDirectorMeta>,
    /// Where its keepalived keeps lvsform's file and its pid.
    pub keepalived: crate::keepalived::Files,
    /// Its VRRP priority: keepalived's VRRP holds its VIPs, not lvsform.
    pub vrrp_priority: Option<u8>,
}

/// A director reached over SSH, where lvsform runs itself (`lvsform agent`).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteDirectorMeta {
    /// The label of a named director, by which messages name it beside its host.
    pub name: Option<String>,
    pub ssh: SshTarget,
    /// The command that runs lvsform there: a name found on its PATH, or a path.
    pub lvsform: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostMeta {
    pub ssh: SshTarget,
    /// TUN: add a firewall rule accepting IP-in-IP instead of failing the plan.
    pub manage_firewall: bool,
}

impl Config {
    /// Whether the directors are named (`director "NAME"` blocks): their parts of a plan
    /// go under `director["NAME"]`, and `--director` chooses among them.
    pub fn named(&self) -> bool {
        self.directors[0].meta.name.is_some()
    }

    /// The director's address the NAT real servers route through: the first director's
    /// that has a `dip`.
    pub fn dip(&self) -> Option<IpAddr> {
        self.directors.iter().find_map(|d| d.meta.dip)
    }

    /// The declared services director `index` serves: all of them, or (under `directors`)
    /// some, then copied.
    pub fn served_by(&self, index: usize) -> std::borrow::Cow<'_, BTreeMap<ServiceKey, Service>> {
        let serves = &self.directors[index].services;
        if serves.len() == self.desired.services.len() {
            return std::borrow::Cow::Borrowed(&self.desired.services);
        }
        std::borrow::Cow::Owned(
            self.desired
                .services
                .iter()
                .filter(|(key, _)| serves.contains(key))
                .map(|(key, service)| (*key, service.clone()))
                .collect(),
        )
    }
}

/// What the command line and the environment add to a configuration directory.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub vars: Vec<VarArg>,
    /// `LVSFORM_VAR_*` and anything else; only declared names are taken.
    pub env: Vec<(String, String)>,
}

impl Inputs {
    pub fn from_env(vars: Vec<VarArg>) -> Inputs {
        Inputs {
            vars,
            env: std::env::vars().collect(),
        }
    }
}

/// Loads and validates the configuration in `dir`. Returns the configuration when there
/// are no errors; the diagnostics (errors and warnings) either way, sorted by place.
pub fn load(dir: &Path, inputs: &Inputs) -> (Option<Config>, Diagnostics) {
    load_reaching(dir, inputs, &|_, _| {})
}

/// `load`, calling `on_remote` with a remote director's SSH settings as soon as its block
/// is read without errors, while the rest is still evaluated: that director can be reached
/// meanwhile.
pub fn load_reaching(
    dir: &Path,
    inputs: &Inputs,
    on_remote: &(dyn Fn(bool, &RemoteDirectorMeta) + Sync),
) -> (Option<Config>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let config = timed("configuration parsed", || {
        files::Modules::load(dir, &mut diags)
    })
    .and_then(|modules| {
        timed("configuration evaluated", || {
            with_evaluation_stack(|| decode::decode(&modules, inputs, on_remote, &mut diags))
                .unwrap_or_else(|e| {
                    diags.push(
                        Diag::error(format!("cannot start evaluating the configuration: {e}"))
                            .help("the system refused a thread: free memory or raise the limits"),
                    );
                    None
                })
        })
    })
    .map(|declared| timed("desired state built", || build::build(declared, &mut diags)));
    timed("diagnostics sorted", || diags.sort());
    if diags.has_errors() {
        (None, diags)
    } else {
        (config, diags)
    }
}

/// Evaluation recurses as deep as expressions nest (at most `eval::MAX_DEPTH` levels, each
/// a few frames): it runs on a stack of its own, far larger than that needs in any build.
const EVALUATION_STACK: usize = 64 << 20;

fn with_evaluation_stack<T: Send>(work: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("evaluation".into())
            .stack_size(EVALUATION_STACK)
            .spawn_scoped(scope, work)
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
    })
}

/// A path as written in a file: `~` is the home directory, relative paths are relative to
/// the directory of the file.
pub fn expand_path(dir: &Path, path: &str) -> PathBuf {
    if let Some(rest) = path
        .strip_prefix("~/")
        .or(if path == "~" { Some("") } else { None })
    {
        return home_dir().join(rest);
    }
    dir.join(path)
}

/// `HOME`, or when it is unset or empty (cron, systemd units) the account's home directory
/// from the password database, as ssh does; `/` if even that is missing, never a path
/// relative to wherever lvsform happens to run.
fn home_dir() -> PathBuf {
    home_dir_from(std::env::var_os("HOME"))
}

/// `home_dir` with `HOME` as given (the environment is the process's: a test cannot unset
/// it for one thread).
fn home_dir_from(home: Option<std::ffi::OsString>) -> PathBuf {
    match home.filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home),
        None => account_home().unwrap_or_else(|| PathBuf::from("/")),
    }
}

fn account_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `entry` and `buffer`, both owned here and large enough
    // as declared; `found` is null unless it succeeded, and then points at `entry`.
    let status = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() || entry.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points into `buffer`, NUL-terminated by getpwuid_r.
    let dir = unsafe { std::ffi::CStr::from_ptr(entry.pw_dir) };
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_home_the_account_home_comes_from_the_password_database() {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() }.to_string();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let expected = passwd
            .lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.get(2) == Some(&uid.as_str()))
            .map(|fields| PathBuf::from(fields[5]));
        let expected = expected.expect("this account is in /etc/passwd");
        assert_eq!(home_dir_from(None), expected, "HOME unset");
        assert_eq!(home_dir_from(Some("".into())), expected, "HOME empty");
        assert_eq!(
            home_dir_from(Some("/elsewhere".into())),
            Path::new("/elsewhere")
        );
    }
}
