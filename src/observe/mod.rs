//! Observability: metrics and health endpoint, progress lines, and
//! `kmirror lag`.
//!
//! - [`metrics`]: the Prometheus registry the pipeline updates.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` on `--metrics.addr`.
//! - [`lag`]: the `kmirror lag` report.
//! - [`audit`]: the keyed, anchored audit trail and `kmirror audit verify`.
//! - [`verify`]: `kmirror verify`, source against target up to the commits.

pub mod audit;
pub mod http;
pub mod lag;
pub mod metrics;
pub mod verify;

use std::time::Duration;

/// Observability options of a mirror run (from the command line).
#[derive(Debug, Clone)]
pub struct ObserveOptions {
    /// `--metrics.addr HOST:PORT`: serve metrics and health there; off when `None`.
    pub metrics_addr: Option<String>,
    /// `--progress.interval.ms`: how often to log a progress line (default 30 s).
    pub progress_interval: Duration,
    /// `--audit.log FILE`: append one entry per committed range; off when `None`.
    pub audit_log: Option<std::path::PathBuf>,
    /// `--audit.anchor FILE`: where the trail's anchor goes (default: `FILE.anchor`).
    pub audit_anchor: Option<std::path::PathBuf>,
    /// `--audit.key FILE`, loaded: seals the trail. Required with
    /// `audit_log` unless `audit_unkeyed`.
    pub audit_key: Option<std::sync::Arc<audit::key::AuditKey>>,
    /// `--audit.unkeyed`: accept a trail without a key (plain SHA-256,
    /// which whoever can write the file can recompute). Default false.
    pub audit_unkeyed: bool,
}

impl ObserveOptions {
    /// Opens the audit trail when one is asked for: sealed with the key,
    /// or unkeyed only when that was asked for explicitly; a trail
    /// without either is refused ([`audit::AuditError::NoKey`]).
    pub fn open_audit_log(
        &self,
        target_principal: &str,
    ) -> Result<Option<audit::AuditLog>, audit::AuditError> {
        let Some(path) = &self.audit_log else {
            return Ok(None);
        };
        let seal = match (&self.audit_key, self.audit_unkeyed) {
            (Some(k), _) => audit::Seal::Keyed(k.clone()),
            (None, true) => {
                tracing::warn!(path = %path.display(), "--audit.unkeyed: the audit trail is NOT authenticated; anyone who can write it can rewrite it undetected");
                audit::Seal::Unkeyed
            }
            (None, false) => return Err(audit::AuditError::NoKey { path: path.clone() }),
        };
        audit::AuditLog::open(path, self.audit_anchor.as_deref(), seal, target_principal).map(Some)
    }
}

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions {
            metrics_addr: None,
            progress_interval: Duration::from_secs(30),
            audit_log: None,
            audit_anchor: None,
            audit_key: None,
            audit_unkeyed: false,
        }
    }
}

/// Totals a progress line is computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSample {
    /// Records acknowledged so far.
    pub records: u64,
    /// Bytes acknowledged so far.
    pub bytes: u64,
    /// Records in flight now.
    pub in_flight: usize,
}

/// Records per second between two samples taken `elapsed` apart.
pub fn rate(prev: &ProgressSample, now: &ProgressSample, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    now.records.saturating_sub(prev.records) as f64 / secs
}

/// How long ago, in whole seconds, a Unix-millisecond time was; `None`
/// before the first commit.
pub fn seconds_since(unix_ms: Option<u64>) -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    unix_ms.map(|t| now.saturating_sub(t) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_log_needs_a_key_or_an_explicit_unkeyed() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = ObserveOptions {
            audit_log: Some(dir.path().join("a.jsonl")),
            ..Default::default()
        };
        assert!(matches!(
            o.open_audit_log("A"),
            Err(audit::AuditError::NoKey { .. })
        ));
        assert!(!dir.path().join("a.jsonl").exists());
        o.audit_unkeyed = true;
        assert!(o.open_audit_log("A").unwrap().is_some());
        assert!(ObserveOptions::default()
            .open_audit_log("A")
            .unwrap()
            .is_none());
    }

    #[test]
    fn rate_is_records_per_second_between_samples() {
        let a = ProgressSample {
            records: 100,
            ..Default::default()
        };
        let b = ProgressSample {
            records: 400,
            ..Default::default()
        };
        assert_eq!(rate(&a, &b, Duration::from_secs(3)), 100.0);
        assert_eq!(rate(&a, &b, Duration::ZERO), 0.0);
        assert_eq!(seconds_since(None), None);
        assert!(seconds_since(Some(1)).unwrap() > 1_000_000);
    }
}
