//! URL paths to files, without touching the disk: percent-decoding,
//! traversal refusal, the room-URL rule and the "hashed asset" rule.
//!
//! The path is decoded before it is split, so an encoded separator
//! (`%2F`) or dot segment (`%2e%2e`) is judged exactly like a literal one.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// Why a path cannot name a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Not valid UTF-8 after decoding, or a NUL or control character.
    Malformed,
    /// A `.` or `..` segment, a backslash, or a hidden (dot) name.
    Traversal,
}

/// The decoded, non-empty segments of a URL path (`/a//b/` → `["a", "b"]`).
pub fn segments(raw_path: &str) -> Result<Vec<String>, PathError> {
    let decoded = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| PathError::Malformed)?;
    if decoded.chars().any(char::is_control) {
        return Err(PathError::Malformed);
    }
    let mut out = Vec::new();
    for (i, seg) in decoded.split('/').enumerate() {
        if seg.is_empty() {
            continue;
        }
        if seg == "." || seg == ".." || seg.contains('\\') {
            return Err(PathError::Traversal);
        }
        // Dot names are never part of the app (.git, .htaccess, editor
        // files); only .well-known (ACME challenges) is served.
        if seg.starts_with('.') && !(i == 1 && seg == ".well-known") {
            return Err(PathError::Traversal);
        }
        out.push(seg.to_string());
    }
    Ok(out)
}

/// The relative file path of checked segments.
pub fn relative_path(segments: &[String]) -> PathBuf {
    segments.iter().collect()
}

/// Whether a single path segment is a room name, which serves index.html
/// (the guide's `RewriteRule ^/([a-zA-Z0-9]+)$ /index.html`, widened as
/// jitsi-meet's nginx rule and the guide's own text want: letters of any
/// language and spaces). No dot, so file names never match.
pub fn is_room_name(segment: &str) -> bool {
    const PUNCTUATION: &[char] = &[
        ' ', '-', '_', '~', '!', '$', '(', ')', '*', '+', ',', ';', '=', '@',
    ];
    !segment.is_empty()
        && segment.chars().count() <= 256
        && segment
            .chars()
            .all(|c| c.is_alphanumeric() || PUNCTUATION.contains(&c))
}

/// Whether a file may be cached for a year: under `/libs/` or `/static/`
/// (the jitsi-meet build's asset folders), or a name with a content hash
/// in it (`app-5XH3YHIA.js`, `main.3f9a8c1d.css`, `index-DiwrgTda.js`).
pub fn is_immutable_asset(segments: &[String]) -> bool {
    if segments.len() > 1 && matches!(segments[0].as_str(), "libs" | "static") {
        return true;
    }
    segments.last().is_some_and(|name| has_hash(name))
}

/// A name whose stem has, after its first part, a part of 8+ ASCII
/// letters or digits that looks generated: with a digit, all upper case
/// (esbuild's base32), or mixed case (base64-style hashes).
fn has_hash(name: &str) -> bool {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    stem.split(['.', '-', '_']).skip(1).any(|part| {
        part.len() >= 8
            && part.bytes().all(|b| b.is_ascii_alphanumeric())
            && (part.bytes().any(|b| b.is_ascii_digit())
                || part.bytes().all(|b| b.is_ascii_uppercase())
                || (part.bytes().any(|b| b.is_ascii_uppercase())
                    && part.bytes().any(|b| b.is_ascii_lowercase())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        segments(p).expect(p)
    }

    #[test]
    fn decodes_and_splits() {
        assert_eq!(segs("/"), Vec::<String>::new());
        assert_eq!(segs("/libs/app.js"), ["libs", "app.js"]);
        assert_eq!(segs("//a///b/"), ["a", "b"]);
        assert_eq!(segs("/a%20b"), ["a b"]);
        assert_eq!(
            segs("/%D0%BC%D0%BE%D0%B9%D0%B7%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA"),
            ["мойзвонок"]
        );
        // An encoded slash separates like a literal one.
        assert_eq!(segs("/libs%2Fapp.js"), ["libs", "app.js"]);
        assert_eq!(
            segs("/.well-known/acme-challenge/t"),
            [".well-known", "acme-challenge", "t"]
        );
    }

    #[test]
    fn refuses_traversal() {
        for p in [
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/%2E%2E%2FCargo.toml",
            "/libs/../../etc/passwd",
            "/./index.html",
            "/a\\..\\b",
            "/a%5c..%5cb",
            "/.git/config",
            "/libs/.htaccess",
            "/x/.well-known/y",
        ] {
            assert_eq!(segments(p), Err(PathError::Traversal), "{p}");
        }
        assert_eq!(segments("/%ff"), Err(PathError::Malformed));
        assert_eq!(segments("/a%00b"), Err(PathError::Malformed));
        assert_eq!(segments("/a%0ab"), Err(PathError::Malformed));
    }

    #[test]
    fn room_names() {
        for r in [
            "abc",
            "MyRoom42",
            "мойзвонок",
            "会议室",
            "team sync",
            "a-b_c",
            "x(1)",
        ] {
            assert!(is_room_name(r), "{r}");
        }
        for r in [
            "",
            "index.html",
            "a.b",
            "a'b",
            "a\"b",
            "a<b",
            "a?b",
            "a&b",
            "a:b",
            "a%b",
        ] {
            assert!(!is_room_name(r), "{r}");
        }
        assert!(!is_room_name(&"a".repeat(300)));
    }

    #[test]
    fn immutable_assets() {
        let s = |p: &str| segs(p);
        assert!(is_immutable_asset(&s("/libs/app.bundle.min.js")));
        assert!(is_immutable_asset(&s("/static/x.css")));
        assert!(is_immutable_asset(&s("/app-5XH3YHIA.js")));
        assert!(is_immutable_asset(&s("/assets/main.3f9a8c1d.css")));
        assert!(is_immutable_asset(&s("/assets/index-DiwrgTda.js")));
        assert!(!is_immutable_asset(&s("/index.html")));
        assert!(!is_immutable_asset(&s("/external_api.js")));
        assert!(!is_immutable_asset(&s("/lib-jitsi-meet.min.js")));
        assert!(!is_immutable_asset(&s("/CHANGELOG.md")));
        assert!(!is_immutable_asset(&s("/images/watermark.svg")));
        assert!(!is_immutable_asset(&s("/libs")));
        assert!(!is_immutable_asset(&s("/interface_config.js")));
    }
}
