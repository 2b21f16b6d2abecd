//! Kerberos tickets obtained and renewed in-process, without shell commands.
//!
//! librdkafka refreshes Kerberos tickets by running a `kinit` shell template
//! through `system()`. kmirror turns that off
//! (`sasl.kerberos.min.time.before.relogin=0`, set by
//! [`apply`](super::apply)) and instead:
//!
//! 1. obtains a TGT for the mirror principal from its keytab at start-up,
//!    through GSS-API's credential store (`gss_acquire_cred_from` with
//!    `client_keytab` and `ccache`), into a private `FILE:` ccache in a 0700
//!    directory of its own — never the user's `KRB5CCNAME`;
//! 2. gives every principal its own ccache, and every librdkafka thread the
//!    ccache of the principal its cluster authenticates as (see
//!    [Per-side principals](#per-side-principals)); `KRB5CCNAME` is never
//!    set (see [Why not `KRB5CCNAME`](#why-not-krb5ccname));
//! 3. renews the ticket from the keytab on a background thread well before
//!    it expires, warning on each failed attempt, and exposes the time left
//!    ([`TicketStatus::seconds_to_expiry`]);
//! 4. if the ticket really expires because the KDC stays unreachable, calls
//!    the hook registered with [`TicketKeeper::on_expiry`] (the pipeline's
//!    clean-stop path) with [`KerberosError::Expired`].
//!
//! Every start-up failure names the principal, the keytab and the KDC, and
//! says what to do: see [`KerberosError`].
//!
//! # Per-side principals
//!
//! Source and target may log in as different principals (separate accounts
//! per cluster, or different realms). librdkafka authenticates with Cyrus
//! SASL, which asks GSS-API for the *default* credentials: with nothing
//! else done, that is the process-wide `KRB5CCNAME`, so both sides would
//! silently share one principal. MIT GSS-API also has a per-thread default
//! (`gss_krb5_ccache_name`), and librdkafka authenticates a broker
//! connection on that broker's own thread. So each client gets a librdkafka
//! `on_thread_start` interceptor ([`TicketSlot::install`], called by
//! [`apply`](super::apply)) that sets the thread's ccache to its principal's
//! before the thread makes any connection. No `.k5identity` or host-name
//! rules are involved: the choice follows the client, not the broker's name.
//!
//! # Why not `KRB5CCNAME`
//!
//! Setting `KRB5CCNAME` with `set_var` while other threads run (tokio
//! workers, the metrics server, librdkafka threads of the preflight
//! clients) races with their `getenv` (undefined behaviour in glibc), and
//! one process-wide value cannot serve two principals anyway. The options
//! considered: librdkafka's `sasl.kerberos.kinit.cmd` runs a shell command
//! per client, but still into the cache named by the environment; setting
//! the variable once before any thread starts cannot give two sides two
//! caches. MIT's `gss_krb5_ccache_name` is per thread and is what Cyrus
//! SASL's GSSAPI plugin reads (it asks for default credentials on the
//! broker thread that authenticates), so each client's threads get their
//! side's cache from the `on_thread_start` interceptor, and kmirror's own
//! logins name their cache explicitly (`gss_acquire_cred_from` with a
//! `ccache` store element). Evidence: `tests/kerberos.rs`
//! `per_side_principals_in_one_run`, where the source listener saw only the
//! source principal and the target only the target's, and
//! `side_tools_log_in_from_the_keytab` for `lag`, `verify` and `check`.
//! A side without a keytab authenticates from the user's own cache.

use std::ffi::{CStr, CString};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use super::{Auth, KerberosSettings};

/// The librdkafka key that, at 0, stops librdkafka from running its `kinit`
/// shell command (kmirror keeps tickets itself).
pub const RELOGIN_KEY: &str = "sasl.kerberos.min.time.before.relogin";

/// One principal kmirror logs in as, with its keytab, and the sides that
/// authenticate as it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosLogin {
    /// The principal, as configured (`mirrormaker/host@REALM`).
    pub principal: String,
    /// The client keytab.
    pub keytab: PathBuf,
    /// The sides (`source`, `target`) that authenticate with it.
    pub sides: Vec<String>,
    /// Those sides' ticket handles, filled when the ticket is obtained.
    pub slots: Vec<TicketSlot>,
}

/// A ticket kmirror keeps: its ccache name as librdkafka threads are given
/// it, and its status.
#[derive(Clone)]
struct Kept {
    /// Leaked on purpose: librdkafka threads may read it until the process
    /// ends (one short string per principal per keeper).
    ccache: &'static CStr,
    status: Arc<TicketStatus>,
}

/// One side's handle on the Kerberos ticket kmirror keeps for it: shared by
/// the clones of that side's [`Auth`], filled by [`TicketKeeper::start`] and
/// emptied when the keeper is dropped. An explicit per-side value instead of
/// a process-wide table, so what a client authenticates with follows from
/// the configuration it is built from.
#[derive(Clone, Default)]
pub struct TicketSlot(Arc<Mutex<Option<Kept>>>);

impl TicketSlot {
    fn get(&self) -> Option<Kept> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, kept: Option<Kept>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = kept;
    }

    /// The kept ticket's status (expiry, renewals), if kmirror keeps one.
    pub fn status(&self) -> Option<Arc<TicketStatus>> {
        self.get().map(|k| k.status)
    }

    /// Makes every thread of a librdkafka client built from `cfg`
    /// authenticate from this side's kept ccache; nothing when kmirror keeps
    /// no ticket for the side (then the process default applies).
    pub fn install(&self, cfg: &mut rdkafka::config::ClientConfig) {
        if let Some(k) = self.get() {
            // SAFETY: install_thread_ccache is sound for any live
            // configuration given a NUL-terminated string's address, and
            // `k.ccache` is leaked (lives for the process), so the
            // interceptors of every client may read it.
            unsafe { cfg.set_native_hook(gss::install_thread_ccache, k.ccache.as_ptr() as usize) };
        }
    }
}

