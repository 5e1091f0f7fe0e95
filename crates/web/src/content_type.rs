//! Content types by file extension (Apache's mime.types, for the kinds of
//! file a web app build holds), and which of them are worth compressing.

/// The Content-Type for a file name; `application/octet-stream` when the
/// extension is unknown (with `nosniff`, the browser then will not guess).
pub fn for_name(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" | "cjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "eot" => "application/vnd.ms-fontobject",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/opus",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Whether a body of this type shrinks under gzip (text, scripts, JSON,
/// SVG, WebAssembly); images, fonts and media are compressed already.
pub fn is_compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("application/manifest+json")
        || content_type.starts_with("application/xml")
        || content_type.starts_with("application/wasm")
        || content_type.starts_with("image/svg+xml")
        || content_type.starts_with("application/vnd.ms-fontobject")
        || content_type == "font/ttf"
        || content_type == "font/otf"
        || content_type == "image/x-icon"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        assert_eq!(for_name("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            for_name("app.bundle.min.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(for_name("ALL.CSS"), "text/css; charset=utf-8");
        assert_eq!(for_name("logo.svg"), "image/svg+xml");
        assert_eq!(for_name("f.woff2"), "font/woff2");
        assert_eq!(for_name("app.js.map"), "application/json");
        assert_eq!(for_name("Makefile"), "application/octet-stream");
        assert_eq!(for_name("x.unknown"), "application/octet-stream");
    }

    #[test]
    fn compressible() {
        assert!(is_compressible(for_name("a.js")));
        assert!(is_compressible(for_name("a.svg")));
        assert!(is_compressible(for_name("a.json")));
        assert!(!is_compressible(for_name("a.png")));
        assert!(!is_compressible(for_name("a.woff2")));
        assert!(!is_compressible(for_name("a.bin")));
    }
}
