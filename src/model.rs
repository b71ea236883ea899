//! The state model: one type for both the desired state (from HCL) and the observed state
//! (from the kernel and the hosts), so that a plan is a pure function of two values.
//!
//! Everything here is plain data keyed by identity (what the kernel and the hosts key by),
//! never by configuration names: names and source spans live beside it (`config::Config`).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// What the configuration declares: every service, and what each managed host must hold
/// (each director's own settings are its `config::DirectorConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(with = "entries")]
    pub services: BTreeMap<ServiceKey, Service>,
    /// Real-server hosts by SSH address.
    pub hosts: BTreeMap<String, Host>,
}

/// The director's own settings besides the IPVS table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Director {
    pub sysctls: BTreeMap<String, String>,
    pub addresses: BTreeSet<InterfaceAddress>,
    pub timeouts: Option<Timeouts>,
    pub sync_daemons: BTreeSet<SyncDaemon>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SyncDaemon {
    pub state: SyncState,
    pub interface: String,
    pub syncid: u8,
}

/// An address held on an interface, e.g. a VIP as /32 on `lo`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InterfaceAddress {
    pub interface: String,
    pub address: IpNet,
}

impl InterfaceAddress {
    /// The address as a host route (/32 or /128), the way LVS holds a VIP.
    pub fn host(interface: &str, address: IpAddr) -> Self {
        InterfaceAddress {
            interface: interface.to_string(),
            address: IpNet::from(address),
        }
    }
}

/// The identity of a virtual service, as IPVS keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ServiceKey {
    Address {
        protocol: Protocol,
        vip: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        family: Family,
    },
}

impl ServiceKey {
    /// The attributes IPVS cannot change in place: they are the service's identity, so a
    /// change of any of them replaces the service.
    pub const IDENTITY: [&'static str; 5] = ["protocol", "vip", "port", "fwmark", "family"];

    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Address { vip, .. } => Family::of(vip),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

/// The form used in addresses of undeclared services: `tcp/10.0.0.200:80`, `fwmark/7`.
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Address {
                protocol,
                vip,
                port,
            } => write!(f, "{protocol}/{}", SocketText(*vip, *port)),
            ServiceKey::Fwmark {
                mark,
                family: Family::Ipv4,
            } => write!(f, "fwmark/{mark}"),
            ServiceKey::Fwmark {
                mark,
                family: Family::Ipv6,
            } => write!(f, "fwmark6/{mark}"),
        }
    }
}

/// `10.0.0.1:80` or `[2001:db8::1]:80`.
pub struct SocketText(pub IpAddr, pub u16);

impl fmt::Display for SocketText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [(&'static str, $name)] = &[$(($text, $name::$variant)),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().find(|(t, _)| *t == text).map(|(_, v)| *v)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum!(SyncState {
    Master = "master",
    Backup = "backup",
});

keyword_enum!(Protocol {
    Tcp = "tcp",
    Udp = "udp",
    Sctp = "sctp",
});

keyword_enum!(
    /// The IPVS schedulers shipped with Linux (`twos` since 6.2).
    Scheduler {
        Rr = "rr",
        Wrr = "wrr",
        Lc = "lc",
        Wlc = "wlc",
        Lblc = "lblc",
        Lblcr = "lblcr",
        Dh = "dh",
        Sh = "sh",
        Sed = "sed",
        Nq = "nq",
        Fo = "fo",
        Ovf = "ovf",
        Mh = "mh",
        Twos = "twos",
    }
);

keyword_enum!(
    /// How a destination receives packets: `-m`, `-g`, `-i`.
    Mode {
        Nat = "nat",
        Dr = "dr",
        Tun = "tun",
    }
);

keyword_enum!(TunnelType {
    Ipip = "ipip",
    Gue = "gue",
    Gre = "gre",
});

keyword_enum!(TunnelChecksum {
    NoCsum = "nocsum",
    Csum = "csum",
    RemCsum = "remcsum",
});

keyword_enum!(
    /// The scheduler flags of `sh` and `mh` (IP_VS_SVC_F_SCHED1 and SCHED2).
    SchedulerFlag {
        Fallback = "fallback",
        Port = "port",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    #[serde(flatten)]
    pub settings: ServiceSettings,
    #[serde(with = "entries")]
    pub destinations: BTreeMap<DestinationKey, Destination>,
}

/// What `ipvsadm -E` can change on a service in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSettings {
    pub scheduler: Scheduler,
    pub flags: BTreeSet<SchedulerFlag>,
    pub persistence: Option<Persistence>,
    pub one_packet: bool,
}

