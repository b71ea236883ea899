//! A saved plan is something anyone may hand over: any text parses or is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsform::planfile::PlanFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PlanFile::parse(text, std::path::Path::new("fuzzed.plan"));
    }
});
