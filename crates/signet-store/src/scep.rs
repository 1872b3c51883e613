//! `ScepStore` for SQLite: one-time challenges (hashes only, deleted when used, in the
//! transaction of their audit record) and SCEP transactions. Writes run on the writer thread
//! beside the ACME ones (`AcmeWrite::Scep`); lookups are point reads.

use std::time::SystemTime;

use signet_api::BoxFuture;
use signet_api::acme::{AcmeAudit, AcmeStoreError};
use signet_api::scep::{ScepChallenge, ScepStore, ScepTransaction};
use signet_core::{CaName, RequestId, StoreError};

use crate::SqlStore;
use crate::acme::write::{AcmeDone, AcmeWrite, audit};
use crate::codec::{from_unix, to_unix};
use crate::db::Db;
use crate::params;
use crate::row::{Columns, query_first_with};

/// One SCEP write for the writer thread.
pub(crate) enum ScepWrite {
    CreateChallenge(Box<(ScepChallenge, AcmeAudit)>),
    UseChallenge {
        ca: CaName,
        hash: [u8; 32],
        now: SystemTime,
        audit: Box<AcmeAudit>,
    },
    RecordTransaction(Box<ScepTransaction>),
    Purge {
        now: SystemTime,
        before: SystemTime,
    },
}

const INSERT_CHALLENGE: &str = "INSERT INTO scep_challenges \
    (hash, id, ca, profile, created_at, created_by, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const TAKE_CHALLENGE: &str = "DELETE FROM scep_challenges WHERE hash = ?1 AND ca = ?2 \
    AND expires > ?3 RETURNING id, profile, created_at, created_by, expires";
const INSERT_TRANSACTION: &str = "INSERT INTO scep_transactions \
    (ca, transaction_id, sender_nonce, request_id, csr_hash, requester, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";
const TRANSACTION_BY_NONCE: &str = "SELECT sender_nonce, request_id, csr_hash, requester, created_at \
    FROM scep_transactions WHERE ca = ?1 AND transaction_id = ?2 AND sender_nonce = ?3";
const NEWEST_TRANSACTION: &str = "SELECT sender_nonce, request_id, csr_hash, requester, created_at \
    FROM scep_transactions WHERE ca = ?1 AND transaction_id = ?2 \
    ORDER BY created_at DESC, request_id DESC LIMIT 1";
const PURGE_CHALLENGES: &str = "DELETE FROM scep_challenges WHERE expires <= ?1";
const PURGE_TRANSACTIONS: &str = "DELETE FROM scep_transactions WHERE created_at < ?1";

/// Runs one SCEP write on the writer's open transaction.
pub(crate) fn execute(conn: &dyn Db, w: &ScepWrite) -> Result<AcmeDone, StoreError> {
    match w {
        ScepWrite::CreateChallenge(c) => {
            let (ch, record) = (&c.0, &c.1);
            conn.execute(
                INSERT_CHALLENGE,
                &params![
                    ch.hash.as_slice(),
                    ch.id,
                    ch.ca.as_str(),
                    ch.profile,
                    to_unix(ch.created_at).unwrap_or(0),
                    ch.created_by,
                    to_unix(ch.expires).unwrap_or(0),
                ],
                "recording a SCEP challenge",
            )?;
            audit(conn, record)?;
            Ok(AcmeDone::Unit)
        }
        ScepWrite::UseChallenge {
            ca,
            hash,
            now,
            audit: record,
        } => {
            let now_s = to_unix(*now)?;
            let row = query_first_with(
                conn,
                TAKE_CHALLENGE,
                &params![hash.as_slice(), ca.as_str(), now_s],
                "using a SCEP challenge",
                "scep_challenges",
                |c| {
                    Ok((
                        c.next::<String>("id")?,
                        c.next::<Option<String>>("profile")?,
                        c.next::<i64>("created_at")?,
                        c.next::<String>("created_by")?,
                        c.next::<i64>("expires")?,
                    ))
                },
            )?;
            let Some((id, profile, created_at, created_by, expires)) = row else {
                return Ok(AcmeDone::Challenge(None));
            };
            let mut record = (**record).clone();
            record.target = format!("scep-challenge/{id}");
            audit(conn, &record)?;
            let time = |s: i64| {
                from_unix(s)
                    .ok_or_else(|| StoreError::Backend(format!("scep challenge {id}: time {s}")))
            };
            Ok(AcmeDone::Challenge(Some(Box::new(ScepChallenge {
                created_at: time(created_at)?,
                expires: time(expires)?,
                id,
                ca: ca.clone(),
                hash: *hash,
                profile,
                created_by,
            }))))
        }
        ScepWrite::RecordTransaction(t) => {
            conn.execute(
                INSERT_TRANSACTION,
                &params![
                    t.ca.as_str(),
                    t.transaction_id,
                    t.sender_nonce,
                    t.request.get(),
                    t.csr_hash.as_slice(),
                    t.requester,
                    to_unix(t.created_at).unwrap_or(0),
                ],
                "recording a SCEP transaction",
            )?;
            Ok(AcmeDone::Unit)
        }
        ScepWrite::Purge { now, before } => {
            let run = |sql: &str, t: SystemTime| -> Result<u64, StoreError> {
                let t = to_unix(t)?;
                conn.execute(sql, &params![t], "purging SCEP state")
            };
            let n = run(PURGE_CHALLENGES, *now)? + run(PURGE_TRANSACTIONS, *before)?;
            Ok(AcmeDone::Purged(signet_api::acme::AcmePurged {
                nonces: n,
                ..Default::default()
            }))
        }
    }
}

