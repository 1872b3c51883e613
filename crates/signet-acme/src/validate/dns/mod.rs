//! A small stub DNS client (RFC 1035) for validation: A, AAAA, TXT, CAA and CNAME queries
//! over UDP with a fallback to TCP when the answer is truncated. No cache: every lookup asks
//! the configured resolvers again, so a validation attempt always sees current records.
//!
//! Answers come from the network and are parsed defensively: every length is checked against
//! the message, compression pointers may only point backwards and are bounded, names are
//! limited to 255 octets, and a malformed answer is an error, never a panic. A UDP answer
//! whose id or question does not match the query is ignored (it may be spoofed), and the
//! query id is random.
//!
//! Layout: this module is the client ([`DnsClient`]); [`wire`] builds queries and parses
//! answers.

pub mod wire;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use wire::{CLASS_IN, UDP_PAYLOAD};
pub use wire::{
    Message, ParseError, Question, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL, RData, Record,
    TYPE_A, TYPE_AAAA, TYPE_CAA, TYPE_CNAME, TYPE_OPT, TYPE_TXT, build_query, normalize,
    parse_message, rcode_name, type_name,
};

/// How many CNAMEs a lookup follows before it gives up.
const MAX_CNAME_HOPS: usize = 8;

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
    #[error("resolver {server}")]
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
    use super::wire::tests::response;
    use super::*;

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
