//! JAAS login configuration: the files (and the inline `sasl.jaas.config`
//! form) that Kafka's Java clients and MirrorMaker read, parsed by a small
//! hand-written lexer and recursive-descent parser, then mapped to the
//! [`Credentials`] kmirror knows how to use.
//!
//! # Grammar
//!
//! ```text
//! file    := section+ EOF                  (parse, parse_file)
//! inline  := entry+ EOF                    (parse_inline: sasl.jaas.config)
//! section := NAME '{' entry* '}' ';'       ('}' and ';' may be on different lines)
//! entry   := CLASS FLAG option* ';'
//! option  := KEY '=' VALUE
//! FLAG    := required | requisite | sufficient | optional   (any case)
//! NAME, CLASS, KEY := identifier | "quoted string"
//! VALUE   := bare word | "quoted string"
//! ```
//!
//! Identifiers are letters, digits and `.` `_` `-` `$`. Bare words may also
//! hold `/` `:` `@` `+` `*`, so `keyTab=/etc/x.keytab` works; quote anything
//! else. Quoted strings take Java's backslash escapes (`\"`, `\\`, `\n`,
//! `\t`, `\r`, `\b`, `\f`, `\a`, `\v`, octal `\0`..`\377`; any other `\c`
//! is `c`). Comments are `/* ... */` and `// ...` as in Java; `#` is not a
//! comment (nor is it in Java), it is an error. Line ends may be LF, CRLF
//! or CR. Option names are case-sensitive, as in Java; the last of
//! duplicate options wins ([`LoginModuleEntry::option`]).
//!
//! # Differences from Java's `ConfigFile`
//!
//! Every file Java accepts and a Kafka client could log in with is read the
//! same way, except:
//! - a quoted string must close on its own line (Java silently ends it at
//!   the line break), and an unclosed `/*` is an error (Java ignores the rest
//!   of the file);
//! - a file without any section is an error;
//! - `${property}` references are kept literally: there are no Java system
//!   properties to expand them from;
//! - boolean options must be `true` or `false` in any case; Java reads every
//!   other value as false, which is how a typo silently disables a keytab.
//!
//! kmirror is more lenient than Java where Java would reject the file or
//! cut the value short: unquoted values may start with a digit and may hold
//! `/` `:` `@` `+` (Java ends an unquoted value at `/`, which starts a
//! comment for it, and rejects the others). In the inline form
//! `'single quotes'` are accepted as Kafka does; in files they are not, as
//! in Java.
//!
//! Error positions are `line:column`, 1-based, counting characters (a tab
//! is one column); for the inline form they are relative to the value.
//!
//! # Secrets
//!
//! Every option whose name contains `password` or `secret` (any case) is held
//! as a [`SecretString`] as soon as it is parsed; `Debug` prints it as
//! `[REDACTED]`. Error messages never contain option values, nor the text
//! of quoted strings. Words that may be a piece of a password (the rest of a
//! line after an unbalanced quote, or anything after a password option in the
//! same section) are described, not quoted: option names are quoted only if
//! they are well-known JAAS option names, and after a password option nothing
//! but punctuation is quoted until the section ends.
//! The input text itself is the caller's and is not wiped.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

mod credentials;
mod kafka_opts;
mod lexer;
mod parser;

use credentials::*;
use kafka_opts::file_url_to_path;
pub use kafka_opts::login_config_from_kafka_opts;

use parser::*;

/// The section Kafka's Java clients (and MirrorMaker) read.
pub const KAFKA_CLIENT_SECTION: &str = "KafkaClient";
/// kmirror convention: section holding the source-cluster (consumer) login,
/// see `jaas/per-side-kerberos.jaas` and [`JaasConfig::client_section`].
pub const SOURCE_SECTION: &str = "KafkaClientSource";
/// kmirror convention: section holding the target-cluster (producer) login.
pub const TARGET_SECTION: &str = "KafkaClientTarget";

/// Oracle/OpenJDK Kerberos login module.
pub const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";
/// IBM JDK Kerberos login module (different option names, see [`credentials`]).
pub const IBM_KRB5_LOGIN_MODULE: &str = "com.ibm.security.auth.module.Krb5LoginModule";
/// Kafka SASL/PLAIN login module.
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
/// Kafka SASL/SCRAM login module.
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

const SUPPORTED_MODULES: [&str; 4] = [
    KRB5_LOGIN_MODULE,
    IBM_KRB5_LOGIN_MODULE,
    PLAIN_LOGIN_MODULE,
    SCRAM_LOGIN_MODULE,
];

// ---------------------------------------------------------------------------
// Public data types
// ---------------------------------------------------------------------------

/// A parsed JAAS file: its sections in file order.
#[derive(Clone, Debug)]
pub struct JaasConfig {
    /// Where the text came from (a path, or a description); used in errors.
    pub origin: String,
    /// Sections in file order; names are unique.
    pub sections: Vec<JaasSection>,
}

/// One `Name { ... };` section.
#[derive(Clone, Debug)]
pub struct JaasSection {
    pub name: String,
    pub entries: Vec<LoginModuleEntry>,
    /// 1-based position of the section name.
    pub line: usize,
    pub column: usize,
}

/// One `class flag key=value ... ;` login module entry.
#[derive(Clone, Debug)]
pub struct LoginModuleEntry {
    pub class: String,
    pub flag: ControlFlag,
    /// Options in the order written (duplicates kept; see [`Self::option`]).
    pub options: Vec<JaasOption>,
    /// 1-based position of the class name.
    pub line: usize,
    pub column: usize,
}

/// JAAS control flag of a login module entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlFlag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

/// One `key=value` option. Values of secret options (name containing
/// `password` or `secret`) are held as [`SecretString`].
#[derive(Clone)]
pub struct JaasOption {
    pub key: String,
    value: OptionValue,
}

/// An option value: plain text, or a secret that never prints.
#[derive(Clone)]
pub enum OptionValue {
    Plain(String),
    Secret(SecretString),
}

/// What a supported login module entry means for kmirror.
#[derive(Clone)]
pub enum Credentials {
    Kerberos(KerberosLogin),
    Plain {
        username: String,
        password: SecretString,
    },
    Scram {
        username: String,
        password: SecretString,
    },
}

/// Kerberos login settings taken from a Krb5LoginModule entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KerberosLogin {
    pub keytab: Option<PathBuf>,
    pub principal: Option<String>,
    /// Kafka's broker service name (`serviceName`), if given here.
    pub service_name: Option<String>,
    pub use_keytab: bool,
    pub store_key: bool,
    pub use_ticket_cache: bool,
}

