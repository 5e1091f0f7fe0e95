//! gzip for static files: whether the client takes it, and compressed
//! copies kept in memory so a large bundle is compressed once per version,
//! not once per visitor.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// Files smaller than this are sent as they are (the header costs more
/// than gzip saves).
pub const MIN_SIZE: u64 = 256;
/// Files larger than this are streamed uncompressed rather than held in
/// memory (a precompressed `.gz` still works for them).
pub const MAX_SIZE: u64 = 16 * 1024 * 1024;
/// Memory for compressed copies.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Whether an `Accept-Encoding` value allows gzip (RFC 9110 §12.5.3):
/// `gzip` or `*` with a non-zero quality, unless gzip itself has `q=0`.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut star = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|v| v.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

/// gzip `data` (level 6, zlib's default: a good ratio at low CPU).
pub fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3 + 64), Compression::new(6));
    enc.write_all(data)?;
    enc.finish()
}

#[derive(Clone)]
struct Entry {
    len: u64,
    modified: SystemTime,
    gz: Bytes,
}

/// Compressed copies keyed by file, valid while the file's length and
/// modification time are unchanged.
#[derive(Default)]
pub struct Cache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    entries: HashMap<PathBuf, Entry>,
    bytes: usize,
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached copy of `path` at this version, if any.
    pub fn get(&self, path: &Path, len: u64, modified: SystemTime) -> Option<Bytes> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .entries
            .get(path)
            .filter(|e| e.len == len && e.modified == modified)
            .map(|e| e.gz.clone())
    }

    /// Keep a copy; older copies make room (an app has a few dozen
    /// compressible files, so this rarely evicts at all).
    pub fn put(&self, path: &Path, len: u64, modified: SystemTime, gz: Bytes) {
        if gz.len() > CACHE_BYTES {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.entries.remove(path) {
            inner.bytes -= old.gz.len();
        }
        while inner.bytes + gz.len() > CACHE_BYTES {
            let victim = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.modified)
                .map(|(p, _)| p.clone());
            match victim.and_then(|p| inner.entries.remove(&p)) {
                Some(e) => inner.bytes -= e.gz.len(),
                None => break,
            }
        }
        inner.bytes += gz.len();
        inner
            .entries
            .insert(path.to_path_buf(), Entry { len, modified, gz });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("br, deflate"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("*, gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }

    #[test]
    fn compresses_and_round_trips() {
        let data = b"var config = {};\n".repeat(100);
        let gz = compress(&data).expect("gzip");
        assert!(gz.len() < data.len() / 4);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out, data);
    }

    #[test]
    fn cache_keys_on_version() {
        let c = Cache::new();
        let p = Path::new("/x/app.js");
        let t = SystemTime::UNIX_EPOCH;
        c.put(p, 10, t, Bytes::from_static(b"gz"));
        assert_eq!(c.get(p, 10, t), Some(Bytes::from_static(b"gz")));
        assert_eq!(c.get(p, 11, t), None);
        assert_eq!(c.get(p, 10, t + std::time::Duration::from_secs(1)), None);
    }
}
