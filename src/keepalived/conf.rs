//! What lvsform reads of the operator's keepalived configuration: whether it includes
//! lvsform's file, following `include` lines (with glob patterns) as keepalived does.

use super::{Check, HealthCheck};
use crate::model::{
    Destination, DestinationKey, Family, Forwarding, IpNetmask, Persistence, Protocol, Scheduler,
    SchedulerFlag, Service, ServiceKey, ServiceSettings, Tunnel, TunnelChecksum, TunnelType,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How deep includes are followed (keepalived itself stops at a loop).
const MAX_DEPTH: usize = 8;

/// Whether `config`, or a file it includes, includes `file`.
pub fn includes(config: &Path, file: &Path) -> std::io::Result<bool> {
    let text = std::fs::read_to_string(config)?;
    Ok(visit(config, &text, file, 0))
}

fn visit(path: &Path, text: &str, file: &Path, depth: usize) -> bool {
    let dir = path.parent().unwrap_or(Path::new("/"));
    include_patterns(text).any(|pattern| {
        let pattern = lexical(&dir.join(pattern));
        if matches(&pattern, file) {
            return true;
        }
        depth < MAX_DEPTH
            && expand(&pattern).into_iter().any(|included| {
                std::fs::read_to_string(&included)
                    .is_ok_and(|text| visit(&included, &text, file, depth + 1))
            })
    })
}

/// The paths of the `include` lines (comments start with `#` or `!`).
fn include_patterns(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let line = line.split(['#', '!']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        (words.next() == Some("include"))
            .then(|| words.next())
            .flatten()
            .map(|path| path.trim_matches('"'))
    })
}

/// The path with `.` and `..` taken out, as the kernel would walk it (no link followed).
pub fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether glob `pattern` names `file`.
fn matches(pattern: &Path, file: &Path) -> bool {
    let (Some(pattern), Some(file)) = (c_path(pattern), c_path(file)) else {
        return false;
    };
    // SAFETY: both are NUL-terminated strings that outlive the call.
    unsafe { libc::fnmatch(pattern.as_ptr(), file.as_ptr(), libc::FNM_PATHNAME) == 0 }
}

fn c_path(path: &Path) -> Option<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).ok()
}

