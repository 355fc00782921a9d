//! The gemini adapter's SSE decoder on arbitrary bytes, split into arbitrary pieces.

#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::decode(data, docent_infrastructure::chat_models::sse::gemini);
});
