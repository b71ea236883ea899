//! The POSIX shell scripts lvsform runs on a host, and the parser of what they print.
//! Nothing reaches a script unless it is in a managed set or a parsed address.

use super::firewall::RULE_ARGS;
use super::{
    HostChange, HostError, HostFacts, MANAGED_FILES, MANAGED_INTERFACES, MANAGED_MODULES, UNIT,
    managed_sysctls,
};
use crate::model::InterfaceAddress;

/// POSIX single-quoting: safe for any string without NUL.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn path_of(sysctl: &str) -> String {
    format!("/proc/sys/{}", sysctl.replace('.', "/"))
}

fn checked<'a>(what: &str, value: &'a str, allowed: &[&str]) -> Result<&'a str, HostError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(HostError::Unsafe(format!(
            "{what} {:?} is not one lvsform manages",
            value
        )))
    }
}

fn checked_sysctl<'a>(name: &'a str, value: &str) -> Result<(&'a str, String), HostError> {
    if !managed_sysctls().iter().any(|n| n == name) {
        return Err(HostError::Unsafe(format!(
            "sysctl {name:?} is not one lvsform manages"
        )));
    }
    // The managed sysctls all take small integers.
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::Unsafe(format!(
            "sysctl value {value:?} for {name} is not a number"
        )));
    }
    Ok((name, path_of(name)))
}

fn checked_interface(address: &InterfaceAddress) -> Result<&str, HostError> {
    checked("interface", &address.interface, MANAGED_INTERFACES)
}

/// The read script: one round trip prints every managed fact.
pub fn observe() -> String {
    let mut s = String::from("LC_ALL=C; export LC_ALL\n");
    for name in managed_sysctls() {
        let path = quote(&path_of(&name));
        s.push_str(&format!(
            "[ -r {path} ] && printf 'sysctl %s %s\\n' {} \"$(cat {path})\"\n",
            quote(&name)
        ));
    }
    s.push_str("ip -o addr show 2>/dev/null | sed 's/^/addr /'\n");
    s.push_str("ip -o link show 2>/dev/null | sed 's/^/link /'\n");
    for module in MANAGED_MODULES {
        s.push_str(&format!(
            "[ -d /sys/module/{module} ] && echo 'module {module}'\n"
        ));
    }
    s.push_str("ip -4 route show default 2>/dev/null | sed 's/^/route4 /'\n");
    for file in MANAGED_FILES {
        let q = quote(file);
        s.push_str(&format!(
            "if [ -f {q} ]; then printf 'file %s %s\\n' {q} \"$(wc -c < {q} | tr -d ' ')\"; cat {q}; fi\n"
        ));
    }
    s.push_str("[ -d /run/systemd/system ] && echo systemd\n");
    s.push_str(&format!(
        "[ -L /etc/systemd/system/multi-user.target.wants/{UNIT} ] && echo unit-enabled\n"
    ));
    s.push_str("command -v iptables >/dev/null 2>&1 && iptables -S INPUT 2>/dev/null | sed 's/^/iptables /'\n");
    s.push_str("echo end\n");
    s
}

/// The script of a batch of changes: stops at the first failure and prints `done N` after
/// each change that took effect.
pub fn apply(changes: &[HostChange]) -> Result<String, HostError> {
    let mut s = String::from("set -e\nLC_ALL=C; export LC_ALL\n");
    for (index, change) in changes.iter().enumerate() {
        s.push_str(&command(change)?);
        s.push_str(&format!("\necho 'done {index}'\n"));
    }
    Ok(s)
}

