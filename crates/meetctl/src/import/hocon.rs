//! The HOCON that jitsi-videobridge's application.conf uses: nested objects
//! (`a { … }`, `a = { … }`, `a.b.c = v`), `=` or `:`, quoted and unquoted
//! strings, numbers, booleans, arrays, `#` and `//` comments. Substitutions
//! (`${…}`) and `include` are refused with the line, so nothing is guessed.

use std::collections::BTreeMap;

use super::lua::SyntaxError;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Strings, numbers and booleans, as written (unquoted).
    Scalar(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// The value at a dotted path.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut v = self;
        for part in path.split('.') {
            match v {
                Value::Object(m) => v = m.get(part)?,
                _ => return None,
            }
        }
        Some(v)
    }

    pub fn scalar(&self, path: &str) -> Option<&str> {
        match self.get(path)? {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn object(&self, path: &str) -> Option<&BTreeMap<String, Value>> {
        match self.get(path)? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
}

struct P<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

impl P<'_> {
    fn err(&self, m: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line: self.line,
            message: m.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skips spaces, comments and (when `newlines`) line ends and commas.
    fn ws(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' if newlines => {
                    self.line += 1;
                    self.pos += 1;
                }
                b',' if newlines => self.pos += 1,
                b'#' => self.comment(),
                b'/' if self.s.get(self.pos + 1) == Some(&b'/') => self.comment(),
                _ => break,
            }
        }
    }

    fn comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }

    fn quoted(&mut self) -> Result<String, SyntaxError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\n') => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    let e = self
                        .s
                        .get(self.pos + 1)
                        .copied()
                        .ok_or_else(|| self.err("unterminated string"))?;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        other => other,
                    });
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A key: quoted or bare, possibly dotted.
    fn key(&mut self) -> Result<Vec<String>, SyntaxError> {
        let mut parts = Vec::new();
        loop {
            let part = if self.peek() == Some(b'"') {
                self.quoted()?
            } else {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                {
                    self.pos += 1;
                }
                if start == self.pos {
                    return Err(self.err(format!(
                        "expected a key, found {:?}",
                        self.peek().map(|c| c as char)
                    )));
                }
                String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
            };
            parts.push(part);
            if self.peek() == Some(b'.') {
                self.pos += 1;
            } else {
                return Ok(parts);
            }
        }
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.ws(false);
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let m = self.fields(Some(b'}'))?;
                Ok(Value::Object(m))
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.ws(true);
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Value::Array(items));
                    }
                    if self.peek().is_none() {
                        return Err(self.err("unterminated array"));
                    }
                    items.push(self.value()?);
                }
            }
            Some(b'"') => Ok(Value::Scalar(self.quoted()?)),
            Some(b'$') => Err(self.err("substitutions (${...}) are not supported")),
            None => Err(self.err("a value is missing")),
            Some(_) => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if matches!(c, b'\n' | b',' | b'}' | b']' | b'#')
                        || (c == b'/' && self.s.get(self.pos + 1) == Some(&b'/'))
                    {
                        break;
                    }
                    self.pos += 1;
                }
                let text = String::from_utf8_lossy(&self.s[start..self.pos])
                    .trim()
                    .to_string();
                if text.is_empty() {
                    return Err(self.err("a value is missing"));
                }
                Ok(Value::Scalar(text))
            }
        }
    }

    fn fields(&mut self, close: Option<u8>) -> Result<BTreeMap<String, Value>, SyntaxError> {
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        loop {
            self.ws(true);
            match (self.peek(), close) {
                (None, None) => return Ok(m),
                (None, Some(_)) => return Err(self.err("unterminated object")),
                (Some(c), Some(cl)) if c == cl => {
                    self.pos += 1;
                    return Ok(m);
                }
                _ => {}
            }
            let line = self.line;
            let key = self.key()?;
            if key.len() == 1 && key[0] == "include" {
                return Err(self.err("`include` is not supported"));
            }
            self.ws(false);
            let v = match self.peek() {
                Some(b'=') | Some(b':') => {
                    self.pos += 1;
                    self.value()?
                }
                Some(b'+') => return Err(self.err("`+=` is not supported")),
                Some(b'{') => self.value()?,
                _ => {
                    return Err(SyntaxError {
                        line,
                        message: format!("expected = : or {{ after `{}`", key.join(".")),
                    });
                }
            };
            insert(&mut m, &key, v);
        }
    }
}

/// Sets `path` in `m`, merging objects as HOCON does.
fn insert(m: &mut BTreeMap<String, Value>, path: &[String], v: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match (m.get_mut(first), v) {
            (Some(Value::Object(old)), Value::Object(new)) => {
                for (k, val) in new {
                    insert(old, std::slice::from_ref(&k), val);
                }
            }
            (_, v) => {
                m.insert(first.clone(), v);
            }
        }
        return;
    }
    let entry = m
        .entry(first.clone())
        .or_insert_with(|| Value::Object(BTreeMap::new()));
    if !matches!(entry, Value::Object(_)) {
        *entry = Value::Object(BTreeMap::new());
    }
    if let Value::Object(inner) = entry {
        insert(inner, rest, v);
    }
}

pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut p = P {
        s: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    p.ws(true);
    if p.peek() == Some(b'{') {
        p.pos += 1;
        let m = p.fields(Some(b'}'))?;
        p.ws(true);
        if p.peek().is_some() {
            return Err(p.err("text after the closing }"));
        }
        return Ok(Value::Object(m));
    }
    Ok(Value::Object(p.fields(None)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_application_conf() {
        let v = parse(
            r#"
videobridge {
    stats {
        enabled = true
        transports = [
            { type = "muc" }
        ]
    }
    apis {
        xmpp-client {
            configs {
                shard {
                    hostname = "localhost"
                    domain = "auth.jitsi2.test.alt"
                    // a comment
                    muc_nickname = "jvb-mid-123" # another
                }
            }
        }
    }
}
videobridge.http-servers.private.port = 8080
videobridge.stats: { interval = 5 }
"#,
        )
        .expect("parse");
        assert_eq!(v.scalar("videobridge.stats.enabled"), Some("true"));
        assert_eq!(
            v.scalar("videobridge.stats.interval"),
            Some("5"),
            "objects merge"
        );
        assert_eq!(
            v.scalar("videobridge.apis.xmpp-client.configs.shard.muc_nickname"),
            Some("jvb-mid-123")
        );
        assert_eq!(
            v.scalar("videobridge.http-servers.private.port"),
            Some("8080")
        );
        let Some(Value::Array(t)) = v.get("videobridge.stats.transports") else {
            panic!("transports")
        };
        assert_eq!(t[0].scalar("type"), Some("muc"));
    }

    #[test]
    fn refusals_name_the_line() {
        for (src, line) in [
            ("a {\n b = ${x}\n}", 2),
            ("include \"other.conf\"", 1),
            ("a {\n b = 1\n", 3),
            ("\n\na += 1", 3),
            ("a = \"x\n", 1),
        ] {
            let e = parse(src).expect_err(src);
            assert_eq!(e.line, line, "{src:?}: {e}");
        }
    }
}
