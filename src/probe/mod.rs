//! Probes at apply (SPEC §9): a real server gets traffic only if it answers, and a change
//! is done only when traffic flows through the VIP.
//!
//! A service's `probe` block says what to ask (a TCP connection, or an HTTP status) and
//! how long to wait. The plan lists which real servers apply will probe (`planned`): those
//! a change adds or alters. Apply asks the director that serves them to dial each one —
//! first directly (the RIP), before any change, for servers that start getting traffic;
//! then, after that director's IPVS changes, through the VIP along the server's forwarding
//! path (`path`), one server at a time.

mod dial;
mod path;

pub use dial::dial;
pub use path::{MARKS, through_vip};

use crate::address::Address;
use crate::keepalived::Check;
use crate::model::{DestinationKey, Forwarding, Mode, ServiceKey, SocketText};
use crate::plan::{Phase, Plan, Step};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The longest a probe may wait: apply waits for each probe in turn.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// A `probe` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub check: Check,
    pub timeout: Duration,
}

impl Probe {
    /// Refuses a probe lvsform would never send, whoever asked for it (a director's agent
    /// gets probes from the wire): an HTTP path that could carry more than a path, a wait
    /// beyond `MAX_TIMEOUT`.
    pub fn check(&self) -> Result<(), ProbeError> {
        if let Check::Http { path, .. } = &self.check
            && !is_plain_path(path)
        {
            return Err(ProbeError::Refused(format!("HTTP path {path:?}")));
        }
        if self.timeout > MAX_TIMEOUT || self.timeout.is_zero() {
            return Err(ProbeError::Refused(format!("timeout {:?}", self.timeout)));
        }
        Ok(())
    }
}

/// A path an HTTP request line can carry as it is: absolute, printable, no spaces.
pub fn is_plain_path(path: &str) -> bool {
    path.starts_with('/') && path.chars().all(|c| c.is_ascii_graphic())
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.check {
            Check::Http { path, status } => write!(f, "HTTP GET {path} answering {status}"),
            Check::Tcp => write!(f, "TCP connect"),
        }
    }
}

/// One probe for a director to carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRun {
    pub probe: Probe,
    pub server: DestinationKey,
    /// None: the server directly; some: through a VIP, along the server's forwarding.
    pub through: Option<Through>,
}

/// A VIP and port to dial, and how IPVS forwards to the server behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Through {
    pub vip: IpAddr,
    pub port: u16,
    pub forwarding: Forwarding,
}

impl ProbeRun {
    pub fn check(&self) -> Result<(), ProbeError> {
        self.probe.check()
    }

    /// Carries the probe out from this machine, the director.
    pub fn run(&self) -> Result<Outcome, ProbeError> {
        self.check()?;
        match &self.through {
            None => Ok(dial(
                SocketAddr::new(self.server.address, self.server.port),
                None,
                &self.probe,
            )),
            Some(through) => {
                let mut ipvs = crate::ipvs::NetlinkIpvs::connect_loading(false)
                    .map_err(|e| ProbeError::Setup(e.to_string()))?;
                through_vip(&mut ipvs, self.server, through, &self.probe)
            }
        }
    }
}

/// What a probe saw, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub passed: bool,
    #[serde(flatten)]
    pub seen: Seen,
    pub millis: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "seen", rename_all = "snake_case")]
pub enum Seen {
    /// A TCP connection was made.
    Connected,
    /// An HTTP answer with this status.
    Status { status: u16 },
    /// The connection was refused (an RST, or ICMP port unreachable).
    Refused,
    /// Nothing came within the probe's timeout.
    Timeout,
    /// Anything else, as the system said it.
    Error { message: String },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.seen {
            Seen::Connected => write!(f, "connected")?,
            Seen::Status { status } => write!(f, "HTTP {status}")?,
            Seen::Refused => write!(f, "connection refused")?,
            Seen::Timeout => write!(f, "no answer")?,
            Seen::Error { message } => write!(f, "{message}")?,
        }
        write!(f, " after {} ms", self.millis)
    }
}

/// Why a probe could not be carried out (as opposed to one that ran and failed).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProbeError {
    #[error("refusing to probe with {0}")]
    Refused(String),
    #[error("no route from the director to {0}: {1}")]
    NoRoute(IpAddr, std::io::Error),
    #[error("cannot make the probe's temporary service: {0}")]
    Setup(String),
    /// What a failed clean-up left behind.
    #[error("the probe left {0}")]
    #[diagnostic(help(
        "delete it by hand (`ipvsadm -D -f MARK`, `sysctl`), or run apply again: the next plan deletes a leftover service"
    ))]
    Left(String),
}