fn command(change: &HostChange) -> Result<String, HostError> {
    Ok(match change {
        HostChange::SetSysctl { name, value, .. } => {
            let (_, path) = checked_sysctl(name, value)?;
            format!("printf '%s\\n' {} > {}", quote(value), quote(&path))
        }
        HostChange::AddAddress(a) => {
            let interface = checked_interface(a)?;
            format!(
                "ip addr replace {} dev {}",
                quote(&a.address.to_string()),
                quote(interface)
            )
        }
        HostChange::DelAddress(a) => {
            let interface = checked_interface(a)?;
            let (addr, dev) = (quote(&a.address.to_string()), quote(interface));
            format!(
                "if [ -n \"$(ip -o addr show dev {dev} to {addr} 2>/dev/null)\" ]; then ip addr del {addr} dev {dev}; fi"
            )
        }
        HostChange::LoadModule(m) => {
            format!("modprobe {}", quote(checked("module", m, MANAGED_MODULES)?))
        }
        HostChange::UnloadModule(m) => {
            let m = quote(checked("module", m, MANAGED_MODULES)?);
            format!("if [ -d /sys/module/{m} ]; then modprobe -r {m}; fi")
        }
        HostChange::LinkUp(l) => format!(
            "ip link set dev {} up",
            quote(checked("interface", l, MANAGED_INTERFACES)?)
        ),
        HostChange::LinkDown(l) => format!(
            "ip link set dev {} down",
            quote(checked("interface", l, MANAGED_INTERFACES)?)
        ),
        HostChange::WriteFile { path, content, .. } => {
            let path = checked("file", path, MANAGED_FILES)?;
            if content.contains('\0') {
                return Err(HostError::Unsafe(format!(
                    "content for {path} holds a NUL byte"
                )));
            }
            let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
            let (q, tmp) = (quote(path), quote(&format!("{path}.lvsform-new")));
            format!(
                "mkdir -p {}\nprintf '%s' {} > {tmp}\nmv {tmp} {q}",
                quote(dir),
                quote(content)
            )
        }
        HostChange::RemoveFile { path, .. } => {
            format!("rm -f {}", quote(checked("file", path, MANAGED_FILES)?))
        }
        HostChange::EnableUnit => format!("systemctl daemon-reload\nsystemctl enable {UNIT}"),
        HostChange::DisableUnit => format!("systemctl disable {UNIT}\nsystemctl daemon-reload"),
        HostChange::AddFirewallRule => {
            format!("iptables -C INPUT {RULE_ARGS} 2>/dev/null || iptables -I INPUT 1 {RULE_ARGS}")
        }
        HostChange::DelFirewallRule => format!(
            "if iptables -C INPUT {RULE_ARGS} 2>/dev/null; then iptables -D INPUT {RULE_ARGS}; fi"
        ),
    })
}

/// Parses what `observe()` printed.
pub fn parse_facts(host: &str, output: &str) -> Result<HostFacts, HostError> {
    let bad = |detail: String| HostError::Output {
        host: host.to_string(),
        detail,
    };
    let mut facts = HostFacts::default();
    let mut iptables = Vec::new();
    let mut rest = output;
    let mut ended = false;
    while let Some((line, after)) = rest.split_once('\n') {
        rest = after;
        let (kind, value) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "sysctl" => {
                if let Some((name, v)) = value.split_once(' ') {
                    facts.sysctls.insert(name.to_string(), v.trim().to_string());
                }
            }
            "addr" => {
                // "1: lo    inet 127.0.0.1/8 scope host lo ..."
                let fields: Vec<&str> = value.split_whitespace().collect();
                if let [_, name, family, address, ..] = fields[..]
                    && (family == "inet" || family == "inet6")
                {
                    let name = name.split('@').next().unwrap_or(name).trim_end_matches(':');
                    if MANAGED_INTERFACES.contains(&name)
                        && let Ok(address) = address.parse()
                    {
                        facts.addresses.insert(InterfaceAddress {
                            interface: name.to_string(),
                            address,
                        });
                    }
                }
            }
            "link" => {
                // "5: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 ..."
                let fields: Vec<&str> = value.split_whitespace().collect();
                if let [_, name, flags, ..] = fields[..] {
                    let name = name.trim_end_matches(':');
                    let name = name.split('@').next().unwrap_or(name);
                    if MANAGED_INTERFACES.contains(&name) {
                        let up = flags.trim_matches(['<', '>']).split(',').any(|f| f == "UP");
                        facts.links.insert(name.to_string(), up);
                    }
                }
            }
            "module" => {
                facts.modules.insert(value.to_string());
            }
            "route4" => {
                let fields: Vec<&str> = value.split_whitespace().collect();
                if let Some(i) = fields.iter().position(|f| *f == "via") {
                    facts.default_route = fields.get(i + 1).and_then(|g| g.parse().ok());
                }
            }
            "file" => {
                let (path, len) = value
                    .rsplit_once(' ')
                    .ok_or_else(|| bad(format!("file line {line:?}")))?;
                let len: usize = len
                    .parse()
                    .map_err(|_| bad(format!("file length in {line:?}")))?;
                let content = rest
                    .get(..len)
                    .ok_or_else(|| bad(format!("{path} is cut short")))?;
                facts.files.insert(path.to_string(), content.to_string());
                rest = &rest[len..];
            }
            "systemd" => facts.systemd = true,
            "unit-enabled" => facts.unit_enabled = true,
            "iptables" => iptables.push(value),
            "end" => {
                ended = true;
                break;
            }
            _ => return Err(bad(format!("line {line:?}"))),
        }
    }
    if !ended {
        return Err(bad("the report ended early".into()));
    }
    if !iptables.is_empty() {
        facts.iptables_input = Some(iptables.join("\n"));
    }
    Ok(facts)
}

