//! DNS messages on the wire (RFC 1035 §4.1): building a query, parsing an answer.
//!
//! Answers come from the network and are parsed defensively: every length is checked against
//! the message, compression pointers may only point backwards and are bounded, names are
//! limited to 255 octets, and a malformed answer is an error, never a panic.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::DnsError;

/// RR type A.
pub const TYPE_A: u16 = 1;
/// RR type CNAME.
pub const TYPE_CNAME: u16 = 5;
/// RR type TXT.
pub const TYPE_TXT: u16 = 16;
/// RR type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// RR type OPT (EDNS(0), RFC 6891).
pub const TYPE_OPT: u16 = 41;
/// RR type CAA (RFC 8659).
pub const TYPE_CAA: u16 = 257;
pub(super) const CLASS_IN: u16 = 1;

/// RCODE NOERROR.
pub const RCODE_NOERROR: u8 = 0;
/// RCODE SERVFAIL.
pub const RCODE_SERVFAIL: u8 = 2;
/// RCODE NXDOMAIN.
pub const RCODE_NXDOMAIN: u8 = 3;

/// The UDP payload size we advertise with EDNS(0) (the DNS flag day 2020 value).
pub(super) const UDP_PAYLOAD: u16 = 1232;
/// How many compression pointers one name may use.
const MAX_POINTERS: usize = 32;
/// The most records of one message we keep (more is refused as malformed).
const MAX_RECORDS: usize = 256;

/// A parsed DNS response: the header fields validation needs, the questions and the answer
/// section. The authority and additional sections are not parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    /// QR: this is a response.
    pub response: bool,
    pub opcode: u8,
    /// TC: the answer did not fit (retry over TCP).
    pub truncated: bool,
    pub rcode: u8,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
}

/// A question: a name (lowercase, without the trailing dot), a type and a class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// A resource record of the answer section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Owner name, lowercase, without the trailing dot; bytes other than letters, digits,
    /// `-`, `_` and `*` are written `\DDD`.
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

/// The data of a record of a type validation understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    /// The character-strings of one TXT record, concatenated (as RFC 8555 §8.4 validators do).
    Txt(Vec<u8>),
    /// RFC 8659 §4.1: flags, tag, value.
    Caa {
        flags: u8,
        tag: String,
        value: Vec<u8>,
    },
    /// Any other type (or class); its data is not interpreted.
    Other,
}

/// Why a DNS message did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message ends inside the {what} at offset {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error("name longer than 255 octets")]
    NameTooLong,
    #[error("unsupported label type 0x{0:02x}")]
    LabelType(u8),
    #[error("compression pointer to {to} does not point backwards or too many pointers")]
    Pointer { to: usize },
    #[error("{what} record data of {len} octets is malformed")]
    Rdata { what: &'static str, len: usize },
    #[error("more than {MAX_RECORDS} records")]
    TooManyRecords,
}

/// A name in the form this module compares: lowercase, without the trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A query for `name` (a DNS name in text form, trailing dot optional) with RD set and an
/// EDNS(0) OPT record advertising a 1232-octet UDP payload.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let bad = |reason| DnsError::Name {
        name: name.to_owned(),
        reason,
    };
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.len() > 253 {
        return Err(bad("longer than 253 characters"));
    }
    let mut out = Vec::with_capacity(trimmed.len() + 30);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // QD=1 AN=0 NS=0 AR=1
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..=63).contains(l))
                .ok_or_else(|| bad("a label is empty or longer than 63 characters"))?;
            if label.bytes().any(|b| !(b.is_ascii_graphic())) {
                return Err(bad("a label has a space or a non-ASCII character"));
            }
            out.push(len);
            out.extend_from_slice(label.to_ascii_lowercase().as_bytes());
        }
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = UDP payload size, TTL 0 (no DO bit), no options.
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(out)
}

/// Parses a DNS message: header, questions and answers (RFC 1035 §4.1).
pub fn parse_message(msg: &[u8]) -> Result<Message, ParseError> {
    let header = msg.get(..12).ok_or(ParseError::Truncated {
        what: "header",
        offset: 0,
    })?;
    let word = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let flags = word(2);
    let (qdcount, ancount) = (usize::from(word(4)), usize::from(word(6)));
    if qdcount + ancount > MAX_RECORDS {
        return Err(ParseError::TooManyRecords);
    }
    let mut pos = 12;
    let mut questions = Vec::with_capacity(qdcount.min(4));
    for _ in 0..qdcount {
        let (name, next) = read_name(msg, pos)?;
        let fixed = msg.get(next..next + 4).ok_or(ParseError::Truncated {
            what: "question",
            offset: next,
        })?;
        questions.push(Question {
            name,
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        });
        pos = next + 4;
    }
    let mut answers = Vec::with_capacity(ancount.min(16));
    for _ in 0..ancount {
        let (record, next) = read_record(msg, pos)?;
        answers.push(record);
        pos = next;
    }
    Ok(Message {
        id: word(0),
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        truncated: flags & 0x0200 != 0,
        rcode: (flags & 0x000f) as u8,
        questions,
        answers,
    })
}

