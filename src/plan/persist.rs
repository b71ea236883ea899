//! What survives a real server's reboot: `/etc/sysctl.d/90-lvsform.conf` with the
//! sysctls (and the value each had before lvsform first set it, for `destroy`), and a
//! oneshot systemd unit that re-adds the VIPs and tunnels at boot.

use crate::host::{HostChange, HostFacts, SYSCTL_FILE, UNIT_FILE};
use crate::model::Host;
use std::collections::BTreeMap;

const BEFORE: &str = "# before lvsform: ";

/// The sysctl file `want` needs; the recorded previous values are kept from the file
/// already there, or taken from the host as it is now.
pub fn sysctl_file(want: &Host, have: &HostFacts) -> Option<String> {
    if want.sysctls.is_empty() {
        return None;
    }
    let recorded = previous_values(have);
    let mut out = String::from(
        "# Managed by lvsform: the sysctls this LVS real server needs.\n\
         # `lvsform destroy` puts back the value noted before each setting.\n",
    );
    for (name, value) in &want.sysctls {
        let before = recorded
            .get(name)
            .or_else(|| have.sysctls.get(name))
            .map_or("unset", String::as_str);
        out.push_str(&format!("{BEFORE}{before}\n{name} = {value}\n"));
    }
    Some(out)
}

/// The values recorded in the sysctl file on the host: sysctl name → value before lvsform.
pub fn previous_values(have: &HostFacts) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let Some(text) = have.files.get(SYSCTL_FILE) else {
        return values;
    };
    let mut before = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix(BEFORE) {
            before = Some(value.trim().to_string());
        } else if let (Some((name, _)), Some(value)) = (line.split_once('='), before.take()) {
            values.insert(name.trim().to_string(), value);
        }
    }
    values
}

/// The unit that re-adds the VIPs at boot.
pub fn unit_file(want: &Host) -> Option<String> {
    if want.addresses.is_empty() {
        return None;
    }
    let mut out = String::from(
        "# Managed by lvsform: re-adds this LVS real server's VIPs at boot.\n\
         [Unit]\nDescription=lvsform: LVS VIPs and tunnels\nAfter=network-pre.target\nBefore=network.target\n\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\n",
    );
    for module in &want.modules {
        out.push_str(&format!("ExecStart=/sbin/modprobe {module}\n"));
    }
    for link in &want.links_up {
        out.push_str(&format!("ExecStart=/sbin/ip link set dev {link} up\n"));
    }
    for address in &want.addresses {
        out.push_str(&format!(
            "ExecStart=/sbin/ip addr replace {} dev {}\n",
            address.address, address.interface
        ));
    }
    out.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    Some(out)
}

fn write(path: &str, content: Option<String>, have: &HostFacts) -> Option<HostChange> {
    let old = have.files.get(path);
    match (content, old) {
        (Some(new), old) if old != Some(&new) => Some(HostChange::WriteFile {
            path: path.into(),
            content: new,
            before: old.cloned(),
        }),
        (None, Some(old)) => Some(HostChange::RemoveFile {
            path: path.into(),
            before: old.clone(),
        }),
        _ => None,
    }
}

/// The changes that bring a host's persistence files up to date. The unit needs systemd:
/// `false` in the second place when it had to be skipped.
pub fn changes(want: &Host, have: &HostFacts) -> (Vec<HostChange>, bool) {
    let mut changes: Vec<HostChange> = write(SYSCTL_FILE, sysctl_file(want, have), have)
        .into_iter()
        .collect();
    if !have.systemd {
        return (changes, unit_file(want).is_none());
    }
    let unit = unit_file(want);
    let enabled = unit.is_some();
    changes.extend(write(UNIT_FILE, unit, have));
    if enabled && !have.unit_enabled {
        changes.push(HostChange::EnableUnit);
    }
    if !enabled && have.unit_enabled {
        changes.push(HostChange::DisableUnit);
    }
    (changes, true)
}

/// `destroy`: the recorded sysctl values back, the files and the unit gone.
pub fn teardown(have: &HostFacts) -> Vec<HostChange> {
    let mut changes = Vec::new();
    for (name, before) in previous_values(have) {
        let now = have.sysctls.get(&name);
        if before != "unset" && now != Some(&before) {
            changes.push(HostChange::SetSysctl {
                name,
                value: before,
                before: now.cloned(),
            });
        }
    }
    if have.unit_enabled {
        changes.push(HostChange::DisableUnit);
    }
    for path in [SYSCTL_FILE, UNIT_FILE] {
        if let Some(old) = have.files.get(path) {
            changes.push(HostChange::RemoveFile {
                path: path.into(),
                before: old.clone(),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InterfaceAddress;

    fn host() -> Host {
        let mut want = Host::default();
        want.sysctls
            .insert("net.ipv4.conf.all.arp_ignore".into(), "1".into());
        want.addresses.insert(InterfaceAddress::host(
            "lo",
            "203.0.113.10".parse().unwrap(),
        ));
        want
    }

    #[test]
    fn files_record_previous_values_and_stay_put() {
        let mut have = HostFacts {
            systemd: true,
            ..HostFacts::default()
        };
        have.sysctls
            .insert("net.ipv4.conf.all.arp_ignore".into(), "0".into());
        let (changes, _) = changes(&host(), &have);
        assert_eq!(changes.len(), 3, "{changes:?}");
        let HostChange::WriteFile { content, .. } = &changes[0] else {
            panic!()
        };
        assert!(
            content.contains("# before lvsform: 0\nnet.ipv4.conf.all.arp_ignore = 1\n"),
            "{content}"
        );
        let HostChange::WriteFile { content: unit, .. } = &changes[1] else {
            panic!()
        };
        assert!(
            unit.contains("ExecStart=/sbin/ip addr replace 203.0.113.10/32 dev lo\n"),
            "{unit}"
        );
        assert_eq!(changes[2], HostChange::EnableUnit);

        // After the apply, the sysctl is 1: the file keeps the recorded 0 and nothing changes.
        have.sysctls
            .insert("net.ipv4.conf.all.arp_ignore".into(), "1".into());
        have.files.insert(SYSCTL_FILE.into(), content.clone());
        have.files.insert(UNIT_FILE.into(), unit.clone());
        have.unit_enabled = true;
        assert!(super::changes(&host(), &have).0.is_empty());
        assert_eq!(previous_values(&have)["net.ipv4.conf.all.arp_ignore"], "0");

        let teardown = teardown(&have);
        assert_eq!(
            teardown[0],
            HostChange::SetSysctl {
                name: "net.ipv4.conf.all.arp_ignore".into(),
                value: "0".into(),
                before: Some("1".into())
            }
        );
        assert_eq!(teardown.len(), 4, "{teardown:?}");
    }

    #[test]
    fn without_systemd_the_unit_is_skipped() {
        let (changes, ok) = changes(&host(), &HostFacts::default());
        assert!(!ok);
        assert!(
            changes
                .iter()
                .all(|c| matches!(c, HostChange::WriteFile { path, .. } if path == SYSCTL_FILE))
        );
    }
}
