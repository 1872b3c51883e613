//! A small, strict DER toolkit: a TLV reader for untrusted input and length-first writers for
//! the hot path.
//!
//! The reader accepts only DER: single-byte tags (no high-tag-number form), definite minimal
//! lengths, and content that exactly fills its parent. Everything is bounds-checked slicing, so
//! no input can make it panic. The writers compute lengths up front and write into one buffer.

use crate::Error;
pub(crate) use crate::time::CivilTime;

// Universal tags (with the constructed bit where the type is constructed).
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const UTF8_STRING: u8 = 0x0c;
pub(crate) const PRINTABLE_STRING: u8 = 0x13;
pub(crate) const TELETEX_STRING: u8 = 0x14;
pub(crate) const IA5_STRING: u8 = 0x16;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const UNIVERSAL_STRING: u8 = 0x1c;
pub(crate) const BMP_STRING: u8 = 0x1e;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// `[n]` context-specific, constructed (EXPLICIT tagging or IMPLICIT over a constructed type).
pub(crate) const fn context_constructed(n: u8) -> u8 {
    0xa0 | n
}

/// `[n]` context-specific, primitive (IMPLICIT over a primitive type).
pub(crate) const fn context_primitive(n: u8) -> u8 {
    0x80 | n
}

/// A value we were asked to encode is invalid.
pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what,
        reason: reason.into(),
    }
}

pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        what,
        reason: reason.into(),
    }
}

/// One decoded TLV: its tag, its content octets, and the whole encoding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads consecutive TLVs from a slice. `what` names the structure in error messages.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { rest: input, what }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub(crate) fn err(&self, reason: impl Into<String>) -> Error {
        malformed(self.what, reason)
    }

    /// Reads the next TLV, whatever its tag.
    pub(crate) fn read_any(&mut self) -> crate::Result<Tlv<'a>> {
        let input = self.rest;
        let (&tag, after_tag) = input
            .split_first()
            .ok_or_else(|| self.err("unexpected end of data"))?;
        if tag & 0x1f == 0x1f {
            return Err(self.err(format!("unsupported high tag number form (0x{tag:02x})")));
        }
        let (&first, mut after_len) = after_tag
            .split_first()
            .ok_or_else(|| self.err("truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(self.err("indefinite length is not DER"));
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(self.err("length too large"));
            }
            let (len_bytes, rest) = after_len
                .split_at_checked(n)
                .ok_or_else(|| self.err("truncated length"))?;
            after_len = rest;
            if len_bytes.first() == Some(&0) {
                return Err(self.err("non-minimal length encoding"));
            }
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(self.err("non-minimal length encoding"));
            }
            len
        };
        let value = after_len
            .get(..len)
            .ok_or_else(|| self.err("truncated value"))?;
        let header_len = input.len() - after_len.len();
        let total = header_len + len;
        let raw = &input[..total];
        self.rest = &input[total..];
        Ok(Tlv { tag, value, raw })
    }

    /// Reads the next TLV and checks its tag.
    pub(crate) fn read(&mut self, tag: u8, field: &str) -> crate::Result<Tlv<'a>> {
        match self.peek_tag() {
            Some(t) if t == tag => self.read_any(),
            Some(t) => Err(self.err(format!(
                "{field}: expected tag 0x{tag:02x}, found 0x{t:02x}"
            ))),
            None => Err(self.err(format!("{field}: missing"))),
        }
    }

    /// Reads the next TLV if it has the given tag.
    pub(crate) fn read_optional(&mut self, tag: u8) -> crate::Result<Option<Tlv<'a>>> {
        if self.peek_tag() == Some(tag) {
            self.read_any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a constructed TLV with the given tag and returns a reader over its content.
    pub(crate) fn nested(&mut self, tag: u8, field: &str) -> crate::Result<Reader<'a>> {
        let tlv = self.read(tag, field)?;
        Ok(Reader::new(tlv.value, self.what))
    }

    /// Fails if anything is left.
    pub(crate) fn finish(&self, field: &str) -> crate::Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err(format!(
                "{} bytes of trailing data after {field}",
                self.rest.len()
            )))
        }
    }
}

