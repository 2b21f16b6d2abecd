//! Which librdkafka errors are retriable and which stop kmirror.
//!
//! librdkafka retries retriable produce errors internally (kmirror sets
//! unbounded retries, bounded in time only by `--delivery.timeout.ms`), so a
//! delivery report carrying an error is final for that record: every
//! delivery error is a send failure. These lists decide the rest: errors
//! seen while consuming, from `send()`, and from commits.

use rdkafka::types::RDKafkaErrorCode as C;

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transient: librdkafka recovers by itself; log and continue.
    Retriable,
    /// The producer queue is full: wait for deliveries, then send again.
    Backpressure,
    /// Stop: commit the delivered prefix and exit non-zero.
    Fatal,
}

/// Errors from the consumer's poll or error events that librdkafka recovers
/// from on its own (reconnects, leader changes, coordinator moves).
pub const RETRIABLE_CONSUMER: &[C] = &[
    C::BrokerTransportFailure,
    C::AllBrokersDown,
    C::Resolve,
    C::BrokerNotAvailable,
    C::LeaderNotAvailable,
    C::NotLeaderForPartition,
    C::RequestTimedOut,
    C::NetworkException,
    C::CoordinatorNotAvailable,
    C::NotCoordinator,
    C::CoordinatorLoadInProgress,
    C::RebalanceInProgress,
    C::UnknownTopicOrPartition,
    C::PartitionEOF,
    C::OperationTimedOut,
    C::ReplicaNotAvailable,
    C::KafkaStorageError,
    C::FencedLeaderEpoch,
    C::UnknownLeaderEpoch,
    C::OffsetNotAvailable,
    C::PreferredLeaderNotAvailable,
];

/// Errors that stop the mirror: lost source data, authentication and
/// authorization failures, and librdkafka's own fatal errors.
pub const FATAL_CONSUMER: &[C] = &[
    C::AutoOffsetReset,
    C::OffsetOutOfRange,
    C::TopicAuthorizationFailed,
    C::GroupAuthorizationFailed,
    C::ClusterAuthorizationFailed,
    C::Authentication,
    C::SaslAuthenticationFailed,
    C::Fatal,
    C::InvalidGroupId,
    C::UnsupportedSASLMechanism,
    C::IllegalSASLState,
    C::SSL,
];

/// Classifies an error seen while consuming. Unknown errors are fatal: it is
/// safer to stop and say so than to continue past something not understood.
pub fn consumer_error(code: C) -> Disposition {
    if RETRIABLE_CONSUMER.contains(&code) {
        Disposition::Retriable
    } else {
        Disposition::Fatal
    }
}

/// Classifies an error returned by `send()` (before the record is queued).
pub fn send_error(code: C) -> Disposition {
    match code {
        C::QueueFull => Disposition::Backpressure,
        _ => Disposition::Fatal,
    }
}

/// Commit errors after which the next commit (or the revoke handler) will
/// succeed; anything else is logged as a warning too, because offsets that
/// fail to commit are only replayed, never lost.
pub const RETRIABLE_COMMIT: &[C] = &[
    C::RebalanceInProgress,
    C::CoordinatorNotAvailable,
    C::NotCoordinator,
    C::CoordinatorLoadInProgress,
    C::RequestTimedOut,
    C::BrokerTransportFailure,
    C::AllBrokersDown,
    C::NoOffset,
];

/// Errors reported through a client's error callback that mean the client
/// cannot work at all (as opposed to a connection blip).
pub fn client_error_is_fatal(code: C) -> bool {
    matches!(
        code,
        C::Authentication
            | C::SaslAuthenticationFailed
            | C::Fatal
            | C::ClusterAuthorizationFailed
            | C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_disjoint_and_classified() {
        for c in RETRIABLE_CONSUMER {
            assert!(!FATAL_CONSUMER.contains(c), "{c:?} in both lists");
            assert_eq!(consumer_error(*c), Disposition::Retriable);
        }
        for c in FATAL_CONSUMER {
            assert_eq!(consumer_error(*c), Disposition::Fatal);
        }
        assert_eq!(
            consumer_error(C::InvalidMessage),
            Disposition::Fatal,
            "unknown errors stop"
        );
        assert_eq!(send_error(C::QueueFull), Disposition::Backpressure);
        assert_eq!(send_error(C::MessageSizeTooLarge), Disposition::Fatal);
        assert!(client_error_is_fatal(C::Authentication));
        assert!(!client_error_is_fatal(C::AllBrokersDown));
    }
}
