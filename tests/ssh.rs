//! The SSH host backend against real OpenSSH servers in network namespaces (see
//! tests/support/netns.rs): facts, every kind of change and its undo compared with what the
//! namespace really holds, and every way a connection can fail. Needs root.

#[path = "support/netns.rs"]
mod netns;

use lvsform::host::{
    Host, HostChange, HostError, SYSCTL_FILE, SshHost, firewall, for_each_parallel,
};
use lvsform::model::InterfaceAddress;
use netns::{Lab, TEST_USER, ensure_test_user};
use std::time::Duration;

fn vip() -> InterfaceAddress {
    InterfaceAddress::host("lo", "203.0.113.10".parse().unwrap())
}

#[test]
fn reads_what_the_namespace_holds() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let ns = &lab.hosts[0];
    ns.exec(&["sysctl", "-qw", "net.ipv4.conf.lo.arp_ignore=1"]);
    ns.exec(&["ip", "addr", "add", "203.0.113.10/32", "dev", "lo"]);
    ns.exec(&[
        "ip",
        "route",
        "add",
        "default",
        "via",
        &ns.local.to_string(),
    ]);
    let mut host = SshHost::new(lab.target(0));
    let facts = host.observe().expect("facts");
    assert_eq!(facts.sysctls["net.ipv4.conf.lo.arp_ignore"], "1");
    assert_eq!(
        facts.sysctls["net.ipv4.conf.all.arp_ignore"],
        ns.sysctl("net.ipv4.conf.all.arp_ignore")
    );
    assert!(facts.addresses.contains(&vip()));
    assert_eq!(facts.links.get("lo"), Some(&true));
    assert_eq!(facts.default_route, Some(ns.local.into()));
    assert!(
        facts.files.is_empty(),
        "no persistence files yet: {:?}",
        facts.files
    );
    // The host kernel has neither ipip nor tunl0: the lab VM covers those.
    assert!(!facts.links.contains_key("tunl0"));
}

#[test]
fn every_change_takes_effect_and_its_undo_restores_the_host() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let ns = &lab.hosts[0];
    let mut host = SshHost::new(lab.target(0));
    let before = host.observe().unwrap();
    let arp = |n: &str| before.sysctls[n].clone();
    let changes = vec![
        HostChange::SetSysctl {
            name: "net.ipv4.conf.all.arp_ignore".into(),
            value: "1".into(),
            before: Some(arp("net.ipv4.conf.all.arp_ignore")),
        },
        HostChange::SetSysctl {
            name: "net.ipv4.conf.lo.arp_announce".into(),
            value: "2".into(),
            before: Some(arp("net.ipv4.conf.lo.arp_announce")),
        },
        HostChange::AddAddress(vip()),
        HostChange::LinkDown("lo".into()),
        HostChange::WriteFile {
            path: SYSCTL_FILE.into(),
            content: "net.ipv4.conf.all.arp_ignore = 1\n".into(),
            before: None,
        },
        HostChange::AddFirewallRule,
    ];
    host.apply(&changes).expect("apply");
    // What the namespace holds, read without lvsform.
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_ignore"), "1");
    assert_eq!(ns.sysctl("net.ipv4.conf.lo.arp_announce"), "2");
    let addresses = ns.exec(&["ip", "-o", "addr", "show", "dev", "lo"]);
    assert!(addresses.contains("203.0.113.10/32"), "{addresses}");
    assert!(
        !ns.exec(&["ip", "-o", "link", "show", "lo"]).contains(",UP"),
        "lo is down"
    );
    assert_eq!(
        std::fs::read_to_string(ns.etc.join("sysctl.d/90-lvsform.conf")).unwrap(),
        "net.ipv4.conf.all.arp_ignore = 1\n"
    );
    let rules = ns.exec(&["iptables", "-S", "INPUT"]);
    assert!(rules.lines().any(|l| l == firewall::RULE), "{rules}");

    // Applying again changes nothing (idempotent).
    host.apply(&changes).expect("apply again");
    let after = host.observe().unwrap();
    assert!(firewall::has_rule(&after));
    let rules = ns.exec(&["iptables", "-S", "INPUT"]);
    assert_eq!(rules.lines().filter(|l| *l == firewall::RULE).count(), 1);
    let undo: Vec<HostChange> = changes.iter().rev().map(HostChange::inverse).collect();
    host.apply(&undo).expect("undo");
    assert_eq!(
        host.observe().unwrap(),
        before,
        "the undo restores every fact"
    );
    assert_ne!(after, before);
    assert!(!ns.etc.join("sysctl.d/90-lvsform.conf").exists());
    assert!(!ns.exec(&["iptables", "-S", "INPUT"]).contains("lvsform"));
    assert!(
        !ns.exec(&["ip", "-o", "addr", "show", "dev", "lo"])
            .contains("203.0.113.10")
    );
}