impl PartialEq for TicketSlot {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TicketSlot {}

impl std::fmt::Debug for TicketSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.get() {
            Some(_) => "TicketSlot(kept)",
            None => "TicketSlot(none)",
        })
    }
}

/// A Kerberos failure: at start-up (no ticket could be obtained) or at run
/// time (the ticket expired). Messages name principal, keytab and KDC.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KerberosError {
    /// A keytab but no principal, and the keytab holds no key at all.
    #[error(
        "keytab {keytab} holds no keys, and no principal is configured; set principal=\"mirrormaker/HOST@REALM\" in the JAAS file (or sasl.kerberos.principal) and export its key with kadmin 'ktadd -k {keytab} PRINCIPAL'"
    )]
    NoPrincipal {
        /// The keytab.
        keytab: PathBuf,
    },
    /// The private ticket cache directory could not be made.
    #[error(
        "cannot create kmirror's private Kerberos ticket cache directory {dir}: {message}; set TMPDIR to a writable directory"
    )]
    Ccache {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The KDC did not answer.
    #[error(
        "cannot get a Kerberos ticket for {principal} with keytab {keytab}: {kdc} cannot be reached ({detail}); check that the KDC is running and reachable from this host, and the realm's kdc entry in krb5.conf"
    )]
    KdcUnreachable {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC, from krb5.conf.
        kdc: String,
        /// The Kerberos library's message.
        detail: String,
    },
    /// The KDC does not know the principal.
    #[error(
        "cannot get a Kerberos ticket for {principal} with keytab {keytab}: {kdc} does not know principal {principal} ({detail}); create it (kadmin.local -q 'addprinc -randkey {principal}') and export a fresh keytab, or fix the principal name (docs/kerberos.md#client-not-found-in-kerberos-database)"
    )]
    PrincipalUnknown {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC.
        kdc: String,
        /// The Kerberos library's message.
        detail: String,
    },
    /// The keytab's key is not the principal's current key.
    #[error(
        "cannot get a Kerberos ticket for {principal} with keytab {keytab}: {kdc} rejected the key (key version or key mismatch: the keytab is stale, e.g. exported before a later ktadd changed the key) ({detail}); export a fresh keytab (kadmin.local -q 'ktadd -k {keytab} {principal}'), and replace every copy of the old one (docs/kerberos.md#preauthentication-failed)"
    )]
    StaleKeytab {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC.
        kdc: String,
        /// The Kerberos library's message.
        detail: String,
    },
    /// The keytab has no key for the principal that the library can use.
    #[error(
        "cannot get a Kerberos ticket for {principal} with keytab {keytab}: the keytab has no usable key for {principal} ({detail}; KDC: {kdc}); export one (kadmin.local -q 'ktadd -k {keytab} {principal}') — `klist -kt {keytab}` lists what it holds"
    )]
    KeyNotInKeytab {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC.
        kdc: String,
        /// The Kerberos library's message.
        detail: String,
    },
    /// The clocks of this host and the KDC differ too much.
    #[error(
        "cannot get a Kerberos ticket for {principal} with keytab {keytab}: the clocks of this host and {kdc} differ by more than the allowed skew (usually 5 minutes) ({detail}); synchronise this host's clock (NTP) (docs/kerberos.md#clock-skew-too-great)"
    )]
    ClockSkew {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC.
        kdc: String,
        /// The Kerberos library's message.
        detail: String,
    },
    /// The KDC refuses the principal tickets.
    #[error(
        "cannot get a Kerberos ticket for {principal} with keytab {keytab}: {kdc} refuses tickets to {principal}: the principal is disabled or locked out ({detail}); ask the Kerberos administrator to enable it (kadmin.local -q 'modprinc +allow_tix {principal}')"
    )]
    PrincipalDisabled {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC.
        kdc: String,
        /// The Kerberos library's message.
        detail: String,
    },
    /// The principal (or its key) has expired.
    #[error(
        "cannot get a Kerberos ticket for {principal} with keytab {keytab}: {kdc} says principal {principal} or its key has expired ({detail}); ask the Kerberos administrator to extend it (kadmin.local -q 'modprinc -expire never -pwexpire never {principal}')"
    )]
    PrincipalExpired {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC.
        kdc: String,
        /// The Kerberos library's message.
        detail: String,
    },
    /// Any other failure to get a ticket.
    #[error(
        "cannot get a Kerberos ticket for {principal} with keytab {keytab} from {kdc}: {detail}; `KRB5_TRACE=/dev/stderr kinit -k -t {keytab} {principal}` shows the exchange"
    )]
    Other {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC.
        kdc: String,
        /// The Kerberos library's message.
        detail: String,
    },
    /// The ticket expired and could not be renewed.
    #[error(
        "the Kerberos ticket of {principal} expired {ago_s} s ago and could not be renewed from keytab {keytab}: {last_error}. kmirror stopped cleanly (delivered records committed); restart it when {kdc} is reachable again"
    )]
    Expired {
        /// The principal.
        principal: String,
        /// The keytab.
        keytab: PathBuf,
        /// Which KDC.
        kdc: String,
        /// Seconds since expiry.
        ago_s: u64,
        /// Why the last renewal failed.
        last_error: String,
    },
}

/// How a krb5 error code reads to a user: which [`KerberosError`] it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    KdcUnreachable,
    PrincipalUnknown,
    StaleKeytab,
    KeyNotInKeytab,
    ClockSkew,
    PrincipalDisabled,
    PrincipalExpired,
    Other,
}

