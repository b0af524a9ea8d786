//! Fuzz target `delivery`: see `gatebot::testing::fuzzing::delivery`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::testing::fuzzing::delivery(data));
