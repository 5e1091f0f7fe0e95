//! Just enough XMPP framing for a load generator: a byte buffer that is
//! split into top-level stream elements (stanzas, features, SASL nonzas) by
//! tracking tag depth. Tags may be split across reads anywhere; a frame is
//! only reported once its last byte is in the buffer.
//!
//! This is not an XML parser: it assumes well-formed input without comments
//! or CDATA inside stanzas (what XMPP servers send), honours quoted
//! attribute values (which may contain `>`), and treats any `*:stream` /
//! `stream` open tag as a (re)started stream.

use std::io;
use std::ops::Range;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One complete piece of the incoming stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `<stream:stream ...>` (the server's stream header).
    StreamOpen,
    /// A complete depth-1 element; the range indexes [`Splitter::bytes`].
    Element(Range<usize>),
    /// `</stream:stream>`.
    StreamClose,
}

/// Incremental splitter over a growing buffer.
#[derive(Default)]
pub struct Splitter {
    buf: Vec<u8>,
    /// Next byte to look at.
    scan: usize,
    /// 0 = outside any stream, 1 = inside the stream, >1 = inside a stanza.
    depth: u32,
    /// Start of the depth-1 element being collected.
    elem_start: usize,
}

impl Splitter {
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(32 * 1024),
            ..Self::default()
        }
    }

    /// The buffer that `Frame::Element` ranges index. Ranges stay valid
    /// until the next [`Splitter::compact`] (called by the readers before
    /// each read).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Drop everything already scanned that no pending element needs.
    pub fn compact(&mut self) {
        let keep = if self.depth >= 2 {
            self.elem_start
        } else {
            self.scan
        };
        if keep == 0 {
            return;
        }
        self.buf.drain(..keep);
        self.scan -= keep;
        self.elem_start = self.elem_start.saturating_sub(keep);
    }

    /// Append bytes (for callers that read themselves, and tests).
    #[cfg(test)]
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Room to read into.
    pub fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let rel = self.buf[self.scan..].iter().position(|&b| b == b'<')?;
            let lt = self.scan + rel;
            // Comments (`<!-- ... -->`) end at `-->`, not at the first `>`.
            if self.buf[lt..].starts_with(b"<!--") {
                let end = find(&self.buf[lt + 4..], b"-->")?;
                self.scan = lt + 4 + end + 3;
                continue;
            }
            let Some(gt) = tag_end(&self.buf, lt + 1) else {
                // Incomplete tag: look at it again once more data arrives.
                self.scan = lt;
                return None;
            };
            self.scan = gt + 1;
            let tag = &self.buf[lt..=gt];
            match tag.get(1) {
                Some(b'?') | Some(b'!') => continue,
                Some(b'/') => {
                    if is_stream_name(name_of(&tag[2..])) {
                        self.depth = 0;
                        return Some(Frame::StreamClose);
                    }
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 1 {
                        return Some(Frame::Element(self.elem_start..gt + 1));
                    }
                }
                _ => {
                    let self_closing = tag.len() >= 2 && tag[tag.len() - 2] == b'/';
                    if !self_closing && is_stream_name(name_of(&tag[1..])) {
                        self.depth = 1;
                        return Some(Frame::StreamOpen);
                    }
                    if self.depth <= 1 {
                        self.elem_start = lt;
                    }
                    if self_closing {
                        if self.depth <= 1 {
                            return Some(Frame::Element(lt..gt + 1));
                        }
                    } else {
                        self.depth += 1;
                    }
                }
            }
        }
    }
}

/// Index of the `>` closing the tag whose body starts at `from`, skipping
/// quoted attribute values.
fn tag_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut quote = 0u8;
    for (i, &b) in buf[from..].iter().enumerate() {
        if quote != 0 {
            if b == quote {
                quote = 0;
            }
        } else if b == b'\'' || b == b'"' {
            quote = b;
        } else if b == b'>' {
            return Some(from + i);
        }
    }
    None
}

fn name_of(tag_body: &[u8]) -> &[u8] {
    let end = tag_body
        .iter()
        .position(|&b| {
            b == b' ' || b == b'/' || b == b'>' || b == b'\t' || b == b'\n' || b == b'\r'
        })
        .unwrap_or(tag_body.len());
    &tag_body[..end]
}

fn is_stream_name(name: &[u8]) -> bool {
    name == b"stream" || name.ends_with(b":stream")
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The qualified name of an element's start tag, e.g. `b"stream:features"`.
pub fn element_name(el: &[u8]) -> &[u8] {
    name_of(el.get(1..).unwrap_or_default())
}

/// The value of attribute `name` in the element's start tag (either quote).
pub fn attr<'a>(el: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let start_tag_end = tag_end(el, 1).unwrap_or(el.len());
    let tag = &el[..start_tag_end];
    let mut i = 0;
    while let Some(rel) = find(&tag[i..], name.as_bytes()) {
        let at = i + rel;
        let after = at + name.len();
        let before_ok = at > 0 && matches!(tag[at - 1], b' ' | b'\t' | b'\n' | b'\r');
        if before_ok && tag.get(after) == Some(&b'=') {
            let q = *tag.get(after + 1)?;
            if q == b'\'' || q == b'"' {
                let vstart = after + 2;
                let vlen = tag[vstart..].iter().position(|&b| b == q)?;
                return Some(&tag[vstart..vstart + vlen]);
            }
        }
        i = after;
    }
    None
}

