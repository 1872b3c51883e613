//! The web pages' sessions (`signet_api::web_session::SessionStore`): reads on the readers,
//! writes on the writer as light writes (a session lost to a power cut only signs its user
//! out).

use std::time::SystemTime;

use signet_api::acme::AcmeStoreError;
use signet_api::web_session::{SessionCertificate, SessionCutoff, SessionStore, WebSession};
use signet_api::{BoxFuture, Identity, Roles};
use signet_core::{CaName, StoreError};

use crate::SqlStore;
use crate::acme::write::{AcmeDone, AcmeWrite};
use crate::codec::to_unix;
use crate::db::{Db, query_value};
use crate::params;
use crate::row::{Columns, FromRow, Statement, query_opt, select};

/// A session write for the writer.
pub(crate) enum SessionWrite {
    Open(Box<(WebSession, SessionCutoff, u32)>),
    Touch([u8; 32], SystemTime, Box<Identity>),
    Close([u8; 32]),
}

const INSERT: &str = "INSERT INTO web_sessions \
    (key, identity, cert_issuer, cert_serial, cert_not_after, csrf, created_at, last_seen) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const PURGE: &str = "DELETE FROM web_sessions WHERE last_seen < ?1 OR created_at < ?2";
const COUNT: &str = "SELECT count(*) FROM web_sessions";
const EVICT_OLDEST: &str = "DELETE FROM web_sessions WHERE key IN \
    (SELECT key FROM web_sessions ORDER BY last_seen, created_at LIMIT ?1)";
const TOUCH: &str = "UPDATE web_sessions SET last_seen = ?2, identity = ?3 WHERE key = ?1";
const CLOSE: &str = "DELETE FROM web_sessions WHERE key = ?1 RETURNING identity";
static SESSION: Statement = Statement::new(|| {
    select::<WebSession>(
        "FROM web_sessions WHERE key = ?1 AND last_seen >= ?2 AND created_at >= ?3",
    )
});

impl FromRow for WebSession {
    const COLUMNS: &'static str =
        "key, identity, cert_issuer, cert_serial, cert_not_after, csrf, created_at, last_seen";
    const TABLE: &'static str = "web_sessions";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<WebSession, StoreError> {
        let key: Vec<u8> = c.next("key")?;
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| c.bad("key", "not 32 bytes"))?;
        let identity: String = c.next("identity")?;
        let identity =
            identity_from_json(&identity).map_err(|e| c.bad("identity", &e.to_string()))?;
        let issuer: Option<Vec<u8>> = c.next("cert_issuer")?;
        let serial: Option<String> = c.next("cert_serial")?;
        let not_after = c.opt_time("cert_not_after")?;
        let certificate = match (issuer, serial, not_after) {
            (Some(issuer), Some(serial), Some(not_after)) => Some(SessionCertificate {
                issuer,
                serial: serial
                    .parse()
                    .map_err(|e| c.bad("cert_serial", &format!("{e}")))?,
                not_after,
            }),
            (None, None, None) => None,
            _ => return Err(c.bad("cert_issuer", "a certificate binding with parts missing")),
        };
        Ok(WebSession {
            key,
            identity,
            certificate,
            csrf: c.next("csrf")?,
            created_at: c.time("created_at")?,
            last_seen: c.time("last_seen")?,
        })
    }
}

/// A session's identity as stored: JSON, the roles as their list (`admin,manager`).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredIdentity {
    name: String,
    roles: String,
    cas: Vec<String>,
    groups: Vec<String>,
    via: String,
}