// MIT krb5 error codes (krb5.h), as GSS-API returns them in the minor status.
const KRB5KDC_ERR_NAME_EXP: i32 = -1765328383;
const KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1765328378;
const KRB5KDC_ERR_POLICY: i32 = -1765328372;
const KRB5KDC_ERR_CLIENT_REVOKED: i32 = -1765328366;
const KRB5KDC_ERR_KEY_EXP: i32 = -1765328361;
const KRB5KDC_ERR_PREAUTH_FAILED: i32 = -1765328360;
const KRB5KRB_AP_ERR_BAD_INTEGRITY: i32 = -1765328353;
const KRB5KRB_AP_ERR_SKEW: i32 = -1765328347;
const KRB5_REALM_UNKNOWN: i32 = -1765328230;
const KRB5_KDC_UNREACH: i32 = -1765328228;
const KRB5_KT_NOTFOUND: i32 = -1765328203;
const KRB5_PREAUTH_FAILED: i32 = -1765328174;
const KRB5_REALM_CANT_RESOLVE: i32 = -1765328164;
const KRB5_KT_KVNONOTFOUND: i32 = -1765328154;

/// Maps a krb5 error code (the GSS minor status) to its cause.
fn classify(minor: i32) -> Cause {
    match minor {
        KRB5_KDC_UNREACH | KRB5_REALM_CANT_RESOLVE | KRB5_REALM_UNKNOWN => Cause::KdcUnreachable,
        KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN => Cause::PrincipalUnknown,
        // Without preauth the client fails to decrypt the KDC's reply
        // (bad integrity); with preauth the KDC refuses the timestamp.
        KRB5KDC_ERR_PREAUTH_FAILED | KRB5KRB_AP_ERR_BAD_INTEGRITY | KRB5_PREAUTH_FAILED => {
            Cause::StaleKeytab
        }
        KRB5_KT_NOTFOUND | KRB5_KT_KVNONOTFOUND => Cause::KeyNotInKeytab,
        KRB5KRB_AP_ERR_SKEW => Cause::ClockSkew,
        KRB5KDC_ERR_CLIENT_REVOKED | KRB5KDC_ERR_POLICY => Cause::PrincipalDisabled,
        KRB5KDC_ERR_NAME_EXP | KRB5KDC_ERR_KEY_EXP => Cause::PrincipalExpired,
        _ => Cause::Other,
    }
}

impl KerberosError {
    fn from_cause(cause: Cause, login: &KerberosLogin, kdc: String, detail: String) -> Self {
        let principal = login.principal.clone();
        let keytab = login.keytab.clone();
        match cause {
            Cause::KdcUnreachable => KerberosError::KdcUnreachable {
                principal,
                keytab,
                kdc,
                detail,
            },
            Cause::PrincipalUnknown => KerberosError::PrincipalUnknown {
                principal,
                keytab,
                kdc,
                detail,
            },
            Cause::StaleKeytab => KerberosError::StaleKeytab {
                principal,
                keytab,
                kdc,
                detail,
            },
            Cause::KeyNotInKeytab => KerberosError::KeyNotInKeytab {
                principal,
                keytab,
                kdc,
                detail,
            },
            Cause::ClockSkew => KerberosError::ClockSkew {
                principal,
                keytab,
                kdc,
                detail,
            },
            Cause::PrincipalDisabled => KerberosError::PrincipalDisabled {
                principal,
                keytab,
                kdc,
                detail,
            },
            Cause::PrincipalExpired => KerberosError::PrincipalExpired {
                principal,
                keytab,
                kdc,
                detail,
            },
            Cause::Other => KerberosError::Other {
                principal,
                keytab,
                kdc,
                detail,
            },
        }
    }
}

/// Whether two principal names denote the same principal; a name without
/// `@REALM` matches that name in any realm (the default realm applies).
fn same_principal(a: &str, b: &str) -> bool {
    let name = |p: &str| p.split_once('@').map_or(p, |(n, _)| n).to_string();
    a == b || ((!a.contains('@') || !b.contains('@')) && name(a) == name(b))
}

/// The principal a side's settings log in as: the configured one, else (like
/// `kinit -k` without a name) the keytab's first; `None` for a
/// ticket-cache-only login.
fn side_principal(k: &KerberosSettings) -> Result<Option<String>, KerberosError> {
    match (&k.principal, &k.keytab) {
        (Some(p), _) => Ok(Some(p.clone())),
        (None, Some(kt)) => super::keytab::read(kt)
            .ok()
            .and_then(|t| t.principals().first().map(|p| p.to_string()))
            .map(Some)
            .ok_or_else(|| KerberosError::NoPrincipal { keytab: kt.clone() }),
        (None, None) => Ok(None),
    }
}

