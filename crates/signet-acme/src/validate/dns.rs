//! A small stub DNS client (RFC 1035) for validation: A, AAAA, TXT, CAA and CNAME queries
//! over UDP with a fallback to TCP when the answer is truncated. No cache: every lookup asks
//! the configured resolvers again, so a validation attempt always sees current records.
//!
//! Answers come from the network and are parsed defensively: every length is checked against
//! the message, compression pointers may only point backwards and are bounded, names are
//! limited to 255 octets, and a malformed answer is an error, never a panic. A UDP answer
//! whose id or question does not match the query is ignored (it may be spoofed), and the
//! query id is random.

use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

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
const CLASS_IN: u16 = 1;

/// RCODE NOERROR.
pub const RCODE_NOERROR: u8 = 0;
/// RCODE SERVFAIL.
pub const RCODE_SERVFAIL: u8 = 2;
/// RCODE NXDOMAIN.
pub const RCODE_NXDOMAIN: u8 = 3;

/// The UDP payload size we advertise with EDNS(0) (the DNS flag day 2020 value).
const UDP_PAYLOAD: u16 = 1232;
/// How many CNAMEs a lookup follows before it gives up.
const MAX_CNAME_HOPS: usize = 8;
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

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// No resolver is configured.
    #[error("no DNS resolver configured")]
    NoServers,
    /// The name cannot be put into a query.
    #[error("{name:?} is not a valid DNS name: {reason}")]
    Name { name: String, reason: &'static str },
    /// Sending to or receiving from a resolver failed.
    #[error("resolver {server}: {source}")]
    Io {
        server: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// The resolver did not answer in time.
    #[error("resolver {server} did not answer within {after:?}")]
    Timeout { server: SocketAddr, after: Duration },
    /// The answer was not a well-formed DNS message.
    #[error("resolver {server} sent a malformed answer")]
    Malformed {
        server: SocketAddr,
        #[source]
        source: ParseError,
    },
    /// A TCP answer did not match the query (id, question or flags).
    #[error("resolver {server} answered a different question")]
    Mismatch { server: SocketAddr },
    /// The resolver answered with an error code other than NXDOMAIN.
    #[error("resolver {server} answered {} for {name} {}", rcode_name(*.rcode), type_name(*.qtype))]
    Rcode {
        server: SocketAddr,
        name: String,
        qtype: u16,
        rcode: u8,
    },
    /// CNAMEs went on for longer than we follow.
    #[error("more than {MAX_CNAME_HOPS} CNAMEs from {name}")]
    CnameChain { name: String },
}

/// The outcome of a lookup after following CNAMEs: the records of the asked type at the end
/// of the chain (empty for NOERROR without data), and whether the name does not exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// The name the records belong to (the last CNAME target, or the name asked).
    pub name: String,
    pub records: Vec<RData>,
    pub nxdomain: bool,
}

/// A stub resolver client: asks each configured server in turn until one answers.
#[derive(Clone, Debug)]
pub struct DnsClient {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl DnsClient {
    /// A client of `servers`, giving each query `timeout` per server.
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration) -> DnsClient {
        DnsClient { servers, timeout }
    }

    /// Looks up `name`'s records of type `qtype`, following CNAMEs (at most
    /// [`MAX_CNAME_HOPS`]). NXDOMAIN is a result (`nxdomain`), not an error; SERVFAIL, REFUSED
    /// and every other error code are errors once every server has been tried.
    pub async fn lookup(&self, name: &str, qtype: u16) -> Result<Lookup, DnsError> {
        let mut current = normalize(name);
        for _ in 0..=MAX_CNAME_HOPS {
            let message = self.query(&current, qtype).await?;
            // Follow the chain as far as this answer carries it.
            let mut hops = 0;
            loop {
                let records: Vec<RData> = message
                    .answers
                    .iter()
                    .filter(|r| r.name == current && r.rtype == qtype && r.class == CLASS_IN)
                    .map(|r| r.data.clone())
                    .collect();
                if !records.is_empty() || qtype == TYPE_CNAME {
                    return Ok(Lookup {
                        name: current,
                        records,
                        nxdomain: false,
                    });
                }
                let next = message.answers.iter().find_map(|r| match &r.data {
                    RData::Cname(target) if r.name == current => Some(target.clone()),
                    _ => None,
                });
                match next {
                    Some(target) if hops < MAX_CNAME_HOPS => {
                        current = target;
                        hops += 1;
                    }
                    Some(_) => {
                        return Err(DnsError::CnameChain {
                            name: normalize(name),
                        });
                    }
                    None if hops == 0 => {
                        return Ok(Lookup {
                            name: current,
                            records: Vec::new(),
                            nxdomain: message.rcode == RCODE_NXDOMAIN,
                        });
                    }
                    // The answer stopped at a CNAME target: ask for the target itself.
                    None => break,
                }
            }
        }
        Err(DnsError::CnameChain {
            name: normalize(name),
        })
    }

