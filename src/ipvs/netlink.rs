//! The kernel's IPVS table over generic netlink: the only module that opens a netlink
//! socket. Reads are dumps; changes are sent in batches — many requests per `send`, then
//! their acknowledgements matched back by sequence number — so large applies are bounded
//! by the kernel, not by round trips.

use super::codec::{self, Attr, Message, Netlink};
use super::consts::*;
use super::convert;
use super::{ApplyError, Change, DestinationCounters, Info, Ipvs, IpvsError, ServiceEntry, Table};
use crate::model::{Destination, DestinationKey, Service, ServiceKey, SyncDaemon, Timeouts};
use crate::parallel::for_each_parallel;
use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;
use std::collections::{BTreeMap, BTreeSet};

/// Requests per `send`. Each acknowledgement occupies receive-buffer space until read, and
/// the kernel drops what does not fit (ENOBUFS), so batches stay well below that.
const BATCH: usize = 128;
const RECV_BUFFER: usize = 1 << 20;
/// Services whose real servers one socket reads before another socket helps.
const DUMP_SHARE: usize = 256;

/// The real servers of several services, and their counters.
type TableDestinations = (
    BTreeMap<ServiceKey, BTreeMap<DestinationKey, Destination>>,
    BTreeMap<(ServiceKey, DestinationKey), DestinationCounters>,
    BTreeMap<ServiceKey, Vec<DestinationKey>>,
);

/// A service's real servers, and their counters in the kernel's list order.
type DestinationsRead = (
    BTreeMap<DestinationKey, Destination>,
    Vec<(DestinationKey, DestinationCounters)>,
);

pub struct NetlinkIpvs {
    socket: NlSocket,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
    /// IPVS requests sent so far (dumps and changes), for tests and benchmarks.
    pub requests_sent: usize,
    /// At most this many sockets read a large table at once (default: one per core).
    pub dump_sockets: usize,
}

/// How long a receive waits: the kernel answers at once, so a longer silence means an
/// answer that will not come (a malformed or lost acknowledgement), not a slow one.
const RECEIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn set_receive_timeout(socket: &NlSocket, timeout: std::time::Duration) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
    };
    // SAFETY: setsockopt reads `size_of::<timeval>()` bytes from `value`, which lives until
    // the call returns, on a socket this process owns.
    let status = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&value as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn io(err: std::io::Error) -> IpvsError {
    match err.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => IpvsError::Permission,
        _ => IpvsError::Io(err),
    }
}

