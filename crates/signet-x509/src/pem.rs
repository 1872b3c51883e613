//! PEM (RFC 7468) encoding and decoding.

/// Encodes DER as PEM with the given label (e.g. `CERTIFICATE`), 64-column lines, trailing
/// newline.
pub fn encode(label: &str, der: &[u8]) -> String {
    let _ = (label, der);
    unimplemented!()
}

/// Decodes the first PEM block; returns (label, DER).
pub fn decode(input: &[u8]) -> crate::Result<(String, Vec<u8>)> {
    let _ = input;
    unimplemented!()
}

/// Decodes every PEM block with the given label, in order.
pub fn decode_all(input: &[u8], label: &str) -> crate::Result<Vec<Vec<u8>>> {
    let _ = (input, label);
    unimplemented!()
}

/// True when the input looks like PEM (starts, after whitespace, with `-----BEGIN`).
pub fn looks_like_pem(input: &[u8]) -> bool {
    let trimmed = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &input[i..]);
    trimmed.is_some_and(|t| t.starts_with(b"-----BEGIN"))
}