/// The keytab logins a run needs, one per distinct principal (sides naming
/// the same principal share one), in side order; empty when no side logs in
/// with a keytab (no GSSAPI, or ticket-cache-only logins, which use the
/// user's `KRB5CCNAME` and cannot be renewed by kmirror).
pub fn login_plan<'a>(
    sides: impl IntoIterator<Item = (&'a str, &'a Auth)>,
) -> Result<Vec<KerberosLogin>, KerberosError> {
    let mut logins: Vec<KerberosLogin> = Vec::new();
    let mut cache_only: Vec<String> = Vec::new();
    let mut any_gssapi = false;
    for (label, auth) in sides {
        let Some(k) = auth.kerberos() else {
            continue;
        };
        any_gssapi = true;
        let Some(p) = side_principal(k)? else {
            cache_only.push(label.to_string());
            continue;
        };
        match logins.iter_mut().find(|l| same_principal(&l.principal, &p)) {
            Some(l) => {
                if let Some(kt) = k.keytab.as_ref().filter(|kt| **kt != l.keytab) {
                    warn!(
                        "{}: keytab {} differs from {}'s {} for the same principal {}; kmirror logs in once, with {}",
                        label,
                        kt.display(),
                        l.sides[0],
                        l.keytab.display(),
                        l.principal,
                        l.keytab.display()
                    );
                }
                l.sides.push(label.to_string());
                l.slots.push(k.ticket.clone());
            }
            None => match &k.keytab {
                Some(kt) => logins.push(KerberosLogin {
                    principal: p,
                    keytab: kt.clone(),
                    sides: vec![label.to_string()],
                    slots: vec![k.ticket.clone()],
                }),
                // A principal without a keytab: the user's own ticket.
                None => cache_only.push(label.to_string()),
            },
        }
    }
    if logins.is_empty() && any_gssapi {
        // useTicketCache=true without a keytab: nothing to renew from.
        warn!(
            "Kerberos without a keytab: kmirror uses the existing ticket cache (KRB5CCNAME) and cannot renew it; when that ticket expires, new broker connections fail to authenticate. Configure useKeyTab=true with keyTab and principal to let kmirror keep tickets fresh"
        );
    } else if !logins.is_empty() {
        for side in &cache_only {
            // kmirror never sets KRB5CCNAME (the environment is shared by
            // every thread): such a side reads the user's cache.
            info!("{side}: no keytab; authenticates from the user's ticket cache (KRB5CCNAME), which kmirror does not renew");
        }
    }
    Ok(logins)
}

/// Where the realm's KDC is, for messages: read from the krb5 profile files
/// (`KRB5_CONFIG`, colon-separated, else `/etc/krb5.conf`).
pub fn describe_kdc(principal: &str) -> String {
    let files: Vec<PathBuf> = match std::env::var_os("KRB5_CONFIG") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => vec![PathBuf::from("/etc/krb5.conf")],
    };
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .filter_map(|f| fs::read_to_string(&f).ok().map(|t| (f, t)))
        .collect();
    let realm = match principal.split_once('@') {
        Some((_, r)) => Some(r.to_string()),
        None => texts.iter().find_map(|(_, t)| profile_default_realm(t)),
    };
    let Some(realm) = realm else {
        return "the KDC (no realm in the principal and no default_realm in krb5.conf)".into();
    };
    for (f, t) in &texts {
        let kdcs = profile_kdcs(t, &realm);
        if !kdcs.is_empty() {
            return format!(
                "the KDC of realm {realm} ({}, from {})",
                kdcs.join(", "),
                f.display()
            );
        }
    }
    format!("the KDC of realm {realm} (no kdc entry in krb5.conf: found through DNS)")
}

/// `default_realm` from a krb5 profile's `[libdefaults]`.
fn profile_default_realm(text: &str) -> Option<String> {
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if section == "libdefaults" {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "default_realm" {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

/// The `kdc` entries of `realm` in a krb5 profile's `[realms]`.
fn profile_kdcs(text: &str, realm: &str) -> Vec<String> {
    let mut section = String::new();
    let mut in_realm = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_string();
            in_realm = false;
        } else if section == "realms" {
            if let Some((k, v)) = line.split_once('=') {
                let (k, v) = (k.trim(), v.trim());
                if v.starts_with('{') {
                    in_realm = k == realm;
                } else if in_realm && k == "kdc" {
                    out.push(v.to_string());
                }
            } else if line.starts_with('}') {
                in_realm = false;
            }
        }
    }
    out
}

/// When to renew and how often to retry. Renewal starts at `renew_at` of
/// the ticket's lifetime, so a KDC outage shorter than the rest of the
/// lifetime goes unnoticed by the brokers.
#[derive(Debug, Clone, Copy)]
pub struct RenewPolicy {
    /// Fraction of the lifetime after which to renew (0.6).
    pub renew_at: f64,
    /// Shortest wait between failed attempts.
    pub min_retry: Duration,
    /// Longest wait between failed attempts.
    pub max_retry: Duration,
}

impl Default for RenewPolicy {
    fn default() -> Self {
        RenewPolicy {
            renew_at: 0.6,
            min_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(60),
        }
    }
}

impl RenewPolicy {
    /// How long after obtaining a ticket of `lifetime` to renew it.
    pub fn renew_after(&self, lifetime: Duration) -> Duration {
        lifetime.mul_f64(self.renew_at.clamp(0.1, 0.9))
    }

    /// How long to wait after a failed renewal when `remaining` is left:
    /// a twentieth of it, within the bounds, so several attempts fit in
    /// even a short remaining lifetime.
    pub fn retry_after(&self, remaining: Duration) -> Duration {
        (remaining / 20).clamp(self.min_retry, self.max_retry)
    }
}

/// The current ticket's expiry, readable from any thread (for metrics).
#[derive(Debug, Default)]
pub struct TicketStatus {
    expires_at_unix: AtomicI64,
    renewals: AtomicU64,
    failed_renewals: AtomicU64,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl TicketStatus {
    /// Seconds until the current ticket expires (negative once expired).
    pub fn seconds_to_expiry(&self) -> i64 {
        self.expires_at_unix.load(Ordering::Acquire) - unix_now()
    }

    /// When the ticket expires, in seconds since the Unix epoch.
    pub fn expires_at_unix(&self) -> i64 {
        self.expires_at_unix.load(Ordering::Acquire)
    }

    /// Successful renewals since start.
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// Failed renewal attempts since start.
    pub fn failed_renewals(&self) -> u64 {
        self.failed_renewals.load(Ordering::Relaxed)
    }
}

type ExpiryHook = Box<dyn FnOnce(KerberosError) + Send>;

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    /// The hook, and an expiry that happened before the hook was set.
    expiry: Mutex<(Option<ExpiryHook>, Option<KerberosError>)>,
}

/// Keeps the process's Kerberos tickets (one per principal) valid; dropping
/// it stops renewal and deletes the private ticket caches.
pub struct TicketKeeper {
    /// One per principal: the slots it filled, emptied on drop.
    slots: Vec<(Arc<TicketStatus>, Vec<TicketSlot>)>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    dir: PathBuf,
}

impl std::fmt::Debug for TicketKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let expiries: Vec<i64> = self
            .slots
            .iter()
            .map(|(s, _)| s.seconds_to_expiry())
            .collect();
        f.debug_struct("TicketKeeper")
            .field("dir", &self.dir)
            .field("seconds_to_expiry", &expiries)
            .finish()
    }
}

