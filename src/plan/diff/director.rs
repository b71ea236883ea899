//! The director's own settings: sysctls, VIPs on its interface, timeouts, sync daemons.

use super::*;

impl Differ<'_> {
    pub(super) fn director(&mut self) {
        let (want, have) = (&self.director.settings, self.observed.director);
        for (name, value) in &want.sysctls {
            let old = have.sysctls.get(name);
            if old != Some(value) {
                self.director_before.insert(name.clone(), json!(old));
                self.director_after.insert(name.clone(), json!(value));
                self.director_step(
                    Phase::Director,
                    Step::Director(DirectorChange::SetSysctl {
                        name: name.clone(),
                        value: value.clone(),
                        before: old.cloned(),
                    }),
                );
            }
        }
        for address in want.addresses.difference(&have.addresses) {
            self.director_after.insert(
                format!("address {} on {}", address.address, address.interface),
                json!("present"),
            );
            self.director_step(
                Phase::Director,
                Step::Director(DirectorChange::AddAddress(address.clone())),
            );
        }
    }

    /// VIPs of deleted services leave the director's interface last; so do, on a director
    /// that joins VRRP as a backup, the VIPs lvsform held there: they are handed over
    /// (keepalived's backup removes them when its instance starts, and its master adopts
    /// its own), and the plan says so.
    pub(super) fn director_cleanup(&mut self) {
        let want = &self.director.settings.addresses;
        let handed_over = self.vrrp_handover();
        let stale: Vec<InterfaceAddress> = self
            .observed
            .director
            .addresses
            .iter()
            .filter(|a| self.retired_vips.contains(&a.address.addr()) && !want.contains(a))
            .chain(&handed_over)
            .cloned()
            .collect();
        for address in stale {
            let name = format!("address {} on {}", address.address, address.interface);
            if handed_over.contains(&address) {
                self.director_after.insert(
                    name.clone(),
                    json!("held by keepalived's VRRP on the director it elects"),
                );
            }
            self.director_before.insert(name, json!("present"));
            self.director_step(
                Phase::DirectorCleanup,
                Step::Director(DirectorChange::DelAddress(address)),
            );
        }
        self.director_change();
    }

    /// The VIPs lvsform held on this director's interface when it joins VRRP (its
    /// keepalived file has no VRRP instance yet) and is not the director VRRP elects.
    fn vrrp_handover(&self) -> Vec<InterfaceAddress> {
        let file = (self.observed.director.keepalived.as_ref()).and_then(|k| k.file.as_deref());
        let joining = file
            .and_then(crate::keepalived::conf::vrrp_priority)
            .is_none();
        let elected = crate::plan::vrrp::elected(self.config)
            .is_some_and(|i| std::ptr::eq(&self.config.directors[i], self.director));
        if !joining || elected {
            return vec![];
        }
        (self.director.vrrp_addresses.iter())
            .filter(|a| self.observed.director.addresses.contains(a))
            .cloned()
            .collect()
    }
}
