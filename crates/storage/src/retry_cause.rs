//! Why a request is tried again, for the retry metrics: one list of causes
//! for OpenDAL's retry layer and the raw client's own retries.

/// Why a request is tried again, as the metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryCause {
    /// Its endpoint is out of the rotation (see `breaker`).
    EndpointDown,
    /// No answer in time.
    Timeout,
    /// The server asked to slow down (429, 503).
    Throttled,
    /// The connection failed, or an answer was cut.
    Unexpected,
    /// Anything else worth another try.
    Other,
}

impl RetryCause {
    /// The metrics label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            RetryCause::EndpointDown => "endpoint_down",
            RetryCause::Timeout => "timeout",
            RetryCause::Throttled => "throttled",
            RetryCause::Unexpected => "unexpected",
            RetryCause::Other => "other",
        }
    }
}
