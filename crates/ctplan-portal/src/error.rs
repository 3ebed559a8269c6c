//! Errors: [`PortalError`] for opening and running the portal, [`ApiError`] for one request
//! (a status and one line in words, sent as `{"error": "..."}`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What went wrong opening or running the portal (the data folder, the database, a worker).
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The database refused a statement, or cannot be opened.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The PostgreSQL server refused a statement, or cannot be reached.
    #[error("database: {0}")]
    Postgres(String),
    /// A row that is not what the statement reads (a column missing or of another type).
    #[error("database: {0}")]
    Data(String),
    /// The database was written by a newer ctplan (a newer schema version than this build knows).
    #[error(
        "{path}: the database has schema version {found}, newer than the {known} this ctplan knows; upgrade ctplan (it is never downgraded)"
    )]
    NewerSchema {
        /// The database file.
        path: String,
        /// The version the file says.
        found: i64,
        /// The newest version this build can migrate to.
        known: i64,
    },
    /// A file or folder of the data directory.
    #[error("{0}")]
    Io(String),
    /// An account or team that cannot be created as asked.
    #[error("{0}")]
    Invalid(String),
}

/// A request refused or failed: its HTTP status and a message in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// One line saying why.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no valid session.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "log in first")
    }

    /// 403: the user's role does not allow this, or the CSRF token is missing.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such thing, or one the user may not know exists (the same answer for both).
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not found")
    }

    /// 500: a failure of the server itself.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {e}"),
        )
    }
}

impl From<PortalError> for ApiError {
    fn from(e: PortalError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        ApiError::internal(PortalError::Db(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}
