//! A request's extensions as one compact blob, the `requests.extensions` column (SQLite
//! migration 0015, PostgreSQL 0003), instead of a row per extension: a certificate's record
//! costs one column, not eight rows, and a value the issued certificate already carries is
//! not stored a second time.
//!
//! # Format, version 1
//!
//! ```text
//! blob      = version *extension          ; version = 0x01; extensions in position order
//! extension = origin flags oid-len oid [value-len value]
//! origin    = 0x00 request | 0x01 policy | 0x02 admin | 0x03 server
//! flags     = bit 0 critical, bit 1 disabled, bit 2 by reference, bit 3 OID as text;
//!             every other bit is 0
//! oid       = the OBJECT IDENTIFIER's DER content octets (no tag, no length), or its dotted
//!             text in UTF-8 when bit 3 is set (an OID string that does not survive the
//!             round trip through DER, kept as written rather than lost)
//! value     = the DER inside extnValue; absent when bit 2 is set
//! *-len     = unsigned LEB128, minimal, at most 2^32 - 1
//! ```
//!
//! "By reference" (bit 2): the value is byte-identical to the extension with the same OID
//! in the request's certificate (the first certificate recorded for the request, as the
//! request view reads it), so reading takes it from there. The writer decides this by
//! parsing the certificate it records in the same transaction; a certificate that does not
//! parse leaves every value inline. A by-reference value whose request has no certificate,
//! or whose certificate does not parse or lacks that OID, is a corrupt row
//! ([`ExtensionsError`]), never a guess.
//!
//! The blob of a request without extensions is the version byte alone.

use signet_core::{ExtensionOrigin, StoreError, StoredExtension};

use crate::codec::corrupt;
use crate::db::{Db, query_value, query_values};
use crate::leb128::{self, Leb128Error};
use crate::params;
use crate::row::{Columns, FromRow, Key, query_all};

/// The format this build writes (the blob's first byte).
const VERSION_1: u8 = 0x01;

const CRITICAL: u8 = 0x01;
const DISABLED: u8 = 0x02;
const BY_REFERENCE: u8 = 0x04;
const TEXT_OID: u8 = 0x08;
const KNOWN_FLAGS: u8 = CRITICAL | DISABLED | BY_REFERENCE | TEXT_OID;

/// Why an extensions blob does not decode: reported as a corrupt `requests.extensions`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ExtensionsError {
    #[error("empty (no version byte)")]
    Empty,
    #[error("format version {0} is not one this build reads")]
    Version(u8),
    #[error("ends inside extension {0}")]
    Truncated(usize),
    #[error("extension {0}: a length that is not minimal LEB128 below 2^32")]
    Length(usize),
    #[error("extension {index}: unknown origin {origin:#04x}")]
    Origin { index: usize, origin: u8 },
    #[error("extension {index}: unknown flags {flags:#04x}")]
    Flags { index: usize, flags: u8 },
    #[error("extension {0}: not a valid OID")]
    Oid(usize),
    #[error("extension {oid} is stored by reference but the request has no certificate")]
    NoCertificate { oid: String },
    #[error("extension {oid} is stored by reference but the certificate does not parse: {reason}")]
    Certificate { oid: String, reason: String },
    #[error("extension {oid} is stored by reference but the certificate does not have it")]
    NotInCertificate { oid: String },
}

/// The blob for `extensions` of a request whose certificate (if it has one) is
/// `certificate`: each value equal to that certificate's extension of the same OID is stored
/// by reference.
pub(crate) fn encode(extensions: &[StoredExtension], certificate: Option<&[u8]>) -> Vec<u8> {
    let in_certificate = certificate
        .and_then(|der| signet_x509::certificate_extensions(der).ok())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(1 + extensions.len() * 8);
    out.push(VERSION_1);
    for ext in extensions {
        let by_reference = in_certificate
            .iter()
            .any(|c| c.oid == ext.oid && c.value == ext.value);
        let der_oid = signet_x509::ext::oid_to_der(&ext.oid)
            .filter(|der| signet_x509::ext::oid_from_der(der).as_deref() == Some(&ext.oid));
        let mut flags = 0;
        if ext.critical {
            flags |= CRITICAL;
        }
        if ext.disabled {
            flags |= DISABLED;
        }
        if by_reference {
            flags |= BY_REFERENCE;
        }
        if der_oid.is_none() {
            flags |= TEXT_OID;
        }
        out.push(origin_byte(ext.origin));
        out.push(flags);
        push_bytes(&mut out, der_oid.as_deref().unwrap_or(ext.oid.as_bytes()));
        if !by_reference {
            push_bytes(&mut out, &ext.value);
        }
    }
    out
}

