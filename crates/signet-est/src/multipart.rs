//! The `serverkeygen` answer body (RFC 7030 §4.4.2): a `multipart/mixed` entity (RFC 2046
//! §5.1) of two base64 parts, the private key first, the certificate second.
//!
//! ```text
//! --BOUNDARY CRLF
//! Content-Type: application/pkcs8 CRLF
//! Content-Transfer-Encoding: base64 CRLF
//! CRLF
//! <base64 PKCS#8 in 64-column lines, each ending CRLF>
//! --BOUNDARY CRLF
//! Content-Type: application/pkcs7-mime; smime-type=certs-only CRLF
//! Content-Transfer-Encoding: base64 CRLF
//! CRLF
//! <base64 certs-only PKCS#7>
//! --BOUNDARY-- CRLF
//! ```
//!
//! The CRLF ending the last base64 line belongs to the next delimiter (RFC 2046: a delimiter
//! is CRLF `--` boundary), so a part's content is its base64 without a final line break. A
//! base64 alphabet has no `-`, so no content line can start with `--` and no boundary can
//! appear inside a part, whatever the boundary's characters.
//!
//! The body holds the private key: it is written once into a buffer allocated at its final
//! size (no reallocation leaves a copy behind) and returned as [`Zeroizing`], so it is wiped
//! when the server drops it after writing the response.

use base64ct::{Base64, Encoding};
use zeroize::{Zeroize, Zeroizing};

/// The media type of the private key part (RFC 7030 §4.4.2, RFC 5958).
pub const PKCS8_TYPE: &str = "application/pkcs8";

/// Raw bytes per base64 line: 48 bytes make the 64 characters of one line.
const LINE_BYTES: usize = 48;

/// The `Content-Type` header value of a body written with `boundary`.
pub fn content_type(boundary: &str) -> String {
    format!("multipart/mixed; boundary={boundary}")
}

/// The two-part body: `key_der` (PKCS#8, unencrypted) under [`PKCS8_TYPE`], then
/// `certs_der` (a certs-only PKCS#7) under `certs_type`, both base64 in 64-column lines.
///
/// `boundary` must be 1-70 characters of RFC 2046's `bchars` without a final space; the
/// caller makes it (see [`new_boundary`]).
pub fn two_part_body(
    boundary: &str,
    key_der: &[u8],
    certs_type: &str,
    certs_der: &[u8],
) -> Zeroizing<Vec<u8>> {
    let headers = |media: &str| {
        format!(
            "--{boundary}\r\nContent-Type: {media}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        )
    };
    let (key_head, certs_head) = (headers(PKCS8_TYPE), headers(certs_type));
    let close = format!("--{boundary}--\r\n");
    let total = key_head.len()
        + base64_lines_len(key_der.len())
        + certs_head.len()
        + base64_lines_len(certs_der.len())
        + close.len();
    let mut out = Zeroizing::new(Vec::with_capacity(total));
    out.extend_from_slice(key_head.as_bytes());
    push_base64_lines(&mut out, key_der);
    out.extend_from_slice(certs_head.as_bytes());
    push_base64_lines(&mut out, certs_der);
    out.extend_from_slice(close.as_bytes());
    debug_assert_eq!(out.len(), total, "the body was allocated at its final size");
    out
}

/// A fresh boundary: `signet-est-` and 32 random hex digits (RFC 2046 asks only that it
/// not occur in the parts, which base64 content guarantees; randomness keeps it from
/// looking predictable in logs or proxies).
pub fn new_boundary() -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut random = [0u8; 16];
    aws_lc_rs::rand::fill(&mut random)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("signet-est-{hex}"))
}

/// Size of `n` bytes as base64 lines of 64 characters, each ending CRLF.
fn base64_lines_len(n: usize) -> usize {
    let full = n / LINE_BYTES;
    let rest = n % LINE_BYTES;
    full * (64 + 2)
        + if rest == 0 {
            0
        } else {
            rest.div_ceil(3) * 4 + 2
        }
}

/// Appends `der` as base64 lines ending CRLF, through a stack buffer wiped afterwards (so
/// no unzeroized copy of a key's text is left on the heap or the stack).
fn push_base64_lines(out: &mut Vec<u8>, der: &[u8]) {
    let mut line = [0u8; 64];
    for chunk in der.chunks(LINE_BYTES) {
        // 48 bytes or fewer always fit in 64 characters.
        if let Ok(text) = Base64::encode(chunk, &mut line) {
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    line.zeroize();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::decode_base64_body;

    const CERTS: &str = "application/pkcs7-mime; smime-type=certs-only";

    /// Splits a body on its boundary as a MIME reader would: (headers, content) per part.
    fn parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
        let text = std::str::from_utf8(body).expect("ASCII");
        let open = format!("--{boundary}\r\n");
        let close = format!("\r\n--{boundary}--\r\n");
        let inner = text
            .strip_prefix(&open)
            .and_then(|t| t.strip_suffix(&close))
            .expect("opening and closing delimiters");
        inner
            .split(&format!("\r\n{open}"))
            .map(|part| {
                let (head, content) = part.split_once("\r\n\r\n").expect("headers, blank line");
                (
                    head.to_owned(),
                    decode_base64_body(content.as_bytes()).expect("base64"),
                )
            })
            .collect()
    }

    #[test]
    fn two_parts_round_trip_for_every_length() {
        let boundary = "b-1";
        for (key_len, certs_len) in [(1, 2), (2, 1), (47, 48), (48, 49), (138, 900), (1218, 5)] {
            let key: Vec<u8> = (0..key_len).map(|i| (i * 7) as u8).collect();
            let certs: Vec<u8> = (0..certs_len).map(|i| (i * 13 + 1) as u8).collect();
            let body = two_part_body(boundary, &key, CERTS, &certs);
            // Allocated once at the exact size.
            assert_eq!(body.len(), body.capacity(), "{key_len} {certs_len}");
            let got = parts(&body, boundary);
            assert_eq!(got.len(), 2);
            assert_eq!(
                got[0].0,
                "Content-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64"
            );
            assert_eq!(
                got[1].0,
                format!("Content-Type: {CERTS}\r\nContent-Transfer-Encoding: base64")
            );
            assert_eq!(got[0].1, key);
            assert_eq!(got[1].1, certs);
            let text = String::from_utf8(body.to_vec()).unwrap();
            assert!(
                text.split("\r\n")
                    .all(|l| l.len() <= 64 + "--".len() + boundary.len() + 2)
            );
            assert!(
                !text.replace("\r\n", "").contains('\n'),
                "CRLF line ends only"
            );
        }
    }

    #[test]
    fn lines_are_64_columns_and_the_header_names_the_boundary() {
        let key = vec![0xab; 200];
        let body = two_part_body("xyz", &key, CERTS, &[1, 2, 3]);
        let text = std::str::from_utf8(&body).unwrap();
        let key_lines: Vec<&str> = text
            .split("\r\n")
            .skip_while(|l| !l.is_empty())
            .skip(1)
            .take_while(|l| !l.starts_with("--"))
            .collect();
        assert_eq!(
            key_lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [64, 64, 64, 64, 12]
        );
        assert!(text.starts_with("--xyz\r\n") && text.ends_with("\r\n--xyz--\r\n"));
        assert_eq!(content_type("xyz"), "multipart/mixed; boundary=xyz");
    }

    #[test]
    fn boundaries_are_fresh_and_valid() {
        let a = new_boundary().unwrap();
        let b = new_boundary().unwrap();
        assert_ne!(a, b);
        assert!(a.len() <= 70);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    }
}
