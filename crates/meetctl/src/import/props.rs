//! Two line formats of the guide's files: Java `.properties`
//! (sip-communicator.properties) and shell variable files (jicofo's and
//! the videobridge's `config`, read by systemd or sh), each entry with its
//! line number.

use super::lua::SyntaxError;

/// `(key, value, line)` in file order.
pub type Entries = Vec<(String, String, usize)>;

/// Java properties: `key=value` or `key: value` or `key value`, `#`/`!`
/// comments, `\` at the end of a line continues it.
pub fn properties(text: &str) -> Result<Entries, SyntaxError> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let line = i + 1;
        let mut s = raw.trim_start().to_string();
        if s.is_empty() || s.starts_with('#') || s.starts_with('!') {
            continue;
        }
        while s.ends_with('\\') && !s.ends_with("\\\\") {
            s.pop();
            match lines.next() {
                Some((_, more)) => s.push_str(more.trim_start()),
                None => break,
            }
        }
        let split = s.find(['=', ':']).or_else(|| s.find(char::is_whitespace));
        let Some(at) = split else {
            return Err(SyntaxError {
                line,
                message: format!("`{s}` has no value (expected key=value)"),
            });
        };
        let key = s[..at].trim().to_string();
        let value = s[at + 1..].trim().to_string();
        if key.is_empty() {
            return Err(SyntaxError {
                line,
                message: "an entry without a key".into(),
            });
        }
        out.push((key, value, line));
    }
    Ok(out)
}

/// Shell variable assignments: `NAME=value`, `NAME="value"` (which may
/// span lines), `NAME='value'`, `#` comments, an optional `export`.
pub fn shell_vars(text: &str) -> Result<Entries, SyntaxError> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = i + 1;
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let s = s.strip_prefix("export ").unwrap_or(s);
        let Some((name, rest)) = s.split_once('=') else {
            return Err(SyntaxError {
                line,
                message: format!("`{s}` is not a NAME=value assignment"),
            });
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(SyntaxError {
                line,
                message: format!("`{name}` is not a shell variable name"),
            });
        }
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut v = rest[1..].to_string();
                // Multi-line quoted values continue until the closing quote.
                loop {
                    if let Some(end) = v.find(q) {
                        let tail = v[end + 1..].trim();
                        if !tail.is_empty() && !tail.starts_with('#') {
                            return Err(SyntaxError {
                                line,
                                message: format!("text after the closing quote of {name}"),
                            });
                        }
                        v.truncate(end);
                        break;
                    }
                    match lines.next() {
                        Some((_, more)) => {
                            v.push('\n');
                            v.push_str(more);
                        }
                        None => {
                            return Err(SyntaxError {
                                line,
                                message: format!("the value of {name} has no closing quote"),
                            });
                        }
                    }
                }
                v
            }
            _ => rest
                .split(" #")
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        out.push((name.to_string(), value, line));
    }
    Ok(out)
}

/// The last value of `key`.
#[cfg(test)]
pub fn get<'a>(entries: &'a Entries, key: &str) -> Option<&'a str> {
    entries
        .iter()
        .rev()
        .find(|(k, _, _)| k == key)
        .map(|(_, v, _)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_files() {
        let p = properties(
            "# c\norg.jitsi.jicofo.health.ENABLE_HEALTH_CHECKS=true\norg.jitsi.jicofo.BRIDGE_MUC=JvbBrewery@internal.auth.jitsi2.test.alt\n\
             a.b = long \\\n   value\n",
        )
        .expect("props");
        assert_eq!(
            get(&p, "org.jitsi.jicofo.BRIDGE_MUC"),
            Some("JvbBrewery@internal.auth.jitsi2.test.alt")
        );
        assert_eq!(get(&p, "a.b"), Some("long value"));
        assert_eq!(p[1].2, 3);
        let v = shell_vars(
            "# Jitsi\nJICOFO_HOST=localhost\n#JICOFO_FOCUS_SUBDOMAIN=focus\nJICOFO_OPTS=\"${JICOFO_FOCUS_SUBDOMAIN:+ --subdomain=$JICOFO_FOCUS_SUBDOMAIN}\"\n\
             JAVA_SYS_PROPS=\"-Da=1\n-Db=2\"\nJICOFO_PORT=5347\n",
        )
        .expect("vars");
        assert_eq!(get(&v, "JICOFO_HOST"), Some("localhost"));
        assert_eq!(get(&v, "JAVA_SYS_PROPS"), Some("-Da=1\n-Db=2"));
        assert_eq!(get(&v, "JICOFO_PORT"), Some("5347"));
        assert_eq!(v.last().map(|e| e.2), Some(7));
        assert!(get(&v, "JICOFO_FOCUS_SUBDOMAIN").is_none());
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            shell_vars("A=1\nnot an assignment\n").expect_err("x").line,
            2
        );
        assert_eq!(shell_vars("A=\"open\nB=2\n").expect_err("x").line, 1);
        assert_eq!(shell_vars("A-B=1").expect_err("x").line, 1);
        assert_eq!(properties("ok=1\n\nlonely\n").expect_err("x").line, 3);
    }
}
