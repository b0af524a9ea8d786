//! Fuzz target `signature`: see `gatebot::testing::fuzzing::signature`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::testing::fuzzing::signature(data));
