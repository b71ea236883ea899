//! Remote directors: lvsform runs itself on the director over SSH (`lvsform agent`, a
//! hidden command) and speaks to it on the channel's standard input and output.
//!
//! The protocol is versioned and framed: each message is a 4-byte big-endian length and
//! that many bytes of JSON. The agent speaks first (`Hello`: protocol and lvsform version),
//! then answers each request with one response, in order. It only ever carries out the
//! typed requests below — reads, IPVS changes, director changes that pass the same checks
//! as locally, the director's lock — never a command line. It ends at the end of its input;
//! the lock it holds ends with it (and with the SSH connection: sshd ends the process).

mod remote;
mod wire;

pub use crate::director::{Director, DirectorChange, DirectorFacts, LocalDirector};
use crate::ipvs::{Change, Ipvs, NetlinkIpvs};
use crate::lock::Lock;
use crate::model::ServiceKey;
pub use remote::{AgentError, RemoteDirector, connect};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::time::Duration;
pub use wire::WireTable;

/// Raised when a message changes shape; both ends must speak the same.
pub const PROTOCOL: u32 = 1;

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
    /// Take the director's apply lock, waiting up to this long; held until the agent ends.
    Lock {
        timeout_ms: u64,
    },
    /// The IPVS table (`only`: real servers of these services only); `load_ipvs` loads the
    /// module when the kernel has none yet (apply does, plan only reads).
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
    },
    ApplyDirector {
        change: DirectorChange,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    Done,
    Table(Box<WireTable>),
    /// The IPVS changes that failed, by index, with why; every other one took effect.
    Applied {
        failed: Vec<(usize, String)>,
    },
    Director(DirectorFacts),
    Refused {
        message: String,
        help: Option<String>,
    },
}

impl Response {
    fn refused(error: &dyn miette::Diagnostic) -> Response {
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
        Response::Refused { message, help }
    }
}

pub fn write_frame(output: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    let body = serde_json::to_vec(message)?;
    let length = u32::try_from(body.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    output.write_all(&length.to_be_bytes())?;
    output.write_all(&body)?;
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
        let response = agent.handle(request);
        write_frame(&mut output, &response)?;
    }
    Ok(())
}

/// What the agent holds between requests.
#[derive(Default)]
struct Agent {
    ipvs: Option<NetlinkIpvs>,
    lock: Option<Lock>,
}

impl Agent {
    fn handle(&mut self, request: Request) -> Response {
        match request {
            Request::Lock { timeout_ms } => {
                match Lock::acquire(Duration::from_millis(timeout_ms)) {
                    Ok(lock) => {
                        self.lock = Some(lock);
                        Response::Done
                    }
                    Err(e) => Response::refused(&e),
                }
            }
            Request::ReadTable { only, load_ipvs } => match self.ipvs(load_ipvs) {
                Ok(ipvs) => match ipvs.observe_some(only.as_ref()) {
                    Ok(table) => Response::Table(Box::new(WireTable::from(&table))),
                    Err(e) => Response::refused(&e),
                },
                Err(e) => Response::refused(&e),
            },
            Request::ApplyIpvs { changes } => match self.ipvs(false) {
                Ok(ipvs) => Response::Applied {
                    failed: match ipvs.apply(&changes) {
                        Ok(()) => vec![],
                        Err(e) => e
                            .failed
                            .into_iter()
                            .map(|(i, e)| (i, e.to_string()))
                            .collect(),
                    },
                },
                Err(e) => Response::refused(&e),
            },
            Request::ReadDirector { sysctls, interface } => {
                match LocalDirector.observe(&sysctls, interface.as_deref()) {
                    Ok(facts) => Response::Director(facts),
                    Err(e) => Response::refused(&e),
                }
            }
            Request::ApplyDirector { change } => match LocalDirector.apply(&change) {
                Ok(()) => Response::Done,
                Err(e) => Response::refused(&e),
            },
        }
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
        let response = agent.handle(Request::ApplyDirector {
            change: DirectorChange::SetSysctl {
                name: "kernel.core_pattern".into(),
                value: "|/tmp/x".into(),
                before: None,
            },
        });
        match response {
            Response::Refused { message, .. } => {
                assert!(message.contains("kernel.core_pattern"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
