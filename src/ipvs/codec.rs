//! The IPVS generic-netlink wire format: messages as typed attribute lists, parsed from and
//! emitted to bytes. One enum per nesting level; attributes the code does not know are kept
//! as `Other` so that newer kernels never break a dump.
//!
//! Wire traps: ports and the IPv4 persistence netmask are big-endian, other integers are
//! native; addresses always take 16 bytes (IPv4 in the first 4); `FLAGS` is a
//! `{flags, mask}` pair.

use super::consts::*;
use std::fmt;

pub const NLMSG_HDRLEN: usize = 16;
pub const GENL_HDRLEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed netlink data: {}", self.0)
    }
}

fn err<T>(what: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(what.into()))
}

/// One netlink message: header fields and the payload after the 16-byte header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netlink<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

/// Splits a receive buffer into netlink messages.
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Result<Netlink<'_>, DecodeError>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        if buf.len() < NLMSG_HDRLEN {
            buf = &[];
            return Some(err("truncated message header"));
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            buf = &[];
            return Some(err(format!("message length {len} out of bounds")));
        }
        let message = Netlink {
            kind: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes(buf[8..12].try_into().unwrap()),
            pid: u32::from_ne_bytes(buf[12..16].try_into().unwrap()),
            payload: &buf[NLMSG_HDRLEN..len],
        };
        buf = &buf[align(len).min(buf.len())..];
        Some(Ok(message))
    })
}

/// The errno of an `NLMSG_ERROR` message (0 is an acknowledgement).
pub fn error_code(payload: &[u8]) -> Result<i32, DecodeError> {
    match payload.get(0..4) {
        Some(bytes) => Ok(i32::from_ne_bytes(bytes.try_into().unwrap())),
        None => err("truncated error message"),
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Iterates over the attributes of a payload: (type without flags, value).
fn attributes(mut buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DecodeError>> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None; // trailing padding
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            buf = &[];
            return Some(err(format!("attribute {kind} has length {len}")));
        }
        let value = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some(Ok((kind, value)))
    })
}

fn fixed<const N: usize>(kind: &str, value: &[u8]) -> Result<[u8; N], DecodeError> {
    value
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| DecodeError(format!("{kind}: expected {N} bytes, got {}", value.len())))
}

fn u16_ne(kind: &str, v: &[u8]) -> Result<u16, DecodeError> {
    fixed::<2>(kind, v).map(u16::from_ne_bytes)
}
fn u16_be(kind: &str, v: &[u8]) -> Result<u16, DecodeError> {
    fixed::<2>(kind, v).map(u16::from_be_bytes)
}
fn u32_ne(kind: &str, v: &[u8]) -> Result<u32, DecodeError> {
    fixed::<4>(kind, v).map(u32::from_ne_bytes)
}
fn u64_ne(kind: &str, v: &[u8]) -> Result<u64, DecodeError> {
    fixed::<8>(kind, v).map(u64::from_ne_bytes)
}
fn string(kind: &str, v: &[u8]) -> Result<String, DecodeError> {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8(v[..end].to_vec()).map_err(|_| DecodeError(format!("{kind}: not UTF-8")))
}

/// Builds one message; attributes are appended in order, nests closed explicitly.
pub struct Writer {
    buf: Vec<u8>,
    nests: Vec<usize>,
    nested_flag: u16,
}

impl Writer {
    /// Requests mark nests with NLA_F_NESTED, as libnl (and so ipvsadm) does; the kernel's
    /// replies do not.
    pub fn new(kind: u16, flags: u16, seq: u32) -> Writer {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        let nested_flag = if flags & NLM_F_REQUEST != 0 {
            NLA_F_NESTED
        } else {
            0
        };
        Writer {
            buf,
            nests: Vec::new(),
            nested_flag,
        }
    }

    /// The generic netlink header: command and version.
    pub fn genl(mut self, cmd: u8, version: u8) -> Writer {
        self.buf.extend_from_slice(&[cmd, version, 0, 0]);
        self
    }

