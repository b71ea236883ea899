//! What a remote director sends: any bytes, read as the runner reads them (the agent's
//! hello, then framed responses, a table among them), are used or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsform::agent::{Hello, Response, read_frame};
use lvsform::ipvs::Table;

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    if read_frame::<Hello>(&mut input).is_err() {
        return;
    }
    while let Ok(Some(response)) = read_frame::<Response>(&mut input) {
        if let Response::Table(wire) = response {
            let _ = Table::try_from(*wire);
        }
    }
});
