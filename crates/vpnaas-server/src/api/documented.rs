//! Routes added together with their OpenAPI operation (ADR 0037): a module that serves a
//! public route describes it in the same call, so the route cannot exist without its document,
//! and the document is written next to the handler it describes. An operation is a function
//! that builds it, called only when the document is: serving costs nothing for it.

use axum::handler::Handler;
use axum::routing::{delete, get, put};
use axum::Router;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};

use super::AppState;

/// Builds a route's operation.
pub type Describer = fn() -> OperationBuilder;

/// A set of public routes and their operations.
#[derive(Default)]
pub struct Documented {
    router: Router<AppState>,
    operations: Vec<(HttpMethod, &'static str, Describer)>,
}

impl Documented {
    pub fn new() -> Documented {
        Documented::default()
    }

    /// `GET path`, served by `handler` and described by `operation`.
    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        operation: Describer,
        handler: H,
    ) -> Documented {
        self.add(path, HttpMethod::Get, operation, get(handler))
    }

    /// `PUT path`, likewise.
    pub fn put<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        operation: Describer,
        handler: H,
    ) -> Documented {
        self.add(path, HttpMethod::Put, operation, put(handler))
    }

    /// `DELETE path`, likewise.
    pub fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        operation: Describer,
        handler: H,
    ) -> Documented {
        self.add(path, HttpMethod::Delete, operation, delete(handler))
    }

    fn add(
        mut self,
        path: &'static str,
        method: HttpMethod,
        operation: Describer,
        handler: axum::routing::MethodRouter<AppState>,
    ) -> Documented {
        self.router = self.router.route(path, handler);
        self.operations.push((method, path, operation));
        self
    }

    pub fn merge(mut self, other: Documented) -> Documented {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    pub fn router(self) -> Router<AppState> {
        self.router
    }

    /// Every route's method, path and operation, built now.
    pub fn operations(self) -> impl Iterator<Item = (HttpMethod, &'static str, utoipa::openapi::path::Operation)> {
        self.operations.into_iter().map(|(method, path, describe)| (method, path, describe().build()))
    }
}
