//! The Lua that Prosody configuration files use: `key = value` statements,
//! `VirtualHost "name"`, `Component "name" "type"`, `Include "glob"`,
//! strings, numbers, booleans, `nil` and tables, with `--` comments.
//! Anything else (expressions, function definitions, `if`) is refused with
//! the file and line, so an import never guesses.

use std::fmt;

/// A Lua value of a configuration statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    /// `{ a; b, key = c }`: positional items and named fields in order.
    Table {
        items: Vec<Value>,
        fields: Vec<(String, Value)>,
    },
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Positional string items of a table (`{ "a"; "b" }`), or a single string.
    #[cfg(test)]
    pub fn strings(&self) -> Option<Vec<String>> {
        match self {
            Value::Str(s) => Some(vec![s.clone()]),
            Value::Table { items, fields } if fields.is_empty() => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => None,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Table { fields, .. } => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// One statement, with the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Set {
        key: String,
        value: Value,
        line: usize,
    },
    VirtualHost {
        name: String,
        line: usize,
    },
    Component {
        name: String,
        kind: Option<String>,
        line: usize,
    },
    Include {
        pattern: String,
        line: usize,
    },
}

/// A syntax error at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(f64),
    Sym(char),
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn err(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line: self.line,
            message: message.into(),
        }
    }

    fn peek(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    /// Skips blanks and comments (`-- …`, `--[[ … ]]`).
    fn skip(&mut self) -> Result<(), SyntaxError> {
        while let Some(c) = self.peek(0) {
            match c {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'-' if self.peek(1) == Some(b'-') => {
                    self.pos += 2;
                    if self.peek(0) == Some(b'[') && self.peek(1) == Some(b'[') {
                        self.long_bracket()?;
                    } else {
                        while let Some(c) = self.peek(0) {
                            if c == b'\n' {
                                break;
                            }
                            self.pos += 1;
                        }
                    }
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// `[[ … ]]` (after the opening brackets are seen).
    fn long_bracket(&mut self) -> Result<String, SyntaxError> {
        self.pos += 2;
        let start = self.pos;
        loop {
            match self.peek(0) {
                None => return Err(self.err("unterminated [[ ... ]]")),
                Some(b']') if self.peek(1) == Some(b']') => {
                    let s = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                    self.pos += 2;
                    return Ok(s);
                }
                Some(b'\n') => {
                    self.line += 1;
                    self.pos += 1;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<String, SyntaxError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek(0) {
                None | Some(b'\n') => return Err(self.err("unterminated string")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    let e = self
                        .peek(1)
                        .ok_or_else(|| self.err("unterminated string"))?;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'\\' | b'"' | b'\'' => e,
                        other => {
                            return Err(self.err(format!(
                                "unsupported escape \\{} in a string",
                                other as char
                            )));
                        }
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

    fn next(&mut self) -> Result<Option<(Tok, usize)>, SyntaxError> {
        self.skip()?;
        let line = self.line;
        let Some(c) = self.peek(0) else {
            return Ok(None);
        };
        let tok = match c {
            b'"' | b'\'' => Tok::Str(self.string(c)?),
            b'[' if self.peek(1) == Some(b'[') => Tok::Str(self.long_bracket()?),
            b'{' | b'}' | b'=' | b';' | b',' | b'[' | b']' | b'(' | b')' => {
                self.pos += 1;
                Tok::Sym(c as char)
            }
            b'0'..=b'9' | b'-' => {
                let start = self.pos;
                self.pos += 1;
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.')
                {
                    self.pos += 1;
                }
                let text = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                Tok::Num(
                    text.parse()
                        .map_err(|_| self.err(format!("not a number: {text}")))?,
                )
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                Tok::Name(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
            }
            other => {
                return Err(self.err(format!(
                    "unsupported Lua syntax at {:?} (only settings, VirtualHost, Component and Include are read)",
                    other as char
                )));
            }
        };
        Ok(Some((tok, line)))
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    ahead: Option<(Tok, usize)>,
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<Option<&(Tok, usize)>, SyntaxError> {
        if self.ahead.is_none() {
            self.ahead = self.lex.next()?;
        }
        Ok(self.ahead.as_ref())
    }

    fn take(&mut self) -> Result<Option<(Tok, usize)>, SyntaxError> {
        self.peek()?;
        Ok(self.ahead.take())
    }

    fn err(&self, line: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line,
            message: message.into(),
        }
    }

    fn eat_sym(&mut self, c: char) -> Result<bool, SyntaxError> {
        if matches!(self.peek()?, Some((Tok::Sym(s), _)) if *s == c) {
            self.ahead = None;
            return Ok(true);
        }
        Ok(false)
    }

    /// A string argument: `"x"` or `("x")`.
    fn string_arg(&mut self, what: &str, line: usize) -> Result<String, SyntaxError> {
        let paren = self.eat_sym('(')?;
        let s = match self.take()? {
            Some((Tok::Str(s), _)) => s,
            _ => return Err(self.err(line, format!("{what} needs a quoted name"))),
        };
        if paren && !self.eat_sym(')')? {
            return Err(self.err(line, format!("{what}: missing )")));
        }
        Ok(s)
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        let line = self.lex.line;
        match self.take()? {
            Some((Tok::Str(s), _)) => Ok(Value::Str(s)),
            Some((Tok::Num(n), _)) => Ok(Value::Num(n)),
            Some((Tok::Name(n), l)) => match n.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "nil" => Ok(Value::Nil),
                other => Err(self.err(
                    l,
                    format!("unsupported value `{other}` (expressions and variables are not read)"),
                )),
            },
            Some((Tok::Sym('{'), _)) => self.table(),
            Some((t, l)) => Err(self.err(l, format!("unexpected {t:?} where a value belongs"))),
            None => Err(self.err(line, "a value is missing at the end of the file")),
        }
    }

    fn table(&mut self) -> Result<Value, SyntaxError> {
        let mut items = Vec::new();
        let mut fields = Vec::new();
        loop {
            if self.eat_sym('}')? {
                return Ok(Value::Table { items, fields });
            }
            let line = self.lex.line;
            // key = value | ["key"] = value | value
            let named = match self.peek()? {
                Some((Tok::Name(n), _)) if !matches!(n.as_str(), "true" | "false" | "nil") => {
                    let n = n.clone();
                    self.ahead = None;
                    if !self.eat_sym('=')? {
                        return Err(self.err(line, format!("expected = after `{n}` in a table")));
                    }
                    Some(n)
                }
                Some((Tok::Sym('['), _)) => {
                    self.ahead = None;
                    let key = match self.take()? {
                        Some((Tok::Str(s), _)) => s,
                        _ => return Err(self.err(line, "table keys in [ ] must be strings")),
                    };
                    if !self.eat_sym(']')? || !self.eat_sym('=')? {
                        return Err(self.err(line, "expected ] = after a table key"));
                    }
                    Some(key)
                }
                None => return Err(self.err(line, "unterminated table")),
                _ => None,
            };
            let v = self.value()?;
            match named {
                Some(k) => fields.push((k, v)),
                None => items.push(v),
            }
            if !self.eat_sym(',')? && !self.eat_sym(';')? {
                if self.eat_sym('}')? {
                    return Ok(Value::Table { items, fields });
                }
                let line = self.lex.line;
                return Err(self.err(line, "expected , ; or } in a table"));
            }
        }
    }
}

/// Reads one configuration file's statements.
pub fn parse(text: &str) -> Result<Vec<Statement>, SyntaxError> {
    let mut p = Parser {
        lex: Lexer {
            src: text.as_bytes(),
            pos: 0,
            line: 1,
        },
        ahead: None,
    };
    let mut out = Vec::new();
    while let Some((tok, line)) = p.take()? {
        match tok {
            Tok::Sym(';') => {}
            Tok::Name(n) if n == "VirtualHost" || n == "Host" => {
                let name = p.string_arg("VirtualHost", line)?;
                out.push(Statement::VirtualHost { name, line });
            }
            Tok::Name(n) if n == "Component" => {
                let name = p.string_arg("Component", line)?;
                let kind = match p.peek()? {
                    Some((Tok::Str(_), l)) if *l == line => match p.take()? {
                        Some((Tok::Str(s), _)) => Some(s),
                        _ => None,
                    },
                    _ => None,
                };
                out.push(Statement::Component { name, kind, line });
            }
            Tok::Name(n) if n == "Include" => {
                let pattern = p.string_arg("Include", line)?;
                out.push(Statement::Include { pattern, line });
            }
            Tok::Name(key) => {
                if !p.eat_sym('=')? {
                    return Err(p.err(
                        line,
                        format!(
                            "unsupported statement starting with `{key}` (expected `{key} = value`)"
                        ),
                    ));
                }
                let value = p.value()?;
                out.push(Statement::Set { key, value, line });
            }
            other => return Err(p.err(line, format!("unexpected {other:?}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prosody_constructs() {
        let src = r#"
-- comment
admins = { }
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }
muc_mapper_domain_base = "jitsi2.test.alt";
log = { info = "/var/log/prosody/prosody.log"; error = "/var/log/prosody/prosody.err"; { levels = { "error" }; to = "syslog" } }
--[[ block
comment ]]
limits = { c2s = { rate = "10kb/s" }; }
c2s_ports = { 5222 }
VirtualHost "jitsi2.test.alt"
    authentication = "anonymous"
    ssl = {
       key = "/var/lib/prosody/jitsi2.test.alt.key";
       certificate = '/var/lib/prosody/jitsi2.test.alt.crt';
    }
    modules_enabled = {
        "bosh";
        "ping"; -- Enable mod_ping
    }
    c2s_require_encryption = false
Component "conference.jitsi2.test.alt" "muc"
    admins = { "focus@auth.jitsi2.test.alt" }
Component "focus.jitsi2.test.alt"
    component_secret = "secret1" -- a comment
Include "conf.d/*.cfg.lua"
"#;
        let st = parse(src).expect("parse");
        assert!(
            matches!(&st[0], Statement::Set { key, value: Value::Table { items, fields }, line: 3 } if key == "admins" && items.is_empty() && fields.is_empty())
        );
        let Statement::Set { value, .. } = &st[3] else {
            panic!("log")
        };
        assert_eq!(
            value.field("info").and_then(Value::as_str),
            Some("/var/log/prosody/prosody.log")
        );
        let vh = st
            .iter()
            .position(
                |s| matches!(s, Statement::VirtualHost { name, .. } if name == "jitsi2.test.alt"),
            )
            .expect("vhost");
        let Statement::Set { key, value, .. } = &st[vh + 2] else {
            panic!("ssl")
        };
        assert_eq!(key, "ssl");
        assert_eq!(
            value.field("certificate").and_then(Value::as_str),
            Some("/var/lib/prosody/jitsi2.test.alt.crt")
        );
        let Statement::Set { value, .. } = &st[vh + 3] else {
            panic!("modules")
        };
        assert_eq!(
            value.strings(),
            Some(vec!["bosh".to_string(), "ping".to_string()])
        );
        assert!(st.iter().any(|s| matches!(s, Statement::Component { name, kind: Some(k), .. } if name == "conference.jitsi2.test.alt" && k == "muc")));
        assert!(st.iter().any(|s| matches!(s, Statement::Component { name, kind: None, .. } if name == "focus.jitsi2.test.alt")));
        assert!(
            matches!(st.last(), Some(Statement::Include { pattern, .. }) if pattern == "conf.d/*.cfg.lua")
        );
    }

    #[test]
    fn unsupported_lua_names_the_line() {
        for (src, line) in [
            ("a = 1\nb = a\n", 2),
            ("x = \"a\" .. \"b\"\n", 1),
            ("\n\nif true then end\n", 3),
            ("s = \"unterminated\n", 1),
            ("t = { a = 1 b = 2 }", 1),
            ("function f() end", 1),
            ("VirtualHost", 1),
        ] {
            let e = parse(src).expect_err(src);
            assert_eq!(e.line, line, "{src:?}: {e}");
        }
    }
}
