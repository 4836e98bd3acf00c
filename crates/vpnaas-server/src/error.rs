//! The one error path to HTTP: every failure becomes the NeutronError envelope here.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use vpnaas_core::{Class, Fault};

use crate::store::StoreError;

/// A failed request: a refusal the caller can act on, or a storage failure.
#[derive(Debug)]
pub enum Error {
    Fault(Fault),
    Store(StoreError),
    /// Keystone mode: no token, or one Keystone does not accept; the value is the
    /// `WWW-Authenticate` challenge (`Keystone uri="..."`).
    TokenRefused(String),
    /// Keystone could not validate a token (unreachable, slow, or refusing this service).
    IdentityUnavailable,
    /// neutron mode: Neutron could not answer what a rule needs (ADR 0022); the cause is logged.
    NeutronUnavailable(String),
    /// A sealed pre-shared key could not be opened or sealed (a missing key, a damaged value).
    Secret(String),
    /// A response could not be written.
    Internal(String),
    /// A connection budget is full (ADR 0023): a 503 saying the service is busy, with `Retry-After`.
    Busy,
}

impl From<Fault> for Error {
    fn from(f: Fault) -> Self {
        Error::Fault(f)
    }
}
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// For logs and command-line errors; a response never shows more than its envelope.
impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Fault(fault) => write!(f, "{fault}"),
            Error::Store(e) => write!(f, "{e}"),
            Error::TokenRefused(_) => f.write_str("token refused"),
            Error::IdentityUnavailable => f.write_str("Keystone unavailable"),
            Error::NeutronUnavailable(cause) => write!(f, "Neutron unavailable: {cause}"),
            Error::Secret(cause) | Error::Internal(cause) => f.write_str(cause),
            Error::Busy => f.write_str("busy"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Fault(fault) => Some(fault),
            Error::Store(e) => Some(e),
            _ => None,
        }
    }
}

