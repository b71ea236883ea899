//! Who holds the VIPs of the directors in VRRP (SPEC §10): read from their interfaces (the
//! effect of keepalived's VRRP state, whatever its dump says), and who will after an
//! apply: the director with the highest priority (keepalived preempts by default).

use super::Observed;
use crate::config::Config;
use crate::director::DirectorFacts;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The VIPs VRRP moves: those of the directors with a priority.
fn vips(config: &Config) -> BTreeSet<IpAddr> {
    (config.directors.iter())
        .flat_map(|d| d.vrrp_addresses.iter().map(|a| a.address.addr()))
        .collect()
}

/// The directors (by index) that hold any VIP of VRRP's on their interface now.
pub fn holders(config: &Config, observed: &Observed) -> Vec<usize> {
    holding(config, |index| {
        let director = observed.directors.get(index)?.as_ref()?;
        Some(&director.settings)
    })
}

/// The directors (by index) whose `settings` (none: not read) hold any VIP of VRRP's.
pub fn holding<'a>(
    config: &Config,
    settings: impl Fn(usize) -> Option<&'a DirectorFacts>,
) -> Vec<usize> {
    let vips = vips(config);
    (config.directors.iter().enumerate())
        .filter(|(_, d)| d.meta.vrrp_priority.is_some())
        .filter(|(index, _)| {
            settings(*index).is_some_and(|facts| {
                (facts.addresses.iter()).any(|a| vips.contains(&a.address.addr()))
            })
        })
        .map(|(index, _)| index)
        .collect()
}

/// The director that holds the VIPs once every director runs the configuration: the
/// highest priority.
pub fn elected(config: &Config) -> Option<usize> {
    (config.directors.iter().enumerate())
        .filter_map(|(index, d)| Some((d.meta.vrrp_priority?, index)))
        .max()
        .map(|(_, index)| index)
}

/// Whether director `index`'s keepalived file, as `observed`, has lvsform's VRRP instance.
pub fn in_vrrp(observed: &Observed, index: usize) -> bool {
    let facts = observed.directors.get(index).and_then(Option::as_ref);
    let file = facts.and_then(|f| f.settings.keepalived.as_ref()?.file.as_deref());
    file.and_then(crate::keepalived::conf::vrrp_priority)
        .is_some()
}

/// The director that should hold the VIPs with the keepalived files as `observed` read
/// them (during an apply, some new and some old): the highest priority among them.
pub fn expected(config: &Config, observed: &Observed) -> Option<usize> {
    (config.directors.iter().enumerate())
        .filter(|(_, d)| d.meta.vrrp_priority.is_some())
        .filter_map(|(index, _)| {
            let facts = observed.directors.get(index)?.as_ref()?;
            let file = facts.settings.keepalived.as_ref()?.file.as_deref()?;
            Some((crate::keepalived::conf::vrrp_priority(file)?, index))
        })
        .max()
        .map(|(_, index)| index)
}

/// The plan's lines on VRRP: who holds the VIPs, and whether this apply moves them.
pub fn lines(config: &Config, observed: &Observed) -> Vec<String> {
    let vips = vips(config);
    let (Some(_), Some(elected)) = (&config.vrrp, elected(config)) else {
        return vec![];
    };
    if vips.is_empty() {
        return vec![];
    }
    let name = |index: usize| {
        let d = &config.directors[index];
        let priority = d.meta.vrrp_priority.unwrap_or_default();
        match d.name() {
            Some(name) => format!("{name} (priority {priority})"),
            None => format!("the director (priority {priority})"),
        }
    };
    let vips: Vec<String> = vips.iter().map(ToString::to_string).collect();
    let vips = vips.join(", ");
    let holders = holders(config, observed);
    if !holders.is_empty() && !holders.iter().any(|&i| in_vrrp(observed, i)) {
        let names: Vec<String> = holders.iter().map(|&i| name(i)).collect();
        return vec![format!(
            "{vips}: held by lvsform on {}; handed over to keepalived's VRRP, {} will hold it",
            names.join(" and "),
            name(elected)
        )];
    }
    vec![match holders[..] {
        [only] if only == elected => format!("{vips}: held by {}, and stays there", name(only)),
        [only] => format!("moves {vips} from {} to {}", name(only), name(elected)),
        [] => format!(
            "{vips}: held by no director now; {} will hold it",
            name(elected)
        ),
        _ => format!(
            "{vips}: held by {} at once (split brain: do the directors hear each other's adverts?); {} will hold it",
            holders
                .iter()
                .map(|&i| name(i))
                .collect::<Vec<_>>()
                .join(" and "),
            name(elected)
        ),
    }]
}