/// The existing files a pattern names (a pattern in its last part only).
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    let Some(dir) = pattern.parent() else {
        return vec![];
    };
    if !pattern.to_string_lossy().contains(['*', '?', '[']) {
        return vec![pattern.to_path_buf()];
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| matches(pattern, path))
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_include_is_found_directly_through_a_glob_or_in_an_included_file() {
        let dir = std::env::temp_dir().join(format!("lvsform-conf-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        let ours = dir.join("lvsform.conf");
        let main = dir.join("keepalived.conf");
        let write = |text: &str| std::fs::write(&main, text).unwrap();

        write("global_defs {\n}\ninclude lvsform.conf\n");
        assert!(
            includes(&main, &ours).unwrap(),
            "relative to the including file"
        );
        write(&format!("include \"{}/*.conf\" # all\n", dir.display()));
        assert!(includes(&main, &ours).unwrap(), "a glob");
        std::fs::write(dir.join("conf.d/lvs.conf"), "include ../lvsform.conf\n").unwrap();
        write("include conf.d/*.conf\n");
        assert!(includes(&main, &ours).unwrap(), "through an included file");
        write("# include lvsform.conf\n! include lvsform.conf\ninclude other.conf\n");
        assert!(
            !includes(&main, &ours).unwrap(),
            "commented out, or another file"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// One line of a keepalived configuration: its words, and the block it opens.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub words: Vec<String>,
    /// 1-based.
    pub line: usize,
    pub children: Option<Vec<Item>>,
}

impl Item {
    fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    fn arg(&self, index: usize) -> Option<&str> {
        self.words.get(index).map(String::as_str)
    }
}

/// keepalived's syntax: words split by white space, `#` and `!` start comments, `{` and
/// `}` open and close a block (written apart or against a word), a line ends an item.
pub fn parse(text: &str) -> Vec<Item> {
    let mut tokens = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.split(['#', '!']).next().unwrap_or_default();
        for word in line.split_whitespace() {
            let mut rest = word;
            while let Some(after) = rest.strip_prefix(['{', '}']) {
                tokens.push((rest[..1].to_string(), index + 1));
                rest = after;
            }
            let trailing: Vec<char> = rest
                .chars()
                .rev()
                .take_while(|c| "{}".contains(*c))
                .collect();
            let core = &rest[..rest.len() - trailing.len()];
            if !core.is_empty() {
                tokens.push((core.trim_matches('"').to_string(), index + 1));
            }
            for brace in trailing.into_iter().rev() {
                tokens.push((brace.to_string(), index + 1));
            }
        }
        tokens.push(("\n".to_string(), index + 1));
    }
    let mut tokens = tokens.into_iter().peekable();
    block(&mut tokens)
}

fn block(tokens: &mut std::iter::Peekable<impl Iterator<Item = (String, usize)>>) -> Vec<Item> {
    let mut items = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut line = 0;
    while let Some((token, at)) = tokens.next() {
        match token.as_str() {
            "\n" => {
                if !words.is_empty() {
                    items.push(Item {
                        words: std::mem::take(&mut words),
                        line,
                        children: None,
                    });
                }
            }
            "{" => {
                let line = if words.is_empty() { at } else { line };
                items.push(Item {
                    words: std::mem::take(&mut words),
                    line,
                    children: Some(block(tokens)),
                });
            }
            "}" => break,
            _ => {
                if words.is_empty() {
                    line = at;
                }
                words.push(token);
            }
        }
    }
    if !words.is_empty() {
        items.push(Item {
            words,
            line,
            children: None,
        });
    }
    items
}

/// What a conversion could not carry over, by line: keepalived keywords with no
/// equivalent, and what keepalived itself ignores.
pub type Notes = Vec<(usize, String)>;

/// A service as keepalived makes it, with the check of its real servers.
pub type Converted = (ServiceKey, Service, Option<HealthCheck>);

/// The services a keepalived file makes, as IPVS will hold them, each with its check
/// (that of its first real server): what `render` writes, read back.
pub fn services(text: &str) -> BTreeMap<ServiceKey, (Service, Option<HealthCheck>)> {
    let mut notes = Notes::new();
    parse(text)
        .iter()
        .filter(|item| item.keyword() == "virtual_server")
        .flat_map(|item| virtual_server(item, &BTreeMap::new(), &mut notes))
        .map(|(key, service, check)| (key, (service, check)))
        .collect()
}

/// The priority of lvsform's VRRP instance in its file (none: it has none).
pub fn vrrp_priority(text: &str) -> Option<u8> {
    parse(text)
        .iter()
        .find(|item| {
            item.keyword() == "vrrp_instance" && item.arg(1) == Some(super::render::INSTANCE)
        })?
        .children
        .as_deref()?
        .iter()
        .find(|item| item.keyword() == "priority")?
        .arg(1)?
        .parse()
        .ok()
}

/// The members of each `virtual_server_group`, by name.
pub type Groups = BTreeMap<String, Vec<ServiceKeyOf>>;

/// A group member: an address and port (of the service's protocol, known later), or a
/// fwmark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServiceKeyOf {
    Address(IpAddr, u16),
    Fwmark(u32),
}

/// A `virtual_server_group NAME { VIP PORT | VIP-RANGE PORT | fwmark N … }`.
pub fn group(item: &Item, notes: &mut Notes) -> Option<(String, Vec<ServiceKeyOf>)> {
    let name = item.arg(1)?.to_string();
    let mut members = Vec::new();
    for member in item.children.as_deref().unwrap_or_default() {
        match (member.arg(0), member.arg(1)) {
            (Some("fwmark"), Some(mark)) => match mark.parse() {
                Ok(mark) => members.push(ServiceKeyOf::Fwmark(mark)),
                Err(_) => notes.push((member.line, format!("fwmark {mark} is not a number"))),
            },
            (Some(address), Some(port)) => match (address_range(address), port.parse()) {
                (Some(addresses), Ok(port)) => members.extend(
                    addresses
                        .into_iter()
                        .map(|a| ServiceKeyOf::Address(a, port)),
                ),
                _ => notes.push((
                    member.line,
                    format!(
                        "group member `{address} {port}` is not an address (or range) and a port"
                    ),
                )),
            },
            _ => notes.push((
                member.line,
                "a group member needs an address and a port".into(),
            )),
        }
    }
    Some((name, members))
}

/// `10.0.0.1` or keepalived's range `10.0.0.1-10` (the last part of the address up to 10).
fn address_range(text: &str) -> Option<Vec<IpAddr>> {
    let Some((first, last)) = text.split_once('-') else {
        return Some(vec![text.parse().ok()?]);
    };
    let first: std::net::Ipv4Addr = first.parse().ok()?;
    let last: u8 = last.parse().ok()?;
    let [a, b, c, start] = first.octets();
    (start <= last).then(|| (start..=last).map(|d| IpAddr::from([a, b, c, d])).collect())
}

/// A `virtual_server` block as keepalived 2.2 makes it: its defaults (no `protocol` is
/// UDP, no `lb_kind` NAT, no `lb_algo` wlc, a bare `persistence_timeout` 360 s, a fwmark
/// service's real servers port 0) and its quirks (`sh-port` or `mh-port` before
/// `lb_algo` is ignored). One service per member of a `virtual_server group NAME`.
pub fn virtual_server(item: &Item, groups: &Groups, notes: &mut Notes) -> Vec<Converted> {
    let children = item.children.as_deref().unwrap_or_default();
    let mut protocol = None;
    let mut scheduler = Scheduler::Wlc;
    let mut flags = BTreeSet::new();
    let mut method = Forwarding::Nat;
    let mut persistence: Option<Persistence> = None;
    let mut granularity = None;
    let mut granularity_line = None;
    let mut engine = None;
    let mut one_packet = false;
    let mut family = Family::Ipv4;
    let mut defaults = CheckDefaults::default();
    let mut servers = Vec::new();
    for child in children {
        let value = child.arg(1);
        match child.keyword() {
            "protocol" => protocol = value.and_then(|p| Protocol::parse(&p.to_lowercase())),
            "lb_algo" | "lvs_sched" => match value.and_then(Scheduler::parse) {
                Some(s) => scheduler = s,
                None => notes.push((
                    child.line,
                    format!("scheduler {value:?} is not one lvsform knows"),
                )),
            },
            "lb_kind" | "lvs_method" => method = forwarding(&child.words[1..]),
            "delay_loop" => defaults.interval = value.and_then(seconds),
            "persistence_timeout" => {
                persistence = Some(Persistence {
                    timeout: value.and_then(|t| t.parse().ok()).unwrap_or(360),
                    netmask: IpNetmask::whole(Family::Ipv4),
                    engine: None,
                })
            }
            "persistence_granularity" => {
                granularity = value.map(str::to_string);
                granularity_line = Some(child.line);
            }
            "persistence_engine" => engine = value.map(str::to_string),
            "ops" => one_packet = true,
            "ip_family" => {
                if value == Some("inet6") {
                    family = Family::Ipv6;
                }
            }
            flag @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback") => {
                let (algo, kind) = flag.split_once('-').unwrap_or_default();
                if scheduler.as_str() != algo {
                    notes.push((
                        child.line,
                        format!("`{flag}` is ignored by keepalived here (it counts only after `lb_algo {algo}`): left out"),
                    ));
                } else if kind == "port" {
                    flags.insert(SchedulerFlag::Port);
                } else {
                    flags.insert(SchedulerFlag::Fallback);
                }
            }
            "real_server" => servers.push(child),
            "connect_timeout" | "retry" | "delay_before_retry" => defaults.set(child),
            other => notes.push((
                child.line,
                format!("`{other}` has no equivalent in lvsform: left out"),
            )),
        }
    }
    let group = item.arg(1) == Some("group");
    if group && let Some(line) = granularity_line.take() {
        // Seen in the lab: keepalived 2.2.7 gives a group's services no netmask.
        notes.push((
            line,
            "`persistence_granularity` is ignored by keepalived for a virtual_server group (its services get none): left out".into(),
        ));
        granularity = None;
    }
    if let Some(p) = persistence.as_mut() {
        p.engine = engine;
        let family = family_of(item, family);
        p.netmask = granularity
            .and_then(|text| IpNetmask::parse(family, &text))
            .unwrap_or(IpNetmask::whole(family));
    }
    let members: Vec<ServiceKeyOf> = match (item.arg(1), item.arg(2)) {
        (Some("group"), Some(name)) => match groups.get(name) {
            Some(members) => members.clone(),
            None => {
                notes.push((
                    item.line,
                    format!("virtual_server_group {name} is not declared"),
                ));
                return vec![];
            }
        },
        (Some("fwmark"), Some(mark)) => match mark.parse() {
            Ok(mark) => vec![ServiceKeyOf::Fwmark(mark)],
            Err(_) => return vec![],
        },
        (Some(vip), Some(port)) => match (vip.parse(), port.parse()) {
            (Ok(vip), Ok(port)) => vec![ServiceKeyOf::Address(vip, port)],
            _ => {
                notes.push((
                    item.line,
                    format!("`{vip} {port}` is not an address and a port"),
                ));
                return vec![];
            }
        },
        _ => return vec![],
    };
    let hashes = scheduler.hashes();
    let mut destinations = BTreeMap::new();
    let mut checks: Vec<(usize, DestinationKey, Option<HealthCheck>)> = Vec::new();
    for server in servers {
        let fwmark = matches!(members.first(), Some(ServiceKeyOf::Fwmark(_)));
        if let Some((key, dest, check)) =
            real_server(server, method, fwmark, hashes, &defaults, notes)
        {
            destinations.insert(key, dest);
            checks.push((server.line, key, check));
        }
    }
    let check = checks.first().and_then(|(_, _, c)| c.clone());
    for (line, dest, other) in checks.iter().skip(1) {
        if *other != check {
            notes.push((
                *line,
                format!("real server {dest} is checked unlike the service's first one: lvsform checks every server of a service alike, as the first"),
            ));
        }
    }
    let protocol = protocol.unwrap_or(Protocol::Udp);
    let service = Service {
        settings: ServiceSettings {
            scheduler,
            flags,
            persistence,
            one_packet,
        },
        destinations,
    };
    members
        .into_iter()
        .map(|member| {
            let key = match member {
                ServiceKeyOf::Address(vip, port) => ServiceKey::Address {
                    protocol,
                    vip,
                    port,
                },
                ServiceKeyOf::Fwmark(mark) => ServiceKey::Fwmark { mark, family },
            };
            (key, service.clone(), check.clone())
        })
        .collect()
}