fn read_record(msg: &[u8], pos: usize) -> Result<(Record, usize), ParseError> {
    let (name, next) = read_name(msg, pos)?;
    let fixed = msg.get(next..next + 10).ok_or(ParseError::Truncated {
        what: "record header",
        offset: next,
    })?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let start = next + 10;
    let end = start + rdlen;
    let rdata = msg.get(start..end).ok_or(ParseError::Truncated {
        what: "record data",
        offset: start,
    })?;
    let bad = |what| ParseError::Rdata { what, len: rdlen };
    let data = if class != CLASS_IN {
        RData::Other
    } else {
        match rtype {
            TYPE_A => RData::A(Ipv4Addr::from(
                <[u8; 4]>::try_from(rdata).map_err(|_| bad("A"))?,
            )),
            TYPE_AAAA => RData::Aaaa(Ipv6Addr::from(
                <[u8; 16]>::try_from(rdata).map_err(|_| bad("AAAA"))?,
            )),
            TYPE_CNAME => {
                let (target, after) = read_name(msg, start)?;
                if after != end {
                    return Err(bad("CNAME"));
                }
                RData::Cname(target)
            }
            TYPE_TXT => {
                // TXT-DATA: one or more <character-string>s, each a length octet and data.
                let mut text = Vec::with_capacity(rdlen);
                let mut rest = rdata;
                while let [len, tail @ ..] = rest {
                    let chunk = tail.get(..usize::from(*len)).ok_or(bad("TXT"))?;
                    text.extend_from_slice(chunk);
                    rest = &tail[chunk.len()..];
                }
                RData::Txt(text)
            }
            TYPE_CAA => {
                // RFC 8659 §4.1: Flags (1 octet), Tag Length (1 octet, ≥ 1), Tag (ASCII
                // letters and digits), Value (the rest).
                let [flags, tag_len, rest @ ..] = rdata else {
                    return Err(bad("CAA"));
                };
                let tag = rest.get(..usize::from(*tag_len)).ok_or(bad("CAA"))?;
                if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                    return Err(bad("CAA"));
                }
                RData::Caa {
                    flags: *flags,
                    tag: String::from_utf8_lossy(tag).into_owned(),
                    value: rest[tag.len()..].to_vec(),
                }
            }
            _ => RData::Other,
        }
    };
    Ok((
        Record {
            name,
            rtype,
            class,
            ttl,
            data,
        },
        end,
    ))
}

/// Reads a (possibly compressed) name at `pos`; returns it in text form and the offset just
/// after it in the original position (after the first pointer, if any).
fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), ParseError> {
    let mut name = String::new();
    let mut wire_len = 1usize; // the root label
    let mut after: Option<usize> = None;
    let mut pointers = 0;
    loop {
        let len = *msg.get(pos).ok_or(ParseError::Truncated {
            what: "name",
            offset: pos,
        })?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok((name, after.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label =
                    msg.get(pos + 1..pos + 1 + usize::from(len))
                        .ok_or(ParseError::Truncated {
                            what: "label",
                            offset: pos,
                        })?;
                wire_len += label.len() + 1;
                if wire_len > 255 {
                    return Err(ParseError::NameTooLong);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    let b = b.to_ascii_lowercase();
                    if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*' {
                        name.push(char::from(b));
                    } else {
                        let _ = write!(name, "\\{b:03}");
                    }
                }
                pos += 1 + label.len();
            }
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or(ParseError::Truncated {
                    what: "compression pointer",
                    offset: pos,
                })?;
                let to = (usize::from(len & 0x3f) << 8) | usize::from(low);
                pointers += 1;
                // Pointing backwards only (and a bounded number of times) rules out loops.
                if to >= pos || pointers > MAX_POINTERS {
                    return Err(ParseError::Pointer { to });
                }
                after.get_or_insert(pos + 2);
                pos = to;
            }
            _ => return Err(ParseError::LabelType(len)),
        }
    }
}

/// The mnemonic of an RCODE, for messages.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".to_owned(),
        1 => "FORMERR".to_owned(),
        2 => "SERVFAIL".to_owned(),
        3 => "NXDOMAIN".to_owned(),
        4 => "NOTIMP".to_owned(),
        5 => "REFUSED".to_owned(),
        n => format!("RCODE {n}"),
    }
}

