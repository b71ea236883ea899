//! keepalived's files as lvsform reads them: a director's lvsform file (sent by a remote
//! director, read by the planner: its services and its VRRP priority), keepalived's state
//! dump, a configuration to import.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsform::keepalived::{conf, state};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = conf::services(text);
    let _ = conf::vrrp_priority(text);
    let _ = state::parse(text);
});
