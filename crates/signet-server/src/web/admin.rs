//! The administration console at `/admin` (for managers, administrators and auditors).

use axum::Router;

use crate::api::AppState;

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
