//! Extractors that turn every rejection into the API's own problem+json: the caller behind
//! the bearer token, a size-limited JSON body, and the `Idempotency-Key` header.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use eventlog::Actor;
use utoipa::IntoParams;

use super::error::ApiError;
use super::session::{SessionCaller, same_origin, session_id};
use super::state::AppState;

/// The most events one page of the global log returns.
pub const MAX_LIMIT: usize = 1000;

/// The token the caller presented, kept so a long-lived stream can re-check it and end
/// when it is revoked. Put in the request's extensions by [`Caller`].
#[derive(Debug, Clone)]
pub struct PresentedToken(pub std::sync::Arc<str>);

/// The authenticated caller. The actor of every event comes from here, never from a body.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            // No bearer token: the pages' session cookie, if any (see [`super::session`]).
            return session_caller(parts, state);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| ApiError::Unauthenticated("the Authorization header must be: Bearer <token>".into()))?;
        match state.tokens().authenticate(token) {
            Some(actor) => {
                tracing::Span::current().record("actor", actor.id.as_str());
                parts.extensions.insert(PresentedToken(token.into()));
                Ok(Caller(actor))
            }
            None => {
                state.metrics().failed_auth.inc();
                Err(ApiError::Unauthenticated("unknown or revoked token".into()))
            }
        }
    }
}

/// The caller behind a session cookie: the session's token is authenticated afresh on every
/// request, so revoking the token ends the session at once. A request that changes anything
/// must also come from the pages themselves (same origin), the cookie's CSRF defence beside
/// `SameSite=Strict`.
fn session_caller(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    let Some(session) = session_id(&parts.headers) else {
        return Err(ApiError::Unauthenticated("send a token: Authorization: Bearer <token>".into()));
    };
    let Some(token) = state.sessions().token(&session) else {
        return Err(ApiError::Unauthenticated("the session has ended: sign in again at /signin".into()));
    };
    let Some(actor) = state.tokens().authenticate(&token) else {
        state.sessions().end(&session);
        state.metrics().failed_auth.inc();
        return Err(ApiError::Unauthenticated("the session's token was revoked: sign in again at /signin".into()));
    };
    if !parts.method.is_safe() && !same_origin(&parts.headers) {
        return Err(ApiError::Forbidden(
            "a change made with a session cookie must come from this site's own pages (Origin or Sec-Fetch-Site)"
                .into(),
        ));
    }
    tracing::Span::current().record("actor", actor.id.as_str());
    parts.extensions.insert(PresentedToken(token));
    parts.extensions.insert(SessionCaller(session));
    Ok(Caller(actor))
}

/// A request body read whole, within the configured limit, that claims to be JSON (or does
/// not say what it is).
#[derive(Debug)]
pub struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "send JSON with Content-Type: application/json (got {essence:?})"
                )));
            }
        }
        let limit = state.config().body_limit;
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(JsonBytes(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge { limit })
            }
            // The body's deadline passed (see `BodyDeadline`): 408, not a malformed request.
            Err(rejection) if timed_out(&rejection) => Err(ApiError::RequestTimeout(rejection.body_text())),
            Err(rejection) => Err(ApiError::BadRequest { detail: rejection.body_text(), errors: vec![] }),
        }
    }
}

/// Whether reading the body failed because its deadline passed (an `io::ErrorKind::TimedOut`
/// somewhere in the error's chain).
fn timed_out(rejection: &axum::extract::rejection::BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
            return true;
        }
        source = e.source();
    }
    false
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all("idempotency-key").iter();
        let Some(value) = values.next() else { return Ok(IdempotencyKey(None)) };
        if values.next().is_some() {
            return Err(ApiError::bad_param("Idempotency-Key", "send the header once"));
        }
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| ApiError::bad_param("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// The contact named in the path.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ContactPath {
    /// The contact's id: a ULID. Anything else is a contact that does not exist (404).
    pub id: String,
}

/// The `Idempotency-Key` header of the writes.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// Makes a write safe to repeat: a repeat with the same key and body returns the first
    /// response (with `Idempotent-Replayed: true`) and writes nothing; the same key with another
    /// body is 422. Keys are scoped to the caller and the resource. 1 to 255 visible ASCII
    /// characters; sent at most once.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")]
    pub key: Option<String>,
}
