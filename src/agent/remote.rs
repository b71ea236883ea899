//! The runner's end: one SSH channel to `lvsform agent` on the director, shared by the
//! director's two backends (its IPVS table and its settings).

use super::{Hello, Refusal, Request, Response, TableParts, read_frame, write_frame};
use crate::config::RemoteDirectorMeta;
use crate::director::{Director, DirectorChange, DirectorError, DirectorFacts, KeepalivedQuery};
use crate::host::{HostError, open_session};
use crate::ipvs::{ApplyError, Change, Ipvs, IpvsError, Table};
use crate::model::ServiceKey;
use crate::probe::{Outcome, ProbeRun};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Why a remote director cannot be used.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum AgentError {
    #[error("director {0}")]
    #[diagnostic(transparent)]
    Connect(HostError),
    #[error("director {host}: cannot run `{command}` there: {detail}")]
    #[diagnostic(help(
        "install lvsform {ours} on the director (the same version as here), e.g. `scp \"$(command -v lvsform)\" {address}:/usr/local/bin/`, or name where it is with `lvsform = \"/path/to/lvsform\"` in the director's ssh block"
    ))]
    Missing {
        /// How messages name the director: its label and host, or its host.
        host: String,
        address: String,
        command: String,
        detail: String,
        ours: &'static str,
    },
    #[error(
        "director {host}: lvsform {theirs} is installed there (protocol {protocol}); this is lvsform {ours}"
    )]
    #[diagnostic(help(
        "install the same lvsform version on the director and where lvsform runs: both ends of a remote director must speak the same protocol"
    ))]
    Version {
        host: String,
        theirs: String,
        protocol: u32,
        ours: &'static str,
    },
    #[error("director {host}: {message}")]
    Refused {
        host: String,
        message: String,
        #[help]
        help: Option<String>,
        /// The errno behind it (the kernel's, or the system's), when there is one.
        errno: Option<i32>,
    },
    #[error("director {host}: lost the connection to lvsform there: {detail}")]
    #[diagnostic(help(
        "check the network to the director and its SSH server; nothing more was sent to it after this, and `lvsform plan` shows what differs once it answers"
    ))]
    Lost { host: String, detail: String },
}

impl AgentError {
    /// The errno behind a refusal, when the director gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            AgentError::Refused { errno, .. } => *errno,
            _ => None,
        }
    }
}

/// The runner's end of the channel to `lvsform agent`: an SSH channel, or in tests one end
/// of a socket pair.
pub trait AgentChannel: Read + Write + Send {
    /// Ends the agent's input (the agent ends, and its lock with it), and waits a little
    /// for it to close.
    fn finish(&mut self);

    /// After the link was lost: makes whatever is still done on it (its teardown) fail at
    /// once instead of waiting on a dead connection.
    fn abandon(&mut self);
}

/// `lvsform agent` run over SSH.
struct SshChannel {
    session: ssh2::Session,
    channel: ssh2::Channel,
}

impl Read for SshChannel {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.channel.read(buffer)
    }
}

impl Write for SshChannel {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.channel.write(buffer)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.channel.flush()
    }
}

impl AgentChannel for SshChannel {
    fn finish(&mut self) {
        self.session.set_timeout(5_000);
        let _ = self.channel.send_eof();
        let _ = self.channel.wait_close();
    }

    fn abandon(&mut self) {
        // libssh2 closes the channel as it frees it, waiting (with no timeout: the link
        // had none) on a socket that may never move again; it may still try for as long
        // as the timeout allows.
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown on the session's own socket, which stays open until it is freed.
        unsafe { libc::shutdown(self.session.as_raw_fd(), libc::SHUT_RDWR) };
        self.session.set_timeout(100);
    }
}

impl AgentChannel for std::os::unix::net::UnixStream {
    fn finish(&mut self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }

