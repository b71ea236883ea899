//! `destroy`: the plan that removes what the configuration manages.

use super::*;

/// The removal of everything the configuration manages (`lvsform destroy`): its services
/// (drained first), the VIPs on its real servers and on the director. Live services it does
/// not declare are left alone; sysctls keep their values.
pub fn destroy(config: &Config, observed: &Observed) -> Result<Plan, Vec<Diag>> {
    let mut d = Differ::new(config, observed);
    for (key, meta) in &config.services {
        let Some(have) = observed.table.services.get(key) else {
            continue;
        };
        if meta.prevent_destroy {
            d.refuse_destroy(key, "destroys it");
            continue;
        }
        d.change(
            meta.address.clone(),
            Action::Delete,
            Some(service_json(key, have)),
            None,
            None,
        );
        for (dkey, old) in &have.destinations {
            let address = meta.destinations.get(dkey).map_or_else(
                || format!("{}.real_server[\"{dkey}\"]", meta.address),
                |m| m.address.clone(),
            );
            let impact = d.impact(key, dkey, Some(meta.drain).filter(|_| drains(key)));
            d.change(
                address,
                Action::Delete,
                Some(dest_json(dkey, old)),
                None,
                Some(impact),
            );
            if drains(key) && !meta.drain.is_zero() {
                d.drain(key, dkey, old, meta.drain);
            }
        }
        d.step(
            Phase::ServiceRemove,
            Step::Ipvs(Change::DelService { key: *key }),
        );
    }
    for (name, want) in &config.desired.hosts {
        let Some(have) = observed.hosts.get(name) else {
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
        if teardown.is_empty() {
            continue;
        }
        let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
        for change in teardown {
            show_host_change(&change, &mut before, &mut after);
            d.step(
                Phase::HostCleanup,
                Step::Host {
                    host: name.clone(),
                    change,
                },
            );
        }
        d.change(
            format!("host[\"{name}\"]"),
            Action::Update,
            Some(json!(before)),
            Some(json!(after)),
            None,
        );
    }
    for address in config
        .desired
        .director
        .addresses
        .intersection(&observed.director.addresses)
    {
        d.director_before.insert(
            format!("address {} on {}", address.address, address.interface),
            json!("present"),
        );
        d.step(
            Phase::DirectorCleanup,
            Step::Director(DirectorChange::DelAddress(address.clone())),
        );
    }
    if !d.director_before.is_empty() {
        let before = json!(std::mem::take(&mut d.director_before));
        d.change(
            "director".into(),
            Action::Update,
            Some(before),
            Some(json!({})),
            None,
        );
    }
    d.plan.steps.sort_by_key(|(phase, _)| *phase);
    if d.errors.is_empty() {
        Ok(d.plan)
    } else {
        Err(d.errors)
    }
}
