//! `virtual_server` blocks: identity, scheduler, persistence, guardrails.

use super::*;
use crate::keepalived::{Check, HealthCheck};
use crate::probe::Probe;
use std::ops::Range;
use std::time::Duration;

pub(super) const VIRTUAL_SERVER: Schema = Schema {
    attributes: &[
        "protocol",
        "vip",
        "port",
        "fwmark",
        "vips",
        "scheduler",
        "scheduler_flags",
        "mode",
        "one_packet",
        "drain",
        "prevent_destroy",
        "max_depool",
        "directors",
        "for_each",
    ],
    blocks: &["persistence", "real_server", "health_check", "probe"],
};

pub(super) const PROBE: Schema = Schema {
    attributes: &["timeout"],
    blocks: &["http", "tcp"],
};

pub(super) const HEALTH_CHECK: Schema = Schema {
    attributes: &["port", "interval", "timeout", "retries"],
    blocks: &["http", "tcp"],
};

pub(super) const HTTP_CHECK: Schema = Schema {
    attributes: &["path", "status"],
    blocks: &[],
};

pub(super) const PERSISTENCE: Schema = Schema {
    attributes: &["timeout", "netmask", "engine"],
    blocks: &[],
};

pub(super) fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

/// The family of the first real server whose address is a literal or evaluates cleanly.
pub(super) fn first_server_family(scope: &Scope, body: &Body) -> Option<Family> {
    let block = body.blocks().find(|b| b.ident.as_str() == "real_server")?;
    let attr = block.body.get_attribute("address")?;
    let value = match scope.eval(&attr.value) {
        Ok(value) => value,
        Err(_) => return None,
    };
    value
        .as_str()?
        .parse::<IpAddr>()
        .ok()
        .map(|a| Family::of(&a))
}

pub(super) fn scheduler_flags(
    reader: &mut Reader,
    body: &Body,
    scheduler: Scheduler,
) -> BTreeSet<SchedulerFlag> {
    let mut flags = BTreeSet::new();
    let Some(list) = reader.get(body, "scheduler_flags", body::string_list) else {
        return flags;
    };
    const NAMES: &[(&str, SchedulerFlag)] = &[
        ("sh-fallback", SchedulerFlag::Fallback),
        ("sh-port", SchedulerFlag::Port),
        ("mh-fallback", SchedulerFlag::Fallback),
        ("mh-port", SchedulerFlag::Port),
    ];
    for name in list.value {
        match keyword(NAMES, "scheduler flag")(&Value::String(name.clone())) {
            Ok(flag) if matches!(scheduler, Scheduler::Sh | Scheduler::Mh) => {
                flags.insert(flag);
            }
            Ok(_) => {
                reader
                    .error(
                        list.span.clone(),
                        format!(
                            "scheduler flag \"{name}\" is not valid for the `{scheduler}` scheduler"
                        ),
                    )
                    .help = Some(
                    "the flags fallback and port exist only for the sh and mh schedulers".into(),
                );
            }
            Err(problem) => {
                reader
                    .error(
                        list.span.clone(),
                        format!("invalid `scheduler_flags`: {}", problem.message),
                    )
                    .help = problem.help;
            }
        }
    }
    flags
}

/// The `health_check` block: the service is then keepalived's (SPEC §8).
pub(super) fn health_check(reader: &mut Reader, body: &Body, fwmark: bool) -> Option<HealthCheck> {
    let mut blocks = body.blocks().filter(|b| b.ident.as_str() == "health_check");
    let block = blocks.next()?;
    if let Some(extra) = blocks.next() {
        reader
            .error(
                block_span(extra),
                "only one `health_check` block is allowed",
            )
            .help = Some("a service has one check per real server: keep one block".into());
    }
    reader.check(&block.body, "the health_check block", &HEALTH_CHECK);
    let _ = reader.labels(block, &[]);
    let b = &block.body;
    let kind = check_kind(reader, block, "health_check");
    let port = reader
        .get(b, "port", body::integer(1, 65535))
        .map(|p| p.value as u16);
    if fwmark && port.is_none() {
        reader
            .error(
                block_span(block),
                "a fwmark service's health_check needs a port",
            )
            .help = Some(
            "its real servers have no port of their own: add `port = 80` (the port to check)"
                .into(),
        );
    }
    let mut span_of = |name: &str, default: Duration| {
        reader
            .get(b, name, |v| {
                let duration = body::duration(v)?;
                if duration < Duration::from_millis(100) {
                    return Err(Problem::new(format!("{name} {duration:?} is too short"))
                        .help("health checks run at most every 100ms: write \"100ms\" or more"));
                }
                Ok(duration)
            })
            .map_or(default, |d| d.value)
    };
    let interval = span_of("interval", defaults::CHECK_INTERVAL);
    let timeout = span_of("timeout", defaults::CHECK_TIMEOUT);
    let retries = reader
        .get(b, "retries", |v| {
            body::integer(1, 100)(v).map_err(|p| {
                p.help("retries counts failures in a row before a server is taken out: 1 to 100")
            })
        })
        .map_or(defaults::CHECK_RETRIES, |r| r.value as u32);
    Some(HealthCheck {
        kind: kind?,
        port,
        interval,
        timeout,
        retries,
    })
}

