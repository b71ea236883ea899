//! What lvsform reads of the operator's keepalived configuration: whether it includes
//! lvsform's file, following `include` lines (with glob patterns) as keepalived does.

use super::{Check, HealthCheck};
use crate::model::{
    Destination, DestinationKey, Family, Forwarding, IpNetmask, Persistence, Protocol, Scheduler,
    SchedulerFlag, Service, ServiceKey, ServiceSettings, Tunnel, TunnelChecksum, TunnelType,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
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
fn lexical(path: &Path) -> PathBuf {
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
fn expand(pattern: &Path) -> Vec<PathBuf> {
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

/// The services a keepalived file makes, as IPVS will hold them, each with its check
/// (that of its first real server): what `render` writes, read back.
pub fn services(text: &str) -> BTreeMap<ServiceKey, (Service, Option<HealthCheck>)> {
    parse(text)
        .iter()
        .filter(|item| item.keyword() == "virtual_server")
        .filter_map(virtual_server)
        .collect()
}

fn virtual_server(item: &Item) -> Option<(ServiceKey, (Service, Option<HealthCheck>))> {
    let children = item.children.as_deref().unwrap_or_default();
    let value = |name: &str| {
        children
            .iter()
            .find(|c| c.keyword() == name)
            .and_then(|c| c.arg(1))
    };
    let key = match (item.arg(1), item.arg(2)) {
        (Some("fwmark"), Some(mark)) => ServiceKey::Fwmark {
            mark: mark.parse().ok()?,
            family: match value("ip_family") {
                Some("inet6") => Family::Ipv6,
                _ => Family::Ipv4,
            },
        },
        (Some(vip), Some(port)) => ServiceKey::Address {
            // keepalived's default protocol is UDP.
            protocol: Protocol::parse(&value("protocol").unwrap_or("UDP").to_lowercase())?,
            vip: vip.parse().ok()?,
            port: port.parse().ok()?,
        },
        _ => return None,
    };
    let scheduler = value("lb_algo")
        .and_then(Scheduler::parse)
        .unwrap_or(Scheduler::Wlc);
    let mut flags = BTreeSet::new();
    for child in children {
        match child.keyword().split_once('-') {
            Some((_, "fallback")) => flags.insert(SchedulerFlag::Fallback),
            Some((_, "port")) => flags.insert(SchedulerFlag::Port),
            _ => false,
        };
    }
    let persistence = value("persistence_timeout").map(|timeout| Persistence {
        timeout: timeout.parse().unwrap_or(360),
        netmask: match (key.family(), value("persistence_granularity")) {
            (Family::Ipv4, mask) => IpNetmask::V4(
                mask.and_then(|m| m.parse().ok())
                    .unwrap_or(std::net::Ipv4Addr::BROADCAST),
            ),
            (Family::Ipv6, bits) => IpNetmask::V6(bits.and_then(|b| b.parse().ok()).unwrap_or(128)),
        },
        engine: value("persistence_engine").map(str::to_string),
    });
    let method = children
        .iter()
        .find(|c| c.keyword() == "lvs_method")
        .map_or(Forwarding::Nat, |c| forwarding(&c.words[1..]));
    let servers: Vec<&Item> = children
        .iter()
        .filter(|c| c.keyword() == "real_server")
        .collect();
    let destinations = servers
        .iter()
        .filter_map(|c| real_server(c, method))
        .collect();
    let interval = value("delay_loop").and_then(seconds);
    let check = servers.first().and_then(|rs| checker(rs, interval?));
    let settings = ServiceSettings {
        scheduler,
        flags,
        persistence,
        one_packet: children.iter().any(|c| c.keyword() == "ops"),
    };
    Some((
        key,
        (
            Service {
                settings,
                destinations,
            },
            check,
        ),
    ))
}

/// A real server's `HTTP_GET` or `TCP_CHECK`, checked every `interval`.
fn checker(server: &Item, interval: Duration) -> Option<HealthCheck> {
    let children = server.children.as_deref().unwrap_or_default();
    let block = children
        .iter()
        .find(|c| matches!(c.keyword(), "HTTP_GET" | "TCP_CHECK"))?;
    let inner = block.children.as_deref().unwrap_or_default();
    let value = |items: &[Item], name: &str| {
        items
            .iter()
            .find(|c| c.keyword() == name)
            .and_then(|c| c.arg(1))
            .map(str::to_string)
    };
    let kind = match block.keyword() {
        "HTTP_GET" => {
            let url = inner.iter().find(|c| c.keyword() == "url");
            let url = url.and_then(|u| u.children.as_deref()).unwrap_or_default();
            Check::Http {
                path: value(url, "path").unwrap_or_else(|| "/".into()),
                status: value(url, "status_code")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(200),
            }
        }
        _ => Check::Tcp,
    };
    let retry: u32 = value(inner, "retry")
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    Some(HealthCheck {
        kind,
        port: value(inner, "connect_port").and_then(|p| p.parse().ok()),
        interval,
        timeout: value(inner, "connect_timeout")
            .and_then(|t| seconds(&t))
            .unwrap_or(Duration::from_secs(5)),
        retries: retry + 1,
    })
}

/// keepalived's seconds: `2`, `0.5`.
fn seconds(text: &str) -> Option<Duration> {
    let value: f64 = text.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_micros((value * 1e6).round() as u64))
}

fn real_server(item: &Item, method: Forwarding) -> Option<(DestinationKey, Destination)> {
    let children = item.children.as_deref().unwrap_or_default();
    let number = |name: &str| {
        children
            .iter()
            .find(|c| c.keyword() == name)
            .and_then(|c| c.arg(1)?.parse().ok())
    };
    let key = DestinationKey {
        address: item.arg(1)?.parse().ok()?,
        port: item.arg(2).map_or(Some(0), |p| p.parse().ok())?,
    };
    let forwarding = children
        .iter()
        .find(|c| c.keyword() == "lvs_method")
        .map_or(method, |c| forwarding(&c.words[1..]));
    Some((
        key,
        Destination {
            forwarding,
            weight: number("weight").unwrap_or(1),
            upper_threshold: number("uthreshold").unwrap_or(0),
            lower_threshold: number("lthreshold").unwrap_or(0),
        },
    ))
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
