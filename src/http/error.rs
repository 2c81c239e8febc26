//! One error type for the whole API, rendered as `application/problem+json` (RFC 9457).
//! Variants are named after what the client sees; internal causes are logged, never leaked.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::validate::FieldError;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is not well-formed (not JSON, a bad query parameter or header).
    #[error("{detail}")]
    BadRequest { detail: String, errors: Vec<FieldError> },
    /// 401: no token, or one we do not know.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: a known token without the right.
    #[error("{0}")]
    Forbidden(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 405
    #[error("this endpoint does not take that method")]
    MethodNotAllowed,
    /// 408: the request body did not arrive whole within the body timeout.
    #[error("{0}")]
    RequestTimeout(String),
    /// 409: expected_version did not match.
    #[error("expected version {expected} but the contact is at version {current_version}")]
    Conflict { expected: u32, current_version: u32 },
    /// 409: a promotion asked of a node that is not a standby.
    #[error("{0}")]
    NotStandby(String),
    /// 413
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: fields that fail validation.
    #[error("{detail}")]
    Unprocessable { detail: String, errors: Vec<FieldError> },
    /// 422: a case rule the event would break.
    #[error("{detail}")]
    RuleBroken { rule: &'static str, detail: String },
    /// 422: the idempotency key was used before with another body.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// 503: the log cannot take writes (e.g. the disk is full); reads keep working.
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged in full, shown as a bare apology with the request id.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn fields(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        ApiError::Unprocessable { detail: detail.into(), errors }
    }

    pub fn bad_param(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::BadRequest { detail: format!("{field}: {message}"), errors: vec![FieldError::new(field, message)] }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict { .. } | ApiError::NotStandby(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } | ApiError::RuleBroken { .. } | ApiError::IdempotencyMismatch => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type's slug; `type` is `/docs#problem-<slug>`, which the API reference
    /// page explains.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad-request",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::RequestTimeout(_) => "request-timeout",
            ApiError::Conflict { .. } => "version-conflict",
            ApiError::NotStandby(_) => "not-a-standby",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Unprocessable { .. } => "validation",
            ApiError::RuleBroken { .. } => "case-rule",
            ApiError::IdempotencyMismatch => "idempotency-key-reused",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "Bad request",
            ApiError::Unauthenticated(_) => "Authentication required",
            ApiError::Forbidden(_) => "Not allowed for this role",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::RequestTimeout(_) => "Request body too slow",
            ApiError::Conflict { .. } => "Version conflict",
            ApiError::NotStandby(_) => "Not a standby",
            ApiError::PayloadTooLarge { .. } => "Request body too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Unprocessable { .. } => "Invalid request",
            ApiError::RuleBroken { .. } => "Case rule broken",
            ApiError::IdempotencyMismatch => "Idempotency key reused",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }
}

/// An error, as `application/problem+json` (RFC 9457): what [`ApiError`] sends.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// The problem type: `/docs#problem-<slug>`, a section of the API reference.
    #[schema(format = "uri-reference", example = "/docs#problem-validation")]
    pub r#type: String,
    /// A short summary of the problem type; the same for every occurrence.
    pub title: &'static str,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong this time, for a person to read.
    pub detail: String,
    /// 422 `case-rule`: the name of the rule the event would break (see `/docs#rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    /// 422 and some 400s: the fields at fault, by path (`children[0].date_of_birth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// 409 `version-conflict`: the contact's version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u32>,
}

/// The apology an internal error shows instead of its cause.
pub const INTERNAL_DETAIL: &str =
    "Something went wrong on our side; it has been logged. Quote the x-request-id header.";

impl ApiError {
    /// The body this error is sent as.
    pub fn problem(&self) -> Problem {
        let detail = match self {
            // Never leak internals; the cause is logged with the request id.
            ApiError::Internal(_) => INTERNAL_DETAIL.to_owned(),
            other => other.to_string(),
        };
        let mut problem = Problem {
            r#type: format!("/docs#problem-{}", self.slug()),
            title: self.title(),
            status: self.status().as_u16(),
            detail,
            rule: None,
            errors: None,
            current_version: None,
        };
        match self {
            ApiError::BadRequest { errors, .. } | ApiError::Unprocessable { errors, .. } if !errors.is_empty() => {
                problem.errors = Some(errors.clone());
            }
            ApiError::Conflict { current_version, .. } => problem.current_version = Some(*current_version),
            ApiError::RuleBroken { rule, detail } => {
                problem.rule = Some(rule);
                if let Some(field) = crate::rules::field_of(rule) {
                    problem.errors = Some(vec![FieldError::new(field, detail.clone())]);
                }
            }
            _ => {}
        }
        problem
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let status = self.status();
        let mut response = (status, axum::Json(self.problem())).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<eventlog::LogError> for ApiError {
    fn from(e: eventlog::LogError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::app::AppError> for ApiError {
    fn from(e: crate::app::AppError) -> Self {
        use crate::app::AppError as E;
        match e {
            E::Malformed(detail) => ApiError::BadRequest { detail, errors: vec![] },
            E::Invalid { detail, errors } => ApiError::Unprocessable { detail, errors },
            E::Forbidden(detail) => ApiError::Forbidden(detail),
            E::NotFound(detail) => ApiError::NotFound(detail),
            E::Conflict { expected, current_version } => ApiError::Conflict { expected, current_version },
            E::RuleBroken { rule, detail } => ApiError::RuleBroken { rule, detail },
            E::IdempotencyMismatch => ApiError::IdempotencyMismatch,
            E::Unavailable(detail) => ApiError::Unavailable(detail),
            E::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
