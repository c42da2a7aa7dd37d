use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use govchain_types::api::ErrorBody;
use tracing::error;

use crate::Error;

/// An API error: a status and the JSON body `{code, message}`. Server-side
/// faults are logged once here and answered with a generic message. A busy
/// node (`overloaded`) answers 503 with `Retry-After` in seconds.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
    retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_owned(), message: message.into(), retry_after_s: None }
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
            return ApiError { status, code, message, retry_after_s: None };
        }
        // Backpressure: the admission refusal says when to come back. The
        // consensus engine's own queue (the hard cap) is full only briefly.
        let retry_after_s = match &e {
            Error::Overloaded { retry_after_s, .. } => Some(*retry_after_s),
            Error::Consensus(govchain_consensus::Error::Overloaded { .. }) => Some(1),
            _ => None,
        };
        use govchain_consensus::Error as C;
        let status = match &e {
            Error::InvalidEthTx(govchain_execution::evm::ethtx::EthTxError::NonceTooLow { .. }) => {
                StatusCode::CONFLICT
            }
            Error::InvalidTx(_)
            | Error::InvalidEthTx(_)
            | Error::BadTimestamp { .. }
            | Error::BadCertificate(_) => StatusCode::BAD_REQUEST,
            Error::Duplicate { .. } | Error::NonceUsed { .. } => StatusCode::CONFLICT,
            Error::CommitTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::Overloaded { .. }
            | Error::Consensus(C::Overloaded { .. } | C::NotLeader { .. } | C::Stopped)
            | Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError { retry_after_s, ..ApiError::new(status, e.code(), e.to_string()) }
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
        let mut response = (self.status, Json(ErrorBody { code: self.code, message })).into_response();
        if let Some(s) = self.retry_after_s {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overloaded_node_answers_503_with_retry_after_and_a_body() {
        let e = Error::Overloaded { limit: 3000, tps: 2000, budget_ms: 1500, retry_after_s: 2 };
        let response = ApiError::from(e).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("2"));
        let refused = ApiError::from(Error::Consensus(govchain_consensus::Error::Overloaded { capacity: 9 }));
        assert_eq!(refused.retry_after_s, Some(1));
        let other = ApiError::from(Error::ShuttingDown).into_response();
        assert_eq!(other.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(other.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn the_overloaded_message_says_why_and_when() {
        let e =
            ApiError::from(Error::Overloaded { limit: 3000, tps: 2000, budget_ms: 1500, retry_after_s: 2 });
        assert_eq!(e.code, "overloaded");
        assert!(e.message.contains("3000 transactions") && e.message.contains("2000 tx/s"), "{}", e.message);
        assert!(e.message.contains("retry after 2 s"), "{}", e.message);
    }
}
