//! Fuzz target `config`: see `gatebot::testing::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::testing::fuzzing::config(data));
