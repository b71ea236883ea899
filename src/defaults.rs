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