/// Text between `<tag>` and `</tag>` (first occurrence, no attributes on tag).
pub fn child_text<'a>(el: &'a [u8], tag: &str) -> Option<&'a [u8]> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let s = find(el, open.as_bytes())? + open.len();
    let e = find(&el[s..], close.as_bytes())?;
    Some(&el[s..s + e])
}

/// A client connection: socket plus splitter, with timeouts on every wait.
pub struct Conn {
    pub stream: TcpStream,
    pub rx: Splitter,
}

/// What a connection produced while waiting for an element.
pub enum Next {
    Element(Range<usize>),
    StreamOpen,
    StreamClose,
}

impl Conn {
    pub async fn connect(addr: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            rx: Splitter::new(),
        })
    }

    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data).await
    }

    /// Next frame, reading as needed, within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> io::Result<Next> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(f) = self.rx.next_frame() {
                return Ok(match f {
                    Frame::Element(r) => Next::Element(r),
                    Frame::StreamOpen => Next::StreamOpen,
                    Frame::StreamClose => Next::StreamClose,
                });
            }
            self.rx.compact();
            self.rx.buf_mut().reserve(16 * 1024);
            let n = tokio::time::timeout_at(deadline, self.stream.read_buf(self.rx.buf_mut()))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))??;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
        }
    }

    /// Next complete element, skipping stream headers. A stream close or a
    /// `<stream:error>` is an error.
    pub async fn element(&mut self, timeout: Duration) -> io::Result<Range<usize>> {
        loop {
            match self.next(timeout).await? {
                Next::StreamOpen => continue,
                Next::StreamClose => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "server closed the stream",
                    ));
                }
                Next::Element(r) => {
                    let el = &self.rx.bytes()[r.clone()];
                    if element_name(el).ends_with(b":error") {
                        return Err(io::Error::other(format!(
                            "stream error: {}",
                            String::from_utf8_lossy(el)
                        )));
                    }
                    return Ok(r);
                }
            }
        }
    }

    pub fn into_split(self) -> (SplitReader, OwnedWriteHalf) {
        let (r, w) = self.stream.into_split();
        (
            SplitReader {
                half: r,
                rx: self.rx,
            },
            w,
        )
    }
}

/// The read side of a split connection, keeping whatever was buffered.
pub struct SplitReader {
    pub half: OwnedReadHalf,
    pub rx: Splitter,
}

impl SplitReader {
    /// Read more bytes (after compacting). `Ok(false)` on EOF.
    pub async fn fill(&mut self) -> io::Result<bool> {
        self.rx.compact();
        self.rx.buf_mut().reserve(64 * 1024);
        let n = self.half.read_buf(self.rx.buf_mut()).await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&str]) -> Vec<String> {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c.as_bytes());
            while let Some(f) = s.next_frame() {
                out.push(match f {
                    Frame::StreamOpen => "OPEN".to_string(),
                    Frame::StreamClose => "CLOSE".to_string(),
                    Frame::Element(r) => String::from_utf8_lossy(&s.bytes()[r]).into_owned(),
                });
            }
            s.compact();
        }
        out
    }

    #[test]
    fn splits_stream() {
        let text = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='a>b'>\
            <stream:features><mechanisms><mechanism>PLAIN</mechanism></mechanisms></stream:features>\
            <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\
            <stream:stream id='2'><iq type='result' id='b'><bind><jid>a@b/c</jid></bind></iq>\
            <message to='x' a=\"q>\"><body>1 2</body></message></stream:stream>";
        let whole = frames(&[text]);
        assert_eq!(
            whole,
            vec![
                "OPEN",
                "<stream:features><mechanisms><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
                "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
                "OPEN",
                "<iq type='result' id='b'><bind><jid>a@b/c</jid></bind></iq>",
                "<message to='x' a=\"q>\"><body>1 2</body></message>",
                "CLOSE",
            ]
        );
        // Every possible split point, and byte-at-a-time, give the same frames.
        for cut in 0..text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(frames(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<String> = text.chars().map(|c| c.to_string()).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(frames(&refs), whole);
    }

    #[test]
    fn attributes_and_text() {
        let el =
            b"<iq xmlns='jabber:client' type=\"result\" id='b1'><bind><jid>u@h/r</jid></bind></iq>";
        assert_eq!(element_name(el), b"iq");
        assert_eq!(attr(el, "type"), Some(&b"result"[..]));
        assert_eq!(attr(el, "id"), Some(&b"b1"[..]));
        assert_eq!(attr(el, "d"), None);
        assert_eq!(child_text(el, "jid"), Some(&b"u@h/r"[..]));
    }
}
