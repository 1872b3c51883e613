//! Address ranges (CIDR) and the rule that decides which addresses validation may connect to.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network in CIDR notation: `10.0.0.0/8`, `::1/128`, or a bare address (a
/// single-address range). Host bits below the prefix must be zero, so `10.0.0.1/8` is refused
/// rather than silently meaning `10.0.0.0/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not an [`IpRange`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpRangeError {
    /// The part before `/` is not an IP address.
    #[error("{text:?} is not an IP address")]
    Address { text: String },
    /// The prefix length is not a number within the address family's size.
    #[error("{text:?} is not a prefix length for {family} (0..={max})")]
    Prefix {
        text: String,
        family: &'static str,
        max: u8,
    },
    /// Bits below the prefix are set.
    #[error("{text:?} has host bits set below /{prefix}")]
    HostBits { text: String, prefix: u8 },
}

impl IpRange {
    /// The range of `network`/`prefix`; `None` when the prefix is too long or host bits are set.
    pub fn new(network: IpAddr, prefix: u8) -> Option<IpRange> {
        let range = IpRange { network, prefix };
        let max = max_prefix(&network);
        (prefix <= max && mask(&network, prefix) == bits(&network)).then_some(range)
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `addr` lies in this range. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is
    /// treated as the IPv4 address it carries, both here and in [`AddressPolicy`], so the
    /// mapped form cannot sneak past an IPv4 denial.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        match (self.network, addr) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(&addr, self.prefix) == bits(&self.network)
            }
            _ => false,
        }
    }
}

impl FromStr for IpRange {
    type Err = IpRangeError;

    fn from_str(text: &str) -> Result<IpRange, IpRangeError> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr_text.parse().map_err(|_| IpRangeError::Address {
            text: text.to_owned(),
        })?;
        let max = max_prefix(&network);
        let prefix = match prefix_text {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| IpRangeError::Prefix {
                    text: text.to_owned(),
                    family: if network.is_ipv4() { "IPv4" } else { "IPv6" },
                    max,
                })?,
        };
        IpRange::new(network, prefix).ok_or_else(|| IpRangeError::HostBits {
            text: text.to_owned(),
            prefix,
        })
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The ranges `ValidationConfig::default()` denies: addresses that are never a legitimate
/// validation target and that an attacker would aim at to probe the CA's own host or cloud
/// metadata. Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are *not* here: an
/// enterprise CA validates internal names.
pub const DEFAULT_DENIED: &[&str] = &[
    "0.0.0.0/8",          // "this network"
    "127.0.0.0/8",        // loopback
    "169.254.0.0/16",     // link-local, including cloud metadata (169.254.169.254)
    "224.0.0.0/4",        // multicast
    "240.0.0.0/4",        // reserved and broadcast
    "::/128",             // unspecified
    "::1/128",            // loopback
    "fe80::/10",          // link-local
    "ff00::/8",           // multicast
    "100.100.100.200/32", // cloud metadata (Alibaba)
    "fd00:ec2::254/128",  // cloud metadata (AWS, IPv6)
    "64:ff9b::/96",       // NAT64: any IPv4 address, the denied ones included
];

/// The decision which addresses validation may connect to.
///
/// Precedence, like a routing table (longest prefix wins):
/// 1. When `allowed` is non-empty, an address outside every allowed range is refused.
/// 2. An address inside a denied range is refused, unless an allowed range that contains it
///    is at least as specific (prefix as long or longer) as the most specific denied range
///    that contains it. So `allowed = ["127.0.0.0/8"]` overrides the default denial of
///    `127.0.0.0/8` (tests validate on loopback this way), while an explicit
///    `denied = ["10.1.2.0/24"]` still carves a hole into `allowed = ["10.0.0.0/8"]`.
/// 3. Everything else is permitted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allowed: Vec<IpRange>,
    pub denied: Vec<IpRange>,
}

impl AddressPolicy {
    /// Whether validation may connect to `addr`.
    pub fn permits(&self, addr: IpAddr) -> bool {
        let longest = |ranges: &[IpRange]| {
            ranges
                .iter()
                .filter(|r| r.contains(addr))
                .map(|r| r.prefix)
                .max()
        };
        let allowed = longest(&self.allowed);
        if !self.allowed.is_empty() && allowed.is_none() {
            return false;
        }
        match (longest(&self.denied), allowed) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(denied), Some(allowed)) => allowed >= denied,
        }
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address; anything else unchanged.
pub(crate) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => addr,
        },
        v4 => v4,
    }
}

