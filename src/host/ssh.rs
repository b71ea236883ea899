//! Hosts over SSH (libssh2): the only module that uses ssh2. One session per host, opened
//! on first use and reused for every command; strict host-key checking unless the
//! configuration turns it off for that host.

use super::{Host, HostApplyError, HostChange, HostError, HostFacts, script};
use ssh2::{CheckResult, HashType, KnownHostFileKind, MethodType, Session};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Curve25519 first: the post-quantum hybrid that newer OpenSSH prefers costs seconds per
/// handshake on slow machines.
const KEX: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group14-sha256,diffie-hellman-group16-sha512";

/// Everything needed to open an SSH session to one host.
#[derive(Debug, Clone, PartialEq)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub private_key: Option<PathBuf>,
    pub agent: bool,
    pub known_hosts: PathBuf,
    pub sudo: bool,
    pub timeout: Duration,
    pub strict_host_key_checking: bool,
}

pub struct SshHost {
    target: SshTarget,
    session: Option<Session>,
}

struct Output {
    stdout: String,
    stderr: String,
    status: i32,
}

impl SshHost {
    pub fn new(target: SshTarget) -> SshHost {
        SshHost {
            target,
            session: None,
        }
    }

    fn ssh_error(&self, err: impl std::fmt::Display) -> HostError {
        ssh_error(&self.target, err)
    }

    fn run(&mut self, script: &str) -> Result<Output, HostError> {
        if self.session.is_none() {
            self.session = Some(open_session(&self.target)?);
        }
        let session = self.session.as_ref().expect("connected above");
        // The script goes on standard input, not in the command line, which the kernel caps
        // at 128 KiB per argument (a host with thousands of VIPs has a longer one). The
        // remote shell reads all of it before running any, so that no command in it can
        // read the rest of the script as its own input.
        let mut command = "sh -c 'eval \"$(cat)\"'".to_string();
        if self.target.sudo {
            command = format!("sudo -n {command}");
        }
        let run = || -> Result<Output, std::io::Error> {
            let mut channel = session.channel_session()?;
            channel.exec(&command)?;
            channel.write_all(script.as_bytes())?;
            channel.send_eof()?;
            let mut stdout = String::new();
            let mut stderr = String::new();
            channel.read_to_string(&mut stdout)?;
            channel.stderr().read_to_string(&mut stderr)?;
            channel.wait_close()?;
            Ok(Output {
                stdout,
                stderr,
                status: channel.exit_status()?,
            })
        };
        run().map_err(|e| {
            // A broken session is not reused.
            self.session = None;
            self.ssh_error(e)
        })
    }

    fn failure(&self, output: &Output, step: Option<String>) -> HostError {
        let host = self.target.host.clone();
        let stderr = output.stderr.trim().to_string();
        if stderr.contains("Permission denied")
            || stderr.contains("Read-only file system")
            || stderr.contains("Operation not permitted")
        {
            return HostError::Permission {
                host,
                detail: stderr,
            };
        }
        if self.target.sudo && stderr.starts_with("sudo:") {
            return HostError::Permission {
                host,
                detail: stderr,
            };
        }
        HostError::Remote {
            host,
            step,
            status: output.status,
            stderr,
        }
    }
}

impl Host for SshHost {
    fn name(&self) -> &str {
        &self.target.host
    }

    fn observe(&mut self) -> Result<HostFacts, HostError> {
        let output = self.run(&script::observe())?;
        if output.status != 0 {
            return Err(self.failure(&output, Some("read the host's settings".into())));
        }
        script::parse_facts(&self.target.host, &output.stdout)
    }

    fn apply(&mut self, changes: &[HostChange]) -> Result<(), HostApplyError> {
        let script = script::apply(changes).map_err(HostApplyError::refused)?;
        if self.session.is_none() {
            self.session = Some(open_session(&self.target).map_err(HostApplyError::refused)?);
        }
        // Once the script is on its way, a broken connection leaves every change in doubt.
        let output = self.run(&script).map_err(|error| HostApplyError {
            applied: 0,
            unknown: changes.len(),
            error,
        })?;
        let applied = script::completed(&output.stdout);
        if output.status == 0 && applied == changes.len() {
            return Ok(());
        }
        let step = changes.get(applied).map(ToString::to_string);
        Err(HostApplyError {
            applied,
            unknown: 0,
            error: self.failure(&output, step),
        })
    }
}

