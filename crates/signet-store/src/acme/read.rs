//! The ACME reads (on the reader threads; `update_account` also reads an account on the
//! writer's transaction). Every lookup of an account, order or authorization names the CA.

use std::time::SystemTime;

use signet_api::acme::{AcmeAccount, AcmeAuthz, AcmeIdentifier, AcmeOrder, EabKey};
use signet_core::{CaName, SerialNumber, StoreError};

use super::EAB_LIST_MAX;
use crate::codec::{from_unix, to_unix};
use crate::db::{Db, Param, query_one, query_value};
use crate::params;
use crate::row::{Statement, query_all, query_opt, select};

static ACCOUNT: Statement =
    Statement::new(|| select::<AcmeAccount>("FROM acme_accounts WHERE ca = ?1 AND id = ?2"));
static ACCOUNT_BY_THUMBPRINT: Statement = Statement::new(|| {
    select::<AcmeAccount>("FROM acme_accounts WHERE ca = ?1 AND thumbprint = ?2")
});
static ACCOUNTS: Statement = Statement::new(|| {
    select::<AcmeAccount>(
        "FROM acme_accounts WHERE ca = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
    )
});
static ORDER: Statement =
    Statement::new(|| select::<AcmeOrder>("FROM acme_orders WHERE ca = ?1 AND id = ?2"));
/// `orders`: newest first, ties broken by id, so paging by the last order seen is exact.
/// `?2` the account, `?3` the order to page after (`before`; one that does not exist under
/// the CA, purged say, gives an empty page), `?4` the limit.
static ORDERS: Statement = Statement::new(|| {
    select::<AcmeOrder>("FROM acme_orders WHERE ca = ?1 ORDER BY created_at DESC, id DESC LIMIT ?4")
});
static ORDERS_OF_ACCOUNT: Statement = Statement::new(|| {
    select::<AcmeOrder>(
        "FROM acme_orders WHERE ca = ?1 AND account = ?2 \
         ORDER BY created_at DESC, id DESC LIMIT ?4",
    )
});
static ORDERS_BEFORE: Statement = Statement::new(|| {
    select::<AcmeOrder>(
        "FROM acme_orders WHERE ca = ?1 AND (created_at, id) < \
         (SELECT b.created_at, b.id FROM acme_orders b WHERE b.ca = ?1 AND b.id = ?3) \
         ORDER BY created_at DESC, id DESC LIMIT ?4",
    )
});
static ORDERS_OF_ACCOUNT_BEFORE: Statement = Statement::new(|| {
    select::<AcmeOrder>(
        "FROM acme_orders WHERE ca = ?1 AND account = ?2 AND (created_at, id) < \
         (SELECT b.created_at, b.id FROM acme_orders b WHERE b.ca = ?1 AND b.id = ?3) \
         ORDER BY created_at DESC, id DESC LIMIT ?4",
    )
});
static ORDER_FOR_CERTIFICATE: Statement = Statement::new(|| {
    select::<AcmeOrder>(
        "FROM acme_orders WHERE ca = ?1 AND serial = ?2 AND status = 'valid' LIMIT 1",
    )
});
static ORDER_REPLACING: Statement = Statement::new(|| {
    select::<AcmeOrder>(
        "FROM acme_orders WHERE ca = ?1 AND replaces = ?2 AND status != 'invalid' LIMIT 1",
    )
});
const COUNT_ORDERS: &str = "SELECT count(*) FROM acme_orders \
    WHERE ca = ?1 AND account = ?2 AND created_at >= ?3";
static AUTHZ: Statement =
    Statement::new(|| select::<AcmeAuthz>("FROM acme_authzs WHERE ca = ?1 AND id = ?2"));
static REUSABLE_AUTHZ: Statement = Statement::new(|| {
    select::<AcmeAuthz>(
        "FROM acme_authzs WHERE ca = ?1 AND account = ?2 AND identifier_type = ?3 \
         AND identifier_value = ?4 AND status = 'valid' AND wildcard = ?5 AND expires > ?6 \
         ORDER BY expires DESC LIMIT 1",
    )
});
const COUNT_PENDING_AUTHZS: &str = "SELECT count(*) FROM acme_authzs \
    WHERE ca = ?1 AND account = ?2 AND status = 'pending' AND expires > ?3";
static EAB: Statement = Statement::new(|| select::<EabKey>("FROM acme_eab_keys WHERE kid = ?1"));
static EAB_KEYS: Statement = Statement::new(|| {
    select::<EabKey>("FROM acme_eab_keys ORDER BY created_at DESC, kid DESC LIMIT ?1")
});
static EAB_KEYS_FOR_CA: Statement = Statement::new(|| {
    select::<EabKey>(
        "FROM acme_eab_keys WHERE ca = ?2 OR ca IS NULL \
         ORDER BY created_at DESC, kid DESC LIMIT ?1",
    )
});
const RENEW_EARLY: &str = "SELECT at FROM acme_renew_early WHERE ca = ?1 AND serial = ?2";

pub(super) fn account(
    conn: &dyn Db,
    ca: &CaName,
    id: &str,
) -> Result<Option<AcmeAccount>, StoreError> {
    query_opt(
        conn,
        &ACCOUNT,
        &params![ca.as_str(), id],
        "reading an ACME account",
    )
}

