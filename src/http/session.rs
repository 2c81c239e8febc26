//! The pages' sign-in sessions: the cookie, the in-memory table of sessions (only the SHA-256
//! of each id is kept, with the token it stands for and an expiry), the failed sign-ins by
//! address, and the same-origin check of a request that changes anything with the cookie.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "frontdoor_session";
/// How long a session lasts from sign-in (a long shift); the token's revocation ends it sooner.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The longest a failed sign-in is made to wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The sessions, keyed by the SHA-256 of their id; and the recent failed sign-ins by address.
#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

struct Session {
    token: Arc<str>,
    expires: Instant,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Put in a request's extensions when its caller came by session cookie: the session id.
#[derive(Debug, Clone)]
pub struct SessionCaller(pub String);

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Starts a session for `token`; returns its id (64 hex digits), for the cookie only.
    pub fn start(&self, token: &str) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let id = hex::encode(bytes);
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(key(&id), Session { token: token.into(), expires: now + SESSION_LIFETIME });
        Some(id)
    }

    /// The token a live session stands for.
    pub fn token(&self, id: &str) -> Option<Arc<str>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let k = key(id);
        match sessions.get(&k) {
            Some(s) if s.expires > Instant::now() => Some(s.token.clone()),
            Some(_) => {
                sessions.remove(&k);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key(id));
    }

    /// How long a sign-in from `client` must wait: nothing at first, then 250 ms doubling with
    /// each failure in the last quarter of an hour, up to [`MAX_BACKOFF`].
    pub(crate) fn backoff(&self, client: IpAddr) -> Duration {
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures.get(&client) {
            Some(f) if f.last.elapsed() < FAILURE_MEMORY && f.count > 0 => {
                Duration::from_millis(250u64.saturating_mul(1u64 << f.count.min(6).saturating_sub(1))).min(MAX_BACKOFF)
            }
            _ => Duration::ZERO,
        }
    }

    pub(crate) fn failed(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() > 10_000 {
            failures.retain(|_, f| f.last.elapsed() < FAILURE_MEMORY);
        }
        let entry = failures.entry(client).or_insert(Failures { count: 0, last: Instant::now() });
        if entry.last.elapsed() >= FAILURE_MEMORY {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = Instant::now();
    }

    pub(crate) fn succeeded(&self, client: IpAddr) {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&client);
    }
}

const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

/// The session id in the request's cookie, if it has one of the right shape.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether a request comes from this site's own pages: `Sec-Fetch-Site: same-origin` where
/// the browser sends it, else an `Origin` whose host is this request's `Host`. Neither: no.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) else {
        return false;
    };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else { return false };
    origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

pub(crate) fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

pub(crate) fn session_cookie(id: &str, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", SESSION_LIFETIME.as_secs())
}

pub(crate) fn clear_cookie(https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_needs_the_browsers_word_or_a_matching_origin() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site"), ("origin", "http://a:1"), ("host", "a:1")])));
        assert!(same_origin(&headers(&[("origin", "http://a:1"), ("host", "a:1")])));
        assert!(!same_origin(&headers(&[("origin", "http://evil:1"), ("host", "a:1")])));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "a:1")])));
        assert!(!same_origin(&headers(&[("host", "a:1")])));
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_must_be_64_hex_digits() {
        let id = "ab".repeat(32);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("x=1; {COOKIE}={id}; y=2")).unwrap());
        assert_eq!(session_id(&h), Some(id));
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}=short")).unwrap());
        assert_eq!(session_id(&h), None);
    }

    #[test]
    fn sessions_end_and_only_their_hash_is_kept() {
        let sessions = Sessions::default();
        let id = sessions.start("fd_token").unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(sessions.token(&id).as_deref(), Some("fd_token"));
        assert!(!sessions.sessions.lock().unwrap().contains_key(&[0u8; 32]));
        assert!(sessions.sessions.lock().unwrap().contains_key(&key(&id)));
        sessions.end(&id);
        assert_eq!(sessions.token(&id), None);
    }

    #[test]
    fn failed_sign_ins_wait_longer_each_time_up_to_a_limit() {
        let sessions = Sessions::default();
        let client = IpAddr::from([10, 0, 0, 1]);
        assert_eq!(sessions.backoff(client), Duration::ZERO);
        let mut waits = Vec::new();
        for _ in 0..8 {
            sessions.failed(client);
            waits.push(sessions.backoff(client).as_millis());
        }
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(sessions.backoff(IpAddr::from([10, 0, 0, 2])), Duration::ZERO, "per client");
        sessions.succeeded(client);
        assert_eq!(sessions.backoff(client), Duration::ZERO);
    }
}
