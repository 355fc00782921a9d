//! Deciding a file's type while it streams past: the answer does not depend on how the bytes are
//! split into pieces, and agrees with sniffing the whole file.

#![no_main]

use docent_documents::extract::{Sniffer, sniff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let whole = sniff(rest, Some("upload.md"));
    let mut streamed = Sniffer::new(Some("upload.md"));
    for piece in rest.chunks(usize::from(split).max(1)) {
        streamed.feed(piece);
    }
    assert_eq!(streamed.finish(), whole);
});
