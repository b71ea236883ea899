//! The director's own settings besides IPVS: its sysctls and the VIPs on its interface.
//! Read from /proc and iproute2 locally; changed without a shell (arguments only).

use crate::keepalived;
use crate::model::{InterfaceAddress, Service, ServiceKey};
#[cfg(any(test, feature = "fakes"))]
use crate::probe::Seen;
use crate::probe::{Outcome, ProbeError, ProbeRun};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::process::Command;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectorFacts {
    /// The values of the sysctls asked for (absent: no such sysctl).
    pub sysctls: BTreeMap<String, String>,
    /// Addresses on the interface asked for.
    pub addresses: BTreeSet<InterfaceAddress>,
    /// keepalived, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalived: Option<keepalived::Facts>,
}

impl DirectorFacts {
    /// These facts without what keepalived's checks say now, which changes on its own.
    pub fn as_configured(&self) -> DirectorFacts {
        let mut facts = self.clone();
        if let Some(Some(Ok(daemon))) = facts.keepalived.as_mut().map(|k| k.daemon.as_mut()) {
            daemon.down.clear();
        }
        facts
    }
}

/// What to read of keepalived: lvsform's file, and keepalived itself when `daemon` (the
/// director serves services with checks) or when the file exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepalivedQuery {
    pub files: keepalived::Files,
    pub daemon: bool,
}

/// lvsform's keepalived file replaced by `content` (none: removed), and keepalived
/// reloaded. `services` are what keepalived must make of it, to wait for; `before` and
/// `services_before` the same of the file it replaces, for the inverse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepalivedWrite {
    pub files: keepalived::Files,
    pub content: Option<String>,
    pub before: Option<String>,
    #[serde(with = "crate::model::entries")]
    pub services: BTreeMap<ServiceKey, Service>,
    #[serde(with = "crate::model::entries")]
    pub services_before: BTreeMap<ServiceKey, Service>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectorChange {
    SetSysctl {
        name: String,
        value: String,
        before: Option<String>,
    },
    AddAddress(InterfaceAddress),
    DelAddress(InterfaceAddress),
    Keepalived(Box<KeepalivedWrite>),
}

impl DirectorChange {
    pub fn inverse(&self) -> DirectorChange {
        match self {
            DirectorChange::SetSysctl {
                name,
                value,
                before: Some(old),
            } => DirectorChange::SetSysctl {
                name: name.clone(),
                value: old.clone(),
                before: Some(value.clone()),
            },
            DirectorChange::SetSysctl { .. } => self.clone(),
            DirectorChange::AddAddress(a) => DirectorChange::DelAddress(a.clone()),
            DirectorChange::DelAddress(a) => DirectorChange::AddAddress(a.clone()),
            DirectorChange::Keepalived(write) => {
                DirectorChange::Keepalived(Box::new(KeepalivedWrite {
                    files: write.files.clone(),
                    content: write.before.clone(),
                    before: write.content.clone(),
                    services: write.services_before.clone(),
                    services_before: write.services.clone(),
                }))
            }
        }
    }
}

impl fmt::Display for DirectorChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectorChange::SetSysctl { name, value, .. } => {
                write!(f, "set {name} = {value} on the director")
            }
            DirectorChange::AddAddress(a) => {
                write!(f, "add {} to the director's {}", a.address, a.interface)
            }
            DirectorChange::DelAddress(a) => write!(
                f,
                "remove {} from the director's {}",
                a.address, a.interface
            ),
            DirectorChange::Keepalived(w) => match &w.content {
                Some(_) => write!(f, "write {} and reload keepalived", w.files.file),
                None => write!(f, "remove {} and reload keepalived", w.files.file),
            },
        }
    }
}

/// A sysctl name in dotted form, every part plain (no path can hide in it).
pub fn is_sysctl_name(name: &str) -> bool {
    let mut parts = name.split('.');
    parts.clone().count() >= 2
        && parts.all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        })
}

/// The sysctls lvsform sets on the director: the network tree only. Any other
/// (`kernel.core_pattern`, `vm.*`) could run code or harm the host, so one is refused when
/// the configuration is read and again before anything is written.
pub fn is_director_sysctl(name: &str) -> bool {
    is_sysctl_name(name) && name.starts_with("net.")
}

fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

/// Why the director's settings could not be read or changed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DirectorError {
    #[error("cannot run `ip`: {0}")]
    NoIpCommand(#[source] std::io::Error),
    #[error("the director has no interface {interface}: {message}")]
    NoInterface { interface: String, message: String },
    #[error("cannot set {name}: {source}")]
    Sysctl {
        name: String,
        source: std::io::Error,
    },
    #[error("ip {command}: {message}")]
    Ip { command: String, message: String },
    /// A remote director's error, or the loss of its connection.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(Box<crate::agent::AgentError>),
    #[error("{0} is not a director sysctl lvsform may set")]
    #[diagnostic(help("lvsform sets network sysctls (net.*) only"))]
    ForbiddenSysctl(String),
    #[error("director {0} is left out of this run (--director names others)")]
    LeftOut(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Keepalived(#[from] keepalived::KeepalivedError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Probe(#[from] ProbeError),
}

impl DirectorError {
    /// The errno behind it, when the system (here or on a remote director) gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DirectorError::NoIpCommand(e) | DirectorError::Sysctl { source: e, .. } => {
                e.raw_os_error()
            }
            DirectorError::Remote(e) => e.errno(),
            _ => None,
        }
    }
}

impl DirectorChange {
    /// Refuses what lvsform never does to a director, whatever asked for it.
    pub fn check(&self) -> Result<(), DirectorError> {
        match self {
            DirectorChange::SetSysctl { name, .. } if !is_director_sysctl(name) => {
                Err(DirectorError::ForbiddenSysctl(name.clone()))
            }
            _ => Ok(()),
        }
    }
}

/// The director's own settings (sysctls, VIPs on its interface).
pub trait Director {
    fn observe(
        &mut self,
        sysctls: &[String],
        interface: Option<&str>,
        keepalived: Option<&KeepalivedQuery>,
    ) -> Result<DirectorFacts, DirectorError>;
    fn apply(&mut self, change: &DirectorChange) -> Result<(), DirectorError>;
    /// Carries out a probe from the director (SPEC §9): what it saw, or why it could not.
    fn probe(&mut self, run: &ProbeRun) -> Result<Outcome, DirectorError>;
}

/// The director lvsform runs on.
pub struct LocalDirector;

impl Director for LocalDirector {
    fn observe(
        &mut self,
        sysctls: &[String],
        interface: Option<&str>,
        keepalived: Option<&KeepalivedQuery>,
    ) -> Result<DirectorFacts, DirectorError> {
        let mut facts = observe(sysctls, interface)?;
        if let Some(query) = keepalived {
            facts.keepalived = Some(keepalived::read(&query.files, query.daemon)?);
        }
        Ok(facts)
    }

    fn apply(&mut self, change: &DirectorChange) -> Result<(), DirectorError> {
        change.check()?;
        apply(change)
    }

    fn probe(&mut self, run: &ProbeRun) -> Result<Outcome, DirectorError> {
        Ok(run.run()?)
    }
}

/// A director in memory, for tests: holds its facts, fails at a chosen change.
#[cfg(any(test, feature = "fakes"))]
#[derive(Debug, Clone, Default)]
pub struct FakeDirector {
    pub facts: DirectorFacts,
    /// Changes applied so far (failed ones included).
    pub applied: usize,
    /// The index of the change that fails.
    pub fail_at: Option<usize>,
    /// Probes carried out so far.
    pub probed: Vec<ProbeRun>,
    /// Real servers whose probes are refused: directly (`false`) or through the VIP.
    pub refusing: BTreeSet<(crate::model::DestinationKey, bool)>,
}

#[cfg(any(test, feature = "fakes"))]
impl Director for FakeDirector {
    fn observe(
        &mut self,
        _: &[String],
        _: Option<&str>,
        _: Option<&KeepalivedQuery>,
    ) -> Result<DirectorFacts, DirectorError> {
        Ok(self.facts.clone())
    }