    pub fn attr(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align(self.buf.len()), 0);
    }

    pub fn nest(&mut self, kind: u16) {
        self.nests.push(self.buf.len());
        self.attr(kind | self.nested_flag, &[]);
    }

    pub fn end(&mut self) {
        let start = self.nests.pop().expect("end() without nest()");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    pub fn finish(mut self) -> Vec<u8> {
        debug_assert!(self.nests.is_empty(), "unclosed nest");
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// Statistics of a service or destination (`IPVS_STATS_ATTR_*`); STATS64 carries the same
/// fields as 64-bit values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

const STATS_FIELDS: [u16; 10] = [
    IPVS_STATS_ATTR_CONNS,
    IPVS_STATS_ATTR_INPKTS,
    IPVS_STATS_ATTR_OUTPKTS,
    IPVS_STATS_ATTR_INBYTES,
    IPVS_STATS_ATTR_OUTBYTES,
    IPVS_STATS_ATTR_CPS,
    IPVS_STATS_ATTR_INPPS,
    IPVS_STATS_ATTR_OUTPPS,
    IPVS_STATS_ATTR_INBPS,
    IPVS_STATS_ATTR_OUTBPS,
];

impl Stats {
    fn fields(&mut self) -> [&mut u64; 10] {
        [
            &mut self.conns,
            &mut self.inpkts,
            &mut self.outpkts,
            &mut self.inbytes,
            &mut self.outbytes,
            &mut self.cps,
            &mut self.inpps,
            &mut self.outpps,
            &mut self.inbps,
            &mut self.outbps,
        ]
    }

    /// In the 32-bit form, byte counters are 64-bit and the rest 32-bit; in STATS64 all are.
    fn parse(value: &[u8], wide: bool) -> Result<Stats, DecodeError> {
        let mut stats = Stats::default();
        for attr in attributes(value) {
            let (kind, v) = attr?;
            if let Some(i) = STATS_FIELDS.iter().position(|k| *k == kind) {
                let bytes = kind == IPVS_STATS_ATTR_INBYTES || kind == IPVS_STATS_ATTR_OUTBYTES;
                *stats.fields()[i] = if wide || bytes {
                    u64_ne("stats", v)?
                } else {
                    u64::from(u32_ne("stats", v)?)
                };
            }
        }
        Ok(stats)
    }

    fn emit(mut self, w: &mut Writer, kind: u16, wide: bool) {
        w.nest(kind);
        for (field, value) in STATS_FIELDS.iter().zip(self.fields()) {
            let bytes = *field == IPVS_STATS_ATTR_INBYTES || *field == IPVS_STATS_ATTR_OUTBYTES;
            if wide || bytes {
                w.attr(*field, &value.to_ne_bytes());
            } else {
                w.attr(*field, &(*value as u32).to_ne_bytes());
            }
        }
        w.end();
    }
}

/// `IPVS_SVC_ATTR_*`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvcAttr {
    Af(u16),
    Protocol(u16),
    Addr([u8; 16]),
    Port(u16),
    Fwmark(u32),
    SchedName(String),
    Flags {
        flags: u32,
        mask: u32,
    },
    Timeout(u32),
    /// The raw 4 bytes: an IPv4 netmask in network order, or an IPv6 prefix length as a
    /// native integer.
    Netmask([u8; 4]),
    Stats(Stats),
    PeName(String),
    Stats64(Stats),
    Other(u16, Vec<u8>),
}

/// `IPVS_DEST_ATTR_*`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAttr {
    Addr([u8; 16]),
    Port(u16),
    FwdMethod(u32),
    Weight(u32),
    UThresh(u32),
    LThresh(u32),
    ActiveConns(u32),
    InactConns(u32),
    PersistConns(u32),
    Stats(Stats),
    AddrFamily(u16),
    Stats64(Stats),
    TunType(u8),
    TunPort(u16),
    TunFlags(u16),
    Other(u16, Vec<u8>),
}

/// `IPVS_DAEMON_ATTR_*`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAttr {
    State(u32),
    McastIfn(String),
    SyncId(u32),
    Other(u16, Vec<u8>),
}

/// Top-level attributes: `IPVS_CMD_ATTR_*`, or `IPVS_INFO_ATTR_*` in a GET_INFO reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    Service(Vec<SvcAttr>),
    Dest(Vec<DestAttr>),
    Daemon(Vec<DaemonAttr>),
    TimeoutTcp(u32),
    TimeoutTcpFin(u32),
    TimeoutUdp(u32),
    InfoVersion(u32),
    InfoConnTabSize(u32),
    Other(u16, Vec<u8>),
}

/// A generic netlink IPVS message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub cmd: u8,
    pub version: u8,
    pub attrs: Vec<Attr>,
}

impl Message {
    pub fn new(cmd: u8, attrs: Vec<Attr>) -> Message {
        Message {
            cmd,
            version: IPVS_GENL_VERSION,
            attrs,
        }
    }

