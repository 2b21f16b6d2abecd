//! Java `.properties` files, as MirrorMaker's `--consumer.config` and
//! `--producer.config` take them.
//!
//! Parsing is delegated to the `java-properties` crate (escapes, line
//! continuations, `:`/`=`/space separators); this module keeps the origin of
//! every value (file and line) so that later errors can name them, and holds
//! secret values in [`SecretString`] from the moment they are read.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// A value read from a file: plain, or secret (never printed).
#[derive(Clone)]
pub enum Value {
    /// An ordinary value.
    Plain(String),
    /// A password, key or JAAS line: held in a [`SecretString`].
    Secret(SecretString),
}

impl Value {
    /// The value, including a secret one. Call only to hand it to librdkafka
    /// or a parser, never to print it.
    pub fn expose(&self) -> &str {
        match self {
            Value::Plain(s) => s,
            Value::Secret(s) => s.expose_secret(),
        }
    }

    /// Whether the value is secret.
    pub fn is_secret(&self) -> bool {
        matches!(self, Value::Secret(_))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Plain(s) => write!(f, "{s:?}"),
            Value::Secret(_) => f.write_str("[REDACTED]"),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Plain(s) => f.write_str(s),
            Value::Secret(_) => f.write_str("[REDACTED]"),
        }
    }
}

/// Whether a property's value must be treated as a secret. Java clients put
/// passwords in `*.password` keys and whole credentials in `sasl.jaas.config`.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k == "sasl.jaas.config"
        || k.ends_with(".pem")
        || k == "ssl.key.pem"
        || k == "sasl.oauthbearer.client.secret"
        || k.contains("secret")
}

/// One `key=value` entry with where it came from.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key as written.
    pub key: String,
    /// The value, secret where [`is_secret_key`] says so.
    pub value: Value,
    /// 1-based line number in the file.
    pub line: usize,
}

/// A parsed properties file.
#[derive(Debug, Clone)]
pub struct PropertiesFile {
    /// The file it was read from.
    pub path: PathBuf,
    /// Entries in file order; a repeated key keeps both (the last wins, as
    /// in Java).
    pub entries: Vec<Entry>,
}

/// Reading a properties file failed.
#[derive(Debug, thiserror::Error)]
pub enum PropertiesError {
    /// The file could not be read.
    #[error("cannot read properties file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid properties syntax.
    #[error("{path}:{line}: malformed properties file: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl PropertiesFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<PropertiesFile, PropertiesError> {
        let bytes = std::fs::read(path).map_err(|source| PropertiesError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&bytes, path)
    }

    /// Parses properties text; `path` is used in messages only.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<PropertiesFile, PropertiesError> {
        // UTF-8 rather than Java's ISO-8859-1: paths and principals on the
        // systems kmirror runs on are UTF-8, and ASCII reads the same.
        // Validated here first: the crate's decoder panics on a truncated
        // UTF-8 sequence (found by the fuzz test below).
        if let Err(e) = std::str::from_utf8(bytes) {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(PropertiesError::Syntax {
                path: path.to_owned(),
                line,
                reason: "the file is not valid UTF-8 (save it as UTF-8 or ASCII, with \\uXXXX escapes for other characters)".into(),
            });
        }
        let iter = java_properties::PropertiesIter::new_with_encoding(bytes, encoding_rs::UTF_8);
        let mut entries = Vec::new();
        for line in iter {
            let line = line.map_err(|e| PropertiesError::Syntax {
                path: path.to_owned(),
                line: e.line_number().unwrap_or(0),
                // The crate's description never echoes the line's content, so
                // a malformed password line cannot leak through here.
                reason: describe(&e),
            })?;
            let number = line.line_number();
            if let java_properties::LineContent::KVPair(key, value) = line.consume_content() {
                let value = if is_secret_key(&key) {
                    Value::Secret(SecretString::from(value))
                } else {
                    Value::Plain(value)
                };
                entries.push(Entry {
                    key,
                    value,
                    line: number,
                });
            }
        }
        Ok(PropertiesFile {
            path: path.to_owned(),
            entries,
        })
    }

    /// The last value given for `key`, as Java's `Properties` keeps it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// Entries with repeated keys collapsed to the last one, in order of
    /// their last occurrence.
    pub fn effective(&self) -> Vec<&Entry> {
        let mut out: Vec<&Entry> = Vec::new();
        for e in &self.entries {
            out.retain(|o| o.key != e.key);
            out.push(e);
        }
        out
    }
}

