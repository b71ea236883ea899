//! A configuration file of any bytes: load, evaluate and validate end in diagnostics,
//! never in a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsform::config::{self, Inputs};
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    std::fs::write(dir.path().join("main.lvs.hcl"), data).expect("written");
    let _ = config::load(dir.path(), &Inputs::default());
});