impl NetlinkIpvs {
    /// Opens a generic netlink socket and resolves the IPVS family.
    pub fn connect() -> Result<NetlinkIpvs, IpvsError> {
        let socket = NlSocket::connect(NlFamily::Generic, None, Groups::empty()).map_err(io)?;
        set_receive_timeout(&socket, RECEIVE_TIMEOUT).map_err(io)?;
        let mut ipvs = NetlinkIpvs {
            socket,
            family: GENL_ID_CTRL,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
            requests_sent: 0,
            dump_sockets: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        ipvs.seq += 1;
        let request = codec::get_family(IPVS_GENL_NAME, ipvs.seq);
        ipvs.socket.send(&request, Msg::empty()).map_err(io)?;
        let mut family = None;
        ipvs.receive(ipvs.seq, |message| {
            family = Some(codec::family_id(message.payload)?);
            Ok(())
        })
        .map_err(|e| match e {
            IpvsError::Read {
                errno: libc::ENOENT,
                ..
            } => IpvsError::NoIpvs,
            IpvsError::Read {
                errno: libc::EPERM | libc::EACCES,
                ..
            } => IpvsError::Permission,
            other => other,
        })?;
        ipvs.family = family.ok_or(IpvsError::NoIpvs)?;
        Ok(ipvs)
    }

    /// `connect`; when the kernel has no IPVS yet and `load` is set, loads the module first
    /// (apply does; plan only reads).
    pub fn connect_loading(load: bool) -> Result<NetlinkIpvs, IpvsError> {
        match NetlinkIpvs::connect() {
            Err(IpvsError::NoIpvs) if load => {
                let loaded = std::process::Command::new("modprobe")
                    .arg("ip_vs")
                    .status()
                    .is_ok_and(|s| s.success());
                crate::log::debug(|| {
                    format!(
                        "modprobe ip_vs: {}",
                        if loaded { "loaded" } else { "failed" }
                    )
                });
                NetlinkIpvs::connect()
            }
            other => other,
        }
    }

    /// Reads the replies to request `seq` until its acknowledgement or the end of its dump,
    /// passing each data message to `each`.
    fn receive(
        &mut self,
        seq: u32,
        mut each: impl FnMut(&Netlink) -> Result<(), codec::DecodeError>,
    ) -> Result<(), IpvsError> {
        loop {
            let (len, _) = self
                .socket
                .recv(&mut self.buf[..], Msg::empty())
                .map_err(io)?;
            for message in codec::messages(&self.buf[..len]) {
                let message = message.map_err(IpvsError::Decode)?;
                if message.seq != seq {
                    continue; // a late reply to an earlier request
                }
                match message.kind {
                    NLMSG_ERROR | NLMSG_DONE => {
                        let code = codec::error_code(message.payload).map_err(IpvsError::Decode)?;
                        return match code {
                            0 => Ok(()),
                            code => Err(IpvsError::Read {
                                what: "the IPVS table",
                                errno: -code,
                            }),
                        };
                    }
                    _ => each(&message).map_err(IpvsError::Decode)?,
                }
            }
        }
    }

    fn info(&mut self) -> Result<Info, IpvsError> {
        let mut info = Info::default();
        for reply in self.request(
            Message::new(IPVS_CMD_GET_INFO, vec![]),
            false,
            "the IPVS version",
        )? {
            for attr in reply.attrs {
                match attr {
                    Attr::InfoVersion(v) => info.version = v,
                    Attr::InfoConnTabSize(v) => info.conn_tab_size = v,
                    _ => {}
                }
            }
        }
        Ok(info)
    }

    fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let mut timeouts = Timeouts {
            tcp: 0,
            tcp_fin: 0,
            udp: 0,
        };
        for reply in self.request(
            Message::new(IPVS_CMD_GET_CONFIG, vec![]),
            false,
            "the IPVS timeouts",
        )? {
            for attr in reply.attrs {
                match attr {
                    Attr::TimeoutTcp(v) => timeouts.tcp = v,
                    Attr::TimeoutTcpFin(v) => timeouts.tcp_fin = v,
                    Attr::TimeoutUdp(v) => timeouts.udp = v,
                    _ => {}
                }
            }
        }
        Ok(timeouts)
    }

    fn sync_daemons(&mut self) -> Result<BTreeSet<SyncDaemon>, IpvsError> {
        let mut sync_daemons = BTreeSet::new();
        for reply in self.request(
            Message::new(IPVS_CMD_GET_DAEMON, vec![]),
            true,
            "the sync daemons",
        )? {
            for attr in reply.attrs {
                if let Attr::Daemon(attrs) = attr {
                    sync_daemons.insert(convert::daemon_entry(&attrs).map_err(IpvsError::Decode)?);
                }
            }
        }
        Ok(sync_daemons)
    }

    fn service_entries(&mut self) -> Result<Vec<ServiceEntry>, IpvsError> {
        let mut entries = Vec::new();
        for reply in self.request(
            Message::new(IPVS_CMD_GET_SERVICE, vec![]),
            true,
            "the IPVS services",
        )? {
            for attr in reply.attrs {
                if let Attr::Service(attrs) = attr {
                    entries.push(convert::service_entry(&attrs).map_err(IpvsError::Decode)?);
                }
            }
        }
        Ok(entries)
    }

