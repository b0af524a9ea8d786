//! Fuzz target `events`: see `gatebot::testing::fuzzing::events`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::testing::fuzzing::events(data));