/// How many changes a batch completed, from its `done N` lines.
pub fn completed(output: &str) -> usize {
    output.lines().filter(|l| l.starts_with("done ")).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{SYSCTL_FILE, UNIT_FILE};

    #[test]
    fn quoting_is_posix() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(x)`y`"), "'$(x)`y`'");
    }

    #[test]
    fn hostile_values_are_refused_before_any_script_exists() {
        let hostile = [
            "lo; reboot",
            "$(reboot)",
            "`reboot`",
            "lo\nreboot",
            "../../etc/passwd",
            "tunl0 && rm -rf /",
        ];
        for bad in hostile {
            let changes = [
                HostChange::SetSysctl {
                    name: format!("net.ipv4.conf.{bad}.arp_ignore"),
                    value: "1".into(),
                    before: None,
                },
                HostChange::SetSysctl {
                    name: "net.ipv4.conf.lo.arp_ignore".into(),
                    value: bad.into(),
                    before: None,
                },
                HostChange::AddAddress(InterfaceAddress {
                    interface: bad.into(),
                    address: "10.0.0.1/32".parse().unwrap(),
                }),
                HostChange::DelAddress(InterfaceAddress {
                    interface: bad.into(),
                    address: "10.0.0.1/32".parse().unwrap(),
                }),
                HostChange::LoadModule(bad.into()),
                HostChange::UnloadModule(bad.into()),
                HostChange::LinkUp(bad.into()),
                HostChange::LinkDown(bad.into()),
                HostChange::WriteFile {
                    path: bad.into(),
                    content: "x".into(),
                    before: None,
                },
                HostChange::RemoveFile {
                    path: bad.into(),
                    before: "x".into(),
                },
            ];
            for change in changes {
                let result = apply(&[HostChange::LinkUp("lo".into()), change.clone()]);
                assert!(
                    matches!(result, Err(HostError::Unsafe(_))),
                    "{change:?} was accepted"
                );
            }
        }
        let nul = HostChange::WriteFile {
            path: SYSCTL_FILE.into(),
            content: "a\0b".into(),
            before: None,
        };
        assert!(matches!(apply(&[nul]), Err(HostError::Unsafe(_))));
    }

    #[test]
    fn file_content_is_quoted_verbatim() {
        let content = "x = '$(reboot)'\n`id`\n";
        let script = apply(&[HostChange::WriteFile {
            path: UNIT_FILE.into(),
            content: content.into(),
            before: None,
        }])
        .unwrap();
        assert!(script.contains(&format!("printf '%s' {} > ", quote(content))));
        assert!(script.ends_with("echo 'done 0'\n"));
    }

    #[test]
    fn parses_a_report() {
        let report = "sysctl net.ipv4.conf.all.arp_ignore 1\n\
            sysctl net.ipv4.conf.lo.arp_ignore 0\n\
            addr 1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
            addr 1: lo    inet 203.0.113.10/32 scope global lo\\       valid_lft forever preferred_lft forever\n\
            addr 2: eth0    inet 10.1.0.11/24 brd 10.1.0.255 scope global eth0\\ valid_lft forever\n\
            addr 5: tunl0    inet 203.0.113.53/32 scope global tunl0\\ valid_lft forever\n\
            link 1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n\
            link 5: tunl0@NONE: <NOARP> mtu 1480 qdisc noop state DOWN\n\
            module ipip\n\
            route4 default via 10.1.0.1 dev eth0\n\
            file /etc/sysctl.d/90-lvsform.conf 12\nline1\nline2\n\
            systemd\n\
            iptables -P INPUT ACCEPT\n\
            end\n";
        let facts = parse_facts("h", report).unwrap();
        assert_eq!(facts.sysctls["net.ipv4.conf.lo.arp_ignore"], "0");
        let addresses: Vec<String> = facts
            .addresses
            .iter()
            .map(|a| format!("{} {}", a.interface, a.address))
            .collect();
        assert_eq!(
            addresses,
            [
                "lo 127.0.0.1/8",
                "lo 203.0.113.10/32",
                "tunl0 203.0.113.53/32"
            ]
        );
        assert_eq!(facts.links.get("lo"), Some(&true));
        assert_eq!(facts.links.get("tunl0"), Some(&false));
        assert!(facts.modules.contains("ipip"));
        assert_eq!(facts.default_route, Some("10.1.0.1".parse().unwrap()));
        assert_eq!(facts.files[SYSCTL_FILE], "line1\nline2\n");
        assert!(facts.systemd);
        assert_eq!(facts.iptables_input.as_deref(), Some("-P INPUT ACCEPT"));
        assert!(
            parse_facts("h", "sysctl a 1\n").is_err(),
            "a report without its end"
        );
        assert!(parse_facts("h", "file /x 99\nshort\nend\n").is_err());
    }
}