    fn abandon(&mut self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

/// The director's end, as the runner holds it.
struct Link {
    host: String,
    channel: Box<dyn AgentChannel>,
    /// Load the IPVS module when the kernel has none (apply).
    load_ipvs: bool,
    /// When the last message went out: the heartbeat keeps the agent from waiting longer
    /// than its bound.
    last_sent: Instant,
    /// Why the link was lost: once it is, nothing more is sent or awaited (the stream may
    /// stop inside a message, and a dead connection must not be waited on twice).
    broken: Option<String>,
}

impl Link {
    /// The link is lost for good, for this reason.
    fn lost(&mut self, detail: String) -> AgentError {
        self.broken.get_or_insert_with(|| detail.clone());
        AgentError::Lost {
            host: self.host.clone(),
            detail,
        }
    }

    /// Fails at once on a link lost before.
    fn whole(&self) -> Result<(), AgentError> {
        match &self.broken {
            None => Ok(()),
            Some(detail) => Err(AgentError::Lost {
                host: self.host.clone(),
                detail: format!("{detail} (earlier; nothing more was sent)"),
            }),
        }
    }

    fn send(&mut self, request: &Request) -> Result<(), AgentError> {
        self.whole()?;
        self.last_sent = Instant::now();
        write_frame(&mut self.channel, request).map_err(|e| self.lost(e.to_string()))
    }

    /// The agent's next response; a refusal is an error.
    fn receive(&mut self) -> Result<Response, AgentError> {
        self.whole()?;
        match read_frame(&mut self.channel) {
            Ok(Some(Response::Refused(refusal))) => Err(refused(&self.host, refusal)),
            Ok(Some(response)) => Ok(response),
            Ok(None) => Err(self.lost("it ended without answering".into())),
            Err(e) => Err(self.lost(e.to_string())),
        }
    }

    /// Sends a request and takes its answer, which `expected` picks the content of.
    fn call<T>(
        &mut self,
        request: &Request,
        expected: impl FnOnce(Response) -> Result<T, Response>,
    ) -> Result<T, AgentError> {
        self.send(request)?;
        let response = self.receive()?;
        expected(response).map_err(|other| {
            let detail = unexpected(&other);
            self.lost(detail)
        })
    }

    /// The table, taken part by part as the director reads it.
    fn read_table(&mut self, request: &Request) -> Result<Table, AgentError> {
        self.send(request)?;
        let mut parts = TableParts::default();
        loop {
            match self.receive()? {
                Response::TablePart(part) => parts.add(*part).map_err(|e| self.unusable(e))?,
                Response::Done => return parts.finish().map_err(|e| self.unusable(e)),
                other => {
                    let detail = unexpected(&other);
                    return Err(self.lost(detail));
                }
            }
        }
    }

    fn unusable(&self, detail: super::wire::WireError) -> AgentError {
        AgentError::Refused {
            host: self.host.clone(),
            message: format!("its lvsform sent a table lvsform cannot use: {detail}"),
            help: Some(
                "the director's lvsform must be this lvsform's version, from the same source; nothing was changed".into(),
            ),
            errno: None,
        }
    }
}

/// The director's refusal, as the runner reports it.
pub(super) fn refused(host: &str, refusal: Refusal) -> AgentError {
    AgentError::Refused {
        host: host.to_string(),
        message: refusal.message,
        help: refusal.help,
        errno: refusal.errno,
    }
}

fn unexpected(response: &Response) -> String {
    format!("an answer of the wrong kind: {response:?}")
}

impl Drop for Link {
    fn drop(&mut self) {
        // The end of its input ends the agent, and with it the director's lock (a lost
        // link is not waited on: the agent ends within its bound on silence).
        match self.broken {
            None => self.channel.finish(),
            Some(_) => self.channel.abandon(),
        }
    }
}

/// Sends a heartbeat on the link whenever it has been silent for a `HEARTBEAT`, until the
/// link is dropped or lost: the agent ends (and frees the director's lock) after a longer
/// silence, so a runner that vanished without a word never leaves the lock held.
fn keep_beating(link: Weak<Mutex<Link>>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(super::HEARTBEAT / 2);
            let Some(link) = link.upgrade() else { return };
            // A request in flight holds the link: the agent is busy with it, not waiting.
            let Ok(mut link) = link.try_lock() else {
                continue;
            };
            if link.broken.is_some() {
                return;
            }
            if link.last_sent.elapsed() >= super::HEARTBEAT {
                // A failure marks the link lost; the next request reports it.
                let _ = link.send(&Request::Heartbeat);
            }
        }
    });
}

