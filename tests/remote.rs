//! A remote director through a real OpenSSH server in a network namespace (see
//! tests/support/netns.rs), with this build of lvsform as the agent there: the director's
//! settings read and changed through it, its lock, and every way it can be missing. The
//! host kernel has no IPVS: the table over SSH is proven in the lab VM (tests/lab/vm/remote.sh).
//! Needs root.

#[path = "support/netns.rs"]
mod netns;

use lvsform::agent::{self, AgentError};
use lvsform::config::RemoteDirectorMeta;
use lvsform::director::{Director, DirectorChange};
use lvsform::host::HostError;
use lvsform::ipvs::Ipvs;
use netns::Lab;
use std::time::Duration;

fn remote(lab: &Lab, lvsform: &str) -> RemoteDirectorMeta {
    RemoteDirectorMeta {
        name: None,
        ssh: lab.target(0),
        lvsform: lvsform.into(),
    }
}

fn this_lvsform() -> String {
    env!("CARGO_BIN_EXE_lvsform").into()
}

#[test]
fn the_director_is_read_and_changed_through_lvsform_there() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let ns = &lab.hosts[0];
    let director = agent::connect(&remote(&lab, &this_lvsform()), false).expect("agent");
    let mut settings = director.settings();
    let name = "net.ipv4.ip_forward".to_string();
    let before = ns.sysctl(&name);
    let facts = settings
        .observe(std::slice::from_ref(&name), Some("eth0"), None)
        .expect("facts");
    assert_eq!(facts.sysctls[&name], before);
    let address = format!("{}/29", ns.address);
    assert!(
        facts
            .addresses
            .iter()
            .any(|a| a.address.to_string() == address),
        "{facts:?}"
    );
    let flipped = if before == "1" { "0" } else { "1" };
    let change = DirectorChange::SetSysctl {
        name: name.clone(),
        value: flipped.into(),
        before: Some(before.clone()),
    };
    settings.apply(&change).expect("set");
    assert_eq!(ns.sysctl(&name), flipped, "read without lvsform");
    settings.apply(&change.inverse()).expect("undo");
    assert_eq!(ns.sysctl(&name), before);
    // What lvsform never does to a director is refused there too.
    let forbidden = DirectorChange::SetSysctl {
        name: "kernel.core_pattern".into(),
        value: "|/bin/false".into(),
        before: None,
    };
    assert!(settings.apply(&forbidden).is_err());
    // This kernel has no IPVS: the director says so, named.
    let error = director.ipvs().observe().unwrap_err().to_string();
    assert!(
        error.contains(&format!("director {}", ns.address)) && error.contains("no IPVS"),
        "{error}"
    );
}

#[test]
fn the_directors_lock_is_held_by_lvsform_there_until_it_ends() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let target = remote(&lab, &this_lvsform());
    let first = agent::connect(&target, false).expect("agent");
    first.lock(Duration::ZERO).expect("free");
    let second = agent::connect(&target, false).expect("agent");
    let error = second.lock(Duration::from_millis(300)).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&format!("director {}", lab.hosts[0].address))
            && text.contains("another lvsform apply holds the lock"),
        "{text}"
    );
    drop(first);
    second
        .lock(Duration::from_secs(5))
        .expect("free once the first ended");
}

#[test]
fn a_director_without_lvsform_or_with_another_version_says_how_to_install_it() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let host = lab.hosts[0].address.to_string();
    // A named director is named as the configuration names it, beside its host.
    let named = RemoteDirectorMeta {
        name: Some("lb2".into()),
        ..remote(&lab, "/nonexistent/lvsform")
    };
    let missing = agent::connect(&named, false).err().expect("missing");
    assert!(matches!(missing, AgentError::Missing { .. }), "{missing:?}");
    let text = lvsform::diag::error_text(&missing);
    assert!(
        text.starts_with(&format!("director \"lb2\" ({host}): cannot run"))
            && text.contains("not installed")
            && text.contains(&format!("install lvsform {}", env!("CARGO_PKG_VERSION")))
            && text.contains(&format!("{host}:/usr/local/bin/")),
        "{text}"
    );

    // Another version answers with its own hello.
    let other = lab.dir.path().join("lvsform-0.0.1");
    std::fs::write(
        &other,
        "#!/bin/sh\nprintf '\\000\\000\\000\\040{\"protocol\":1,\"version\":\"0.0.1\"}'\n",
    )
    .unwrap();
    netns_chmod(&other);
    let error = agent::connect(&remote(&lab, other.to_str().unwrap()), false)
        .err()
        .expect("another version");
    let text = lvsform::diag::error_text(&error);
    assert!(
        matches!(error, AgentError::Version { .. })
            && text.contains("lvsform 0.0.1 is installed there")
            && text.contains("install the same lvsform version"),
        "{text}"
    );
}

