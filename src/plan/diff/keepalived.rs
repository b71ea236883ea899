//! Services with a `health_check`: keepalived's (SPEC §8). They are never written over
//! netlink: their part of the plan is lvsform's keepalived file (shown as a text diff),
//! each service's change to the table as keepalived will make it, and the real servers
//! keepalived's checks hold down, which are not drift.

use super::*;
use crate::director::KeepalivedWrite;
use crate::keepalived::{self, Daemon, HealthCheck, conf, render};

/// The services keepalived holds on director `index`, as lvsform sees them: those
/// declared with a check, and those in lvsform's file now (`settings`, as read).
pub fn keepalived_services(
    config: &Config,
    index: usize,
    settings: &DirectorFacts,
) -> BTreeSet<ServiceKey> {
    let director = &config.directors[index];
    let mut owned: BTreeSet<ServiceKey> = director
        .services
        .iter()
        .filter(|key| config.services[*key].health_check.is_some())
        .copied()
        .collect();
    if let Some(file) = settings.keepalived.as_ref().and_then(|k| k.file.as_deref()) {
        owned.extend(conf::services(file).into_keys());
    }
    owned
}

/// What `director` renders of the configuration's `vrrp` block: none when it has no
/// priority, or no VIP to hold.
pub fn vrrp_instance(config: &Config, director: &DirectorConfig) -> Option<render::VrrpInstance> {
    let vrrp = config.vrrp.as_ref()?;
    let priority = director.meta.vrrp_priority?;
    let interface = director.meta.interface.clone()?;
    if director.vrrp_addresses.is_empty() {
        return None;
    }
    let unicast = match (vrrp.unicast, director.meta.dip) {
        (true, Some(source)) => {
            let peers = (config.directors.iter())
                .filter(|d| d.meta.vrrp_priority.is_some() && d.meta.dip != Some(source))
                .filter_map(|d| d.meta.dip)
                .collect();
            Some((source, peers))
        }
        _ => None,
    };
    Some(render::VrrpInstance {
        vrrp: vrrp.clone(),
        interface,
        priority,
        addresses: director
            .vrrp_addresses
            .iter()
            .map(|a| a.address.addr())
            .collect(),
        unicast,
    })
}