/// A director reached over SSH: `ipvs()` and `settings()` are its two backends.
pub struct RemoteDirector {
    link: Arc<Mutex<Link>>,
    ipvs: RemoteIpvs,
    settings: RemoteSettings,
}

/// Opens the SSH session (strict host keys, as for real servers), starts `lvsform agent`
/// there and checks that it speaks this version's protocol.
pub fn connect(remote: &RemoteDirectorMeta, load_ipvs: bool) -> Result<RemoteDirector, AgentError> {
    let target = &remote.ssh;
    // As the configuration names it.
    let host = match &remote.name {
        Some(name) => format!("\"{name}\" ({})", target.host),
        None => target.host.clone(),
    };
    let session = open_session(target).map_err(|e| AgentError::Connect(e.labelled(&host)))?;
    let mut command = format!("{} agent", remote.lvsform);
    if target.sudo {
        command = format!("sudo -n {command}");
    }
    let started = || -> Result<ssh2::Channel, ssh2::Error> {
        let mut channel = session.channel_session()?;
        channel.exec(&command)?;
        Ok(channel)
    };
    let mut channel = started().map_err(|e| AgentError::Lost {
        host: host.clone(),
        detail: e.to_string(),
    })?;
    let ours = env!("CARGO_PKG_VERSION");
    let hello: Option<Hello> = read_frame(&mut channel).ok().flatten();
    let Some(hello) = hello else {
        // It did not start: say why, from its exit status and what it printed.
        let mut stderr = String::new();
        let _ = channel.stderr().read_to_string(&mut stderr);
        let _ = channel.wait_close();
        let status = channel.exit_status().unwrap_or(-1);
        let stderr = stderr.trim().to_string();
        if target.sudo && stderr.starts_with("sudo:") {
            return Err(AgentError::Connect(HostError::Permission {
                host,
                detail: stderr,
            }));
        }
        let detail = match (status, stderr.is_empty()) {
            (127, _) => format!("it is not installed there ({stderr})"),
            (_, true) => format!("it exited with status {status} without a word"),
            (_, false) => format!("it exited with status {status}: {stderr}"),
        };
        return Err(AgentError::Missing {
            host,
            address: target.host.clone(),
            command,
            detail,
            ours,
        });
    };
    check_version(&host, hello)?;
    // A large table takes the director long to read or change: wait as long as it works.
    // The connection's TCP keepalive and user timeout notice a director that vanished,
    // whether lvsform waits for an answer or is sending (see `host::ssh`).
    session.set_timeout(0);
    let channel = Box::new(SshChannel { session, channel });
    Ok(RemoteDirector::new(host, channel, load_ipvs))
}

/// A director whose `lvsform agent` answers on `channel` (its hello is read and checked
/// here): the transport apart from SSH, as tests use it over a socket pair.
pub fn attach(
    host: &str,
    mut channel: impl AgentChannel + 'static,
    load_ipvs: bool,
) -> Result<RemoteDirector, AgentError> {
    let lost = |detail: String| AgentError::Lost {
        host: host.to_string(),
        detail,
    };
    let hello = read_frame(&mut channel)
        .map_err(|e| lost(e.to_string()))?
        .ok_or_else(|| lost("it ended before it said hello".into()))?;
    check_version(host, hello)?;
    Ok(RemoteDirector::new(
        host.to_string(),
        Box::new(channel),
        load_ipvs,
    ))
}

/// Refuses an agent of another version.
fn check_version(host: &str, hello: Hello) -> Result<(), AgentError> {
    if hello == Hello::ours() {
        return Ok(());
    }
    Err(AgentError::Version {
        host: host.to_string(),
        theirs: hello.version,
        protocol: hello.protocol,
        ours: env!("CARGO_PKG_VERSION"),
    })
}

impl RemoteDirector {
    fn new(host: String, channel: Box<dyn AgentChannel>, load_ipvs: bool) -> RemoteDirector {
        let link = Arc::new(Mutex::new(Link {
            host,
            channel,
            load_ipvs,
            last_sent: Instant::now(),
            broken: None,
        }));
        keep_beating(Arc::downgrade(&link));
        RemoteDirector {
            ipvs: RemoteIpvs(link.clone()),
            settings: RemoteSettings(link.clone()),
            link,
        }
    }

