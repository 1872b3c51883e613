//! Identities and roles (AD CS role-based administration, DESIGN §6).
//!
//! An [`Identity`] is who a caller proved to be (an API token or a TLS client certificate,
//! mapped by the server), with the roles it holds and the CAs they apply to. Every operation
//! of the engine that changes or reveals state names the role it needs and asks
//! [`Identity::authorize`]; the HTTP layer only authenticates.

use std::fmt;
use std::str::FromStr;

use crate::enroll::EnrollError;
use crate::ids::CaName;

/// A role (AD CS: CA administrator, certificate manager, auditor; plus enrollment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// CA administrator: configuration, tokens, import, CRL publication.
    Admin,
    /// Certificate manager (AD CS "officer"): approve, deny, edit pending requests, revoke.
    Manager,
    /// Auditor: reads and verifies the audit log.
    Auditor,
    /// Submits requests and retrieves their own.
    Requester,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Auditor, Role::Requester];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Auditor => "auditor",
            Role::Requester => "requester",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Role::Admin => 1,
            Role::Manager => 2,
            Role::Auditor => 4,
            Role::Requester => 8,
        }
    }
}

/// A role name that is not one of the four (its first 40 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (admin, manager, auditor, requester)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRole(s.chars().take(40).collect()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    pub fn from_roles(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |m, r| m | r.bit()))
    }
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
    /// Administrator and certificate manager at once: what role separation forbids.
    pub fn violates_separation(self) -> bool {
        self.contains(Role::Admin) && self.contains(Role::Manager)
    }
    /// Parses a comma-separated list (`admin,auditor`).
    pub fn parse_list(s: &str) -> Result<Roles, UnknownRole> {
        let roles = s
            .split(',')
            .filter(|r| !r.trim().is_empty())
            .map(|r| r.trim().parse())
            .collect::<Result<Vec<Role>, _>>()?;
        Ok(Roles::from_roles(&roles))
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The name recorded as requester, approver and audit actor. Tokens and certificate
    /// mappings with the same name are the same identity.
    pub name: String,
    pub roles: Roles,
    /// The CAs the roles apply to; empty means every CA.
    pub cas: Vec<CaName>,
    /// Groups, for profiles' enrollment lists (`group:NAME`).
    pub groups: Vec<String>,
    /// How the caller authenticated (`token:ID`, `certificate`), for the audit log.
    pub via: String,
}

impl Identity {
    /// Whether the identity holds `role` on `ca` (on every CA when `ca` is `None`).
    pub fn has(&self, role: Role, ca: Option<&CaName>) -> bool {
        self.roles.contains(role)
            && match ca {
                Some(ca) => self.cas.is_empty() || self.cas.contains(ca),
                None => self.cas.is_empty(),
            }
    }

    /// Checks that the identity may act in `role` on `ca`. With role separation on, an
    /// identity holding both administrator and manager may do nothing at all (AD CS
    /// `RoleSeparationEnabled`).
    pub fn authorize(
        &self,
        role: Role,
        ca: Option<&CaName>,
        separation: bool,
    ) -> Result<(), EnrollError> {
        if separation && self.roles.violates_separation() {
            return Err(EnrollError::Forbidden(format!(
                "{} holds both the admin and manager roles, which role separation forbids",
                self.name
            )));
        }
        if self.has(role, ca) {
            return Ok(());
        }
        let scope = ca.map_or("every CA".to_string(), |c| format!("CA {c}"));
        Err(EnrollError::Forbidden(format!(
            "{} does not hold the {role} role on {scope}",
            self.name
        )))
    }
}

/// Requires an authenticated caller.
pub fn require(caller: Option<&Identity>) -> Result<&Identity, EnrollError> {
    caller.ok_or_else(|| {
        EnrollError::Unauthenticated(
            "this operation needs credentials: an API token (Authorization: Bearer) or a TLS client certificate".into(),
        )
    })
}

/// Checks an identity name (token names, certificate mappings): 1-64 characters that read
/// well in logs and cannot be confused with syntax.
pub fn check_identity_name(name: &str) -> Result<(), BadIdentityName> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BadIdentityName(name.chars().take(64).collect()))
    }
}

/// A name [`check_identity_name`] refused (its first 64 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid identity name {0:?}: 1-64 characters from A-Z a-z 0-9 - _ . @")]
pub struct BadIdentityName(pub String);

/// Names Signet itself records as actors or requesters, and the bootstrap administrator's:
/// no token or certificate identity may take them (compared case-insensitively).
pub const RESERVED_NAMES: &[&str] = &[
    "anonymous",
    "system",
    "bootstrap-admin",
    "signet",
    "signet-init",
];

/// Checks the name of a new identity (a token or a certificate mapping): a valid name, not
/// a reserved one. Identity names compare case-insensitively everywhere (`alice` and `ALICE`
/// are one person), so the check is too.
pub fn check_new_identity_name(name: &str) -> Result<(), NameRefused> {
    check_identity_name(name)?;
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(NameRefused::Reserved(name.to_string()));
    }
    Ok(())
}

