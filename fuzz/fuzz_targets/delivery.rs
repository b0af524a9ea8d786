//! Fuzz target `delivery`: see `gatebot::fuzzing::delivery`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::fuzzing::delivery(data));
