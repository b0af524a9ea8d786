//! Fuzz target `events`: see `gatebot::fuzzing::events`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::fuzzing::events(data));