    /// Parses the payload of a netlink message (genl header and attributes).
    pub fn parse(payload: &[u8]) -> Result<Message, DecodeError> {
        if payload.len() < GENL_HDRLEN {
            return err("truncated generic netlink header");
        }
        let (cmd, version) = (payload[0], payload[1]);
        let info = cmd == IPVS_CMD_SET_INFO || cmd == IPVS_CMD_GET_INFO;
        let mut attrs = Vec::new();
        for attr in attributes(&payload[GENL_HDRLEN..]) {
            let (kind, v) = attr?;
            attrs.push(match (kind, info) {
                (IPVS_INFO_ATTR_VERSION, true) => Attr::InfoVersion(u32_ne("version", v)?),
                (IPVS_INFO_ATTR_CONN_TAB_SIZE, true) => {
                    Attr::InfoConnTabSize(u32_ne("conn_tab_size", v)?)
                }
                (IPVS_CMD_ATTR_SERVICE, false) => Attr::Service(parse_service(v)?),
                (IPVS_CMD_ATTR_DEST, false) => Attr::Dest(parse_dest(v)?),
                (IPVS_CMD_ATTR_DAEMON, false) => Attr::Daemon(parse_daemon(v)?),
                (IPVS_CMD_ATTR_TIMEOUT_TCP, false) => Attr::TimeoutTcp(u32_ne("timeout", v)?),
                (IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, false) => {
                    Attr::TimeoutTcpFin(u32_ne("timeout", v)?)
                }
                (IPVS_CMD_ATTR_TIMEOUT_UDP, false) => Attr::TimeoutUdp(u32_ne("timeout", v)?),
                _ => Attr::Other(kind, v.to_vec()),
            });
        }
        Ok(Message {
            cmd,
            version,
            attrs,
        })
    }

    /// The complete netlink message for the IPVS family.
    pub fn emit(&self, family: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut w = Writer::new(family, flags, seq).genl(self.cmd, self.version);
        for attr in &self.attrs {
            match attr {
                Attr::Service(attrs) => {
                    w.nest(IPVS_CMD_ATTR_SERVICE);
                    attrs.iter().for_each(|a| a.emit(&mut w));
                    w.end();
                }
                Attr::Dest(attrs) => {
                    w.nest(IPVS_CMD_ATTR_DEST);
                    attrs.iter().for_each(|a| a.emit(&mut w));
                    w.end();
                }
                Attr::Daemon(attrs) => {
                    w.nest(IPVS_CMD_ATTR_DAEMON);
                    attrs.iter().for_each(|a| a.emit(&mut w));
                    w.end();
                }
                Attr::TimeoutTcp(t) => w.attr(IPVS_CMD_ATTR_TIMEOUT_TCP, &t.to_ne_bytes()),
                Attr::TimeoutTcpFin(t) => w.attr(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, &t.to_ne_bytes()),
                Attr::TimeoutUdp(t) => w.attr(IPVS_CMD_ATTR_TIMEOUT_UDP, &t.to_ne_bytes()),
                Attr::InfoVersion(v) => w.attr(IPVS_INFO_ATTR_VERSION, &v.to_ne_bytes()),
                Attr::InfoConnTabSize(v) => w.attr(IPVS_INFO_ATTR_CONN_TAB_SIZE, &v.to_ne_bytes()),
                Attr::Other(kind, v) => w.attr(*kind, v),
            }
        }
        w.finish()
    }
}

