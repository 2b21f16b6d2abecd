//! `KAFKA_OPTS`: the JAAS file a JVM would be told about with
//! `-Djava.security.auth.login.config=FILE`.

use std::path::PathBuf;

const JAVA_LOGIN_CONFIG_FLAG: &str = "-Djava.security.auth.login.config=";

/// Extracts the JAAS file named by `-Djava.security.auth.login.config=FILE`
/// from a `KAFKA_OPTS`-style string (shell quoting with `'`, `"` and `\` is
/// understood; other flags are ignored; the last occurrence wins, as in the
/// JVM). Java's `==FILE` form and `file:` URLs are accepted.
pub fn login_config_from_kafka_opts(kafka_opts: &str) -> Option<PathBuf> {
    let mut found = None;
    for word in split_words(kafka_opts) {
        if let Some(value) = word.strip_prefix(JAVA_LOGIN_CONFIG_FLAG) {
            // `-D...config==FILE` means "this file only" to Java.
            let value = value.strip_prefix('=').unwrap_or(value);
            found = if value.is_empty() {
                None
            } else {
                Some(file_url_to_path(value))
            };
        }
    }
    found
}

/// Splits `KAFKA_OPTS` into words as a POSIX shell would (quotes and
/// backslashes; no expansions), with the maintained `shell-words` crate.
/// A value the shell itself would reject (an unclosed quote) is split on
/// white space instead, so the flag is still found when it is not the
/// malformed word.
fn split_words(s: &str) -> Vec<String> {
    shell_words::split(s).unwrap_or_else(|_| s.split_whitespace().map(str::to_string).collect())
}

/// `file:` URLs (as Java accepts for the login config and IBM's keytab
/// options) to paths; anything else is taken as a path.
pub(super) fn file_url_to_path(value: &str) -> PathBuf {
    let path = if let Some(rest) = value.strip_prefix("file://") {
        rest.strip_prefix("localhost").unwrap_or(rest)
    } else if let Some(rest) = value.strip_prefix("file:") {
        rest
    } else {
        return PathBuf::from(value);
    };
    PathBuf::from(percent_decode(path))
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