#[test]
fn a_failing_step_is_named_and_earlier_steps_are_counted() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let mut host = SshHost::new(lab.target(0));
    // The host kernel has no ipip module: modprobe fails for real.
    let changes = vec![
        HostChange::AddAddress(vip()),
        HostChange::LoadModule("ipip".into()),
        HostChange::LinkUp("lo".into()),
    ];
    let error = host.apply(&changes).expect_err("modprobe ipip fails here");
    assert_eq!(error.applied, 1);
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{}: failed to load module ipip (exit status 1)",
            lab.hosts[0].address
        )),
        "{message}"
    );
    assert!(message.contains("ipip"), "{message}");
    assert!(
        lab.hosts[0]
            .exec(&["ip", "-o", "addr", "show", "dev", "lo"])
            .contains("203.0.113.10")
    );
}

#[test]
fn host_keys_are_checked_strictly() {
    let Some(lab) = Lab::new_or_skip(2) else {
        return;
    };
    // Host 0's address with host 1's key: a mismatch.
    let key1 = std::fs::read_to_string(&lab.hosts[1].host_key_pub).unwrap();
    let mut fields = key1.split_whitespace();
    std::fs::write(
        &lab.known_hosts,
        format!(
            "{} {} {}\n",
            lab.hosts[0].address,
            fields.next().unwrap(),
            fields.next().unwrap()
        ),
    )
    .unwrap();
    let error = SshHost::new(lab.target(0)).observe().expect_err("mismatch");
    assert!(
        matches!(error, HostError::HostKeyMismatch { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("HOST KEY MISMATCH") && message.contains(&lab.hosts[0].fingerprint()),
        "{message}"
    );

    // Host 1 is not in known_hosts at all.
    let error = SshHost::new(lab.target(1)).observe().expect_err("unknown");
    assert!(matches!(error, HostError::UnknownHostKey { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&lab.hosts[1].fingerprint()),
        "names the key: {message}"
    );
    let help = miette::Diagnostic::help(&error).map(|h| h.to_string());
    assert!(
        help.as_deref()
            .is_some_and(|h| h.contains(&format!("ssh-keyscan {}", lab.hosts[1].address))),
        "{help:?}"
    );

    // The explicit opt-out connects anyway.
    let mut target = lab.target(1);
    target.strict_host_key_checking = false;
    assert!(SshHost::new(target).observe().is_ok());
}

#[test]
fn unreachable_hosts_fail_within_the_timeout() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let mut closed = lab.target(0);
    closed.port = 2222;
    let error = SshHost::new(closed)
        .observe()
        .expect_err("nothing listens on 2222");
    assert!(matches!(error, HostError::Connect { .. }), "{error}");
    assert!(error.to_string().contains("refused"), "{error}");

    let mut silent = lab.target(0);
    silent.host = lab.hosts[0].silent_address.to_string();
    silent.timeout = Duration::from_secs(1);
    let error = SshHost::new(silent).observe().expect_err("nobody answers");
    assert!(error.to_string().contains("no answer within 1s"), "{error}");
}

#[test]
fn authentication_failures_are_reported() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let other = lab.dir.path().join("other_key");
    std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            other.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    let mut target = lab.target(0);
    target.private_key = Some(other);
    let error = SshHost::new(target)
        .observe()
        .expect_err("key not authorized");
    assert!(matches!(error, HostError::Auth { .. }), "{error}");
    assert!(
        error.to_string().contains("authentication as root failed"),
        "{error}"
    );

    let mut target = lab.target(0);
    target.private_key = Some(lab.dir.path().join("missing"));
    assert!(
        SshHost::new(target)
            .observe()
            .unwrap_err()
            .to_string()
            .contains("cannot be read")
    );
}

#[test]
fn unprivileged_users_need_sudo() {
    ensure_test_user();
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let mut target = lab.target(0);
    target.user = TEST_USER.into();
    let mut host = SshHost::new(target.clone());
    host.observe().expect("reading works without privileges");
    let change = HostChange::SetSysctl {
        name: "net.ipv4.conf.lo.arp_ignore".into(),
        value: "1".into(),
        before: Some("0".into()),
    };
    let error = host
        .apply(std::slice::from_ref(&change))
        .expect_err("not root");
    assert!(
        matches!(error.error, HostError::Permission { .. }),
        "{}",
        error.error
    );
    let text = lvsform::diag::error_text(&error);
    assert!(
        text.contains("help: log in as root, or set `sudo = true`"),
        "{text}"
    );
    assert_eq!(error.applied, 0);

    target.sudo = true;
    SshHost::new(target)
        .apply(&[change])
        .expect("passwordless sudo (granted in the namespace's sudoers.d)");
    assert_eq!(lab.hosts[0].sysctl("net.ipv4.conf.lo.arp_ignore"), "1");
}

#[test]
fn hosts_are_reached_in_parallel_and_failures_stay_apart() {
    let Some(lab) = Lab::new_or_skip(3) else {
        return;
    };
    let mut hosts: Vec<SshHost> = (0..3).map(|i| SshHost::new(lab.target(i))).collect();
    let mut broken = lab.target(1);
    broken.port = 2222;
    hosts[1] = SshHost::new(broken);
    let results = for_each_parallel(&mut hosts, 2, |h| h.observe());
    assert!(results[0].is_ok() && results[2].is_ok());
    let error = results[1].as_ref().unwrap_err().to_string();
    assert!(
        error.starts_with(&lab.hosts[1].address.to_string()),
        "names the host: {error}"
    );
}

#[test]
fn ipv6_vips_are_added_and_removed() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let mut host = SshHost::new(lab.target(0));
    let before = host.observe().unwrap();
    let vip6 = HostChange::AddAddress(InterfaceAddress::host(
        "lo",
        "2001:db8::10".parse().unwrap(),
    ));
    host.apply(std::slice::from_ref(&vip6)).unwrap();
    assert!(
        lab.hosts[0]
            .exec(&["ip", "-o", "addr", "show", "dev", "lo"])
            .contains("2001:db8::10/128")
    );
    host.apply(&[vip6.inverse()]).unwrap();
    assert_eq!(host.observe().unwrap(), before);
}

