//! Between the model (services, destinations, daemons) and IPVS attribute lists.

use super::codec::{DaemonAttr, DecodeError, DestAttr, Stats, SvcAttr};
use super::consts::*;
use super::{DestinationCounters, ServiceEntry};
use crate::model::{
    Destination, DestinationKey, Family, Forwarding, IpNetmask, Persistence, Protocol, Scheduler,
    SchedulerFlag, ServiceKey, ServiceSettings, SyncDaemon, SyncState, Tunnel, TunnelChecksum,
    TunnelType,
};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn af(family: Family) -> u16 {
    match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    }
}

fn address_bytes(addr: &IpAddr) -> [u8; 16] {
    let mut raw = [0u8; 16];
    match addr {
        IpAddr::V4(a) => raw[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => raw = a.octets(),
    }
    raw
}

fn address(af: u16, raw: &[u8; 16]) -> Result<IpAddr, DecodeError> {
    match af {
        AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
        AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(*raw))),
        other => Err(DecodeError(format!("unknown address family {other}"))),
    }
}

fn protocol_number(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

/// The attributes that identify a service (enough for GET_DEST, DEL_SERVICE, …).
pub fn key_attrs(key: &ServiceKey) -> Vec<SvcAttr> {
    match key {
        ServiceKey::Address {
            protocol,
            vip,
            port,
        } => vec![
            SvcAttr::Af(af(Family::of(vip))),
            SvcAttr::Protocol(protocol_number(*protocol)),
            SvcAttr::Addr(address_bytes(vip)),
            SvcAttr::Port(*port),
        ],
        ServiceKey::Fwmark { mark, family } => {
            vec![SvcAttr::Af(af(*family)), SvcAttr::Fwmark(*mark)]
        }
    }
}

/// The full service, as NEW_SERVICE and SET_SERVICE need it (all of sched_name, flags,
/// timeout and netmask are required by the kernel).
pub fn service_attrs(key: &ServiceKey, settings: &ServiceSettings) -> Vec<SvcAttr> {
    let mut attrs = key_attrs(key);
    let mut flags = 0;
    if settings.persistence.is_some() {
        flags |= IP_VS_SVC_F_PERSISTENT;
    }
    if settings.one_packet {
        flags |= IP_VS_SVC_F_ONEPACKET;
    }
    for flag in &settings.flags {
        flags |= match flag {
            SchedulerFlag::Fallback => IP_VS_SVC_F_SCHED1,
            SchedulerFlag::Port => IP_VS_SVC_F_SCHED2,
        };
    }
    let (timeout, netmask) = match &settings.persistence {
        Some(p) => (p.timeout, netmask_bytes(p.netmask)),
        None => (0, netmask_bytes(IpNetmask::whole(key.family()))),
    };
    attrs.push(SvcAttr::SchedName(settings.scheduler.as_str().to_string()));
    if let Some(engine) = settings
        .persistence
        .as_ref()
        .and_then(|p| p.engine.as_ref())
    {
        attrs.push(SvcAttr::PeName(engine.clone()));
    }
    attrs.push(SvcAttr::Flags {
        flags,
        mask: u32::MAX,
    });
    attrs.push(SvcAttr::Timeout(timeout));
    attrs.push(SvcAttr::Netmask(netmask));
    attrs
}

fn netmask_bytes(mask: IpNetmask) -> [u8; 4] {
    match mask {
        IpNetmask::V4(m) => m.octets(),
        IpNetmask::V6(len) => u32::from(len).to_ne_bytes(),
    }
}

/// A service from a GET_SERVICE reply.
pub fn service_entry(attrs: &[SvcAttr]) -> Result<ServiceEntry, DecodeError> {
    let mut family = None;
    let (mut protocol, mut addr, mut port, mut fwmark) = (None, None, None, None);
    let (mut scheduler, mut flags, mut timeout, mut netmask, mut engine) = (None, 0, 0, None, None);
    let mut stats = Stats::default();
    for attr in attrs {
        match attr {
            SvcAttr::Af(v) => family = Some(*v),
            SvcAttr::Protocol(v) => protocol = Some(*v),
            SvcAttr::Addr(v) => addr = Some(*v),
            SvcAttr::Port(v) => port = Some(*v),
            SvcAttr::Fwmark(v) => fwmark = Some(*v),
            SvcAttr::SchedName(v) => scheduler = Some(v.clone()),
            SvcAttr::Flags { flags: f, .. } => flags = *f,
            SvcAttr::Timeout(v) => timeout = *v,
            SvcAttr::Netmask(v) => netmask = Some(*v),
            SvcAttr::PeName(v) => engine = Some(v.clone()).filter(|e| !e.is_empty()),
            SvcAttr::Stats64(s) => stats = *s,
            SvcAttr::Stats(s) if stats == Stats::default() => stats = *s,
            SvcAttr::Stats(_) | SvcAttr::Other(..) => {}
        }
    }
    let af = family.ok_or_else(|| DecodeError("service without address family".into()))?;
    let family = match af {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        other => {
            return Err(DecodeError(format!(
                "service with unknown address family {other}"
            )));
        }
    };
    let key = match (fwmark, protocol, addr, port) {
        (Some(mark), ..) if mark != 0 => ServiceKey::Fwmark { mark, family },
        (_, Some(protocol), Some(addr), Some(port)) => ServiceKey::Address {
            protocol: match protocol {
                IPPROTO_TCP => Protocol::Tcp,
                IPPROTO_UDP => Protocol::Udp,
                IPPROTO_SCTP => Protocol::Sctp,
                other => {
                    return Err(DecodeError(format!(
                        "service with unknown protocol {other}"
                    )));
                }
            },
            vip: address(af, &addr)?,
            port,
        },
        _ => {
            return Err(DecodeError(
                "service without fwmark or protocol/address/port".into(),
            ));
        }
    };
    let scheduler =
        scheduler.ok_or_else(|| DecodeError(format!("service {key} without scheduler")))?;
    let unknown_scheduler = Scheduler::parse(&scheduler)
        .is_none()
        .then(|| scheduler.clone());
    let scheduler = Scheduler::parse(&scheduler).unwrap_or(crate::defaults::SCHEDULER);
    let netmask = match (family, netmask) {
        (Family::Ipv4, Some(raw)) => IpNetmask::V4(Ipv4Addr::from(raw)),
        (Family::Ipv6, Some(raw)) => IpNetmask::V6(u32::from_ne_bytes(raw).min(128) as u8),
        (family, None) => IpNetmask::whole(family),
    };
    let mut scheduler_flags = BTreeSet::new();
    if flags & IP_VS_SVC_F_SCHED1 != 0 {
        scheduler_flags.insert(SchedulerFlag::Fallback);
    }
    if flags & IP_VS_SVC_F_SCHED2 != 0 {
        scheduler_flags.insert(SchedulerFlag::Port);
    }
    let persistence = (flags & IP_VS_SVC_F_PERSISTENT != 0).then_some(Persistence {
        timeout,
        netmask,
        engine,
    });
    Ok(ServiceEntry {
        key,
        settings: ServiceSettings {
            scheduler,
            flags: scheduler_flags,
            persistence,
            one_packet: flags & IP_VS_SVC_F_ONEPACKET != 0,
        },
        unknown_scheduler,
        stats,
    })
}

/// The full destination, as NEW_DEST and SET_DEST need it.
pub fn dest_attrs(key: &DestinationKey, dest: &Destination) -> Vec<DestAttr> {
    let mut attrs = vec![
        DestAttr::Addr(address_bytes(&key.address)),
        DestAttr::Port(key.port),
        DestAttr::FwdMethod(match dest.forwarding {
            Forwarding::Nat => IP_VS_CONN_F_MASQ,
            Forwarding::Dr => IP_VS_CONN_F_DROUTE,
            Forwarding::Tun(_) => IP_VS_CONN_F_TUNNEL,
        }),
        DestAttr::Weight(dest.weight),
        DestAttr::UThresh(dest.upper_threshold),
        DestAttr::LThresh(dest.lower_threshold),
        DestAttr::AddrFamily(af(Family::of(&key.address))),
    ];
    if let Forwarding::Tun(tunnel) = dest.forwarding {
        attrs.push(DestAttr::TunType(match tunnel.kind {
            TunnelType::Ipip => IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
            TunnelType::Gue => IP_VS_CONN_F_TUNNEL_TYPE_GUE,
            TunnelType::Gre => IP_VS_CONN_F_TUNNEL_TYPE_GRE,
        }));
        attrs.push(DestAttr::TunPort(tunnel.port));
        attrs.push(DestAttr::TunFlags(match tunnel.checksum {
            TunnelChecksum::NoCsum => IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
            TunnelChecksum::Csum => IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
            TunnelChecksum::RemCsum => IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
        }));
    }
    attrs
}

/// The attributes that identify a destination (DEL_DEST).
pub fn dest_key_attrs(key: &DestinationKey) -> Vec<DestAttr> {
    vec![
        DestAttr::Addr(address_bytes(&key.address)),
        DestAttr::Port(key.port),
        DestAttr::AddrFamily(af(Family::of(&key.address))),
    ]
}

/// A destination from a GET_DEST reply of a service of `family`.
pub fn dest_entry(
    family: Family,
    attrs: &[DestAttr],
) -> Result<(DestinationKey, Destination, DestinationCounters), DecodeError> {
    let (mut addr, mut port, mut fwd, mut addr_family) = (None, None, None, af(family));
    let mut dest = Destination {
        forwarding: Forwarding::Dr,
        weight: 0,
        upper_threshold: 0,
        lower_threshold: 0,
    };
    let mut tunnel = Tunnel::default();
    let mut counters = DestinationCounters::default();
    for attr in attrs {
        match attr {
            DestAttr::Addr(v) => addr = Some(*v),
            DestAttr::Port(v) => port = Some(*v),
            DestAttr::FwdMethod(v) => fwd = Some(*v & IP_VS_CONN_F_FWD_MASK),
            DestAttr::Weight(v) => dest.weight = *v,
            DestAttr::UThresh(v) => dest.upper_threshold = *v,
            DestAttr::LThresh(v) => dest.lower_threshold = *v,
            DestAttr::ActiveConns(v) => counters.active = *v,
            DestAttr::InactConns(v) => counters.inactive = *v,
            DestAttr::PersistConns(v) => counters.persistent = *v,
            DestAttr::AddrFamily(v) => addr_family = *v,
            DestAttr::Stats64(s) => counters.stats = *s,
            DestAttr::Stats(s) if counters.stats == Stats::default() => counters.stats = *s,
            DestAttr::TunType(v) => {
                tunnel.kind = match *v {
                    IP_VS_CONN_F_TUNNEL_TYPE_IPIP => TunnelType::Ipip,
                    IP_VS_CONN_F_TUNNEL_TYPE_GUE => TunnelType::Gue,
                    IP_VS_CONN_F_TUNNEL_TYPE_GRE => TunnelType::Gre,
                    other => return Err(DecodeError(format!("unknown tunnel type {other}"))),
                }
            }
            DestAttr::TunPort(v) => tunnel.port = *v,
            DestAttr::TunFlags(v) => {
                tunnel.checksum = if v & IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM != 0 {
                    TunnelChecksum::RemCsum
                } else if v & IP_VS_TUNNEL_ENCAP_FLAG_CSUM != 0 {
                    TunnelChecksum::Csum
                } else {
                    TunnelChecksum::NoCsum
                }
            }
            DestAttr::Stats(_) | DestAttr::Other(..) => {}
        }
    }
    let addr = addr.ok_or_else(|| DecodeError("destination without address".into()))?;
    let port = port.ok_or_else(|| DecodeError("destination without port".into()))?;
    let key = DestinationKey {
        address: address(addr_family, &addr)?,
        port,
    };
    dest.forwarding = match fwd {
        Some(IP_VS_CONN_F_MASQ) => Forwarding::Nat,
        Some(IP_VS_CONN_F_DROUTE) => Forwarding::Dr,
        Some(IP_VS_CONN_F_TUNNEL) => Forwarding::Tun(tunnel),
        Some(other) => {
            return Err(DecodeError(format!(
                "destination {key} has forwarding method {other}, which lvsform does not manage"
            )));
        }
        None => {
            return Err(DecodeError(format!(
                "destination {key} without forwarding method"
            )));
        }
    };
    Ok((key, dest, counters))
}

pub fn daemon_attrs(daemon: &SyncDaemon) -> Vec<DaemonAttr> {
    vec![
        DaemonAttr::State(daemon_state(daemon.state)),
        DaemonAttr::McastIfn(daemon.interface.clone()),
        DaemonAttr::SyncId(u32::from(daemon.syncid)),
    ]
}

pub fn daemon_state(state: SyncState) -> u32 {
    match state {
        SyncState::Master => IP_VS_STATE_MASTER,
        SyncState::Backup => IP_VS_STATE_BACKUP,
    }
}

pub fn daemon_entry(attrs: &[DaemonAttr]) -> Result<SyncDaemon, DecodeError> {
    let (mut state, mut interface, mut syncid) = (None, None, 0);
    for attr in attrs {
        match attr {
            DaemonAttr::State(IP_VS_STATE_MASTER) => state = Some(SyncState::Master),
            DaemonAttr::State(IP_VS_STATE_BACKUP) => state = Some(SyncState::Backup),
            DaemonAttr::State(other) => {
                return Err(DecodeError(format!("unknown sync daemon state {other}")));
            }
            DaemonAttr::McastIfn(v) => interface = Some(v.clone()),
            DaemonAttr::SyncId(v) => syncid = *v,
            DaemonAttr::Other(..) => {}
        }
    }
    Ok(SyncDaemon {
        state: state.ok_or_else(|| DecodeError("sync daemon without state".into()))?,
        interface: interface.ok_or_else(|| DecodeError("sync daemon without interface".into()))?,
        syncid: u8::try_from(syncid)
            .map_err(|_| DecodeError(format!("sync id {syncid} out of range")))?,
    })
}