#[test]
fn a_directors_host_key_is_checked_strictly() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    std::fs::write(&lab.known_hosts, "").unwrap();
    let error = agent::connect(&remote(&lab, &this_lvsform()), false)
        .err()
        .expect("unknown key");
    assert!(
        matches!(error, AgentError::Connect(HostError::UnknownHostKey { .. })),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("director "), "{error}");
}

fn netns_chmod(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_unprivileged_login_is_told_to_use_sudo_and_sudo_works() {
    netns::ensure_test_user();
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let ns = &lab.hosts[0];
    let mut target = remote(&lab, &this_lvsform());
    target.ssh.user = netns::TEST_USER.into();
    let name = "net.ipv4.conf.lo.arp_ignore".to_string();
    let before = ns.sysctl(&name);
    let change = DirectorChange::SetSysctl {
        name: name.clone(),
        value: if before == "1" { "0" } else { "1" }.into(),
        before: Some(before.clone()),
    };
    let director = agent::connect(&target, false).expect("agent");
    let error = director.settings().apply(&change).unwrap_err();
    let help = miette::Diagnostic::help(&error).map(|h| h.to_string());
    assert!(error.to_string().contains("Permission denied"), "{error}");
    assert!(
        help.is_some_and(|h| h.contains("set `sudo = true` in the director's ssh block")),
        "the help travels apart: {error}"
    );
    assert_eq!(error.errno(), Some(libc::EACCES), "and the errno with it");
    assert_eq!(ns.sysctl(&name), before, "nothing changed");
    drop(director);

    target.ssh.sudo = true;
    let director = agent::connect(&target, false).expect("agent through sudo");
    let mut settings = director.settings();
    settings
        .apply(&change)
        .expect("passwordless sudo (granted in the namespace's sudoers.d)");
    assert_ne!(ns.sysctl(&name), before);
    settings.apply(&change.inverse()).expect("undo");
    assert_eq!(ns.sysctl(&name), before);
}

/// The link to the director cut before a large batch is sent: the send gives up within
/// the connection's user timeout (not TCP's quarter of an hour), the batch failed (it was
/// never whole there), the link fails at once after, and letting go of it does not wait.
#[test]
fn a_link_cut_while_sending_gives_up_in_bounded_time_and_lets_go_at_once() {
    let Some(lab) = Lab::new_or_skip(1) else {
        return;
    };
    let director = agent::connect(&remote(&lab, &this_lvsform()), false).expect("agent");
    lab.hosts[0].exec(&["ip", "link", "set", "eth0", "down"]);
    // Megabytes: more than the socket's buffers hold.
    let deletion = lvsform::ipvs::Change::DelService {
        key: lvsform::model::ServiceKey::Fwmark {
            mark: 1,
            family: lvsform::model::Family::Ipv4,
        },
    };
    let changes = vec![deletion; 100_000];
    let start = std::time::Instant::now();
    let error = director.ipvs().apply(&changes).expect_err("cut");
    let gave_up = start.elapsed();
    assert!(gave_up < Duration::from_secs(40), "{gave_up:?}");
    assert!(
        gave_up > Duration::from_secs(5),
        "it waited for the link: {gave_up:?}"
    );
    assert_eq!(error.failed.len(), changes.len(), "{error}");
    assert!(error.in_doubt.is_empty());
    assert!(error.to_string().contains("lost the connection"), "{error}");
    let start = std::time::Instant::now();
    assert!(director.ipvs().observe().is_err());
    drop(director);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}