    /// The real servers of `services` and their counters, handed to `each` in batches of
    /// up to `per_batch` services as they are read. A large table is read on several
    /// sockets at once (the kernel serves one dump at a time per socket): batches then come
    /// from several threads, in no set order.
    fn destinations_of(
        &mut self,
        services: &[ServiceKey],
        per_batch: usize,
        each: &(dyn Fn(TableDestinations) -> Result<(), IpvsError> + Sync),
    ) -> Result<(), IpvsError> {
        let sockets = (services.len() / DUMP_SHARE).clamp(1, self.dump_sockets.max(1));
        let mut chunks = services.chunks(services.len().div_ceil(sockets).max(1));
        // This socket reads the first share, a new one each of the others.
        let mut shares: Vec<(&[ServiceKey], Option<&mut NetlinkIpvs>)> = chunks
            .next()
            .map(|first| (first, Some(&mut *self)))
            .into_iter()
            .chain(chunks.map(|keys| (keys, None)))
            .collect();
        let read = |ipvs: &mut NetlinkIpvs, keys: &[ServiceKey]| {
            for batch in keys.chunks(per_batch.max(1)) {
                let mut destinations = BTreeMap::new();
                let mut counters = Vec::new();
                let mut order = BTreeMap::new();
                for key in batch {
                    let (read, mut listed) = ipvs.destinations(key)?;
                    order.insert(*key, listed.iter().map(|(d, _)| *d).collect());
                    // Sorted, for the map to be built at once.
                    listed.sort_unstable_by_key(|(d, _)| *d);
                    counters.extend(listed.into_iter().map(|(d, c)| ((*key, d), c)));
                    destinations.insert(*key, read);
                }
                each((destinations, counters.into_iter().collect(), order))?;
            }
            Ok(())
        };
        let requests = for_each_parallel(&mut shares, sockets, |(keys, own)| match own {
            Some(ipvs) => read(ipvs, keys).map(|()| 0),
            None => {
                let mut ipvs = NetlinkIpvs::connect()?;
                read(&mut ipvs, keys).map(|()| ipvs.requests_sent)
            }
        })
        .into_iter()
        .collect::<Result<Vec<_>, IpvsError>>()?;
        self.requests_sent += requests.iter().sum::<usize>();
        Ok(())
    }

    /// One service's real servers and their counters (one dump).
    fn destinations(&mut self, service: &ServiceKey) -> Result<DestinationsRead, IpvsError> {
        let query = Message::new(
            IPVS_CMD_GET_DEST,
            vec![Attr::Service(convert::key_attrs(service))],
        );
        let mut destinations = BTreeMap::new();
        let mut counters = Vec::new();
        for reply in self.request(query, true, "the IPVS real servers")? {
            for attr in reply.attrs {
                if let Attr::Dest(attrs) = attr {
                    let (key, dest, c) =
                        convert::dest_entry(service.family(), &attrs).map_err(IpvsError::Decode)?;
                    counters.push((key, c));
                    destinations.insert(key, dest);
                }
            }
        }
        Ok((destinations, counters))
    }

    /// One request; returns the parsed reply messages.
    fn request(
        &mut self,
        message: Message,
        dump: bool,
        what: &'static str,
    ) -> Result<Vec<Message>, IpvsError> {
        self.seq = self.seq.wrapping_add(1);
        let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        let bytes = message.emit(self.family, flags, self.seq);
        self.socket.send(&bytes, Msg::empty()).map_err(io)?;
        self.requests_sent += 1;
        let mut replies = Vec::new();
        self.receive(self.seq, |m| {
            replies.push(Message::parse(m.payload)?);
            Ok(())
        })
        .map_err(|e| match e {
            IpvsError::Read {
                errno: libc::EPERM | libc::EACCES,
                ..
            } => IpvsError::Permission,
            IpvsError::Read { errno, .. } => IpvsError::Read { what, errno },
            other => other,
        })?;
        Ok(replies)
    }
}

