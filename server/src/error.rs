//! The one error type of the backend. Services return it; each door maps it once: the HTTP
//! APIs in `http::error`, the server functions in the `app` crate.

use std::time::Duration;

/// A message about one input field, in words the person who typed it understands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No valid session (or token) came with the request.
    #[error("Please sign in to continue.")]
    Unauthenticated,
    /// Wrong email or password. One message for both, so that nobody can find out which
    /// accounts exist.
    #[error("The email or password is not correct.")]
    InvalidCredentials,
    /// Sign-ins for this account are being slowed down after repeated failures.
    #[error("Too many failed sign-ins for this account. Try again in {} seconds.", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: Duration },
    /// Too many requests from one client, or too many at once: try again later.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// The database did not get to this change in time (the server is overloaded): nothing was
    /// changed; try again shortly.
    #[error("The server is busy and did not save this. Please try again in a moment.")]
    Busy { retry_after: Duration },
    /// Signed in, but the role or organisation does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// A device token that is missing, unknown or revoked.
    #[error("The device token is missing, not valid, or was revoked.")]
    InvalidToken,
    /// A personal API token that is missing, unknown, revoked or expired, or whose user was
    /// deactivated (the reference's words).
    #[error("Authentication failed. The access token is invalid, expired or revoked.")]
    InvalidApiToken,
    /// Does not exist, or is not visible to the caller: the two look the same on purpose, so
    /// that ids of other organisations cannot be probed.
    #[error("{0}")]
    NotFound(String),
    /// The input breaks a rule; each message names its field.
    #[error("{}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join(" "))]
    Invalid(Vec<FieldError>),
    /// The request cannot be read at all (malformed JSON); `code` names the problem for
    /// machines, e.g. `malformed_json`.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The request is well-formed but larger than we accept.
    #[error("{0}")]
    TooLarge(String),
    /// The change clashes with the current state (a duplicate, a stale edit).
    #[error("{0}")]
    Conflict(String),
    /// Anything else. Details are logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    /// "Device not found." and the like.
    pub fn not_found(what: &str) -> Self {
        Error::NotFound(format!("{what} not found."))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if is_contention(&e) {
            // Two instances' writers met on the same rows and Postgres chose this one to give
            // way: nothing of it was stored, and the same request a moment later goes through.
            tracing::warn!(error = ?e, "gave way to another instance's transaction");
            return Error::Busy {
                retry_after: std::time::Duration::from_secs(1),
            };
        }
        // No context of our own: "database" alone is what a log line then says, and the
        // cause (locked, constraint, I/O) is what the operator needs.
        Error::Internal(anyhow::Error::new(e))
    }
}

/// A deadlock between two instances' transactions, or a serialization failure: Postgres ended
/// one statement so that the other could go on (SQLERRSTATE 40P01, 40001).
fn is_contention(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
            && db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some())
}

/// Whether a violated unique constraint is the one on `columns` (`"users.email"`, or the first
/// of several). SQLite names the columns in its message; Postgres names the table, and the
/// columns in the detail ("Key (email)=(…) already exists").
fn names(db: &dyn sqlx::error::DatabaseError, columns: &str) -> bool {
    if db.message().contains(columns) {
        return true;
    }
    let (table, column) = columns.split_once('.').unwrap_or(("", columns));
    db.table() == Some(table)
        && db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.detail())
            .is_some_and(|detail| detail.contains(column))
}

/// Turns a violated unique constraint into a user-facing error, so that a race between two
/// requests still ends in a clear message instead of a 500. `columns` names the constraint's
/// columns as SQLite reports them, e.g. `"users.email"`.
pub trait ResultExt<T> {
    fn on_unique_violation(self, columns: &str, f: impl FnOnce() -> Error) -> Result<T>;

    /// Names the statement that failed, so that a log line says what was being done as well as
    /// SQLite's own message: "claiming due deliveries: database is locked".
    fn context(self, doing: &'static str) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, sqlx::Error> {
    fn on_unique_violation(self, columns: &str, f: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() && names(&**db, columns) => f(),
            _ => e.into(),
        })
    }

    fn context(self, doing: &'static str) -> Result<T> {
        self.map_err(|e| Error::Internal(anyhow::Error::new(e).context(doing)))
    }
}