pub(super) fn account_by_thumbprint(
    conn: &dyn Db,
    ca: &CaName,
    thumbprint: &str,
) -> Result<Option<AcmeAccount>, StoreError> {
    query_opt(
        conn,
        &ACCOUNT_BY_THUMBPRINT,
        &params![ca.as_str(), thumbprint],
        "reading an ACME account",
    )
}

pub(super) fn accounts(
    conn: &dyn Db,
    ca: &CaName,
    limit: u32,
) -> Result<Vec<AcmeAccount>, StoreError> {
    query_all(
        conn,
        &ACCOUNTS,
        &params![ca.as_str(), i64::from(limit)],
        "listing ACME accounts",
    )
}

pub(super) fn order(conn: &dyn Db, ca: &CaName, id: &str) -> Result<Option<AcmeOrder>, StoreError> {
    query_opt(
        conn,
        &ORDER,
        &params![ca.as_str(), id],
        "reading an ACME order",
    )
}

pub(super) fn orders(
    conn: &dyn Db,
    ca: &CaName,
    account: Option<&str>,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<AcmeOrder>, StoreError> {
    let sql = match (account.is_some(), before.is_some()) {
        (false, false) => &ORDERS,
        (true, false) => &ORDERS_OF_ACCOUNT,
        (false, true) => &ORDERS_BEFORE,
        (true, true) => &ORDERS_OF_ACCOUNT_BEFORE,
    };
    // Each statement names ?4, so it has four parameter slots: the ones it does not use are
    // bound (as text, so PostgreSQL knows their type) and ignored.
    query_all(
        conn,
        sql,
        &params![
            ca.as_str(),
            account.unwrap_or_default(),
            before.unwrap_or_default(),
            i64::from(limit)
        ],
        "listing ACME orders",
    )
}

pub(super) fn order_for_certificate(
    conn: &dyn Db,
    ca: &CaName,
    serial: &SerialNumber,
) -> Result<Option<AcmeOrder>, StoreError> {
    query_opt(
        conn,
        &ORDER_FOR_CERTIFICATE,
        &params![ca.as_str(), serial.to_hex()],
        "reading the order of a certificate",
    )
}

pub(super) fn order_replacing(
    conn: &dyn Db,
    ca: &CaName,
    serial: &SerialNumber,
) -> Result<Option<AcmeOrder>, StoreError> {
    query_opt(
        conn,
        &ORDER_REPLACING,
        &params![ca.as_str(), serial.to_hex()],
        "reading the order replacing a certificate",
    )
}

pub(super) fn count_orders(
    conn: &dyn Db,
    ca: &CaName,
    account: &str,
    since: SystemTime,
) -> Result<u64, StoreError> {
    count(
        conn,
        COUNT_ORDERS,
        &params![ca.as_str(), account, to_unix(since)?],
        "counting ACME orders",
    )
}

pub(super) fn authz(conn: &dyn Db, ca: &CaName, id: &str) -> Result<Option<AcmeAuthz>, StoreError> {
    query_opt(
        conn,
        &AUTHZ,
        &params![ca.as_str(), id],
        "reading an ACME authorization",
    )
}

pub(super) fn reusable_authz(
    conn: &dyn Db,
    ca: &CaName,
    account: &str,
    identifier: &AcmeIdentifier,
    wildcard: bool,
    valid_until: SystemTime,
) -> Result<Option<AcmeAuthz>, StoreError> {
    query_opt(
        conn,
        &REUSABLE_AUTHZ,
        &params![
            ca.as_str(),
            account,
            identifier.kind.as_str(),
            identifier.value,
            wildcard,
            to_unix(valid_until)?
        ],
        "reading a reusable ACME authorization",
    )
}

pub(super) fn count_pending_authzs(
    conn: &dyn Db,
    ca: &CaName,
    account: &str,
    now: SystemTime,
) -> Result<u64, StoreError> {
    count(
        conn,
        COUNT_PENDING_AUTHZS,
        &params![ca.as_str(), account, to_unix(now)?],
        "counting pending ACME authorizations",
    )
}

pub(super) fn eab(conn: &dyn Db, kid: &str) -> Result<Option<EabKey>, StoreError> {
    query_opt(conn, &EAB, &params![kid], "reading an EAB key")
}

pub(super) fn eab_keys(conn: &dyn Db, ca: Option<&CaName>) -> Result<Vec<EabKey>, StoreError> {
    let limit = i64::from(EAB_LIST_MAX);
    match ca {
        Some(ca) => query_all(
            conn,
            &EAB_KEYS_FOR_CA,
            &params![limit, ca.as_str()],
            "listing EAB keys",
        ),
        None => query_all(conn, &EAB_KEYS, &params![limit], "listing EAB keys"),
    }
}

pub(super) fn renew_early(
    conn: &dyn Db,
    ca: &CaName,
    serial: &SerialNumber,
) -> Result<Option<SystemTime>, StoreError> {
    let at: Option<i64> = query_value(
        conn,
        RENEW_EARLY,
        &params![ca.as_str(), serial.to_hex()],
        "reading an early-renewal mark",
    )?;
    at.map(|secs| {
        from_unix(secs).ok_or_else(|| {
            crate::codec::corrupt("acme_renew_early", serial.to_hex(), "at", "out of range")
        })
    })
    .transpose()
}

fn count(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
) -> Result<u64, StoreError> {
    let n: i64 = query_one(conn, sql, params, context)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
