//! One apply per director at a time: an exclusive lock on a file that names its holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

pub const LOCK_FILE: &str = "/run/lvsform.lock";

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    #[error("cannot open the lock file {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the lock file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{} the lock {path}{}; waited {waited}s", holder.who(), holder.which())]
    #[diagnostic(help("{}", holder.help()))]
    Held {
        path: String,
        holder: Holder,
        waited: u64,
    },
}

/// Who holds a lock: the pid lvsform wrote into the lock file, and whether that process
/// is lvsform.
#[derive(Debug, Clone, PartialEq)]
pub enum Holder {
    Lvsform(u32),
    /// A process that is not lvsform: the pid the file names is gone or another program's
    /// (with its name), or the file names none.
    Other(Option<(u32, Option<String>)>),
}

impl Holder {
    /// From what the lock file says and what runs now.
    pub fn from_record(recorded: &str) -> Holder {
        let Ok(pid) = recorded.trim().parse::<u32>() else {
            return Holder::Other(None);
        };
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|name| name.trim().to_string());
        match name {
            // The kernel keeps 15 bytes of a name: lvsform's own, or a build's (lvsform-…).
            Some(name) if name.starts_with("lvsform") => Holder::Lvsform(pid),
            name => Holder::Other(Some((pid, name))),
        }
    }

    fn who(&self) -> &'static str {
        match self {
            Holder::Lvsform(_) => "another lvsform apply holds",
            Holder::Other(_) => "a process that is not lvsform holds",
        }
    }

    fn which(&self) -> String {
        match self {
            Holder::Lvsform(pid) => format!(" (pid {pid})"),
            Holder::Other(Some((pid, Some(name)))) => format!(" (pid {pid}, {name})"),
            Holder::Other(Some((pid, None))) => {
                format!(" (the file names pid {pid}, which no longer runs)")
            }
            Holder::Other(None) => " (the file names no pid)".into(),
        }
    }

    fn help(&self) -> &'static str {
        match self {
            Holder::Lvsform(_) => "wait for it to finish, or pass --lock-timeout to wait longer",
            Holder::Other(_) => {
                "find it with `fuser -v` on the lock file: lvsform takes the lock only when no other process holds the file locked"
            }
        }
    }
}

/// Held until dropped (the kernel releases it if the process dies).
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock, waiting up to `timeout`; the error names the holder's pid.
    pub fn acquire(timeout: Duration) -> Result<Lock, LockError> {
        Lock::acquire_at(LOCK_FILE, timeout)
    }

    pub fn acquire_at(path: &str, timeout: Duration) -> Result<Lock, LockError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| LockError::Open {
                path: path.to_string(),
                source,
            })?;
        let start = Instant::now();
        loop {
            // SAFETY: flock on a file descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                file.set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| writeln!(file, "{}", std::process::id()))
                    .map_err(|source| LockError::Write {
                        path: path.to_string(),
                        source,
                    })?;
                return Ok(Lock { _file: file });
            }
            if start.elapsed() >= timeout {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(LockError::Held {
                    path: path.to_string(),
                    holder: Holder::from_record(&holder),
                    waited: timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_second_holder_waits_then_fails_naming_the_first() {
        let path = std::env::temp_dir().join(format!("lvsform-lock-{}", std::process::id()));
        let path = path.to_str().unwrap();
        let first = Lock::acquire_at(path, Duration::ZERO).expect("free");
        // flock locks belong to the open file: a second open in this process conflicts too.
        let error = Lock::acquire_at(path, Duration::from_millis(200))
            .err()
            .expect("held");
        let message = error.to_string();
        assert!(
            message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        drop(first);
        assert!(Lock::acquire_at(path, Duration::ZERO).is_ok());
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn a_holder_that_is_not_lvsform_is_named_as_such() {
        let path = std::env::temp_dir().join(format!("lvsform-flock-{}", std::process::id()));
        let path = path.to_str().unwrap();
        std::fs::write(path, "").unwrap();
        // Another program holds the file locked (and wrote no pid into it).
        // In a process group of its own, so that its sleep goes with it; no output, so
        // that nothing holds the test's output open.
        let mut holder = std::process::Command::new("flock")
            .args([path, "sleep", "30"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("flock (util-linux)");
        // Wait until it holds the lock, without taking it (which writes a pid).
        let probe = File::open(path).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // SAFETY: flock on a file descriptor this test owns.
        while unsafe { libc::flock(probe.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
            // SAFETY: as above.
            unsafe { libc::flock(probe.as_raw_fd(), libc::LOCK_UN) };
            assert!(
                std::time::Instant::now() < deadline,
                "flock never took the lock"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let error = Lock::acquire_at(path, Duration::ZERO).err().expect("held");
        // SAFETY: kill(2) on the process group this test started.
        unsafe { libc::kill(-(holder.id() as i32), libc::SIGKILL) };
        let _ = holder.wait();
        let message = error.to_string();
        assert!(
            message.contains("a process that is not lvsform holds the lock")
                && message.contains("(the file names no pid)"),
            "{message}"
        );
        std::fs::remove_file(path).ok();
        assert_eq!(
            Holder::from_record(&std::process::id().to_string()),
            Holder::Lvsform(std::process::id()),
            "this test's own binary is lvsform-…"
        );
        let init = Holder::from_record("1");
        assert!(
            matches!(init, Holder::Other(Some((1, Some(_))))),
            "{init:?}"
        );
    }
}
