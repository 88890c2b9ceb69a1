use async_graphql::ErrorExtensions;
use thiserror::Error;

/// Every error a GraphQL client can see. The `Display` text and `extensions.code` are fixed
/// client texts; causes go to the log only.
#[derive(Debug, Error)]
pub enum ApiError {
    /// No credential came with the request, and the field needs one.
    #[error("authentication required")]
    Unauthenticated,
    #[error("internal error")]
    Internal(#[source] store::StoreError),
}

impl ApiError {
    /// The stable `extensions.code`: part of the contract with partner systems.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        match self {
            ApiError::Unauthenticated => {}
            ApiError::Internal(source) => tracing::error!(error = %source, "store failure"),
        }
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| ext.set("code", code))
    }
}
