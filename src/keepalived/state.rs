//! keepalived's view of its real servers, from the dump it writes on SIGUSR1
//! (`/tmp/keepalived_check.data`): which servers its checks hold down, and why.
//!
//! Why the dump: it is keepalived's own state (`alive` per real server, `Up` per check),
//! read without changing anything. The table alone cannot tell a server held down from
//! one deleted or zeroed by hand, and the notify FIFO only says transitions as they
//! happen, to a reader that was there.

use crate::model::{DestinationKey, Family, Protocol, ServiceKey};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The servers keepalived holds down, each with what keepalived reports.
pub type Down = BTreeMap<(ServiceKey, DestinationKey), String>;

/// Reads the dump's `LVS Topology` (services, their real servers and `alive`) and its
/// `Health checkers` (each check's kind and `Up`).
pub fn parse(text: &str) -> Down {
    let mut down = Down::new();
    // Each check by its line's service and real server: `[VIP]:tcp:80 -> [RIP]:tcp:80`.
    let mut methods: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut service = PendingService::default();
    let mut server: Option<DestinationKey> = None;
    let mut checker: Option<String> = None;
    let mut dead: Vec<(PendingService, DestinationKey)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("------< Health checkers") {
            server = None;
        } else if let Some(rest) = line.strip_prefix("VS VIP = ") {
            service = PendingService::default();
            server = None;
            let (vip, port) = rest.split_once(", VPORT = ").unwrap_or((rest, "0"));
            service.vip = vip.parse().ok();
            service.port = port.trim().parse().ok();
        } else if let Some(mark) = line.strip_prefix("VS FWMARK = ") {
            service = PendingService::default();
            server = None;
            service.fwmark = mark.trim().parse().ok();
        } else if let Some(family) = line.strip_prefix("Address family = ") {
            service.inet6 = family.trim() == "inet6";
        } else if let Some(protocol) = line.strip_prefix("protocol = ") {
            service.protocol = Protocol::parse(&protocol.trim().to_lowercase());
        } else if let Some(rest) = line.strip_prefix("RIP = ") {
            let mut fields = rest.split(", ");
            let address = fields.next().and_then(|a| a.parse().ok());
            let port = fields
                .next()
                .and_then(|p| p.strip_prefix("RPORT = "))
                .and_then(|p| p.parse().ok());
            server = address
                .zip(port)
                .map(|(address, port)| DestinationKey { address, port });
        } else if line == "alive = 0"
            && let Some(dest) = server.take()
        {
            dead.push((service.clone(), dest));
        } else if line == "alive = 1" {
            server = None;
        } else if line.contains(" -> [") {
            checker = Some(line.to_string());
        } else if let Some(up) = line.strip_prefix("Up = ")
            && let Some(at) = checker.clone()
        {
            methods.entry(at).or_default().1 = up == "no";
        } else if let Some(method) = line.strip_prefix("Keepalive method = ")
            && let Some(at) = checker.clone()
        {
            let name = method.split(',').next().unwrap_or(method).to_string();
            methods.entry(at).or_default().0 = name;
        }
    }
    for (service, dest) in dead {
        let Some(key) = service.key() else { continue };
        let reason = match methods.get(&checker_line(&key, &dest)) {
            Some((method, true)) if !method.is_empty() => {
                format!("keepalived's {method} check fails")
            }
            _ => "keepalived holds it down".to_string(),
        };
        down.insert((key, dest), reason);
    }
    down
}

/// How the dump heads the check of `dest` in `service`: `[VIP]:tcp:80 -> [RIP]:tcp:80`
/// (for a fwmark service, `FWM 7 -> [RIP]:…` is matched by its real server alone).
fn checker_line(service: &ServiceKey, dest: &DestinationKey) -> String {
    match service {
        ServiceKey::Address {
            protocol,
            vip,
            port,
        } => format!(
            "[{vip}]:{protocol}:{port} -> [{}]:{protocol}:{}",
            dest.address, dest.port
        ),
        ServiceKey::Fwmark { mark, .. } => {
            format!("FWM {mark} -> [{}]:{}", dest.address, dest.port)
        }
    }
}

/// A service as the dump describes it, line by line.
#[derive(Debug, Clone, Default)]
struct PendingService {
    vip: Option<IpAddr>,
    port: Option<u16>,
    fwmark: Option<u32>,
    protocol: Option<Protocol>,
    inet6: bool,
}

impl PendingService {
    fn key(&self) -> Option<ServiceKey> {
        if let Some(mark) = self.fwmark {
            let family = if self.inet6 {
                Family::Ipv6
            } else {
                Family::Ipv4
            };
            return Some(ServiceKey::Fwmark { mark, family });
        }
        Some(ServiceKey::Address {
            protocol: self.protocol?,
            vip: self.vip?,
            port: self.port?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Abridged from keepalived 2.2.7's dump in the lab VM, rs2 failing its HTTP check.
    const DUMP: &str = "------< LVS Topology >------
 System is compiled with LVS v1.2.1
 ------< Virtual server >------
 VS VIP = 203.0.113.10, VPORT = 80
   Address family = inet
   lvs_sched = sh
   protocol = TCP
   alive = 1
   ------< Real server >------
   RIP = 10.1.0.11, RPORT = 80, WEIGHT = 1 EFF WEIGHT = 1
   forwarding method = DR
   alive = 1
   ------< Real server >------
   RIP = 10.1.0.12, RPORT = 80, WEIGHT = 2 EFF WEIGHT = 2
   forwarding method = DR
   alive = 0
   num failed checkers = 1
------< Health checkers >------
 [203.0.113.10]:tcp:80 -> [10.1.0.11]:tcp:80
   Up = yes
   Keepalive method = HTTP_GET, http protocol 1.0
 [203.0.113.10]:tcp:80 -> [10.1.0.12]:tcp:80
   Up = no
   Keepalive method = HTTP_GET, http protocol 1.0
 [203.0.113.11]:tcp:80 -> [10.1.0.12]:tcp:80
   Up = no
   Keepalive method = TCP_CHECK
";

    #[test]
    fn the_servers_held_down_are_read_with_their_failing_check() {
        let down = parse(DUMP);
        let service = ServiceKey::Address {
            protocol: Protocol::Tcp,
            vip: "203.0.113.10".parse().unwrap(),
            port: 80,
        };
        let rs2 = DestinationKey {
            address: "10.1.0.12".parse().unwrap(),
            port: 80,
        };
        assert_eq!(
            down.into_iter().collect::<Vec<_>>(),
            vec![(
                (service, rs2),
                "keepalived's HTTP_GET check fails".to_string()
            )]
        );
    }

    #[test]
    fn a_dump_with_every_server_alive_holds_none_down() {
        assert!(parse(&DUMP.replace("alive = 0", "alive = 1")).is_empty());
        assert!(parse("").is_empty());
    }
}