fn describe(e: &java_properties::PropertiesError) -> String {
    #[allow(deprecated)]
    let d = std::error::Error::description(e);
    d.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_syntax_with_lines_and_secrets() {
        let text = b"# comment\n! also comment\nbootstrap.servers = a:9092,\\\n  b:9092\ngroup.id:mm\nssl.key.password=s3cr3t-value\nclient.id kmirror\nclient.id=again\n";
        let p = PropertiesFile::parse(text, Path::new("c.properties")).unwrap();
        assert_eq!(
            p.get("bootstrap.servers").unwrap().value.expose(),
            "a:9092,b:9092"
        );
        assert_eq!(p.get("bootstrap.servers").unwrap().line, 3);
        assert_eq!(p.get("group.id").unwrap().value.expose(), "mm");
        assert_eq!(p.get("client.id").unwrap().value.expose(), "again");
        let pw = p.get("ssl.key.password").unwrap();
        assert!(pw.value.is_secret());
        assert!(!format!("{p:?}").contains("s3cr3t"));
        assert_eq!(p.effective().len(), 4);
    }

    mod fuzz {
        use super::super::*;
        use crate::config::translate::{translate, Role};
        use proptest::prelude::*;

        const VALID: &str = "bootstrap.servers=a:9092\ngroup.id=g\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.password=hunter2-secret\nacks=all\nbuffer.memory=1024\n";

        fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
            match PropertiesFile::parse(bytes, Path::new("fuzz.properties")) {
                Ok(f) => {
                    for role in [Role::Consumer, Role::Producer] {
                        if let Err(e) = translate(&f, role) {
                            let msg = e.to_string();
                            prop_assert!(msg.starts_with("fuzz.properties:"), "{}", msg);
                            prop_assert!(!msg.contains("hunter2"), "{}", msg);
                        }
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.starts_with("fuzz.properties:"), "{}", msg);
                    prop_assert!(!msg.contains("hunter2"), "{}", msg);
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
            /// Arbitrary bytes never panic the parser or the translation;
            /// every rejection names the file and never echoes a password.
            #[test]
            fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                check(&bytes)?;
            }

            /// Mutations of a valid file (insert, delete, replace bytes) likewise.
            #[test]
            fn mutated_valid_file(edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, any::<u8>()), 1..12)) {
                let mut bytes = VALID.as_bytes().to_vec();
                for (at, kind, b) in edits {
                    let i = at.index(bytes.len() + 1);
                    match kind {
                        0 => bytes.insert(i, b),
                        1 if i < bytes.len() => { bytes.remove(i); }
                        _ if i < bytes.len() => bytes[i] = b,
                        _ => bytes.push(b),
                    }
                }
                check(&bytes)?;
            }
        }
    }

    #[test]
    fn invalid_utf8_is_an_error_with_its_line() {
        let e = PropertiesFile::parse(b"a=1\nb=\xc2", Path::new("x.properties")).unwrap_err();
        assert!(e.to_string().starts_with("x.properties:2: "), "{e}");
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }

    #[test]
    fn missing_file_names_path() {
        let e = PropertiesFile::read(Path::new("/nonexistent/kmirror/c.properties")).unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/kmirror/c.properties"),
            "{e}"
        );
    }

    #[test]
    fn bad_escape_names_line() {
        let e = PropertiesFile::parse(b"a=1\nb=\\uZZZZ\n", Path::new("x.properties")).unwrap_err();
        assert!(e.to_string().starts_with("x.properties:2:"), "{e}");
    }
}
