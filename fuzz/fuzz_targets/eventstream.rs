//! The AWS event-stream decoder, whole and cut into pieces.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llmnode::fuzzing::eventstream(data));
