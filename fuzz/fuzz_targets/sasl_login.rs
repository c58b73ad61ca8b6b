#![no_main]
//! Fuzz target: see `smtp_core_fuzz::sasl`.

use libfuzzer_sys::fuzz_target;
use smtp_core::Mechanism;

fuzz_target!(|data: &[u8]| smtp_core_fuzz::sasl::check(Mechanism::Login, data));
