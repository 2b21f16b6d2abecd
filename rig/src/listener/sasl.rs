//! The server side of the SASL mechanisms the listener offers: GSSAPI
//! (Kerberos, through the system GSS-API library) and PLAIN; SCRAM is in
//! [`super::scram`].
//!
//! Both behave like Apache Kafka's broker (which uses the JDK's
//! `GssKrb5Server` and Kafka's `PlainSaslServer`), including the RFC 4752
//! security-layer negotiation that follows the Kerberos context exchange.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use libgssapi::context::{SecurityContext, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{OidSet, GSS_MECH_KRB5, GSS_NT_KRB5_PRINCIPAL};

/// The RFC 4752 security-layer bit for "no security layer", the only layer
/// Kafka supports.
const LAYER_NONE: u8 = 0x01;
/// The receive buffer size the JDK's GSSAPI server advertises.
const MAX_RECV_BUFFER: u32 = 65536;

/// Users and passwords for PLAIN (and, derived from them, SCRAM), read
/// from a file of `user:password` lines (blank lines and `#` comments
/// ignored).
#[derive(Debug, Clone, Default)]
pub struct PlainUsers {
    users: HashMap<String, String>,
}

impl PlainUsers {
    /// Loads the users file.
    pub fn load(path: &Path) -> Result<PlainUsers> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading PLAIN users file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses `user:password` lines.
    pub fn parse(text: &str) -> Result<PlainUsers> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (u, p) = line
                .split_once(':')
                .with_context(|| format!("line {}: expected user:password", i + 1))?;
            users.insert(u.to_string(), p.to_string());
        }
        Ok(PlainUsers { users })
    }

    /// Every user and password.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.users.iter().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// Checks a PLAIN `authzid NUL authcid NUL password` message and returns
    /// the user name, or Kafka's error message.
    pub fn authenticate(&self, message: &[u8]) -> std::result::Result<String, String> {
        let parts: Vec<&[u8]> = message.split(|b| *b == 0).collect();
        if parts.len() != 3 {
            return Err("Invalid SASL/PLAIN response: expected 3 tokens".to_string());
        }
        let text = |b: &[u8]| {
            String::from_utf8(b.to_vec())
                .map_err(|_| "Invalid UTF-8 in SASL/PLAIN response".to_string())
        };
        let (authzid, user, password) = (text(parts[0])?, text(parts[1])?, text(parts[2])?);
        if user.is_empty() {
            return Err("Authentication failed: username not specified".to_string());
        }
        if !authzid.is_empty() && authzid != user {
            return Err(
                "Authentication failed: Client requested an authorization id that is different from username"
                    .to_string(),
            );
        }
        match self.users.get(&user) {
            Some(p) if *p == password => Ok(user),
            _ => Err("Authentication failed: Invalid username or password".to_string()),
        }
    }
}

/// Acquires acceptor credentials from the keytab named by `KRB5_KTNAME`
/// (the listener sets it from `--keytab` before any GSS call). With a
/// service principal, only that principal's key is used; without, any key
/// in the keytab is accepted (so `kafka/localhost` and `kafka/127.0.0.1`
/// can both be served, whichever host name the client used).
pub fn acquire_acceptor(service_principal: Option<&str>) -> Result<Cred> {
    let mut mechs = OidSet::new();
    mechs
        .add(GSS_MECH_KRB5)
        .context("adding the krb5 mechanism")?;
    let name = match service_principal {
        Some(p) => Some(
            Name::new(p.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL))
                .with_context(|| format!("importing service principal {p}"))?,
        ),
        None => None,
    };
    Cred::acquire(name.as_ref(), None, CredUsage::Accept, Some(&mechs)).with_context(|| {
        format!(
            "acquiring acceptor credentials for {} from keytab {}",
            service_principal.unwrap_or("(any principal)"),
            std::env::var("KRB5_KTNAME").unwrap_or_else(|_| "(default)".to_string())
        )
    })
}

enum GssState {
    /// Exchanging context-establishment tokens.
    Accepting,
    /// The context is complete and the server's last token was sent; the
    /// client answers with an empty token.
    AwaitClientAck,
    /// The server's wrapped layer offer was sent; waiting for the choice.
    AwaitLayerChoice,
    /// Finished.
    Done,
}