impl Differ<'_> {
    /// keepalived's part: `checked` are the declared services with a check this director
    /// serves and `vrrp` its VRRP instance (none of either for a destroy), `live` the
    /// table's services keepalived holds.
    pub(super) fn keepalived(
        &mut self,
        checked: &BTreeMap<ServiceKey, Service>,
        vrrp: Option<render::VrrpInstance>,
        live: &BTreeMap<ServiceKey, Service>,
    ) {
        let facts = self
            .observed
            .director
            .keepalived
            .clone()
            .unwrap_or_default();
        let now = facts.file.as_deref();
        if checked.is_empty() && vrrp.is_none() && now.is_none() {
            return;
        }
        let Some(daemon) = self.usable_keepalived(facts.daemon.as_ref()) else {
            return;
        };
        let want: BTreeMap<ServiceKey, (Service, HealthCheck)> = checked
            .iter()
            .filter_map(|(key, service)| {
                let check = self.config.services[key].health_check.clone()?;
                Some((*key, (service.clone(), check)))
            })
            .collect();
        let file = render::render(&want, vrrp.as_ref());
        let services: BTreeMap<ServiceKey, Service> =
            want.iter().map(|(k, (s, _))| (*k, s.clone())).collect();
        let mut expected = keepalived::held(&services, &daemon.down);
        self.guardrails(&services, live);
        let in_file = now.map(conf::services).unwrap_or_default();
        // A live service made over netlink that gains a check is deleted first, and made
        // by keepalived (which would keep a service it finds as it is).
        let (adopted, live): (BTreeMap<ServiceKey, Service>, BTreeMap<ServiceKey, Service>) = live
            .iter()
            .map(|(key, service)| (*key, service.clone()))
            .partition(|(key, _)| want.contains_key(key) && !in_file.contains_key(key));
        let adopted: Vec<(ServiceKey, Service, Service)> = adopted
            .into_iter()
            .filter_map(|(key, have)| Some((key, have, expected.remove(&key)?)))
            .collect();
        let table_changes = self.table_changes(&expected, &live);
        for ((service, dest), why) in &daemon.down {
            if let Some(meta) = self.config.services.get(service)
                && want.contains_key(service)
                && let Some(server) = meta.destinations.get(dest)
            {
                self.plan
                    .held_down
                    .push(format!("{} ({dest}): down, {why}", server.address));
            }
        }
        if file.as_deref() == now {
            self.unrepaired(table_changes, daemon);
            return;
        }
        for (key, have, want) in adopted {
            let address = self.config.services[&key].address.clone();
            let impact =
                self.service_impact(&key, &have, Duration::ZERO) + ", re-created by keepalived";
            let show = |s: &Service| Some(table_json(&key, s));
            let at = self.change(
                address,
                Action::Replace,
                show(&have),
                show(&want),
                Some(impact),
            );
            self.ipvs(
                at,
                Phase::ServiceUpsert,
                Change::DelService { key },
                recreate(&key, &have),
            );
        }
        let before: BTreeMap<ServiceKey, Service> =
            in_file.iter().map(|(k, (s, _))| (*k, s.clone())).collect();
        let path = &self.director.meta.keepalived.file;
        let action = match (now, &file) {
            (None, _) => Action::Create,
            (_, None) => Action::Delete,
            _ => Action::Update,
        };
        let at = self.change(
            Address::keepalived(),
            action,
            now.map(|text| json!({ path.as_str(): text })),
            file.as_ref().map(|text| json!({ path.as_str(): text })),
            None,
        );
        let write = |content: &Option<String>, before: Option<&str>, services, services_before| {
            Step::Director(DirectorChange::Keepalived(Box::new(KeepalivedWrite {
                files: self.director.meta.keepalived.clone(),
                content: content.clone(),
                before: before.map(str::to_string),
                services,
                services_before,
            })))
        };
        let (interim, leaving) = self.draining(&want, &in_file, &live);
        if leaving.is_empty() {
            let step = write(&file, now, services, before);
            self.step(at, Phase::ServiceUpsert, step);
            return;
        }
        // Those that leave first stay at weight 0 while their connections end.
        let interim_file = render::render(&interim, vrrp.as_ref());
        let interim_services: BTreeMap<ServiceKey, Service> =
            interim.iter().map(|(k, (s, _))| (*k, s.clone())).collect();
        let first = write(&interim_file, now, interim_services.clone(), before);
        let last = write(&file, interim_file.as_deref(), services, interim_services);
        self.step(at, Phase::ServiceUpsert, first);
        for (service, dest, timeout) in leaving {
            let drain = Step::Drain {
                service,
                dest,
                timeout,
            };
            self.step(at, Phase::Drain, drain);
        }
        self.step(at, Phase::DestRemove, last);
    }

    /// The running keepalived, when lvsform can work with it; otherwise the error that
    /// says why and what to do.
    fn usable_keepalived<'d>(
        &mut self,
        daemon: Option<&'d Result<Daemon, String>>,
    ) -> Option<&'d Daemon> {
        let who = self.who();
        let file = &self.director.meta.keepalived.file;
        let error = match daemon {
            None => Diag::error(format!("{who}: keepalived was not read (a bug in lvsform)"))
                .help("report this"),
            Some(Err(why)) => Diag::error(format!("{who}: keepalived {why}")).help(
                "start keepalived there (its pid file is set by `director { keepalived { pid_file } }`): lvsform reloads keepalived and never starts it",
            ),
            Some(Ok(daemon)) if daemon.too_old() => Diag::error(format!(
                "{who}: keepalived {} is older than {}.{}",
                daemon.version,
                keepalived::MIN_VERSION.0,
                keepalived::MIN_VERSION.1
            ))
            .help("upgrade keepalived there: lvsform renders and reads what 2.2 and later write"),
            Some(Ok(daemon)) if !daemon.includes_file => Diag::error(format!(
                "{who}: keepalived's configuration {} does not include {file}",
                daemon.config
            ))
            .help(format!(
                "add the line `include {file}` to {} on the director: lvsform writes its services with health checks there",
                daemon.config
            )),
            Some(Ok(daemon)) => return Some(daemon),
        };
        self.errors.push(error);
        None
    }

    /// `max_depool` and `prevent_destroy`, as for every service: real servers removed or
    /// zeroed against the live ones, declared services this plan deletes.
    fn guardrails(
        &mut self,
        want: &BTreeMap<ServiceKey, Service>,
        live: &BTreeMap<ServiceKey, Service>,
    ) {
        for (key, have) in live {
            let Some(meta) = self.config.services.get(key) else {
                continue;
            };
            match want.get(key) {
                Some(wanted) => {
                    let depooled = have
                        .destinations
                        .iter()
                        .filter(|(dest, old)| {
                            old.weight > 0
                                && wanted.destinations.get(dest).is_none_or(|d| d.weight == 0)
                        })
                        .count();
                    self.check_depool(key, have.destinations.len(), depooled);
                }
                None if meta.prevent_destroy => self.refuse_destroy(key, "deletes it"),
                None => {}
            }
        }
    }

    /// How messages name this director.
    fn who(&self) -> String {
        match (self.director.name(), &self.director.meta.remote) {
            (Some(name), _) => format!("director \"{name}\""),
            (None, Some(remote)) => format!("director {}", remote.ssh.host),
            (None, None) => "this director".into(),
        }
    }

    /// Each service whose table differs from what keepalived makes of the file, as
    /// reviewed; the indexes of their changes.
    fn table_changes(
        &mut self,
        expected: &BTreeMap<ServiceKey, Service>,
        live: &BTreeMap<ServiceKey, Service>,
    ) -> Vec<usize> {
        let keys: BTreeSet<&ServiceKey> = expected.keys().chain(live.keys()).collect();
        let mut changes = Vec::new();
        for key in keys {
            let address = self
                .config
                .services
                .get(key)
                .map_or_else(|| Address::undeclared_service(key), |m| m.address.clone());
            let (have, want) = (live.get(key), expected.get(key));
            let action = match (have, want) {
                (None, Some(_)) => Action::Create,
                (Some(_), None) => Action::Delete,
                (Some(have), Some(want)) if have != want => Action::Update,
                _ => continue,
            };
            let impact = match (action, have) {
                (Action::Delete, Some(have)) => {
                    Some(self.service_impact(key, have, Duration::ZERO))
                }
                _ => None,
            };
            let show = |s: Option<&Service>| s.map(|s| table_json(key, s));
            changes.push(self.change(address, action, show(have), show(want), impact));
        }
        changes
    }

    /// The file is as declared, yet the table is not what keepalived makes of it (a
    /// service or server changed by hand): keepalived repairs that only when it starts.
    fn unrepaired(&mut self, changes: Vec<usize>, daemon: &Daemon) {
        let who = self.who();
        for at in changes.into_iter().rev() {
            let change = self.plan.changes.remove(at);
            self.errors.push(
                Diag::error(format!(
                    "{}: the table differs from what keepalived makes of {} (changed by hand?), and keepalived does not repair it",
                    change.address, self.director.meta.keepalived.file
                ))
                .help(format!(
                    "restart keepalived on {who} (pid {}: `systemctl restart keepalived`), which puts back every service it holds; then plan again",
                    daemon.pid
                )),
            );
        }
    }

    /// What the file holds while real servers that leave drain (those at a weight, of a
    /// service whose protocol drains, with a drain time): each at weight 0, its service
    /// kept (with the check it had) when the service leaves too. Also those servers.
    ///
    /// keepalived rejects a service whose weights sum to 0 (its quorum warning), so a
    /// service left with no weight at all — one that leaves, or whose every server goes —
    /// cannot be held through a drain: it changes in one reload, undrained.
    #[allow(clippy::type_complexity)]
    fn draining(
        &self,
        want: &BTreeMap<ServiceKey, (Service, HealthCheck)>,
        in_file: &BTreeMap<ServiceKey, (Service, Option<HealthCheck>)>,
        live: &BTreeMap<ServiceKey, Service>,
    ) -> (
        BTreeMap<ServiceKey, (Service, HealthCheck)>,
        Vec<(ServiceKey, DestinationKey, Duration)>,
    ) {
        let mut interim = want.clone();
        let mut leaving = Vec::new();
        for (key, (old, check)) in in_file {
            let drain = self
                .config
                .services
                .get(key)
                .map_or(crate::defaults::DRAIN, |m| m.drain);
            let Some(check) = want.get(key).map(|(_, c)| c).or(check.as_ref()) else {
                continue;
            };
            if !drains(key) || drain.is_zero() {
                continue;
            }
            for (dest, server) in &old.destinations {
                let stays = want
                    .get(key)
                    .is_some_and(|(s, _)| s.destinations.contains_key(dest));
                let serving = live
                    .get(key)
                    .and_then(|s| s.destinations.get(dest))
                    .is_some_and(|d| d.weight > 0);
                if stays || !serving {
                    continue;
                }
                let entry = interim.entry(*key).or_insert_with(|| {
                    let mut kept = old.clone();
                    kept.destinations.clear();
                    (kept, check.clone())
                });
                let zero = Destination {
                    weight: 0,
                    ..server.clone()
                };
                entry.0.destinations.insert(*dest, zero);
                leaving.push((*key, *dest, drain));
            }
        }
        let weightless: BTreeSet<ServiceKey> = interim
            .iter()
            .filter(|(_, (service, _))| service.destinations.values().all(|d| d.weight == 0))
            .map(|(key, _)| *key)
            .collect();
        leaving.retain(|(key, _, _)| !weightless.contains(key));
        for key in weightless {
            match want.get(&key) {
                Some(wanted) => interim.insert(key, wanted.clone()),
                None => interim.remove(&key),
            };
        }
        (interim, leaving)
    }
}

/// A service as reviewed under keepalived: its settings, and each real server with its
/// weight and mode.
fn table_json(key: &ServiceKey, service: &Service) -> Value {
    let mut value = service_json(key, service);
    if let Some(map) = value.as_object_mut() {
        for (dest, server) in &service.destinations {
            let mut text = format!("weight {}, {}", server.weight, server.forwarding.mode());
            if server.upper_threshold > 0 || server.lower_threshold > 0 {
                text.push_str(&format!(
                    ", thresholds {}/{}",
                    server.lower_threshold, server.upper_threshold
                ));
            }
            map.insert(format!("real_server {dest}"), json!(text));
        }
    }
    value
}
