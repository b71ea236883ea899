//! keepalived on a director: services with a `health_check` are keepalived's (it runs
//! the checks and takes failing servers out), and lvsform writes them into one file of
//! its own, which the operator's keepalived.conf includes. Here: the check as declared,
//! the file, what is read of keepalived (its file, pid, version, include line and which
//! servers it holds down) and how a file is put in place (checked by keepalived first,
//! then a reload). lvsform never starts, stops or restarts keepalived.

pub mod conf;
pub mod render;
pub mod state;

use crate::defaults;
use crate::model::{Service, ServiceKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub use state::Down;

/// A `health_check` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub kind: Check,
    /// The port checked; none: each real server's.
    pub port: Option<u16>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Failures in a row before a server is taken out (at least 1).
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Check {
    Http { path: String, status: u16 },
    Tcp,
}

/// The top-level `vrrp` block (SPEC §10): one VRRP instance over the directors with a
/// `vrrp { priority }`, holding the VIPs of their services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vrrp {
    pub virtual_router_id: u8,
    /// Seconds between advertisements.
    pub advert_interval: u8,
    /// The other directors' DIPs as unicast peers, instead of multicast.
    pub unicast: bool,
    /// keepalived's `lvs_sync_daemon` on the instance's interface, following its state.
    pub sync_connections: bool,
}

/// Where lvsform's keepalived file is, and keepalived's pid file (`director { keepalived
/// { … } }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Files {
    pub file: String,
    pub pid_file: String,
}

impl Default for Files {
    fn default() -> Self {
        Files {
            file: defaults::KEEPALIVED_FILE.into(),
            pid_file: defaults::KEEPALIVED_PID_FILE.into(),
        }
    }
}

/// What lvsform reads of keepalived on a director.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// lvsform's file as it is (none: there is none).
    pub file: Option<String>,
    /// The keepalived that runs, read when the file exists or services need it; or why
    /// none can be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<Result<Daemon, String>>,
}

/// A running keepalived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daemon {
    pub pid: u32,
    /// As `keepalived --version` says it: `2.2.7`.
    pub version: String,
    /// The configuration it was started with.
    pub config: String,
    /// Whether that configuration includes lvsform's file.
    pub includes_file: bool,
    /// The real servers its checks hold down.
    #[serde(with = "crate::model::entries")]
    pub down: Down,
}

/// The oldest keepalived lvsform works with: the one its dump, flags and checks were
/// proven against is 2.2.7, and 2.2 is the oldest series with them all as they are.
pub const MIN_VERSION: (u32, u32) = (2, 2);

impl Daemon {
    /// Whether this keepalived is older than `MIN_VERSION`.
    pub fn too_old(&self) -> bool {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        version < MIN_VERSION
    }
}

/// What keepalived makes of `services` while its checks hold `down` down: a server held
/// down is out of the table, or under sh/mh (`inhibit_on_failure`) in its place at
/// weight 0.
pub fn held(
    services: &BTreeMap<ServiceKey, Service>,
    down: &Down,
) -> BTreeMap<ServiceKey, Service> {
    let mut held = services.clone();
    for (key, service) in held.iter_mut() {
        let in_place = render::holds_place(service.settings.scheduler);
        service
            .destinations
            .retain(|dest, _| in_place || !down.contains_key(&(*key, *dest)));
        for (dest, server) in service.destinations.iter_mut() {
            if down.contains_key(&(*key, *dest)) {
                server.weight = 0;
            }
        }
    }
    held
}

/// Why keepalived could not be read or given a file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum KeepalivedError {
    #[error("cannot {what} {path}: {source}")]
    File {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("keepalived rejects the new {path}, which was not put in place:\n{message}")]
    #[diagnostic(help(
        "lvsform renders only what keepalived accepts: report this with keepalived's message"
    ))]
    Rejected { path: String, message: String },
    #[error("keepalived {0}")]
    #[diagnostic(help(
        "start keepalived on the director: lvsform reloads it, and never starts it"
    ))]
    NotRunning(String),
    #[error("cannot signal keepalived (pid {pid}): {source}")]
    Signal { pid: u32, source: std::io::Error },
}

/// Reads lvsform's file, and the running keepalived when the file exists or `daemon`.
pub fn read(files: &Files, daemon: bool) -> Result<Facts, KeepalivedError> {
    let file = match std::fs::read_to_string(&files.file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(KeepalivedError::File {
                what: "read",
                path: files.file.clone(),
                source,
            });
        }
    };
    let daemon = (daemon || file.is_some()).then(|| {
        let has_services = file
            .as_deref()
            .is_some_and(|f| f.contains("virtual_server"));
        running(files, has_services)
    });
    Ok(Facts { file, daemon })
}

/// The running keepalived: its pid from the pid file, its version, its configuration,
/// and (`health`) the servers it holds down.
fn running(files: &Files, health: bool) -> Result<Daemon, String> {
    let pid = pid(files)?;
    let exe = format!("/proc/{pid}/exe");
    let output = Command::new(&exe)
        .arg("--version")
        .output()
        .map_err(|e| format!("(pid {pid}) cannot be asked its version: {e}"))?;
    let said = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    let version = said
        .split_whitespace()
        .find_map(|word| word.strip_prefix('v'))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("unknown")
        .to_string();
    let config = config_path(pid);
    let includes_file = conf::includes(Path::new(&config), Path::new(&files.file))
        .map_err(|e| format!("(pid {pid}): cannot read its configuration {config}: {e}"))?;
    let down = if health {
        state::parse(&dump(pid)?)
    } else {
        Down::new()
    };
    Ok(Daemon {
        pid,
        version,
        config,
        includes_file,
        down,
    })
}

