//! The API's error: an HTTP status with a JSON body `{code, message,
//! details?}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The error code of a failed response, for its operation-log entry (the
/// log's middleware reads it from the response's extensions).
#[derive(Debug, Clone, Copy)]
pub struct Outcome(pub &'static str);

/// What every failed request returns.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `forbidden`, `invalid`,
    /// `quota_exceeded`; the operation's response descriptions list them.
    #[schema(min_length = 1, pattern = "^[a-z_]+$")]
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Facts a program can act on, when there are any: `field` (the field
    /// a 422 or a refused filter names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message for a person.
    pub message: String,
    /// The body's `details`.
    pub details: Option<serde_json::Value>,
}

/// Handlers' result.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// An error with this status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: None }
    }
    /// The same error with `details` in its body.
    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }
    /// 400: the request cannot be read.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 422: the request is readable but a field is not acceptable.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }
    /// 401: no valid session or token.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403: authenticated but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404; also what another tenant's resource looks like, so that its
    /// existence does not leak.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
    /// 409: the state does not allow it (already exists, already decided).
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 500: a fault of ours; the details go to the log, not to the client.
    pub fn internal(context: &str, e: impl std::fmt::Display) -> ApiError {
        tracing::error!(target: "govchain::api", "{context}: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error while {context}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code.to_owned(), message: self.message, details: self.details };
        let mut resp = (self.status, Json(body)).into_response();
        resp.extensions_mut().insert(Outcome(self.code));
        resp
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> ApiError {
        ApiError::internal("accessing the database", e)
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> ApiError {
        match e {
            sea_orm::TransactionError::Connection(e) => e.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl From<govchain_driver::Error> for ApiError {
    fn from(e: govchain_driver::Error) -> ApiError {
        use govchain_driver::Error as D;
        match e {
            D::NotFound(m) => ApiError::not_found(m),
            D::Invalid(m) => ApiError::invalid(m),
            D::Conflict(m) => ApiError::conflict(m),
            D::Failed(m) => ApiError::new(StatusCode::BAD_GATEWAY, "driver_failed", m),
            other => ApiError::internal("driving the chain's hosts", other),
        }
    }
}
