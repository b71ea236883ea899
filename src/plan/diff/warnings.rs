//! Plan-time warnings, one line per kind with a count.

use super::*;

impl Differ<'_> {
    /// Plan-time warnings, one line per kind with a count.
    pub(super) fn warnings(&mut self) {
        // LVS-DR is unstable when the VIP is in the DIP's subnet: the kernel may pick either
        // address as the source of outgoing packets.
        let same_subnet = self
            .desired
            .iter()
            .filter(|(_, s)| {
                s.destinations
                    .values()
                    .any(|d| d.forwarding == Forwarding::Dr)
            })
            .filter(|(key, _)| match key {
                ServiceKey::Address { vip, .. } => {
                    self.observed.director.addresses.iter().any(|a| {
                        a.address.prefix_len() < a.address.max_prefix_len()
                            && a.address.contains(vip)
                    })
                }
                ServiceKey::Fwmark { .. } => false,
            })
            .count();
        if same_subnet > 0 {
            self.plan.warnings.push(format!(
                "{same_subnet} DR service(s) have their VIP in the subnet of the director's own address: LVS-DR is known to be unstable there"
            ));
        }
        // lvsform keeps no state: a real server that leaves the configuration altogether
        // is not reached over SSH any more, so what it was given stays on its host.
        let declared: BTreeSet<IpAddr> = self
            .config
            .desired
            .services
            .values()
            .flat_map(|s| s.destinations.keys())
            .map(|d| d.address)
            .collect();
        let leaving: BTreeSet<IpAddr> = self
            .observed
            .table
            .services
            .iter()
            .filter(|(key, _)| !self.ignored(key))
            .flat_map(|(key, have)| {
                let want = self.desired.get(key);
                have.destinations
                    .iter()
                    .filter(move |(d, _)| want.is_none_or(|w| !w.destinations.contains_key(d)))
            })
            .filter(|(d, dest)| {
                dest.forwarding != Forwarding::Nat && !declared.contains(&d.address)
            })
            .map(|(d, _)| d.address)
            .collect();
        if let Some(first) = leaving.first() {
            self.plan.warnings.push(format!(
                "{} DR/TUN real server(s) leave the configuration ({first}{}): lvsform no longer reaches them, so the VIPs and sysctls it gave them stay until removed by hand",
                leaving.len(),
                if leaving.len() > 1 { ", …" } else { "" }
            ));
        }
        // Live services with a scheduler this lvsform does not know are never changed.
        let unknown: Vec<(&ServiceKey, &String)> = self
            .observed
            .table
            .unknown_schedulers
            .iter()
            .filter(|(key, _)| !self.ignored(key) && !self.desired.contains_key(*key))
            .collect();
        if let Some((key, scheduler)) = unknown.first() {
            self.plan.warnings.push(format!(
                "{} live service(s) use a scheduler lvsform does not know ({} uses `{scheduler}`{}): left alone; cover them with director.ignore to say so",
                unknown.len(),
                Address::undeclared_service(key),
                if unknown.len() > 1 { ", …" } else { "" }
            ));
        }
    }
}