/// The request message of a change.
fn change_message(change: &Change) -> Message {
    let service = |key: &ServiceKey| Attr::Service(convert::key_attrs(key));
    match change {
        Change::AddService { key, settings } => Message::new(
            IPVS_CMD_NEW_SERVICE,
            vec![Attr::Service(convert::service_attrs(key, settings))],
        ),
        Change::EditService { key, settings } => Message::new(
            IPVS_CMD_SET_SERVICE,
            vec![Attr::Service(convert::service_attrs(key, settings))],
        ),
        Change::DelService { key } => Message::new(IPVS_CMD_DEL_SERVICE, vec![service(key)]),
        Change::AddDest {
            service: s,
            key,
            dest,
        } => Message::new(
            IPVS_CMD_NEW_DEST,
            vec![service(s), Attr::Dest(convert::dest_attrs(key, dest))],
        ),
        Change::EditDest {
            service: s,
            key,
            dest,
        } => Message::new(
            IPVS_CMD_SET_DEST,
            vec![service(s), Attr::Dest(convert::dest_attrs(key, dest))],
        ),
        Change::DelDest { service: s, key } => Message::new(
            IPVS_CMD_DEL_DEST,
            vec![service(s), Attr::Dest(convert::dest_key_attrs(key))],
        ),
        Change::SetTimeouts(t) => Message::new(
            IPVS_CMD_SET_CONFIG,
            vec![
                Attr::TimeoutTcp(t.tcp),
                Attr::TimeoutTcpFin(t.tcp_fin),
                Attr::TimeoutUdp(t.udp),
            ],
        ),
        Change::StartDaemon(d) => Message::new(
            IPVS_CMD_NEW_DAEMON,
            vec![Attr::Daemon(convert::daemon_attrs(d))],
        ),
        Change::StopDaemon(d) => Message::new(
            IPVS_CMD_DEL_DAEMON,
            vec![Attr::Daemon(vec![codec::DaemonAttr::State(
                convert::daemon_state(d.state),
            )])],
        ),
    }
}

/// The acknowledgements of one batch of changes, as datagrams bring them.
struct Acks<'c> {
    first_seq: u32,
    changes: &'c [Change],
    acked: Vec<bool>,
    /// Changes the kernel refused, by index in the batch.
    failed: Vec<(usize, IpvsError)>,
}

impl<'c> Acks<'c> {
    fn new(first_seq: u32, changes: &'c [Change]) -> Acks<'c> {
        Acks {
            first_seq,
            changes,
            acked: vec![false; changes.len()],
            failed: Vec::new(),
        }
    }

    fn pending(&self) -> bool {
        self.acked.contains(&false)
    }

    /// Takes the acknowledgements in one datagram. Messages of other requests, repeats and
    /// what cannot be parsed are skipped (a receive timeout ends the wait for an
    /// acknowledgement that never comes).
    fn take(&mut self, datagram: &[u8]) {
        for message in codec::messages(datagram).flatten() {
            let offset = message.seq.wrapping_sub(self.first_seq) as usize;
            if message.kind != NLMSG_ERROR || offset >= self.changes.len() || self.acked[offset] {
                continue;
            }
            self.acked[offset] = true;
            match codec::error_code(message.payload) {
                Ok(0) => {}
                Ok(code) => {
                    let errno = -code;
                    let error = if errno == libc::EPERM || errno == libc::EACCES {
                        IpvsError::Permission
                    } else {
                        IpvsError::Rejected {
                            change: self.changes[offset].to_string(),
                            errno,
                        }
                    };
                    self.failed.push((offset, error));
                }
                Err(e) => self.failed.push((offset, IpvsError::Decode(e))),
            }
        }
    }

    /// After the socket failed: the refused changes, and every change without an
    /// acknowledgement, in doubt (the rollback undoes it, and says so if it cannot).
    fn abandon(self, cause: &IpvsError) -> ApplyError {
        let in_doubt = (self.acked.iter().enumerate())
            .filter(|(_, acked)| !**acked)
            .map(|(offset, _)| {
                let error = format!("no acknowledgement ({cause})");
                (offset, IpvsError::Io(std::io::Error::other(error)))
            })
            .collect();
        ApplyError {
            failed: self.failed,
            in_doubt,
        }
    }
}

impl NetlinkIpvs {
    /// Runs `work` with one dump socket fewer than cores: one core is left for what runs
    /// beside the read (evaluating the configuration, or sending what is read).
    pub fn with_a_core_spare<T>(&mut self, work: impl FnOnce(&mut NetlinkIpvs) -> T) -> T {
        let all = self.dump_sockets;
        self.dump_sockets = all.saturating_sub(1);
        let result = work(self);
        self.dump_sockets = all;
        result
    }

