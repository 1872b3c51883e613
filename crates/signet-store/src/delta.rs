//! A request as received stored against its certificate (`requests.raw` with
//! `raw_form = 1`, SQLite migration 0017, PostgreSQL 0005): the runs of bytes that the issued
//! certificate already carries — the subject name, the public key, the requested extensions,
//! the signature algorithm — are stored as references into the certificate's DER instead of
//! a second time. A P-256 CSR of 266 bytes takes about 115.
//!
//! # Format, version 1
//!
//! ```text
//! delta   = version *segment         ; version = 0x01
//! segment = head literal             ; head = length * 2      (bytes stored here)
//!         / head offset              ; head = length * 2 + 1  (bytes of the certificate)
//! head, offset = unsigned LEB128, minimal, at most 2^32 - 1; length >= 1
//! ```
//!
//! Reading concatenates the segments: a literal's bytes, or `length` bytes of the
//! certificate DER from `offset`. The certificate is the request's first `certificates` row
//! (the one the request view reads, as for [`crate::extensions`]). The writer keeps a delta
//! only when it reads back byte for byte as the request; a copy that falls outside the
//! certificate is a corrupt row ([`DeltaError`]), never a guess.

use signet_core::StoreError;

use crate::db::{Db, query_values};
use crate::leb128::{self, Leb128Error};
use crate::params;

/// The format this build writes (the delta's first byte).
const VERSION_1: u8 = 0x01;

/// The shortest run worth a reference: a copy costs up to 2 + 2 bytes of head and offset
/// (certificates stay below 16 KiB), and shorter runs match by chance.
const MIN_COPY: usize = 8;

/// Why a stored delta does not decode: reported as a corrupt `requests.raw`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum DeltaError {
    #[error("empty (no version byte)")]
    Empty,
    #[error("format version {0} is not one this build reads")]
    Version(u8),
    #[error("segment {0}: a length that is not minimal LEB128 below 2^32, or zero")]
    Length(usize),
    #[error("segment {0} ends early")]
    Truncated(usize),
    #[error("segment {0} refers to bytes the certificate does not have")]
    OutOfCertificate(usize),
    #[error("stored against a certificate, but the request has no certificate")]
    NoCertificate,
}

/// `raw` as a delta against `reference`, or `None` when it would not be shorter than `raw`
/// itself (nothing long enough in common).
pub(crate) fn encode(raw: &[u8], reference: &[u8]) -> Option<Vec<u8>> {
    let index = WindowIndex::new(reference);
    let mut out = Vec::with_capacity(raw.len() / 2 + 8);
    out.push(VERSION_1);
    let mut literal_start = 0;
    let mut i = 0;
    while i < raw.len() {
        match index.longest_match(reference, &raw[i..]) {
            Some((offset, len)) => {
                push_literal(&mut out, &raw[literal_start..i]);
                leb128::push(&mut out, (len as u64) << 1 | 1);
                leb128::push(&mut out, offset as u64);
                i += len;
                literal_start = i;
            }
            None => i += 1,
        }
    }
    push_literal(&mut out, &raw[literal_start..]);
    (out.len() < raw.len()).then_some(out)
}

/// The request that `delta` stores against `certificate`.
pub(crate) fn decode(delta: &[u8], certificate: Option<&[u8]>) -> Result<Vec<u8>, DeltaError> {
    let (&version, mut rest) = delta.split_first().ok_or(DeltaError::Empty)?;
    if version != VERSION_1 {
        return Err(DeltaError::Version(version));
    }
    let mut out = Vec::with_capacity(delta.len() * 3);
    let mut index = 0;
    while !rest.is_empty() {
        let (head, tail) = leb128::take(rest).map_err(|e| segment_error(e, index))?;
        let len = usize::try_from(head >> 1).map_err(|_| DeltaError::Length(index))?;
        if len == 0 {
            return Err(DeltaError::Length(index));
        }
        if head & 1 == 0 {
            let literal = tail.get(..len).ok_or(DeltaError::Truncated(index))?;
            out.extend_from_slice(literal);
            rest = &tail[len..];
        } else {
            let (offset, tail) = leb128::take(tail).map_err(|e| segment_error(e, index))?;
            let certificate = certificate.ok_or(DeltaError::NoCertificate)?;
            let copied = usize::try_from(offset)
                .ok()
                .and_then(|o| certificate.get(o..o.checked_add(len)?))
                .ok_or(DeltaError::OutOfCertificate(index))?;
            out.extend_from_slice(copied);
            rest = tail;
        }
        index += 1;
    }
    Ok(out)
}

