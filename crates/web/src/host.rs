//! The request's `Host`: checked before it is written into config.js or a
//! redirect, so a hostile Host cannot inject script or headers.

use hyper::HeaderMap;
use hyper::header::HOST;

/// A Host header that failed the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHost;

/// The longest Host accepted (a DNS name is at most 253, plus a port).
const MAX_HOST_LEN: usize = 262;

/// Whether `host` only has the characters of a DNS name, an IPv4 address or
/// a bracketed IPv6 address, with an optional port: `[A-Za-z0-9.:\-\[\]]`.
pub fn is_valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOST_LEN
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'[' | b']'))
}

/// The request's Host (from the header, or the absolute URI of a proxy-style
/// request line): `Ok(None)` when there is none (HTTP/1.0), `Err` when it
/// fails [`is_valid_host`].
pub fn request_host(headers: &HeaderMap, uri: &hyper::Uri) -> Result<Option<String>, BadHost> {
    let raw = match headers.get(HOST) {
        Some(v) => Some(v.to_str().map_err(|_| BadHost)?.to_string()),
        None => uri.authority().map(|a| a.as_str().to_string()),
    };
    match raw {
        Some(h) if is_valid_host(&h) => Ok(Some(h)),
        Some(_) => Err(BadHost),
        None => Ok(None),
    }
}

/// `host` without its port: `meet.example.com:80` → `meet.example.com`,
/// `[::1]:80` → `[::1]`.
pub fn without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// The `Location` of the plain-HTTP listener's 301: the same host on the
/// HTTPS port (omitted when 443), the same path and query.
pub fn https_location(host: &str, https_port: u16, path_and_query: &str) -> String {
    let name = without_port(host);
    if https_port == 443 {
        format!("https://{name}{path_and_query}")
    } else {
        format!("https://{name}:{https_port}{path_and_query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn valid_hosts() {
        for h in [
            "meet.example.com",
            "meet.example.com:8443",
            "127.0.0.1:1",
            "[::1]:443",
            "localhost",
            "xn--80ak6aa92e.com",
        ] {
            assert!(is_valid_host(h), "{h}");
        }
    }

    #[test]
    fn hostile_hosts() {
        for h in [
            "",
            "a'b",
            "evil.com/';alert(1);//",
            "a b",
            "a\"b",
            "a<b",
            "a\\b",
            "a@b",
            "мой.рф",
            "a%2fb",
        ] {
            assert!(!is_valid_host(h), "{h:?}");
        }
        assert!(!is_valid_host(&"a".repeat(300)));
    }

    #[test]
    fn host_from_header_or_uri() {
        let uri: hyper::Uri = "/x".parse().expect("uri");
        let mut h = HeaderMap::new();
        assert_eq!(request_host(&h, &uri), Ok(None));
        h.insert(HOST, HeaderValue::from_static("meet.example.com"));
        assert_eq!(request_host(&h, &uri), Ok(Some("meet.example.com".into())));
        h.insert(HOST, HeaderValue::from_static("x';alert(1)"));
        assert_eq!(request_host(&h, &uri), Err(BadHost));
        let abs: hyper::Uri = "http://a.example:81/x".parse().expect("uri");
        assert_eq!(
            request_host(&HeaderMap::new(), &abs),
            Ok(Some("a.example:81".into()))
        );
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(without_port("a.example:80"), "a.example");
        assert_eq!(without_port("a.example"), "a.example");
        assert_eq!(without_port("[::1]:80"), "[::1]");
        assert_eq!(without_port("[::1]"), "[::1]");
        assert_eq!(without_port("::1"), "::1");
    }

    #[test]
    fn redirect_locations() {
        assert_eq!(
            https_location("meet.example.com:80", 443, "/room?x=1"),
            "https://meet.example.com/room?x=1"
        );
        assert_eq!(
            https_location("127.0.0.1:8080", 8443, "/"),
            "https://127.0.0.1:8443/"
        );
    }
}
