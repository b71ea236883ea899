//! `LVSFORM_LOG=debug`: what lvsform did, on stderr, for people debugging and benchmarks.

use std::sync::OnceLock;
use std::time::Instant;

pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("LVSFORM_LOG").is_ok_and(|v| v == "debug"))
}

pub fn debug(message: impl FnOnce() -> String) {
    if enabled() {
        eprintln!("debug: {}", message());
    }
}

/// Runs `work` and logs how long it took.
pub fn timed<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = work();
    debug(|| format!("{what} in {:.2}s", start.elapsed().as_secs_f64()));
    result
}

/// The peak resident memory of this process, from /proc.
pub fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