/// A probe apply will run: a real server a change adds or alters, on one director.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedProbe {
    /// The real server's address (under its director's, when named).
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub director: Option<String>,
    pub service: ServiceKey,
    pub server: DestinationKey,
    pub forwarding: Forwarding,
    pub probe: Probe,
    /// Whether the server starts getting traffic (added, or raised from weight 0): it is
    /// probed directly, before any change.
    pub gate: bool,
}

impl PlannedProbe {
    /// The probe of the server itself, before any change.
    pub fn direct(&self) -> ProbeRun {
        ProbeRun {
            probe: self.probe.clone(),
            server: self.server,
            through: None,
        }
    }

    /// The VIP and port dialled through.
    pub fn vip(&self) -> (IpAddr, u16) {
        match self.service {
            ServiceKey::Address { vip, port, .. } => (vip, port),
            ServiceKey::Fwmark { .. } => {
                unreachable!("probes are declared on VIP:port services only (validated)")
            }
        }
    }

    /// The probe through the VIP, after the director's changes.
    pub fn through_vip(&self) -> ProbeRun {
        let (vip, port) = self.vip();
        ProbeRun {
            probe: self.probe.clone(),
            server: self.server,
            through: Some(Through {
                vip,
                port,
                forwarding: self.forwarding,
            }),
        }
    }

    /// `10.1.0.13:80 (virtual_server.web.real_server.c)`.
    pub fn server_text(&self) -> String {
        format!("{} ({})", self.server, self.address)
    }

    /// What most often breaks the path through the VIP for this server's mode.
    pub fn likely_cause(&self) -> &'static str {
        match self.forwarding.mode() {
            Mode::Dr => {
                "a DR real server must hold the VIP on `lo` (and ignore ARP for it: arp_ignore=1, arp_announce=2), and its service must listen on the VIP"
            }
            Mode::Tun => {
                "a TUN real server must load ipip, have tunl0 up with the VIP on it (rp_filter 0), and let IP-in-IP (protocol 4) through its firewall"
            }
            Mode::Nat => {
                "a NAT real server must send its replies back through the director (its default route via the director's address)"
            }
        }
    }

    /// The line the plan shows for it.
    pub fn plan_line(&self) -> String {
        let (vip, port) = self.vip();
        let first = if self.gate { "directly, then " } else { "" };
        format!(
            "{}: {}, {first}through {} ({}), within {:?}",
            self.server_text(),
            self.probe,
            SocketText(vip, port),
            self.forwarding.mode(),
            self.probe.timeout,
        )
    }
}

/// The probes apply will run for one director's part of a plan: each real server of a
/// service with a `probe` that the part adds or alters, at a weight above 0 (a server at
/// weight 0 gets no traffic to prove).
pub fn planned(config: &crate::config::Config, part: &Plan) -> Vec<PlannedProbe> {
    let mut probes: Vec<PlannedProbe> = Vec::new();
    let mut add = |service: ServiceKey,
                   server: DestinationKey,
                   dest: &crate::model::Destination,
                   before: Option<u32>| {
        let Some(meta) = config.services.get(&service) else {
            return;
        };
        let (Some(probe), Some(server_meta)) = (&meta.probe, meta.destinations.get(&server)) else {
            return;
        };
        if dest.weight == 0
            || probes
                .iter()
                .any(|p| p.service == service && p.server == server)
        {
            return;
        }
        probes.push(PlannedProbe {
            address: server_meta.address.clone(),
            director: None,
            service,
            server,
            forwarding: dest.forwarding,
            probe: probe.clone(),
            gate: before.is_none_or(|weight| weight == 0),
        });
    };
    for change in &part.changes {
        for (phase, step) in &change.steps {
            match step {
                Step::Ipvs { change, undo } => match change {
                    crate::ipvs::Change::AddDest { service, key, dest } => {
                        add(*service, *key, dest, None)
                    }
                    crate::ipvs::Change::EditDest { service, key, dest }
                        if *phase != Phase::Depool =>
                    {
                        let before = undo.iter().find_map(|u| match u {
                            crate::ipvs::Change::EditDest { dest, .. } => Some(dest.weight),
                            _ => None,
                        });
                        add(*service, *key, dest, Some(before.unwrap_or(0)))
                    }
                    _ => {}
                },
                Step::Director(crate::director::DirectorChange::Keepalived(write)) => {
                    for (key, service) in &write.services {
                        let before = write.services_before.get(key);
                        for (server, dest) in &service.destinations {
                            let was = before.and_then(|s| s.destinations.get(server));
                            if was != Some(dest) {
                                add(*key, *server, dest, was.map(|d| d.weight));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    probes
}