/// The address family of a service block, for its persistence netmask.
fn family_of(item: &Item, fwmark_family: Family) -> Family {
    match item.arg(1).and_then(|a| a.parse::<IpAddr>().ok()) {
        Some(address) => Family::of(&address),
        None => fwmark_family,
    }
}

/// What checks inherit from their service's (or server's) block.
#[derive(Debug, Clone, Default)]
struct CheckDefaults {
    interval: Option<Duration>,
    timeout: Option<Duration>,
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
}

impl CheckDefaults {
    fn set(&mut self, item: &Item) {
        let value = item.arg(1);
        match item.keyword() {
            "connect_timeout" => self.timeout = value.and_then(seconds),
            "retry" | "nb_get_retry" => self.retry = value.and_then(|r| r.parse().ok()),
            "delay_before_retry" => self.delay_before_retry = value.and_then(seconds),
            _ => {}
        }
    }
}

fn real_server(
    item: &Item,
    method: Forwarding,
    fwmark: bool,
    hashes: bool,
    defaults: &CheckDefaults,
    notes: &mut Notes,
) -> Option<(DestinationKey, Destination, Option<HealthCheck>)> {
    let address = item.arg(1).and_then(|a| a.parse().ok());
    let port = match (fwmark, item.arg(2)) {
        (true, _) | (false, None) => Some(0),
        (false, Some(port)) => port.parse().ok(),
    };
    let (Some(address), Some(port)) = (address, port) else {
        notes.push((
            item.line,
            "a real_server needs an address and a port".into(),
        ));
        return None;
    };
    let mut dest = Destination {
        forwarding: method,
        weight: 1,
        upper_threshold: 0,
        lower_threshold: 0,
    };
    let mut defaults = defaults.clone();
    let mut check = None;
    for child in item.children.as_deref().unwrap_or_default() {
        let number = || child.arg(1).and_then(|n| n.parse().ok());
        match child.keyword() {
            "weight" => dest.weight = number().unwrap_or(1),
            "uthreshold" => dest.upper_threshold = number().unwrap_or(0),
            "lthreshold" => dest.lower_threshold = number().unwrap_or(0),
            "lvs_method" | "lb_kind" => dest.forwarding = forwarding(&child.words[1..]),
            "inhibit_on_failure" if hashes => {}
            "inhibit_on_failure" => notes.push((
                child.line,
                "`inhibit_on_failure` is left out: lvsform keeps a failing server in place (at weight 0) under sh and mh only".into(),
            )),
            "connect_timeout" | "retry" | "delay_before_retry" => defaults.set(child),
            kind @ ("HTTP_GET" | "TCP_CHECK") if check.is_none() => {
                check = checker(child, kind, &defaults, notes)
            }
            other => notes.push((child.line, format!("`{other}` has no equivalent in lvsform: left out"))),
        }
    }
    let key = DestinationKey { address, port };
    Some((key, dest, check))
}

