//! `serverkeygen` (RFC 7030 §4.4): the CA makes the client's key.

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
    let _ca = est.ca_for(conn)?;
    Err(EstError::ServerKeygenOff)
}
