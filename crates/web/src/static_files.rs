//! Files from `static_root` (Apache's DocumentRoot): lookup, validators
//! (ETag, Last-Modified, 304), Cache-Control, and gzip — a precompressed
//! `<file>.gz` beside the file when there is one, else compressed here
//! (and kept, see [`crate::gzip`]).

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG,
    HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Response, StatusCode};
use tokio_util::io::ReaderStream;

use crate::body::{self, Body};
use crate::{content_type, gzip, paths};

/// How long a browser may keep a file without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// index.html, config.js, 404 pages: always revalidate (a new release
    /// must be seen at once; the ETag makes the check cheap).
    NoCache,
    /// Content-hashed assets: a new version has a new name.
    Immutable,
    /// Anything else (images, sounds, unhashed scripts): an hour.
    Short,
}

impl CachePolicy {
    pub fn for_segments(segments: &[String]) -> Self {
        match segments.last().map(String::as_str) {
            None | Some("index.html") => Self::NoCache,
            Some(name) if name.ends_with(".html") => Self::NoCache,
            _ if paths::is_immutable_asset(segments) => Self::Immutable,
            _ => Self::Short,
        }
    }

    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::NoCache => "no-cache",
            Self::Immutable => "public, max-age=31536000, immutable",
            Self::Short => "public, max-age=3600",
        })
    }
}

/// A small 404 page for when static_root has none.
pub const BUILTIN_404: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Not found</title></head>\n<body><h1>Not found</h1><p>There is no such page here. <a href=\"/\">Start a meeting</a></p></body></html>\n";

/// What the request asks of the file (read from its headers).
pub struct Conditions<'a> {
    pub headers: &'a HeaderMap,
    pub head: bool,
}

/// The file tree under `static_root`, with its gzip cache.
pub struct StaticFiles {
    root: PathBuf,
    gzip: gzip::Cache,
}

/// The form of the file that is sent.
enum Representation {
    Identity,
    /// `<file>.gz` from disk, with its own metadata.
    GzFile(PathBuf, Metadata),
    /// Compressed here.
    GzMemory,
}

impl StaticFiles {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            gzip: gzip::Cache::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The regular file the checked `segments` name (a directory's
    /// index.html), if there is one.
    pub async fn find(&self, segments: &[String]) -> Option<PathBuf> {
        let path = self.root.join(paths::relative_path(segments));
        let meta = tokio::fs::metadata(&path).await.ok()?;
        if meta.is_file() {
            return Some(path);
        }
        if meta.is_dir() {
            let index = path.join("index.html");
            if tokio::fs::metadata(&index).await.ok()?.is_file() {
                return Some(index);
            }
        }
        None
    }

    /// The first of `candidates` (relative paths) that is a regular file.
    pub async fn first_existing(&self, candidates: &[&str]) -> Option<PathBuf> {
        for c in candidates {
            let path = self.root.join(c);
            if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
                return Some(path);
            }
        }
        None
    }

    /// Send `path` with `status`. Conditional requests are only honoured for
    /// 200 answers (a 404 page is never "not modified"). `None` when the
    /// file vanished or cannot be read.
    pub async fn serve(
        &self,
        path: &Path,
        status: StatusCode,
        policy: CachePolicy,
        cond: &Conditions<'_>,
    ) -> Option<Response<Body>> {
        let meta = tokio::fs::metadata(path).await.ok()?;
        let name = path.file_name()?.to_str().unwrap_or("");
        let ctype = content_type::for_name(name);
        let compressible = content_type::is_compressible(ctype);
        let wants_gzip = compressible
            && cond
                .headers
                .get(ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(gzip::accepts_gzip);
        let repr = if wants_gzip {
            let gz_path = with_gz_suffix(path);
            match tokio::fs::metadata(&gz_path).await {
                // A .gz older than its file is stale (the file was
                // rebuilt without it): compress here instead.
                Ok(m) if m.is_file() && !older(&m, &meta) => Representation::GzFile(gz_path, m),
                _ if (gzip::MIN_SIZE..=gzip::MAX_SIZE).contains(&meta.len()) => {
                    Representation::GzMemory
                }
                _ => Representation::Identity,
            }
        } else {
            Representation::Identity
        };
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let etag = match &repr {
            Representation::Identity => etag(&meta, ""),
            Representation::GzFile(_, gz_meta) => etag(gz_meta, "-gzf"),
            Representation::GzMemory => etag(&meta, "-gz"),
        };

        let mut resp = Response::new(body::empty());
        let h = resp.headers_mut();
        h.insert(CACHE_CONTROL, policy.header());
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
            h.insert(LAST_MODIFIED, v);
        }
        if compressible {
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if status == StatusCode::OK && not_modified(cond.headers, &etag, modified) {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            return Some(resp);
        }
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
        h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));

        let gzipped = !matches!(repr, Representation::Identity);
        let (file, len, in_memory) = match repr {
            Representation::Identity => (path.to_path_buf(), meta.len(), None),
            Representation::GzFile(gz_path, gz_meta) => (gz_path, gz_meta.len(), None),
            Representation::GzMemory => {
                let gz = self.compressed(path, &meta, modified).await?;
                (path.to_path_buf(), gz.len() as u64, Some(gz))
            }
        };
        let h = resp.headers_mut();
        if gzipped {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        if cond.head {
            return Some(resp);
        }
        *resp.body_mut() = match in_memory {
            Some(gz) => body::full(gz),
            None => stream_file(&file).await?,
        };
        Some(resp)
    }