/// The extensions in `blob`; `certificate` is the request's certificate DER, read only when
/// a value is stored by reference.
pub(crate) fn decode(
    blob: &[u8],
    certificate: Option<&[u8]>,
) -> Result<Vec<StoredExtension>, ExtensionsError> {
    let (&version, mut rest) = blob.split_first().ok_or(ExtensionsError::Empty)?;
    if version != VERSION_1 {
        return Err(ExtensionsError::Version(version));
    }
    // The certificate's extensions, parsed on the first by-reference value.
    let mut in_certificate: Option<Vec<signet_x509::Extension>> = None;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let index = out.len();
        let [origin, flags, tail @ ..] = rest else {
            return Err(ExtensionsError::Truncated(index));
        };
        let origin = origin_from_byte(*origin).ok_or(ExtensionsError::Origin {
            index,
            origin: *origin,
        })?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(ExtensionsError::Flags {
                index,
                flags: *flags,
            });
        }
        let (oid, tail) = take_bytes(tail, index)?;
        let oid = if flags & TEXT_OID != 0 {
            std::str::from_utf8(oid).ok().map(str::to_owned)
        } else {
            signet_x509::ext::oid_from_der(oid)
        }
        .ok_or(ExtensionsError::Oid(index))?;
        let (value, tail) = if flags & BY_REFERENCE != 0 {
            let list = match &mut in_certificate {
                Some(list) => list,
                empty => empty.insert(certificate_extensions(certificate, &oid)?),
            };
            let value = list
                .iter()
                .find(|e| e.oid == oid)
                .map(|e| e.value.clone())
                .ok_or_else(|| ExtensionsError::NotInCertificate { oid: oid.clone() })?;
            (value, tail)
        } else {
            let (value, tail) = take_bytes(tail, index)?;
            (value.to_vec(), tail)
        };
        out.push(StoredExtension {
            oid,
            critical: flags & CRITICAL != 0,
            disabled: flags & DISABLED != 0,
            origin,
            value,
        });
        rest = tail;
    }
    Ok(out)
}

/// Requests converted per round of [`convert_extension_rows`].
const CONVERT_CHUNK: i64 = 1000;

/// SQLite migration 0015, PostgreSQL 0003, after their script added `requests.extensions`:
/// every request's `request_extensions` rows become its blob (encoded against its first
/// certificate, as the writer would have), a thousand requests at a time, then the table is
/// dropped. Runs inside the migration's transaction, so a failure leaves the rows as they
/// were.
pub(crate) fn convert_extension_rows(conn: &dyn Db) -> Result<(), StoreError> {
    const CONTEXT: &str = "converting request extensions";
    let mut after = 0i64;
    let mut converted = 0u64;
    loop {
        let ids: Vec<i64> = query_values(
            conn,
            "SELECT DISTINCT request_id FROM request_extensions WHERE request_id > ?1 \
             ORDER BY request_id LIMIT ?2",
            &params![after, CONVERT_CHUNK],
            CONTEXT,
        )?;
        let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
            break;
        };
        let rows: Vec<LegacyExtension> = query_all(
            conn,
            &format!(
                "SELECT {} FROM request_extensions WHERE request_id BETWEEN ?1 AND ?2 \
                 ORDER BY request_id, position",
                LegacyExtension::COLUMNS
            ),
            &params![first, last],
            CONTEXT,
        )?;
        for request in rows.chunk_by(|a, b| a.request == b.request) {
            let id = request[0].request;
            let certificate: Option<Vec<u8>> = query_value(
                conn,
                "SELECT der FROM certificates WHERE request_id = ?1 ORDER BY id LIMIT 1",
                &params![id],
                CONTEXT,
            )?;
            let extensions: Vec<StoredExtension> =
                request.iter().map(|r| r.extension.clone()).collect();
            let blob = encode(&extensions, certificate.as_deref());
            // What is written must read back as the rows said, or the rows stay.
            if decode(&blob, certificate.as_deref()).as_ref() != Ok(&extensions) {
                return Err(corrupt(
                    "request_extensions",
                    id,
                    "value",
                    "the extensions do not survive conversion to a blob",
                ));
            }
            conn.execute(
                "UPDATE requests SET extensions = ?1 WHERE id = ?2",
                &params![blob, id],
                CONTEXT,
            )?;
            converted += 1;
        }
        after = last;
    }
    conn.batch(
        "DROP TABLE request_extensions",
        "dropping request_extensions",
    )?;
    tracing::info!(
        requests = converted,
        "converted request extension rows into blobs"
    );
    Ok(())
}

