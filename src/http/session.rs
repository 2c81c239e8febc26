//! The pages' sign-in sessions: the cookie, the in-memory table of sessions (only the SHA-256
//! of each id is kept, with the token it stands for and an expiry), the failed sign-ins by
//! address and token id, and the same-origin check of a request that changes anything with the cookie.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::num::NonZeroU32;

use axum::http::{HeaderMap, header};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "frontdoor_session";
/// How long a session lasts from sign-in (a long shift); the token's revocation ends it sooner.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The sessions, keyed by the SHA-256 of their id; and the limits on failed sign-ins.
#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    limits: SignInLimits,
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

    /// How long sign-ins from `client` are still refused, if they are: the address failed
    /// more often than [`ADDRESS_FAILURES`] allows.
    pub(crate) fn address_refused(&self, client: IpAddr) -> Option<Duration> {
        self.limits.address_refused(client)
    }

    /// Counts a failed sign-in from `client` with the token id `token_id` (the `<id>` of
    /// `fd_<id>_<secret>`, if the text had that form); returns how long to wait if that was
    /// one failure too many for the address or the token id.
    pub(crate) fn failed(&self, client: IpAddr, token_id: Option<&str>) -> Option<Duration> {
        self.limits.failed(client, token_id)
    }
}

/// Failed sign-ins one address may make: a burst, then one more every so often.
pub const ADDRESS_FAILURES: (u32, Duration) = (10, Duration::from_secs(30));
/// Failed sign-ins naming one token id, from anywhere: a burst, then one more every so often.
pub const TOKEN_FAILURES: (u32, Duration) = (5, Duration::from_secs(60));
/// Past this many addresses or token ids remembered, the ones back at a full allowance are
/// forgotten: the limiter's memory stays bounded whatever a client sends.
const REMEMBERED: usize = 10_000;

type Keyed<K> = RateLimiter<K, HashMapStateStore<K>, DefaultClock>;

/// Failed sign-ins, limited per address and per token id (governor's GCRA). Only failures are
/// counted, and the token id's limit never refuses the right token: it makes a stream of wrong
/// secrets for one id answer "too many" at once, while the holder, pasting the right secret,
/// still signs in, so knowing a token's id cannot lock its holder out. An address past its
/// limit is refused before its token is looked at, until it has its allowance back.
struct SignInLimits {
    by_address: Keyed<IpAddr>,
    by_token: Keyed<String>,
    /// Addresses past their limit, and until when.
    refused: Mutex<HashMap<IpAddr, Instant>>,
}

impl Default for SignInLimits {
    fn default() -> Self {
        let quota = |(burst, every): (u32, Duration)| {
            Quota::with_period(every)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        SignInLimits {
            by_address: RateLimiter::hashmap(quota(ADDRESS_FAILURES)),
            by_token: RateLimiter::hashmap(quota(TOKEN_FAILURES)),
            refused: Mutex::new(HashMap::new()),
        }
    }
}

impl SignInLimits {
    fn address_refused(&self, client: IpAddr) -> Option<Duration> {
        let mut refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = *refused.get(&client)?;
        let now = Instant::now();
        if until > now {
            return Some(until - now);
        }
        refused.remove(&client);
        None
    }

    fn failed(&self, client: IpAddr, token_id: Option<&str>) -> Option<Duration> {
        let clock = DefaultClock::default();
        let now = clock.now();
        let by_address = self.by_address.check_key(&client).err().map(|n| n.wait_time_from(now));
        let by_token =
            token_id.and_then(|id| self.by_token.check_key(&id.to_owned()).err()).map(|n| n.wait_time_from(now));
        if let Some(wait) = by_address {
            let mut refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if refused.len() >= REMEMBERED {
                let now = Instant::now();
                refused.retain(|_, until| *until > now);
            }
            refused.insert(client, Instant::now() + wait);
        }
        if self.by_address.len().max(self.by_token.len()) >= REMEMBERED {
            self.by_address.retain_recent();
            self.by_token.retain_recent();
        }
        by_address.max(by_token)
    }
}

/// The token id of a pasted token, `fd_<id>_<secret>`, if it has that form (a short run of
/// letters and digits), to count failures by and to log: never the secret.
pub fn token_id(pasted: &str) -> Option<&str> {
    let (id, _) = pasted.strip_prefix("fd_")?.split_once('_')?;
    (!id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

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
    fn failures_are_limited_per_address_and_per_token_id() {
        let sessions = Sessions::default();
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        assert_eq!(sessions.address_refused(a), None);
        let burst = ADDRESS_FAILURES.0 as usize;
        let answers: Vec<bool> = (0..burst + 2).map(|_| sessions.failed(a, None).is_some()).collect();
        assert_eq!(answers.iter().filter(|limited| !**limited).count(), burst, "{answers:?}");
        let wait = sessions.address_refused(a).expect("the address is refused");
        assert!(wait <= ADDRESS_FAILURES.1, "{wait:?}");
        assert_eq!(sessions.address_refused(b), None, "per address");
        // One token id, from many addresses.
        let ids: Vec<bool> = (0..=TOKEN_FAILURES.0)
            .map(|i| sessions.failed(IpAddr::from([10, 1, 0, u8::try_from(i).unwrap()]), Some("abc123")).is_some())
            .collect();
        assert_eq!(ids.iter().filter(|limited| **limited).count(), 1, "{ids:?}");
        assert!(sessions.failed(b, Some("other")).is_none(), "per token id");
    }

    #[test]
    fn the_token_id_is_the_part_before_the_secret() {
        assert_eq!(token_id("fd_cd0b31626c5c_b4bd33898a8e"), Some("cd0b31626c5c"));
        assert_eq!(token_id("fd__secret"), None);
        assert_eq!(token_id("fd_a b_secret"), None);
        assert_eq!(token_id("wrong"), None);
        assert_eq!(token_id(&format!("fd_{}_s", "a".repeat(33))), None);
    }
}
