//! The evidence log: one JSON object per line for every authentication and
//! every authorization denial, so tests can prove which principal reached
//! which cluster and what it was refused.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One line of the evidence log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    /// A SASL authentication attempt finished (either way).
    Authentication {
        /// Milliseconds since the Unix epoch.
        ts_ms: u64,
        /// The listener's own address, naming the cluster.
        listener: String,
        /// The client's address.
        peer: String,
        /// `GSSAPI`, `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `SSL`.
        mechanism: String,
        /// The authenticated name (`mirrormaker/localhost@REALM`, `alice`),
        /// or what the client claimed when authentication failed, if known.
        principal: Option<String>,
        /// The Kafka principal (`User:mirrormaker`) on success.
        kafka_principal: Option<String>,
        /// Whether authentication succeeded.
        success: bool,
        /// Why it failed.
        error: Option<String>,
        /// Whether this was a re-authentication (KIP-368) on a connection
        /// that had authenticated before.
        #[serde(default)]
        reauthentication: bool,
        /// GSSAPI: when the service ticket the client presented expires
        /// (ms since the Unix epoch, whole seconds), from the GSS context's
        /// lifetime at accept time less the realm's clock-skew allowance,
        /// by which MIT's acceptor lets the context outlive the ticket.
        #[serde(default)]
        ticket_expiry_ms: Option<u64>,
        /// The session lifetime sent to the client (KIP-368), if any: it
        /// must re-authenticate within it.
        #[serde(default)]
        session_lifetime_ms: Option<u64>,
    },
    /// An operation was refused by the ACLs.
    AuthorizationDenied {
        /// Milliseconds since the Unix epoch.
        ts_ms: u64,
        /// The listener's own address, naming the cluster.
        listener: String,
        /// The client's address.
        peer: String,
        /// The Kafka principal, e.g. `User:mirrormaker`.
        principal: String,
        /// The request's api name, e.g. `Produce`.
        api: String,
        /// The refused operation, e.g. `WRITE`.
        operation: String,
        /// The resource type, e.g. `TOPIC`.
        resource_type: String,
        /// The resource name.
        resource_name: String,
        /// The authorizer's explanation.
        reason: String,
    },
}

/// Milliseconds since the Unix epoch, for event timestamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Appends events to the evidence log (if one is configured), one flushed
/// line each, so a test reading the file concurrently sees whole lines.
#[derive(Debug)]
pub struct AuditLog {
    file: Option<Mutex<File>>,
}

impl AuditLog {
    /// Opens `path` for appending, or logs nowhere when `None`.
    pub fn open(path: Option<&Path>) -> Result<AuditLog> {
        let file = match path {
            Some(p) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening audit log {}", p.display()))?,
            )),
            None => None,
        };
        Ok(AuditLog { file })
    }

    /// Writes one event as a JSON line. Failures go to the tracing log
    /// rather than failing the client's request.
    pub fn record(&self, event: &AuditEvent) {
        tracing::info!(target: "kmirror_listener::audit", ?event);
        let Some(file) = &self.file else { return };
        let mut line = match serde_json::to_string(event) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("serializing audit event: {e}");
                return;
            }
        };
        line.push('\n');
        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()).and_then(|_| f.flush()) {
            tracing::error!("writing audit log: {e}");
        }
    }
}

/// Reads every event from an evidence log file (for tests). Lines that do
/// not parse are an error, since the listener writes only whole lines.
pub fn read_events(path: &Path) -> Result<Vec<AuditEvent>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("parsing audit line {l:?}")))
        .collect()
}
