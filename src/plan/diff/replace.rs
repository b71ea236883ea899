//! Replace detection: lvsform keeps no state, so a declared service missing from the live
//! table replaces the undeclared live service with the same real servers.

use super::*;

impl Differ<'_> {
    /// Declared services missing from the live table, each with the undeclared live service
    /// it replaces. lvsform keeps no state, so a replace (IPVS cannot change a service's
    /// protocol, VIP, port, fwmark or family in place) is recognised by the real servers:
    /// the two sides must have the same real-server addresses, and no other service on
    /// either side may have them too.
    pub(super) fn replacements(&self) -> BTreeMap<ServiceKey, ServiceKey> {
        let desired = self.desired;
        let observed = &self.observed.table.services;
        let servers = |s: &Service| -> BTreeSet<IpAddr> {
            s.destinations.keys().map(|d| d.address).collect()
        };
        // Services of one side by their real-server addresses: a set held by exactly one
        // service on each side pairs them. (An index, not a search per service: a plan
        // that moves every VIP must not cost services².)
        let by_servers = |side: &mut dyn Iterator<Item = (&ServiceKey, &Service)>| {
            let mut index: BTreeMap<BTreeSet<IpAddr>, Vec<ServiceKey>> = BTreeMap::new();
            for (key, service) in side.filter(|(_, s)| !s.destinations.is_empty()) {
                index.entry(servers(service)).or_default().push(*key);
            }
            index
        };
        let missing = by_servers(&mut desired.iter().filter(|(k, _)| !observed.contains_key(k)));
        let orphans = by_servers(
            &mut observed
                .iter()
                .filter(|(k, _)| !desired.contains_key(k) && !self.ignored(k)),
        );
        missing
            .iter()
            .filter_map(
                |(set, new)| match (new.as_slice(), orphans.get(set)?.as_slice()) {
                    ([new], [old]) => Some((*new, *old)),
                    _ => None,
                },
            )
            .collect()
    }
}