/// The kind of check inside a `health_check` or `probe` block: `http { … }` or `tcp {}`.
fn check_kind(reader: &mut Reader, block: &Block, what: &str) -> Option<Check> {
    let mut kinds = block
        .body
        .blocks()
        .filter(|k| matches!(k.ident.as_str(), "http" | "tcp"));
    match (kinds.next(), kinds.next()) {
        (Some(_), Some(second)) => {
            reader
                .error(
                    block_span(second),
                    format!("a {what} has one kind of check"),
                )
                .help = Some("keep either `http { … }` or `tcp {}`".into());
            None
        }
        (Some(kind), None) => {
            let _ = reader.labels(kind, &[]);
            Some(match kind.ident.as_str() {
                "http" => http_check(reader, &kind.body),
                _ => {
                    reader.check(
                        &kind.body,
                        "the tcp block",
                        &Schema {
                            attributes: &[],
                            blocks: &[],
                        },
                    );
                    Check::Tcp
                }
            })
        }
        (None, _) => {
            reader
                .error(block_span(block), format!("a {what} needs a kind of check"))
                .help = Some("add `http { path = \"/\" }` or `tcp {}` inside it".into());
            None
        }
    }
}

/// The `probe` block (SPEC §9): apply dials a server it adds or changes, directly and
/// through the VIP. Only a VIP:port TCP service has a VIP and a port to dial.
pub(super) fn probe(reader: &mut Reader, body: &Body, tcp_vip: bool) -> Option<Probe> {
    let mut blocks = body.blocks().filter(|b| b.ident.as_str() == "probe");
    let block = blocks.next()?;
    if let Some(extra) = blocks.next() {
        reader
            .error(block_span(extra), "only one `probe` block is allowed")
            .help = Some("a service has one probe per real server: keep one block".into());
    }
    reader.check(&block.body, "the probe block", &PROBE);
    let _ = reader.labels(block, &[]);
    if !tcp_vip {
        reader
            .error(
                block_span(block),
                "a probe needs a TCP service with a VIP and one port",
            )
            .help = Some(
            "apply dials the VIP's port over TCP: probe a `protocol = \"tcp\"` service with `vip` and `port` (a fwmark, UDP or all-ports service has none to dial)"
                .into(),
        );
    }
    let kind = check_kind(reader, block, "probe");
    let timeout = reader
        .get(&block.body, "timeout", |v| {
            let timeout = body::duration(v)?;
            if timeout < Duration::from_millis(100) || timeout > crate::probe::MAX_TIMEOUT {
                return Err(Problem::new(format!("timeout {timeout:?} is out of range"))
                    .help("a probe waits 100ms to 30s: apply waits for each in turn"));
            }
            Ok(timeout)
        })
        .map_or(defaults::PROBE_TIMEOUT, |t| t.value);
    Some(Probe {
        check: kind?,
        timeout,
    })
}

fn http_check(reader: &mut Reader, body: &Body) -> Check {
    reader.check(body, "the http block", &HTTP_CHECK);
    let path = reader
        .get(body, "path", |v| {
            let path = body::string(v)?;
            let plain = path.starts_with('/')
                && !path
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"'#!{}\\".contains(c));
            if !plain {
                return Err(
                    Problem::new(format!("{path:?} is not a path lvsform can check"))
                        .help("a path starts with / and has no spaces, quotes, braces, # or !"),
                );
            }
            Ok(path)
        })
        .map_or_else(|| "/".to_string(), |p| p.value);
    let status = reader
        .get(body, "status", |v| {
            body::integer(100, 599)(v).map_err(|p| p.help("an HTTP status is 100 to 599"))
        })
        .map_or(200, |s| s.value as u16);
    Check::Http { path, status }
}

