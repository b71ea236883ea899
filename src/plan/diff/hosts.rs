//! Real-server hosts: the settings each must hold for its services, the persistence files,
//! the TUN firewall and NAT route checks.

use super::*;

/// What a host lacks of the settings it must hold.
fn host_changes(want: &Host, have: &HostFacts) -> Vec<HostChange> {
    let mut changes = Vec::new();
    for module in want.modules.iter().filter(|m| !have.modules.contains(*m)) {
        changes.push(HostChange::LoadModule(module.clone()));
    }
    for link in want
        .links_up
        .iter()
        .filter(|l| have.links.get(*l) != Some(&true))
    {
        changes.push(HostChange::LinkUp(link.clone()));
    }
    for (name, value) in &want.sysctls {
        let old = have.sysctls.get(name);
        if old != Some(value) {
            changes.push(HostChange::SetSysctl {
                name: name.clone(),
                value: value.clone(),
                before: old.cloned(),
            });
        }
    }
    for address in want.addresses.difference(&have.addresses) {
        changes.push(HostChange::AddAddress(address.clone()));
    }
    changes
}

/// How a host change shows in the plan: an attribute of the `host` resource before and
/// after (files as their text, so that they render as diffs).
pub(super) fn show_host_change(
    change: &HostChange,
    before: &mut BTreeMap<String, Value>,
    after: &mut BTreeMap<String, Value>,
) {
    let address = |a: &InterfaceAddress| format!("address {} on {}", a.address, a.interface);
    let unit = || format!("unit {}", crate::host::UNIT);
    match change {
        HostChange::SetSysctl {
            name,
            value,
            before: old,
        } => {
            before.insert(name.clone(), json!(old));
            after.insert(name.clone(), json!(value));
        }
        HostChange::AddAddress(a) => {
            after.insert(address(a), json!("present"));
        }
        HostChange::DelAddress(a) => {
            before.insert(address(a), json!("present"));
        }
        HostChange::LoadModule(m) => {
            after.insert(format!("module {m}"), json!("loaded"));
        }
        HostChange::UnloadModule(m) => {
            before.insert(format!("module {m}"), json!("loaded"));
        }
        HostChange::LinkUp(l) => {
            after.insert(format!("link {l}"), json!("up"));
        }
        HostChange::LinkDown(l) => {
            before.insert(format!("link {l}"), json!("up"));
        }
        HostChange::WriteFile {
            path,
            content,
            before: old,
        } => {
            before.insert(path.clone(), json!(old.clone().unwrap_or_default()));
            after.insert(path.clone(), json!(content));
        }
        HostChange::RemoveFile { path, before: old } => {
            before.insert(path.clone(), json!(old));
            after.insert(path.clone(), json!(""));
        }
        HostChange::EnableUnit => {
            after.insert(unit(), json!("enabled"));
        }
        HostChange::DisableUnit => {
            before.insert(unit(), json!("enabled"));
        }
        HostChange::AddFirewallRule => {
            after.insert("firewall".into(), json!(firewall::RULE));
        }
        HostChange::DelFirewallRule => {
            before.insert("firewall".into(), json!(firewall::RULE));
        }
    }
}

impl Differ<'_> {
    pub(super) fn hosts(&mut self) {
        let dip = self.config.dip();
        let mut no_systemd = 0;
        for (name, want) in &self.config.desired.hosts {
            let Some(have) = self.observed.hosts.get(name) else {
                continue;
            };
            let mut changes = host_changes(want, have);
            let (files, unit_ok) = persist::changes(want, have);
            no_systemd += usize::from(!unit_ok);
            changes.extend(files);
            if want.route_via_director {
                self.check_route(name, have, dip);
            }
            let rules = have.iptables_input.as_deref();
            if want.accept_ipip && rules.is_some_and(firewall::drops_ipip) {
                if self
                    .config
                    .hosts
                    .get(name)
                    .is_some_and(|h| h.manage_firewall)
                {
                    changes.push(HostChange::AddFirewallRule);
                } else {
                    self.errors.push(
                        Diag::error(format!("{}: its firewall drops IP-in-IP (IP protocol 4), so no TUN packet would reach it", Address::host(name)))
                            .help(format!("on {name}: iptables -I INPUT -p 4 -j ACCEPT, or set manage_firewall = true on its real servers")),
                    );
                }
            }
            let mut steps: Vec<(Phase, HostChange)> = changes
                .into_iter()
                .map(|c| (Phase::HostPrepare, c))
                .collect();
            let cleanup: Vec<InterfaceAddress> = have
                .addresses
                .iter()
                .filter(|a| {
                    self.retired_vips.contains(&a.address.addr())
                        && a.address.prefix_len() == a.address.max_prefix_len()
                })
                .filter(|a| !want.addresses.contains(a))
                .cloned()
                .collect();
            steps.extend(
                cleanup
                    .into_iter()
                    .map(|a| (Phase::HostCleanup, HostChange::DelAddress(a))),
            );
            if !want.accept_ipip && firewall::has_rule(have) {
                steps.push((Phase::HostCleanup, HostChange::DelFirewallRule));
            }
            self.host_change(name, steps);
        }
        if no_systemd > 0 {
            self.plan.warnings.push(format!(
                "{no_systemd} real server(s) have no systemd: the unit that re-adds their VIPs at boot is skipped"
            ));
        }
    }

    pub(super) fn check_route(&mut self, host: &str, have: &HostFacts, dip: Option<IpAddr>) {
        let dip = dip.or_else(|| {
            let rip: IpAddr = host.parse().ok()?;
            self.observed
                .director
                .addresses
                .iter()
                .find(|a| a.address.contains(&rip))
                .map(|a| a.address.addr())
        });
        let Some(dip) = dip else {
            self.errors.push(
                Diag::error(format!("{}: NAT needs the director's address on the real servers' LAN, and none is known", Address::host(host)))
                    .help("set director.dip, or director.interface to the interface on that LAN"),
            );
            return;
        };
        if have.default_route != Some(dip) {
            let found = have
                .default_route
                .map_or("no default route".to_string(), |g| {
                    format!("a default route via {g}")
                });
            self.errors.push(
                Diag::error(format!(
                    "{} has {found}; NAT needs it via the director ({dip}), or replies bypass IPVS",
                    Address::host(host)
                ))
                .help(format!("on {host}: ip route replace default via {dip}")),
            );
        }
    }
}