fn segment_error(e: Leb128Error, index: usize) -> DeltaError {
    match e {
        Leb128Error::Truncated => DeltaError::Truncated(index),
        Leb128Error::Invalid => DeltaError::Length(index),
    }
}

/// Requests converted per round of [`convert_requests`].
const CONVERT_CHUNK: i64 = 1000;

/// SQLite migration 0017, PostgreSQL 0005, after their script added `requests.raw_form`:
/// every request with a certificate is stored as a delta against its first certificate (as
/// the writer stores new ones), a thousand at a time, where the delta is shorter and reads
/// back byte for byte. Runs inside the migration's transaction.
pub(crate) fn convert_requests(conn: &dyn Db) -> Result<(), StoreError> {
    const CONTEXT: &str = "storing requests against their certificates";
    let mut after = 0i64;
    let mut converted = 0u64;
    loop {
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = query_values(
            conn,
            "SELECT r.id, r.raw, c.der FROM requests r JOIN certificates c \
             ON c.id = (SELECT min(f.id) FROM certificates f WHERE f.request_id = r.id) \
             WHERE r.id > ?1 AND r.raw_form = 0 ORDER BY r.id LIMIT ?2",
            &params![after, CONVERT_CHUNK],
            CONTEXT,
        )?;
        let Some(&(last, _, _)) = rows.last() else {
            break;
        };
        for (id, raw, certificate) in &rows {
            if let Some(delta) = crate::requests::raw_delta(raw, certificate) {
                conn.execute(
                    "UPDATE requests SET raw = ?1, raw_form = 1 WHERE id = ?2",
                    &params![delta, id],
                    CONTEXT,
                )?;
                converted += 1;
            }
        }
        after = last;
    }
    tracing::info!(
        requests = converted,
        "stored requests as deltas against their certificates"
    );
    Ok(())
}

/// Appends a literal segment (nothing for an empty one).
fn push_literal(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty() {
        leb128::push(out, (bytes.len() as u64) << 1);
        out.extend_from_slice(bytes);
    }
}

/// Where runs of [`MIN_COPY`] bytes occur in the reference, for finding matches in time
/// linear in both lengths: a hash table of one offset per bucket (the last run with that
/// hash), as LZ77 compressors keep it. A run whose bucket a later run took is not found;
/// the delta is then longer, never wrong.
struct WindowIndex(Vec<u32>);

/// Buckets of [`WindowIndex`]: a power of two, twice a typical certificate's length.
const BUCKETS: usize = 2048;
const EMPTY: u32 = u32::MAX;

impl WindowIndex {
    fn new(reference: &[u8]) -> WindowIndex {
        let mut table = vec![EMPTY; BUCKETS];
        for (offset, window) in reference.windows(MIN_COPY).enumerate() {
            if let Ok(offset) = u32::try_from(offset) {
                table[bucket(window)] = offset;
            }
        }
        WindowIndex(table)
    }

    /// A prefix of `input` of at least [`MIN_COPY`] bytes found in `reference`: its offset
    /// there and its length.
    fn longest_match(&self, reference: &[u8], input: &[u8]) -> Option<(usize, usize)> {
        let window = input.get(..MIN_COPY)?;
        let offset = self.0[bucket(window)];
        if offset == EMPTY {
            return None;
        }
        let offset = usize::try_from(offset).ok()?;
        let len = reference
            .get(offset..)?
            .iter()
            .zip(input)
            .take_while(|(a, b)| a == b)
            .count();
        (len >= MIN_COPY).then_some((offset, len))
    }
}