/// One row of the `request_extensions` table of schema versions before the blob.
struct LegacyExtension {
    request: i64,
    extension: StoredExtension,
}

impl FromRow for LegacyExtension {
    const COLUMNS: &'static str = "request_id, position, oid, critical, disabled, origin, value";
    const TABLE: &'static str = "request_extensions";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<LegacyExtension, StoreError> {
        let request: i64 = c.next("request_id")?;
        let position: i64 = c.next("position")?;
        c.key(Key::Pair(request, position));
        let oid = c.next("oid")?;
        let critical = c.next("critical")?;
        let disabled = c.next("disabled")?;
        let origin: String = c.next("origin")?;
        let origin = ExtensionOrigin::parse(&origin)
            .ok_or_else(|| c.bad("origin", &format!("unknown origin {origin:?}")))?;
        Ok(LegacyExtension {
            request,
            extension: StoredExtension {
                oid,
                critical,
                disabled,
                origin,
                value: c.next("value")?,
            },
        })
    }
}

/// The extensions of the certificate a by-reference value (of `oid`) points into.
fn certificate_extensions(
    certificate: Option<&[u8]>,
    oid: &str,
) -> Result<Vec<signet_x509::Extension>, ExtensionsError> {
    let der = certificate.ok_or_else(|| ExtensionsError::NoCertificate { oid: oid.into() })?;
    signet_x509::certificate_extensions(der).map_err(|e| ExtensionsError::Certificate {
        oid: oid.into(),
        reason: e.to_string(),
    })
}

fn origin_byte(origin: ExtensionOrigin) -> u8 {
    match origin {
        ExtensionOrigin::Request => 0,
        ExtensionOrigin::Policy => 1,
        ExtensionOrigin::Admin => 2,
        ExtensionOrigin::Server => 3,
    }
}

fn origin_from_byte(b: u8) -> Option<ExtensionOrigin> {
    Some(match b {
        0 => ExtensionOrigin::Request,
        1 => ExtensionOrigin::Policy,
        2 => ExtensionOrigin::Admin,
        3 => ExtensionOrigin::Server,
        _ => return None,
    })
}