/// Everything that can go wrong reading JAAS configuration. Every message
/// starts with the origin and, where there is one, `line:column` (1-based).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JaasError {
    #[error("{origin}: cannot read the JAAS login configuration: {source}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}:{column}: expected {expected}, found {found}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        expected: String,
        found: String,
    },
    #[error(
        "{origin}:{line}:{column}: unterminated string{context}: the quote opened here is not closed on the same line"
    )]
    UnterminatedString {
        origin: String,
        line: usize,
        column: usize,
        /// e.g. ` in the value of option 'password'`, or empty.
        context: String,
    },
    #[error(
        "{origin}:{line}:{column}: unterminated comment: the '/*' here is never closed by '*/'"
    )]
    UnterminatedComment {
        origin: String,
        line: usize,
        column: usize,
    },
    #[error(
        "{origin}:{line}:{column}: no login configuration section found; a JAAS file needs at least one, such as `KafkaClient {{ ... }};`"
    )]
    NoSections {
        origin: String,
        line: usize,
        column: usize,
    },
    #[error(
        "{origin}:{line}:{column}: no login module entry found; expected e.g. `{PLAIN_LOGIN_MODULE} required username=\"...\" password=\"...\";`"
    )]
    NoEntries {
        origin: String,
        line: usize,
        column: usize,
    },
    #[error(
        "{origin}:{line}:{column}: duplicate section '{name}' (already defined at line {first_line}); Java rejects this file too"
    )]
    DuplicateSection {
        origin: String,
        line: usize,
        column: usize,
        name: String,
        first_line: usize,
    },
    #[error(
        "{origin}: no section '{name}'{} in the JAAS login configuration; {}",
        or_fallback(.fallback),
        sections_present(.available)
    )]
    SectionNotFound {
        origin: String,
        name: String,
        /// The section also looked for when `name` was missing, if any.
        fallback: Option<&'static str>,
        available: Vec<String>,
    },
    #[error(
        "{origin}:{line}:{column}: login module '{class}'{} is not supported{note}; kmirror supports only {}",
        in_section(.section),
        SUPPORTED_MODULES.join(", ")
    )]
    UnsupportedModule {
        origin: String,
        line: usize,
        column: usize,
        class: String,
        section: Option<String>,
        /// Extra explanation, e.g. why a module is dangerous; may be empty.
        note: &'static str,
    },
    #[error(
        "{origin}:{line}:{column}: login module {class}{} is missing required option '{option}'{hint}",
        in_section(.section)
    )]
    MissingOption {
        origin: String,
        line: usize,
        column: usize,
        class: &'static str,
        section: Option<String>,
        option: &'static str,
        hint: String,
    },
    #[error(
        "{origin}:{line}:{column}: login module {class}{}: the value of option '{option}' {problem}",
        in_section(.section)
    )]
    InvalidOption {
        origin: String,
        line: usize,
        column: usize,
        class: &'static str,
        section: Option<String>,
        option: &'static str,
        problem: &'static str,
    },
    #[error("{origin}:{line}:{column}: login module {class}{}: {problem}", in_section(.section))]
    UnusableLogin {
        origin: String,
        line: usize,
        column: usize,
        class: &'static str,
        section: Option<String>,
        problem: String,
    },
    #[error(
        "{origin}:{line}:{column}: {} {count} login module entries; kmirror needs exactly one",
        where_entries(.section)
    )]
    EntryCount {
        origin: String,
        line: usize,
        column: usize,
        section: Option<String>,
        count: usize,
    },
}

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

/// Parses a JAAS login configuration file's text. `origin` (usually the path)
/// names the text in error messages.
pub fn parse(text: &str, origin: &str) -> Result<JaasConfig, JaasError> {
    let mut parser = Parser::new(text, origin, Mode::File)?;
    let sections = parser.parse_file()?;
    Ok(JaasConfig {
        origin: origin.to_string(),
        sections,
    })
}

/// Reads and parses a JAAS file; errors (including I/O ones) name the path.
pub fn parse_file(path: &Path) -> Result<JaasConfig, JaasError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| JaasError::Read {
        origin: origin.clone(),
        source,
    })?;
    parse(&text, &origin)
}

/// Parses the inline form Kafka accepts as `sasl.jaas.config`: one or more
/// `class flag key=value ... ;` entries without a section around them.
/// `origin` should say where the value came from, e.g.
/// `sasl.jaas.config in /etc/kmirror/consumer.properties`; line and column
/// in errors are relative to `text`.
pub fn parse_inline(text: &str, origin: &str) -> Result<Vec<LoginModuleEntry>, JaasError> {
    let mut parser = Parser::new(text, origin, Mode::Inline)?;
    parser.parse_inline()
}

/// Parses an inline `sasl.jaas.config` value and maps its single entry to
/// [`Credentials`] (Kafka, too, requires exactly one login module there).
pub fn inline_credentials(text: &str, origin: &str) -> Result<Credentials, JaasError> {
    let entries = parse_inline(text, origin)?;
    entries_credentials(&entries, origin, None, (1, 1))
}

/// Maps one login module entry to [`Credentials`]. Unsupported modules
/// (JndiLoginModule, LDAP, OAuth, ...) are refused by name.
///
/// For `com.sun...Krb5LoginModule` the options are `useKeyTab`, `keyTab`,
/// `storeKey`, `useTicketCache`, `principal`, `serviceName`. For IBM's
/// module they are IBM's: `useKeytab=<keytab path or file: URL>`,
/// `useDefaultKeytab`, `useDefaultCcache`/`useCcache`, `credsType`
/// (`both`/`acceptor` map to `store_key`), `principal`, `serviceName`.
pub fn credentials(entry: &LoginModuleEntry, origin: &str) -> Result<Credentials, JaasError> {
    map_entry(entry, origin, None)
}

/// Maps a section to [`Credentials`]: every entry must be a supported module
/// and there must be exactly one.
pub fn section_credentials(section: &JaasSection, origin: &str) -> Result<Credentials, JaasError> {
    entries_credentials(
        &section.entries,
        origin,
        Some(&section.name),
        (section.line, section.column),
    )
}

impl JaasConfig {
    /// The section called `name` (case-sensitive, as in Java).
    pub fn section(&self, name: &str) -> Result<&JaasSection, JaasError> {
        self.sections
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| JaasError::SectionNotFound {
                origin: self.origin.clone(),
                name: name.to_string(),
                fallback: None,
                available: self.sections.iter().map(|s| s.name.clone()).collect(),
            })
    }

    /// The section for one side of the mirror: `preferred` (e.g.
    /// [`SOURCE_SECTION`]) if the file has it, else [`KAFKA_CLIENT_SECTION`].
    pub fn client_section(&self, preferred: &str) -> Result<&JaasSection, JaasError> {
        match self.section(preferred) {
            Ok(section) => Ok(section),
            Err(err) if preferred == KAFKA_CLIENT_SECTION => Err(err),
            Err(_) => self.section(KAFKA_CLIENT_SECTION).map_err(|err| match err {
                JaasError::SectionNotFound {
                    origin, available, ..
                } => JaasError::SectionNotFound {
                    origin,
                    name: preferred.to_string(),
                    fallback: Some(KAFKA_CLIENT_SECTION),
                    available,
                },
                other => other,
            }),
        }
    }
}

impl LoginModuleEntry {
    /// The option named `key` (case-sensitive); the last one if repeated,
    /// as Java keeps the last.
    pub fn option(&self, key: &str) -> Option<&JaasOption> {
        self.options.iter().rev().find(|o| o.key == key)
    }
}

impl JaasOption {
    /// Builds an option; the value is secret if the key says so.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        let value = OptionValue::new(&key, value.into());
        JaasOption { key, value }
    }

    pub fn value(&self) -> &OptionValue {
        &self.value
    }

    pub fn is_secret(&self) -> bool {
        matches!(self.value, OptionValue::Secret(_))
    }
}

impl OptionValue {
    fn new(key: &str, value: String) -> Self {
        if is_secret_key(key) {
            OptionValue::Secret(SecretString::from(value))
        } else {
            OptionValue::Plain(value)
        }
    }

    /// The value as text, secret or not. Named so that uses are easy to audit.
    pub fn expose(&self) -> &str {
        match self {
            OptionValue::Plain(s) => s,
            OptionValue::Secret(s) => s.expose_secret(),
        }
    }

    /// The value if it is not a secret.
    pub fn as_plain(&self) -> Option<&str> {
        match self {
            OptionValue::Plain(s) => Some(s),
            OptionValue::Secret(_) => None,
        }
    }
}

