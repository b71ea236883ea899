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
    #[error("another lvsform apply holds the lock {path} (pid {holder}); waited {waited}s")]
    #[diagnostic(help("wait for it to finish, or pass --lock-timeout to wait longer"))]
    Held {
        path: String,
        holder: String,
        waited: u64,
    },
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
                    holder: holder.trim().to_string(),
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
}
