//! The checks behind the fuzz targets, one module per target family.
//!
//! Each `check` takes the raw fuzzer input, drives the public smtp-core API
//! with it and panics when a property does not hold; libFuzzer reports the
//! panic as a crash. Keeping them in a library lets `tests/replay.rs` run
//! the committed corpus and the regression inputs through the very same
//! code with plain `cargo test`, without libFuzzer.

pub mod address;
pub mod data;
pub mod envelope;
pub mod fit;
pub mod header;
pub mod reply;
pub mod sasl;
pub mod util;