    /// The table as `observe_some` reads it, handed to `each` in parts as it is read (a
    /// remote director sends one part while it reads the next): first what is not per
    /// service (version, timeouts, sync daemons, unknown schedulers) with the services
    /// whose real servers are not read, then parts of up to `services_per_part` services
    /// with their real servers, in no set order. The parts' union is the table.
    pub fn observe_in_parts(
        &mut self,
        only: Option<&BTreeSet<ServiceKey>>,
        services_per_part: usize,
        each: &(dyn Fn(Table) -> Result<(), IpvsError> + Sync),
    ) -> Result<(), IpvsError> {
        let info = self.info()?;
        let timeouts = self.timeouts()?;
        let sync_daemons = self.sync_daemons()?;
        let (entries, unknown): (Vec<ServiceEntry>, Vec<ServiceEntry>) = self
            .service_entries()?
            .into_iter()
            .partition(|e| e.unknown_scheduler.is_none());
        let empty = || Table {
            services: BTreeMap::new(),
            timeouts,
            sync_daemons: BTreeSet::new(),
            service_stats: BTreeMap::new(),
            counters: BTreeMap::new(),
            info,
            unknown_schedulers: BTreeMap::new(),
            order: BTreeMap::new(),
        };
        let mut first = Table {
            sync_daemons,
            unknown_schedulers: unknown
                .into_iter()
                .filter_map(|e| Some((e.key, e.unknown_scheduler?)))
                .collect(),
            ..empty()
        };
        let mut wanted = BTreeMap::new();
        for entry in entries {
            if only.is_none_or(|keys| keys.contains(&entry.key)) {
                wanted.insert(entry.key, entry);
            } else {
                first.service_stats.insert(entry.key, entry.stats);
                let service = Service {
                    settings: entry.settings,
                    destinations: BTreeMap::new(),
                };
                first.services.insert(entry.key, service);
            }
        }
        each(first)?;
        let keys: Vec<ServiceKey> = wanted.keys().copied().collect();
        self.destinations_of(&keys, services_per_part, &|(read, counters, order)| {
            let mut part = Table {
                counters,
                order,
                ..empty()
            };
            for (key, destinations) in read {
                let entry = &wanted[&key];
                part.service_stats.insert(key, entry.stats);
                let service = Service {
                    settings: entry.settings.clone(),
                    destinations,
                };
                part.services.insert(key, service);
            }
            each(part)
        })
    }
}

impl Ipvs for NetlinkIpvs {
    fn observe_some(&mut self, only: Option<&BTreeSet<ServiceKey>>) -> Result<Table, IpvsError> {
        let parts = std::sync::Mutex::new(Vec::new());
        self.observe_in_parts(only, usize::MAX, &|part| {
            parts.lock().unwrap_or_else(|e| e.into_inner()).push(part);
            Ok(())
        })?;
        let mut parts = parts.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut table = parts.remove(0);
        for mut part in parts {
            table.services.append(&mut part.services);
            table.service_stats.append(&mut part.service_stats);
            table.counters.append(&mut part.counters);
            table.order.append(&mut part.order);
        }
        Ok(table)
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), ApplyError> {
        let mut failed = Vec::new();
        for (chunk_index, chunk) in changes.chunks(BATCH).enumerate() {
            let first_seq = self.seq.wrapping_add(1);
            let mut bytes = Vec::with_capacity(chunk.len() * 160);
            for change in chunk {
                self.seq = self.seq.wrapping_add(1);
                bytes.extend(change_message(change).emit(
                    self.family,
                    NLM_F_REQUEST | NLM_F_ACK,
                    self.seq,
                ));
            }
            let base = chunk_index * BATCH;
            if let Err(e) = self.socket.send(&bytes, Msg::empty()) {
                // Nothing of this batch reached the kernel; later batches are not sent.
                let error = io(e);
                failed.push((base, error));
                failed.extend((base + 1..changes.len()).map(|i| {
                    (
                        i,
                        IpvsError::Io(std::io::Error::other("not sent after an earlier failure")),
                    )
                }));
                return Err(ApplyError {
                    failed,
                    in_doubt: vec![],
                });
            }
            self.requests_sent += chunk.len();
            let mut acks = Acks::new(first_seq, chunk);
            while acks.pending() {
                match self.socket.recv(&mut self.buf[..], Msg::empty()) {
                    Ok((len, _)) => acks.take(&self.buf[..len]),
                    Err(e) => {
                        // The changes not acknowledged may or may not have taken effect;
                        // none after them was sent.
                        let abandoned = acks.abandon(&io(e));
                        let shifted = |listed: Vec<(usize, IpvsError)>| {
                            listed.into_iter().map(|(i, e)| (base + i, e))
                        };
                        failed.extend(shifted(abandoned.failed));
                        failed.extend((base + chunk.len()..changes.len()).map(|i| {
                            let error = "not sent after an earlier failure";
                            (i, IpvsError::Io(std::io::Error::other(error)))
                        }));
                        return Err(ApplyError {
                            failed,
                            in_doubt: shifted(abandoned.in_doubt).collect(),
                        });
                    }
                }
            }
            failed.extend(acks.failed.into_iter().map(|(i, e)| (base + i, e)));
        }
        ApplyError::result(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timeouts;

    /// An acknowledgement as the kernel sends it: NLMSG_ERROR with `errno` (0: success)
    /// and the header of the request.
    fn ack(seq: u32, errno: i32) -> Vec<u8> {
        let mut message = Vec::new();
        message.extend(36u32.to_ne_bytes());
        message.extend(NLMSG_ERROR.to_ne_bytes());
        message.extend(0u16.to_ne_bytes());
        message.extend(seq.to_ne_bytes());
        message.extend(0u32.to_ne_bytes());
        message.extend((-errno).to_ne_bytes());
        message.extend([0u8; 16]);
        message
    }

    #[test]
    fn acknowledgements_are_counted_once_and_the_unacknowledged_never_pass_as_applied() {
        let change = Change::SetTimeouts(Timeouts {
            tcp: 1,
            tcp_fin: 1,
            udp: 1,
        });
        let changes = vec![change; 4];
        let mut acks = Acks::new(10, &changes);
        // The first succeeded (and is repeated), the third was refused; garbage, a message
        // of another request and a truncated one are skipped.
        let mut datagram = ack(10, 0);
        datagram.extend(ack(10, 0));
        datagram.extend(ack(99, 0));
        datagram.extend(ack(12, libc::EEXIST));
        acks.take(&datagram);
        acks.take(&[1, 2, 3]);
        assert!(acks.pending(), "changes 1 and 3 are not acknowledged");
        let ApplyError { failed, in_doubt } = acks.abandon(&IpvsError::Io(std::io::Error::from(
            std::io::ErrorKind::WouldBlock,
        )));
        let indexes = |listed: &[(usize, IpvsError)]| -> Vec<usize> {
            listed.iter().map(|(i, _)| *i).collect()
        };
        assert_eq!(indexes(&failed), [2], "the refused one failed");
        assert!(matches!(
            failed[0].1,
            IpvsError::Rejected {
                errno: libc::EEXIST,
                ..
            }
        ));
        assert_eq!(
            indexes(&in_doubt),
            [1, 3],
            "those without an acknowledgement are in doubt"
        );
        assert!(in_doubt[0].1.to_string().contains("no acknowledgement"));
    }
}
