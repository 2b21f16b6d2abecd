//! Per-partition offset tracking: which source offsets may be committed.
//!
//! Records of one source partition are sent in offset order, but the target
//! acknowledges them in any order (they go to different target partitions
//! and producers). The committable offset is the one after the longest
//! *contiguous* prefix of sent records that the target has acknowledged: a
//! record that failed or is still in flight holds the prefix back, so a
//! commit never passes a record the target does not have.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InFlight,
    Delivered,
    Failed,
}

/// Offsets sent but not yet part of the delivered prefix, for one partition.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Sent records in offset order; the front is the oldest not yet in the prefix.
    window: VecDeque<(i64, State)>,
    in_flight: usize,
    /// The offset after the delivered prefix (what a commit stores).
    committable: Option<i64>,
    /// What was last committed.
    committed: Option<i64>,
    first_failed: Option<i64>,
}

/// An offset went backwards: the consumer re-read a record it had already
/// handed over. The pipeline treats this as a bug-level failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("offset {offset} sent after {last}: offsets must increase within an assignment")]
pub struct NotIncreasing {
    /// The offset sent.
    pub offset: i64,
    /// The last offset sent before it.
    pub last: i64,
}

impl OffsetTracker {
    /// A tracker for a partition whose committed offset is `committed`.
    pub fn new(committed: Option<i64>) -> Self {
        OffsetTracker {
            committed,
            ..Default::default()
        }
    }

    /// A tracker for a partition the group never committed, starting at
    /// `start`: the start itself is committable (nothing before it is to
    /// be mirrored), so it is committed like a delivered prefix.
    pub fn starting_at(start: i64) -> Self {
        OffsetTracker {
            committable: Some(start),
            ..Default::default()
        }
    }

    /// Records that `offset` was handed to a producer.
    pub fn sent(&mut self, offset: i64) -> Result<(), NotIncreasing> {
        if let Some(&(last, _)) = self.window.back() {
            if offset <= last {
                return Err(NotIncreasing { offset, last });
            }
        } else if let Some(c) = self.committable {
            if offset < c {
                return Err(NotIncreasing {
                    offset,
                    last: c - 1,
                });
            }
        }
        self.window.push_back((offset, State::InFlight));
        self.in_flight += 1;
        Ok(())
    }

    /// The window index of `offset`. Offsets are usually contiguous, so the
    /// index is first guessed from the front offset; gaps (compacted topics,
    /// transaction markers) fall back to a binary search.
    fn index_of(&self, offset: i64) -> Option<usize> {
        let &(front, _) = self.window.front()?;
        let guess = usize::try_from(offset - front).ok()?;
        if self.window.get(guess).is_some_and(|&(o, _)| o == offset) {
            return Some(guess);
        }
        self.window.binary_search_by_key(&offset, |&(o, _)| o).ok()
    }

    fn resolve(&mut self, offset: i64, state: State) -> bool {
        let Some(i) = self.index_of(offset) else {
            return false;
        };
        if self.window[i].1 != State::InFlight {
            return false;
        }
        self.window[i].1 = state;
        self.in_flight -= 1;
        while let Some(&(o, State::Delivered)) = self.window.front() {
            self.committable = Some(o + 1);
            self.window.pop_front();
        }
        true
    }

    /// The target acknowledged `offset`. Returns false if it was not in flight.
    pub fn delivered(&mut self, offset: i64) -> bool {
        self.resolve(offset, State::Delivered)
    }

    /// Sending `offset` failed for good: the prefix stops before it forever.
    pub fn failed(&mut self, offset: i64) -> bool {
        let ok = self.resolve(offset, State::Failed);
        if ok {
            self.first_failed = Some(self.first_failed.map_or(offset, |f| f.min(offset)));
        }
        ok
    }

    /// The offset after the delivered prefix, if anything was delivered.
    pub fn committable(&self) -> Option<i64> {
        self.committable
    }

    /// The committable offset, if it differs from what was last committed.
    pub fn needs_commit(&self) -> Option<i64> {
        match (self.committable, self.committed) {
            (Some(c), Some(done)) if c <= done => None,
            (c, _) => c,
        }
    }

    /// Records a successful commit of `offset`.
    pub fn mark_committed(&mut self, offset: i64) {
        self.committed = Some(self.committed.map_or(offset, |c| c.max(offset)));
    }

    /// The last committed offset.
    pub fn committed(&self) -> Option<i64> {
        self.committed
    }