fn status(class: Class) -> StatusCode {
    match class {
        Class::BadRequest => StatusCode::BAD_REQUEST,
        Class::Unauthorized => StatusCode::UNAUTHORIZED,
        Class::Forbidden => StatusCode::FORBIDDEN,
        Class::NotFound => StatusCode::NOT_FOUND,
        Class::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Class::Conflict => StatusCode::CONFLICT,
        Class::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Class::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Class::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Class::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The envelope of ADR 0009 §2.1.
pub fn envelope(code: StatusCode, type_name: &str, message: &str) -> Response {
    let body = serde_json::json!({"NeutronError": {"type": type_name, "message": message, "detail": ""}});
    (code, axum::Json(body)).into_response()
}

/// The envelope's JSON text, for answers written below axum (the connection layer).
pub fn envelope_text(type_name: &str, message: &str) -> String {
    serde_json::json!({"NeutronError": {"type": type_name, "message": message, "detail": ""}}).to_string()
}

/// The `type` and message of an error status that a layer below the handlers chose (axum's
/// rejections, hyper's automatic answers, the connection layer): webob's class name and
/// explanation, as the reference's middleware answers them (ADR 0013 §1).
pub fn status_words(code: StatusCode) -> (&'static str, &'static str) {
    match code.as_u16() {
        400 => (
            "HTTPBadRequest",
            "The server could not comply with the request since it is either malformed or otherwise incorrect.",
        ),
        404 => ("HTTPNotFound", "The resource could not be found."),
        405 => ("HTTPMethodNotAllowed", "The method is not allowed for this resource."),
        408 => ("HTTPRequestTimeout", "The server has waited too long for the request to be sent by the client."),
        411 => ("HTTPLengthRequired", "Content-Length header required."),
        413 => ("HTTPRequestEntityTooLarge", "Request is too large."),
        414 => ("HTTPRequestURITooLong", "The request URI was too long for this server."),
        415 => ("HTTPUnsupportedMediaType", "The request media type is not supported by this server."),
        431 => ("HTTPRequestHeaderFieldsTooLarge", "The request header fields were too large."),
        // The only 503s below the handlers are the connection caps': busy, not down (ADR 0023).
        503 => ("ServiceUnavailable", BUSY),
        _ if code.is_client_error() => ("HTTPClientError", "The server could not comply with the request."),
        _ => ("HTTPInternalServerError", "Request Failed: internal server error while processing your request."),
    }
}

/// What a 503 says when the server is merely busy: a full connection budget, or no database
/// connection free within `database_timeout_secs` (the database itself answers).
const BUSY: &str = "The service is busy. Retry later.";

/// Seconds a busy answer asks the client to wait (`Retry-After`).
const RETRY_AFTER: &str = "1";

/// [`BUSY`] as a response, with `Retry-After`.
fn busy() -> Response {
    let mut resp = envelope(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", BUSY);
    resp.headers_mut().insert("retry-after", HeaderValue::from_static(RETRY_AFTER));
    resp
}

/// When a busy database was last logged, and how many busy answers since: under overload
/// every request would log one line otherwise.
static BUSY_REPORT: std::sync::Mutex<(Option<std::time::Instant>, u64)> = std::sync::Mutex::new((None, 0));

/// Counts a busy database answer; the count since the last report when one is due (every 10 s).
fn busy_due() -> Option<u64> {
    let mut report = BUSY_REPORT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    report.1 += 1;
    if report.0.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(10)) {
        return None;
    }
    report.0 = Some(std::time::Instant::now());
    Some(std::mem::take(&mut report.1))
}

/// [`status_words`] as a response.
pub fn status_envelope(code: StatusCode) -> Response {
    let (type_name, message) = status_words(code);
    envelope(code, type_name, message)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Fault(fault) => {
                let mut resp = envelope(status(fault.class()), fault.type_name(), &fault.to_string());
                if fault.class() == Class::Unauthorized {
                    resp.headers_mut().insert("www-authenticate", HeaderValue::from_static("Keystone uri=\"\""));
                }
                resp
            }
            Error::TokenRefused(challenge) => {
                let mut resp = envelope(
                    StatusCode::UNAUTHORIZED,
                    "NotAuthenticated",
                    "The request you have made requires authentication.",
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    resp.headers_mut().insert("www-authenticate", value);
                }
                resp
            }
            Error::IdentityUnavailable => envelope(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The Keystone service is temporarily unavailable.",
            ),
            Error::NeutronUnavailable(cause) => {
                tracing::warn!(error.cause = %cause, "Neutron unavailable");
                envelope(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The Networking service (Neutron) is unavailable. Retry later.",
                )
            }
            Error::Secret(cause) | Error::Internal(cause) => {
                tracing::error!(error.cause = %cause, "request failed");
                envelope(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "HTTPInternalServerError",
                    "Request Failed: internal server error while processing your request.",
                )
            }
            Error::Busy => busy(),
            // Every database connection is in use: the database answers, this server is busy.
            Error::Store(StoreError::Busy(cause)) => {
                if let Some(answered) = busy_due() {
                    tracing::warn!(
                        error.cause = %cause,
                        answered,
                        "database busy: requests answered 503 busy ({answered} since the last report)"
                    );
                }
                busy()
            }
            // Still colliding after its retries (`service::retrying`): busy, try again.
            Error::Store(StoreError::Retry(cause)) => {
                tracing::warn!(error.cause = %cause, "a write kept colliding with concurrent ones; answered 503 busy");
                busy()
            }
            // The cause is logged once here; the caller learns nothing internal.
            // With `Retry-After`: a replica's database node may come back, or its balancer
            // move it to another, within seconds (ADR 0031).
            Error::Store(StoreError::Unavailable(cause)) => {
                tracing::warn!(error.cause = %cause, "database unavailable");
                let mut resp = envelope(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The service is unavailable: the database cannot be reached. Retry later.",
                );
                resp.headers_mut().insert("retry-after", HeaderValue::from_static(RETRY_AFTER));
                resp
            }
            Error::Store(StoreError::Conflict(constraint)) => {
                tracing::info!(db.constraint = %constraint, "a concurrent change won a race");
                envelope(
                    StatusCode::CONFLICT,
                    "Conflict",
                    "The request conflicts with a concurrent change of a resource it refers to; retry it.",
                )
            }
            Error::Store(StoreError::Corrupt(cause)) => {
                tracing::error!(error.cause = %cause, "request failed");
                envelope(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "HTTPInternalServerError",
                    "Request Failed: internal server error while processing your request.",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_busy_server_says_busy_with_retry_after_and_an_unreachable_database_says_so() {
        for busy in [Error::Busy, Error::Store(StoreError::Busy("all 16 connections in use".into()))] {
            let resp = busy.into_response();
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
            let body = body(resp).await;
            assert_eq!(body["NeutronError"]["type"], "ServiceUnavailable");
            assert_eq!(body["NeutronError"]["message"], "The service is busy. Retry later.");
        }
        let down = Error::Store(StoreError::Unavailable("connection refused".into())).into_response();
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        let message = body(down).await["NeutronError"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("the database cannot be reached"), "{message}");
        // The connection caps' answers below the handlers say busy too.
        assert_eq!(status_words(StatusCode::SERVICE_UNAVAILABLE).1, BUSY);
    }

    /// Fault's own test pins each variant's class; this pins the status each class answers with.
    #[test]
    fn each_fault_class_answers_with_its_status() {
        let pinned = [
            (Class::BadRequest, 400),
            (Class::Unauthorized, 401),
            (Class::Forbidden, 403),
            (Class::NotFound, 404),
            (Class::MethodNotAllowed, 405),
            (Class::Conflict, 409),
            (Class::PreconditionFailed, 412),
            (Class::PayloadTooLarge, 413),
            (Class::RequestTimeout, 408),
            (Class::Unavailable, 503),
            (Class::Internal, 500),
        ];
        for (class, code) in pinned {
            assert_eq!(status(class).as_u16(), code, "{class:?}");
        }
    }
}
