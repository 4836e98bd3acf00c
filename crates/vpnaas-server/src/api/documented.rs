//! Routes added together with their OpenAPI operation (ADR 0037): a module that serves a
//! public route describes it in the same call, so the route cannot exist without its document,
//! and the document is written next to the handler it describes.

use axum::handler::Handler;
use axum::routing::{get, put};
use axum::Router;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder};

use super::AppState;

/// A set of public routes and their operations.
#[derive(Default)]
pub struct Documented {
    router: Router<AppState>,
    operations: Vec<(HttpMethod, &'static str, Operation)>,
}

impl Documented {
    pub fn new() -> Documented {
        Documented::default()
    }

    /// `GET path`, served by `handler` and described by `operation`.
    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        operation: OperationBuilder,
        handler: H,
    ) -> Documented {
        self.add(path, HttpMethod::Get, operation, get(handler))
    }

    /// `PUT path`, likewise.
    pub fn put<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        operation: OperationBuilder,
        handler: H,
    ) -> Documented {
        self.add(path, HttpMethod::Put, operation, put(handler))
    }

    fn add(
        mut self,
        path: &'static str,
        method: HttpMethod,
        operation: OperationBuilder,
        handler: axum::routing::MethodRouter<AppState>,
    ) -> Documented {
        self.router = self.router.route(path, handler);
        self.operations.push((method, path, operation.build()));
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

    pub fn operations(self) -> Vec<(HttpMethod, &'static str, Operation)> {
        self.operations
    }
}