    /// Sends one query to the servers in turn and returns the first answer whose code is
    /// NOERROR or NXDOMAIN; otherwise the last error.
    pub async fn query(&self, name: &str, qtype: u16) -> Result<Message, DnsError> {
        let mut last = DnsError::NoServers;
        for &server in &self.servers {
            match self.query_server(server, name, qtype).await {
                Ok(m) if m.rcode == RCODE_NOERROR || m.rcode == RCODE_NXDOMAIN => return Ok(m),
                Ok(m) => {
                    last = DnsError::Rcode {
                        server,
                        name: name.to_owned(),
                        qtype,
                        rcode: m.rcode,
                    }
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// One query to one server: UDP, then TCP if the UDP answer is truncated.
    pub async fn query_server(
        &self,
        server: SocketAddr,
        name: &str,
        qtype: u16,
    ) -> Result<Message, DnsError> {
        let id = random_id();
        let query = build_query(id, name, qtype)?;
        let timeout = self.timeout;
        let udp = tokio::time::timeout(timeout, query_udp(server, &query, id, name, qtype))
            .await
            .map_err(|_| DnsError::Timeout {
                server,
                after: timeout,
            })??;
        if !udp.truncated {
            return Ok(udp);
        }
        self.query_server_tcp(server, name, qtype).await
    }

    /// One query to one server over TCP (RFC 7766).
    pub async fn query_server_tcp(
        &self,
        server: SocketAddr,
        name: &str,
        qtype: u16,
    ) -> Result<Message, DnsError> {
        let id = random_id();
        let query = build_query(id, name, qtype)?;
        let timeout = self.timeout;
        tokio::time::timeout(timeout, query_tcp(server, &query, id, name, qtype))
            .await
            .map_err(|_| DnsError::Timeout {
                server,
                after: timeout,
            })?
    }
}

async fn query_udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    qtype: u16,
) -> Result<Message, DnsError> {
    let io_err = |source| DnsError::Io { server, source };
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(io_err)?;
    socket.connect(server).await.map_err(io_err)?;
    socket.send(query).await.map_err(io_err)?;
    let mut buf = vec![0u8; usize::from(UDP_PAYLOAD).max(4096)];
    loop {
        let n = socket.recv(&mut buf).await.map_err(io_err)?;
        // A datagram that does not parse or does not answer our query is dropped and we keep
        // waiting (until the caller's timeout): it may be an off-path spoofing attempt.
        let Ok(message) = parse_message(buf.get(..n).unwrap_or_default()) else {
            continue;
        };
        if answers(&message, id, name, qtype) {
            return Ok(message);
        }
    }
}

async fn query_tcp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    qtype: u16,
) -> Result<Message, DnsError> {
    let io_err = |source| DnsError::Io { server, source };
    let mut stream = TcpStream::connect(server).await.map_err(io_err)?;
    let len = u16::try_from(query.len()).map_err(|_| DnsError::Name {
        name: name.to_owned(),
        reason: "query too long",
    })?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(io_err)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io_err)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(io_err)?;
    let message = parse_message(&buf).map_err(|source| DnsError::Malformed { server, source })?;
    if answers(&message, id, name, qtype) {
        Ok(message)
    } else {
        Err(DnsError::Mismatch { server })
    }
}

/// Whether `message` is the response to our query `id` for `name`/`qtype`.
fn answers(message: &Message, id: u16, name: &str, qtype: u16) -> bool {
    message.id == id
        && message.response
        && message.opcode == 0
        && matches!(message.questions.as_slice(),
            [q] if q.name == normalize(name) && q.qtype == qtype && q.qclass == CLASS_IN)
}

fn random_id() -> u16 {
    use aws_lc_rs::rand::SecureRandom;
    let mut id = [0u8; 2];
    // The system random source does not fail on Linux; a zero id would still be a valid query.
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut id);
    u16::from_be_bytes(id)
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

/// The nameservers of a resolv.conf text (`nameserver ADDR` lines, port 53; an IPv6 zone
/// suffix `%eth0` is dropped).
pub fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            let addr = words.next()?;
            let addr = addr.split('%').next()?;
            addr.parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `build_query(0x1234, "a.example", TYPE_A)` with the given answers.
    fn response(rcode: u8, answers: &[Vec<u8>]) -> Vec<u8> {
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

    #[test]
    fn matches_only_our_answer() {
        let m = parse_message(&response(0, &[])).expect("parses");
        assert!(answers(&m, 0x1234, "A.example.", TYPE_A));
        assert!(!answers(&m, 0x1235, "a.example", TYPE_A));
        assert!(!answers(&m, 0x1234, "b.example", TYPE_A));
        assert!(!answers(&m, 0x1234, "a.example", TYPE_AAAA));
    }

    #[test]
    fn reads_resolv_conf() {
        let text =
            "# comment\nnameserver 10.0.0.2\nsearch x\nnameserver fe80::1%eth0\nnameserver bogus\n";
        assert_eq!(
            resolv_conf_nameservers(text),
            vec![
                "10.0.0.2:53".parse::<SocketAddr>().expect("addr"),
                "[fe80::1]:53".parse().expect("addr")
            ]
        );
    }
}
