//! [`Failure`]: what went wrong with a request, as the PKIFailureInfo bit and the
//! statusString of the `error` message that answers it.

use signet_api::EnrollError;
use signet_x509::cmp::{ErrorContent, FailInfo, StatusInfo};

/// A refused request: the failure bit and a text saying what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub fail_info: FailInfo,
    pub text: String,
}

impl Failure {
    pub fn new(fail_info: FailInfo, text: impl Into<String>) -> Failure {
        Failure {
            fail_info,
            text: text.into(),
        }
    }

    /// The status of a rejected request.
    pub fn status(&self) -> StatusInfo {
        StatusInfo::rejection(self.fail_info, &self.text)
    }

    /// The body of the `error` message.
    pub fn error_content(&self) -> ErrorContent {
        ErrorContent {
            status: self.status(),
            error_code: None,
            details: Vec::new(),
        }
    }
}

impl From<EnrollError> for Failure {
    fn from(e: EnrollError) -> Failure {
        let fail_info = match &e {
            EnrollError::UnknownCa(_) => FailInfo::WRONG_AUTHORITY,
            EnrollError::BadRequest(_) | EnrollError::Conflict(_) => FailInfo::BAD_REQUEST,
            EnrollError::NotFound(_) => FailInfo::BAD_CERT_ID,
            EnrollError::Unauthenticated(_) | EnrollError::Forbidden(_) => FailInfo::NOT_AUTHORIZED,
            EnrollError::RateLimited { .. } | EnrollError::Unavailable(_) => {
                FailInfo::SYSTEM_UNAVAIL
            }
            EnrollError::UnknownProfile { .. }
            | EnrollError::Internal { .. }
            | EnrollError::Remote { .. } => FailInfo::SYSTEM_FAILURE,
        };
        Failure::new(fail_info, e.to_string())
    }
}
