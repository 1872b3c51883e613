//! A bounded BER to DER normaliser for inbound CMS.
//!
//! SCEP clients send CMS in BER: indefinite lengths (`openssl cms -stream`, Java's Bouncy
//! Castle) and constructed OCTET STRINGs, the encrypted or encapsulated content split into
//! chunks (macOS, iOS). [`normalize`] rewrites such input with definite minimal lengths and
//! every constructed OCTET STRING joined into one primitive OCTET STRING, so the crate's strict
//! DER [`Reader`](crate::asn1::Reader) can read it. It is used for inbound CMS only; the other
//! parsers of the crate stay strict.
//!
//! Limits: at most [`MAX_INPUT`] octets in and [`MAX_DEPTH`] levels of nesting. Each nested
//! element adds at most one octet (a definite length of three octets replaces an indefinite
//! length's end-of-contents pair), so the output is bounded by 1.5 times the input; the
//! working buffers along the current path hold disjoint parts of it.
//!
//! It does not sort SET OF (a signature covers the encoding as sent) and does not touch
//! primitive values. A `[n] IMPLICIT OCTET STRING` in constructed form (EnvelopedData's
//! encryptedContent) cannot be told from an explicit tag, so it keeps its chunks and the
//! CMS parser joins them.

use crate::asn1::{self, malformed};

/// The largest CMS message accepted, in octets (a SCEP PKCSReq with a 4096-bit RSA request
/// is under 10 KiB).
pub const MAX_INPUT: usize = 256 * 1024;

/// The deepest nesting of constructed elements accepted. CMS with certificates inside nests
/// about a dozen levels.
pub const MAX_DEPTH: usize = 32;

const WHAT: &str = "CMS (BER)";

/// Rewrites one BER element, which must fill `input`, as DER lengths (see the module doc).
pub(crate) fn normalize(input: &[u8]) -> crate::Result<Vec<u8>> {
    if input.len() > MAX_INPUT {
        return Err(malformed(
            WHAT,
            format!("{} octets (at most {MAX_INPUT} are accepted)", input.len()),
        ));
    }
    let mut rest = input;
    let mut out = Vec::with_capacity(input.len());
    element(&mut rest, 0, &mut out)?;
    if !rest.is_empty() {
        return Err(malformed(
            WHAT,
            format!("{} octets of trailing data", rest.len()),
        ));
    }
    Ok(out)
}

/// A BER length: definite (any length-octet count up to 4, minimal or not) or indefinite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Length {
    Definite(usize),
    Indefinite,
}

/// Reads the tag and length octets at the start of `input`.
fn header(input: &mut &[u8]) -> crate::Result<(u8, Length)> {
    let (&tag, after_tag) = input
        .split_first()
        .ok_or_else(|| malformed(WHAT, "unexpected end of data"))?;
    if tag & 0x1f == 0x1f {
        return Err(malformed(
            WHAT,
            format!("unsupported high tag number form (0x{tag:02x})"),
        ));
    }
    let (&first, after_first) = after_tag
        .split_first()
        .ok_or_else(|| malformed(WHAT, "truncated length"))?;
    let (len, rest) = match first {
        0x00..=0x7f => (Length::Definite(usize::from(first)), after_first),
        0x80 => (Length::Indefinite, after_first),
        _ => {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(malformed(WHAT, "length too large"));
            }
            let (octets, rest) = after_first
                .split_at_checked(n)
                .ok_or_else(|| malformed(WHAT, "truncated length"))?;
            let len = octets
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (Length::Definite(len), rest)
        }
    };
    *input = rest;
    Ok((tag, len))
}

