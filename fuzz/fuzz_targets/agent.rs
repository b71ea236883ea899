//! What a remote director sends: any bytes, read as the runner reads them (the agent's
//! hello, then framed responses, a table among them), are used or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsform::agent::{Hello, Response, TableParts, read_frame};

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    if read_frame::<Hello>(&mut input).is_err() {
        return;
    }
    let mut parts = TableParts::default();
    while let Ok(Some(response)) = read_frame::<Response>(&mut input) {
        match response {
            Response::TablePart(part) => {
                if parts.add(*part).is_err() {
                    return;
                }
            }
            Response::Done => {
                let _ = std::mem::take(&mut parts).finish();
            }
            _ => {}
        }
    }
});
