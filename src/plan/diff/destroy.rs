//! `destroy`: the plan that removes what the configuration manages: its services
//! (drained first), the VIPs on its real servers and on the directors. Live services it
//! does not declare are left alone; sysctls keep their values.

use super::*;

impl Differ<'_> {
    /// Every declared service that is live, drained (TCP, SCTP) and deleted, unless prevent_destroy.
    pub(super) fn destroy_services(&mut self) {
        for key in self.desired.keys() {
            let meta = &self.config.services[key];
            let Some(have) = self.observed.table.services.get(key) else {
                continue;
            };
            if meta.prevent_destroy {
                self.refuse_destroy(key, "destroys it");
                continue;
            }
            let at = self.change(
                meta.address.clone(),
                Action::Delete,
                Some(service_json(key, have)),
                None,
                None,
            );
            for (dkey, old) in &have.destinations {
                let address = meta.destinations.get(dkey).map_or_else(
                    || meta.address.undeclared_real_server(dkey),
                    |m| m.address.clone(),
                );
                self.depart(address, key, dkey, old, meta.drain);
            }
            self.ipvs(
                at,
                Phase::ServiceRemove,
                Change::DelService { key: *key },
                recreate(key, have),
            );
        }
    }

    /// What the managed hosts were given: VIPs, lvsform's firewall rule, the persistence files (sysctls get their recorded values back).
    pub(super) fn destroy_hosts(&mut self) {
        for (name, want) in &self.config.desired.hosts {
            let Some(have) = self.observed.hosts.get(name) else {
                continue;
            };
            let present: Vec<InterfaceAddress> = want
                .addresses
                .intersection(&have.addresses)
                .cloned()
                .collect();
            let mut teardown = persist::teardown(have);
            if firewall::has_rule(have) {
                teardown.push(HostChange::DelFirewallRule);
            }
            teardown.extend(present.into_iter().map(HostChange::DelAddress));
            let steps = teardown.into_iter().map(|c| (Phase::HostCleanup, c));
            self.host_change(name, steps.collect());
        }
    }

    /// The director's VIPs of the declared services.
    pub(super) fn destroy_director(&mut self) {
        for address in self
            .director
            .settings
            .addresses
            .intersection(&self.observed.director.addresses)
        {
            self.director_before.insert(
                format!("address {} on {}", address.address, address.interface),
                json!("present"),
            );
            self.director_step(
                Phase::DirectorCleanup,
                Step::Director(DirectorChange::DelAddress(address.clone())),
            );
        }
        self.director_change();
    }
}
