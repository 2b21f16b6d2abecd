//! Target stalls made visible (issue #18, case 2; issue #20, item 7).
//! Deliveries to an unreachable target wait without a time limit (unless
//! `--delivery.timeout.ms`); while they wait, the run says so: the
//! `kmirror_target_stall_seconds` gauge, `/readyz` answering
//! `target_stalled`, and a warning line every minute.

use std::time::{Duration, Instant};

/// How long records may wait with no acknowledgement at all before the
/// target counts as stalled. Long enough that a leader election or a busy
/// broker does not flap readiness; short against an outage.
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(10);

/// How often a continuing stall is logged again.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(60);

/// Follows the acknowledged-records counter, sampled about once a second.
pub(crate) struct StallWatch {
    records: u64,
    /// When the target last acknowledged something, or nothing was waiting.
    progress_at: Instant,
    warned_at: Option<Instant>,
}

/// What a sample found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stall {
    /// Acknowledgements arrive, or nothing waits.
    None,
    /// Stalled this long; `warn` when a warning line is due.
    Stalled { age: Duration, warn: bool },
}

impl StallWatch {
    /// A watch starting at `records` acknowledged records.
    pub fn new(records: u64, now: Instant) -> Self {
        StallWatch {
            records,
            progress_at: now,
            warned_at: None,
        }
    }

    /// One sample: `records` acknowledged so far, `in_flight` waiting.
    pub fn sample(&mut self, records: u64, in_flight: usize, now: Instant) -> Stall {
        if records != self.records || in_flight == 0 {
            self.records = records;
            self.progress_at = now;
            self.warned_at = None;
            return Stall::None;
        }
        let age = now.saturating_duration_since(self.progress_at);
        if age < STALL_AFTER {
            return Stall::None;
        }
        let warn = self
            .warned_at
            .is_none_or(|t| now.saturating_duration_since(t) >= WARN_EVERY);
        if warn {
            self.warned_at = Some(now);
        }
        Stall::Stalled { age, warn }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_waiting_records_without_acknowledgements() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = StallWatch::new(0, t0);
        // Nothing waiting: never a stall, however long.
        assert_eq!(w.sample(0, 0, t0 + s(100)), Stall::None);
        // Records wait from t0+100 on, with no acknowledgement.
        assert_eq!(w.sample(0, 5, t0 + s(105)), Stall::None);
        assert_eq!(
            w.sample(0, 5, t0 + s(110)),
            Stall::Stalled {
                age: s(10),
                warn: true
            }
        );
        assert_eq!(
            w.sample(0, 5, t0 + s(169)),
            Stall::Stalled {
                age: s(69),
                warn: false
            }
        );
        assert_eq!(
            w.sample(0, 5, t0 + s(170)),
            Stall::Stalled {
                age: s(70),
                warn: true
            }
        );
        // One acknowledgement ends it.
        assert_eq!(w.sample(1, 5, t0 + s(171)), Stall::None);
        assert_eq!(w.sample(1, 5, t0 + s(175)), Stall::None);
    }
}
