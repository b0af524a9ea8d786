//! Fuzz target `signature`: see `gatebot::fuzzing::signature`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::fuzzing::signature(data));
