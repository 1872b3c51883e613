//! [`Routes`]: how the REST routes are registered, so the route table the server serves is
//! known to its tests (the OpenAPI test in `api.rs` checks it against `openapi.json` both
//! ways).
//!
//! Each `get`/`post`/`put`/`patch`/`delete` adds the route to the wrapped [`Router`] and
//! records `(method, path)`. Registering several methods on one path is fine: axum merges
//! the method routers of a path.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use crate::AppState;

/// A router of REST routes and the table of what it serves.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

macro_rules! method {
    ($(#[$doc:meta])* $name:ident, $method:ident, $route:ident) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name<H, T>(self, path: &'static str, handler: H) -> Routes
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add(Method::$method, path, $route(handler))
        }
    };
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    method!(
        /// `GET path`.
        get, GET, get
    );
    method!(
        /// `POST path`.
        post, POST, post
    );
    method!(
        /// `PUT path`.
        put, PUT, put
    );
    method!(
        /// `PATCH path`.
        patch, PATCH, patch
    );
    method!(
        /// `DELETE path`.
        delete, DELETE, delete
    );

    /// Both tables' routes.
    #[must_use]
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// The `(method, path)` pairs served, in the order they were registered; paths in axum's
    /// syntax (`{name}`, `{*rest}`).
    pub fn table(&self) -> &[(Method, &'static str)] {
        &self.table
    }

    /// The router, to merge into the whole HTTP surface.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }

    fn add(mut self, method: Method, path: &'static str, route: MethodRouter<AppState>) -> Routes {
        self.router = self.router.route(path, route);
        self.table.push((method, path));
        self
    }
}