/// Decodes exactly one TLV that fills `input`.
pub(crate) fn single<'a>(input: &'a [u8], tag: u8, what: &'static str) -> crate::Result<Tlv<'a>> {
    let mut r = Reader::new(input, what);
    let tlv = r.read(tag, what)?;
    r.finish(what)?;
    Ok(tlv)
}

// BOOLEAN: DER allows only 0x00 and 0xFF.
pub(crate) fn decode_bool(tlv: &Tlv<'_>, what: &'static str) -> crate::Result<bool> {
    match tlv.value {
        [0x00] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(malformed(what, "invalid BOOLEAN")),
    }
}

/// Checks a DER INTEGER is minimal and non-negative; returns its magnitude without the sign
/// octet (at least one byte).
pub(crate) fn unsigned_integer<'a>(value: &'a [u8], what: &'static str) -> crate::Result<&'a [u8]> {
    match value {
        [] => Err(malformed(what, "empty INTEGER")),
        [b, ..] if b & 0x80 != 0 => Err(malformed(what, "negative INTEGER")),
        [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 == 0) => {
            Err(malformed(what, "non-minimal INTEGER"))
        }
        [0, rest @ ..] if !rest.is_empty() => Ok(rest),
        _ => Ok(value),
    }
}

/// Checks a DER INTEGER is minimal (any sign).
pub(crate) fn check_integer(value: &[u8], what: &'static str) -> crate::Result<()> {
    match value {
        [] => Err(malformed(what, "empty INTEGER")),
        [0x00, b, ..] if b & 0x80 == 0 => Err(malformed(what, "non-minimal INTEGER")),
        [0xff, b, ..] if b & 0x80 != 0 => Err(malformed(what, "non-minimal INTEGER")),
        _ => Ok(()),
    }
}

/// A small non-negative INTEGER (e.g. a version or salt length).
pub(crate) fn small_uint(value: &[u8], what: &'static str) -> crate::Result<u32> {
    let mag = unsigned_integer(value, what)?;
    if mag.len() > 4 {
        return Err(malformed(what, "INTEGER too large"));
    }
    Ok(mag.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// BIT STRING content → (unused bits, octets), with the DER rule that unused bits are zero.
pub(crate) fn bit_string<'a>(value: &'a [u8], what: &'static str) -> crate::Result<(u8, &'a [u8])> {
    let (&unused, bits) = value
        .split_first()
        .ok_or_else(|| malformed(what, "empty BIT STRING"))?;
    if unused > 7 || (bits.is_empty() && unused != 0) {
        return Err(malformed(what, "invalid BIT STRING unused-bits count"));
    }
    if let Some(last) = bits.last()
        && last & ((1u8 << unused) - 1) != 0
    {
        return Err(malformed(what, "BIT STRING padding bits are not zero"));
    }
    Ok((unused, bits))
}

/// A BIT STRING that must hold whole octets (keys, signatures).
pub(crate) fn octet_aligned_bits<'a>(
    value: &'a [u8],
    what: &'static str,
) -> crate::Result<&'a [u8]> {
    match bit_string(value, what)? {
        (0, bits) => Ok(bits),
        _ => Err(malformed(what, "BIT STRING is not octet-aligned")),
    }
}

// OBJECT IDENTIFIER content octets: base-128 arcs, the first two packed as 40*X+Y.

/// Dotted form of OID content octets.
pub(crate) fn oid_to_string(value: &[u8]) -> Option<String> {
    use std::fmt::Write;
    if value.is_empty() || value.last().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    let mut out = String::with_capacity(value.len() * 3);
    let mut arc: u128 = 0;
    let mut first = true;
    let mut start_of_arc = true;
    for &b in value {
        if start_of_arc && b == 0x80 {
            return None; // Non-minimal arc encoding.
        }
        if arc > (u128::MAX >> 7) {
            return None;
        }
        arc = (arc << 7) | u128::from(b & 0x7f);
        start_of_arc = b & 0x80 == 0;
        if start_of_arc {
            if first {
                let (x, y) = match arc {
                    0..=39 => (0, arc),
                    40..=79 => (1, arc - 40),
                    _ => (2, arc - 80),
                };
                let _ = write!(out, "{x}.{y}");
                first = false;
            } else {
                let _ = write!(out, ".{arc}");
            }
            arc = 0;
        }
    }
    Some(out)
}

