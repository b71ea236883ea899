//! Real-server hosts for tests and benchmarks: OpenSSH servers in network namespaces on
//! this machine, each with its own sysctls, addresses and host key. Everything is created
//! under unique names and removed on drop, even when a test fails.
//!
//! Each sshd runs in a private mount namespace where /etc/sysctl.d and /etc/sudoers.d are
//! scratch directories, so that file changes and sudo rules never touch this machine.
#![allow(dead_code)] // each test binary uses part of it

use lvsform::host::SshTarget;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The unprivileged account of the permission tests (created once, password field `*`).
pub const TEST_USER: &str = "lvsform-test";

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(argv: &[&str]) {
    let status = Command::new(argv[0])
        .args(&argv[1..])
        .stderr(Stdio::null())
        .status()
        .expect(argv[0]);
    assert!(status.success(), "{argv:?} failed");
}

fn output(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect(argv[0]);
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub struct SshHostNs {
    pub netns: String,
    veth: String,
    /// This machine's end of the link: the host's gateway if it needs one.
    pub local: Ipv4Addr,
    pub address: Ipv4Addr,
    /// An address on the same link where nobody answers.
    pub silent_address: Ipv4Addr,
    pub host_key_pub: PathBuf,
    sshd: Child,
    pub etc: PathBuf,
}

impl SshHostNs {
    /// Runs a command inside the namespace (root, this machine's tools).
    pub fn exec(&self, argv: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.netns];
        full.extend_from_slice(argv);
        output(&full)
    }

    pub fn sysctl(&self, name: &str) -> String {
        self.exec(&["sysctl", "-n", name]).trim().to_string()
    }

    /// The host key fingerprint as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        output(&["ssh-keygen", "-lf", self.host_key_pub.to_str().unwrap()])
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }
}

impl Drop for SshHostNs {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .stderr(Stdio::null())
            .status();
    }
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    pub hosts: Vec<SshHostNs>,
}

impl Lab {
    /// `Lab::new`, or none where it cannot run (not root, or no OpenSSH server): the test
    /// says so on stderr and passes without checking anything (the README lists this) —
    /// unless LVSFORM_TESTS_MUST_RUN is set, as `scripts/test` sets it: then it fails.
    pub fn new_or_skip(count: usize) -> Option<Lab> {
        // SAFETY: geteuid cannot fail.
        let missing = if unsafe { libc::geteuid() } != 0 {
            Some("it needs root (network namespaces)")
        } else if !Path::new("/usr/sbin/sshd").exists() {
            Some("it needs the OpenSSH server (apt-get install openssh-server)")
        } else {
            None
        };
        match missing {
            Some(why) if std::env::var_os("LVSFORM_TESTS_MUST_RUN").is_some() => {
                panic!("this test must run here, and {why}")
            }
            Some(why) => {
                eprintln!("skipped: {why}");
                None
            }
            None => Some(Lab::new(count)),
        }
    }

    /// `count` hosts, each an sshd in its own namespace, and a known_hosts file for them.
    pub fn new(count: usize) -> Lab {
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let client_key = dir.path().join("id_ed25519");
        run(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            client_key.to_str().unwrap(),
        ]);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
        let mut lab = Lab {
            known_hosts: dir.path().join("known_hosts"),
            client_key,
            hosts: Vec::new(),
            dir,
        };
        let mut known = String::new();
        let hosts: Vec<SshHostNs> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .map(|_| scope.spawn(|| lab.start_host(&authorized)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for host in &hosts {
            let key = std::fs::read_to_string(&host.host_key_pub).unwrap();
            let mut fields = key.split_whitespace();
            known.push_str(&format!(
                "{} {} {}\n",
                host.address,
                fields.next().unwrap(),
                fields.next().unwrap()
            ));
        }
        std::fs::write(&lab.known_hosts, known).unwrap();
        lab.hosts = hosts;
        lab
    }

    fn start_host(&self, authorized: &Path) -> SshHostNs {
        let unique = (std::process::id() % 4096) * 64 + NEXT.fetch_add(1, Ordering::SeqCst);
        let netns = format!("lvsf-{unique}");
        let veth = format!("lvsf{unique:x}");
        // A /29 per host in 10.213.0.0/16: .1 here, .2 the host, .3 silent.
        let base = u32::from(Ipv4Addr::new(10, 213, 0, 0)) + (unique % 8192) * 8;
        let (local, address, silent) = (
            Ipv4Addr::from(base + 1),
            Ipv4Addr::from(base + 2),
            Ipv4Addr::from(base + 3),
        );
        run(&["ip", "netns", "add", &netns]);
        run(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns,
        ]);
        run(&["ip", "addr", "add", &format!("{local}/29"), "dev", &veth]);
        run(&["ip", "link", "set", &veth, "up"]);
        for argv in [
            vec!["ip", "addr", "add", &format!("{address}/29"), "dev", "eth0"],
            vec!["ip", "link", "set", "eth0", "up"],
            vec!["ip", "link", "set", "lo", "up"],
        ] {
            let mut full = vec!["ip", "netns", "exec", netns.as_str()];
            full.extend(argv.iter().map(|s| &**s));
            run(&full);
        }
        let etc = self.dir.path().join(&netns);
        for sub in ["sysctl.d", "sudoers.d"] {
            std::fs::create_dir_all(etc.join(sub)).unwrap();
        }
        let sudoers = etc.join("sudoers.d/lvsform-test");
        std::fs::write(&sudoers, format!("{TEST_USER} ALL=(root) NOPASSWD: ALL\n")).unwrap();
        run(&["chmod", "0440", sudoers.to_str().unwrap()]);
        let host_key = etc.join("host_key");
        run(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            host_key.to_str().unwrap(),
        ]);
        let config = etc.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress {address}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile none\nStrictModes no\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nKexAlgorithms curve25519-sha256\nLogLevel ERROR\n",
                host_key.display(),
                authorized.display()
            ),
        )
        .unwrap();
        let script = format!(
            "mount --bind {0}/sysctl.d /etc/sysctl.d && mount --bind {0}/sudoers.d /etc/sudoers.d && exec /usr/sbin/sshd -D -e -f {1}",
            etc.display(),
            config.display()
        );
        let sshd = Command::new("ip")
            .args([
                "netns",
                "exec",
                &netns,
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ])
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd");
        // Generous: on a busy machine (tests in parallel, a VM beside) sshd once took
        // over 10 s to listen.
        let deadline = Instant::now() + Duration::from_secs(30);
        let target = SocketAddr::from((address, 22));
        while TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "sshd in {netns} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        SshHostNs {
            netns,
            veth,
            local,
            address,
            silent_address: silent,
            host_key_pub: host_key.with_extension("pub"),
            sshd,
            etc,
        }
    }

    /// How lvsform reaches host `index` as root.
    pub fn target(&self, index: usize) -> SshTarget {
        SshTarget {
            host: self.hosts[index].address.to_string(),
            port: 22,
            user: "root".into(),
            private_key: Some(self.client_key.clone()),
            agent: false,
            known_hosts: self.known_hosts.clone(),
            sudo: false,
            timeout: Duration::from_secs(5),
            strict_host_key_checking: true,
        }
    }
}

/// Creates the unprivileged test account once (a `*` password field: key login allowed).
pub fn ensure_test_user() {
    let exists = Command::new("id")
        .arg(TEST_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    if !exists {
        let _ = Command::new("useradd")
            .args(["-M", "-d", "/nonexistent", "-s", "/bin/sh", TEST_USER])
            .status();
    }
    run(&["usermod", "-p", "*", TEST_USER]);
}
