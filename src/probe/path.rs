//! A probe through the VIP, along the real forwarding path (seesaw's technique, proven
//! in the lab on Debian's 6.1): a temporary fwmark service holding only the server, and
//! a connection from the director to the VIP whose socket carries that mark, so that IPVS
//! sends it to that server the way it sends clients (NAT, DR or TUN). Clients' packets
//! carry no mark: the temporary service is never theirs.
//!
//! DR and TUN: the connection leaves from the director's address towards the server (its
//! DIP): from the VIP, its own source, the server would drop it as a martian. The server
//! answers from the VIP, which the director holds itself, so the director would drop the
//! answer as a martian in turn unless `accept_local` is set: it is, for the probe only.
//!
//! NAT: the server answers the source through its default route, which must be the
//! director; the DIP is on its own LAN and would be answered directly whatever that route.
//! So the connection leaves from an address no LAN has, `PROBE_SOURCE` (RFC 2544's
//! benchmarking range), held on the director's `lo` for the probe: its answer reaches the
//! director only along the route real clients' answers take.
//!
//! The probe puts everything back (service, sysctl, address) before it returns, with the
//! signals that could end it (SIGINT, SIGTERM, SIGHUP) held meanwhile, so that neither
//! Ctrl-C nor a lost SSH connection leaves anything behind.

use super::{Outcome, Probe, ProbeError, Through, dial};
use crate::director::DirectorError;
use crate::ipvs::{Change, Ipvs};
use crate::model::{
    Destination, DestinationKey, Family, Forwarding, InterfaceAddress, Scheduler, ServiceKey,
    ServiceSettings,
};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::Range;

/// The marks of temporary services: `0x4c565000`.. ("LVP"), the first one free.
pub const MARKS: Range<u32> = 0x4c56_5000..0x4c56_5100;

const ACCEPT_LOCAL: &str = "/proc/sys/net/ipv4/conf/all/accept_local";

/// The source of a NAT probe, by family: 198.18.0.1 and 2001:2::1 (benchmarking ranges,
/// RFC 2544 and RFC 5180), routed nowhere.
fn probe_source(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => std::net::Ipv4Addr::new(198, 18, 0, 1).into(),
        Family::Ipv6 => std::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1).into(),
    }
}

/// Dials the server through `through`'s VIP, by way of a temporary service.
pub fn through_vip(
    ipvs: &mut dyn Ipvs,
    server: DestinationKey,
    through: &Through,
    probe: &Probe,
) -> Result<Outcome, ProbeError> {
    let family = Family::of(&through.vip);
    let _held = SignalsHeld::new();
    let (source, added) = match through.forwarding {
        Forwarding::Nat => {
            let source = probe_source(family);
            (source, hold_source(source)?)
        }
        _ => (source_towards(server.address)?, false),
    };
    let mark = match add_service(ipvs, family, server, through) {
        Ok(mark) => mark,
        Err(e) => {
            return match added.then(|| drop_source(source)) {
                Some(Err(left)) => Err(left),
                _ => Err(e),
            };
        }
    };
    // IPv6 has no martian check for the director's own addresses.
    let accept_local = match family {
        Family::Ipv4 => set_accept_local(),
        Family::Ipv6 => Ok(None),
    };
    let outcome = accept_local.as_ref().map(|_| {
        dial(
            SocketAddr::new(through.vip, through.port),
            Some((source, mark)),
            probe,
        )
    });
    // Put back in the reverse order, each whatever became of the other.
    let mut left = Vec::new();
    if let Ok(Some(before)) = &accept_local
        && let Err(e) = std::fs::write(ACCEPT_LOCAL, before)
    {
        left.push(format!(
            "net.ipv4.conf.all.accept_local = 1 ({e}; it was {})",
            before.trim()
        ));
    }
    let key = ServiceKey::Fwmark { mark, family };
    if let Err(e) = ipvs.apply(&[Change::DelService { key }]) {
        left.push(format!("the temporary service {key} ({e})"));
    }
    if added && let Err(ProbeError::Left(what)) = drop_source(source) {
        left.push(what);
    }
    if !left.is_empty() {
        return Err(ProbeError::Left(left.join(" and ")));
    }
    outcome.map_err(|e| ProbeError::Setup(format!("cannot set accept_local: {e}")))
}

