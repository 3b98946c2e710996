//! The workflow parser and validator.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llmnode::fuzzing::workflow(data));