/// OID content octets from the dotted form; `None` if it is not a valid OID.
pub(crate) fn oid_from_dotted(s: &str, out: &mut Vec<u8>) -> Option<()> {
    let mut arcs = s.split('.');
    let parse = |p: &str| -> Option<u128> {
        if p.is_empty()
            || !p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return None;
        }
        p.parse().ok()
    };
    let x = parse(arcs.next()?)?;
    let y = parse(arcs.next()?)?;
    if x > 2 || (x < 2 && y > 39) {
        return None;
    }
    push_base128(out, (x * 40).checked_add(y)?);
    for arc in arcs {
        push_base128(out, parse(arc)?);
    }
    Some(())
}

fn push_base128(out: &mut Vec<u8>, mut v: u128) {
    let mut tmp = [0u8; 19];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = (v & 0x7f) as u8 | if i == tmp.len() - 1 { 0 } else { 0x80 };
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

// Writers. Lengths are always computed first, so each value is written exactly once.

/// Number of octets a DER length field takes.
pub(crate) const fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else if len <= 0xff {
        2
    } else if len <= 0xffff {
        3
    } else if len <= 0xff_ffff {
        4
    } else {
        5
    }
}

/// Size of a whole TLV with `len` content octets (single-byte tag).
pub(crate) const fn tlv_len(len: usize) -> usize {
    1 + length_len(len) + len
}

pub(crate) fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let n = length_len(len) - 1;
        out.push(0x80 | n as u8);
        for i in (0..n).rev() {
            out.push((len >> (8 * i)) as u8);
        }
    }
}

pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// A TLV as a fresh vector.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tlv_len(content.len()));
    push_tlv(&mut out, tag, content);
    out
}

// Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
// UTCTime is YYMMDDHHMMSSZ (years 1950..=2049), GeneralizedTime YYYYMMDDHHMMSSZ; RFC 5280
// §4.1.2.5 requires exactly these forms: seconds present, no fraction, Zulu.

/// Size of the encoded Time TLV for `t` (13 or 15 content octets).
pub(crate) fn time_tlv_len(t: &CivilTime) -> usize {
    if t.uses_utc_time() { 15 } else { 17 }
}

impl CivilTime {
    pub(crate) fn uses_utc_time(&self) -> bool {
        (1950..=2049).contains(&self.year)
    }

    /// Writes the Time TLV: UTCTime for 1950..=2049, GeneralizedTime otherwise.
    pub(crate) fn push_der(&self, out: &mut Vec<u8>) {
        self.push_time(out, !self.uses_utc_time());
    }

    /// Writes a GeneralizedTime TLV (`YYYYMMDDHHMMSSZ`, 17 octets) whatever the year, for
    /// structures that use GeneralizedTime only (OCSP, RFC 6960; invalidityDate).
    pub(crate) fn push_generalized(&self, out: &mut Vec<u8>) {
        self.push_time(out, true);
    }

    fn push_time(&self, out: &mut Vec<u8>, generalized: bool) {
        let push2 = |out: &mut Vec<u8>, v: u32| {
            out.push(b'0' + (v / 10 % 10) as u8);
            out.push(b'0' + (v % 10) as u8);
        };
        let year = self.year as u32; // 0..=9999 by construction.
        if generalized {
            out.extend_from_slice(&[GENERALIZED_TIME, 15]);
            push2(out, year / 100);
        } else {
            out.extend_from_slice(&[UTC_TIME, 13]);
        }
        push2(out, year % 100);
        push2(out, self.month);
        push2(out, self.day);
        push2(out, self.hour);
        push2(out, self.minute);
        push2(out, self.second);
        out.push(b'Z');
    }