fn transaction(
    conn: &dyn Db,
    ca: &CaName,
    transaction_id: &str,
    sender_nonce: Option<&[u8]>,
) -> Result<Option<ScepTransaction>, StoreError> {
    let decode = |c: &mut Columns<'_, '_>| {
        Ok((
            c.next::<Vec<u8>>("sender_nonce")?,
            c.next::<i64>("request_id")?,
            c.next::<Vec<u8>>("csr_hash")?,
            c.next::<String>("requester")?,
            c.next::<i64>("created_at")?,
        ))
    };
    const CONTEXT: &str = "reading a SCEP transaction";
    const TABLE: &str = "scep_transactions";
    let row = match sender_nonce {
        Some(nonce) => query_first_with(
            conn,
            TRANSACTION_BY_NONCE,
            &params![ca.as_str(), transaction_id, nonce],
            CONTEXT,
            TABLE,
            decode,
        )?,
        None => query_first_with(
            conn,
            NEWEST_TRANSACTION,
            &params![ca.as_str(), transaction_id],
            CONTEXT,
            TABLE,
            decode,
        )?,
    };
    let Some((sender_nonce, request, csr_hash, requester, created_at)) = row else {
        return Ok(None);
    };
    Ok(Some(ScepTransaction {
        ca: ca.clone(),
        transaction_id: transaction_id.to_owned(),
        sender_nonce,
        request: RequestId::new(request)
            .map_err(|_| StoreError::Backend(format!("scep transaction: request id {request}")))?,
        csr_hash: csr_hash
            .try_into()
            .map_err(|_| StoreError::Backend("scep transaction: key hash".into()))?,
        requester,
        created_at: from_unix(created_at)
            .ok_or_else(|| StoreError::Backend(format!("scep transaction: time {created_at}")))?,
    }))
}

impl ScepStore for SqlStore {
    fn create_scep_challenge(
        &self,
        challenge: ScepChallenge,
        audit: AcmeAudit,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>> {
        Box::pin(
            self.acme_unit(AcmeWrite::Scep(Box::new(ScepWrite::CreateChallenge(
                Box::new((challenge, audit)),
            )))),
        )
    }

    fn use_scep_challenge<'a>(
        &'a self,
        ca: &'a CaName,
        hash: [u8; 32],
        now: SystemTime,
        audit: AcmeAudit,
    ) -> BoxFuture<'a, Result<Option<ScepChallenge>, AcmeStoreError>> {
        Box::pin(async move {
            let w = ScepWrite::UseChallenge {
                ca: ca.clone(),
                hash,
                now,
                audit: Box::new(audit),
            };
            match self.acme_write(AcmeWrite::Scep(Box::new(w))).await? {
                AcmeDone::Challenge(c) => Ok(c.map(|c| *c)),
                _ => Err(crate::acme::mismatch()),
            }
        })
    }

    fn record_scep_transaction(
        &self,
        transaction: ScepTransaction,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>> {
        Box::pin(
            self.acme_unit(AcmeWrite::Scep(Box::new(ScepWrite::RecordTransaction(
                Box::new(transaction),
            )))),
        )
    }

    fn scep_transaction<'a>(
        &'a self,
        ca: &'a CaName,
        transaction_id: &'a str,
        sender_nonce: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Option<ScepTransaction>, AcmeStoreError>> {
        let (ca, id, nonce) = (
            ca.clone(),
            transaction_id.to_owned(),
            sender_nonce.map(<[u8]>::to_vec),
        );
        self.acme_point(move |conn| transaction(conn, &ca, &id, nonce.as_deref()))
    }

    fn purge_scep(
        &self,
        now: SystemTime,
        before: SystemTime,
    ) -> BoxFuture<'_, Result<u64, AcmeStoreError>> {
        Box::pin(async move {
            match self
                .acme_write(AcmeWrite::Scep(Box::new(ScepWrite::Purge { now, before })))
                .await?
            {
                AcmeDone::Purged(p) => Ok(p.nonces),
                _ => Err(crate::acme::mismatch()),
            }
        })
    }
}
