//! Demuxes arbitrary bytes from memory (`Demuxer::from_slice`): open, every stream
//! accessor, every packet, a handful of seeks (sensible and not) with reads after each.
//! Errors are fine; crashes, hangs, panics and `Error::Io` are not (a `Cursor` over a
//! slice never fails any read or seek ffio passes on, so an `Error::Io` would mean ffio
//! called the reader in a way it promises not to).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;
use common::{run_script, ErrClass, Outcome};

fuzz_target!(|data: &[u8]| {
    common::init();
    let records = run_script(|| ffio::Demuxer::from_slice(data), &|| 0);
    for r in &records {
        if let Outcome::Err(ErrClass::Io { .. }) | Outcome::Panicked(_) = r.outcome {
            panic!("from_slice gave {:?} in {:?}", r.outcome, r.phase);
        }
    }
    common::features("slice", &records);
});