    /// Parses a UTCTime or GeneralizedTime TLV in the RFC 5280 form.
    pub(crate) fn from_der(tlv: &Tlv<'_>, what: &'static str) -> crate::Result<CivilTime> {
        let digits = |s: &[u8]| -> crate::Result<u32> {
            s.iter().try_fold(0u32, |acc, &b| {
                if b.is_ascii_digit() {
                    Ok(acc * 10 + u32::from(b - b'0'))
                } else {
                    Err(malformed(what, "non-digit in time"))
                }
            })
        };
        let (year, rest) = match (tlv.tag, tlv.value) {
            (UTC_TIME, [y @ .., _, _, _, _, _, _, _, _, _, _, b'Z']) if y.len() == 2 => {
                let yy = i64::from(digits(y)?);
                (
                    if yy >= 50 { 1900 + yy } else { 2000 + yy },
                    &tlv.value[2..12],
                )
            }
            (GENERALIZED_TIME, [y @ .., _, _, _, _, _, _, _, _, _, _, b'Z']) if y.len() == 4 => {
                (i64::from(digits(y)?), &tlv.value[4..14])
            }
            (UTC_TIME | GENERALIZED_TIME, _) => {
                return Err(malformed(what, "time is not in the YYMMDDHHMMSSZ form"));
            }
            (t, _) => {
                return Err(malformed(
                    what,
                    format!("expected a time, found tag 0x{t:02x}"),
                ));
            }
        };
        let t = CivilTime {
            year,
            month: digits(&rest[0..2])?,
            day: digits(&rest[2..4])?,
            hour: digits(&rest[4..6])?,
            minute: digits(&rest[6..8])?,
            second: digits(&rest[8..10])?,
        };
        if !t.is_valid() {
            return Err(malformed(what, "time out of range"));
        }
        Ok(t)
    }
}

/// Decodes a directory-style string value (UTF8String, PrintableString, IA5String,
/// TeletexString as Latin-1, BMPString, UniversalString). `None` for other types or bad content.
pub(crate) fn decode_string(tlv: &Tlv<'_>) -> Option<String> {
    match tlv.tag {
        UTF8_STRING => std::str::from_utf8(tlv.value).ok().map(str::to_owned),
        PRINTABLE_STRING => tlv
            .value
            .iter()
            .all(|&b| is_printable_char(b))
            .then(|| tlv.value.iter().map(|&b| char::from(b)).collect()),
        IA5_STRING => tlv
            .value
            .is_ascii()
            .then(|| tlv.value.iter().map(|&b| char::from(b)).collect()),
        // T.61 in practice carries Latin-1 (what OpenSSL and most decoders assume).
        TELETEX_STRING => Some(tlv.value.iter().map(|&b| char::from(b)).collect()),
        BMP_STRING => {
            if !tlv.value.len().is_multiple_of(2) {
                return None;
            }
            let units = tlv
                .value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        UNIVERSAL_STRING => {
            if !tlv.value.len().is_multiple_of(4) {
                return None;
            }
            tlv.value
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// PrintableString's alphabet (X.680 §41.4).
pub(crate) fn is_printable_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b' ' | b'\'' | b'(' | b')' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
        )
}

// AlgorithmIdentifier  ::=  SEQUENCE  {
//      algorithm               OBJECT IDENTIFIER,
//      parameters              ANY DEFINED BY algorithm OPTIONAL  }

/// A decoded AlgorithmIdentifier: OID content octets and the raw parameters, if any.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AlgId<'a> {
    pub oid: &'a [u8],
    pub params: Option<Tlv<'a>>,
}

impl<'a> AlgId<'a> {
    pub(crate) fn decode(tlv: &Tlv<'a>, what: &'static str) -> crate::Result<AlgId<'a>> {
        if tlv.tag != SEQUENCE {
            return Err(malformed(what, "AlgorithmIdentifier is not a SEQUENCE"));
        }
        let mut r = Reader::new(tlv.value, what);
        let oid = r.read(OID, "algorithm")?.value;
        if oid_to_string(oid).is_none() {
            return Err(malformed(what, "invalid algorithm OID"));
        }
        let params = if r.is_empty() {
            None
        } else {
            Some(r.read_any()?)
        };
        r.finish("AlgorithmIdentifier")?;
        Ok(AlgId { oid, params })
    }

    /// True when the parameters are absent or NULL.
    pub(crate) fn params_absent_or_null(&self) -> bool {
        match self.params {
            None => true,
            Some(p) => p.tag == NULL && p.value.is_empty(),
        }
    }

    pub(crate) fn oid_string(&self) -> String {
        oid_to_string(self.oid).unwrap_or_else(|| hex::encode(self.oid))
    }
}

// SubjectPublicKeyInfo  ::=  SEQUENCE  {
//      algorithm            AlgorithmIdentifier,
//      subjectPublicKey     BIT STRING  }

/// A decoded SubjectPublicKeyInfo: its algorithm and the subjectPublicKey octets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spki<'a> {
    pub alg: AlgId<'a>,
    pub key: &'a [u8],
}

