//! Codec tests on bytes captured from the real kernel and ipvsadm (`tests/fixtures/netlink`,
//! made by `tests/lab/capture-fixtures.py`): each fixture parses to the value written here
//! by hand, emits back to the same bytes, and converts to the model as ipvsadm meant it.

use super::codec::*;
use super::consts::*;
use super::convert;
use crate::model::*;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The bytes of a fixture file: hex pairs, `#` starts a comment.
fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/netlink/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| line.split('#').next().unwrap())
        .flat_map(|line| {
            line.split_whitespace()
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Parses a one-message fixture, checks that emitting the value gives the same bytes
/// (all but the sender's port id, which the kernel assigns), and returns the value.
fn round_trip(name: &str) -> (Netlink<'static>, Message) {
    let raw: &'static [u8] = Box::leak(fixture(name).into_boxed_slice());
    let mut all = messages(raw);
    let header = all.next().expect("one message").expect("valid header");
    assert!(all.next().is_none(), "{name}: more than one message");
    let message = Message::parse(header.payload).unwrap_or_else(|e| panic!("{name}: {e}"));
    let emitted = message.emit(header.kind, header.flags, header.seq);
    assert_eq!(emitted.len(), raw.len(), "{name}: length");
    assert_eq!(emitted[..12], raw[..12], "{name}: header");
    assert_eq!(emitted[16..], raw[16..], "{name}: emit(parse(raw)) != raw");
    (header, message)
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> [u8; 16] {
    let mut raw = [0; 16];
    raw[..4].copy_from_slice(&[a, b, c, d]);
    raw
}

fn v6(text: &str) -> [u8; 16] {
    text.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

/// The service part ipvsadm sends with destination commands: the identity plus empty
/// settings.
fn ipvsadm_service_tcp() -> Vec<SvcAttr> {
    vec![
        SvcAttr::Af(AF_INET),
        SvcAttr::Protocol(IPPROTO_TCP),
        SvcAttr::Addr(v4(203, 0, 113, 10)),
        SvcAttr::Port(80),
        SvcAttr::SchedName(String::new()),
        SvcAttr::Flags {
            flags: 0,
            mask: u32::MAX,
        },
        SvcAttr::Timeout(0),
        SvcAttr::Netmask([255; 4]),
    ]
}

fn tcp_web() -> ServiceKey {
    ServiceKey::Address {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10".parse().unwrap(),
        port: 80,
    }
}

#[test]
fn new_service_v4_persistent() {
    let (header, message) = round_trip("new-service-v4-persistent");
    assert_eq!(header.flags, NLM_F_REQUEST | NLM_F_ACK);
    let attrs = vec![
        SvcAttr::Af(AF_INET),
        SvcAttr::Protocol(IPPROTO_TCP),
        SvcAttr::Addr(v4(203, 0, 113, 10)),
        SvcAttr::Port(80),
        SvcAttr::SchedName("wrr".into()),
        SvcAttr::Flags {
            flags: IP_VS_SVC_F_PERSISTENT,
            mask: u32::MAX,
        },
        SvcAttr::Timeout(300),
        SvcAttr::Netmask([255, 255, 255, 0]),
    ];
    assert_eq!(
        message,
        Message::new(IPVS_CMD_NEW_SERVICE, vec![Attr::Service(attrs.clone())])
    );
    let entry = convert::service_entry(&attrs).unwrap();
    assert_eq!(entry.key, tcp_web());
    let settings = ServiceSettings {
        scheduler: Scheduler::Wrr,
        flags: BTreeSet::new(),
        persistence: Some(Persistence {
            timeout: 300,
            netmask: IpNetmask::V4(Ipv4Addr::new(255, 255, 255, 0)),
            engine: None,
        }),
        one_packet: false,
    };
    assert_eq!(entry.settings, settings);
    assert_eq!(entry.unknown_scheduler, None);
    // lvsform's own request for the same service carries the same attributes.
    assert_eq!(convert::service_attrs(&tcp_web(), &settings), attrs);

    // A scheduler of a newer kernel still reads: the service is set apart, named.
    let newer: Vec<SvcAttr> = attrs
        .iter()
        .map(|a| match a {
            SvcAttr::SchedName(_) => SvcAttr::SchedName("fastest".into()),
            other => other.clone(),
        })
        .collect();
    let entry = convert::service_entry(&newer).expect("reads");
    assert_eq!(entry.unknown_scheduler.as_deref(), Some("fastest"));
}

#[test]
fn new_dest_nat_with_thresholds() {
    let (_, message) = round_trip("new-dest-nat-thresholds");
    let dest = vec![
        DestAttr::AddrFamily(AF_INET),
        DestAttr::Addr(v4(10, 1, 0, 11)),
        DestAttr::Port(8080),
        DestAttr::FwdMethod(IP_VS_CONN_F_MASQ),
        DestAttr::Weight(3),
        DestAttr::TunType(0),
        DestAttr::TunPort(0),
        DestAttr::TunFlags(0),
        DestAttr::UThresh(100),
        DestAttr::LThresh(50),
    ];
    assert_eq!(
        message,
        Message::new(
            IPVS_CMD_NEW_DEST,
            vec![
                Attr::Service(ipvsadm_service_tcp()),
                Attr::Dest(dest.clone())
            ]
        )
    );
    let (key, d, _) = convert::dest_entry(Family::Ipv4, &dest).unwrap();
    assert_eq!(
        key,
        DestinationKey {
            address: "10.1.0.11".parse().unwrap(),
            port: 8080
        }
    );
    assert_eq!(
        d,
        Destination {
            forwarding: Forwarding::Nat,
            weight: 3,
            upper_threshold: 100,
            lower_threshold: 50
        }
    );
}

#[test]
fn new_service_fwmark_v6_mh_flags() {
    let (_, message) = round_trip("new-service-fwmark-v6-mh");
    let attrs = vec![
        SvcAttr::Af(AF_INET6),
        SvcAttr::Fwmark(10),
        SvcAttr::SchedName("mh".into()),
        SvcAttr::Flags {
            flags: IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2,
            mask: u32::MAX,
        },
        SvcAttr::Timeout(0),
        SvcAttr::Netmask(128u32.to_ne_bytes()),
    ];
    assert_eq!(
        message,
        Message::new(IPVS_CMD_NEW_SERVICE, vec![Attr::Service(attrs.clone())])
    );
    let entry = convert::service_entry(&attrs).unwrap();
    assert_eq!(
        entry.key,
        ServiceKey::Fwmark {
            mark: 10,
            family: Family::Ipv6
        }
    );
    assert_eq!(
        entry.settings.flags,
        BTreeSet::from([SchedulerFlag::Fallback, SchedulerFlag::Port])
    );
    assert_eq!(convert::service_attrs(&entry.key, &entry.settings), attrs);
}

#[test]
fn new_dest_tun_gue_v6() {
    let (_, message) = round_trip("new-dest-tun-gue-v6");
    let service = vec![
        SvcAttr::Af(AF_INET6),
        SvcAttr::Fwmark(10),
        SvcAttr::SchedName(String::new()),
        SvcAttr::Flags {
            flags: 0,
            mask: u32::MAX,
        },
        SvcAttr::Timeout(0),
        SvcAttr::Netmask(128u32.to_ne_bytes()),
    ];
    let dest = vec![
        DestAttr::AddrFamily(AF_INET6),
        DestAttr::Addr(v6("2001:db8::11")),
        DestAttr::Port(0),
        DestAttr::FwdMethod(IP_VS_CONN_F_TUNNEL),
        DestAttr::Weight(2),
        DestAttr::TunType(IP_VS_CONN_F_TUNNEL_TYPE_GUE),
        DestAttr::TunPort(6080),
        DestAttr::TunFlags(IP_VS_TUNNEL_ENCAP_FLAG_CSUM),
        DestAttr::UThresh(0),
        DestAttr::LThresh(0),
    ];
    assert_eq!(
        message,
        Message::new(
            IPVS_CMD_NEW_DEST,
            vec![Attr::Service(service), Attr::Dest(dest.clone())]
        )
    );
    let (key, d, _) = convert::dest_entry(Family::Ipv6, &dest).unwrap();
    assert_eq!(key.to_string(), "[2001:db8::11]:0");
    let tunnel = Tunnel {
        kind: TunnelType::Gue,
        port: 6080,
        checksum: TunnelChecksum::Csum,
    };
    assert_eq!(d.forwarding, Forwarding::Tun(tunnel));
}

#[test]
fn error_acknowledgement_carries_errno_and_request() {
    let raw = fixture("error-eexist");
    let message = messages(&raw).next().unwrap().unwrap();
    assert_eq!(message.kind, NLMSG_ERROR);
    assert_eq!(error_code(message.payload), Ok(-libc::EEXIST));
    // The refused request follows the errno: its header names the same sequence number.
    let request = messages(&message.payload[4..]).next().unwrap().unwrap();
    assert_eq!(request.seq, message.seq);
    assert_eq!(
        Message::parse(request.payload).unwrap().cmd,
        IPVS_CMD_NEW_SERVICE
    );
}

#[test]
fn set_config_and_its_reply() {
    let timeouts = vec![
        Attr::TimeoutTcp(900),
        Attr::TimeoutTcpFin(120),
        Attr::TimeoutUdp(300),
    ];
    assert_eq!(
        round_trip("set-config").1,
        Message::new(IPVS_CMD_SET_CONFIG, timeouts.clone())
    );
    let (header, reply) = round_trip("get-config-reply");
    assert_eq!(header.flags, 0);
    assert_eq!(reply, Message::new(IPVS_CMD_SET_CONFIG, timeouts));
}

#[test]
fn sync_daemon_request_and_dump() {
    let attrs = vec![
        DaemonAttr::State(IP_VS_STATE_MASTER),
        DaemonAttr::McastIfn("sync0".into()),
        DaemonAttr::SyncId(5),
    ];
    assert_eq!(
        round_trip("new-daemon").1,
        Message::new(IPVS_CMD_NEW_DAEMON, vec![Attr::Daemon(attrs.clone())])
    );
    let daemon = SyncDaemon {
        state: SyncState::Master,
        interface: "sync0".into(),
        syncid: 5,
    };
    assert_eq!(convert::daemon_attrs(&daemon), attrs);

    let (_, dump) = round_trip("dump-daemon");
    let Attr::Daemon(dumped) = &dump.attrs[0] else {
        panic!("{dump:?}")
    };
    assert_eq!(dumped[..3], attrs[..]);
    // Newer attributes (max length, port, TTL, group) are kept as unknown, never an error.
    assert!(
        dumped[3..]
            .iter()
            .all(|a| matches!(a, DaemonAttr::Other(..))),
        "{dumped:?}"
    );
    assert_eq!(convert::daemon_entry(dumped).unwrap(), daemon);
}

#[test]
fn dumped_services_with_stats() {
    let zero = Stats::default();
    let (header, message) = round_trip("dump-service-v4");
    assert_eq!(header.flags, NLM_F_MULTI);
    let expected = vec![
        SvcAttr::Af(AF_INET),
        SvcAttr::Protocol(IPPROTO_TCP),
        SvcAttr::Addr(v4(203, 0, 113, 10)),
        SvcAttr::Port(80),
        SvcAttr::SchedName("wrr".into()),
        SvcAttr::Flags {
            flags: IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED,
            mask: u32::MAX,
        },
        SvcAttr::Timeout(300),
        SvcAttr::Netmask([255, 255, 255, 0]),
        SvcAttr::Stats(zero),
        SvcAttr::Stats64(zero),
    ];
    assert_eq!(
        message,
        Message::new(IPVS_CMD_NEW_SERVICE, vec![Attr::Service(expected.clone())])
    );
    let entry = convert::service_entry(&expected).unwrap();
    assert_eq!(
        (entry.key, entry.settings.scheduler),
        (tcp_web(), Scheduler::Wrr)
    );

    let (_, message) = round_trip("dump-service-fwmark-v6");
    let Attr::Service(attrs) = &message.attrs[0] else {
        panic!()
    };
    let entry = convert::service_entry(attrs).unwrap();
    assert_eq!(
        entry.key,
        ServiceKey::Fwmark {
            mark: 10,
            family: Family::Ipv6
        }
    );
    assert_eq!(entry.settings.scheduler, Scheduler::Mh);
    assert!(entry.settings.persistence.is_none());
}

#[test]
fn dumped_destinations_with_counters() {
    let (_, message) = round_trip("dump-dest-nat");
    let Attr::Dest(attrs) = &message.attrs[0] else {
        panic!()
    };
    let expected = vec![
        DestAttr::Addr(v4(10, 1, 0, 11)),
        DestAttr::Port(8080),
        DestAttr::FwdMethod(IP_VS_CONN_F_MASQ),
        DestAttr::Weight(3),
        DestAttr::TunType(0),
        DestAttr::TunPort(0),
        DestAttr::TunFlags(0),
        DestAttr::UThresh(100),
        DestAttr::LThresh(50),
        DestAttr::ActiveConns(0),
        DestAttr::InactConns(0),
        DestAttr::PersistConns(0),
        DestAttr::AddrFamily(AF_INET),
        DestAttr::Stats(Stats::default()),
        DestAttr::Stats64(Stats::default()),
    ];
    assert_eq!(*attrs, expected);
    let (key, dest, counters) = convert::dest_entry(Family::Ipv4, attrs).unwrap();
    assert_eq!(key.to_string(), "10.1.0.11:8080");
    assert_eq!(dest.forwarding, Forwarding::Nat);
    assert_eq!(counters.active + counters.inactive + counters.persistent, 0);

    let (_, message) = round_trip("dump-dest-tun-gue");
    let Attr::Dest(attrs) = &message.attrs[0] else {
        panic!()
    };
    let (_, dest, _) = convert::dest_entry(Family::Ipv6, attrs).unwrap();
    assert_eq!(
        dest.forwarding,
        Forwarding::Tun(Tunnel {
            kind: TunnelType::Gue,
            port: 6080,
            checksum: TunnelChecksum::Csum
        })
    );
    assert_eq!(dest.weight, 2);
}

#[test]
fn info_reply() {
    let (_, message) = round_trip("get-info-reply");
    assert_eq!(
        message,
        Message::new(
            IPVS_CMD_SET_INFO,
            vec![Attr::InfoVersion(0x010201), Attr::InfoConnTabSize(4096)]
        )
    );
}

#[test]
fn edit_and_delete_destination_requests() {
    let dest = |weight, fwd| {
        vec![
            DestAttr::AddrFamily(AF_INET),
            DestAttr::Addr(v4(10, 1, 0, 11)),
            DestAttr::Port(8080),
            DestAttr::FwdMethod(fwd),
            DestAttr::Weight(weight),
            DestAttr::TunType(0),
            DestAttr::TunPort(0),
            DestAttr::TunFlags(0),
            DestAttr::UThresh(0),
            DestAttr::LThresh(0),
        ]
    };
    assert_eq!(
        round_trip("set-dest-weight-0").1,
        Message::new(
            IPVS_CMD_SET_DEST,
            vec![
                Attr::Service(ipvsadm_service_tcp()),
                Attr::Dest(dest(0, IP_VS_CONN_F_MASQ))
            ]
        )
    );
    // ipvsadm fills in its defaults (-g, weight 1) even when deleting.
    assert_eq!(
        round_trip("del-dest").1,
        Message::new(
            IPVS_CMD_DEL_DEST,
            vec![
                Attr::Service(ipvsadm_service_tcp()),
                Attr::Dest(dest(1, IP_VS_CONN_F_DROUTE))
            ]
        )
    );
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let raw = fixture("dump-dest-nat");
    for cut in 0..raw.len() {
        for message in messages(&raw[..cut]).flatten() {
            let _ = Message::parse(message.payload);
        }
    }
    let mut corrupt = raw.clone();
    corrupt[20] = 0xff; // the first attribute claims more bytes than there are
    let message = messages(&corrupt).next().unwrap().unwrap();
    assert!(Message::parse(message.payload).is_err());
}

#[test]
fn new_service_udp_one_packet_with_sip_persistence() {
    let (_, message) = round_trip("new-service-udp-one-packet-sip");
    let attrs = vec![
        SvcAttr::Af(AF_INET),
        SvcAttr::Protocol(IPPROTO_UDP),
        SvcAttr::Addr(v4(203, 0, 113, 11)),
        SvcAttr::Port(5060),
        SvcAttr::SchedName("wlc".into()),
        SvcAttr::PeName("sip".into()),
        SvcAttr::Flags {
            flags: IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_ONEPACKET,
            mask: u32::MAX,
        },
        SvcAttr::Timeout(120),
        SvcAttr::Netmask([255; 4]),
    ];
    assert_eq!(
        message,
        Message::new(IPVS_CMD_NEW_SERVICE, vec![Attr::Service(attrs.clone())])
    );
    let entry = convert::service_entry(&attrs).unwrap();
    assert_eq!(entry.key.to_string(), "udp/203.0.113.11:5060");
    assert!(entry.settings.one_packet);
    let persistence = entry.settings.persistence.clone().unwrap();
    assert_eq!(
        (persistence.timeout, persistence.engine.as_deref()),
        (120, Some("sip"))
    );
    assert_eq!(convert::service_attrs(&entry.key, &entry.settings), attrs);
}

#[test]
fn new_service_sctp_and_gre_destination() {
    let (_, message) = round_trip("new-service-sctp-sh");
    let Attr::Service(attrs) = &message.attrs[0] else {
        panic!()
    };
    let entry = convert::service_entry(attrs).unwrap();
    assert_eq!(entry.key.to_string(), "sctp/203.0.113.12:3868");
    assert_eq!(entry.settings.scheduler, Scheduler::Sh);
    assert_eq!(
        entry.settings.flags,
        BTreeSet::from([SchedulerFlag::Fallback])
    );
    assert_eq!(convert::service_attrs(&entry.key, &entry.settings), *attrs);

    let (_, message) = round_trip("new-dest-tun-gre");
    let Attr::Dest(attrs) = &message.attrs[1] else {
        panic!()
    };
    let (key, dest, _) = convert::dest_entry(Family::Ipv4, attrs).unwrap();
    assert_eq!(key.to_string(), "10.1.0.31:3868");
    let gre = Tunnel {
        kind: TunnelType::Gre,
        port: 0,
        checksum: TunnelChecksum::NoCsum,
    };
    assert_eq!(
        dest,
        Destination {
            forwarding: Forwarding::Tun(gre),
            weight: 4,
            upper_threshold: 0,
            lower_threshold: 0
        }
    );
}