/// An `HTTP_GET` or `TCP_CHECK` block, with its service's `delay_loop`.
fn checker(
    item: &Item,
    kind: &str,
    defaults: &CheckDefaults,
    notes: &mut Notes,
) -> Option<HealthCheck> {
    let mut defaults = defaults.clone();
    let mut port = None;
    let mut path = None;
    let mut status = None;
    for child in item.children.as_deref().unwrap_or_default() {
        match child.keyword() {
            "connect_port" => port = child.arg(1).and_then(|p| p.parse().ok()),
            "connect_timeout" | "retry" | "nb_get_retry" | "delay_before_retry" => {
                defaults.set(child)
            }
            "url" if kind == "HTTP_GET" && path.is_none() => {
                for part in child.children.as_deref().unwrap_or_default() {
                    match part.keyword() {
                        "path" => path = part.arg(1).map(str::to_string),
                        "status_code" => status = part.arg(1).and_then(|s| s.parse().ok()),
                        other => notes.push((
                            part.line,
                            format!("`{other}` has no equivalent in lvsform: left out"),
                        )),
                    }
                }
            }
            "url" => notes.push((
                child.line,
                "lvsform checks one url per service: the first".into(),
            )),
            other => notes.push((
                child.line,
                format!("`{other}` has no equivalent in lvsform: left out"),
            )),
        }
    }
    // keepalived 2.2's defaults: a check every 60 s, 5 s to connect, 1 retry.
    let interval = defaults.interval.unwrap_or(Duration::from_secs(60));
    if defaults.delay_before_retry.is_some_and(|d| d != interval) {
        notes.push((
            item.line,
            "`delay_before_retry` is left out: lvsform retries after the check's interval".into(),
        ));
    }
    Some(HealthCheck {
        kind: match kind {
            "HTTP_GET" => Check::Http {
                path: path.unwrap_or_else(|| "/".into()),
                status: status.unwrap_or(200),
            },
            _ => Check::Tcp,
        },
        port,
        interval,
        timeout: defaults.timeout.unwrap_or(Duration::from_secs(5)),
        retries: defaults.retry.unwrap_or(1) + 1,
    })
}

/// keepalived's seconds: `2`, `0.5`.
fn seconds(text: &str) -> Option<Duration> {
    let value: f64 = text.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_micros((value * 1e6).round() as u64))
}

/// `lvs_method`'s words: `NAT`, `DR`, `TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
fn forwarding(words: &[String]) -> Forwarding {
    match words.first().map(String::as_str) {
        Some("DR") => Forwarding::Dr,
        Some("TUN") => {
            let mut tunnel = Tunnel::default();
            let mut rest = words[1..].iter().map(String::as_str);
            while let Some(word) = rest.next() {
                match word {
                    "type" => {
                        if let Some(kind) = rest.next().and_then(TunnelType::parse) {
                            tunnel.kind = kind;
                        }
                    }
                    "port" => tunnel.port = rest.next().and_then(|p| p.parse().ok()).unwrap_or(0),
                    other => {
                        if let Some(checksum) = TunnelChecksum::parse(other) {
                            tunnel.checksum = checksum;
                        }
                    }
                }
            }
            Forwarding::Tun(tunnel)
        }
        _ => Forwarding::Nat,
    }
}