impl<'a> Spki<'a> {
    /// Decodes `der`, which must be exactly one SubjectPublicKeyInfo.
    pub(crate) fn decode(der: &'a [u8], what: &'static str) -> crate::Result<Spki<'a>> {
        let seq = single(der, SEQUENCE, what)?;
        let mut r = Reader::new(seq.value, what);
        let alg = AlgId::decode(&r.read(SEQUENCE, "algorithm")?, what)?;
        let key = octet_aligned_bits(r.read(BIT_STRING, "subjectPublicKey")?.value, what)?;
        r.finish("subjectPublicKey")?;
        Ok(Spki { alg, key })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn oid_round_trip() {
        for s in [
            "2.5.29.17",
            "1.2.840.113549.1.1.11",
            "0.9.2342.19200300.100.1.25",
            "2.16.840.1.101.3.4.3.18",
            "2.25.329800735698586629295641978511506172918",
            "2.999.3",
        ] {
            let mut buf = Vec::new();
            oid_from_dotted(s, &mut buf).unwrap();
            assert_eq!(oid_to_string(&buf).unwrap(), s);
        }
        let mut buf = Vec::new();
        oid_from_dotted("2.5.29.17", &mut buf).unwrap();
        assert_eq!(buf, [0x55, 0x1d, 0x11]);
        for bad in ["", "1", "1.", "3.1", "1.40", "1.2.x", "1..2", "01.2"] {
            assert!(oid_from_dotted(bad, &mut Vec::new()).is_none(), "{bad}");
        }
        assert!(oid_to_string(&[]).is_none());
        assert!(oid_to_string(&[0x55, 0x80, 0x01]).is_none());
        assert!(oid_to_string(&[0x55, 0x81]).is_none());
    }

    #[test]
    fn times_encode_and_decode() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = UNIX_EPOCH + Duration::from_secs(2_524_608_000); // 2050-01-01T00:00:00Z
        let c = CivilTime::from_system_time(t).unwrap();
        let mut out = Vec::new();
        c.push_der(&mut out);
        assert_eq!(out, b"\x18\x0f20500101000000Z");
        let back = CivilTime::from_der(&single(&out, GENERALIZED_TIME, "t").unwrap(), "t").unwrap();
        assert_eq!(back.to_system_time().unwrap(), t);

        let t = t - Duration::from_millis(1500);
        let c = CivilTime::from_system_time(t).unwrap();
        let mut out = Vec::new();
        c.push_der(&mut out);
        assert_eq!(out, b"\x17\x0d491231235958Z");

        let before_epoch = UNIX_EPOCH - Duration::from_millis(500);
        let c = CivilTime::from_system_time(before_epoch).unwrap();
        assert_eq!((c.year, c.month, c.day, c.second), (1969, 12, 31, 59));
    }

    #[test]
    fn reader_rejects_non_der() {
        for bad in [
            &[0x30, 0x80, 0x00, 0x00][..],      // indefinite
            &[0x30, 0x81, 0x05, 0, 0, 0, 0, 0], // non-minimal long form
            &[0x30, 0x82, 0x00, 0x85],          // leading zero length octet
            &[0x1f, 0x01, 0x00],                // high tag number form
            &[0x30, 0x05, 0x00],                // truncated
            &[0x30],                            // no length
            &[0x30, 0x85, 1, 1, 1, 1, 1],       // 5 length octets
        ] {
            assert!(Reader::new(bad, "x").read_any().is_err(), "{bad:02x?}");
        }
        assert!(unsigned_integer(&[0x00, 0x7f], "x").is_err());
        assert!(unsigned_integer(&[0x80], "x").is_err());
        assert_eq!(unsigned_integer(&[0x00, 0x80], "x").unwrap(), &[0x80]);
        assert!(bit_string(&[0x01, 0x01], "x").is_err());
        assert!(bit_string(&[0x01], "x").is_err());
    }

    #[test]
    fn header_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 16_777_216] {
            let mut out = Vec::new();
            push_header(&mut out, SEQUENCE, len);
            assert_eq!(out.len(), tlv_len(len) - len);
            let mut data = out.clone();
            data.resize(out.len() + len, 0);
            let t = Reader::new(&data, "x").read_any().unwrap();
            assert_eq!(t.value.len(), len);
        }
    }
}
