//! Remote directors: lvsform runs itself on the director over SSH (`lvsform agent`, a
//! hidden command) and speaks to it on the channel's standard input and output.
//!
//! The protocol is versioned and framed: each message is a 4-byte big-endian length and
//! that many bytes of JSON. The agent speaks first (`Hello`: protocol and lvsform version),
//! then answers each request with one response, in order; a table comes as several parts,
//! each sent as soon as it is read, then `Done`. It only ever carries out the typed
//! requests below — reads, IPVS changes, director changes that pass the same checks as
//! locally, the director's lock — never a command line. It ends at the end of its input;
//! the lock it holds ends with it (and with the SSH connection: sshd ends the process).
//!
//! A runner that vanishes without a word (its machine or the network gone) closes
//! nothing, and sshd may not notice for hours: so the runner sends a heartbeat whenever
//! the link has been quiet for `HEARTBEAT`, and the agent ends — freeing the lock — when
//! nothing at all has come for `SILENCE`.

mod remote;
mod wire;

use crate::director::KeepalivedQuery;
pub use crate::director::{Director, DirectorChange, DirectorFacts, LocalDirector};
use crate::ipvs::{Change, Ipvs, NetlinkIpvs};
use crate::lock::Lock;
use crate::model::ServiceKey;
pub use remote::{AgentChannel, AgentError, RemoteDirector, attach, connect};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::time::Duration;
pub use wire::{TableParts, WireTable};

/// Raised when a message changes shape; both ends must speak the same.
pub const PROTOCOL: u32 = 6;

/// The runner's longest quiet on a link it holds: it sends a heartbeat then.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The agent's longest wait for a byte from its runner: four heartbeats missed.
const SILENCE: Duration = Duration::from_secs(20);

/// The largest message either end accepts: a table of a million real servers (about 35 MB
/// on the wire) fits many times over.
const MAX_FRAME: usize = 256 << 20;

/// The agent's first message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub version: String,
}

impl Hello {
    pub fn ours() -> Hello {
        Hello {
            protocol: PROTOCOL,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// The runner is still there (not answered).
    Heartbeat,
    /// Take the director's apply lock, waiting up to this long; held until the agent ends.
    Lock {
        timeout_ms: u64,
    },
    /// The IPVS table (`only`: real servers of these services only), answered with
    /// `TablePart`s, then `Done`; `load_ipvs` loads the module when the kernel has none yet
    /// (apply does, plan only reads).
    ReadTable {
        only: Option<BTreeSet<ServiceKey>>,
        load_ipvs: bool,
    },
    ApplyIpvs {
        changes: Vec<Change>,
    },
    ReadDirector {
        sysctls: Vec<String>,
        interface: Option<String>,
        keepalived: Option<KeepalivedQuery>,
    },
    ApplyDirector {
        change: DirectorChange,
    },
    /// A probe from the director (it cleans up after itself before it answers).
    Probe {
        run: crate::probe::ProbeRun,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    Done,
    /// Some of the table being read (the first holds what is not per service): the runner
    /// converts one while the director reads the next.
    TablePart(Box<WireTable>),
    /// The IPVS changes that failed, by index, with why; every other one took effect.
    Applied {
        failed: Vec<(usize, Refusal)>,
    },
    Director(Box<DirectorFacts>),
    Probed(crate::probe::Outcome),
    Refused(Refusal),
}

/// An error on the director, as typed as the trip allows: what it says, its help apart,
/// and the errno behind it (the kernel's, or the system's) when there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub message: String,
    pub help: Option<String>,
    pub errno: Option<i32>,
}

impl Refusal {
    fn new(error: &dyn miette::Diagnostic, errno: Option<i32>) -> Refusal {
        let message = error.to_string();
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let help = if !root
            && ["ermission denied", "not permitted"]
                .iter()
                .any(|m| message.contains(m))
        {
            // The fix is in the runner's configuration, not on the director.
            Some("lvsform runs as an unprivileged user on the director: log in as root, or set `sudo = true` in the director's ssh block (it needs passwordless sudo)".into())
        } else {
            error.help().map(|h| h.to_string())
        };
        Refusal {
            message,
            help,
            errno,
        }
    }
}

impl Response {
    fn refused(error: &dyn miette::Diagnostic, errno: Option<i32>) -> Response {
        Response::Refused(Refusal::new(error, errno))
    }
}

pub fn write_frame(output: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    // One write of length and body: over SSH each write is a packet of its own.
    let mut frame = vec![0; 4];
    serde_json::to_writer(&mut frame, message)?;
    let length = u32::try_from(frame.len() - 4)
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    output.write_all(&frame)?;
    output.flush()
}

/// The next message, or `None` at the end of the input between messages.
pub fn read_frame<T: DeserializeOwned>(input: &mut impl Read) -> io::Result<Option<T>> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message of {length} bytes is larger than any lvsform sends"),
        ));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `lvsform agent`: answers requests on `input` until it ends.
