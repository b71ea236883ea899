//! Real-server hosts: what lvsform reads and changes on them (sysctls, addresses, links,
//! modules, persistence files), behind a narrow interface with an SSH implementation
//! (`SshHost`, the only code that uses ssh2) and an in-memory one (`FakeHost`).
//!
//! Remote commands are built here from validated values only: every sysctl, interface,
//! module and file comes from the managed sets below, every address is a parsed `IpNet`,
//! and each word is shell-quoted all the same.

#[cfg(any(test, feature = "fakes"))]
mod fake;
pub mod firewall;
mod script;
mod ssh;

pub use crate::parallel::for_each_parallel;
#[cfg(any(test, feature = "fakes"))]
pub use fake::FakeHost;
pub use script::parse_facts;
pub use ssh::{SshHost, SshTarget, open_session};

use crate::model::InterfaceAddress;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// Interfaces whose addresses and state lvsform reads and may change.
pub const MANAGED_INTERFACES: &[&str] = &["lo", "tunl0", "gre0", "ip6tnl0", "ip6gre0"];
/// Kernel modules lvsform may load.
pub const MANAGED_MODULES: &[&str] = &["ipip", "ip_gre", "ip6_tunnel", "ip6_gre", "fou"];
/// The persistence files.
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/90-lvsform.conf";
pub const UNIT_FILE: &str = "/etc/systemd/system/lvsform-vips.service";
pub const MANAGED_FILES: &[&str] = &[SYSCTL_FILE, UNIT_FILE];
/// The unit's name, as `systemctl` knows it.
pub const UNIT: &str = "lvsform-vips.service";

/// Every sysctl lvsform reads and may set on a real server.
pub fn managed_sysctls() -> Vec<String> {
    let mut names = Vec::new();
    for scope in ["all", "lo", "tunl0", "gre0"] {
        for key in ["arp_ignore", "arp_announce", "rp_filter"] {
            names.push(format!("net.ipv4.conf.{scope}.{key}"));
        }
    }
    names
}

/// What one host holds of the managed settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub sysctls: BTreeMap<String, String>,
    /// Addresses on the managed interfaces.
    pub addresses: BTreeSet<InterfaceAddress>,
    /// Managed interfaces that exist, and whether each is up.
    pub links: BTreeMap<String, bool>,
    /// Managed modules that are loaded (or built in).
    pub modules: BTreeSet<String>,
    /// The gateway of the IPv4 default route.
    pub default_route: Option<IpAddr>,
    /// Managed files that exist, with their content.
    pub files: BTreeMap<String, String>,
    /// systemd is the init system (the VIP unit can be installed).
    pub systemd: bool,
    /// The VIP unit is enabled (starts at boot).
    pub unit_enabled: bool,
    /// `iptables -S INPUT`, when iptables is there and readable.
    pub iptables_input: Option<String>,
}

/// One change to a host. Each is idempotent and carries what it replaced, so that its
/// inverse restores the host exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostChange {
    SetSysctl {
        name: String,
        value: String,
        before: Option<String>,
    },
    AddAddress(InterfaceAddress),
    DelAddress(InterfaceAddress),
    LoadModule(String),
    UnloadModule(String),
    LinkUp(String),
    LinkDown(String),
    WriteFile {
        path: String,
        content: String,
        before: Option<String>,
    },
    RemoveFile {
        path: String,
        before: String,
    },
    EnableUnit,
    DisableUnit,
    /// lvsform's iptables rule accepting IP-in-IP (`firewall::RULE`).
    AddFirewallRule,
    DelFirewallRule,
}

impl HostChange {
    /// The change that undoes this one.
    pub fn inverse(&self) -> HostChange {
        match self {
            HostChange::SetSysctl {
                name,
                value,
                before,
            } => match before {
                Some(old) => HostChange::SetSysctl {
                    name: name.clone(),
                    value: old.clone(),
                    before: Some(value.clone()),
                },
                // A sysctl that did not exist cannot be removed: setting it again is a no-op.
                None => self.clone(),
            },
            HostChange::AddAddress(a) => HostChange::DelAddress(a.clone()),
            HostChange::DelAddress(a) => HostChange::AddAddress(a.clone()),
            HostChange::LoadModule(m) => HostChange::UnloadModule(m.clone()),
            HostChange::UnloadModule(m) => HostChange::LoadModule(m.clone()),
            HostChange::LinkUp(l) => HostChange::LinkDown(l.clone()),
            HostChange::LinkDown(l) => HostChange::LinkUp(l.clone()),
            HostChange::WriteFile {
                path,
                content,
                before,
            } => match before {
                Some(old) => HostChange::WriteFile {
                    path: path.clone(),
                    content: old.clone(),
                    before: Some(content.clone()),
                },
                None => HostChange::RemoveFile {
                    path: path.clone(),
                    before: content.clone(),
                },
            },
            HostChange::RemoveFile { path, before } => HostChange::WriteFile {
                path: path.clone(),
                content: before.clone(),
                before: None,
            },
            HostChange::EnableUnit => HostChange::DisableUnit,
            HostChange::DisableUnit => HostChange::EnableUnit,
            HostChange::AddFirewallRule => HostChange::DelFirewallRule,
            HostChange::DelFirewallRule => HostChange::AddFirewallRule,
        }
    }
}