/// The bucket of a run of [`MIN_COPY`] bytes (Fibonacci hashing of its 64 bits).
fn bucket(window: &[u8]) -> usize {
    const _: () = assert!(MIN_COPY == 8, "a run is hashed as one u64");
    let mut word = [0u8; MIN_COPY];
    word.copy_from_slice(&window[..MIN_COPY]);
    let h = u64::from_le_bytes(word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - BUCKETS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_in_the_reference_become_copies_and_the_layout_is_as_documented() {
        let reference = b"0123456789abcdefghij";
        let raw = b"XY23456789abZ";
        let delta = encode(raw, reference).expect("shorter");
        assert_eq!(
            delta,
            [
                0x01, // version
                0x04, b'X', b'Y', // literal of 2
                0x15, 0x02, // copy of 10 from offset 2
                0x02, b'Z', // literal of 1
            ]
        );
        assert_eq!(decode(&delta, Some(reference)).expect("decode"), raw);
    }

    #[test]
    fn nothing_in_common_is_not_worth_a_delta() {
        assert_eq!(encode(b"abcdefghijklmnop", b"0123456789012345"), None);
        assert_eq!(encode(b"", b"0123456789"), None);
    }

    #[test]
    fn long_and_repeated_runs_round_trip() {
        let reference: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut raw = reference[100..900].to_vec();
        raw.extend_from_slice(&[0xff; 300]);
        raw.extend_from_slice(&reference[4000..4990]);
        raw.extend_from_slice(&reference[100..900]);
        let delta = encode(&raw, &reference).expect("shorter");
        assert!(delta.len() < 400, "{} bytes of {}", delta.len(), raw.len());
        assert_eq!(decode(&delta, Some(&reference)).expect("decode"), raw);
    }

    #[test]
    fn malformed_deltas_are_errors() {
        let reference = b"0123456789abcdefghij";
        assert_eq!(decode(&[], Some(reference)), Err(DeltaError::Empty));
        assert_eq!(decode(&[2], Some(reference)), Err(DeltaError::Version(2)));
        // A zero length, a literal cut short, a copy past the end, a copy with no certificate.
        assert_eq!(decode(&[1, 0x00], None), Err(DeltaError::Length(0)));
        assert_eq!(
            decode(&[1, 0x06, b'a'], None),
            Err(DeltaError::Truncated(0))
        );
        assert_eq!(
            decode(&[1, 0x15, 0x0b], Some(reference)),
            Err(DeltaError::OutOfCertificate(0))
        );
        assert_eq!(
            decode(&[1, 0x15, 0x00], None),
            Err(DeltaError::NoCertificate)
        );
        // A copy head without its offset; a non-minimal head.
        assert_eq!(
            decode(&[1, 0x15], Some(reference)),
            Err(DeltaError::Truncated(0))
        );
        assert_eq!(decode(&[1, 0x82, 0x00], None), Err(DeltaError::Length(0)));
    }

    /// Arbitrary bytes decode or fail, never panic; what encodes decodes to itself.
    #[test]
    fn arbitrary_bytes_never_panic_and_encoding_round_trips() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        };
        let reference: Vec<u8> = (0..300).map(|_| next() % 4).collect();
        for _ in 0..20_000 {
            let len = usize::from(next() % 40);
            let mut bytes = vec![VERSION_1];
            bytes.extend((0..len).map(|_| next()));
            let _ = decode(&bytes, Some(&reference));
            let raw: Vec<u8> = (0..len * 4).map(|_| next() % 4).collect();
            if let Some(delta) = encode(&raw, &reference) {
                assert_eq!(decode(&delta, Some(&reference)).expect("decode"), raw);
            }
        }
    }
}