pub fn serve(mut input: impl Read, mut output: impl Write) -> io::Result<()> {
    write_frame(&mut output, &Hello::ours())?;
    let mut agent = Agent::default();
    while let Some(request) = read_frame(&mut input)? {
        if let Some(response) = agent.handle(request, &mut output)? {
            write_frame(&mut output, &response)?;
        }
    }
    Ok(())
}

/// `lvsform agent` on its standard input and output, ending after a `SILENCE`.
pub fn serve_stdio() -> io::Result<()> {
    use std::os::fd::AsFd;
    // Unbuffered beneath the silence check: data a buffer held would not wake `poll`.
    let input = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let input = io::BufReader::new(Quiet {
        input,
        bound: SILENCE,
    });
    serve(input, io::BufWriter::new(io::stdout().lock()))
}

/// A reader that fails (`TimedOut`) when nothing comes for `bound`.
struct Quiet<R> {
    input: R,
    bound: Duration,
}

impl<R: Read + std::os::fd::AsRawFd> Read for Quiet<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let mut ready = libc::pollfd {
            fd: self.input.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let bound = libc::c_int::try_from(self.bound.as_millis()).unwrap_or(libc::c_int::MAX);
        loop {
            // SAFETY: one pollfd, valid for the call.
            match unsafe { libc::poll(&mut ready, 1, bound) } {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no word from the runner for {}s: it is gone; ending, which frees the lock",
                            self.bound.as_secs()
                        ),
                    ));
                }
                n if n > 0 => return self.input.read(buffer),
                _ => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                }
            }
        }
    }
}

/// Services per part of a table sent: a few thousand real servers, about a hundred
/// kilobytes.
const SERVICES_PER_PART: usize = 64;

/// Sends the table in parts, each as soon as it is read (one thread reads the next while
/// this one encodes and writes), and says how the reading ended.
fn send_table(
    ipvs: &mut NetlinkIpvs,
    only: Option<&BTreeSet<ServiceKey>>,
    output: &mut impl Write,
) -> io::Result<Response> {
    // One core encodes and writes meanwhile.
    ipvs.with_a_core_spare(|ipvs| {
        std::thread::scope(|scope| {
            let (read, parts) = std::sync::mpsc::sync_channel(2);
            let reader = scope.spawn(move || {
                ipvs.observe_in_parts(only, SERVICES_PER_PART, &|part| {
                    // The runner is gone when nobody takes a part: reading on is pointless.
                    read.send(part).map_err(|_| {
                        let gone = io::Error::new(io::ErrorKind::BrokenPipe, "runner gone");
                        crate::ipvs::IpvsError::Io(gone)
                    })
                })
            });
            let mut written = Ok(());
            for part in parts {
                let part = Response::TablePart(Box::new(WireTable::from(&part)));
                written = write_frame(output, &part);
                if written.is_err() {
                    break;
                }
            }
            let read = reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            written?;
            Ok(match read {
                Ok(()) => Response::Done,
                Err(e) => Response::refused(&e, e.errno()),
            })
        })
    })
}

/// What the agent holds between requests.
#[derive(Default)]
struct Agent {
    ipvs: Option<NetlinkIpvs>,
    lock: Option<Lock>,
}

impl Agent {
    /// Carries out a request; returns the response that ends it (a table's parts are
    /// written to `output` before it), none for a heartbeat.
    fn handle(
        &mut self,
        request: Request,
        output: &mut impl Write,
    ) -> io::Result<Option<Response>> {
        Ok(Some(match request {
            Request::Heartbeat => return Ok(None),
            Request::Lock { timeout_ms } => {
                match Lock::acquire(Duration::from_millis(timeout_ms)) {
                    Ok(lock) => {
                        self.lock = Some(lock);
                        Response::Done
                    }
                    Err(e) => Response::refused(&e, None),
                }
            }
            Request::ReadTable { only, load_ipvs } => match self.ipvs(load_ipvs) {
                Ok(ipvs) => send_table(ipvs, only.as_ref(), output)?,
                Err(e) => Response::refused(&e, e.errno()),
            },
            Request::ApplyIpvs { changes } => match self.ipvs(false) {
                Ok(ipvs) => Response::Applied {
                    failed: match ipvs.apply(&changes) {
                        Ok(()) => vec![],
                        Err(e) => e
                            .failed
                            .into_iter()
                            .map(|(i, e)| (i, Refusal::new(&e, e.errno())))
                            .collect(),
                    },
                },
                Err(e) => Response::refused(&e, e.errno()),
            },
            Request::ReadDirector {
                sysctls,
                interface,
                keepalived,
            } => match LocalDirector.observe(&sysctls, interface.as_deref(), keepalived.as_ref()) {
                Ok(facts) => Response::Director(Box::new(facts)),
                Err(e) => Response::refused(&e, e.errno()),
            },
            Request::ApplyDirector { change } => match LocalDirector.apply(&change) {
                Ok(()) => Response::Done,
                Err(e) => Response::refused(&e, e.errno()),
            },
            Request::Probe { run } => match LocalDirector.probe(&run) {
                Ok(outcome) => Response::Probed(outcome),
                Err(e) => Response::refused(&e, e.errno()),
            },
        }))
    }