impl ControlFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlFlag::Required => "required",
            ControlFlag::Requisite => "requisite",
            ControlFlag::Sufficient => "sufficient",
            ControlFlag::Optional => "optional",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        [
            ControlFlag::Required,
            ControlFlag::Requisite,
            ControlFlag::Sufficient,
            ControlFlag::Optional,
        ]
        .into_iter()
        .find(|f| f.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for ControlFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JaasError {
    /// `(line, column)` of the error in its origin, when it has one.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            JaasError::Read { .. } | JaasError::SectionNotFound { .. } => None,
            JaasError::Syntax { line, column, .. }
            | JaasError::UnterminatedString { line, column, .. }
            | JaasError::UnterminatedComment { line, column, .. }
            | JaasError::NoSections { line, column, .. }
            | JaasError::NoEntries { line, column, .. }
            | JaasError::DuplicateSection { line, column, .. }
            | JaasError::UnsupportedModule { line, column, .. }
            | JaasError::MissingOption { line, column, .. }
            | JaasError::InvalidOption { line, column, .. }
            | JaasError::UnusableLogin { line, column, .. }
            | JaasError::EntryCount { line, column, .. } => Some((*line, *column)),
        }
    }
}

// Debug: secrets print as [REDACTED].

impl fmt::Debug for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Plain(s) => fmt::Debug::fmt(s, f),
            OptionValue::Secret(_) => f.write_str("[REDACTED]"),
        }
    }
}

impl fmt::Debug for JaasOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaasOption")
            .field("key", &self.key)
            .field("value", &self.value)
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Kerberos(login) => f.debug_tuple("Kerberos").field(login).finish(),
            Credentials::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &Redacted)
                .finish(),
            Credentials::Scram { username, .. } => f
                .debug_struct("Scram")
                .field("username", username)
                .field("password", &Redacted)
                .finish(),
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by errors and parser
// ---------------------------------------------------------------------------

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key.contains("secret")
}

/// Option names that are safe to repeat in error messages: a word the user
/// typed where an option name belongs may really be a piece of a password
/// that an unbalanced quote pushed out of its string.
const KNOWN_OPTION_NAMES: &[&str] = &[
    // Krb5LoginModule (Oracle/OpenJDK)
    "refreshKrb5Config",
    "useTicketCache",
    "ticketCache",
    "renewTGT",
    "doNotPrompt",
    "useKeyTab",
    "keyTab",
    "storeKey",
    "principal",
    "isInitiator",
    "tryFirstPass",
    "useFirstPass",
    "storePass",
    "clearPass",
    "debug",
    // Krb5LoginModule (IBM)
    "useKeytab",
    "useDefaultKeytab",
    "useCcache",
    "useDefaultCcache",
    "credsType",
    "forwardable",
    "proxiable",
    "noAddress",
    // Kafka
    "serviceName",
    "username",
    "password",
    "tokenauth",
    "clientId",
    "clientSecret",
    "scope",
    "unsecuredLoginStringClaim_sub",
    // JNDI / LDAP modules (refused, but named in their errors)
    "user.provider.url",
    "group.provider.url",
    "userProvider",
    "authIdentity",
    "userFilter",
    "useSSL",
];

fn is_known_word(word: &str) -> bool {
    KNOWN_OPTION_NAMES
        .iter()
        .any(|k| k.eq_ignore_ascii_case(word))
        || ["true", "false"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(word))
        || ControlFlag::from_word(word).is_some()
}

