//! Controller errors and their one mapping to gRPC status codes.

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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
        }
    }
}

impl From<picket_shared::IdError> for Error {
    fn from(e: picket_shared::IdError) -> Self {
        Error::InvalidArgument(e.to_string())
    }
}