    fn ipvs(&mut self, load: bool) -> Result<&mut NetlinkIpvs, crate::ipvs::IpvsError> {
        if self.ipvs.is_none() {
            self.ipvs = Some(NetlinkIpvs::connect_loading(load)?);
        }
        Ok(self.ipvs.as_mut().expect("connected above"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn frames_carry_messages_and_refuse_what_is_too_large_or_cut_short() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &Hello::ours()).unwrap();
        write_frame(&mut wire, &Request::Lock { timeout_ms: 5 }).unwrap();
        let mut input = wire.as_slice();
        assert_eq!(
            read_frame::<Hello>(&mut input).unwrap(),
            Some(Hello::ours())
        );
        assert!(matches!(
            read_frame::<Request>(&mut input).unwrap(),
            Some(Request::Lock { timeout_ms: 5 })
        ));
        assert!(read_frame::<Request>(&mut input).unwrap().is_none());

        let huge = (MAX_FRAME as u32 + 1).to_be_bytes();
        let error = read_frame::<Request>(&mut huge.as_slice()).unwrap_err();
        assert!(error.to_string().contains("larger than any lvsform sends"));
        // A message cut short is an error, not a clean end.
        let cut = &wire[..wire.len() - 1];
        let mut input = cut;
        read_frame::<Hello>(&mut input).unwrap();
        assert!(read_frame::<Request>(&mut input).is_err());
        // Not JSON of the expected shape.
        let mut garbage = Vec::new();
        write_frame(&mut garbage, &"not a request").unwrap();
        assert!(read_frame::<Request>(&mut garbage.as_slice()).is_err());
    }

    #[test]
    fn the_agent_refuses_a_sysctl_outside_the_network_tree() {
        let mut agent = Agent::default();
        let request = Request::ApplyDirector {
            change: DirectorChange::SetSysctl {
                name: "kernel.core_pattern".into(),
                value: "|/tmp/x".into(),
                before: None,
            },
        };
        let response = agent.handle(request, &mut Vec::new()).unwrap();
        match response {
            Some(Response::Refused(refusal)) => {
                assert!(
                    refusal.message.contains("kernel.core_pattern"),
                    "{refusal:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    /// An agent and its runner joined by a socket pair in this process: the protocol
    /// without SSH.
    fn joined() -> (RemoteDirector, std::thread::JoinHandle<io::Result<()>>) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let agent = std::thread::spawn(move || serve(theirs.try_clone()?, theirs));
        (attach("test", ours, false).unwrap(), agent)
    }

    #[test]
    fn the_link_carries_requests_and_typed_refusals_without_ssh() {
        let (director, agent) = joined();
        let sysctl = "net.ipv4.ip_forward".to_string();
        let facts = director
            .settings()
            .observe(std::slice::from_ref(&sysctl), None, None)
            .unwrap();
        let here = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        assert_eq!(facts.sysctls[&sysctl], here.trim(), "read there, as here");
        // A change the director refuses comes back with the system's errno.
        let missing = DirectorChange::SetSysctl {
            name: "net.ipv4.no_such_sysctl".into(),
            value: "1".into(),
            before: None,
        };
        let error = director.settings().apply(&missing).unwrap_err();
        assert_eq!(error.errno(), Some(libc::ENOENT), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("director test: cannot set net.ipv4.no_such_sysctl"),
            "{error}"
        );
        // The table: refused where the kernel has no IPVS, read where it has.
        if let Err(error) = director.ipvs().observe() {
            assert!(error.to_string().starts_with("director test: "), "{error}");
        }
        drop(director);
        agent
            .join()
            .unwrap()
            .expect("the agent ends at the end of its input");
    }

    #[test]
    fn a_refusals_help_travels_apart_from_its_message() {
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let agent = std::thread::spawn(move || serve(theirs.try_clone()?, theirs));
        assert_eq!(read_frame::<Hello>(&mut ours).unwrap(), Some(Hello::ours()));
        // Past the runner's own check: the agent refuses it again.
        let forbidden = Request::ApplyDirector {
            change: DirectorChange::SetSysctl {
                name: "kernel.core_pattern".into(),
                value: "|/bin/false".into(),
                before: None,
            },
        };
        write_frame(&mut ours, &forbidden).unwrap();
        let Some(Response::Refused(refusal)) = read_frame(&mut ours).unwrap() else {
            panic!("refused");
        };
        assert_eq!(
            refusal.help.as_deref(),
            Some("lvsform sets network sysctls (net.*) only")
        );
        assert!(!refusal.message.contains("help"), "{refusal:?}");
        let error = crate::ipvs::IpvsError::Remote(Box::new(remote::refused("lb2", refusal)));
        let help = miette::Diagnostic::help(&error).map(|h| h.to_string());
        assert_eq!(
            help.as_deref(),
            Some("lvsform sets network sysctls (net.*) only")
        );
        drop(ours);
        agent.join().unwrap().unwrap();
    }

    #[test]
    fn an_agent_of_another_protocol_is_refused_by_name() {
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let old = Hello {
            protocol: PROTOCOL - 1,
            version: "0.0.1".into(),
        };
        write_frame(&mut theirs, &old).unwrap();
        let error = attach("lb2", ours, false).err().expect("refused");
        assert!(
            matches!(&error, AgentError::Version { protocol, .. } if *protocol == PROTOCOL - 1)
        );
        assert!(
            error.to_string().starts_with("director lb2: lvsform 0.0.1"),
            "{error}"
        );
    }

    /// A runner's end whose "agent" is the test: it said hello and reads what comes.
    fn faked_agent() -> (RemoteDirector, std::os::unix::net::UnixStream) {
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        write_frame(&mut theirs, &Hello::ours()).unwrap();
        (attach("lb2", ours, false).unwrap(), theirs)
    }

    fn deletion() -> Change {
        Change::DelService {
            key: ServiceKey::Fwmark {
                mark: 1,
                family: crate::model::Family::Ipv4,
            },
        }
    }

    #[test]
    fn an_answer_lost_leaves_the_batch_in_doubt_and_the_link_fails_fast_after() {
        let (director, mut theirs) = faked_agent();
        let agent = std::thread::spawn(move || {
            let request: Option<Request> = read_frame(&mut theirs).unwrap();
            assert!(
                matches!(request, Some(Request::ApplyIpvs { ref changes }) if changes.len() == 3)
            );
            // Gone without answering: the changes may have been carried out.
        });
        let error = director
            .ipvs()
            .apply(&[deletion(), deletion(), deletion()])
            .unwrap_err();
        agent.join().unwrap();
        assert!(error.failed.is_empty(), "{error}");
        assert_eq!(error.in_doubt.len(), 3);
        // Said once, with the count.
        let text = error.to_string();
        assert_eq!(text.matches("lost the connection").count(), 1, "{text}");
        assert!(text.contains("(3 changes in doubt"), "{text}");
        // Nothing more is sent on a lost link: a later batch plainly failed, at once.
        let start = Instant::now();
        let error = director.ipvs().apply(&[deletion()]).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(
            error.in_doubt.is_empty() && error.failed.len() == 1,
            "{error}"
        );
        assert!(error.to_string().contains("earlier"), "{error}");
    }

    #[test]
    fn a_request_not_sent_whole_failed_without_doubt() {
        let (director, theirs) = faked_agent();
        drop(theirs);
        let error = director
            .ipvs()
            .apply(&[deletion(), deletion()])
            .unwrap_err();
        assert_eq!(
            (error.failed.len(), error.in_doubt.len()),
            (2, 0),
            "{error}"
        );
    }

    #[test]
    fn a_quiet_runner_sends_heartbeats() {
        let (director, mut theirs) = faked_agent();
        theirs.set_read_timeout(Some(HEARTBEAT * 2)).unwrap();
        let start = Instant::now();
        let beat: Option<Request> = read_frame(&mut theirs).expect("a heartbeat in time");
        assert!(matches!(beat, Some(Request::Heartbeat)), "{beat:?}");
        assert!(start.elapsed() >= HEARTBEAT / 2, "{:?}", start.elapsed());
        drop(director);
    }

    #[test]
    fn the_agent_ends_after_a_silence_and_not_before() {
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let bound = Duration::from_millis(400);
        let agent = std::thread::spawn(move || {
            let input = io::BufReader::new(Quiet {
                input: theirs.try_clone()?,
                bound,
            });
            serve(input, theirs)
        });
        assert_eq!(read_frame::<Hello>(&mut ours).unwrap(), Some(Hello::ours()));
        // Heartbeats within the bound keep it, for longer than the bound.
        for _ in 0..4 {
            std::thread::sleep(bound / 2);
            write_frame(&mut ours, &Request::Heartbeat).unwrap();
        }
        assert!(!agent.is_finished(), "ended while its runner spoke");
        let start = Instant::now();
        let error = agent.join().unwrap().expect_err("ends after a silence");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < bound * 2, "{:?}", start.elapsed());
        assert!(error.to_string().contains("frees the lock"), "{error}");
    }
}