/// A name from the input, quoted, with control characters escaped and very
/// long names shortened.
fn quoted(name: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::from("'");
    for (i, c) in name.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

fn in_section(section: &Option<String>) -> String {
    match section {
        Some(name) => format!(" in section {}", quoted(name)),
        None => String::new(),
    }
}

fn where_entries(section: &Option<String>) -> String {
    match section {
        Some(name) => format!("section {} has", quoted(name)),
        None => "the inline configuration has".to_string(),
    }
}

fn or_fallback(fallback: &Option<&'static str>) -> String {
    match fallback {
        Some(name) => format!(" (nor '{name}')"),
        None => String::new(),
    }
}

fn sections_present(available: &[String]) -> String {
    if available.is_empty() {
        "it has no sections".to_string()
    } else {
        let names: Vec<String> = available.iter().map(|n| quoted(n)).collect();
        format!("sections present: {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "/tmp/x.jaas";

    const SEED_KERBEROS: &str = r#"KafkaClient {
    com.sun.security.auth.module.Krb5LoginModule required
    useKeyTab=true
    keyTab="/tmp/mirrormaker.keytab"
    storeKey=true
    useTicketCache=false
    serviceName="kafka"
    principal="mirrormaker/HOSTNAME@EXAMPLE.COM";
};
"#;

    const SECRET_FILE: &str = r#"KafkaClient {
    org.apache.kafka.common.security.plain.PlainLoginModule required
    username="mirrormaker"
    password="hunter2-secret";
};
"#;

    const SECRET_INLINE: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="mirrormaker" password="hunter2-secret";"#;

    fn err_of<T: fmt::Debug>(r: Result<T, JaasError>) -> JaasError {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    /// Asserts the error's position and that its message starts with
    /// `origin:line:column: ` and contains every `needle`.
    fn assert_err(err: &JaasError, origin: &str, at: (usize, usize), needles: &[&str]) {
        let msg = err.to_string();
        assert_eq!(err.location(), Some(at), "position of: {msg}");
        let prefix = format!("{origin}:{}:{}: ", at.0, at.1);
        assert!(
            msg.starts_with(&prefix),
            "{msg:?} should start with {prefix:?}"
        );
        for needle in needles {
            assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
        }
    }

    fn kerberos(creds: Credentials) -> KerberosLogin {
        match creds {
            Credentials::Kerberos(k) => k,
            other => panic!("expected Kerberos, got {other:?}"),
        }
    }

    fn seed_login() -> KerberosLogin {
        KerberosLogin {
            keytab: Some(PathBuf::from("/tmp/mirrormaker.keytab")),
            principal: Some("mirrormaker/HOSTNAME@EXAMPLE.COM".to_string()),
            service_name: Some("kafka".to_string()),
            use_keytab: true,
            store_key: true,
            use_ticket_cache: false,
        }
    }

    // ---------------------------------------------------------------- valid

    #[test]
    fn seed_kerberos_file() {
        let cfg = parse(SEED_KERBEROS, ORIGIN).unwrap();
        assert_eq!(cfg.origin, ORIGIN);
        assert_eq!(cfg.sections.len(), 1);
        let section = cfg.section(KAFKA_CLIENT_SECTION).unwrap();
        assert_eq!((section.line, section.column), (1, 1));
        assert_eq!(section.entries.len(), 1);
        let entry = &section.entries[0];
        assert_eq!(entry.class, KRB5_LOGIN_MODULE);
        assert_eq!(entry.flag, ControlFlag::Required);
        assert_eq!((entry.line, entry.column), (2, 5));
        let keys: Vec<&str> = entry.options.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "useKeyTab",
                "keyTab",
                "storeKey",
                "useTicketCache",
                "serviceName",
                "principal"
            ]
        );
        assert!(entry.options.iter().all(|o| !o.is_secret()));
        assert_eq!(
            entry.option("keyTab").unwrap().value().as_plain(),
            Some("/tmp/mirrormaker.keytab")
        );
        assert_eq!(
            kerberos(section_credentials(section, ORIGIN).unwrap()),
            seed_login()
        );
        assert_eq!(kerberos(credentials(entry, ORIGIN).unwrap()), seed_login());
    }

    #[test]
    fn kerberos_booleans_any_case_and_defaults() {
        let text = "KafkaClient { com.sun.security.auth.module.Krb5LoginModule REQUIRED \
                    useTicketCache=TRUE storeKey=False principal=me@EXAMPLE.COM; };";
        let cfg = parse(text, ORIGIN).unwrap();
        let login = kerberos(section_credentials(&cfg.sections[0], ORIGIN).unwrap());
        assert_eq!(
            login,
            KerberosLogin {
                keytab: None,
                principal: Some("me@EXAMPLE.COM".to_string()),
                service_name: None,
                use_keytab: false,
                store_key: false,
                use_ticket_cache: true,
            }
        );
    }

    #[test]
    fn ibm_kerberos_module() {
        let text = r#"KafkaClient {
  com.ibm.security.auth.module.Krb5LoginModule required
  useKeytab="file:///etc/security/keytabs/mm.keytab"
  credsType=both
  principal="mm/host@EXAMPLE.COM";
};"#;
        let cfg = parse(text, ORIGIN).unwrap();
        let login = kerberos(section_credentials(&cfg.sections[0], ORIGIN).unwrap());
        assert_eq!(
            login.keytab,
            Some(PathBuf::from("/etc/security/keytabs/mm.keytab"))
        );
        assert!(login.use_keytab && login.store_key && !login.use_ticket_cache);
        assert_eq!(login.principal.as_deref(), Some("mm/host@EXAMPLE.COM"));
    }

    #[test]
    fn plain_and_scram_inline() {
        let origin = "sasl.jaas.config in /etc/kmirror/consumer.properties";
        let plain = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";"#;
        match inline_credentials(plain, origin).unwrap() {
            Credentials::Plain { username, password } => {
                assert_eq!(username, "u");
                assert_eq!(password.expose_secret(), "p");
            }
            other => panic!("{other:?}"),
        }
        let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required\n  username='alice'  password='s3cr\\'et' ;  ";
        let entries = parse_inline(scram, origin).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].option("password").unwrap().is_secret());
        match credentials(&entries[0], origin).unwrap() {
            Credentials::Scram { username, password } => {
                assert_eq!(username, "alice");
                assert_eq!(password.expose_secret(), "s3cr'et");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_and_scram_files() {
        let text = r#"
KafkaClient {
    org.apache.kafka.common.security.scram.ScramLoginModule required
    username="alice"
    password="pw";
};
"#;
        let cfg = parse(text, ORIGIN).unwrap();
        match section_credentials(cfg.section("KafkaClient").unwrap(), ORIGIN).unwrap() {
            Credentials::Scram { username, password } => {
                assert_eq!(username, "alice");
                assert_eq!(password.expose_secret(), "pw");
            }
            other => panic!("{other:?}"),
        }
        let plain = text.replace("scram.ScramLoginModule", "plain.PlainLoginModule");
        let cfg = parse(&plain, ORIGIN).unwrap();
        assert!(matches!(
            section_credentials(&cfg.sections[0], ORIGIN).unwrap(),
            Credentials::Plain { .. }
        ));
    }

    #[test]
    fn several_sections_and_entries() {
        let text = r#"
Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="zk" password="zkpw"; };
KafkaClient {
    com.sun.security.auth.module.Krb5LoginModule sufficient useTicketCache=true;
    org.apache.kafka.common.security.plain.PlainLoginModule optional username="u" password="p";
    "quoted.Module" "Requisite" "quoted key"="v";
};
"com.sun.security.jgss.initiate" { };
"#;
        let cfg = parse(text, ORIGIN).unwrap();
        let names: Vec<&str> = cfg.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["Client", "KafkaClient", "com.sun.security.jgss.initiate"]
        );
        let kc = cfg.section("KafkaClient").unwrap();
        assert_eq!(kc.line, 3);
        let flags: Vec<ControlFlag> = kc.entries.iter().map(|e| e.flag).collect();
        assert_eq!(
            flags,
            [
                ControlFlag::Sufficient,
                ControlFlag::Optional,
                ControlFlag::Requisite
            ]
        );
        assert_eq!(kc.entries[2].class, "quoted.Module");
        assert_eq!(
            kc.entries[2].option("quoted key").unwrap().value().expose(),
            "v"
        );
        assert!(cfg.sections[2].entries.is_empty());
        assert!(cfg.sections[0].entries[0]
            .option("password")
            .unwrap()
            .is_secret());

        // More than one entry: refused, pointing at the unsupported one first.
        let err = err_of(section_credentials(kc, ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (6, 5),
            &["'quoted.Module'", "section 'KafkaClient'", "not supported"],
        );
        let two = "KafkaClient { com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;\n  com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true; };";
        let cfg2 = parse(two, ORIGIN).unwrap();
        let err = err_of(section_credentials(&cfg2.sections[0], ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (2, 3),
            &[
                "section 'KafkaClient' has 2 login module entries",
                "exactly one",
            ],
        );
        let err = err_of(section_credentials(&cfg.sections[2], ORIGIN));
        assert_err(&err, ORIGIN, (8, 1), &["has 0 login module entries"]);
    }

    #[test]
    fn section_not_found_names_the_sections_present() {
        let cfg = parse(
            "Client { a.B required; };\nKafkaServer { a.B required; };",
            ORIGIN,
        )
        .unwrap();
        let err = err_of(cfg.section(KAFKA_CLIENT_SECTION));
        assert_eq!(err.location(), None);
        assert_eq!(
            err.to_string(),
            "/tmp/x.jaas: no section 'KafkaClient' in the JAAS login configuration; sections present: 'Client', 'KafkaServer'"
        );
        // Per-side lookup falls back to KafkaClient, and says so when neither exists.
        let err = err_of(cfg.client_section(SOURCE_SECTION));
        assert!(
            err.to_string()
                .contains("no section 'KafkaClientSource' (nor 'KafkaClient') in"),
            "{err}"
        );
        let cfg = parse("KafkaClient { a.B required; };", ORIGIN).unwrap();
        assert_eq!(
            cfg.client_section(TARGET_SECTION).unwrap().name,
            "KafkaClient"
        );
    }

    #[test]
    fn comments_everywhere() {
        let text = "/* head */ // line\n/**/KafkaClient/*a*/{//b\n/* c\n * d **/com.sun.security.auth.module.Krb5LoginModule/*e*/required// f\n\
                    useKeyTab/*g*/=/*h*/true keyTab=/tmp/k.keytab// i\n principal = \"p@R\" /* j */ ; /*k*/ } /*l*/ ; // end";
        let cfg = parse(text, ORIGIN).unwrap();
        let login = kerberos(section_credentials(&cfg.sections[0], ORIGIN).unwrap());
        assert_eq!(login.keytab, Some(PathBuf::from("/tmp/k.keytab")));
        assert_eq!(login.principal.as_deref(), Some("p@R"));
        assert!(login.use_keytab);
        // A comment right after a bare value ends the value.
        let cfg = parse("A { x.Y required k=/a/b//c\n; };", ORIGIN).unwrap();
        assert_eq!(
            cfg.sections[0].entries[0].options[0].value().expose(),
            "/a/b"
        );
    }

    #[test]
    fn hash_is_not_a_comment() {
        let err = err_of(parse("# comment\nKafkaClient { a.B required; };", ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (1, 1),
            &["expected a section name such as KafkaClient, found '#'"],
        );
    }

    #[test]
    fn string_escapes() {
        let text =
            r#"A { x.Y required k="q\"b\\s\n\t\r\b\f\a\v\101\0z\3777\777\qend" e="" u="é ☃"; };"#;
        let cfg = parse(text, ORIGIN).unwrap();
        let entry = &cfg.sections[0].entries[0];
        assert_eq!(
            entry.option("k").unwrap().value().expose(),
            "q\"b\\s\n\t\r\u{8}\u{c}\u{7}\u{b}A\0z\u{ff}7?7qend"
        );
        assert_eq!(entry.option("e").unwrap().value().expose(), "");
        assert_eq!(entry.option("u").unwrap().value().expose(), "é ☃");
    }

    #[test]
    fn crlf_line_endings() {
        let text = SEED_KERBEROS.replace('\n', "\r\n");
        let cfg = parse(&text, ORIGIN).unwrap();
        assert_eq!(
            kerberos(section_credentials(&cfg.sections[0], ORIGIN).unwrap()),
            seed_login()
        );
        assert_eq!(
            (
                cfg.sections[0].entries[0].line,
                cfg.sections[0].entries[0].column
            ),
            (2, 5)
        );
        // Positions stay right with CRLF (and with old Mac CR).
        let bad = "KafkaClient {\r\n  a.B required\r\n  k=v\r\n};\r\n";
        let err = err_of(parse(bad, ORIGIN));
        assert_err(&err, ORIGIN, (4, 1), &["expected ';' or an option name after the value of option <name not shown>, found '}'"]);
        let err = err_of(parse(&bad.replace("\r\n", "\r"), ORIGIN));
        assert_err(&err, ORIGIN, (4, 1), &["found '}'"]);
    }

    #[test]
    fn brace_and_semicolon_on_separate_lines() {
        let text = "KafkaClient\n{\n a.B\n required\n ;\n}\n\n;\nOther { }\n ; ";
        let cfg = parse(text, ORIGIN).unwrap();
        assert_eq!(cfg.sections.len(), 2);
        assert_eq!(cfg.sections[1].line, 9);
    }

    #[test]
    fn duplicate_options_last_wins() {
        let cfg = parse("A { x.Y required k=1 k=2; };", ORIGIN).unwrap();
        assert_eq!(
            cfg.sections[0].entries[0]
                .option("k")
                .unwrap()
                .value()
                .expose(),
            "2"
        );
        assert!(cfg.sections[0].entries[0].option("K").is_none());
    }

    // ------------------------------------------------------------ malformed

    #[test]
    fn missing_semicolon_after_flag() {
        let text = "// comment\nKafkaClient {\n\n    org.apache.kafka.common.security.plain.PlainLoginModule\n    required\n\n    };\n";
        let err = err_of(parse(text, ORIGIN));
        assert_eq!(
            err.to_string(),
            "/tmp/x.jaas:7:5: expected ';' or an option name after the login module flag, found '}'"
        );
        assert_err(&err, ORIGIN, (7, 5), &[]);
    }

    #[test]
    fn missing_semicolon_after_last_option() {
        let text = SEED_KERBEROS.replace("EXAMPLE.COM\";", "EXAMPLE.COM\"");
        let err = err_of(parse(&text, ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (9, 1),
            &["expected ';' or an option name after the value of option 'principal', found '}'"],
        );
    }

    #[test]
    fn missing_flag() {
        let text =
            "KafkaClient {\n  com.sun.security.auth.module.Krb5LoginModule\n  useKeyTab=true;\n};";
        let err = err_of(parse(text, ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (3, 3),
            &["expected a control flag (required, requisite, sufficient or optional) after login module class 'com.sun.security.auth.module.Krb5LoginModule', found 'useKeyTab'"],
        );
    }

    #[test]
    fn bad_flag() {
        let text = "KafkaClient {\n  a.B requird;\n};";
        let err = err_of(parse(text, ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (2, 7),
            &["expected a control flag", "found 'requird'"],
        );
    }

    #[test]
    fn missing_equals_and_value() {
        let err = err_of(parse("A {\n x.Y required useKeyTab true; };", ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (2, 25),
            &["expected '=' after option name 'useKeyTab', found 'true'"],
        );
        let err = err_of(parse("A {\n x.Y required keyTab= ; };", ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (2, 23),
            &["expected a value for option 'keyTab', found ';'"],
        );
        let err = err_of(parse("A { x.Y required k/x=1; };", ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (1, 18),
            &["expected ';' or an option name after the login module flag, found a word"],
        );
    }

    #[test]
    fn unterminated_string() {
        let text = "KafkaClient {\n  a.B required\n  principal=\"abc;\n};";
        let err = err_of(parse(text, ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (3, 13),
            &["unterminated string in the value of option 'principal'"],
        );
        let err = err_of(parse("\"KafkaClient", ORIGIN));
        assert_err(&err, ORIGIN, (1, 1), &["unterminated string:"]);
        let err = err_of(parse("A { x.Y required k=\"ends in escape\\", ORIGIN));
        assert_err(&err, ORIGIN, (1, 20), &["unterminated string"]);
    }

    #[test]
    fn unterminated_comment() {
        let text = "KafkaClient {\n  a.B required; /* never\n closed };";
        let err = err_of(parse(text, ORIGIN));
        assert_err(&err, ORIGIN, (2, 17), &["unterminated comment", "'/*'"]);
    }

    #[test]
    fn missing_closing_brace() {
        let text = "KafkaClient {\n  a.B required;\n";
        let err = err_of(parse(text, ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (3, 1),
            &["expected a login module class name or '}' closing section 'KafkaClient' (opened at line 1), found end of input"],
        );
        let err = err_of(parse("KafkaClient { a.B required; }", ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (1, 30),
            &["expected ';' after the '}' closing section 'KafkaClient', found end of input"],
        );
    }

    #[test]
    fn garbage_after_the_end() {
        let err = err_of(parse("KafkaClient { a.B required; };\n  garbage", ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (2, 3),
            &["expected '{' after section name 'garbage', found end of input"],
        );
        let err = err_of(parse("KafkaClient { a.B required; };\n};", ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (2, 1),
            &["expected a section name such as KafkaClient, found '}'"],
        );
        let err = err_of(parse("KafkaClient { a.B required; }; ;", ORIGIN));
        assert_err(&err, ORIGIN, (1, 32), &["found ';'"]);
    }

    #[test]
    fn empty_file() {
        for (text, at) in [
            ("", (1, 1)),
            ("  \n", (2, 1)),
            ("/* only */ // a comment", (1, 24)),
        ] {
            let err = err_of(parse(text, ORIGIN));
            assert_err(&err, ORIGIN, at, &["no login configuration section found"]);
        }
        let err = err_of(parse_inline("  ", "sasl.jaas.config"));
        assert_err(
            &err,
            "sasl.jaas.config",
            (1, 3),
            &["no login module entry found"],
        );
    }

    #[test]
    fn duplicate_section() {
        let err = err_of(parse("KafkaClient { };\n\nKafkaClient { };", ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (3, 1),
            &["duplicate section 'KafkaClient' (already defined at line 1)"],
        );
    }

    #[test]
    fn single_quotes_are_for_inline_only() {
        let err = err_of(parse("A { x.Y required k='v'; };", ORIGIN));
        assert_err(&err, ORIGIN, (1, 20), &["a single quote"]);
    }

    #[test]
    fn inline_errors() {
        let origin = "sasl.jaas.config in /etc/kmirror/consumer.properties";
        let err = err_of(parse_inline(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p""#,
            origin,
        ));
        assert_err(
            &err,
            origin,
            (1, 91),
            &["after the value of option 'password', found end of input"],
        );
        let err = err_of(parse_inline("KafkaClient { a.B required; };", origin));
        assert_err(
            &err,
            origin,
            (1, 13),
            &["found '{'", "without a `Name { ... };` section"],
        );
        let two = "a.B required; c.D required;";
        assert_eq!(parse_inline(two, origin).unwrap().len(), 2);
        let err = err_of(inline_credentials(
            "com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true; com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;",
            origin,
        ));
        assert_err(
            &err,
            origin,
            (1, 76),
            &["the inline configuration has 2 login module entries"],
        );
    }

    // -------------------------------------------------------- credentials

    #[test]
    fn jndi_and_other_modules_are_refused_by_name() {
        let text = "KafkaClient {\n  com.sun.security.auth.module.JndiLoginModule required\n    user.provider.url=\"ldap://evil/x\" group.provider.url=\"ldap://evil/y\";\n};";
        let cfg = parse(text, ORIGIN).unwrap();
        let err = err_of(section_credentials(&cfg.sections[0], ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (2, 3),
            &[
                "login module 'com.sun.security.auth.module.JndiLoginModule' in section 'KafkaClient' is not supported",
                "CVE-2023-25194",
                KRB5_LOGIN_MODULE,
                IBM_KRB5_LOGIN_MODULE,
                PLAIN_LOGIN_MODULE,
                SCRAM_LOGIN_MODULE,
            ],
        );
        assert!(!err.to_string().contains("evil"));
        let err = err_of(credentials(&cfg.sections[0].entries[0], ORIGIN));
        assert!(err.to_string().contains("JndiLoginModule"));

        for class in [
            "com.sun.security.auth.module.LdapLoginModule",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
            "com.example.Custom",
        ] {
            let entries = parse_inline(&format!("{class} required;"), "inline").unwrap();
            let err = err_of(credentials(&entries[0], "inline"));
            assert_err(
                &err,
                "inline",
                (1, 1),
                &[
                    &format!("'{class}'"),
                    "not supported",
                    "kmirror supports only",
                ],
            );
        }
        // A refused module is refused even next to a supported one.
        let mixed = "KafkaClient { com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;\n com.sun.security.auth.module.JndiLoginModule optional; };";
        let cfg = parse(mixed, ORIGIN).unwrap();
        let err = err_of(section_credentials(&cfg.sections[0], ORIGIN));
        assert_err(&err, ORIGIN, (2, 2), &["JndiLoginModule"]);
    }

    #[test]
    fn missing_required_options_are_named() {
        let cases = [
            (
                "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"x\";",
                "missing required option 'username'",
            ),
            (
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\";",
                "missing required option 'password'",
            ),
            (
                "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true principal=\"p@R\";",
                "missing required option 'keyTab' (required because useKeyTab=true)",
            ),
            (
                "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k\";",
                "missing required option 'principal'",
            ),
            (
                "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keytab=\"/k\" principal=p;",
                "missing required option 'keyTab' (found 'keytab': JAAS option names are case-sensitive)",
            ),
            (
                "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"\" principal=p;",
                "missing required option 'keyTab' (it is empty)",
            ),
        ];
        for (entry, needle) in cases {
            let text = format!("KafkaClient {{\n  {entry}\n}};");
            let cfg = parse(&text, ORIGIN).unwrap();
            let err = err_of(section_credentials(&cfg.sections[0], ORIGIN));
            assert!(matches!(err, JaasError::MissingOption { .. }), "{err}");
            assert_err(&err, ORIGIN, (2, 3), &[needle, "in section 'KafkaClient'"]);
        }
    }

    #[test]
    fn kerberos_needs_a_keytab_or_ticket_cache_and_real_booleans() {
        let text = "KafkaClient { com.sun.security.auth.module.Krb5LoginModule required useKeytab=true principal=p; };";
        let cfg = parse(text, ORIGIN).unwrap();
        let err = err_of(section_credentials(&cfg.sections[0], ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (1, 15),
            &[
                "neither useKeyTab=true nor useTicketCache=true",
                "found 'useKeytab'",
            ],
        );

        let text =
            "KafkaClient { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=yes; };";
        let cfg = parse(text, ORIGIN).unwrap();
        let err = err_of(section_credentials(&cfg.sections[0], ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (1, 15),
            &["the value of option 'useKeyTab' must be true or false"],
        );
        assert!(!err.to_string().contains("yes"));
    }

    #[test]
    fn sample_files_parse_and_map() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("jaas");
        let mut seen = 0;
        for name in [
            "kerberos.jaas",
            "plain.jaas",
            "scram.jaas",
            "per-side-kerberos.jaas",
        ] {
            let path = dir.join(name);
            let cfg = parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cfg.origin, path.display().to_string());
            for section in &cfg.sections {
                let creds =
                    section_credentials(section, &cfg.origin).unwrap_or_else(|e| panic!("{e}"));
                let shown = format!("{creds:?}");
                assert!(!shown.contains("CHANGE-ME"), "{shown}");
                seen += 1;
            }
            match name {
                "kerberos.jaas" => {
                    let s = cfg.section(KAFKA_CLIENT_SECTION).unwrap();
                    assert_eq!(
                        kerberos(section_credentials(s, &cfg.origin).unwrap()),
                        seed_login()
                    );
                }
                "plain.jaas" => assert!(matches!(
                    section_credentials(cfg.section(KAFKA_CLIENT_SECTION).unwrap(), &cfg.origin)
                        .unwrap(),
                    Credentials::Plain { .. }
                )),
                "scram.jaas" => assert!(matches!(
                    section_credentials(cfg.section(KAFKA_CLIENT_SECTION).unwrap(), &cfg.origin)
                        .unwrap(),
                    Credentials::Scram { .. }
                )),
                _ => {
                    let src = kerberos(
                        section_credentials(
                            cfg.client_section(SOURCE_SECTION).unwrap(),
                            &cfg.origin,
                        )
                        .unwrap(),
                    );
                    let dst = kerberos(
                        section_credentials(
                            cfg.client_section(TARGET_SECTION).unwrap(),
                            &cfg.origin,
                        )
                        .unwrap(),
                    );
                    assert!(src.principal.unwrap().ends_with("@SOURCE.EXAMPLE.COM"));
                    assert!(dst.principal.unwrap().ends_with("@TARGET.EXAMPLE.COM"));
                    assert_ne!(src.keytab, dst.keytab);
                }
            }
        }
        assert_eq!(seen, 5);
    }

    #[test]
    fn io_errors_name_the_path() {
        let err = err_of(parse_file(Path::new("/nonexistent/kmirror/x.jaas")));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/kmirror/x.jaas: cannot read"),
            "{err}"
        );
    }

    // -------------------------------------------------------------- secrets

    #[test]
    fn secrets_never_print() {
        let cfg = parse(SECRET_FILE, ORIGIN).unwrap();
        let debug = format!("{cfg:?} {:#?}", cfg);
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("[REDACTED]"));
        assert!(debug.contains("mirrormaker"));
        let creds = section_credentials(&cfg.sections[0], ORIGIN).unwrap();
        let debug = format!("{creds:?} {creds:#?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("[REDACTED]"),
            "{debug}"
        );
        let entries = parse_inline(SECRET_INLINE, "inline").unwrap();
        assert!(!format!("{entries:?}").contains("hunter2"));
        let option = JaasOption::new("ssl.keystore.Password", "hunter2-secret");
        assert!(option.is_secret() && !format!("{option:?}").contains("hunter2"));
        assert!(JaasOption::new("clientSecret", "hunter2").is_secret());
        assert!(!JaasOption::new("username", "u").is_secret());
    }

    #[test]
    fn malformed_password_variants_never_echo_the_password() {
        let variants = [
            // unterminated
            SECRET_FILE.replace("\"hunter2-secret\";", "\"hunter2-secret;"),
            // missing '='
            SECRET_FILE.replace("password=", "password "),
            SECRET_FILE.replace("password=\"hunter2-secret\"", "password hunter2-secret"),
            // '=' deleted from a bare password
            SECRET_FILE.replace("password=\"hunter2-secret\"", "passwordhunter2-secret"),
            // unquoted password with spaces and odd characters
            SECRET_FILE.replace("\"hunter2-secret\"", "hunter2-secret more words"),
            SECRET_FILE.replace("\"hunter2-secret\"", "hunter2!secret"),
            SECRET_FILE.replace("\"hunter2-secret\"", "hunter2=="),
            SECRET_FILE.replace("\"hunter2-secret\";", "hunter2-secret }"),
            SECRET_FILE.replace("\"hunter2-secret\";", "x;hunter2-secret ;"),
            SECRET_FILE.replace("\"hunter2-secret\"", "hunter2\\secret"),
            SECRET_FILE.replace("\"hunter2-secret\"", "'hunter2-secret'"),
            // the username's closing quote missing: the password becomes words
            SECRET_FILE.replace("\"mirrormaker\"\n   ", "\"mirrormaker"),
            SECRET_INLINE.replace("\"mirrormaker\"", "\"mirrormaker"),
            SECRET_INLINE.replace("\"mirrormaker\"", "\"mirrormaker\" password=\"x\"")
                + " hunter2 x",
            SECRET_INLINE.replace(
                "password=\"hunter2-secret\"",
                "password=hunter2-secret password2",
            ),
            SECRET_INLINE.replace("\"hunter2-secret\";", "hunter2 secret"),
            SECRET_INLINE.replace("\"hunter2-secret\"", "\"hunter2-secret\" {"),
            SECRET_INLINE.replace("\"hunter2-secret\";", "\"hunter2-secret"),
            SECRET_INLINE.replace("\"hunter2-secret\";", "hunter2;secret required hunter2"),
        ];
        for text in &variants {
            assert!(
                text != SECRET_FILE && text != SECRET_INLINE,
                "a variant did not change"
            );
            let results = [
                parse(text, ORIGIN).err(),
                parse_inline(text, ORIGIN).err(),
                inline_credentials(text, ORIGIN).err(),
            ];
            let mut errors = 0;
            for err in results.into_iter().flatten() {
                errors += 1;
                let msg = format!("{err} {err:?}");
                assert!(!msg.contains("hunter2"), "leak for {text:?}: {msg}");
            }
            assert!(errors > 0, "no error for {text:?}");
        }
        // Each kind of message still tells the user where and what.
        let err = err_of(parse(&variants[0], ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (4, 14),
            &["unterminated string in the value of option 'password'"],
        );
        let err = err_of(parse(&variants[2], ORIGIN));
        assert_err(
            &err,
            ORIGIN,
            (4, 14),
            &["expected '=' after option name 'password', found a word (not shown"],
        );
    }

    // ------------------------------------------------------------ KAFKA_OPTS

    #[test]
    fn kafka_opts() {
        let cases: [(&str, Option<&str>); 12] = [
            ("-Xmx1g -Djava.security.auth.login.config=/etc/kafka/jaas.conf -Dfoo=bar", Some("/etc/kafka/jaas.conf")),
            ("-Djava.security.auth.login.config=\"/etc/my dir/jaas.conf\" -Dx=y", Some("/etc/my dir/jaas.conf")),
            ("-Djava.security.auth.login.config='/etc/my dir/x.jaas'", Some("/etc/my dir/x.jaas")),
            ("'-Djava.security.auth.login.config=/etc/x.jaas' -Dsun.security.krb5.debug=true", Some("/etc/x.jaas")),
            ("-Djava.security.auth.login.config==/etc/only.jaas", Some("/etc/only.jaas")),
            ("-Djava.security.auth.login.config=file:///etc/a%20b.jaas", Some("/etc/a b.jaas")),
            ("-Djava.security.auth.login.config=file:/etc/c.jaas", Some("/etc/c.jaas")),
            ("-Djava.security.auth.login.config=/a.jaas -Djava.security.auth.login.config=/b.jaas", Some("/b.jaas")),
            ("-Djava.security.auth.login.config=/etc/x\\ y.jaas", Some("/etc/x y.jaas")),
            ("-Djava.security.auth.login.config=", None),
            ("-Djava.security.auth.login.configX=/a -Djava.security.krb5.conf=/etc/krb5.conf", None),
            ("", None),
        ];
        for (opts, want) in cases {
            assert_eq!(
                login_config_from_kafka_opts(opts),
                want.map(PathBuf::from),
                "{opts}"
            );
        }
    }

    // ----------------------------------------------------------- properties

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use proptest::sample::Index;

        #[derive(Clone, Debug)]
        struct EntrySpec {
            class: String,
            flag: ControlFlag,
            options: Vec<(String, String)>,
        }

        #[derive(Clone, Debug)]
        struct SectionSpec {
            name: String,
            entries: Vec<EntrySpec>,
        }

        fn ident() -> impl Strategy<Value = String> {
            "[A-Za-z_][A-Za-z0-9_.$-]{0,12}"
        }

        fn flag() -> impl Strategy<Value = ControlFlag> {
            prop_oneof![
                Just(ControlFlag::Required),
                Just(ControlFlag::Requisite),
                Just(ControlFlag::Sufficient),
                Just(ControlFlag::Optional),
            ]
        }

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => ident(),
                1 => Just("password".to_string()),
                1 => Just("keyPassword".to_string()),
                1 => Just("clientSecret".to_string()),
                1 => Just("useKeyTab".to_string()),
            ]
        }

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                "[A-Za-z0-9/._:@+*$-]{1,16}",
                any::<String>(),
                "[\"\\\\\n\r\t /*a{};='#]{0,10}",
            ]
        }

        fn entry() -> impl Strategy<Value = EntrySpec> {
            (
                "[a-z]{1,5}(\\.[a-z]{1,5}){0,3}\\.[A-Z][A-Za-z0-9$]{0,10}",
                flag(),
                prop::collection::vec((key(), value()), 0..5),
            )
                .prop_map(|(class, flag, options)| EntrySpec {
                    class,
                    flag,
                    options,
                })
        }

        fn sections() -> impl Strategy<Value = Vec<SectionSpec>> {
            prop::collection::vec((ident(), prop::collection::vec(entry(), 0..4)), 1..4).prop_map(
                |v| {
                    v.into_iter()
                        .enumerate()
                        .map(|(i, (name, entries))| SectionSpec {
                            name: format!("{name}_{i}"),
                            entries,
                        })
                        .collect()
                },
            )
        }

        /// Deterministic layout choices (white space, comments, quoting).
        struct Layout(u64);

        impl Layout {
            fn next(&mut self) -> u64 {
                // splitmix64
                self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            }
            fn coin(&mut self) -> bool {
                self.next() & 1 == 0
            }
            fn pick<'s>(&mut self, xs: &[&'s str]) -> &'s str {
                xs[(self.next() % xs.len() as u64) as usize]
            }
            /// Separator between tokens that must not run together.
            fn sep(&mut self) -> &'static str {
                self.pick(&[
                    " ",
                    "\n",
                    "\r\n",
                    "\t",
                    "  \n  ",
                    " /* c */ ",
                    " // c\n",
                    "\n/* multi\r\n * line **/\n",
                    "\r",
                ])
            }
            /// Separator that may be empty.
            fn maybe_sep(&mut self) -> &'static str {
                if self.coin() {
                    ""
                } else {
                    self.sep()
                }
            }
            fn quoted(&mut self, s: &str) -> String {
                let mut out = String::from("\"");
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c if (c as u32) < 256 && self.next() & 7 == 0 => {
                            out.push_str(&format!("\\{:03o}", c as u32))
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
            fn name(&mut self, s: &str) -> String {
                if self.next() & 3 == 0 {
                    self.quoted(s)
                } else {
                    s.to_string()
                }
            }
            fn value(&mut self, v: &str) -> String {
                let bare = !v.is_empty()
                    && v.chars().all(lexer::is_word_char)
                    && !v.contains("//")
                    && !v.contains("/*");
                if bare && self.coin() {
                    v.to_string()
                } else {
                    self.quoted(v)
                }
            }
            fn flag(&mut self, f: ControlFlag) -> String {
                let s = match self.next() % 3 {
                    0 => f.as_str().to_string(),
                    1 => f.as_str().to_uppercase(),
                    _ => {
                        let mut s = f.as_str().to_string();
                        s[..1].make_ascii_uppercase();
                        s
                    }
                };
                self.name(&s)
            }
            fn entry(&mut self, e: &EntrySpec) -> String {
                let mut out = self.name(&e.class);
                out.push_str(self.sep());
                out.push_str(&self.flag(e.flag));
                for (k, v) in &e.options {
                    out.push_str(self.sep());
                    out.push_str(&self.name(k));
                    out.push_str(self.maybe_sep());
                    out.push('=');
                    out.push_str(self.maybe_sep());
                    out.push_str(&self.value(v));
                }
                out.push_str(self.maybe_sep());
                out.push(';');
                out
            }
            fn file(&mut self, sections: &[SectionSpec]) -> String {
                let mut out = self.maybe_sep().to_string();
                for s in sections {
                    out.push_str(&self.name(&s.name));
                    out.push_str(self.maybe_sep());
                    out.push('{');
                    for e in &s.entries {
                        out.push_str(self.sep());
                        out.push_str(&self.entry(e));
                    }
                    out.push_str(self.maybe_sep());
                    out.push('}');
                    out.push_str(self.maybe_sep());
                    out.push(';');
                    out.push_str(self.sep());
                }
                out
            }
        }

        type Shape = Vec<(String, ControlFlag, Vec<(String, String, bool)>)>;

        fn entry_shape(entries: &[LoginModuleEntry]) -> Shape {
            entries
                .iter()
                .map(|e| {
                    let options = e
                        .options
                        .iter()
                        .map(|o| (o.key.clone(), o.value().expose().to_string(), o.is_secret()))
                        .collect();
                    (e.class.clone(), e.flag, options)
                })
                .collect()
        }

        fn spec_shape(entries: &[EntrySpec]) -> Shape {
            entries
                .iter()
                .map(|e| {
                    let options = e
                        .options
                        .iter()
                        .map(|(k, v)| {
                            let lower = k.to_lowercase();
                            (
                                k.clone(),
                                v.clone(),
                                lower.contains("password") || lower.contains("secret"),
                            )
                        })
                        .collect();
                    (e.class.clone(), e.flag, options)
                })
                .collect()
        }

        fn lines(text: &str) -> Vec<usize> {
            let mut lens = vec![0];
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\r' if chars.peek() == Some(&'\n') => {}
                    '\n' | '\r' => lens.push(0),
                    _ => *lens.last_mut().unwrap() += 1,
                }
            }
            lens
        }

        /// Every error names the origin and a position inside the text.
        fn check_error(err: &JaasError, origin: &str, text: &str) -> Result<(), TestCaseError> {
            let msg = err.to_string();
            let (line, column) = err
                .location()
                .ok_or_else(|| TestCaseError::fail(format!("no location: {msg}")))?;
            let prefix = format!("{origin}:{line}:{column}: ");
            prop_assert!(msg.starts_with(&prefix), "{:?} lacks {:?}", msg, prefix);
            let lens = lines(text);
            prop_assert!(
                line >= 1 && line <= lens.len(),
                "line {} of {} in {:?}",
                line,
                lens.len(),
                msg
            );
            prop_assert!(
                column >= 1 && column <= lens[line - 1] + 1,
                "column {} of {} in {:?}",
                column,
                lens[line - 1],
                msg
            );
            Ok(())
        }

        /// Every piece of text a parse holds in the clear: names and
        /// non-secret values.
        fn plain_text(entries: &[LoginModuleEntry]) -> String {
            let mut out = String::new();
            for e in entries {
                out.push_str(&e.class);
                for o in &e.options {
                    out.push_str(&o.key);
                    out.push_str(o.value().as_plain().unwrap_or(""));
                }
            }
            out
        }

        /// Runs every entry point and checks errors. For the secret seeds:
        /// error messages never show the password while the text still has
        /// a password option, and `Debug` output never shows it unless the
        /// mutation turned it into a name or a non-secret value.
        fn exercise(text: &str) -> Result<(), TestCaseError> {
            let origin = "mutant.jaas";
            let mut errors = Vec::new();
            // (Debug output, plain text of what was parsed)
            let mut debug = Vec::new();
            match parse(text, origin) {
                Ok(cfg) => {
                    let mut plain = String::new();
                    for section in &cfg.sections {
                        plain.push_str(&section.name);
                        plain.push_str(&plain_text(&section.entries));
                    }
                    debug.push((format!("{cfg:?}"), plain.clone()));
                    for section in &cfg.sections {
                        match section_credentials(section, origin) {
                            Ok(c) => debug.push((format!("{c:?}"), plain.clone())),
                            Err(e) => {
                                check_error(&e, origin, text)?;
                                errors.push(e.to_string());
                            }
                        }
                    }
                }
                Err(e) => {
                    check_error(&e, origin, text)?;
                    errors.push(e.to_string());
                }
            }
            match parse_inline(text, origin) {
                Ok(entries) => {
                    let plain = plain_text(&entries);
                    debug.push((format!("{entries:?}"), plain.clone()));
                    match inline_credentials(text, origin) {
                        Ok(c) => debug.push((format!("{c:?}"), plain)),
                        Err(e) => {
                            check_error(&e, origin, text)?;
                            errors.push(e.to_string());
                        }
                    }
                }
                Err(e) => {
                    check_error(&e, origin, text)?;
                    errors.push(e.to_string());
                }
            }
            if text.contains("password") {
                for e in &errors {
                    prop_assert!(!e.contains("hunter2"), "leak in {:?} for {:?}", e, text);
                }
            }
            for (shown, plain) in &debug {
                if !plain.contains("hunter2") {
                    prop_assert!(
                        !shown.contains("hunter2"),
                        "leak in {:?} for {:?}",
                        shown,
                        text
                    );
                }
            }
            Ok(())
        }

        fn seeds() -> Vec<String> {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jaas");
            let mut seeds = vec![
                super::SEED_KERBEROS.to_string(),
                super::SECRET_FILE.to_string(),
                super::SECRET_INLINE.to_string(),
                super::SECRET_FILE.replace('\n', "\r\n"),
            ];
            for name in ["kerberos.jaas", "per-side-kerberos.jaas"] {
                seeds.push(std::fs::read_to_string(dir.join(name)).unwrap());
            }
            seeds
        }

        fn mutation() -> impl Strategy<Value = (u8, Index, char)> {
            (
                0u8..3,
                any::<Index>(),
                prop_oneof![
                    any::<char>(),
                    prop::sample::select(vec![
                        '"', '{', '}', ';', '=', '/', '*', '\\', '\n', '\r', ' ', '\'', '#', 'a',
                        '0', '\u{feff}',
                    ]),
                ],
            )
        }

        fn mutate(text: &str, mutations: &[(u8, Index, char)]) -> String {
            let mut chars: Vec<char> = text.chars().collect();
            for (op, at, c) in mutations {
                match op {
                    0 => {
                        let i = at.index(chars.len() + 1);
                        chars.insert(i, *c);
                    }
                    1 if !chars.is_empty() => {
                        let i = at.index(chars.len());
                        chars.remove(i);
                    }
                    _ if !chars.is_empty() => {
                        let i = at.index(chars.len());
                        chars[i] = *c;
                    }
                    _ => {}
                }
            }
            chars.into_iter().collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_text_never_panics(text in any::<String>()) {
                exercise(&text)?;
            }

            #[test]
            fn jaas_alphabet_never_panics(text in "[A-Za-z.\" {};=/*\\\\\n\r\t'#-]{0,60}") {
                exercise(&text)?;
            }

            #[test]
            fn mutated_files_never_panic_nor_leak(
                seed in prop::sample::select(seeds()),
                mutations in prop::collection::vec(mutation(), 1..6),
            ) {
                exercise(&mutate(&seed, &mutations))?;
            }

            #[test]
            fn rendered_config_round_trips(spec in sections(), layout in any::<u64>()) {
                let text = Layout(layout).file(&spec);
                let cfg = match parse(&text, "generated.jaas") {
                    Ok(cfg) => cfg,
                    Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
                };
                prop_assert_eq!(cfg.sections.len(), spec.len());
                for (got, want) in cfg.sections.iter().zip(&spec) {
                    prop_assert_eq!(&got.name, &want.name);
                    prop_assert_eq!(entry_shape(&got.entries), spec_shape(&want.entries));
                }
            }

            #[test]
            fn rendered_inline_round_trips(entries in prop::collection::vec(entry(), 1..4), layout in any::<u64>()) {
                let mut layout = Layout(layout);
                let text: Vec<String> = entries.iter().map(|e| layout.entry(e)).collect();
                let text = text.join(layout.sep());
                let got = match parse_inline(&text, "sasl.jaas.config") {
                    Ok(got) => got,
                    Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
                };
                prop_assert_eq!(entry_shape(&got), spec_shape(&entries));
            }
        }
    }
}
