//! Identities with roles, as the server maps a token or a client certificate.

use signet_core::{Identity, Role, Roles};

/// An identity named `name` holding `roles` on every CA.
pub fn with_roles(name: &str, roles: &[Role]) -> Identity {
    Identity {
        name: name.into(),
        roles: Roles::from_roles(roles),
        cas: Vec::new(),
        groups: Vec::new(),
        via: "test".into(),
    }
}

/// May submit requests and retrieve their own.
pub fn requester(name: &str) -> Identity {
    with_roles(name, &[Role::Requester])
}

/// A certificate manager: approves, denies, revokes.
pub fn manager(name: &str) -> Identity {
    with_roles(name, &[Role::Manager])
}

/// A CA administrator: CRL publication, tokens, import.
pub fn admin(name: &str) -> Identity {
    with_roles(name, &[Role::Admin])
}

/// Reads and verifies the audit log.
pub fn auditor(name: &str) -> Identity {
    with_roles(name, &[Role::Auditor])
}
