//! Fuzz target `config`: see `gatebot::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatebot::fuzzing::config(data));