pub(super) fn persistence(reader: &mut Reader, body: &Body) -> Option<Persistence> {
    let mut blocks = body.blocks().filter(|b| b.ident.as_str() == "persistence");
    let block = blocks.next()?;
    if let Some(extra) = blocks.next() {
        reader
            .error(block_span(extra), "only one `persistence` block is allowed")
            .help = Some("merge the two blocks".into());
    }
    reader.check(&block.body, "the persistence block", &PERSISTENCE);
    let _ = reader.labels(block, &[]);
    let b = &block.body;
    let timeout = reader
        .get(b, "timeout", |v| {
            body::integer(1, i64::from(u32::MAX))(v)
                .map_err(|p| p.help("a persistence timeout is at least 1 second"))
        })
        .map_or(300, |t| t.value as u32);
    let netmask = reader.get(b, "netmask", netmask).map(|n| n.value);
    let engine = reader
        .get(
            b,
            "engine",
            keyword(&[("sip", "sip")], "persistence engine"),
        )
        .map(|e| e.value.to_string());
    Some(Persistence {
        timeout,
        // The family is fixed by the VIP; `build` makes the default match it.
        netmask: netmask.unwrap_or(IpNetmask::V4(Ipv4Addr::BROADCAST)),
        engine,
    })
}

impl<'m> Decoder<'m, '_> {
    pub(super) fn virtual_servers(
        &mut self,
        scope: &Scope,
        dir: &Path,
        block: &Block,
        parent: Option<&Address>,
    ) {
        Reader::new(scope, self.diags).check(
            &block.body,
            "a virtual_server block",
            &VIRTUAL_SERVER,
        );
        let Some((name, instances)) = self.named_instances(scope, block) else {
            return;
        };
        for instance in instances {
            let scope = &scope.for_instance(instance.as_ref().map(|(k, v)| (k.as_str(), v)));
            let key = instance.as_ref().map(|(k, _)| k.as_str());
            let address = Address::block(parent, "virtual_server", &name, key);
            if let Some(service) = self.virtual_server(scope, dir, block, address) {
                self.declared.services.push(service);
            }
        }
    }

    pub(super) fn virtual_server(
        &mut self,
        scope: &Scope,
        dir: &Path,
        block: &Block,
        address: Address,
    ) -> Option<DeclaredService> {
        let mut reader = Reader::new(scope, self.diags);
        let body = &block.body;
        let protocol = reader.get(body, "protocol", keyword(Protocol::ALL, "protocol"));
        let vip = reader.get(body, "vip", body::host_address);
        let persistence = persistence(&mut reader, body);
        let min_port = if persistence.is_some() { 0 } else { 1 };
        let port = reader.get(body, "port", |v| {
            body::integer(min_port, 65535)(v).map_err(|p| {
                p.help("ports are 1..65535; port 0 (all ports) only for a persistent service")
            })
        });
        let fwmark_value = reader.get(body, "fwmark", fwmark);
        let health_check = health_check(&mut reader, body, fwmark_value.is_some());
        let tcp_vip = fwmark_value.is_none()
            && protocol.as_ref().is_none_or(|p| p.value == Protocol::Tcp)
            && port.as_ref().is_none_or(|p| p.value != 0);
        let probe = probe(&mut reader, body, tcp_vip);
        let vips = reader.get(body, "vips", |v| list_of(v, body::host_address));
        let scheduler = reader
            .get(body, "scheduler", keyword(Scheduler::ALL, "scheduler"))
            .map_or(defaults::SCHEDULER, |s| s.value);
        let flags = scheduler_flags(&mut reader, body, scheduler);
        let mode = reader
            .get(body, "mode", keyword(Mode::ALL, "mode"))
            .map_or(defaults::MODE, |m| m.value);
        let one_packet = reader.get(body, "one_packet", body::boolean);
        let drain = reader
            .get(body, "drain", body::duration)
            .map_or(defaults::DRAIN, |d| d.value);
        let prevent_destroy = reader
            .get(body, "prevent_destroy", body::boolean)
            .is_some_and(|b| b.value);
        let max_depool = reader
            .get(body, "max_depool", depool)
            .map_or(Depool::Percent(100), |d| d.value);
        let directors = reader.get(body, "directors", |v| list_of(v, body::string));

        let header = block_span(block);
        let (key, key_span, service_port) =
            identity(&mut reader, block, fwmark_value, protocol, vip, port, &vips)?;
        settings_apart(
            &mut reader,
            key,
            &header,
            one_packet.as_ref(),
            &persistence,
            scheduler,
        );
        let persistence = persistence.map(|p| netmask_for_family(&mut reader, &header, key, p));
        let service_vips: Vec<IpAddr> = match key {
            ServiceKey::Address { vip, .. } => vec![vip],
            ServiceKey::Fwmark { .. } => vips.map(|v| v.value).unwrap_or_default(),
        };
        let mut service = DeclaredService {
            address,
            key,
            location: Location {
                file: scope.file.clone(),
                span: key_span,
            },
            service: Service {
                settings: ServiceSettings {
                    scheduler,
                    flags,
                    persistence,
                    one_packet: one_packet.is_some_and(|o| o.value),
                },
                destinations: BTreeMap::new(),
            },
            vips: service_vips,
            drain,
            prevent_destroy,
            max_depool,
            directors: directors.map(|d| {
                let location = Location {
                    file: scope.file.clone(),
                    span: d.span,
                };
                (d.value, location)
            }),
            servers: Vec::new(),
            health_check,
            probe,
        };

        let context = ServiceContext {
            key,
            port: service_port,
            mode,
        };
        for rs_block in body.blocks().filter(|b| b.ident.as_str() == "real_server") {
            self.real_servers(scope, dir, rs_block, &context, &mut service);
        }
        let weights = service.service.destinations.values().map(|d| d.weight);
        if weights.clone().next().is_some() && weights.into_iter().all(|w| w == 0) {
            Reader::new(scope, self.diags).warning(header, "every real server of this service has weight 0: it will accept no new connections")
                .help = Some("give at least one real server a weight above 0".into());
        }
        Some(service)
    }
}