    /// The gzip form of `path`, from the cache or compressed now (on the
    /// blocking pool: compressing a bundle takes tens of milliseconds).
    async fn compressed(
        &self,
        path: &Path,
        meta: &Metadata,
        modified: SystemTime,
    ) -> Option<Bytes> {
        if let Some(gz) = self.gzip.get(path, meta.len(), modified) {
            return Some(gz);
        }
        let data = tokio::fs::read(path).await.ok()?;
        let gz = tokio::task::spawn_blocking(move || gzip::compress(&data))
            .await
            .ok()?
            .ok()?;
        let gz = Bytes::from(gz);
        self.gzip.put(path, meta.len(), modified, gz.clone());
        Some(gz)
    }
}

fn older(a: &Metadata, b: &Metadata) -> bool {
    match (a.modified(), b.modified()) {
        (Ok(a), Ok(b)) => a < b,
        _ => false,
    }
}

fn with_gz_suffix(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".gz");
    PathBuf::from(s)
}

/// A strong validator from length and modification time (what Apache's
/// default `FileETag MTime Size` uses), marked per representation.
fn etag(meta: &Metadata, marker: &str) -> String {
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{:x}-{:x}{marker}\"", meta.len(), nanos)
}

/// RFC 9110 §13.1.2 / §13.1.3: If-None-Match wins; If-Modified-Since only
/// when there is none.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(inm) = headers.get(IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else {
            return false;
        };
        return inm
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
    }
    let Some(since) = headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    // HTTP dates have whole seconds.
    let modified_secs = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let since_secs = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    modified_secs <= since_secs
}

async fn stream_file(path: &Path) -> Option<Body> {
    let file = tokio::fs::File::open(path).await.ok()?;
    let stream = ReaderStream::with_capacity(file, 64 * 1024).map_ok(Frame::data);
    Some(StreamBody::new(stream).boxed_unsync())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        paths::segments(p).expect("path")
    }

    #[test]
    fn cache_policies() {
        assert_eq!(CachePolicy::for_segments(&[]), CachePolicy::NoCache);
        assert_eq!(
            CachePolicy::for_segments(&segs("/index.html")),
            CachePolicy::NoCache
        );
        assert_eq!(
            CachePolicy::for_segments(&segs("/static/404.html")),
            CachePolicy::NoCache
        );
        assert_eq!(
            CachePolicy::for_segments(&segs("/libs/app.bundle.min.js")),
            CachePolicy::Immutable
        );
        assert_eq!(
            CachePolicy::for_segments(&segs("/images/logo.png")),
            CachePolicy::Short
        );
    }

    #[test]
    fn conditional_requests() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let tag = "\"10-abc\"";
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, tag, t));
        h.insert(
            IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"10-abc\""),
        );
        assert!(not_modified(&h, tag, t));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        // If-None-Match present and not matching: If-Modified-Since is ignored.
        h.insert(
            IF_MODIFIED_SINCE,
            HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("date"),
        );
        assert!(!not_modified(&h, tag, t));
        h.remove(IF_NONE_MATCH);
        assert!(not_modified(&h, tag, t));
        assert!(!not_modified(
            &h,
            tag,
            t + std::time::Duration::from_secs(2)
        ));
    }

    #[tokio::test]
    async fn lookup_and_representations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("libs")).expect("mkdir");
        std::fs::write(root.join("index.html"), "<html>home</html>").expect("write");
        std::fs::write(root.join("libs/app.js"), "x".repeat(5000)).expect("write");
        std::fs::write(root.join("libs/index.html"), "libs").expect("write");
        let files = StaticFiles::new(root.to_path_buf());
        assert_eq!(
            files.find(&segs("/libs/app.js")).await,
            Some(root.join("libs/app.js"))
        );
        assert_eq!(
            files.find(&segs("/libs")).await,
            Some(root.join("libs/index.html"))
        );
        assert_eq!(files.find(&segs("/nope.js")).await, None);

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let cond = Conditions {
            headers: &headers,
            head: false,
        };
        let path = root.join("libs/app.js");
        let resp = files
            .serve(&path, StatusCode::OK, CachePolicy::Immutable, &cond)
            .await
            .expect("served");
        assert_eq!(resp.headers()[CONTENT_ENCODING], "gzip");
        let gz_tag = resp.headers()[ETAG].clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert!(body.len() < 200, "{}", body.len());

        // The precompressed file wins over compressing here.
        std::fs::write(
            root.join("libs/app.js.gz"),
            gzip::compress(b"pre").expect("gz"),
        )
        .expect("write");
        let resp = files
            .serve(&path, StatusCode::OK, CachePolicy::Immutable, &cond)
            .await
            .expect("served");
        assert_ne!(resp.headers()[ETAG], gz_tag);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], &gzip::compress(b"pre").expect("gz")[..]);

        // A .gz older than the file is ignored.
        let gz_file = std::fs::File::options()
            .write(true)
            .open(root.join("libs/app.js.gz"))
            .expect("open");
        gz_file
            .set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1))
            .expect("set mtime");
        let resp = files
            .serve(&path, StatusCode::OK, CachePolicy::Immutable, &cond)
            .await
            .expect("served");
        assert_eq!(resp.headers()[ETAG], gz_tag);

        // Without Accept-Encoding: the file itself.
        let plain = HeaderMap::new();
        let cond = Conditions {
            headers: &plain,
            head: false,
        };
        let resp = files
            .serve(&path, StatusCode::OK, CachePolicy::Immutable, &cond)
            .await
            .expect("served");
        assert!(resp.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(resp.headers()[CONTENT_LENGTH], "5000");
    }
}