impl fmt::Display for HostChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostChange::SetSysctl { name, value, .. } => write!(f, "set {name} = {value}"),
            HostChange::AddAddress(a) => write!(f, "add {} to {}", a.address, a.interface),
            HostChange::DelAddress(a) => write!(f, "remove {} from {}", a.address, a.interface),
            HostChange::LoadModule(m) => write!(f, "load module {m}"),
            HostChange::UnloadModule(m) => write!(f, "unload module {m}"),
            HostChange::LinkUp(l) => write!(f, "bring {l} up"),
            HostChange::LinkDown(l) => write!(f, "bring {l} down"),
            HostChange::WriteFile { path, .. } => write!(f, "write {path}"),
            HostChange::RemoveFile { path, .. } => write!(f, "remove {path}"),
            HostChange::EnableUnit => write!(f, "enable {UNIT}"),
            HostChange::DisableUnit => write!(f, "disable {UNIT}"),
            HostChange::AddFirewallRule => write!(f, "accept IP-in-IP in the INPUT chain"),
            HostChange::DelFirewallRule => {
                write!(f, "remove lvsform's IP-in-IP rule from the INPUT chain")
            }
        }
    }
}

/// Why a host could not be read or changed.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum HostError {
    /// A value outside the managed sets: refused before anything ran.
    #[error("refused before running anything: {0}")]
    Unsafe(String),
    #[error("{host}: cannot connect: {detail}")]
    #[diagnostic(help(
        "check that the host is up, that sshd listens on that port, and the ssh `timeout`"
    ))]
    Connect { host: String, detail: String },
    #[error("{host}: host key {fingerprint} is not in {known_hosts}")]
    #[diagnostic(help(
        "verify the fingerprint with the host's owner, then add it: {} >> {known_hosts}",
        keyscan(host, *port)
    ))]
    UnknownHostKey {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: String,
    },
    #[error(
        "{host}: HOST KEY MISMATCH: the host presented {fingerprint}, which differs from {known_hosts}; refusing to connect (someone may be impersonating it)"
    )]
    #[diagnostic(help(
        "if the host was reinstalled, remove its old line from {known_hosts} and verify the new key"
    ))]
    HostKeyMismatch {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: String,
    },
    #[error("{host}: authentication as {user} failed: {detail}")]
    #[diagnostic(help(
        "check `user`, `private_key` or `agent` in the ssh block, and the host's authorized_keys"
    ))]
    Auth {
        host: String,
        user: String,
        detail: String,
    },
    #[error("{host}: ssh: {detail}")]
    Ssh { host: String, detail: String },
    #[error("{host}: permission denied: {detail}")]
    #[diagnostic(help(
        "log in as root, or set `sudo = true` in the ssh block (it needs passwordless sudo)"
    ))]
    Permission { host: String, detail: String },
    #[error("{host}: {}{}", remote_step(step.as_deref(), *status), remote_stderr(stderr))]
    Remote {
        host: String,
        step: Option<String>,
        status: i32,
        stderr: String,
    },
    #[error("{host}: unexpected output: {detail}")]
    Output { host: String, detail: String },
}

impl HostError {
    /// The same error with its host named as `label` says (a director as its
    /// configuration names it: `"lb2" (10.1.0.2)`); host-key errors keep the bare address,
    /// which their fix names.
    pub fn labelled(mut self, label: &str) -> HostError {
        match &mut self {
            HostError::Connect { host, .. }
            | HostError::Auth { host, .. }
            | HostError::Ssh { host, .. }
            | HostError::Permission { host, .. } => *host = label.to_string(),
            _ => {}
        }
        self
    }
}

fn keyscan(host: &str, port: u16) -> String {
    if port == 22 {
        format!("ssh-keyscan {host}")
    } else {
        format!("ssh-keyscan -p {port} {host}")
    }
}

fn remote_step(step: Option<&str>, status: i32) -> String {
    match step {
        Some(step) => format!("failed to {step} (exit status {status})"),
        None => format!("the remote command failed (exit status {status})"),
    }
}

fn remote_stderr(stderr: &str) -> String {
    match stderr.trim() {
        "" => String::new(),
        text => format!(": {text}"),
    }
}

/// How far a batch of changes got before it failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct HostApplyError {
    /// The first `applied` changes took effect.
    pub applied: usize,
    /// After them, this many may or may not have (the connection broke while the script
    /// ran); the rest did not.
    pub unknown: usize,
    pub error: HostError,
}

impl HostApplyError {
    /// Nothing ran.
    pub fn refused(error: HostError) -> HostApplyError {
        HostApplyError {
            applied: 0,
            unknown: 0,
            error,
        }
    }
}

impl miette::Diagnostic for HostApplyError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.help()
    }
}

/// One real-server host.
pub trait Host: Send {
    /// The SSH address, as hosts are keyed in the configuration.
    fn name(&self) -> &str;

    /// Reads every managed setting in one round trip.
    fn observe(&mut self) -> Result<HostFacts, HostError>;

    /// Carries out the changes in order and stops at the first failure.
    fn apply(&mut self, changes: &[HostChange]) -> Result<(), HostApplyError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverses_restore_what_was_there() {
        let lo = InterfaceAddress::host("lo", "203.0.113.10".parse().unwrap());
        let changes = [
            HostChange::SetSysctl {
                name: "net.ipv4.conf.lo.arp_ignore".into(),
                value: "1".into(),
                before: Some("0".into()),
            },
            HostChange::AddAddress(lo.clone()),
            HostChange::LoadModule("ipip".into()),
            HostChange::LinkUp("tunl0".into()),
            HostChange::WriteFile {
                path: SYSCTL_FILE.into(),
                content: "new\n".into(),
                before: Some("old\n".into()),
            },
            HostChange::WriteFile {
                path: UNIT_FILE.into(),
                content: "unit\n".into(),
                before: None,
            },
        ];
        for change in &changes {
            assert_eq!(change.inverse().inverse(), *change, "{change}");
        }
        assert_eq!(changes[1].inverse(), HostChange::DelAddress(lo));
        assert_eq!(
            changes[5].inverse(),
            HostChange::RemoveFile {
                path: UNIT_FILE.into(),
                before: "unit\n".into()
            }
        );
    }
}