impl Scheduler {
    /// sh and mh: a client's real server is a hash of its address into a table filled
    /// from the service's list of real servers, in the list's order.
    pub fn hashes(self) -> bool {
        matches!(self, Scheduler::Sh | Scheduler::Mh)
    }
}

impl ServiceSettings {
    /// These settings with the fallback flag of sh/mh: a client that hashes to a real
    /// server of weight 0 goes to another one instead of being refused.
    pub fn with_fallback(&self) -> ServiceSettings {
        let mut settings = self.clone();
        settings.flags.insert(SchedulerFlag::Fallback);
        settings
    }

    /// Whether sh/mh would refuse the clients of a real server at weight 0.
    pub fn refuses_at_weight_zero(&self) -> bool {
        self.scheduler.hashes() && !self.flags.contains(&SchedulerFlag::Fallback)
    }
}

impl Service {
    /// The service as lvsform keeps it: sh and mh with a real server at weight 0 get the
    /// fallback flag, so that no client that hashes to that server is refused.
    pub fn answering_every_client(mut self) -> Service {
        if self.settings.refuses_at_weight_zero()
            && self.destinations.values().any(|d| d.weight == 0)
        {
            self.settings.flags.insert(SchedulerFlag::Fallback);
        }
        self
    }

    /// The order in which lvsform's creates leave the kernel's list of real servers (each
    /// new one goes to its head): descending, so that a real server whose address sorts
    /// after all others is added without moving any (fleets usually grow that way).
    pub fn canonical_order(&self) -> impl Iterator<Item = &DestinationKey> {
        self.destinations.keys().rev()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persistence {
    /// Seconds.
    pub timeout: u32,
    /// IPv4: the netmask; IPv6: a prefix length, as IPVS keeps it.
    pub netmask: IpNetmask,
    pub engine: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpNetmask {
    V4(std::net::Ipv4Addr),
    V6(u8),
}

impl IpNetmask {
    /// The whole address (/32, /128): each client apart, IPVS's default.
    pub fn whole(family: Family) -> IpNetmask {
        match family {
            Family::Ipv4 => IpNetmask::V4(std::net::Ipv4Addr::BROADCAST),
            Family::Ipv6 => IpNetmask::V6(128),
        }
    }

    /// A netmask of `family` as ipvsadm and keepalived write it: `255.255.255.0`, `64`.
    pub fn parse(family: Family, text: &str) -> Option<IpNetmask> {
        match family {
            Family::Ipv4 => text.parse().ok().map(IpNetmask::V4),
            Family::Ipv6 => text
                .parse()
                .ok()
                .filter(|bits| *bits <= 128)
                .map(IpNetmask::V6),
        }
    }

    /// The netmask as written, unless it is the whole address (which goes unsaid).
    pub fn written(self) -> Option<String> {
        match self {
            IpNetmask::V4(mask) if mask != std::net::Ipv4Addr::BROADCAST => Some(mask.to_string()),
            IpNetmask::V6(bits) if bits != 128 => Some(bits.to_string()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DestinationKey {
    pub address: IpAddr,
    pub port: u16,
}

impl fmt::Display for DestinationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketText(self.address, self.port).fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub forwarding: Forwarding,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Forwarding {
    Nat,
    Dr,
    Tun(Tunnel),
}

impl Forwarding {
    pub fn mode(&self) -> Mode {
        match self {
            Forwarding::Nat => Mode::Nat,
            Forwarding::Dr => Mode::Dr,
            Forwarding::Tun(_) => Mode::Tun,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tunnel {
    #[serde(rename = "type")]
    pub kind: TunnelType,
    /// The UDP port of a GUE tunnel; 0 otherwise.
    pub port: u16,
    pub checksum: TunnelChecksum,
}

impl Default for Tunnel {
    fn default() -> Self {
        Tunnel {
            kind: TunnelType::Ipip,
            port: 0,
            checksum: TunnelChecksum::NoCsum,
        }
    }
}

/// What one real-server host must hold for the services it serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub sysctls: BTreeMap<String, String>,
    pub addresses: BTreeSet<InterfaceAddress>,
    /// Kernel modules that must be loaded.
    pub modules: BTreeSet<String>,
    /// Links that must be up.
    pub links_up: BTreeSet<String>,
    /// NAT: the host's default route must go via the director.
    pub route_via_director: bool,
    /// TUN over IPv4 IP-in-IP: the host's firewall must let IP protocol 4 in.
    #[serde(default)]
    pub accept_ipip: bool,
}

/// Maps keyed by structured values, written as lists of `[key, value]` pairs (JSON object
/// keys can only be strings).
pub mod entries {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}
