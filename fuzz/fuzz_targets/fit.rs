#![no_main]
//! Fuzz target: see `smtp_core_fuzz::fit`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| smtp_core_fuzz::fit::check(data));
