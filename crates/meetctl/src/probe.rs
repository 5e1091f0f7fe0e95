//! A minimal blocking HTTP GET for `meetctl status`: the daemons' health
//! and stats endpoints on this machine, over plain TCP or TLS (meet-web).
//! HTTP/1.0 so every answer is a plain body that ends with the connection.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A daemon that takes longer than this to answer a health check is
/// reported as not answering.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Health and stats bodies are small; a larger answer is not ours.
const MAX_BODY: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Why there was no answer, in words for the status report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listens: the daemon is not running (or elsewhere).
    Refused,
    /// Connected or connecting, but no answer in time.
    TimedOut,
    /// Anything else (TLS failure, garbage).
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused => f.write_str("connection refused"),
            Failure::TimedOut => write!(f, "no answer within {} s", TIMEOUT.as_secs()),
            Failure::Other(e) => f.write_str(e),
        }
    }
}

fn failure(e: std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::ConnectionRefused => Failure::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Failure::TimedOut,
        _ => Failure::Other(e.to_string()),
    }
}

/// GET `path` from `addr`; with `tls_name`, over TLS with that SNI name.
/// The certificate is not verified: this asks a local daemon whether it
/// is alive, it does not trust the answer with anything.
pub fn get(addr: SocketAddr, path: &str, tls_name: Option<&str>) -> Result<Response, Failure> {
    let tcp = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(failure)?;
    tcp.set_read_timeout(Some(TIMEOUT)).map_err(failure)?;
    tcp.set_write_timeout(Some(TIMEOUT)).map_err(failure)?;
    let host = tls_name
        .map(str::to_string)
        .unwrap_or_else(|| addr.to_string());
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: meetctl\r\n\r\n");
    let raw = match tls_name {
        None => exchange(tcp, &request)?,
        Some(name) => {
            let config = xmpp_client::tls_config(None, true).map_err(Failure::Other)?;
            let server_name = rustls::pki_types::ServerName::try_from(name.to_string())
                .or_else(|_| rustls::pki_types::ServerName::try_from(addr.ip().to_string()))
                .map_err(|e| Failure::Other(format!("TLS name {name}: {e}")))?;
            let conn = rustls::ClientConnection::new(Arc::clone(&config), server_name)
                .map_err(|e| Failure::Other(format!("TLS: {e}")))?;
            exchange(rustls::StreamOwned::new(conn, tcp), &request)?
        }
    };
    parse(&raw)
}

fn exchange(mut stream: impl Read + Write, request: &str) -> Result<Vec<u8>, Failure> {
    stream.write_all(request.as_bytes()).map_err(failure)?;
    stream.flush().map_err(failure)?;
    let mut raw = Vec::new();
    match stream.take(MAX_BODY).read_to_end(&mut raw) {
        Ok(_) => Ok(raw),
        // A TLS peer that closes without close_notify: the answer is whole
        // for HTTP/1.0 all the same.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(failure(e)),
    }
}

fn parse(raw: &[u8]) -> Result<Response, Failure> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Failure::Other("not an HTTP answer".into()))?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::Other("not an HTTP answer".into()))?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn plain_get_and_refused() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).expect("read");
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /about/health HTTP/1.0"));
            s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nsick")
                .expect("write");
        });
        let r = get(addr, "/about/health", None).expect("answer");
        assert_eq!((r.status, r.body.as_str()), (500, "sick"));
        server.join().expect("server");
        // The listener is gone: nothing listens there any more.
        assert_eq!(get(addr, "/", None), Err(Failure::Refused));
    }

    #[test]
    fn garbage_is_not_an_answer() {
        assert!(parse(b"hello").is_err());
        assert!(parse(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }
}
