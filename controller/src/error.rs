//! Controller errors and their one mapping to gRPC status codes ([`From<Error> for Status`]).
//! Domain code (auth, store, inventory, metering glue) returns [`Error`]; only the gRPC edge
//! turns it into a `tonic::Status`, here and nowhere else.

use crate::store::StoreError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// No credentials, or credentials that name no live token.
    #[error("{0}")]
    Unauthenticated(String),
    /// A dependency is down for now (token lookup, a store task); retrying may work.
    #[error("{0}")]
    Unavailable(String),
    /// A peer did not say what it had to within its deadline.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The peer went away.
    #[error("{0}")]
    Cancelled(String),
    /// A per-tenant or per-installation limit is reached (watch streams, suppression rules).
    #[error("{0}")]
    ResourceExhausted(String),
    /// A position outside what is kept (an alert-log cursor older than retention).
    #[error("{0}")]
    OutOfRange(String),
    /// A bug or an environment failure (no randomness, a panicked task).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(m: impl Into<String>) -> Error {
        Error::InvalidArgument(m.into())
    }
    pub fn denied(m: impl Into<String>) -> Error {
        Error::PermissionDenied(m.into())
    }
    pub fn unauthenticated(m: impl Into<String>) -> Error {
        Error::Unauthenticated(m.into())
    }
}

/// The one mapping from controller errors to gRPC status codes.
impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::Store(StoreError::Corrupt { .. }) => {
                tracing::error!(error = %e, "store corruption");
                Status::internal(e.to_string())
            }
            Error::Store(_) => Status::unavailable(e.to_string()),
            Error::InvalidArgument(m) => Status::invalid_argument(m),
            Error::NotFound(m) => Status::not_found(m),
            Error::AlreadyExists(m) => Status::already_exists(m),
            Error::PermissionDenied(m) => Status::permission_denied(m),
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::Unavailable(m) => Status::unavailable(m),
            Error::DeadlineExceeded(m) => Status::deadline_exceeded(m),
            Error::Cancelled(m) => Status::cancelled(m),
            Error::ResourceExhausted(m) => Status::resource_exhausted(m),
            Error::OutOfRange(m) => Status::out_of_range(m),
            Error::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Status::internal(m)
            }
        }
    }
}

impl From<picket_shared::IdError> for Error {
    fn from(e: picket_shared::IdError) -> Self {
        Error::InvalidArgument(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_code() {
        let cases = [
            (Error::invalid("x"), tonic::Code::InvalidArgument),
            (Error::NotFound("x".into()), tonic::Code::NotFound),
            (Error::AlreadyExists("x".into()), tonic::Code::AlreadyExists),
            (Error::denied("x"), tonic::Code::PermissionDenied),
            (Error::unauthenticated("x"), tonic::Code::Unauthenticated),
            (Error::Unavailable("x".into()), tonic::Code::Unavailable),
            (
                Error::DeadlineExceeded("x".into()),
                tonic::Code::DeadlineExceeded,
            ),
            (Error::Cancelled("x".into()), tonic::Code::Cancelled),
            (
                Error::ResourceExhausted("x".into()),
                tonic::Code::ResourceExhausted,
            ),
            (Error::OutOfRange("x".into()), tonic::Code::OutOfRange),
            (Error::Internal("x".into()), tonic::Code::Internal),
        ];
        for (e, code) in cases {
            let s = Status::from(e);
            assert_eq!((s.code(), s.message()), (code, "x"));
        }
    }
}