/// The director's own address the kernel sends from towards `server`.
fn source_towards(server: IpAddr) -> Result<IpAddr, ProbeError> {
    let unspecified: IpAddr = match server {
        IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    // Connecting a UDP socket sends nothing: it only routes.
    UdpSocket::bind((unspecified, 0))
        .and_then(|socket| {
            socket.connect((server, 9))?;
            socket.local_addr()
        })
        .map(|local| local.ip())
        .map_err(|e| ProbeError::NoRoute(server, e))
}

/// Puts the NAT probe's source on `lo`; whether it was added (it may be there already).
fn hold_source(source: IpAddr) -> Result<bool, ProbeError> {
    let address = InterfaceAddress::host("lo", source);
    match crate::director::ip(&["addr", "add", &address.address.to_string(), "dev", "lo"]) {
        Ok(()) => Ok(true),
        Err(DirectorError::Ip { message, .. }) if message.contains("File exists") => Ok(false),
        Err(e) => Err(ProbeError::Setup(e.to_string())),
    }
}

fn drop_source(source: IpAddr) -> Result<(), ProbeError> {
    let address = InterfaceAddress::host("lo", source).address.to_string();
    crate::director::ip(&["addr", "del", &address, "dev", "lo"])
        .map_err(|e| ProbeError::Left(format!("{address} on lo ({e})")))
}

/// Makes the temporary service (the first free mark) holding the one server; its mark.
fn add_service(
    ipvs: &mut dyn Ipvs,
    family: Family,
    server: DestinationKey,
    through: &Through,
) -> Result<u32, ProbeError> {
    for mark in MARKS {
        let key = ServiceKey::Fwmark { mark, family };
        let settings = ServiceSettings {
            scheduler: Scheduler::Rr,
            flags: Default::default(),
            persistence: None,
            one_packet: false,
        };
        match ipvs.apply(&[Change::AddService { key, settings }]) {
            Ok(()) => {}
            Err(e)
                if e.failed
                    .iter()
                    .any(|(_, e)| e.errno() == Some(libc::EEXIST)) =>
            {
                continue;
            }
            Err(e) => return Err(ProbeError::Setup(e.to_string())),
        }
        let dest = Destination {
            forwarding: through.forwarding,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
        };
        let added = ipvs.apply(&[Change::AddDest {
            service: key,
            key: server,
            dest,
        }]);
        if let Err(e) = added {
            return match ipvs.apply(&[Change::DelService { key }]) {
                Ok(()) => Err(ProbeError::Setup(e.to_string())),
                Err(_) => Err(ProbeError::Left(format!(
                    "the temporary service {key} ({e})"
                ))),
            };
        }
        return Ok(mark);
    }
    Err(ProbeError::Setup(format!(
        "every mark from {:#x} to {:#x} has a service",
        MARKS.start,
        MARKS.end - 1
    )))
}

/// Sets `accept_local` for the probe; what it was when it must be put back.
fn set_accept_local() -> std::io::Result<Option<String>> {
    let before = std::fs::read_to_string(ACCEPT_LOCAL)?;
    if before.trim() == "1" {
        return Ok(None);
    }
    std::fs::write(ACCEPT_LOCAL, "1\n")?;
    Ok(Some(before))
}

/// SIGINT, SIGTERM and SIGHUP held for this thread until dropped: one that comes meanwhile
/// is delivered then (to a handler, or ending the process once the probe is cleaned up).
struct SignalsHeld(libc::sigset_t);

impl SignalsHeld {
    fn new() -> SignalsHeld {
        // SAFETY: the sets are initialised by sigemptyset before use; pthread_sigmask
        // only changes this thread's mask.
        unsafe {
            let mut held: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut held);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut held, signal);
            }
            let mut before: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &held, &mut before);
            SignalsHeld(before)
        }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::FakeIpvs;

    #[test]
    fn the_temporary_service_takes_a_free_mark_and_is_gone_after() {
        let mut ipvs = FakeIpvs::default();
        let taken = ServiceKey::Fwmark {
            mark: MARKS.start,
            family: Family::Ipv4,
        };
        let settings = ServiceSettings {
            scheduler: Scheduler::Wlc,
            flags: Default::default(),
            persistence: None,
            one_packet: false,
        };
        ipvs.apply(&[Change::AddService {
            key: taken,
            settings,
        }])
        .unwrap();
        let server = DestinationKey {
            address: "127.0.0.1".parse().unwrap(),
            port: 9,
        };
        let through = Through {
            vip: "127.0.0.2".parse().unwrap(),
            port: 9,
            forwarding: Forwarding::Dr,
        };
        let mark = add_service(&mut ipvs, Family::Ipv4, server, &through).unwrap();
        assert_eq!(mark, MARKS.start + 1);
        let table = ipvs.observe().unwrap();
        let service = &table.services[&ServiceKey::Fwmark {
            mark,
            family: Family::Ipv4,
        }];
        assert_eq!(service.destinations.keys().collect::<Vec<_>>(), [&server]);
        assert_eq!(service.destinations[&server].forwarding, Forwarding::Dr);
    }
}