    fn apply(&mut self, change: &DirectorChange) -> Result<(), DirectorError> {
        change.check()?;
        self.applied += 1;
        if self.fail_at == Some(self.applied - 1) {
            return Err(DirectorError::Ip {
                command: change.to_string(),
                message: "injected failure".into(),
            });
        }
        match change {
            DirectorChange::SetSysctl { name, value, .. } => {
                self.facts.sysctls.insert(name.clone(), value.clone());
            }
            DirectorChange::AddAddress(a) => {
                self.facts.addresses.insert(a.clone());
            }
            DirectorChange::DelAddress(a) => {
                self.facts.addresses.remove(a);
            }
            DirectorChange::Keepalived(write) => {
                self.facts.keepalived.get_or_insert_default().file = write.content.clone();
            }
        }
        Ok(())
    }

    fn probe(&mut self, run: &ProbeRun) -> Result<Outcome, DirectorError> {
        run.check()?;
        self.probed.push(run.clone());
        let refused = self.refusing.contains(&(run.server, run.through.is_some()));
        Ok(Outcome {
            passed: !refused,
            seen: match refused {
                true => Seen::Refused,
                false => Seen::Connected,
            },
            millis: 1,
        })
    }
}

/// Reads the named sysctls and the addresses on `interface`.
fn observe(sysctls: &[String], interface: Option<&str>) -> Result<DirectorFacts, DirectorError> {
    let mut facts = DirectorFacts::default();
    for name in sysctls {
        if let Ok(value) = std::fs::read_to_string(sysctl_path(name)) {
            facts.sysctls.insert(name.clone(), value.trim().to_string());
        }
    }
    if let Some(interface) = interface {
        let output = Command::new("ip")
            .args(["-o", "addr", "show", "dev", interface])
            .output()
            .map_err(DirectorError::NoIpCommand)?;
        if !output.status.success() {
            return Err(DirectorError::NoInterface {
                interface: interface.to_string(),
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [_, _, "inet" | "inet6", address, ..] = fields[..]
                && let Ok(address) = address.parse()
            {
                facts.addresses.insert(InterfaceAddress {
                    interface: interface.to_string(),
                    address,
                });
            }
        }
    }
    Ok(facts)
}

/// Carries out one change on the director.
fn apply(change: &DirectorChange) -> Result<(), DirectorError> {
    match change {
        DirectorChange::SetSysctl { name, value, .. } => {
            std::fs::write(sysctl_path(name), format!("{value}\n")).map_err(|source| {
                DirectorError::Sysctl {
                    name: name.clone(),
                    source,
                }
            })
        }
        DirectorChange::AddAddress(a) => ip(&[
            "addr",
            "replace",
            &a.address.to_string(),
            "dev",
            &a.interface,
        ]),
        // An address already gone is what was asked (keepalived's VRRP removes the VIPs
        // it takes over, on a director that becomes its backup).
        DirectorChange::DelAddress(a) => {
            match ip(&["addr", "del", &a.address.to_string(), "dev", &a.interface]) {
                Err(DirectorError::Ip { message, .. })
                    if message.contains("Cannot assign requested address") =>
                {
                    Ok(())
                }
                other => other,
            }
        }
        DirectorChange::Keepalived(write) => {
            Ok(keepalived::write(&write.files, write.content.as_deref())?)
        }
    }
}

/// Runs `ip` with `args` (never a shell).
pub(crate) fn ip(args: &[&str]) -> Result<(), DirectorError> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(DirectorError::NoIpCommand)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(DirectorError::Ip {
            command: args.join(" "),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str) -> DirectorChange {
        DirectorChange::SetSysctl {
            name: name.into(),
            value: "1".into(),
            before: Some("0".into()),
        }
    }

    #[test]
    fn only_network_sysctls_are_ever_written() {
        for name in [
            "kernel.core_pattern",
            "vm.swappiness",
            "net",
            "net..x",
            "netx.y",
        ] {
            assert!(set(name).check().is_err(), "{name}");
            let mut director = FakeDirector::default();
            assert!(director.apply(&set(name)).is_err(), "{name}");
            assert!(director.facts.sysctls.is_empty(), "{name} was written");
        }
        assert!(set("net.ipv4.vs.expire_nodest_conn").check().is_ok());
    }
}
