//! What lvsform assumes where the configuration says nothing, written once.

use crate::model::{Mode, Scheduler, Timeouts};
use std::time::Duration;

/// The kernel's connection timeouts (TCP, TCP FIN-WAIT, UDP), which IPVS starts with.
pub const KERNEL_TIMEOUTS: Timeouts = Timeouts {
    tcp: 900,
    tcp_fin: 120,
    udp: 300,
};

/// How long removed real servers drain before they are deleted.
pub const DRAIN: Duration = Duration::from_secs(60);

/// As ipvsadm.
pub const SCHEDULER: Scheduler = Scheduler::Wlc;

/// As ipvsadm.
pub const MODE: Mode = Mode::Dr;

pub const SSH_PORT: u16 = 22;

/// How long an SSH connection and every remote command may take.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(10);

/// lvsform's own keepalived file on a director, which keepalived.conf includes.
pub const KEEPALIVED_FILE: &str = "/etc/keepalived/lvsform.conf";

/// Where keepalived writes its pid (`-p`, and its default).
pub const KEEPALIVED_PID_FILE: &str = "/run/keepalived.pid";

/// A health check's defaults: a check every 5 s, 2 s to connect, out after 2 failures.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
pub const CHECK_RETRIES: u32 = 2;

/// How long apply waits for keepalived to make the table its file says, after a reload.
pub const KEEPALIVED_SETTLE: Duration = Duration::from_secs(30);

/// How long a probe at apply waits for its answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
