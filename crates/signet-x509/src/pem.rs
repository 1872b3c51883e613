//! PEM (RFC 7468) encoding and decoding.

use base64ct::{Base64, Encoding};

use crate::asn1::malformed;

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// Encodes DER as PEM with the given label (e.g. `CERTIFICATE`), 64-column lines, trailing
/// newline.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = Base64::encode_string(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 34);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // Base64 output is ASCII, so splitting at any byte offset stays on char boundaries.
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Decodes the first PEM block; returns (label, DER).
///
/// Text before the block (e.g. `openssl x509 -text` output) and after it is ignored. The
/// base64 body may use any line width and CRLF line ends; encapsulated headers (encrypted
/// legacy PEM) are rejected.
pub fn decode(input: &[u8]) -> crate::Result<(String, Vec<u8>)> {
    match next_block(input)? {
        Some((label, der, _)) => Ok((label, der)),
        None => Err(malformed("PEM", "no -----BEGIN line found")),
    }
}

/// Decodes every PEM block with the given label, in order.
pub fn decode_all(input: &[u8], label: &str) -> crate::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some((l, der, tail)) = next_block(rest)? {
        if l == label {
            out.push(der);
        }
        rest = tail;
    }
    Ok(out)
}

/// A decoded block: label, DER, and the input after the block.
type Block<'a> = (String, Vec<u8>, &'a [u8]);

/// Finds and decodes the next block.
fn next_block(input: &[u8]) -> crate::Result<Option<Block<'_>>> {
    let Some(begin) = find(input, BEGIN) else {
        return Ok(None);
    };
    let after_begin = &input[begin + BEGIN.len()..];
    let line_end = after_begin
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(after_begin.len());
    let line = trim_ascii_end(&after_begin[..line_end]);
    let label = line
        .strip_suffix(DASHES)
        .ok_or_else(|| malformed("PEM", "BEGIN line does not end with -----"))?;
    if !valid_label(label) {
        return Err(malformed("PEM", "invalid label"));
    }
    let label = String::from_utf8_lossy(label).into_owned();

    let body_and_rest = after_begin.get(line_end + 1..).unwrap_or_default();
    let end = find(body_and_rest, END)
        .ok_or_else(|| malformed("PEM", format!("no -----END {label}----- line")))?;
    let body = &body_and_rest[..end];
    let after_end = &body_and_rest[end + END.len()..];
    let end_label = after_end
        .strip_prefix(label.as_bytes())
        .and_then(|r| r.strip_prefix(DASHES))
        .ok_or_else(|| malformed("PEM", format!("END line does not match BEGIN {label}")))?;

    if body.contains(&b':') {
        return Err(malformed(
            "PEM",
            "encapsulated headers (encrypted PEM) are not supported",
        ));
    }
    let b64: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = Base64::decode_vec(
        std::str::from_utf8(&b64).map_err(|_| malformed("PEM", "body is not base64"))?,
    )
    .map_err(|_| malformed("PEM", "body is not valid base64"))?;
    if der.is_empty() {
        return Err(malformed("PEM", "empty body"));
    }
    Ok(Some((label, der, end_label)))
}

/// RFC 7468 labels: printable ASCII; hyphens and spaces only inside, never doubled.
fn valid_label(label: &[u8]) -> bool {
    label
        .iter()
        .all(|&b| (0x21..0x7f).contains(&b) || b == b' ')
        && !label.starts_with(b" ")
        && !label.ends_with(b" ")
        && !label.starts_with(b"-")
        && !label.ends_with(b"-")
        && !label.windows(2).any(|w| w == b"  " || w == b"--")
}

fn trim_ascii_end(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &s[..end]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// True when the input looks like PEM (starts, after whitespace, with `-----BEGIN`).
pub fn looks_like_pem(input: &[u8]) -> bool {
    let trimmed = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &input[i..]);
    trimmed.is_some_and(|t| t.starts_with(b"-----BEGIN"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_line_width() {
        for len in [1usize, 47, 48, 49, 300] {
            let der: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let pem = encode("CERTIFICATE", &der);
            assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
            assert!(pem.lines().all(|l| l.len() <= 64));
            assert!(looks_like_pem(pem.as_bytes()));
            let (label, back) = decode(pem.as_bytes()).unwrap();
            assert_eq!((label.as_str(), back), ("CERTIFICATE", der));
        }
    }

    #[test]
    fn decode_all_filters_by_label_and_tolerates_text() {
        let text = format!(
            "Some preamble\r\n{}junk between\n{}{}",
            encode("CERTIFICATE", b"one").replace('\n', "\r\n"),
            encode("PRIVATE KEY", b"key"),
            encode("CERTIFICATE", b"two")
        );
        let all = decode_all(text.as_bytes(), "CERTIFICATE").unwrap();
        assert_eq!(all, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(decode(text.as_bytes()).unwrap().1, b"one");
        assert!(
            decode_all(b"nothing here", "CERTIFICATE")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rejects_broken_pem() {
        for bad in [
            &b""[..],
            b"-----BEGIN CERTIFICATE-----\nAAAA\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CRL-----\n",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE\nAAAA\n-----END CERTIFICATE-----\n",
            b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        ] {
            assert!(
                matches!(decode(bad), Err(crate::Error::Malformed { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
