//! Leases (`Store::take_lease`): one conditional upsert, the same on SQLite and PostgreSQL.

use signet_core::{LeaseClaim, StoreError};

use crate::codec::to_unix_millis;
use crate::db::{Db, query_value};
use crate::params;

/// Inserts the lease, or takes it over when it is the claimant's already or has expired;
/// returns the holder only when the row was written, so no row means "held by another".
const TAKE: &str = "INSERT INTO leases (name, holder, expires_at_ms, fencing) \
    VALUES (?1, ?2, ?3, 1) \
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
        expires_at_ms = excluded.expires_at_ms, \
        fencing = leases.fencing + CASE WHEN leases.holder = excluded.holder THEN 0 ELSE 1 END \
    WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= ?4 \
    RETURNING holder";
const RELEASE: &str = "UPDATE leases SET expires_at_ms = 0 WHERE name = ?1 AND holder = ?2";
const TAKE_OVER: &str =
    "UPDATE leases SET expires_at_ms = 0 WHERE holder <> ?1 AND expires_at_ms > 0";

/// A lease's release, for the writer.
pub(crate) struct Release {
    pub(crate) name: String,
    pub(crate) holder: String,
}

pub(crate) fn take(conn: &dyn Db, claim: &LeaseClaim) -> Result<bool, StoreError> {
    let holder: Option<String> = query_value(
        conn,
        TAKE,
        &params![
            claim.name,
            claim.holder,
            to_unix_millis(claim.until),
            to_unix_millis(claim.now)
        ],
        "taking a lease",
    )?;
    Ok(holder.is_some())
}

/// Ends every lease held by anyone but `holder`; how many there were. Only for a node that
/// knows it is alone on its database (see `SqlStore::take_over_leases`).
pub(crate) fn take_over(conn: &dyn Db, holder: &str) -> Result<u64, StoreError> {
    conn.execute(TAKE_OVER, &params![holder], "taking over the leases")
}

pub(crate) fn release(conn: &dyn Db, r: &Release) -> Result<(), StoreError> {
    conn.execute(RELEASE, &params![r.name, r.holder], "releasing a lease")
        .map(drop)
}