/// Appends `bytes` with its length in front (LEB128). Lengths never reach 2^32: a request's
/// extensions come from a CSR of at most 16 KiB, a profile, or an officer's edit.
fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    leb128::push(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Splits a length-prefixed byte string off the front of `input`.
fn take_bytes(input: &[u8], index: usize) -> Result<(&[u8], &[u8]), ExtensionsError> {
    let (len, rest) = leb128::take(input).map_err(|e| match e {
        Leb128Error::Truncated => ExtensionsError::Truncated(index),
        Leb128Error::Invalid => ExtensionsError::Length(index),
    })?;
    let len = usize::try_from(len).map_err(|_| ExtensionsError::Length(index))?;
    if rest.len() < len {
        return Err(ExtensionsError::Truncated(index));
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(oid: &str, origin: ExtensionOrigin, disabled: bool, value: &[u8]) -> StoredExtension {
        StoredExtension {
            oid: oid.into(),
            critical: oid == "2.5.29.19",
            disabled,
            origin,
            value: value.to_vec(),
        }
    }

    #[test]
    fn inline_values_round_trip_and_the_layout_is_as_documented() {
        let exts = vec![
            ext("2.5.29.19", ExtensionOrigin::Server, false, &[0x30, 0x00]),
            ext("1.2.3.4", ExtensionOrigin::Admin, true, &[0x05, 0x00]),
        ];
        let blob = encode(&exts, None);
        assert_eq!(
            blob,
            [
                0x01, // version
                0x03, 0x01, 0x03, 0x55, 0x1d, 0x13, 0x02, 0x30, 0x00, // server, critical
                0x02, 0x02, 0x03, 0x2a, 0x03, 0x04, 0x02, 0x05, 0x00, // admin, disabled
            ]
        );
        assert_eq!(decode(&blob, None).expect("decode"), exts);
        assert_eq!(decode(&encode(&[], None), None).expect("empty"), []);
    }

    #[test]
    fn an_oid_that_does_not_survive_der_is_kept_as_text() {
        let exts = vec![ext("1.02.3", ExtensionOrigin::Request, true, &[0x05, 0x00])];
        let blob = encode(&exts, None);
        assert_eq!(blob[2], DISABLED | TEXT_OID);
        assert_eq!(decode(&blob, None).expect("decode"), exts);
    }

    #[test]
    fn long_values_take_multi_byte_lengths() {
        for len in [127usize, 128, 300, 16_384, 70_000] {
            let exts = vec![ext("1.2.3", ExtensionOrigin::Policy, false, &vec![7; len])];
            assert_eq!(decode(&encode(&exts, None), None).expect("decode"), exts);
        }
    }

    #[test]
    fn malformed_blobs_are_errors() {
        let good = encode(
            &[ext("1.2.3", ExtensionOrigin::Policy, false, &[1, 2, 3])],
            None,
        );
        assert_eq!(decode(&[], None), Err(ExtensionsError::Empty));
        assert_eq!(decode(&[0x02], None), Err(ExtensionsError::Version(2)));
        for cut in 2..good.len() {
            assert_eq!(
                decode(&good[..cut], None),
                Err(ExtensionsError::Truncated(0)),
                "cut at {cut}"
            );
        }
        let mut bad = good.clone();
        bad[1] = 9;
        assert!(matches!(
            decode(&bad, None),
            Err(ExtensionsError::Origin { .. })
        ));
        let mut bad = good.clone();
        bad[2] = 0x10;
        assert!(matches!(
            decode(&bad, None),
            Err(ExtensionsError::Flags { .. })
        ));
        // A non-minimal length: 0x82 0x00 spells 2.
        assert_eq!(
            decode(&[0x01, 0x01, 0x00, 0x82, 0x00, 0x2a, 0x03], None),
            Err(ExtensionsError::Length(0))
        );
        // An OID whose content is not minimal.
        assert_eq!(
            decode(&[0x01, 0x01, 0x00, 0x02, 0x80, 0x01, 0x00], None),
            Err(ExtensionsError::Oid(0))
        );
    }

    #[test]
    fn a_reference_without_a_certificate_is_an_error() {
        let blob = [0x01, 0x01, BY_REFERENCE, 0x02, 0x2a, 0x03];
        assert_eq!(
            decode(&blob, None),
            Err(ExtensionsError::NoCertificate {
                oid: "1.2.3".into()
            })
        );
        assert!(matches!(
            decode(&blob, Some(&[0x30, 0x00])),
            Err(ExtensionsError::Certificate { .. })
        ));
    }

    /// Arbitrary bytes decode or fail, never panic.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let len = (state % 24) as usize;
            let mut blob = Vec::with_capacity(len + 1);
            blob.push(VERSION_1);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                blob.push((state >> 32) as u8);
            }
            let _ = decode(&blob, Some(&[0x30, 0x03, 0x02, 0x01, 0x00]));
        }
    }
}