/// A stored identity that does not decode.
#[derive(Debug, thiserror::Error)]
enum IdentityError {
    #[error("not the JSON of an identity: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Role(#[from] signet_api::auth::UnknownRole),
    #[error(transparent)]
    Ca(#[from] signet_api::ids::IdError),
}

fn identity_to_json(i: &Identity) -> String {
    let stored = StoredIdentity {
        name: i.name.clone(),
        roles: i.roles.to_string(),
        cas: i.cas.iter().map(|c| c.as_str().to_string()).collect(),
        groups: i.groups.clone(),
        via: i.via.clone(),
    };
    // Strings and lists of strings always serialize.
    serde_json::to_string(&stored).unwrap_or_default()
}

fn identity_from_json(s: &str) -> Result<Identity, IdentityError> {
    let stored: StoredIdentity = serde_json::from_str(s)?;
    Ok(Identity {
        name: stored.name,
        roles: Roles::parse_list(&stored.roles)?,
        cas: stored
            .cas
            .iter()
            .map(|c| CaName::new(c))
            .collect::<Result<_, _>>()?,
        groups: stored.groups,
        via: stored.via,
    })
}

/// Runs one session write on the writer's open transaction.
pub(crate) fn execute(conn: &dyn Db, w: &SessionWrite) -> Result<AcmeDone, StoreError> {
    match w {
        SessionWrite::Open(open) => {
            let (s, cutoff, max) = &**open;
            conn.execute(
                PURGE,
                &params![
                    to_unix(cutoff.idle_before)?,
                    to_unix(cutoff.created_before)?
                ],
                "ending web sessions",
            )?;
            let live: i64 = query_value(conn, COUNT, &[], "counting web sessions")?.unwrap_or(0);
            let excess = live + 1 - i64::from(*max);
            if excess > 0 {
                conn.execute(
                    EVICT_OLDEST,
                    &params![excess],
                    "ending the oldest web sessions",
                )?;
            }
            let cert = s.certificate.as_ref();
            conn.execute(
                INSERT,
                &params![
                    s.key.as_slice(),
                    identity_to_json(&s.identity),
                    cert.map(|c| c.issuer.as_slice()),
                    cert.map(|c| c.serial.to_hex()),
                    cert.map(|c| to_unix(c.not_after)).transpose()?,
                    s.csrf,
                    to_unix(s.created_at)?,
                    to_unix(s.last_seen)?
                ],
                "recording a web session",
            )?;
            Ok(AcmeDone::Unit)
        }
        SessionWrite::Touch(key, at, identity) => {
            conn.execute(
                TOUCH,
                &params![key.as_slice(), to_unix(*at)?, identity_to_json(identity)],
                "noting web session activity",
            )?;
            Ok(AcmeDone::Unit)
        }
        SessionWrite::Close(key) => {
            let identity: Option<String> = query_value(
                conn,
                CLOSE,
                &params![key.as_slice()],
                "ending a web session",
            )?;
            let identity = identity
                .map(|s| identity_from_json(&s))
                .transpose()
                .map_err(|e| {
                    crate::codec::corrupt("web_sessions", "?", "identity", &e.to_string())
                })?;
            Ok(AcmeDone::Session(identity.map(Box::new)))
        }
    }
}

impl SessionStore for SqlStore {
    fn open_session(
        &self,
        session: WebSession,
        cutoff: SessionCutoff,
        max: u32,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>> {
        let w = SessionWrite::Open(Box::new((session, cutoff, max)));
        Box::pin(self.acme_unit(AcmeWrite::Session(Box::new(w))))
    }

    fn session(
        &self,
        key: [u8; 32],
        cutoff: SessionCutoff,
    ) -> BoxFuture<'_, Result<Option<WebSession>, AcmeStoreError>> {
        self.acme_point(move |conn| {
            query_opt(
                conn,
                &SESSION,
                &params![
                    key.as_slice(),
                    to_unix(cutoff.idle_before)?,
                    to_unix(cutoff.created_before)?
                ],
                "reading a web session",
            )
        })
    }

    fn touch_session(
        &self,
        key: [u8; 32],
        last_seen: SystemTime,
        identity: Identity,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>> {
        let w = SessionWrite::Touch(key, last_seen, Box::new(identity));
        Box::pin(self.acme_unit(AcmeWrite::Session(Box::new(w))))
    }

    fn close_session(
        &self,
        key: [u8; 32],
    ) -> BoxFuture<'_, Result<Option<Identity>, AcmeStoreError>> {
        Box::pin(async move {
            match self
                .acme_write(AcmeWrite::Session(Box::new(SessionWrite::Close(key))))
                .await?
            {
                AcmeDone::Session(identity) => Ok(identity.map(|i| *i)),
                _ => Err(crate::acme::mismatch()),
            }
        })
    }
}