/// An authenticated SSH session to `t`, after the host-key check.
pub fn open_session(t: &SshTarget) -> Result<Session, HostError> {
    let connect_error = |detail: String| HostError::Connect {
        host: t.host.clone(),
        detail,
    };
    let addresses: Vec<_> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| connect_error(format!("cannot resolve the name: {e}")))?
        .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, t.timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("no answer within {}s", t.timeout.as_secs_f64())
            }
            Err(e) => last = e.to_string(),
        }
    }
    let stream = stream.ok_or_else(|| connect_error(format!("port {}: {last}", t.port)))?;
    keep_alive(&stream);
    // SSH sends each message as it is ready, several in a row at times (the key exchange,
    // a request): Nagle's algorithm would hold each one after the first until the peer's
    // delayed ACK, up to 40 ms apiece.
    stream
        .set_nodelay(true)
        .map_err(|e| connect_error(e.to_string()))?;
    let mut session = Session::new().map_err(|e| ssh_error(t, e))?;
    session.set_timeout(u32::try_from(t.timeout.as_millis()).unwrap_or(u32::MAX));
    session
        .method_pref(MethodType::Kex, KEX)
        .map_err(|e| ssh_error(t, e))?;
    if let Some(prefs) = host_key_prefs(&t.known_hosts, &t.host, t.port) {
        // Ask for a key type that known_hosts holds, or the check could never match.
        session
            .method_pref(MethodType::HostKey, &prefs)
            .map_err(|e| ssh_error(t, e))?;
    }
    session.set_tcp_stream(stream);
    session
        .handshake()
        .map_err(|e| connect_error(format!("SSH handshake failed: {e}")))?;
    check_host_key(t, &session)?;
    let auth = if t.agent && t.private_key.is_none() {
        session.userauth_agent(&t.user)
    } else {
        let key = t.private_key.as_deref().unwrap_or(Path::new(""));
        if !key.is_file() {
            return Err(HostError::Auth {
                host: t.host.clone(),
                user: t.user.clone(),
                detail: format!("the private key {} cannot be read", key.display()),
            });
        }
        session.userauth_pubkey_file(&t.user, None, key, None)
    };
    auth.map_err(|e| HostError::Auth {
        host: t.host.clone(),
        user: t.user.clone(),
        detail: e.message().to_string(),
    })?;
    Ok(session)
}

fn check_host_key(t: &SshTarget, session: &Session) -> Result<(), HostError> {
    let fingerprint = session
        .host_key_hash(HashType::Sha256)
        .map(|hash| format!("SHA256:{}", base64(hash)))
        .unwrap_or_else(|| "(unknown)".into());
    if !t.strict_host_key_checking {
        return Ok(()); // turned off for this host; the configuration warned about it
    }
    let (key, _) = session
        .host_key()
        .ok_or_else(|| ssh_error(t, "the host sent no host key"))?;
    let mut known = session.known_hosts().map_err(|e| ssh_error(t, e))?;
    let file = t.known_hosts.display().to_string();
    if t.known_hosts.is_file() {
        known
            .read_file(&t.known_hosts, KnownHostFileKind::OpenSSH)
            .map_err(|e| ssh_error(t, format!("cannot read {file}: {e}")))?;
    }
    match known.check_port(&t.host, t.port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(HostError::HostKeyMismatch {
            host: t.host.clone(),
            port: t.port,
            fingerprint,
            known_hosts: file,
        }),
        CheckResult::NotFound | CheckResult::Failure => Err(HostError::UnknownHostKey {
            host: t.host.clone(),
            port: t.port,
            fingerprint,
            known_hosts: file,
        }),
    }
}

fn ssh_error(t: &SshTarget, err: impl std::fmt::Display) -> HostError {
    HostError::Ssh {
        host: t.host.clone(),
        detail: err.to_string(),
    }
}

/// TCP keepalive and a user timeout on the connection: a host that vanishes mid-command
/// (power, network) is noticed within about 20 seconds, even while lvsform waits without
/// a timeout for a long request (a remote director's apply). Keepalive alone acts only on
/// an idle connection: data sent and never acknowledged is retried for some 15 minutes,
/// unless the user timeout ends it. A peer that is alive acknowledges at once, however
/// busy its program is (a full receive window is probed and answered).
fn keep_alive(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let set = |level, name, value: libc::c_int| {
        // SAFETY: setsockopt on a socket this function borrows, with an int-sized value.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 5);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 5);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
    set(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 20_000);
}

/// The host-key algorithms of the known_hosts lines for this host (plain, not hashed).
fn host_key_prefs(known_hosts: &Path, host: &str, port: u16) -> Option<String> {
    let text = std::fs::read_to_string(known_hosts).ok()?;
    let name = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let mut types: Vec<&str> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(kind)) = (fields.next(), fields.next()) else {
            continue;
        };
        // An "ssh-rsa" key is offered with SHA-2 signatures by current servers.
        let algorithms: &[&str] = match kind {
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => &[other],
        };
        if hosts.split(',').any(|h| h == name) {
            for algorithm in algorithms {
                if !types.contains(algorithm) {
                    types.push(algorithm);
                }
            }
        }
    }
    (!types.is_empty()).then(|| types.join(","))
}

/// Standard base64 without padding, as OpenSSH prints fingerprints.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_use_unpadded_base64() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE");
        assert_eq!(base64(b"M"), "TQ");
    }

    #[test]
    fn host_key_preferences_follow_known_hosts() {
        let dir = std::env::temp_dir().join(format!("lvsform-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("known_hosts");
        std::fs::write(&file, "10.0.0.1 ssh-ed25519 AAAA\n[10.0.0.1]:2222 ecdsa-sha2-nistp256 BBBB\nother,10.0.0.1 ssh-rsa CCCC\n").unwrap();
        assert_eq!(
            host_key_prefs(&file, "10.0.0.1", 22).as_deref(),
            Some("ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-rsa")
        );
        assert_eq!(
            host_key_prefs(&file, "10.0.0.1", 2222).as_deref(),
            Some("ecdsa-sha2-nistp256")
        );
        assert_eq!(host_key_prefs(&file, "10.0.0.2", 22), None);
        std::fs::remove_dir_all(dir).ok();
    }
}