/// Why a new identity name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameRefused {
    /// Not 1-64 characters of the allowed set.
    #[error(transparent)]
    Invalid(#[from] BadIdentityName),
    #[error("identity name {0:?} is reserved for Signet itself (reserved: {list})", list = RESERVED_NAMES.join(", "))]
    Reserved(String),
}

/// The token of an `Authorization: Bearer TOKEN` value. The scheme is case-insensitive and
/// followed by one or more spaces (RFC 9110 §11.1, §11.4); anything else is `None`.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_start_matches(' ').trim_end();
    (!token.is_empty()).then_some(token)
}

/// Whether two identity names name the same identity.
pub fn same_identity(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A certificate names no identity Signet can use: neither its CN nor a DNS name is a
/// usable identity name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the certificate {subject} has no CN or DNS name usable as an identity name \
     (1-64 of A-Z a-z 0-9 - _ . @)"
)]
pub struct NoIdentityName {
    pub subject: String,
}

/// The identity of a certificate `ca` issued, for a front end that lets the certificate
/// stand for its holder (EST client certificates, CMP signature protection): named by its
/// CN, or its first DNS name when the CN is not a usable identity name; the requester role
/// on this CA only; in `group`; `via = certificate:<serial>`.
pub fn certificate_identity(
    ca: &CaName,
    info: &signet_x509::CertificateInfo,
    group: &str,
) -> Result<Identity, NoIdentityName> {
    let usable = |n: &str| check_new_identity_name(n).is_ok();
    let name = info
        .subject
        .common_name()
        .filter(|cn| usable(cn))
        .or_else(|| {
            info.sans.iter().find_map(|s| match s {
                signet_x509::San::Dns(d) if usable(d) => Some(d.clone()),
                _ => None,
            })
        })
        .ok_or_else(|| NoIdentityName {
            subject: info.subject.to_string(),
        })?;
    Ok(Identity {
        name,
        roles: Roles::from_roles(&[Role::Requester]),
        cas: vec![ca.clone()],
        groups: vec![group.to_owned()],
        via: format!("certificate:{}", info.serial_hex),
    })
}

/// Authentication: a front end turns a credential into an [`Identity`], and re-checks a
/// session's identity while it lasts. Certificates are mapped by the front end (it holds the
/// mappings); whether one was revoked is the engine's answer.
pub trait Authenticate: Send + Sync {
    /// An API token's identity; `Unauthenticated` when unknown, expired or revoked.
    fn authenticate_token(&self, secret: &str) -> Result<Identity, EnrollError>;
    /// The current identity of a session opened as `identity`: a token session ends when its
    /// token is revoked or expires, and its roles follow the token's.
    fn refresh_identity(&self, identity: &Identity) -> Result<Identity, EnrollError>;
    /// The identity and secret of the live token named `name` made as a shared secret
    /// (`TokenSpec::shared_secret`), for a front end that computes MACs with it (CMP's
    /// password-based MAC). `Unauthenticated` for any other name.
    fn shared_secret(&self, name: &str) -> Result<(Identity, String), EnrollError> {
        Err(EnrollError::Unauthenticated(format!(
            "no shared-secret token is named {:?}",
            name.chars().take(64).collect::<String>()
        )))
    }
    /// Whether a certificate one of these CAs issued (found by its issuer name) is
    /// revoked or on hold; `false` for other issuers.
    fn is_revoked<'a>(
        &'a self,
        issuer: &'a signet_x509::DistinguishedName,
        serial: &'a crate::ids::SerialNumber,
    ) -> crate::BoxFuture<'a, Result<bool, EnrollError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(roles: &[Role], cas: &[&str]) -> Identity {
        Identity {
            name: "x".into(),
            roles: Roles::from_roles(roles),
            cas: cas.iter().map(|c| CaName::new(c).expect("name")).collect(),
            groups: Vec::new(),
            via: "test".into(),
        }
    }

    #[test]
    fn roles_are_scoped_to_cas() {
        let a = CaName::new("a").expect("name");
        let b = CaName::new("b").expect("name");
        let m = who(&[Role::Manager], &["a"]);
        assert!(m.authorize(Role::Manager, Some(&a), true).is_ok());
        assert!(m.authorize(Role::Manager, Some(&b), true).is_err());
        assert!(m.authorize(Role::Manager, None, true).is_err());
        assert!(m.authorize(Role::Admin, Some(&a), true).is_err());
        let any = who(&[Role::Auditor], &[]);
        assert!(any.authorize(Role::Auditor, None, true).is_ok());
    }

    #[test]
    fn separation_blocks_admin_plus_manager() {
        let a = CaName::new("a").expect("name");
        let both = who(&[Role::Admin, Role::Manager], &[]);
        assert!(both.authorize(Role::Admin, Some(&a), true).is_err());
        assert!(both.authorize(Role::Manager, Some(&a), true).is_err());
        assert!(both.authorize(Role::Manager, Some(&a), false).is_ok());
        assert_eq!(
            Roles::parse_list("admin, auditor").map(|r| r.to_string()),
            Ok("admin,auditor".into())
        );
        assert!(Roles::parse_list("root").is_err());
    }
}
