//! Who is calling: HTTP Basic with an API token, or the TLS client certificate.
//!
//! - Basic: the user is a token's name, the password the token; the token must be valid and
//!   carry that name (case-insensitively), else 401.
//! - A client certificate this CA issued (signature checked against the CA certificate,
//!   within its validity, not revoked or on hold) authenticates as the identity it names:
//!   its CN (or first DNS name) as the identity name, the requester role on this CA only,
//!   group `est`, `via = certificate:<serial>`.
//! - For `simpleenroll`, a client certificate the server's `[[identity]]` mappings know
//!   (issued by anyone the HTTPS listener trusts) authenticates as the mapped identity,
//!   unless revoked here.
//! - `simplereenroll` always needs the certificate it renews as the client certificate
//!   (Basic alone may not renew); with Basic too, the request is recorded under the token's
//!   identity, so a device keeps one requester name across renewals.
//!
//! The listener has already verified the client's chain against its client roots (by
//! default this server's CA certificates), including the clientAuth key usage.

use std::str::FromStr;
use std::time::SystemTime;

use signet_api::auth::same_identity;
use signet_api::enroll::NotCurrent;
use signet_api::{Identity, SerialNumber};
use signet_x509::CertificateInfo;

use crate::error::EstError;
use crate::wire::parse_basic;
use crate::{Est, EstCa};

/// The group every identity taken from a CA-issued certificate is in (profiles may name
/// `group:est` in `enroll`).
pub const CERTIFICATE_GROUP: &str = "est";

/// Which operation is authenticating (`serverkeygen` authenticates as `simpleenroll`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Enroll,
    Reenroll,
}

/// An authenticated EST caller.
pub struct Caller {
    pub identity: Identity,
    /// The certificate being renewed (`simplereenroll` only).
    pub renewing: Option<CertificateInfo>,
}

/// Authenticates a request for `op` on `ca` from its `Authorization` header and client
/// certificate chain (leaf first).
pub async fn authenticate(
    est: &Est,
    ca: &EstCa,
    authorization: Option<&[u8]>,
    client_leaf: Option<&[u8]>,
    op: Operation,
) -> Result<Caller, EstError> {
    let realm = ca.realm.as_str();
    let basic = match authorization {
        Some(value) => Some(basic_identity(est, realm, value)?),
        None => None,
    };
    match (op, basic) {
        (Operation::Enroll, Some(identity)) => Ok(Caller {
            identity,
            renewing: None,
        }),
        (Operation::Enroll, None) => {
            let leaf = client_leaf.ok_or_else(|| {
                EstError::unauthenticated(realm, "no credentials (Basic or client certificate)")
            })?;
            let info = signet_x509::parse_certificate(leaf).map_err(|e| {
                EstError::unauthenticated(realm, format!("unreadable client certificate: {e}"))
            })?;
            if let Some(info) = issued_here(est, ca, leaf).await? {
                return Ok(Caller {
                    identity: certificate_identity(ca, &info)?,
                    renewing: None,
                });
            }
            check_not_revoked(est, &info).await?;
            let identity = (est.map_certificate)(leaf).ok_or_else(|| {
                EstError::unauthenticated(
                    realm,
                    format!(
                        "the client certificate {} was not issued by CA {} and no [[identity]] maps it",
                        info.subject, ca.ca
                    ),
                )
            })?;
            Ok(Caller {
                identity,
                renewing: None,
            })
        }
        (Operation::Reenroll, basic) => {
            let refuse = |why: String| match basic {
                // The caller is known, but may not renew this way.
                Some(_) => EstError::Forbidden(why),
                None => EstError::unauthenticated(realm, why),
            };
            let Some(leaf) = client_leaf else {
                return Err(refuse(
                    "simplereenroll needs the certificate it renews as the TLS client certificate"
                        .into(),
                ));
            };
            let Some(info) = issued_here(est, ca, leaf).await? else {
                return Err(refuse(format!(
                    "simplereenroll renews certificates of CA {} only; the client certificate is not one",
                    ca.ca
                )));
            };
            let identity = match basic {
                Some(identity) => identity,
                None => certificate_identity(ca, &info)?,
            };
            Ok(Caller {
                identity,
                renewing: Some(info),
            })
        }
    }
}

/// The identity of an `Authorization: Basic` header: the token's, if its name is the user.
fn basic_identity(est: &Est, realm: &str, value: &[u8]) -> Result<Identity, EstError> {
    let creds = parse_basic(value).ok_or_else(|| {
        EstError::unauthenticated(realm, "the Authorization header is not Basic user:password")
    })?;
    let identity = est
        .authn
        .authenticate_token(&creds.password)
        .map_err(|e| EstError::unauthenticated(realm, e.to_string()))?;
    if !same_identity(&identity.name, &creds.user) {
        return Err(EstError::unauthenticated(
            realm,
            format!(
                "the token belongs to {:?}, not to the Basic user {:?}",
                identity.name,
                creds.user.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(identity)
}

/// The client certificate's summary when `ca` issued it and it is valid now and not
/// revoked; `None` when another issuer signed it. A certificate of this CA that expired,
/// is not yet valid or is revoked is refused (403).
async fn issued_here(
    est: &Est,
    ca: &EstCa,
    leaf: &[u8],
) -> Result<Option<CertificateInfo>, EstError> {
    let current = signet_api::enroll::current_certificate(
        est.enroll.as_ref(),
        est.authn.as_ref(),
        ca.ca.as_str(),
        leaf,
        SystemTime::now(),
    )
    .await?;
    match current {
        Ok(info) => Ok(Some(info)),
        Err(NotCurrent::Foreign(_)) => Ok(None),
        Err(refused) => Err(EstError::Forbidden(format!(
            "client certificate refused: {refused}"
        ))),
    }
}

/// Refuses a certificate one of this server's CAs revoked (or put on hold).
async fn check_not_revoked(est: &Est, info: &CertificateInfo) -> Result<(), EstError> {
    let Ok(serial) = SerialNumber::from_str(&info.serial_hex) else {
        // Not a serial this server's CAs write: not one of theirs.
        return Ok(());
    };
    if est.authn.is_revoked(&info.issuer, &serial).await? {
        return Err(EstError::Forbidden(format!(
            "the client certificate {} (serial {}) is revoked",
            info.subject, info.serial_hex
        )));
    }
    Ok(())
}

/// The identity of a certificate this CA issued (group `est`).
fn certificate_identity(ca: &EstCa, info: &CertificateInfo) -> Result<Identity, EstError> {
    signet_api::auth::certificate_identity(&ca.ca, info, CERTIFICATE_GROUP)
        .map_err(|e| EstError::Forbidden(e.to_string()))
}