/// What one SASL step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this token and wait for the client's next one.
    Continue(Vec<u8>),
    /// Authentication succeeded as this name; send this (final) token.
    Done {
        /// The authenticated name: a Kerberos principal with realm, or a
        /// PLAIN/SCRAM user name.
        principal: String,
        /// The last token for the client (empty for GSSAPI and PLAIN, the
        /// server-final message for SCRAM).
        reply: Vec<u8>,
    },
}

/// One connection's GSSAPI server exchange.
pub struct GssServer {
    ctx: ServerCtx,
    state: GssState,
    clockskew: Duration,
    ticket_expiry_ms: Option<u64>,
}

impl GssServer {
    /// Starts an exchange with the listener's acceptor credentials;
    /// `clockskew` is the realm's allowance (see [`krb5_clockskew`]).
    pub fn new(cred: &Cred, clockskew: Duration) -> GssServer {
        GssServer {
            ctx: ServerCtx::new(Some(cred.clone())),
            state: GssState::Accepting,
            clockskew,
            ticket_expiry_ms: None,
        }
    }

    /// The client's principal, once the context is established (also for
    /// failure reports after the context step).
    pub fn client_name(&self) -> Option<String> {
        if self.ctx.is_complete() {
            self.ctx.source_name().ok().map(|n| n.to_string())
        } else {
            None
        }
    }

    /// When the client's service ticket expires (ms since the Unix epoch),
    /// once the context is established: the context's end less the
    /// clock-skew allowance. A context the library already reports
    /// expired counts as ending now.
    pub fn ticket_expiry_ms(&self) -> Option<u64> {
        self.ticket_expiry_ms
    }

    /// Feeds one client token. Errors carry the reason for the log and the
    /// client's error message.
    pub fn step(&mut self, token: &[u8]) -> std::result::Result<Step, String> {
        match self.state {
            GssState::Accepting => {
                let out = self
                    .ctx
                    .step(token, None)
                    .map_err(|e| format!("GSSAPI accept_sec_context failed: {e}"))?;
                if !self.ctx.is_complete() {
                    return Ok(Step::Continue(out.map(|b| b.to_vec()).unwrap_or_default()));
                }
                // The lifetime is whole seconds from the library's clock
                // (seconds since the epoch), so the end time is exact when
                // computed from the same whole second. MIT's acceptor lets
                // the context outlive the ticket by the clock-skew
                // allowance, which is taken off to get the ticket's end.
                let now_s = super::audit::now_ms() / 1000;
                let left = self.ctx.lifetime().map(|d| d.as_secs()).unwrap_or(0);
                let end = (now_s + left).saturating_sub(self.clockskew.as_secs());
                self.ticket_expiry_ms = Some(end * 1000);
                match out {
                    // Mutual authentication: the AP-REP goes first; the
                    // client answers with an empty token.
                    Some(tok) if !tok.is_empty() => {
                        self.state = GssState::AwaitClientAck;
                        Ok(Step::Continue(tok.to_vec()))
                    }
                    _ => self.offer_layers(),
                }
            }
            GssState::AwaitClientAck => self.offer_layers(),
            GssState::AwaitLayerChoice => {
                let plain = self.ctx.unwrap(token).map_err(|e| {
                    format!("GSSAPI unwrap of the security-layer choice failed: {e}")
                })?;
                if plain.len() < 4 {
                    return Err(format!(
                        "security-layer choice of {} bytes is too short",
                        plain.len()
                    ));
                }
                if plain[0] & LAYER_NONE == 0 {
                    return Err(format!(
                        "client chose security layer {:#04x}, only {LAYER_NONE:#04x} (none) is offered",
                        plain[0]
                    ));
                }
                let principal = self
                    .ctx
                    .source_name()
                    .map_err(|e| format!("reading the client principal: {e}"))?
                    .to_string();
                let authzid = String::from_utf8_lossy(&plain[4..]).into_owned();
                if !authzid.is_empty() && authzid != principal {
                    return Err(format!(
                        "client {principal} requested authorization id {authzid}, which differs"
                    ));
                }
                self.state = GssState::Done;
                Ok(Step::Done {
                    principal,
                    reply: Vec::new(),
                })
            }
            GssState::Done => Err("GSSAPI exchange already finished".to_string()),
        }
    }

    /// Sends the RFC 4752 layer offer: byte 0 the supported layers, bytes
    /// 1-3 the receive buffer size, wrapped with integrity only (as the JDK
    /// does).
    fn offer_layers(&mut self) -> std::result::Result<Step, String> {
        let size = MAX_RECV_BUFFER.to_be_bytes();
        let offer = [LAYER_NONE, size[1], size[2], size[3]];
        let wrapped = self
            .ctx
            .wrap(false, &offer)
            .map_err(|e| format!("GSSAPI wrap of the security-layer offer failed: {e}"))?;
        self.state = GssState::AwaitLayerChoice;
        Ok(Step::Continue(wrapped.to_vec()))
    }
}

