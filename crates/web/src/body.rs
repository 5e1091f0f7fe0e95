//! The one response body type every handler returns (a whole buffer, a
//! streamed file or a streamed upstream body), and small responses.

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

pub const TEXT: &str = "text/plain; charset=utf-8";

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A response with a body and its type.
pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A short plain-text answer (errors, health).
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    with_type(status, TEXT, body)
}