fn max_prefix(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn bits(addr: &IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(u32::from(*v4)),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

/// The address's bits with everything below `prefix` cleared.
fn mask(addr: &IpAddr, prefix: u8) -> u128 {
    let width = u32::from(max_prefix(addr));
    let keep = u32::from(prefix).min(width);
    let host = width - keep;
    let value = bits(addr);
    if host >= 128 {
        0
    } else {
        (value >> host) << host
    }
}

/// The reverse-DNS name of an address (RFC 8738 §6): `4.3.2.1.in-addr.arpa` or the 32
/// nibbles of an IPv6 address under `ip6.arpa`.
pub(crate) fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0x0f, byte >> 4] {
                    out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    out.push('.');
                }
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> IpRange {
        s.parse().expect(s)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect(s)
    }

    #[test]
    fn parses_cidr_and_bare_addresses() {
        assert_eq!(r("10.0.0.0/8").prefix(), 8);
        assert_eq!(r("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(r("::1").to_string(), "::1/128");
        assert_eq!(r("192.0.2.7").prefix(), 32);
        assert_eq!(r("0.0.0.0/0").prefix(), 0);
        assert_eq!(r("::/0").prefix(), 0);
        assert_eq!(r("fe80::/10").network(), ip("fe80::"));
    }

    #[test]
    fn refuses_bad_ranges() {
        for bad in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "x/8",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
        assert!(matches!(
            "10.0.0.1/8".parse::<IpRange>(),
            Err(IpRangeError::HostBits { prefix: 8, .. })
        ));
        assert!(matches!(
            "10.0.0.0/99".parse::<IpRange>(),
            Err(IpRangeError::Prefix { max: 32, .. })
        ));
        assert!(matches!(
            "example.com/8".parse::<IpRange>(),
            Err(IpRangeError::Address { .. })
        ));
    }

    #[test]
    fn matches_addresses() {
        assert!(r("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!r("10.0.0.0/8").contains(ip("11.0.0.0")));
        assert!(r("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!r("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(r("::/0").contains(ip("2001:db8::1")));
        assert!(r("fe80::/10").contains(ip("febf::1")));
        assert!(!r("fe80::/10").contains(ip("fec0::1")));
        assert!(r("::1/128").contains(ip("::1")));
        assert!(!r("::1/128").contains(ip("::2")));
        // The IPv4-mapped form of a loopback address is loopback.
        assert!(r("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn policy_precedence() {
        let defaults: Vec<IpRange> = DEFAULT_DENIED.iter().map(|s| r(s)).collect();
        let default = AddressPolicy {
            allowed: vec![],
            denied: defaults.clone(),
        };
        for denied in [
            "127.0.0.1",
            "::1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "ff02::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!default.permits(ip(denied)), "{denied}");
        }
        for ok in [
            "10.1.2.3",
            "192.168.1.1",
            "203.0.113.5",
            "2001:db8::1",
            "fd00::1",
        ] {
            assert!(default.permits(ip(ok)), "{ok}");
        }
        // An allowed range as specific as the default denial overrides it.
        let loopback = AddressPolicy {
            allowed: vec![r("127.0.0.0/8")],
            denied: defaults,
        };
        assert!(loopback.permits(ip("127.0.0.1")));
        assert!(!loopback.permits(ip("10.0.0.1")), "outside allowed");
        assert!(!loopback.permits(ip("::1")), "outside allowed");
        // A more specific denial carves a hole into an allowed range.
        let hole = AddressPolicy {
            allowed: vec![r("10.0.0.0/8")],
            denied: vec![r("10.1.2.0/24")],
        };
        assert!(hole.permits(ip("10.1.3.4")));
        assert!(!hole.permits(ip("10.1.2.4")));
        assert!(AddressPolicy::default().permits(ip("127.0.0.1")));
    }

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name(ip("192.0.2.5")), "5.2.0.192.in-addr.arpa");
        assert_eq!(
            reverse_name(ip("2001:db8::567:89ab")),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }
}