/// Normalises the element at the start of `input` into `out` and advances `input` past it.
fn element(input: &mut &[u8], depth: usize, out: &mut Vec<u8>) -> crate::Result<()> {
    let (tag, len) = header(input)?;
    if tag == 0x00 {
        return Err(malformed(WHAT, "unexpected end-of-contents"));
    }
    let constructed = tag & 0x20 != 0;
    if !constructed {
        let Length::Definite(len) = len else {
            return Err(malformed(WHAT, "indefinite length on a primitive value"));
        };
        let (value, rest) = input
            .split_at_checked(len)
            .ok_or_else(|| malformed(WHAT, "truncated value"))?;
        *input = rest;
        asn1::push_tlv(out, tag, value);
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(malformed(
            WHAT,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    // A constructed OCTET STRING becomes one primitive OCTET STRING of its chunks' octets.
    let (out_tag, joining) = if tag == asn1::OCTET_STRING | 0x20 {
        (asn1::OCTET_STRING, true)
    } else {
        (tag, false)
    };
    let mut content = Vec::new();
    match len {
        Length::Definite(len) => {
            let (mut inner, rest) = input
                .split_at_checked(len)
                .ok_or_else(|| malformed(WHAT, "truncated value"))?;
            *input = rest;
            while !inner.is_empty() {
                child(&mut inner, depth, joining, &mut content)?;
            }
        }
        Length::Indefinite => loop {
            match input {
                [0x00, 0x00, rest @ ..] => {
                    *input = rest;
                    break;
                }
                [] => return Err(malformed(WHAT, "missing end-of-contents")),
                _ => child(input, depth, joining, &mut content)?,
            }
        },
    }
    asn1::push_tlv(out, out_tag, &content);
    Ok(())
}

/// One child of a constructed element: a whole element, or, inside a constructed OCTET
/// STRING (`joining`), only the octets of an OCTET STRING chunk.
fn child(
    input: &mut &[u8],
    depth: usize,
    joining: bool,
    content: &mut Vec<u8>,
) -> crate::Result<()> {
    if !joining {
        return element(input, depth + 1, content);
    }
    match input.first() {
        Some(&asn1::OCTET_STRING) | Some(0x24) => {
            let mut chunk = Vec::new();
            element(input, depth + 1, &mut chunk)?;
            // `chunk` is one DER OCTET STRING: skip its header.
            let tlv = asn1::single(&chunk, asn1::OCTET_STRING, WHAT)?;
            content.extend_from_slice(tlv.value);
            Ok(())
        }
        Some(t) => Err(malformed(
            WHAT,
            format!("a constructed OCTET STRING holds tag 0x{t:02x}"),
        )),
        None => Err(malformed(WHAT, "unexpected end of data")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn der_passes_through() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        assert_eq!(normalize(&der).unwrap(), der);
    }

    #[test]
    fn indefinite_lengths_and_chunks_are_normalised() {
        // SEQUENCE (indefinite) { [0] (indefinite) { OCTET STRING (constructed, indefinite)
        // { "ab", "c" } }, INTEGER 5 with a non-minimal length }
        let ber = [
            0x30, 0x80, 0xa0, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00,
            0x00, 0x00, 0x00, 0x02, 0x81, 0x01, 0x05, 0x00, 0x00,
        ];
        let der = normalize(&ber).unwrap();
        assert_eq!(
            der,
            [
                0x30, 0x0a, 0xa0, 0x05, 0x04, 0x03, b'a', b'b', b'c', 0x02, 0x01, 0x05
            ]
        );
        // Nested constructed chunks inside a definite constructed OCTET STRING.
        let ber = [0x24, 0x08, 0x24, 0x03, 0x04, 0x01, b'x', 0x04, 0x01, b'y'];
        assert_eq!(normalize(&ber).unwrap(), [0x04, 0x02, b'x', b'y']);
    }

    #[test]
    fn bad_input_is_refused() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],                         // no end-of-contents
            &[0x30, 0x80, 0x00],                   // half an end-of-contents
            &[0x04, 0x80, 0x00, 0x00],             // indefinite primitive
            &[0x24, 0x03, 0x02, 0x01, 0x00],       // an INTEGER chunk in an OCTET STRING
            &[0x30, 0x02, 0x00, 0x00],             // end-of-contents in a definite SEQUENCE
            &[0x30, 0x85, 1, 0, 0, 0, 0],          // five length octets
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], // huge length
            &[0x1f, 0x01, 0x00],                   // high tag number
            &[0x05, 0x00, 0x05, 0x00],             // trailing data
        ] {
            assert!(normalize(bad).is_err(), "{bad:02x?}");
        }
        let mut deep = Vec::new();
        for _ in 0..=MAX_DEPTH {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        deep.extend_from_slice(&[0x05, 0x00]);
        for _ in 0..=MAX_DEPTH {
            deep.extend_from_slice(&[0x00, 0x00]);
        }
        assert!(normalize(&deep).is_err());
        // One level less is fine.
        assert!(normalize(&deep[2..deep.len() - 2]).is_ok());
        let mut big = vec![0x04, 0x83, 0x04, 0x00, 0x01];
        big.resize(5 + 0x040001, 0);
        assert!(normalize(&big).is_err());
    }

    #[test]
    fn deep_indefinite_nesting_of_many_elements_stays_bounded() {
        // The deepest nesting allowed around many small elements: the output is never more
        // than 1.5 times the input.
        let mut ber = Vec::new();
        for _ in 0..MAX_DEPTH - 1 {
            ber.extend_from_slice(&[0x30, 0x80]);
        }
        for _ in 0..10_000 {
            ber.extend_from_slice(&[0x30, 0x80, 0x05, 0x00, 0x00, 0x00]);
        }
        for _ in 0..MAX_DEPTH - 1 {
            ber.extend_from_slice(&[0x00, 0x00]);
        }
        let out = normalize(&ber).unwrap();
        assert!(out.len() <= ber.len() * 3 / 2);
    }
}