/// The pid of the running keepalived, from its pid file.
fn pid(files: &Files) -> Result<u32, String> {
    let path = &files.pid_file;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("is not running here: no pid in {path} ({e})"))?;
    let pid: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("is not running here: {path} holds no pid"))?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "keepalived" {
        return Err(format!(
            "is not running here: pid {pid} from {path} is not keepalived"
        ));
    }
    Ok(pid)
}

/// The configuration file keepalived `pid` was started with (`-f FILE`, `--use-file`).
fn config_path(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let mut chosen = None;
    for (i, arg) in args.iter().enumerate() {
        if let Some(path) = arg.strip_prefix("--use-file=") {
            chosen = Some(path.to_string());
        } else if arg == "-f" || arg == "--use-file" {
            chosen = args.get(i + 1).cloned();
        } else if let Some(path) = arg.strip_prefix("-f").filter(|p| !p.is_empty()) {
            chosen = Some(path.to_string());
        }
    }
    let path = chosen.unwrap_or_else(|| "/etc/keepalived/keepalived.conf".into());
    if path.starts_with('/') {
        return path;
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    cwd.join(path).to_string_lossy().into_owned()
}

/// How long keepalived gets to write its state after SIGUSR1.
const DUMP_WAIT: Duration = Duration::from_secs(5);

/// keepalived's checker state: SIGUSR1 makes it write `/tmp/keepalived_check.data` (in
/// its own mount namespace, reached through /proc); inotify says when it is closed.
fn dump(pid: u32) -> Result<String, String> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    const NAME: &[u8] = b"keepalived_check.data";
    let dir = format!("/proc/{pid}/root/tmp");
    let failed = |what: &str| {
        format!(
            "(pid {pid}): cannot read its state ({what}: {})",
            std::io::Error::last_os_error()
        )
    };
    // SAFETY: plain system calls on a descriptor owned here, a NUL-terminated path and a
    // buffer whose length is passed; events are read unaligned within what was read.
    unsafe {
        let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
        if fd < 0 {
            return Err(failed("inotify"));
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let c_dir = std::ffi::CString::new(dir.clone()).map_err(|_| failed("path"))?;
        if libc::inotify_add_watch(fd.as_raw_fd(), c_dir.as_ptr(), libc::IN_CLOSE_WRITE) < 0 {
            return Err(failed(&dir));
        }
        if libc::kill(pid as libc::pid_t, libc::SIGUSR1) != 0 {
            return Err(failed("SIGUSR1"));
        }
        let deadline = Instant::now() + DUMP_WAIT;
        let header = std::mem::size_of::<libc::inotify_event>();
        let mut buffer = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "(pid {pid}) did not write {dir}/keepalived_check.data within {} s of SIGUSR1",
                    DUMP_WAIT.as_secs()
                ));
            }
            let mut poll = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            libc::poll(&mut poll, 1, left.as_millis() as libc::c_int);
            let read = libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len());
            let mut at = 0;
            while read > 0 && at + header <= read as usize {
                let event: libc::inotify_event =
                    std::ptr::read_unaligned(buffer.as_ptr().add(at).cast());
                let end = (at + header + event.len as usize).min(read as usize);
                let name = &buffer[at + header..end];
                let name = name.split(|b| *b == 0).next().unwrap_or_default();
                if name == NAME {
                    return std::fs::read_to_string(format!("{dir}/keepalived_check.data"))
                        .map_err(|e| format!("(pid {pid}): cannot read its state: {e}"));
                }
                at = end;
            }
        }
    }
}

/// Puts `content` in place as lvsform's file (none: removes it) and reloads keepalived.
/// keepalived checks a new file first (`keepalived -t`, with the running binary): a file
/// it rejects is never put in place. The file is replaced atomically, and put back as it
/// was when keepalived cannot be reloaded: an error means nothing changed.
pub fn write(files: &Files, content: Option<&str>) -> Result<(), KeepalivedError> {
    let pid = pid(files).map_err(KeepalivedError::NotRunning)?;
    let previous = std::fs::read_to_string(&files.file).ok();
    put(files, pid, content)?;
    // SAFETY: kill with a pid read from keepalived's own pid file, checked to be keepalived.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) } != 0 {
        let error = KeepalivedError::Signal {
            pid,
            source: std::io::Error::last_os_error(),
        };
        let _ = put(files, pid, previous.as_deref());
        return Err(error);
    }
    Ok(())
}

/// `content` in place as lvsform's file (none: no file), checked first by keepalived
/// `pid`'s own binary.
fn put(files: &Files, pid: u32, content: Option<&str>) -> Result<(), KeepalivedError> {
    let path = Path::new(&files.file);
    let failed = |what: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| KeepalivedError::File { what, path, source }
    };
    match content {
        Some(text) => {
            let name = path
                .file_name()
                .map_or("lvsform.conf".into(), |n| n.to_string_lossy());
            let new = path.with_file_name(format!(".{name}.lvsform-new"));
            write_synced(&new, text).map_err(failed("write", &new))?;
            let check = Command::new(format!("/proc/{pid}/exe"))
                .arg("-t")
                .arg("-f")
                .arg(&new)
                .output();
            let rejected = match check {
                Ok(output) if output.status.success() => None,
                Ok(output) => Some(
                    String::from_utf8_lossy(&output.stderr).trim().to_string()
                        + String::from_utf8_lossy(&output.stdout).trim(),
                ),
                Err(e) => Some(format!("cannot run `keepalived -t`: {e}")),
            };
            if let Some(message) = rejected {
                let _ = std::fs::remove_file(&new);
                return Err(KeepalivedError::Rejected {
                    path: files.file.clone(),
                    message,
                });
            }
            std::fs::rename(&new, path).map_err(failed("replace", path))?;
        }
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(failed("remove", path)(e));
            }
            _ => {}
        },
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn write_synced(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