/// The mnemonic of an RR type, for messages.
pub fn type_name(rtype: u16) -> String {
    match rtype {
        TYPE_A => "A".to_owned(),
        TYPE_CNAME => "CNAME".to_owned(),
        TYPE_TXT => "TXT".to_owned(),
        TYPE_AAAA => "AAAA".to_owned(),
        TYPE_CAA => "CAA".to_owned(),
        n => format!("TYPE{n}"),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A response to `build_query(0x1234, "a.example", TYPE_A)` with the given answers.
    pub(in crate::validate::dns) fn response(rcode: u8, answers: &[Vec<u8>]) -> Vec<u8> {
        let mut m = build_query(0x1234, "a.example", TYPE_A).expect("query");
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[7] = answers.len() as u8;
        m[11] = 0; // drop the OPT record from the counts
        m.truncate(m.len() - 11);
        for a in answers {
            m.extend_from_slice(a);
        }
        m
    }

    /// An answer record whose owner is a pointer to the question name (offset 12).
    fn rr(rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut r = vec![0xc0, 12];
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    #[test]
    fn builds_and_parses_a_query() {
        let q = build_query(7, "A.Example.", TYPE_TXT).expect("query");
        let m = parse_message(&q).expect("parses");
        assert_eq!(m.id, 7);
        assert!(!m.response);
        assert_eq!(
            m.questions,
            vec![Question {
                name: "a.example".into(),
                qtype: TYPE_TXT,
                qclass: 1
            }]
        );
        assert!(build_query(1, "a..b", TYPE_A).is_err());
        assert!(build_query(1, &"a".repeat(64), TYPE_A).is_err());
        assert!(build_query(1, "a b", TYPE_A).is_err());
    }

    #[test]
    fn parses_answers() {
        let mut txt = vec![3];
        txt.extend_from_slice(b"abc");
        txt.push(2);
        txt.extend_from_slice(b"de");
        let mut caa = vec![128, 5];
        caa.extend_from_slice(b"issue");
        caa.extend_from_slice(b"ca.example; x=1");
        let cname = vec![1, b'b', 0xc0, 14]; // "b" + a pointer to "example"
        let m = parse_message(&response(
            0,
            &[
                rr(TYPE_A, &[192, 0, 2, 1]),
                rr(TYPE_TXT, &txt),
                rr(TYPE_CAA, &caa),
                rr(TYPE_CNAME, &cname),
                rr(99, &[1, 2, 3]),
            ],
        ))
        .expect("parses");
        assert!(m.response);
        assert_eq!(m.answers[0].name, "a.example");
        assert_eq!(m.answers[0].data, RData::A(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(m.answers[1].data, RData::Txt(b"abcde".to_vec()));
        assert_eq!(
            m.answers[2].data,
            RData::Caa {
                flags: 128,
                tag: "issue".into(),
                value: b"ca.example; x=1".to_vec()
            }
        );
        assert_eq!(m.answers[3].data, RData::Cname("b.example".into()));
        assert_eq!(m.answers[4].data, RData::Other);
    }

    #[test]
    fn refuses_malformed_messages_without_panicking() {
        let good = response(0, &[rr(TYPE_A, &[192, 0, 2, 1])]);
        // Every truncation of a good message is an error (or, for a cut at a record
        // boundary, fewer records), never a panic.
        for n in 0..good.len() {
            assert!(parse_message(&good[..n]).is_err(), "cut at {n}");
        }
        // A pointer to itself or forwards.
        let mut looped = response(0, &[]);
        looped.truncate(12);
        looped[5] = 1;
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(matches!(
            parse_message(&looped),
            Err(ParseError::Pointer { .. })
        ));
        // A name longer than 255 octets.
        let mut long = good[..12].to_vec();
        long[5] = 1;
        long[7] = 0;
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(parse_message(&long), Err(ParseError::NameTooLong));
        // Extended label types.
        let mut ext = good[..12].to_vec();
        ext.extend_from_slice(&[0x40, 0, 0, 1, 0, 1]);
        assert_eq!(parse_message(&ext), Err(ParseError::LabelType(0x40)));
        // Bad record data.
        for (rtype, rdata) in [
            (TYPE_A, &[1, 2, 3][..]),
            (TYPE_AAAA, &[0; 4][..]),
            (TYPE_TXT, &[5, b'a'][..]),
            (TYPE_CAA, &[0][..]),
            (TYPE_CAA, &[0, 0, b'x'][..]),
            (TYPE_CAA, &[0, 9, b'i', b's'][..]),
            (TYPE_CAA, &[0, 2, b'i', b' '][..]),
            (TYPE_CNAME, &[1, b'a', 0, 0][..]),
        ] {
            let m = response(0, &[rr(rtype, rdata)]);
            assert!(
                matches!(parse_message(&m), Err(ParseError::Rdata { .. })),
                "{rtype} {rdata:?}"
            );
        }
        // Absurd counts.
        let mut counts = good.clone();
        counts[4] = 0xff;
        assert_eq!(parse_message(&counts), Err(ParseError::TooManyRecords));
        // Garbage of every short length.
        for n in 0..64u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ 0xc3).collect();
            let _ = parse_message(&junk);
        }
    }
}
