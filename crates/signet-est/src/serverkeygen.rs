//! `serverkeygen` (RFC 7030 §4.4): the CA makes the client's key. Not implemented yet: the
//! operation answers 501 whether `[ca.est] serverkeygen` is on or off (the message says
//! which), after the usual TLS and CA checks.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;

use crate::Est;
use crate::error::EstError;
use crate::handlers::Conn;

/// `POST serverkeygen`.
pub async fn handle(
    est: &Est,
    conn: &Conn,
    _body: Result<Bytes, BytesRejection>,
) -> Result<Response, EstError> {
    let ca = est.ca_for(conn)?;
    if ca.serverkeygen {
        Err(EstError::ServerKeygenUnimplemented)
    } else {
        Err(EstError::ServerKeygenOff)
    }
}
