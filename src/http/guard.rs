//! What every request and response goes through: the `Host` it names must be one this service
//! answers to, and the API's answers are never stored by a cache.

use std::net::{IpAddr, SocketAddr};

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::validate::FieldError;

/// The refusal of a request whose `Host` (or HTTP/2 authority) is not `localhost`, the listen
/// address or a configured name (`allowed_hosts`). A page on another site that rebinds its own
/// name to this machine's address names its own host, and is refused before anything else
/// happens. When the service listens on every address, any IP address is answered: a rebinding
/// needs a name. The port is not compared.
pub fn host_refusal(app: &AppState, request: &Request) -> Option<Response> {
    let named =
        request.uri().host().map(str::to_owned).or_else(|| {
            request.headers().get(header::HOST).and_then(|v| v.to_str().ok()).map(|h| hostname(h).to_owned())
        });
    let name = named.filter(|name| !allowed(app, name))?;
    let detail = format!("this service does not answer to the host {name:?}");
    Some(ApiError::BadRequest { detail: detail.clone(), errors: vec![FieldError::new("Host", detail)] }.into_response())
}

/// The host name of a `Host` header value: without its port, and an IPv6 address without its
/// brackets.
fn hostname(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(name, _)| name)
}

fn allowed(app: &AppState, name: &str) -> bool {
    let name = name.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || app.config().allowed_hosts.contains(&name) {
        return true;
    }
    let listen = app.config().listen.as_str();
    match listen.parse::<SocketAddr>() {
        Ok(addr) => match name.parse::<IpAddr>() {
            Ok(ip) => addr.ip().is_unspecified() || ip == addr.ip(),
            Err(_) => false,
        },
        // A listen address given by name: that name.
        Err(_) => hostname(listen).eq_ignore_ascii_case(&name),
    }
}

/// `Cache-Control: no-store` on an answer of the API (each gets it: children's data, or the
/// absence of it) unless the handler chose otherwise, so no browser or proxy cache keeps a copy.
pub fn no_store(response: &mut Response) {
    response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::hostname;

    #[test]
    fn the_port_and_the_brackets_are_not_part_of_the_name() {
        assert_eq!(hostname("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(hostname("localhost"), "localhost");
        assert_eq!(hostname("[::1]:8080"), "::1");
        assert_eq!(hostname("frontdoor.example"), "frontdoor.example");
        assert_eq!(hostname("evil.example:80"), "evil.example");
    }
}
