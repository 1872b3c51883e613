//! The basicConstraints and nameConstraints of a `ca = true` profile, and how a request
//! narrows them.
//!
//! A subordinate CA may ask for tighter limits than its parent's profile grants (AD CS
//! honours the path length a subordinate's CAPolicy.inf requests): a lower
//! pathLenConstraint, permitted subtrees inside the profile's, more excluded subtrees. It can
//! never widen them: a permitted subtree outside the profile's is refused, and the profile's
//! excluded subtrees always stay.

use std::net::IpAddr;

use signet_x509::ext::{self, oid};
use signet_x509::{Extension, NameConstraints, NameSubtree};

use super::ProfileError;

/// A CA profile's limits on the CA certificates it issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CaConstraints {
    pub(crate) path_len: Option<u8>,
    pub(crate) names: NameConstraints,
}

impl CaConstraints {
    /// basicConstraints (cA, critical) and, when there are subtrees, nameConstraints
    /// (critical).
    pub(crate) fn extensions(&self) -> Result<Vec<Extension>, ProfileError> {
        let mut out = vec![ext::basic_constraints(true, self.path_len)];
        if !(self.names.permitted.is_empty() && self.names.excluded.is_empty()) {
            out.push(
                ext::name_constraints(&self.names).map_err(|e| format!("name constraints: {e}"))?,
            );
        }
        Ok(out)
    }