fn nul_terminated(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

fn parse_service(value: &[u8]) -> Result<Vec<SvcAttr>, DecodeError> {
    attributes(value)
        .map(|attr| {
            let (kind, v) = attr?;
            Ok(match kind {
                IPVS_SVC_ATTR_AF => SvcAttr::Af(u16_ne("af", v)?),
                IPVS_SVC_ATTR_PROTOCOL => SvcAttr::Protocol(u16_ne("protocol", v)?),
                IPVS_SVC_ATTR_ADDR => SvcAttr::Addr(fixed("addr", v)?),
                IPVS_SVC_ATTR_PORT => SvcAttr::Port(u16_be("port", v)?),
                IPVS_SVC_ATTR_FWMARK => SvcAttr::Fwmark(u32_ne("fwmark", v)?),
                IPVS_SVC_ATTR_SCHED_NAME => SvcAttr::SchedName(string("sched_name", v)?),
                IPVS_SVC_ATTR_FLAGS => {
                    let raw: [u8; 8] = fixed("flags", v)?;
                    SvcAttr::Flags {
                        flags: u32::from_ne_bytes(raw[0..4].try_into().unwrap()),
                        mask: u32::from_ne_bytes(raw[4..8].try_into().unwrap()),
                    }
                }
                IPVS_SVC_ATTR_TIMEOUT => SvcAttr::Timeout(u32_ne("timeout", v)?),
                IPVS_SVC_ATTR_NETMASK => SvcAttr::Netmask(fixed("netmask", v)?),
                IPVS_SVC_ATTR_STATS => SvcAttr::Stats(Stats::parse(v, false)?),
                IPVS_SVC_ATTR_PE_NAME => SvcAttr::PeName(string("pe_name", v)?),
                IPVS_SVC_ATTR_STATS64 => SvcAttr::Stats64(Stats::parse(v, true)?),
                _ => SvcAttr::Other(kind, v.to_vec()),
            })
        })
        .collect()
}

impl SvcAttr {
    fn emit(&self, w: &mut Writer) {
        match self {
            SvcAttr::Af(v) => w.attr(IPVS_SVC_ATTR_AF, &v.to_ne_bytes()),
            SvcAttr::Protocol(v) => w.attr(IPVS_SVC_ATTR_PROTOCOL, &v.to_ne_bytes()),
            SvcAttr::Addr(v) => w.attr(IPVS_SVC_ATTR_ADDR, v),
            SvcAttr::Port(v) => w.attr(IPVS_SVC_ATTR_PORT, &v.to_be_bytes()),
            SvcAttr::Fwmark(v) => w.attr(IPVS_SVC_ATTR_FWMARK, &v.to_ne_bytes()),
            SvcAttr::SchedName(v) => w.attr(IPVS_SVC_ATTR_SCHED_NAME, &nul_terminated(v)),
            SvcAttr::Flags { flags, mask } => {
                let mut raw = flags.to_ne_bytes().to_vec();
                raw.extend_from_slice(&mask.to_ne_bytes());
                w.attr(IPVS_SVC_ATTR_FLAGS, &raw);
            }
            SvcAttr::Timeout(v) => w.attr(IPVS_SVC_ATTR_TIMEOUT, &v.to_ne_bytes()),
            SvcAttr::Netmask(v) => w.attr(IPVS_SVC_ATTR_NETMASK, v),
            SvcAttr::Stats(s) => s.emit(w, IPVS_SVC_ATTR_STATS, false),
            SvcAttr::PeName(v) => w.attr(IPVS_SVC_ATTR_PE_NAME, &nul_terminated(v)),
            SvcAttr::Stats64(s) => s.emit(w, IPVS_SVC_ATTR_STATS64, true),
            SvcAttr::Other(kind, v) => w.attr(*kind, v),
        }
    }
}

fn parse_dest(value: &[u8]) -> Result<Vec<DestAttr>, DecodeError> {
    attributes(value)
        .map(|attr| {
            let (kind, v) = attr?;
            Ok(match kind {
                IPVS_DEST_ATTR_ADDR => DestAttr::Addr(fixed("addr", v)?),
                IPVS_DEST_ATTR_PORT => DestAttr::Port(u16_be("port", v)?),
                IPVS_DEST_ATTR_FWD_METHOD => DestAttr::FwdMethod(u32_ne("fwd_method", v)?),
                IPVS_DEST_ATTR_WEIGHT => DestAttr::Weight(u32_ne("weight", v)?),
                IPVS_DEST_ATTR_U_THRESH => DestAttr::UThresh(u32_ne("u_thresh", v)?),
                IPVS_DEST_ATTR_L_THRESH => DestAttr::LThresh(u32_ne("l_thresh", v)?),
                IPVS_DEST_ATTR_ACTIVE_CONNS => DestAttr::ActiveConns(u32_ne("active", v)?),
                IPVS_DEST_ATTR_INACT_CONNS => DestAttr::InactConns(u32_ne("inactive", v)?),
                IPVS_DEST_ATTR_PERSIST_CONNS => DestAttr::PersistConns(u32_ne("persistent", v)?),
                IPVS_DEST_ATTR_STATS => DestAttr::Stats(Stats::parse(v, false)?),
                IPVS_DEST_ATTR_ADDR_FAMILY => DestAttr::AddrFamily(u16_ne("addr_family", v)?),
                IPVS_DEST_ATTR_STATS64 => DestAttr::Stats64(Stats::parse(v, true)?),
                IPVS_DEST_ATTR_TUN_TYPE => DestAttr::TunType(fixed::<1>("tun_type", v)?[0]),
                IPVS_DEST_ATTR_TUN_PORT => DestAttr::TunPort(u16_be("tun_port", v)?),
                IPVS_DEST_ATTR_TUN_FLAGS => DestAttr::TunFlags(u16_ne("tun_flags", v)?),
                _ => DestAttr::Other(kind, v.to_vec()),
            })
        })
        .collect()
}

impl DestAttr {
    fn emit(&self, w: &mut Writer) {
        match self {
            DestAttr::Addr(v) => w.attr(IPVS_DEST_ATTR_ADDR, v),
            DestAttr::Port(v) => w.attr(IPVS_DEST_ATTR_PORT, &v.to_be_bytes()),
            DestAttr::FwdMethod(v) => w.attr(IPVS_DEST_ATTR_FWD_METHOD, &v.to_ne_bytes()),
            DestAttr::Weight(v) => w.attr(IPVS_DEST_ATTR_WEIGHT, &v.to_ne_bytes()),
            DestAttr::UThresh(v) => w.attr(IPVS_DEST_ATTR_U_THRESH, &v.to_ne_bytes()),
            DestAttr::LThresh(v) => w.attr(IPVS_DEST_ATTR_L_THRESH, &v.to_ne_bytes()),
            DestAttr::ActiveConns(v) => w.attr(IPVS_DEST_ATTR_ACTIVE_CONNS, &v.to_ne_bytes()),
            DestAttr::InactConns(v) => w.attr(IPVS_DEST_ATTR_INACT_CONNS, &v.to_ne_bytes()),
            DestAttr::PersistConns(v) => w.attr(IPVS_DEST_ATTR_PERSIST_CONNS, &v.to_ne_bytes()),
            DestAttr::Stats(s) => s.emit(w, IPVS_DEST_ATTR_STATS, false),
            DestAttr::AddrFamily(v) => w.attr(IPVS_DEST_ATTR_ADDR_FAMILY, &v.to_ne_bytes()),
            DestAttr::Stats64(s) => s.emit(w, IPVS_DEST_ATTR_STATS64, true),
            DestAttr::TunType(v) => w.attr(IPVS_DEST_ATTR_TUN_TYPE, &[*v]),
            DestAttr::TunPort(v) => w.attr(IPVS_DEST_ATTR_TUN_PORT, &v.to_be_bytes()),
            DestAttr::TunFlags(v) => w.attr(IPVS_DEST_ATTR_TUN_FLAGS, &v.to_ne_bytes()),
            DestAttr::Other(kind, v) => w.attr(*kind, v),
        }
    }
}

fn parse_daemon(value: &[u8]) -> Result<Vec<DaemonAttr>, DecodeError> {
    attributes(value)
        .map(|attr| {
            let (kind, v) = attr?;
            Ok(match kind {
                IPVS_DAEMON_ATTR_STATE => DaemonAttr::State(u32_ne("state", v)?),
                IPVS_DAEMON_ATTR_MCAST_IFN => DaemonAttr::McastIfn(string("mcast_ifn", v)?),
                IPVS_DAEMON_ATTR_SYNC_ID => DaemonAttr::SyncId(u32_ne("sync_id", v)?),
                _ => DaemonAttr::Other(kind, v.to_vec()),
            })
        })
        .collect()
}

impl DaemonAttr {
    fn emit(&self, w: &mut Writer) {
        match self {
            DaemonAttr::State(v) => w.attr(IPVS_DAEMON_ATTR_STATE, &v.to_ne_bytes()),
            DaemonAttr::McastIfn(v) => w.attr(IPVS_DAEMON_ATTR_MCAST_IFN, &nul_terminated(v)),
            DaemonAttr::SyncId(v) => w.attr(IPVS_DAEMON_ATTR_SYNC_ID, &v.to_ne_bytes()),
            DaemonAttr::Other(kind, v) => w.attr(*kind, v),
        }
    }
}

/// `CTRL_CMD_GETFAMILY` for a family name.
pub fn get_family(name: &str, seq: u32) -> Vec<u8> {
    let mut w =
        Writer::new(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq).genl(CTRL_CMD_GETFAMILY, 1);
    w.attr(CTRL_ATTR_FAMILY_NAME, &nul_terminated(name));
    w.finish()
}

/// The family id in a `CTRL_CMD_NEWFAMILY` reply payload.
pub fn family_id(payload: &[u8]) -> Result<u16, DecodeError> {
    let attrs = payload
        .get(GENL_HDRLEN..)
        .ok_or_else(|| DecodeError("truncated reply".into()))?;
    for attr in attributes(attrs) {
        let (kind, v) = attr?;
        if kind == CTRL_ATTR_FAMILY_ID {
            return u16_ne("family id", v);
        }
    }
    err("no family id in the reply")
}
