//! Bytes as the kernel might send them: every message and attribute decodes or fails with
//! an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsform::ipvs::codec::{Message, messages};

fuzz_target!(|data: &[u8]| {
    for message in messages(data).flatten() {
        let _ = Message::parse(message.payload);
    }
    let _ = Message::parse(data);
});
