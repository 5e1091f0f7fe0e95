//! Config loading: TOML file + environment overrides, with errors that name
//! the file, the key and the problem (design.md §3.3).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key path, e.g. `virtual_host[0].ssl.key`; empty when the problem
    /// is with the file as a whole.
    pub key: String,
    /// What is wrong, in words an operator understands.
    pub problem: String,
}

impl ConfigProblem {
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// A configuration that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    pub fn single(file: &Path, key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            problems: vec![ConfigProblem::new(key, problem)],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if p.key.is_empty() {
                write!(f, "{}: {}", self.file.display(), p.problem)?;
            } else {
                write!(f, "{}: key `{}`: {}", self.file.display(), p.key, p.problem)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Semantic checks a daemon's config struct runs after deserialisation.
pub trait Validate {
    /// Every problem found (empty when the config is usable).
    fn validate(&self) -> Vec<ConfigProblem>;
}

/// Load `path` (TOML) and environment variables starting with `env_prefix`
/// (`PREFIX__a__b` overrides key `a.b`) into `T`, then validate it.
pub fn load<T: DeserializeOwned + Validate>(
    path: &Path,
    env_prefix: &str,
) -> Result<T, ConfigError> {
    if !path.exists() {
        return Err(ConfigError::single(path, "", "file not found"));
    }
    let built = ::config::Config::builder()
        .add_source(::config::File::from(path).format(::config::FileFormat::Toml))
        .add_source(
            ::config::Environment::with_prefix(env_prefix)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        )
        .build()
        .map_err(|e| from_config_error(path, e))?;
    let value: T = built
        .try_deserialize()
        .map_err(|e| from_config_error(path, e))?;
    let problems = value.validate();
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(ConfigError {
            file: path.to_path_buf(),
            problems,
        })
    }
}

/// Parse TOML text (no environment) — used by tests and `check-config` of
/// generated files.
pub fn parse_str<T: DeserializeOwned + Validate>(
    file: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    let built = ::config::Config::builder()
        .add_source(::config::File::from_str(text, ::config::FileFormat::Toml))
        .build()
        .map_err(|e| from_config_error(file, e))?;
    let value: T = built
        .try_deserialize()
        .map_err(|e| from_config_error(file, e))?;
    let problems = value.validate();
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(ConfigError {
            file: file.to_path_buf(),
            problems,
        })
    }
}

fn from_config_error(file: &Path, e: ::config::ConfigError) -> ConfigError {
    use ::config::ConfigError as E;
    let problem = match &e {
        E::Type {
            unexpected,
            expected,
            key,
            ..
        } => ConfigProblem::new(
            key.clone().unwrap_or_default(),
            format!("expected {expected}, found {unexpected}"),
        ),
        E::NotFound(key) => ConfigProblem::new(key.clone(), "missing"),
        E::FileParse { cause, .. } => ConfigProblem::new("", format!("not valid TOML: {cause}")),
        E::At { error, key, .. } => {
            ConfigProblem::new(key.clone().unwrap_or_default(), error.to_string())
        }
        other => ConfigProblem::new("", strip_file_suffix(&other.to_string())),
    };
    let mut problem = problem;
    // serde's "missing field `x`" carries the key in the text: lift it out.
    if problem.key.is_empty() {
        if let Some(k) = quoted_after(&problem.problem, "missing field `") {
            problem = ConfigProblem::new(k, "missing (required)");
        } else if let Some(k) = quoted_after(&problem.problem, "unknown field `") {
            problem = ConfigProblem::new(k, "unknown key");
        }
    }
    problem.key = dotted(&problem.key);
    ConfigError {
        file: file.to_path_buf(),
        problems: vec![problem],
    }
}

fn strip_file_suffix(s: &str) -> String {
    s.to_string()
}

/// The config crate writes nested keys as `a[0]b`; operators read `a[0].b`.
fn dotted(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev = '\0';
    for c in key.chars() {
        if prev == ']' && c != '.' && c != '[' {
            out.push('.');
        }
        out.push(c);
        prev = c;
    }
    out
}

fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find('`')?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        port: u16,
        #[serde(default)]
        name: String,
    }

    impl Validate for Sample {
        fn validate(&self) -> Vec<ConfigProblem> {
            if self.port == 0 {
                vec![ConfigProblem::new("port", "must not be 0")]
            } else {
                vec![]
            }
        }
    }

    #[test]
    fn loads_and_validates() {
        let f = Path::new("x.toml");
        let ok: Sample = parse_str(f, "port = 5\nname = 'a'").expect("valid");
        assert_eq!(ok.port, 5);
        assert_eq!(ok.name, "a");
        let bad = parse_str::<Sample>(f, "port = 0").expect_err("port 0");
        assert_eq!(bad.to_string(), "x.toml: key `port`: must not be 0");
    }

    #[test]
    fn type_error_names_key() {
        let f = Path::new("x.toml");
        let e = parse_str::<Sample>(f, "port = 'abc'").expect_err("type");
        let s = e.to_string();
        assert!(s.starts_with("x.toml: key `port`:"), "{s}");
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let f = Path::new("x.toml");
        let e = parse_str::<Sample>(f, "port = 1\nbogus = 2").expect_err("unknown");
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = parse_str::<Sample>(f, "name = 'x'").expect_err("missing");
        assert!(e.to_string().contains("port"), "{e}");
    }

    #[test]
    fn nested_keys_are_dotted() {
        assert_eq!(
            dotted("virtual_host[0]authentication"),
            "virtual_host[0].authentication"
        );
        assert_eq!(dotted("a[1][2]b.c"), "a[1][2].b.c");
        assert_eq!(dotted("plain"), "plain");
    }

    #[test]
    fn missing_file_is_reported() {
        let e =
            load::<Sample>(Path::new("/nonexistent/meet.toml"), "MEETTEST").expect_err("missing");
        assert_eq!(e.to_string(), "/nonexistent/meet.toml: file not found");
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "port = 5\n").expect("write");
        // SAFETY-free: env var set in a single-threaded test section; the key is unique to this test.
        unsafe_free_set_env("MEETCFGTEST__PORT", "7");
        let s: Sample = load(&p, "MEETCFGTEST").expect("load");
        assert_eq!(s.port, 7);
    }

    fn unsafe_free_set_env(k: &str, v: &str) {
        // std::env::set_var is unsafe in edition 2024; tests run this once with a
        // unique key, so use a child process-free alternative: the config crate
        // also accepts a source map, but we want the real Environment path.
        #[allow(unsafe_code)]
        // SAFETY: no other thread of this test binary reads or writes this
        // variable (its name is unique to this test).
        unsafe {
            std::env::set_var(k, v)
        };
    }
}