/// Settings that do not go together with the service's identity or scheduler.
fn settings_apart<P>(
    reader: &mut Reader,
    key: ServiceKey,
    header: &Range<usize>,
    one_packet: Option<&Spanned<bool>>,
    persistence: &Option<P>,
    scheduler: Scheduler,
) {
    if let Some(op) = one_packet
        && op.value
        && matches!(
            key,
            ServiceKey::Address {
                protocol: Protocol::Tcp | Protocol::Sctp,
                ..
            }
        )
    {
        reader
            .error(
                op.span.clone(),
                "`one_packet` scheduling is for UDP services",
            )
            .help = Some("remove it, or set protocol = \"udp\"".into());
    }
    if persistence.is_some() && matches!(scheduler, Scheduler::Sh | Scheduler::Dh) {
        reader
            .warning(
                header.clone(),
                format!(
                    "`{scheduler}` already sends a client to one server; persistence adds little"
                ),
            )
            .help = Some("drop the persistence block, or use a non-hashing scheduler".into());
    }
}

/// The service's identity (protocol, VIP and port; or fwmark), where it is written, and the
/// port its real servers take by default (0 for fwmark).
fn identity(
    reader: &mut Reader,
    block: &Block,
    fwmark: Option<Spanned<u32>>,
    protocol: Option<Spanned<Protocol>>,
    vip: Option<Spanned<IpAddr>>,
    port: Option<Spanned<i64>>,
    vips: &Option<Spanned<Vec<IpAddr>>>,
) -> Option<(ServiceKey, Range<usize>, u16)> {
    let body = &block.body;
    if let Some(mark) = fwmark {
        for name in ["protocol", "vip", "port"] {
            if let Some(attr) = body.get_attribute(name) {
                let span = attr.key.span().unwrap_or(0..0);
                reader.error(span, format!("`{name}` cannot be used with `fwmark`")).help =
                    Some("a fwmark service matches packets by their firewall mark, not by protocol, address and port".into());
            }
        }
        // The family of a fwmark service follows its real servers (IPv4 when it has none).
        let family = first_server_family(reader.scope, body).unwrap_or(Family::Ipv4);
        let key = ServiceKey::Fwmark {
            mark: mark.value,
            family,
        };
        return Some((key, mark.span, 0));
    }
    if let Some(vips) = vips {
        reader
            .error(vips.span.clone(), "`vips` is for fwmark services")
            .help = Some("a service with `vip` holds that one address".into());
    }
    let vip = reader.require(vip, body, "vip", block, "\"203.0.113.10\"");
    let port = reader.require(port, body, "port", block, "80");
    let (vip, port) = (vip?, port?);
    let key = ServiceKey::Address {
        protocol: protocol.map_or(Protocol::Tcp, |p| p.value),
        vip: vip.value,
        port: port.value as u16,
    };
    Some((key, vip.span, port.value as u16))
}

/// A persistence netmask of the service's family: a dotted mask for IPv4, a prefix length
/// for IPv6 (an unset mask takes the family's full length).
fn netmask_for_family(
    reader: &mut Reader,
    header: &Range<usize>,
    key: ServiceKey,
    p: Persistence,
) -> Persistence {
    match (key.family(), p.netmask) {
        (Family::Ipv4, IpNetmask::V4(_)) | (Family::Ipv6, IpNetmask::V6(_)) => p,
        (Family::Ipv6, IpNetmask::V4(mask)) => {
            if mask != Ipv4Addr::BROADCAST {
                reader
                    .error(
                        header.clone(),
                        "an IPv6 service takes a prefix length as persistence netmask",
                    )
                    .help = Some("write e.g. netmask = 64".into());
            }
            Persistence {
                netmask: IpNetmask::V6(128),
                ..p
            }
        }
        (Family::Ipv4, IpNetmask::V6(_)) => {
            reader
                .error(
                    header.clone(),
                    "an IPv4 service takes a dotted netmask as persistence netmask",
                )
                .help = Some("write e.g. netmask = \"255.255.255.0\"".into());
            p
        }
    }
}
