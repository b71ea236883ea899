//! IPVS services and their real servers: create, edit, drain and delete, with the blast
//! radius of every deletion and the max_depool guardrail.

use super::*;
use crate::model::ServiceSettings;

/// The real servers of a service that does not exist yet.
static NO_DESTINATIONS: BTreeMap<DestinationKey, Destination> = BTreeMap::new();

impl<'a> Differ<'a> {
    pub(super) fn services(&mut self) {
        self.refuse_unknown_schedulers();
        let desired = self.desired;
        let observed = &self.observed.table.services;
        let replaced = self.replacements();
        let successors: BTreeMap<ServiceKey, ServiceKey> =
            replaced.iter().map(|(new, old)| (*old, *new)).collect();
        // Declared services are planned independently of each other: a large
        // configuration is planned in chunks on all cores, joined in order.
        let declared: Vec<(&ServiceKey, &Service)> = desired.iter().collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = declared.len().div_ceil(cores).max(256);
        let mut chunks: Vec<&[(&ServiceKey, &Service)]> = declared.chunks(chunk).collect();
        let whole = &*self;
        let parts = for_each_parallel(&mut chunks, cores, |services| {
            let mut part = whole.fork();
            for (key, want) in services.iter() {
                part.declared_service(key, want, &replaced);
            }
            part
        });
        for part in parts {
            self.plan.changes.extend(part.plan.changes);
            self.plan.replaced.extend(part.plan.replaced);
            self.errors.extend(part.errors);
        }
        for (key, have) in observed {
            if desired.contains_key(key) || self.ignored(key) {
                continue;
            }
            if let ServiceKey::Address { vip, .. } = key {
                self.retired_vips.insert(*vip);
            }
            // A replaced service goes with its successor's change.
            if successors.contains_key(key) {
                continue;
            }
            let impact = self.service_impact(key, have, Duration::ZERO);
            let at = self.change(
                Address::undeclared_service(key),
                Action::Delete,
                Some(service_json(key, have)),
                None,
                Some(impact),
            );
            self.remove_service(at, key, have, crate::defaults::DRAIN);
        }
        let desired_timeouts = self.director.settings.timeouts;
        if let Some(t) = desired_timeouts
            && t != self.observed.table.timeouts
        {
            self.director_before
                .insert("timeouts".into(), json!(self.observed.table.timeouts));
            self.director_after.insert("timeouts".into(), json!(t));
            let undo = Change::SetTimeouts(self.observed.table.timeouts);
            self.director_ipvs(Change::SetTimeouts(t), undo);
        }
        // keepalived runs the sync daemons of a director in VRRP with `sync_connections`,
        // starting and stopping them as its state changes.
        let keepalived_syncs = self
            .config
            .vrrp
            .as_ref()
            .is_some_and(|v| v.sync_connections)
            && self.director.meta.vrrp_priority.is_some();
        if keepalived_syncs {
            return;
        }
        let want_daemons = &self.director.settings.sync_daemons;
        let have_daemons = &self.observed.table.sync_daemons;
        if want_daemons != have_daemons {
            self.director_before
                .insert("sync_daemons".into(), json!(have_daemons));
            self.director_after
                .insert("sync_daemons".into(), json!(want_daemons));
        }
        for daemon in have_daemons.difference(want_daemons) {
            let undo = Change::StartDaemon(daemon.clone());
            self.director_ipvs(Change::StopDaemon(daemon.clone()), undo);
        }
        for daemon in want_daemons.difference(have_daemons) {
            let undo = Change::StopDaemon(daemon.clone());
            self.director_ipvs(Change::StartDaemon(daemon.clone()), undo);
        }
    }

    fn director_ipvs(&mut self, change: Change, undo: Change) {
        let step = Step::Ipvs {
            change,
            undo: vec![undo],
        };
        self.director_step(Phase::Director, step);
    }