    /// These limits, narrowed by the basicConstraints and nameConstraints the request asks
    /// for. A refusal names what would widen them.
    pub(crate) fn narrowed_by(
        &self,
        requested: &[Extension],
        profile: &impl std::fmt::Display,
    ) -> Result<CaConstraints, ProfileError> {
        let mut out = self.clone();
        for e in requested {
            let bad = |err: signet_x509::Error| format!("requested extension {}: {err}", e.oid);
            match e.oid.as_str() {
                oid::BASIC_CONSTRAINTS => {
                    if let (true, Some(asked)) =
                        ext::parse_basic_constraints(&e.value).map_err(bad)?
                    {
                        let asked = u8::try_from(asked).unwrap_or(u8::MAX);
                        out.path_len = Some(out.path_len.map_or(asked, |p| p.min(asked)));
                    }
                }
                oid::NAME_CONSTRAINTS => {
                    let asked = ext::parse_name_constraints(&e.value).map_err(bad)?;
                    out.names = narrow_names(&self.names, &asked, profile)?;
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// The profile's name constraints narrowed by the requested ones: for each kind of name
/// (DNS, email, IP) the request permits, its permitted subtrees replace the profile's, each
/// within one of them; excluded subtrees are both lists'.
fn narrow_names(
    granted: &NameConstraints,
    asked: &NameConstraints,
    profile: &impl std::fmt::Display,
) -> Result<NameConstraints, ProfileError> {
    let kind = std::mem::discriminant::<NameSubtree>;
    for a in &asked.permitted {
        let same_kind: Vec<&NameSubtree> = granted
            .permitted
            .iter()
            .filter(|g| kind(g) == kind(a))
            .collect();
        if !same_kind.is_empty() && !same_kind.iter().any(|g| subtree_within(a, g)) {
            return Err(refused!(
                "the request asks to permit {}, outside profile {profile}'s permitted subtrees",
                show(a)
            ));
        }
    }
    let mut permitted: Vec<NameSubtree> = granted
        .permitted
        .iter()
        .filter(|g| !asked.permitted.iter().any(|a| kind(a) == kind(g)))
        .cloned()
        .collect();
    permitted.extend(asked.permitted.iter().cloned());
    let mut excluded = granted.excluded.clone();
    for x in &asked.excluded {
        if !excluded.contains(x) {
            excluded.push(x.clone());
        }
    }
    Ok(NameConstraints {
        permitted,
        excluded,
    })
}

/// A subtree as an administrator writes it in a profile.
fn show(s: &NameSubtree) -> String {
    match s {
        NameSubtree::Dns(d) => format!("DNS {d}"),
        NameSubtree::Email(e) => format!("email {e}"),
        NameSubtree::Ip { network, prefix } => format!("IP {network}/{prefix}"),
    }
}

/// Whether every name subtree `inner` allows is allowed by `outer` (RFC 5280 §4.2.1.10
/// matching).
fn subtree_within(inner: &NameSubtree, outer: &NameSubtree) -> bool {
    match (inner, outer) {
        (NameSubtree::Dns(i), NameSubtree::Dns(o)) => dns_within(i, o),
        (NameSubtree::Email(i), NameSubtree::Email(o)) => email_within(i, o),
        (
            NameSubtree::Ip {
                network: i,
                prefix: ip,
            },
            NameSubtree::Ip {
                network: o,
                prefix: op,
            },
        ) => ip_within(*i, *ip, *o, *op),
        _ => false,
    }
}

/// A DNS subtree within another: equal, or below it.
fn dns_within(inner: &str, outer: &str) -> bool {
    let (inner, outer) = (inner.to_ascii_lowercase(), outer.to_ascii_lowercase());
    inner == outer || inner.ends_with(&format!(".{outer}"))
}

/// An rfc822Name constraint within another: a mailbox, a host (every mailbox at it) or
/// `.domain` (every host below).
fn email_within(inner: &str, outer: &str) -> bool {
    let (inner, outer) = (inner.to_ascii_lowercase(), outer.to_ascii_lowercase());
    let host_of = |s: &str| s.rsplit_once('@').map(|(_, h)| h.to_owned());
    match (outer.contains('@'), outer.strip_prefix('.')) {
        (true, _) => inner == outer,
        (false, Some(domain)) => {
            let host = host_of(&inner).unwrap_or_else(|| inner.trim_start_matches('.').into());
            host.ends_with(&format!(".{domain}"))
        }
        (false, None) => {
            !inner.starts_with('.') && host_of(&inner).unwrap_or_else(|| inner.clone()) == outer
        }
    }
}

/// An address range within another of the same family.
fn ip_within(inner: IpAddr, inner_prefix: u8, outer: IpAddr, outer_prefix: u8) -> bool {
    let bits = |a: IpAddr| -> (u128, u8) {
        match a {
            IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        }
    };
    let ((i, len), (o, o_len)) = (bits(inner), bits(outer));
    if len != o_len || inner_prefix < outer_prefix || outer_prefix > len {
        return false;
    }
    // The first `outer_prefix` bits, the address left-aligned in 128 bits.
    let mask = match outer_prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p)),
    };
    i & mask == o & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraints(path_len: Option<u8>, permitted: &[&str]) -> CaConstraints {
        CaConstraints {
            path_len,
            names: NameConstraints {
                permitted: permitted
                    .iter()
                    .map(|d| NameSubtree::Dns((*d).into()))
                    .collect(),
                excluded: Vec::new(),
            },
        }
    }

    fn request(path_len: Option<u32>, permitted: &[&str]) -> Vec<Extension> {
        let mut out = vec![ext::basic_constraints(true, path_len.map(|p| p as u8))];
        if !permitted.is_empty() {
            out.push(ext::name_constraints(&constraints(None, permitted).names).expect("encodes"));
        }
        out
    }

    #[test]
    fn a_request_narrows_never_widens() {
        let granted = constraints(Some(1), &["example.test"]);
        let narrowed = granted
            .narrowed_by(&request(Some(0), &["shop.example.test"]), &"subca")
            .expect("narrower is fine");
        assert_eq!(narrowed, constraints(Some(0), &["shop.example.test"]));
        // A higher path length is ignored, not granted.
        let same = granted
            .narrowed_by(&request(Some(5), &[]), &"subca")
            .expect("ok");
        assert_eq!(same.path_len, Some(1));
        // Outside the profile's subtree, or a look-alike suffix: refused.
        for outside in ["other.test", "badexample.test"] {
            let err = granted
                .narrowed_by(&request(None, &[outside]), &"subca")
                .expect_err("wider is refused");
            assert!(err.to_string().contains(outside), "{err}");
        }
        // A profile without name constraints takes the requested ones.
        let open = constraints(None, &[]);
        let taken = open
            .narrowed_by(&request(Some(2), &["corp.test"]), &"subca")
            .expect("ok");
        assert_eq!(taken, constraints(Some(2), &["corp.test"]));
    }

    #[test]
    fn subtrees_of_each_kind() {
        assert!(email_within("a@x.test", "x.test"));
        assert!(email_within("x.test", "x.test"));
        assert!(email_within("h.x.test", ".x.test"));
        assert!(!email_within("x.test", ".x.test"));
        assert!(!email_within("b@x.test", "a@x.test"));
        let v4 = |s: &str| s.parse::<IpAddr>().expect("address");
        assert!(ip_within(v4("10.1.0.0"), 16, v4("10.0.0.0"), 8));
        assert!(!ip_within(v4("11.0.0.0"), 16, v4("10.0.0.0"), 8));
        assert!(!ip_within(v4("10.0.0.0"), 8, v4("10.1.0.0"), 16));
        assert!(ip_within(v4("fd00::"), 64, v4("fd00::"), 8));
        assert!(!ip_within(v4("10.0.0.0"), 8, v4("fd00::"), 8));
    }
}
