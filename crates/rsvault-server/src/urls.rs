//! The server's own absolute URL, which operation URLs (`Location`,
//! `Azure-AsyncOperation`) and `nextLink` start with. Clients follow those
//! URLs with their bearer token, so they are never built from the request's
//! `Host` header: they come from the configured public URL, else from
//! `X-Forwarded-Proto`/`X-Forwarded-Host` when the request comes from a
//! configured proxy, else from the address the server listens on.

use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// How the server names itself.
#[derive(Debug, Clone, Default)]
pub struct PublicUrls {
    /// `[server] public_url`, without a trailing `/`.
    pub public_url: Option<String>,
    /// `[server] trusted_proxies`: peers whose `X-Forwarded-*` headers count.
    pub trusted_proxies: Vec<IpAddr>,
    /// `https://<listen address>` (`http://` with `--insecure-http`), set
    /// once the server is bound.
    pub listen_url: String,
}

/// The base URL of one request (an extension set by [`base_url`]).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl PublicUrls {
    /// The base URL for a request from `peer` with `headers`.
    pub fn for_request(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        if let Some(u) = &self.public_url {
            return u.clone();
        }
        let trusted = peer.is_some_and(|p| self.trusted_proxies.contains(&canonical_ip(p)));
        if trusted && let Some(u) = forwarded(headers) {
            return u;
        }
        self.listen_url.clone()
    }
}

/// An IPv4-mapped IPv6 peer as its IPv4 address.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `X-Forwarded-Proto` (http or https) and `X-Forwarded-Host` as a base
/// URL, if the host is a plain host name or address with an optional port.
fn forwarded(headers: &HeaderMap) -> Option<String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let host = get("x-forwarded-host")?;
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !ok {
        return None;
    }
    let proto = match get("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    Some(format!("{proto}://{host}"))
}

/// The URL of a listen address; an unspecified address (`0.0.0.0`, `::`)
/// is named by the loopback address of its family.
pub fn listen_url(addr: SocketAddr, https: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

/// The client's address and the base URL of a request.
pub fn peer_and_base(state: &AppState, req: &Request) -> (Option<IpAddr>, String) {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    (peer, state.urls.for_request(peer, req.headers()))
}

/// Sets the request's [`BaseUrl`].
pub async fn base_url(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let (_, base) = peer_and_base(&state, &req);
    req.extensions_mut().insert(BaseUrl(base));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h.insert("host", "evil.example".parse().unwrap());
        h
    }

    #[test]
    fn the_host_header_never_names_the_server() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let mut u = PublicUrls {
            public_url: None,
            trusted_proxies: vec![proxy],
            listen_url: listen_url("0.0.0.0:7431".parse().unwrap(), false),
        };
        let fwd = headers(&[
            ("x-forwarded-host", "vault.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(u.for_request(None, &fwd), "http://127.0.0.1:7431");
        let stranger = "10.0.0.6".parse().ok();
        assert_eq!(u.for_request(stranger, &fwd), "http://127.0.0.1:7431");
        assert_eq!(
            u.for_request(Some(proxy), &fwd),
            "https://vault.example.com"
        );
        let mapped = "::ffff:10.0.0.5".parse().ok();
        assert_eq!(u.for_request(mapped, &fwd), "https://vault.example.com");
        let bad = headers(&[("x-forwarded-host", "a.example/@evil")]);
        assert_eq!(u.for_request(Some(proxy), &bad), "http://127.0.0.1:7431");
        u.public_url = Some("https://backup.example.org".into());
        assert_eq!(
            u.for_request(Some(proxy), &fwd),
            "https://backup.example.org"
        );
        assert_eq!(
            listen_url("[::]:80".parse().unwrap(), false),
            "http://[::1]:80"
        );
        assert_eq!(
            listen_url("0.0.0.0:7431".parse().unwrap(), true),
            "https://127.0.0.1:7431"
        );
    }
}