/// A script larger than one command-line argument may be (128 KiB on Linux) runs: the
/// script goes to the remote shell on standard input.
#[test]
fn a_host_with_two_thousand_vips_applies() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let mut host = SshHost::new(lab.target(0));
    let before = host.observe().unwrap();
    let vips: Vec<HostChange> = (0..2000u32)
        .map(|i| {
            let address = std::net::Ipv4Addr::from(0xcb00_7100 + i); // from 203.0.113.0
            HostChange::AddAddress(InterfaceAddress::host("lo", address.into()))
        })
        .collect();
    host.apply(&vips).expect("2,000 VIPs");
    let listed = lab.hosts[0].exec(&["ip", "-o", "addr", "show", "dev", "lo"]);
    assert!(
        listed.contains(" 203.0.120.207/32"),
        "the last VIP is there"
    );
    assert_eq!(
        host.observe().unwrap().addresses.len(),
        before.addresses.len() + 2000
    );
    let undo: Vec<HostChange> = vips.iter().rev().map(HostChange::inverse).collect();
    host.apply(&undo).expect("undo");
    assert_eq!(host.observe().unwrap(), before);
}

/// The remote command stalls past the timeout in the middle of a script: every change of
/// the batch is reported in doubt (the first did take effect), and undoing all of them on a
/// new connection restores the host.
#[test]
fn a_script_that_stalls_leaves_every_change_in_doubt() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let mut target = lab.target(0);
    target.timeout = Duration::from_secs(2);
    let mut host = SshHost::new(target);
    let before = host.observe().unwrap();
    // Writing the persistence file goes through a temporary file: a FIFO there blocks the
    // script after the VIP was added.
    let fifo = lab.hosts[0]
        .etc
        .join("sysctl.d/90-lvsform.conf.lvsform-new");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let changes = [
        HostChange::AddAddress(vip()),
        HostChange::WriteFile {
            path: SYSCTL_FILE.into(),
            content: "net.ipv4.conf.all.arp_ignore = 1\n".into(),
            before: None,
        },
    ];
    let error = host.apply(&changes).expect_err("stalls");
    assert_eq!((error.applied, error.unknown), (0, 2), "{error}");
    let addresses = lab.hosts[0].exec(&["ip", "-o", "addr", "show", "dev", "lo"]);
    assert!(
        addresses.contains("203.0.113.10/32"),
        "the first change took effect"
    );
    // Let the stalled remote shell go (a reader that does not wait), then undo the batch.
    use std::os::unix::fs::OpenOptionsExt;
    let release = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    drop(release);
    let undo: Vec<HostChange> = changes.iter().rev().map(HostChange::inverse).collect();
    host.apply(&undo).expect("undo on a new connection");
    let after = host.observe().unwrap();
    assert_eq!(after.addresses, before.addresses);
    assert_eq!(after.files, before.files);
}
