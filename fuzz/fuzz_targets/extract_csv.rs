//! The csv extractor on arbitrary bytes.

#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::extract(docent_documents::extract::MediaType::Csv, data);
});
