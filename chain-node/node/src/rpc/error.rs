use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use govchain_types::api::ErrorBody;
use tracing::error;

use crate::Error;

/// An API error: a status and the JSON body `{code, message}`. Server-side
/// faults are logged once here and answered with a generic message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_owned(), message: message.into() }
    }

    /// 400 with a code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{} not found", what.into()))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 500; the message is logged, not sent.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        if let Error::Forwarded { status, code, message } = e {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return ApiError { status, code, message };
        }
        use govchain_consensus::Error as C;
        let status = match &e {
            Error::InvalidTx(_) | Error::BadTimestamp { .. } | Error::BadCertificate(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::Duplicate { .. } | Error::NonceUsed { .. } => StatusCode::CONFLICT,
            Error::CommitTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::Consensus(C::Overloaded { .. } | C::NotLeader { .. } | C::Stopped)
            | Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<govchain_ledger::Error> for ApiError {
    fn from(e: govchain_ledger::Error) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = if self.status.is_server_error()
            && self.status != StatusCode::SERVICE_UNAVAILABLE
            && self.status != StatusCode::GATEWAY_TIMEOUT
        {
            error!(target: "govchain::node", code = %self.code, error = %self.message, "request failed");
            "internal error; see the node log".to_owned()
        } else {
            self.message
        };
        (self.status, Json(ErrorBody { code: self.code, message })).into_response()
    }
}
