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

    /// VIPs of deleted services leave the director's interface last.
    pub(super) fn director_cleanup(&mut self) {
        let want = &self.director.settings.addresses;
        let stale: Vec<InterfaceAddress> = self
            .observed
            .director
            .addresses
            .iter()
            .filter(|a| self.retired_vips.contains(&a.address.addr()) && !want.contains(a))
            .cloned()
            .collect();
        for address in stale {
            self.director_before.insert(
                format!("address {} on {}", address.address, address.interface),
                json!("present"),
            );
            self.director_step(
                Phase::DirectorCleanup,
                Step::Director(DirectorChange::DelAddress(address)),
            );
        }
        self.director_change();
    }
}
