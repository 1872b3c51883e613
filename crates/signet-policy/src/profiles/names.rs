//! Name matching for allow-lists: host names, URI prefixes, CIDR ranges.

use super::*;

pub(super) fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// A host name of LDH labels (RFC 1123), at most 253 characters.
pub(super) fn valid_hostname(name: &str) -> bool {
    signet_x509::ext::is_ldh_hostname(name)
}

/// The parts of a URI that allow-lists compare (RFC 3986 `scheme://[userinfo@]host[:port]/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Uri {
    pub(super) scheme: String,
    pub(super) userinfo: Option<String>,
    pub(super) host: String,
    pub(super) port: Option<String>,
    pub(super) path: String,
}

impl Uri {
    pub(super) fn parse(s: &str) -> Option<Uri> {
        if s.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return None;
        }
        let (scheme, rest) = s.split_once("://")?;
        let scheme_ok = !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_ok {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        // An IPv6 literal keeps its colons inside brackets.
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, Some(p.to_string())),
            _ => (hostport, None),
        };
        if host.is_empty() {
            return None;
        }
        Some(Uri {
            scheme: scheme.to_ascii_lowercase(),
            userinfo,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_string(),
        })
    }

    /// Whether `uri` falls under this prefix: same scheme, host and port, and a path that
    /// starts with the prefix's path on a segment boundary.
    pub(super) fn allows(&self, uri: &Uri) -> bool {
        let rest = uri.path.strip_prefix(self.path.as_str());
        let path_ok = rest.is_some_and(|r| {
            self.path.is_empty()
                || self.path.ends_with('/')
                || r.is_empty()
                || r.starts_with(['/', '?', '#'])
        });
        self.scheme == uri.scheme && self.host == uri.host && self.port == uri.port && path_ok
    }
}

/// An IP range in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cidr {
    pub(super) network: IpAddr,
    pub(super) prefix: u8,
}

impl Cidr {
    pub(super) fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr {
            network: addr,
            prefix,
        })
    }

    pub(super) fn contains(&self, ip: &IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), self.prefix, 32)
                    == masked(u32::from(*a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(*a), self.prefix, 128)
            }
            _ => false,
        }
    }
}