/// MIT's clock-skew allowance when krb5.conf sets none.
pub const DEFAULT_CLOCKSKEW: Duration = Duration::from_secs(300);

/// The `[libdefaults] clockskew` of a krb5.conf text, in seconds (a bare
/// number or `Ns`, the forms the rig writes), else MIT's default. The
/// acceptor's context outlives the ticket by this much, so the listener
/// needs it to know when a client's ticket really ends.
pub fn krb5_clockskew(text: &str) -> Duration {
    let mut section = "";
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if section == "libdefaults" && key.trim() == "clockskew" {
            let v = value.trim().trim_end_matches('*');
            if let Ok(secs) = v.strip_suffix('s').unwrap_or(v).parse::<u64>() {
                return Duration::from_secs(secs);
            }
        }
    }
    DEFAULT_CLOCKSKEW
}

/// Kafka's DEFAULT `sasl.kerberos.principal.to.local.rules` mapping, for
/// names of this listener's realm: `primary[/instance]@REALM` → `primary`.
/// PLAIN user names are returned unchanged.
pub fn short_name(principal: &str) -> String {
    kmirror::security::principal::kerberos_short_name(principal)
}

/// Rejects mechanisms the listener does not implement.
pub fn validate_mechanisms(mechanisms: &[String]) -> Result<()> {
    for m in mechanisms {
        if m != "GSSAPI" && m != "PLAIN" && super::scram::ScramMechanism::from_name(m).is_none() {
            bail!(
                "unsupported SASL mechanism {m:?} (GSSAPI, PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are implemented)"
            );
        }
    }
    if mechanisms.is_empty() {
        bail!("at least one SASL mechanism must be enabled");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_checks_user_password_and_authzid() {
        let users = PlainUsers::parse("# comment\nadmin:secret\nalice:pw\n").unwrap();
        assert_eq!(users.authenticate(b"\0admin\0secret"), Ok("admin".into()));
        assert_eq!(
            users.authenticate(b"admin\0admin\0secret"),
            Ok("admin".into())
        );
        assert!(users
            .authenticate(b"\0admin\0wrong")
            .unwrap_err()
            .contains("Invalid username or password"));
        assert!(users
            .authenticate(b"\0nobody\0x")
            .unwrap_err()
            .contains("Invalid username or password"));
        assert!(users
            .authenticate(b"alice\0admin\0secret")
            .unwrap_err()
            .contains("authorization id"));
        assert!(users.authenticate(b"admin:secret").is_err());
        assert!(PlainUsers::parse("no-colon\n").is_err());
    }

    #[test]
    fn kerberos_names_map_to_primary() {
        assert_eq!(
            short_name("mirrormaker/localhost@KMIRROR.TEST"),
            "mirrormaker"
        );
        assert_eq!(short_name("admin@KMIRROR.TEST"), "admin");
        assert_eq!(short_name("alice"), "alice");
    }

    #[test]
    fn clockskew_is_read_from_libdefaults() {
        let conf = "[libdefaults]\n\tdefault_realm = R\n\tclockskew = 5\n[realms]\n";
        assert_eq!(krb5_clockskew(conf), Duration::from_secs(5));
        assert_eq!(
            krb5_clockskew("[libdefaults]\n clockskew = 7s\n"),
            Duration::from_secs(7)
        );
        // Elsewhere, or absent: MIT's default.
        assert_eq!(
            krb5_clockskew("[realms]\n clockskew = 5\n"),
            DEFAULT_CLOCKSKEW
        );
        assert_eq!(krb5_clockskew(""), DEFAULT_CLOCKSKEW);
    }

    #[test]
    fn mechanism_list_is_validated() {
        assert!(validate_mechanisms(&["GSSAPI".into(), "PLAIN".into()]).is_ok());
        assert!(validate_mechanisms(&["SCRAM-SHA-256".into(), "SCRAM-SHA-512".into()]).is_ok());
        assert!(validate_mechanisms(&["SCRAM-SHA-1".into()]).is_err());
        assert!(validate_mechanisms(&["OAUTHBEARER".into()]).is_err());
        assert!(validate_mechanisms(&[]).is_err());
    }
}
