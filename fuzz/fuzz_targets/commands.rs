//! Fuzz target `commands`: see `gatebot::testing::fuzzing::commands`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::testing::fuzzing::commands(data));
