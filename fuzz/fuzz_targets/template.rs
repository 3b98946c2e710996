//! The template engine: parse, resolve, render.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llmnode::fuzzing::template(data));
