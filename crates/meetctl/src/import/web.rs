//! The web side of the guide: the web app's `/etc/jitsi/meet/DOMAIN-config.js`
//! (its `hosts` block) and the Apache site (`ServerName`, the certificate,
//! the ports). Only what meet-web needs is read; Apache directives meet-web
//! replaces by its own behaviour (rewrites, proxies, aliases) are accepted,
//! anything else is reported.

use super::lua::SyntaxError;

/// `hosts: { … }` of config.js.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    pub domain: Option<String>,
    pub anonymousdomain: Option<String>,
    pub muc: Option<String>,
    pub focus: Option<String>,
}

/// Removes `//` and `/* */` comments outside strings, keeping line breaks
/// (so line numbers stay right).
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            out.push(c as char);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1] as char);
                i += 2;
                continue;
            }
            if c == q || c == b'\n' {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'\'' | b'"' | b'`' => {
                quote = Some(c);
                out.push(c as char);
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
                i += 2;
            }
            _ => {
                // Multi-byte UTF-8: copy the whole character.
                let ch = src[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// Reads the `hosts` block of a config.js.
pub fn config_js_hosts(src: &str) -> Result<Hosts, SyntaxError> {
    let text = strip_comments(src);
    let line_of = |pos: usize| text[..pos].matches('\n').count() + 1;
    let Some(start) = find_key(&text, "hosts") else {
        return Err(SyntaxError {
            line: 1,
            message: "no `hosts: { ... }` block (config.hosts.domain is required)".into(),
        });
    };
    let open = text[start..]
        .find('{')
        .map(|i| start + i)
        .ok_or(SyntaxError {
            line: line_of(start),
            message: "`hosts:` is not followed by { ... }".into(),
        })?;
    let mut depth = 0usize;
    let mut end = None;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let end = end.ok_or(SyntaxError {
        line: line_of(open),
        message: "the hosts block is not closed".into(),
    })?;
    let body = &text[open + 1..end];
    let mut hosts = Hosts::default();
    for item in body.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once(':') else {
            continue;
        };
        let k = k.trim().trim_matches(|c| c == '\'' || c == '"');
        let v = v.trim();
        let unquoted = v
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .or_else(|| v.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            // 'a' + b + 'c' starts and ends with a quote but is an expression.
            .filter(|s| !s.contains(['\'', '"']));
        let Some(val) = unquoted else {
            let pos = open + 1 + body.find(item).unwrap_or(0);
            return Err(SyntaxError {
                line: line_of(pos),
                message: format!("hosts.{k} is not a quoted string ({v})"),
            });
        };
        let slot = match k {
            "domain" => &mut hosts.domain,
            "anonymousdomain" => &mut hosts.anonymousdomain,
            "muc" => &mut hosts.muc,
            "focus" => &mut hosts.focus,
            _ => continue,
        };
        *slot = Some(val.to_string());
    }
    Ok(hosts)
}

/// Position of `key:` as an object key (not inside another word).
fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let at = from + i;
        let before_ok = at == 0
            || !text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        let after = text[at + key.len()..].trim_start();
        if before_ok && after.starts_with(':') {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

/// What the Apache site says that meet-web needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    pub server_name: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
    pub https_ports: Vec<u16>,
    pub http_ports: Vec<u16>,
    /// (line, note) for directives read but not carried over.
    pub notes: Vec<(usize, String)>,
}

/// Directives whose job meet-web does itself.
const BUILT_IN: &[&str] = &[
    "Redirect",
    "RewriteEngine",
    "RewriteCond",
    "RewriteRule",
    "SSLEngine",
    "SSLProxyEngine",
    "SSLCipherSuite",
    "SSLHonorCipherOrder",
    "Header",
    "DocumentRoot",
    "Options",
    "AddOutputFilter",
    "AllowOverride",
    "Order",
    "Allow",
    "ErrorDocument",
    "Alias",
    "Require",
    "ProxyPreserveHost",
    "ProxyPass",
    "ProxyPassReverse",
];

pub fn apache_site(src: &str) -> Result<Site, SyntaxError> {
    let mut site = Site::default();
    let mut in_tls = false;
    for (i, raw) in src.lines().enumerate() {
        let line = i + 1;
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        if let Some(rest) = s.strip_prefix("<VirtualHost") {
            let port = rest
                .trim_end_matches('>')
                .rsplit(':')
                .next()
                .and_then(|p| p.trim().parse::<u16>().ok())
                .ok_or(SyntaxError {
                    line,
                    message: format!("cannot read the port of `{s}`"),
                })?;
            in_tls = port == 443;
            if in_tls {
                site.https_ports.push(port);
            } else {
                site.http_ports.push(port);
            }
            continue;
        }
        if s.starts_with("</") || s.starts_with('<') {
            continue;
        }
        let mut parts = s.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or_default();
        let arg = parts
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches('"')
            .to_string();
        match name {
            "ServerName" => site.server_name = Some(arg),
            "SSLCertificateFile" => site.certificate = Some(arg),
            "SSLCertificateKeyFile" => site.key = Some(arg),
            "SSLProtocol" => site.notes.push((
                line,
                format!("SSLProtocol {arg}: meet-web speaks TLS 1.2 and 1.3 only (TLSv1 and TLSv1.1 are insecure)"),
            )),
            n if BUILT_IN.contains(&n) => {}
            other => site.notes.push((
                line,
                format!("`{other}` is not carried over (meet-web has no equivalent setting)"),
            )),
        }
        let _ = in_tls;
    }
    Ok(site)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_js() {
        let src = "/* c */\nvar config = {\n    // comment: 'x'\n    hosts: {\n        // anonymousdomain: 'guest.example.com',\n        domain: 'jitsi2.test.alt',\n        anonymousdomain: 'guest.jitsi2.test.alt',\n        muc: 'conference.' + subdir + 'jitsi2.test.alt'\n    },\n    bosh: '//jitsi2.test.alt/http-bind', // x\n};\n";
        let e = config_js_hosts(src).expect_err("an expression");
        assert_eq!(e.line, 8, "{e}");
        let ok = src.replace(
            "'conference.' + subdir + 'jitsi2.test.alt'",
            "'conference.jitsi2.test.alt'",
        );
        let h = config_js_hosts(&ok).expect("hosts");
        assert_eq!(h.domain.as_deref(), Some("jitsi2.test.alt"));
        assert_eq!(h.anonymousdomain.as_deref(), Some("guest.jitsi2.test.alt"));
        assert_eq!(h.muc.as_deref(), Some("conference.jitsi2.test.alt"));
        assert!(config_js_hosts("var config = {};").is_err());
    }

    #[test]
    fn apache() {
        let s = apache_site("<VirtualHost *:80>\n ServerName a.b\n Redirect permanent / https://a.b/\n</VirtualHost>\n<VirtualHost *:443>\n  ServerName a.b\n  SSLProtocol TLSv1 TLSv1.1 TLSv1.2\n  SSLCertificateFile /etc/jitsi/meet/a.b.crt\n  SSLCertificateKeyFile /etc/jitsi/meet/a.b.key\n  LogLevel debug\n</VirtualHost>\n").expect("site");
        assert_eq!(s.server_name.as_deref(), Some("a.b"));
        assert_eq!(s.certificate.as_deref(), Some("/etc/jitsi/meet/a.b.crt"));
        assert_eq!(
            (s.http_ports.clone(), s.https_ports.clone()),
            (vec![80], vec![443])
        );
        assert_eq!(s.notes.len(), 2);
        assert_eq!(s.notes[0].0, 7);
        assert!(s.notes[1].1.contains("LogLevel"));
    }
}