    /// A live service's removal: its real servers drained (TCP, SCTP; unless `drain` is
    /// zero), then the service deleted; steps of the change at index `at`.
    fn remove_service(&mut self, at: usize, key: &ServiceKey, have: &Service, drain: Duration) {
        if drains(key) && !drain.is_zero() {
            for (dkey, old) in &have.destinations {
                self.drain(at, key, dkey, old, drain);
            }
        }
        let undo = recreate(key, have);
        self.ipvs(
            at,
            Phase::ServiceRemove,
            Change::DelService { key: *key },
            undo,
        );
    }

    /// The changes of one declared service and its real servers.
    pub(super) fn declared_service(
        &mut self,
        key: &ServiceKey,
        want: &Service,
        replaced: &BTreeMap<ServiceKey, ServiceKey>,
    ) {
        let have = self.service_itself(key, want, replaced);
        self.service_destinations(key, want, have);
    }

    /// Creates, replaces or edits a declared service itself; returns its observed real
    /// servers (none when it is new).
    fn service_itself(
        &mut self,
        key: &ServiceKey,
        want: &Service,
        replaced: &BTreeMap<ServiceKey, ServiceKey>,
    ) -> &'a BTreeMap<DestinationKey, Destination> {
        let observed = &self.observed.table.services;
        let meta = &self.config.services[key];
        // A missing service is created, then filled like an existing one that is empty.
        match observed.get(key) {
            None => {
                // A replace creates the service and removes the one it replaces.
                let old = replaced
                    .get(key)
                    .map(|old_key| (old_key, &observed[old_key]));
                let (action, before, impact) = match old {
                    Some((old_key, old)) => {
                        self.plan
                            .replaced
                            .insert(Address::undeclared_service(old_key), meta.address.clone());
                        if meta.prevent_destroy {
                            self.refuse_destroy(key, "replaces it");
                        }
                        (
                            Action::Replace,
                            Some(service_json(old_key, old)),
                            Some(self.service_impact(old_key, old, meta.drain)),
                        )
                    }
                    None => (Action::Create, None, None),
                };
                let at = self.change(
                    meta.address.clone(),
                    action,
                    before,
                    Some(service_json(key, want)),
                    impact,
                );
                let settings = want.settings.clone();
                self.ipvs(
                    at,
                    Phase::ServiceUpsert,
                    Change::AddService {
                        key: *key,
                        settings,
                    },
                    vec![Change::DelService { key: *key }],
                );
                if let Some((old_key, old)) = old {
                    self.remove_service(at, old_key, old, meta.drain);
                }
                &NO_DESTINATIONS
            }
            Some(have) => {
                if have.settings != want.settings {
                    let (before, after) = (service_json(key, have), service_json(key, want));
                    let at = self.change(
                        meta.address.clone(),
                        Action::Update,
                        Some(before),
                        Some(after),
                        None,
                    );
                    let edit = |settings: &ServiceSettings| Change::EditService {
                        key: *key,
                        settings: settings.clone(),
                    };
                    match self.interim_settings(key, want, &have.destinations) {
                        None => {
                            let (new, old) = (edit(&want.settings), edit(&have.settings));
                            self.ipvs(at, Phase::ServiceUpsert, new, vec![old]);
                        }
                        Some(interim) => {
                            let (new, old) = (edit(&interim), edit(&have.settings));
                            self.ipvs(at, Phase::ServiceUpsert, new, vec![old]);
                            let (new, old) = (edit(&want.settings), edit(&interim));
                            self.ipvs(at, Phase::Restore, new, vec![old]);
                        }
                    }
                }
                &have.destinations
            }
        }
    }

    /// Creates and edits the declared real servers of a service; deletes the others.
    fn service_destinations(
        &mut self,
        key: &ServiceKey,
        want: &Service,
        have: &BTreeMap<DestinationKey, Destination>,
    ) {
        let meta = &self.config.services[key];
        let moved = self.out_of_order(key, want, have);
        let interim = self.interim_settings(key, want, have);
        // Without a change of its own, the service's interim settings come with each real
        // server that drains (so that `--target` keeps them; a second pair changes nothing).
        let unchanged = self
            .observed
            .table
            .services
            .get(key)
            .is_some_and(|h| h.settings == want.settings);
        let mut depooled = 0;
        for (dkey, dest) in &want.destinations {
            let address = meta.destinations[dkey].address.clone();
            let zeroed = have
                .get(dkey)
                .is_some_and(|old| dest.weight == 0 && old.weight > 0);
            depooled += usize::from(zeroed);
            if let Some(old) = have.get(dkey).filter(|_| moved.contains(dkey)) {
                self.move_dest(address, key, want, dkey, old, dest);
                continue;
            }
            let edit = |dest: &Destination| Change::EditDest {
                service: *key,
                key: *dkey,
                dest: dest.clone(),
            };
            let (at, change, undo) = match have.get(dkey) {
                None => {
                    let at = self.change(
                        address,
                        Action::Create,
                        None,
                        Some(dest_json(dkey, dest)),
                        None,
                    );
                    (at, add_dest(key, dkey, dest), del_dest(key, dkey))
                }
                Some(old) if old != dest => {
                    let impact = zeroed.then(|| self.impact(key, dkey, None));
                    let at = self.change(
                        address,
                        Action::Update,
                        Some(dest_json(dkey, old)),
                        Some(dest_json(dkey, dest)),
                        impact,
                    );
                    (at, edit(dest), edit(old))
                }
                Some(_) => continue,
            };
            self.ipvs(at, Phase::DestUpsert, change, vec![undo]);
        }
        for (dkey, old) in have {
            if !want.destinations.contains_key(dkey) {
                depooled += 1;
                let address = meta.address.undeclared_real_server(dkey);
                let at = self.remove_dest(address, key, dkey, old, meta.drain);
                if let Some(interim) = &interim {
                    self.hold_fallback(at, key, &want.settings, interim, unchanged);
                }
            }
        }
        self.check_depool(key, have.len(), depooled);
    }

    /// A real server that goes: shown with its live connections, and first drained (weight
    /// 0 and a wait) when its service's protocol drains and `drain` is not zero. Returns
    /// the index of its change.
    pub(super) fn depart(
        &mut self,
        address: Address,
        service: &ServiceKey,
        dkey: &DestinationKey,
        old: &Destination,
        drain: Duration,
    ) -> usize {
        let drain = if drains(service) {
            drain
        } else {
            Duration::ZERO
        };
        let impact = self.impact(service, dkey, Some(drain));
        let at = self.change(
            address,
            Action::Delete,
            Some(dest_json(dkey, old)),
            None,
            Some(impact),
        );
        if !drain.is_zero() {
            self.drain(at, service, dkey, old, drain);
        }
        at
    }

    /// The real servers of an sh/mh service to delete and add again so that the kernel's
    /// list is in lvsform's order (a new real server goes to the list's head): all but the
    /// longest tail of that order which the live list already holds in that order.
    /// Nothing for other schedulers, whose choices do not depend on the order.
    fn out_of_order(
        &self,
        key: &ServiceKey,
        want: &Service,
        have: &BTreeMap<DestinationKey, Destination>,
    ) -> BTreeSet<DestinationKey> {
        if !want.settings.scheduler.hashes() || have.is_empty() {
            return BTreeSet::new();
        }
        let live = self
            .observed
            .table
            .order
            .get(key)
            .map_or(&[][..], Vec::as_slice);
        let mut live = live
            .iter()
            .rev()
            .filter(|d| want.destinations.contains_key(d));
        let canonical: Vec<&DestinationKey> = want.canonical_order().collect();
        let kept = canonical
            .iter()
            .rev()
            .take_while(|d| live.any(|l| l == **d))
            .count();
        canonical[..canonical.len() - kept]
            .iter()
            .filter(|d| have.contains_key(d))
            .map(|d| **d)
            .collect()
    }

    /// A real server out of lvsform's order, deleted and added again (with its declared
    /// settings): shown as a replace, since the clients that hash to it may move.
    fn move_dest(
        &mut self,
        address: Address,
        key: &ServiceKey,
        want: &Service,
        dkey: &DestinationKey,
        old: &Destination,
        dest: &Destination,
    ) {
        let live = self.observed.table.order.get(key);
        let position = |order: Option<usize>| order.map_or(Value::Null, |p| json!(p + 1));
        let mut before = dest_json(dkey, old);
        before[POSITION] = position(live.and_then(|o| o.iter().position(|d| d == dkey)));
        let mut after = dest_json(dkey, dest);
        after[POSITION] = position(want.canonical_order().position(|d| d == dkey));
        let impact = format!(
            "{}; out of lvsform's order of real servers, by which {} maps clients: they may move",
            self.impact(key, dkey, None),
            want.settings.scheduler
        );
        let at = self.change(
            address,
            Action::Replace,
            Some(before),
            Some(after),
            Some(impact),
        );
        let (re_add, delete) = (add_dest(key, dkey, dest), del_dest(key, dkey));
        self.ipvs(
            at,
            Phase::DestUpsert,
            delete.clone(),
            vec![add_dest(key, dkey, old)],
        );
        self.ipvs(at, Phase::DestUpsert, re_add, vec![delete]);
    }

    /// sh and mh refuse a client that hashes to a real server at weight 0 unless the
    /// service has the fallback flag. While real servers of a service without it are at
    /// weight 0 during the apply (drains, or live weights of 0), the service holds these
    /// settings, with the flag: from before any weight goes to 0 until after the drained
    /// real servers are gone. None when the declared settings need no interim.
    fn interim_settings(
        &self,
        key: &ServiceKey,
        want: &Service,
        have: &BTreeMap<DestinationKey, Destination>,
    ) -> Option<ServiceSettings> {
        let drain = !self.config.services[key].drain.is_zero() && drains(key);
        let departing = have.keys().any(|d| !want.destinations.contains_key(d));
        let at_zero = (drain && departing) || have.values().any(|d| d.weight == 0);
        (at_zero && want.settings.refuses_at_weight_zero()).then(|| want.settings.with_fallback())
    }

    /// A drained real server's change says that no client is refused meanwhile, and,
    /// when its service has no change of its own, holds the interim settings.
    fn hold_fallback(
        &mut self,
        at: usize,
        key: &ServiceKey,
        settings: &ServiceSettings,
        interim: &ServiceSettings,
        unchanged: bool,
    ) {
        let change = &mut self.plan.changes[at];
        if !change
            .steps
            .iter()
            .any(|(_, s)| matches!(s, Step::Drain { .. }))
        {
            return;
        }
        if let Some(impact) = &mut change.impact {
            impact.push_str(&format!(
                ", with {}-fallback on meanwhile so that no client is refused",
                settings.scheduler
            ));
        }
        if unchanged {
            let edit = |settings: &ServiceSettings| Change::EditService {
                key: *key,
                settings: settings.clone(),
            };
            let (on, off) = (edit(interim), edit(settings));
            self.ipvs(at, Phase::ServiceUpsert, on.clone(), vec![off.clone()]);
            self.ipvs(at, Phase::Restore, off, vec![on]);
        }
    }

    /// Weight 0 and a wait (TCP/SCTP), then the deletion. Returns the index of its change.
    pub(super) fn remove_dest(
        &mut self,
        address: Address,
        service: &ServiceKey,
        dkey: &DestinationKey,
        old: &Destination,
        drain: Duration,
    ) -> usize {
        let at = self.depart(address, service, dkey, old, drain);
        let undo = add_dest(service, dkey, old);
        self.ipvs(at, Phase::DestRemove, del_dest(service, dkey), vec![undo]);
        at
    }

    /// Steps of the change at index `at`.
    pub(super) fn drain(
        &mut self,
        at: usize,
        service: &ServiceKey,
        dkey: &DestinationKey,
        old: &Destination,
        timeout: Duration,
    ) {
        if old.weight > 0 {
            let edit = |dest: Destination| Change::EditDest {
                service: *service,
                key: *dkey,
                dest,
            };
            let zero = Destination {
                weight: 0,
                ..old.clone()
            };
            self.ipvs(at, Phase::Depool, edit(zero), vec![edit(old.clone())]);
        }
        self.step(
            at,
            Phase::Drain,
            Step::Drain {
                service: *service,
                dest: *dkey,
                timeout,
            },
        );
    }

    pub(super) fn check_depool(&mut self, key: &ServiceKey, total: usize, depooled: usize) {
        let meta = &self.config.services[key];
        let allowed = match meta.max_depool {
            Depool::Percent(p) => total * usize::from(p) / 100,
            Depool::Count(n) => n as usize,
        };
        if depooled > allowed && depooled > 0 {
            let diag = Diag::error(format!(
                "{} would remove or zero {depooled} of its {total} real servers; max_depool allows {allowed}",
                meta.address
            ))
            .help("apply the change in smaller steps, or raise max_depool for this service");
            self.refuse(key, diag);
        }
    }

    /// "N real servers, M active connections", and the drain when there is one.
    pub(super) fn service_impact(
        &self,
        key: &ServiceKey,
        have: &Service,
        drain: Duration,
    ) -> String {
        let active: u32 = have
            .destinations
            .keys()
            .map(|d| {
                self.observed
                    .table
                    .counters
                    .get(&(*key, *d))
                    .map_or(0, |c| c.active)
            })
            .sum();
        let servers = have.destinations.len();
        let plural = if servers == 1 { "" } else { "s" };
        let mut text = format!("{servers} real server{plural}, {active} active connections");
        if drains(key) && !drain.is_zero() {
            text.push_str(&format!(", will drain up to {}s", drain.as_secs()));
        }
        text
    }

    pub(super) fn impact(
        &self,
        service: &ServiceKey,
        dest: &DestinationKey,
        drain: Option<Duration>,
    ) -> String {
        let c = self
            .observed
            .table
            .counters
            .get(&(*service, *dest))
            .copied()
            .unwrap_or_default();
        let mut text = format!("{} active, {} inactive connections", c.active, c.inactive);
        if let Some(drain) = drain.filter(|d| !d.is_zero()) {
            text.push_str(&format!(", will drain up to {}s", drain.as_secs()));
        }
        text
    }

    /// A located error for a declared service that this plan would delete or replace
    /// while it has `prevent_destroy = true`.
    /// A declared service that is live with a scheduler this lvsform does not know: it could
    /// neither be compared nor put back, so the plan stops there.
    pub(super) fn refuse_unknown_schedulers(&mut self) {
        for (key, scheduler) in &self.observed.table.unknown_schedulers {
            let Some(meta) = self.config.services.get(key) else {
                continue;
            };
            let diag = Diag::error(format!(
                "{} is live with scheduler `{scheduler}`, which this lvsform does not know",
                meta.address
            ))
            .help("upgrade lvsform, or delete the live service by hand (ipvsadm -D) so that lvsform creates it");
            self.refuse(key, diag);
        }
    }

    pub(super) fn refuse_destroy(&mut self, key: &ServiceKey, what: &str) {
        let meta = &self.config.services[key];
        let diag = Diag::error(format!(
            "{} has prevent_destroy = true, and this plan {what}",
            meta.address
        ))
        .help("remove prevent_destroy from the configuration first if it really must go");
        self.refuse(key, diag);
    }

    /// An error of a declared service's plan, placed at its declaration.
    fn refuse(&mut self, key: &ServiceKey, mut diag: Diag) {
        let address = &self.config.services[key].address;
        if let Some(location) = self.config.locations.get(address) {
            diag = diag.at(&location.file, location.span.clone());
        }
        self.errors.push(diag);
    }
}