    /// Records sent and neither delivered nor failed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The first offset whose send failed, if any.
    pub fn first_failed(&self) -> Option<i64> {
        self.first_failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prefix_waits_for_the_oldest() {
        let mut t = OffsetTracker::new(None);
        for o in [10, 11, 13, 14] {
            t.sent(o).unwrap();
        }
        assert!(t.delivered(11));
        assert_eq!(t.committable(), None);
        assert!(t.delivered(10));
        assert_eq!(t.committable(), Some(12));
        assert!(t.failed(13));
        assert!(t.delivered(14));
        assert_eq!(
            t.committable(),
            Some(12),
            "a failed record holds the prefix"
        );
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.first_failed(), Some(13));
        assert!(!t.delivered(13), "already resolved");
        assert!(t.sent(12).is_err());
    }

    #[test]
    fn offsets_never_sent_are_not_resolved() {
        let mut t = OffsetTracker::new(None);
        for o in [10, 11, 20, 21] {
            t.sent(o).unwrap();
        }
        // 9 is before the window, 12 sits where a contiguous guess would
        // land on 20, 22 is past the end: none of them was sent.
        for o in [9, 12, 15, 22] {
            assert!(!t.delivered(o), "{o}");
        }
        // 20 and 21 are found past the gap (the guess misses, the search hits).
        assert!(t.delivered(21));
        assert!(t.delivered(20));
        assert!(t.delivered(10));
        assert_eq!(t.committable(), Some(11), "11 is still in flight");
        assert!(t.delivered(11));
        assert_eq!(t.committable(), Some(22));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn commit_bookkeeping() {
        let mut t = OffsetTracker::new(Some(5));
        assert_eq!(t.needs_commit(), None);
        t.sent(5).unwrap();
        t.delivered(5);
        assert_eq!(t.needs_commit(), Some(6));
        t.mark_committed(6);
        assert_eq!(t.needs_commit(), None);
        assert_eq!(t.committed(), Some(6));
    }

    #[test]
    fn a_new_start_is_committable_until_committed() {
        let mut t = OffsetTracker::starting_at(40);
        assert_eq!(t.needs_commit(), Some(40));
        assert!(t.sent(39).is_err(), "before the start");
        t.sent(40).unwrap();
        assert_eq!(t.needs_commit(), Some(40), "40 is not delivered yet");
        t.mark_committed(40);
        assert_eq!(t.needs_commit(), None);
        t.delivered(40);
        assert_eq!(t.needs_commit(), Some(41));
    }

    #[derive(Debug, Clone)]
    enum Outcome {
        Deliver,
        Fail,
        Pending,
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Whatever the order of acknowledgements and failures, the
        /// committable offset is exactly the one after the longest prefix
        /// of sent offsets that were all delivered.
        #[test]
        fn committable_is_contiguous_delivered_prefix(
            gaps in proptest::collection::vec(1i64..4, 1..60),
            outcomes in proptest::collection::vec(prop_oneof![
                8 => Just(Outcome::Deliver), 1 => Just(Outcome::Fail), 1 => Just(Outcome::Pending)], 60),
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 60),
        ) {
            let mut offsets = Vec::new();
            let mut o = 100;
            for g in &gaps { o += g; offsets.push(o); }
            let mut t = OffsetTracker::new(None);
            for &o in &offsets { t.sent(o).unwrap(); }
            let mut resolved: Vec<Option<bool>> = vec![None; offsets.len()];
            let mut remaining: Vec<usize> = (0..offsets.len()).collect();
            for (step, idx) in order.iter().enumerate() {
                if remaining.is_empty() { break; }
                let pick = remaining.remove(idx.index(remaining.len()));
                match outcomes[step % outcomes.len()] {
                    Outcome::Deliver => { t.delivered(offsets[pick]); resolved[pick] = Some(true); }
                    Outcome::Fail => { t.failed(offsets[pick]); resolved[pick] = Some(false); }
                    Outcome::Pending => {}
                }
                let prefix = resolved.iter().take_while(|r| **r == Some(true)).count();
                let want = if prefix == 0 { None } else { Some(offsets[prefix - 1] + 1) };
                prop_assert_eq!(t.committable(), want);
                let in_flight = resolved.iter().filter(|r| r.is_none()).count();
                prop_assert_eq!(t.in_flight(), in_flight);
            }
        }
    }
}
