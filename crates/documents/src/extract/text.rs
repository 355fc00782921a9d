//! Decoding text: UTF-8 (with or without a BOM) or UTF-16 with a BOM; invalid sequences become
//! U+FFFD instead of failing the document.

/// Decodes `bytes` as text.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let (encoding, bom) = encoding_rs::Encoding::for_bom(bytes).unwrap_or((encoding_rs::UTF_8, 0));
    let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
    text.into_owned()
}
