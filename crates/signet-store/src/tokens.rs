//! API tokens: only the SHA-256 of each secret is stored. Names are unique among live
//! tokens regardless of case, checked on the writer thread so two creations cannot race.

use std::time::SystemTime;

use signet_core::{CaName, NewAudit, NewToken, Roles, StoreError, TokenRecord};

use crate::codec::{seq_to_sql, to_unix};
use crate::db::{Db, insert_id, query_value};
use crate::params;
use crate::row::{Columns, FromRow, Statement, query_all, select};

/// A token revocation for the writer (`Store::revoke_token`).
pub(crate) struct RevokeToken {
    pub(crate) id: u64,
    pub(crate) at: SystemTime,
    pub(crate) audit: Vec<NewAudit>,
}

impl FromRow for TokenRecord {
    const COLUMNS: &'static str = "id, name, hash, roles, cas, groups, created_at, created_by, \
        expires_at, revoked_at, secret_seed";
    const TABLE: &'static str = "tokens";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<TokenRecord, StoreError> {
        let id = c.unsigned("id")?;
        c.key(id);
        let name = c.next("name")?;
        let hash: Vec<u8> = c.next("hash")?;
        let hash: [u8; 32] = hash
            .as_slice()
            .try_into()
            .map_err(|_| c.bad("hash", "not 32 bytes"))?;
        let roles: String = c.next("roles")?;
        let roles = Roles::parse_list(&roles).map_err(|e| c.bad("roles", &e.to_string()))?;
        let cas: String = c.next("cas")?;
        let cas = cas
            .split(',')
            .filter(|c| !c.is_empty())
            .map(CaName::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| c.bad("cas", &e.to_string()))?;
        let groups: String = c.next("groups")?;
        Ok(TokenRecord {
            id,
            name,
            hash,
            roles,
            cas,
            groups: groups
                .split(',')
                .filter(|g| !g.is_empty())
                .map(String::from)
                .collect(),
            created_at: c.time("created_at")?,
            created_by: c.next("created_by")?,
            expires_at: c.opt_time("expires_at")?,
            revoked_at: c.opt_time("revoked_at")?,
            secret_seed: {
                let seed: Option<Vec<u8>> = c.next("secret_seed")?;
                seed.map(|s| s.as_slice().try_into())
                    .transpose()
                    .map_err(|_| c.bad("secret_seed", "not 16 bytes"))?
            },
        })
    }
}

static TOKENS: Statement = Statement::new(|| select::<TokenRecord>("FROM tokens ORDER BY id"));
const INSERT_TOKEN: &str = "INSERT INTO tokens \
    (name, hash, roles, cas, groups, created_at, created_by, expires_at, secret_seed) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id";
const LIVE_TOKEN_NAMED: &str = "SELECT name FROM tokens WHERE lower(name) = lower(?1) \
    AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2) LIMIT 1";
const REVOKE_TOKEN: &str = "UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL";

const MARKER: &str = "SELECT count(*), coalesce(max(id), 0), count(revoked_at) FROM tokens";

pub(crate) fn token_marker(conn: &dyn Db) -> Result<signet_core::TokenMarker, StoreError> {
    let mut marker = None;
    conn.each_row(MARKER, &[], "summarising tokens", &mut |row| {
        let mut c = Columns::new(row, "tokens");
        marker = Some(signet_core::TokenMarker {
            tokens: c.unsigned("count")?,
            newest_id: c.unsigned("max(id)")?,
            revoked: c.unsigned("count(revoked_at)")?,
        });
        Ok(false)
    })?;
    Ok(marker.unwrap_or_default())
}

pub(crate) fn list_tokens(conn: &dyn Db) -> Result<Vec<TokenRecord>, StoreError> {
    query_all(conn, &TOKENS, &[], "reading tokens")
}

pub(crate) fn create_token(conn: &dyn Db, t: &NewToken) -> Result<u64, StoreError> {
    let cas: Vec<&str> = t.cas.iter().map(CaName::as_str).collect();
    let created_at = to_unix(t.created_at)?;
    let expires_at = t.expires_at.map(to_unix).transpose()?;
    // One name, one identity: a second live token under the same name (in any case) would
    // let `ALICE` approve what `alice` asked for, or hold admin and manager through two
    // tokens. Checked here, in the writer's transaction, so two creations cannot race.
    let holder: Option<String> = query_value(
        conn,
        LIVE_TOKEN_NAMED,
        &params![t.name, created_at],
        "checking token names",
    )?;
    if let Some(existing) = holder {
        return Err(StoreError::Conflict(format!(
            "a token named {existing:?} is already live; identity names are unique regardless of case (revoke that token first to reuse the name)"
        )));
    }
    let id = insert_id(
        conn,
        INSERT_TOKEN,
        &params![
            t.name,
            t.hash.as_slice(),
            t.roles.to_string(),
            cas.join(","),
            t.groups.join(","),
            created_at,
            t.created_by,
            expires_at,
            t.secret_seed.as_ref().map(|s| s.as_slice()),
        ],
        "recording a token",
    )?;
    crate::audit::append_records(conn, &t.audit)?;
    u64::try_from(id)
        .map_err(|_| StoreError::Backend("the database assigned a negative token id".into()))
}

pub(crate) fn revoke_token(conn: &dyn Db, r: &RevokeToken) -> Result<(), StoreError> {
    let id = seq_to_sql(r.id, "token id")?;
    let at = to_unix(r.at)?;
    let changed = conn.execute(REVOKE_TOKEN, &params![at, id], "revoking a token")?;
    if changed == 0 {
        return Err(StoreError::StateChanged(format!(
            "token {} does not exist or is already revoked",
            r.id
        )));
    }
    crate::audit::append_records(conn, &r.audit)?;
    Ok(())
}
