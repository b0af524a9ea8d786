//! Fuzz target `commands`: see `gatebot::fuzzing::commands`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::fuzzing::commands(data));
