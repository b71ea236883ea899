//! What a real server prints for the read script, as a hostile host could print it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsform::host::parse_facts;

fuzz_target!(|data: &[u8]| {
    let _ = parse_facts("fuzz", &String::from_utf8_lossy(data));
});