/// Makes a fresh 0700 directory for the ticket caches. `mkdir` fails if the
/// name exists, so nobody can plant a directory or symlink there first.
fn private_dir() -> Result<PathBuf, KerberosError> {
    let base = std::env::temp_dir();
    let mut last = String::new();
    for attempt in 0..16u32 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "kmirror-krb5-{}-{nanos:08x}{attempt}",
            std::process::id()
        ));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = e.to_string(),
            Err(e) => {
                return Err(KerberosError::Ccache {
                    dir,
                    message: e.to_string(),
                })
            }
        }
    }
    Err(KerberosError::Ccache {
        dir: base,
        message: last,
    })
}

/// Obtains a fresh TGT into a new cache file and moves it over `ccache_path`
/// (rename is atomic: a client reading the cache sees the old or the new
/// ticket, never half of one). Returns the ticket's lifetime.
fn obtain(login: &KerberosLogin, ccache_path: &Path) -> Result<Duration, KerberosError> {
    let fresh = ccache_path.with_extension("new");
    let _ = fs::remove_file(&fresh);
    let result = gss::acquire_from_keytab(
        &login.principal,
        &login.keytab.to_string_lossy(),
        &format!("FILE:{}", fresh.display()),
    );
    match result {
        Ok(lifetime) => {
            fs::rename(&fresh, ccache_path).map_err(|e| KerberosError::Ccache {
                dir: ccache_path.to_owned(),
                message: format!("moving the new ticket cache into place: {e}"),
            })?;
            Ok(lifetime)
        }
        Err(f) => {
            let _ = fs::remove_file(&fresh);
            Err(KerberosError::from_cause(
                classify(f.minor as i32),
                login,
                describe_kdc(&login.principal),
                f.message,
            ))
        }
    }
}

impl TicketKeeper {
    /// Logs in for the sides `(label, auth)` ([`login_plan`]) and keeps the tickets fresh;
    /// `None` when no side logs in with a keytab.
    pub fn start_for<'a>(
        sides: impl IntoIterator<Item = (&'a str, &'a Auth)>,
    ) -> Result<Option<TicketKeeper>, KerberosError> {
        let logins = login_plan(sides)?;
        if logins.is_empty() {
            return Ok(None);
        }
        TicketKeeper::start(logins, RenewPolicy::default()).map(Some)
    }

    /// Obtains the first ticket of every login (failing with a message
    /// naming principal, keytab and KDC), registers each principal's private
    /// cache in its sides' [`TicketSlot`]s (never `KRB5CCNAME`: see the module
    /// documentation),
    /// and starts one renewal thread per login. Call before creating any
    /// librdkafka client.
    pub fn start(
        logins: Vec<KerberosLogin>,
        policy: RenewPolicy,
    ) -> Result<TicketKeeper, KerberosError> {
        let dir = private_dir()?;
        let mut obtained = Vec::new();
        for (i, login) in logins.into_iter().enumerate() {
            let path = if i == 0 {
                dir.join("ccache")
            } else {
                dir.join(format!("ccache-{}", i + 1))
            };
            match obtain(&login, &path) {
                Ok(lifetime) => obtained.push((login, path, lifetime)),
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(e);
                }
            }
        }
        let mut keeper = TicketKeeper {
            slots: Vec::new(),
            shared: Arc::new(Shared {
                stop: Mutex::new(false),
                wake: Condvar::new(),
                expiry: Mutex::new((None, None)),
            }),
            threads: Vec::new(),
            dir,
        };
        for (login, path, lifetime) in obtained {
            let ccache = format!("FILE:{}", path.display());
            let ccache_c = CString::new(ccache.as_str()).map_err(|_| KerberosError::Ccache {
                dir: path.clone(),
                message: "the ticket cache path contains a NUL byte; set TMPDIR".into(),
            })?;
            let status = Arc::new(TicketStatus::default());
            status
                .expires_at_unix
                .store(unix_now() + lifetime.as_secs() as i64, Ordering::Release);
            info!(
                principal = %login.principal,
                keytab = %login.keytab.display(),
                sides = %login.sides.join(", "),
                lifetime_s = lifetime.as_secs(),
                "Kerberos ticket obtained from the keytab (kmirror renews it itself; librdkafka's kinit is off)"
            );
            let kept = Kept {
                ccache: Box::leak(ccache_c.into_boxed_c_str()),
                status: status.clone(),
            };
            for slot in &login.slots {
                slot.set(Some(kept.clone()));
            }
            keeper.slots.push((status.clone(), login.slots.clone()));
            let shared = keeper.shared.clone();
            let thread = std::thread::Builder::new()
                .name("kmirror-krb5".into())
                .spawn(move || renew_loop(login, path, lifetime, policy, status, shared))
                .map_err(|e| KerberosError::Ccache {
                    dir: keeper.dir.clone(),
                    message: format!("starting the renewal thread: {e}"),
                })?;
            keeper.threads.push(thread);
        }
        Ok(keeper)
    }

    /// Registers what to do when a ticket expires unrenewed (stop the
    /// pipeline). Called at once if that already happened.
    pub fn on_expiry(&self, hook: impl FnOnce(KerberosError) + Send + 'static) {
        let mut g = self.shared.expiry.lock().unwrap_or_else(|p| p.into_inner());
        match g.1.take() {
            Some(e) => hook(e),
            None => g.0 = Some(Box::new(hook)),
        }
    }
}