    /// Takes the director's apply lock, held until this ends.
    pub fn lock(&self, timeout: Duration) -> Result<(), AgentError> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        held(&self.link).call(&Request::Lock { timeout_ms }, |response| match response {
            Response::Done => Ok(()),
            other => Err(other),
        })
    }

    pub fn ipvs(&self) -> RemoteIpvs {
        RemoteIpvs(self.link.clone())
    }

    pub fn settings(&self) -> RemoteSettings {
        RemoteSettings(self.link.clone())
    }
}

impl crate::backend::DirectorBackend for RemoteDirector {
    fn lock(&mut self, timeout: Duration) -> Result<(), crate::backend::BackendError> {
        Ok(RemoteDirector::lock(self, timeout)?)
    }

    fn parts(&mut self) -> crate::apply::DirectorBackends<'_> {
        crate::apply::DirectorBackends {
            ipvs: &mut self.ipvs,
            settings: &mut self.settings,
        }
    }
}

fn held(link: &Mutex<Link>) -> std::sync::MutexGuard<'_, Link> {
    link.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The remote director's IPVS table.
pub struct RemoteIpvs(Arc<Mutex<Link>>);

impl Ipvs for RemoteIpvs {
    fn observe_some(&mut self, only: Option<&BTreeSet<ServiceKey>>) -> Result<Table, IpvsError> {
        let mut link = held(&self.0);
        let request = Request::ReadTable {
            only: only.cloned(),
            load_ipvs: link.load_ipvs,
        };
        link.read_table(&request)
            .map_err(|e| IpvsError::Remote(Box::new(e)))
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), ApplyError> {
        let mut link = held(&self.0);
        let host = link.host.clone();
        let request = Request::ApplyIpvs {
            changes: changes.to_vec(),
        };
        // A request not sent whole was not carried out: the agent acts on whole messages.
        if let Err(e) = link.send(&request) {
            return Err(ApplyError::lost(changes.len(), &e, false));
        }
        let failed = match link.receive() {
            Ok(Response::Applied { failed }) => failed,
            Ok(other) => {
                let detail = unexpected(&other);
                let e = link.lost(detail);
                return Err(ApplyError::lost(changes.len(), &e, true));
            }
            // The director may have carried out any of them before the answer was lost.
            Err(e) => return Err(ApplyError::lost(changes.len(), &e, true)),
        };
        let failed: Vec<(usize, IpvsError)> = failed
            .into_iter()
            .filter(|(i, _)| *i < changes.len())
            .map(|(i, refusal)| (i, IpvsError::Remote(Box::new(refused(&host, refusal)))))
            .collect();
        ApplyError::result(failed)
    }
}

/// The remote director's sysctls and addresses.
pub struct RemoteSettings(Arc<Mutex<Link>>);

impl Director for RemoteSettings {
    fn observe(
        &mut self,
        sysctls: &[String],
        interface: Option<&str>,
        keepalived: Option<&KeepalivedQuery>,
    ) -> Result<DirectorFacts, DirectorError> {
        let request = Request::ReadDirector {
            sysctls: sysctls.to_vec(),
            interface: interface.map(str::to_string),
            keepalived: keepalived.cloned(),
        };
        held(&self.0)
            .call(&request, |response| match response {
                Response::Director(facts) => Ok(*facts),
                other => Err(other),
            })
            .map_err(|e| DirectorError::Remote(Box::new(e)))
    }

    fn apply(&mut self, change: &DirectorChange) -> Result<(), DirectorError> {
        change.check()?;
        let request = Request::ApplyDirector {
            change: change.clone(),
        };
        held(&self.0)
            .call(&request, |response| match response {
                Response::Done => Ok(()),
                other => Err(other),
            })
            .map_err(|e| DirectorError::Remote(Box::new(e)))
    }

    fn probe(&mut self, run: &ProbeRun) -> Result<Outcome, DirectorError> {
        run.check()?;
        let request = Request::Probe { run: run.clone() };
        held(&self.0)
            .call(&request, |response| match response {
                Response::Probed(outcome) => Ok(outcome),
                other => Err(other),
            })
            .map_err(|e| DirectorError::Remote(Box::new(e)))
    }
}