impl Drop for TicketKeeper {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for (status, slots) in &self.slots {
            for slot in slots {
                // Only if it still holds this keeper's ticket.
                if slot.status().is_some_and(|s| Arc::ptr_eq(&s, status)) {
                    slot.set(None);
                }
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn sleep_until(shared: &Shared, deadline: Instant) -> bool {
    let mut stop = shared.stop.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if *stop {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        stop = shared
            .wake
            .wait_timeout(stop, deadline - now)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

fn renew_loop(
    login: KerberosLogin,
    path: PathBuf,
    mut lifetime: Duration,
    policy: RenewPolicy,
    status: Arc<TicketStatus>,
    shared: Arc<Shared>,
) {
    let mut obtained = Instant::now();
    let mut next = obtained + policy.renew_after(lifetime);
    loop {
        if sleep_until(&shared, next) {
            return;
        }
        let expires = obtained + lifetime;
        match obtain(&login, &path) {
            Ok(l) => {
                lifetime = l;
                obtained = Instant::now();
                next = obtained + policy.renew_after(lifetime);
                status
                    .expires_at_unix
                    .store(unix_now() + l.as_secs() as i64, Ordering::Release);
                status.renewals.fetch_add(1, Ordering::Relaxed);
                info!(principal = %login.principal, lifetime_s = l.as_secs(), "Kerberos ticket renewed from the keytab");
            }
            Err(e) => {
                status.failed_renewals.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                if now >= expires {
                    let expired = KerberosError::Expired {
                        principal: login.principal.clone(),
                        keytab: login.keytab.clone(),
                        kdc: describe_kdc(&login.principal),
                        ago_s: (now - expires).as_secs(),
                        last_error: e.to_string(),
                    };
                    let mut g = shared.expiry.lock().unwrap_or_else(|p| p.into_inner());
                    match g.0.take() {
                        Some(hook) => {
                            drop(g);
                            hook(expired);
                        }
                        None => g.1 = Some(expired),
                    }
                    return;
                }
                let remaining = expires - now;
                warn!(
                    remaining_s = remaining.as_secs(),
                    "Kerberos ticket renewal failed (will retry; kmirror stops if the ticket expires first): {e}"
                );
                next = now + policy.retry_after(remaining).min(remaining);
            }
        }
    }
}

/// The GSS-API calls kmirror needs beyond libgssapi's wrappers. All unsafe
/// code of this module is here.
mod gss {
    use std::ffi::CString;
    use std::ptr;

    use libgssapi_sys as sys;

    /// A GSS-API failure: the minor (mechanism, i.e. krb5) status code and
    /// the library's text for it (or for the major code when it has none).
    #[derive(Debug)]
    pub struct Failure {
        pub minor: u32,
        pub message: String,
    }

    /// 1.2.840.113554.1.2.2, the Kerberos 5 mechanism.
    const KRB5_MECH: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
    /// 1.2.840.113554.1.2.2.1, GSS_KRB5_NT_PRINCIPAL_NAME.
    const KRB5_NT_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

    fn oid(bytes: &'static [u8]) -> sys::gss_OID_desc {
        sys::gss_OID_desc {
            length: bytes.len() as u32,
            // GSS-API never writes through an OID it is given.
            elements: bytes.as_ptr() as *mut _,
        }
    }

    /// The library's text for a status code (`kind` is GSS_C_GSS_CODE or
    /// GSS_C_MECH_CODE), all messages joined.
    fn status_text(code: u32, kind: u32) -> String {
        let mut mech = oid(KRB5_MECH);
        let mut parts = Vec::new();
        let mut context: u32 = 0;
        loop {
            let mut minor = 0;
            let mut buf = sys::gss_buffer_desc {
                length: 0,
                value: ptr::null_mut(),
            };
            // SAFETY: all pointers are to live locals; on success the
            // library allocates `buf`, released below.
            let major = unsafe {
                sys::gss_display_status(
                    &mut minor,
                    code,
                    kind as i32,
                    &mut mech,
                    &mut context,
                    &mut buf,
                )
            };
            if major != sys::GSS_S_COMPLETE {
                break;
            }
            if !buf.value.is_null() {
                // SAFETY: the library returned `length` bytes at `value`.
                let bytes =
                    unsafe { std::slice::from_raw_parts(buf.value as *const u8, buf.length) };
                parts.push(String::from_utf8_lossy(bytes).into_owned());
                // SAFETY: `buf` was allocated by gss_display_status.
                unsafe { sys::gss_release_buffer(&mut minor, &mut buf) };
            }
            if context == 0 {
                break;
            }
        }
        parts.join("; ")
    }

    fn failure(major: u32, minor: u32) -> Failure {
        let mut message = status_text(minor, sys::GSS_C_MECH_CODE);
        if message.is_empty() {
            message = status_text(major, 1 /* GSS_C_GSS_CODE */);
        }
        Failure { minor, message }
    }

    /// Obtains initiator credentials for `principal` from the client keytab
    /// `keytab` into the ccache `ccache` (MIT credential store). The ccache
    /// must be empty, so the KDC is asked for a fresh TGT. Returns its
    /// lifetime.
    pub fn acquire_from_keytab(
        principal: &str,
        keytab: &str,
        ccache: &str,
    ) -> Result<std::time::Duration, Failure> {
        let bad = |what: &str| Failure {
            minor: 0,
            message: format!("{what} contains a NUL byte"),
        };
        let keytab_c = CString::new(keytab).map_err(|_| bad("keytab path"))?;
        let ccache_c = CString::new(ccache).map_err(|_| bad("ccache name"))?;
        let mut minor: u32 = 0;
        let mut name_type = oid(KRB5_NT_PRINCIPAL);
        let mut name_buf = sys::gss_buffer_desc {
            length: principal.len(),
            // gss_import_name only reads the input buffer.
            value: principal.as_ptr() as *mut _,
        };
        let mut name: sys::gss_name_t = ptr::null_mut();
        // SAFETY: pointers to live locals; `name` receives an allocated
        // name on success, released below.
        let major =
            unsafe { sys::gss_import_name(&mut minor, &mut name_buf, &mut name_type, &mut name) };
        if major != sys::GSS_S_COMPLETE {
            return Err(failure(major, minor));
        }
        let mut mech = oid(KRB5_MECH);
        let mut mechs = sys::gss_OID_set_desc {
            count: 1,
            elements: &mut mech,
        };
        let mut elements = [
            sys::gss_key_value_element_desc {
                key: c"client_keytab".as_ptr(),
                value: keytab_c.as_ptr(),
            },
            sys::gss_key_value_element_desc {
                key: c"ccache".as_ptr(),
                value: ccache_c.as_ptr(),
            },
        ];
        let store = sys::gss_key_value_set_desc {
            count: elements.len() as u32,
            elements: elements.as_mut_ptr(),
        };
        let mut cred: sys::gss_cred_id_t = ptr::null_mut();
        let mut time_rec: u32 = 0;
        // SAFETY: `name` is a valid imported name; the OID set, the store
        // and the C strings it points to outlive the call; `cred` receives
        // an allocated credential on success, released below. With an empty
        // ccache and a client keytab, MIT gets a TGT from the KDC here.
        let major = unsafe {
            sys::gss_acquire_cred_from(
                &mut minor,
                name,
                sys::_GSS_C_INDEFINITE,
                &mut mechs,
                sys::GSS_C_INITIATE as i32,
                &store,
                &mut cred,
                ptr::null_mut(),
                &mut time_rec,
            )
        };
        let result = if major == sys::GSS_S_COMPLETE {
            Ok(std::time::Duration::from_secs(u64::from(time_rec)))
        } else {
            Err(failure(major, minor))
        };
        let mut m2 = 0;
        // SAFETY: `name` came from gss_import_name and is released once;
        // `cred` is released only if acquired (never null on success).
        unsafe {
            sys::gss_release_name(&mut m2, &mut name);
            if !cred.is_null() {
                sys::gss_release_cred(&mut m2, &mut cred);
            }
        }
        result
    }

    #[link(name = "gssapi_krb5")]
    extern "C" {
        /// MIT's per-thread default ccache (`gssapi/gssapi_krb5.h`): later
        /// GSS-API calls on this thread that use default credentials (as
        /// Cyrus SASL's GSSAPI plugin does) read this cache.
        fn gss_krb5_ccache_name(
            minor: *mut u32,
            name: *const std::os::raw::c_char,
            out_name: *mut *const std::os::raw::c_char,
        ) -> u32;
    }

    const INTERCEPTOR: &std::ffi::CStr = c"kmirror-krb5-ccache";

    /// A [`NativeConfigHook`](rdkafka::config::NativeConfigHook): adds the
    /// `on_new` interceptor that, in turn, adds [`on_thread_start`] to the
    /// client. `opaque` is a `&'static CStr` ccache name.
    ///
    /// # Safety
    /// `conf` must be a live librdkafka configuration and `opaque` the
    /// address of a NUL-terminated string that lives for the process.
    pub unsafe fn install_thread_ccache(
        conf: *mut rdkafka::types::RDKafkaConf,
        opaque: usize,
    ) -> rdkafka::error::KafkaResult<()> {
        use rdkafka::types::RDKafkaRespErr;
        // SAFETY: per this function's contract.
        let err = unsafe {
            rdkafka::bindings::rd_kafka_conf_interceptor_add_on_new(
                conf,
                INTERCEPTOR.as_ptr(),
                Some(on_new),
                opaque as *mut std::ffi::c_void,
            )
        };
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(rdkafka::error::KafkaError::ClientConfig(
                rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
                format!("adding the Kerberos ticket cache interceptor: {err:?}"),
                "interceptor".into(),
                INTERCEPTOR.to_string_lossy().into_owned(),
            ))
        }
    }

    /// librdkafka `on_new`: interceptors on the client's own threads can
    /// only be added here.
    unsafe extern "C" fn on_new(
        rk: *mut rdkafka::types::RDKafka,
        _conf: *const rdkafka::types::RDKafkaConf,
        opaque: *mut std::ffi::c_void,
        _errstr: *mut std::os::raw::c_char,
        _errstr_size: usize,
    ) -> rdkafka::types::RDKafkaRespErr {
        // SAFETY: librdkafka passes a live handle during rd_kafka_new.
        unsafe {
            rdkafka::bindings::rd_kafka_interceptor_add_on_thread_start(
                rk,
                INTERCEPTOR.as_ptr(),
                Some(on_thread_start),
                opaque,
            )
        }
    }

    /// librdkafka `on_thread_start`, on the new thread before it does any
    /// work (a broker thread connects and authenticates only after this).
    unsafe extern "C" fn on_thread_start(
        _rk: *mut rdkafka::types::RDKafka,
        _thread_type: rdkafka::bindings::rd_kafka_thread_type_t,
        _thread_name: *const std::os::raw::c_char,
        opaque: *mut std::ffi::c_void,
    ) -> rdkafka::types::RDKafkaRespErr {
        let mut minor = 0;
        // SAFETY: `opaque` is the process-lifetime ccache name given to
        // install_thread_ccache; the library copies it into thread-specific
        // storage.
        unsafe {
            gss_krb5_ccache_name(
                &mut minor,
                opaque as *const std::os::raw::c_char,
                ptr::null_mut(),
            )
        };
        rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn krb5_codes_map_to_their_causes() {
        let table = [
            (KRB5_KDC_UNREACH, Cause::KdcUnreachable),
            (KRB5_REALM_CANT_RESOLVE, Cause::KdcUnreachable),
            (KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, Cause::PrincipalUnknown),
            (KRB5KDC_ERR_PREAUTH_FAILED, Cause::StaleKeytab),
            (KRB5KRB_AP_ERR_BAD_INTEGRITY, Cause::StaleKeytab),
            (KRB5_KT_NOTFOUND, Cause::KeyNotInKeytab),
            (KRB5_KT_KVNONOTFOUND, Cause::KeyNotInKeytab),
            (KRB5KRB_AP_ERR_SKEW, Cause::ClockSkew),
            (KRB5KDC_ERR_CLIENT_REVOKED, Cause::PrincipalDisabled),
            (KRB5KDC_ERR_NAME_EXP, Cause::PrincipalExpired),
            (KRB5KDC_ERR_KEY_EXP, Cause::PrincipalExpired),
            (0x1234, Cause::Other),
        ];
        for (code, cause) in table {
            assert_eq!(classify(code), cause, "code {code}");
        }
        // The minor status arrives as an OM_uint32.
        assert_eq!(
            classify(KRB5_KDC_UNREACH as u32 as i32),
            Cause::KdcUnreachable
        );
    }

    #[test]
    fn each_cause_names_principal_keytab_and_kdc() {
        let login = KerberosLogin {
            principal: "mirrormaker/h@R".into(),
            keytab: "/k/mm.keytab".into(),
            sides: vec!["source".into()],
            slots: Vec::new(),
        };
        let causes = [
            (Cause::KdcUnreachable, "cannot be reached"),
            (Cause::PrincipalUnknown, "does not know principal"),
            (Cause::StaleKeytab, "keytab is stale"),
            (Cause::KeyNotInKeytab, "no usable key"),
            (Cause::ClockSkew, "clocks"),
            (Cause::PrincipalDisabled, "disabled"),
            (Cause::PrincipalExpired, "expired"),
            (Cause::Other, "KRB5_TRACE"),
        ];
        for (cause, phrase) in causes {
            let e = KerberosError::from_cause(cause, &login, "KDC-X".into(), "lib says".into())
                .to_string();
            for want in [
                "mirrormaker/h@R",
                "/k/mm.keytab",
                "KDC-X",
                "lib says",
                phrase,
            ] {
                assert!(e.contains(want), "{cause:?}: {want:?} missing in {e}");
            }
        }
    }

    #[test]
    fn principals_compare_with_default_realm() {
        assert!(same_principal("mm/h@R", "mm/h@R"));
        assert!(same_principal("mm/h", "mm/h@R"));
        assert!(!same_principal("mm/h@R", "mm/h@S"));
        assert!(!same_principal("mm/h@R", "mm2/h@R"));
    }

    #[test]
    fn krb5_conf_kdc_and_default_realm() {
        let text = "[libdefaults]\n default_realm = EX.COM\n[realms]\n OTHER = {\n  kdc = o:88\n }\n EX.COM = {\n  kdc = k1:88\n  admin_server = a\n  kdc = k2:750\n }\n[domain_realm]\n kdc = nope\n";
        assert_eq!(profile_default_realm(text).as_deref(), Some("EX.COM"));
        assert_eq!(profile_kdcs(text, "EX.COM"), vec!["k1:88", "k2:750"]);
        assert_eq!(profile_kdcs(text, "OTHER"), vec!["o:88"]);
        assert!(profile_kdcs(text, "NONE").is_empty());
    }

    #[test]
    fn renewal_well_before_expiry_and_bounded_retries() {
        let p = RenewPolicy::default();
        assert_eq!(
            p.renew_after(Duration::from_secs(100)),
            Duration::from_secs(60)
        );
        assert_eq!(
            p.retry_after(Duration::from_secs(40)),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.retry_after(Duration::from_secs(5)),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.retry_after(Duration::from_secs(36_000)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn no_hook_without_a_kept_ticket() {
        let slot = TicketSlot::default();
        assert!(slot.status().is_none());
        let mut cfg = rdkafka::config::ClientConfig::new();
        slot.install(&mut cfg);
        assert!(cfg.create_native_config().is_ok());
    }

    #[test]
    fn private_dir_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = private_dir().unwrap();
        let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        fs::remove_dir_all(&d).unwrap();
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn unreachable_kdc_is_reported_by_name() {
        // A realm whose KDC is a closed loopback port: the library's real
        // error path, without a KDC.
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.path().join("krb5.conf");
        fs::write(
            &conf,
            format!("[libdefaults]\n default_realm = NOKDC.TEST\n udp_preference_limit = 1\n[realms]\n NOKDC.TEST = {{\n  kdc = 127.0.0.1:{port}\n }}\n"),
        )
        .unwrap();
        let kt = crate::security::keytab::tests::write_keytab(
            dir.path(),
            "mm.keytab",
            "mirrormaker/localhost@NOKDC.TEST",
        );
        // The krb5 library reads KRB5_CONFIG when a context is created; this
        // test is the only one in this binary that uses Kerberos.
        std::env::set_var("KRB5_CONFIG", &conf);
        let login = KerberosLogin {
            principal: "mirrormaker/localhost@NOKDC.TEST".into(),
            keytab: kt.clone(),
            sides: vec!["source".into()],
            slots: Vec::new(),
        };
        let e = obtain(&login, &dir.path().join("cc")).unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, KerberosError::KdcUnreachable { .. }), "{s}");
        assert!(s.contains(&format!("127.0.0.1:{port}")), "{s}");
        assert!(s.contains(&kt.display().to_string()), "{s}");
    }
}
