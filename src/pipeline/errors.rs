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

/// Where sending a record failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// `send()` refused the record with this code: it never left kmirror.
    Enqueue(C),
    /// The delivery report carried this error: final for the record
    /// (librdkafka has already retried what was retriable).
    Delivery(C),
}

/// What to do with a record whose send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAction {
    /// The producer queue is full: wait for deliveries, send it again.
    Retry,
    /// The run is stopping and the record was never sent: it holds its
    /// partition's delivered prefix (it is mirrored again after a restart).
    /// Not a send failure, and never counted as delivered.
    Abandon,
    /// `--abort.on.send.failure=false`: skip the record, loudly, so the
    /// mirror goes on (MirrorMaker's old behaviour: data loss, on request).
    Drop,
    /// Stop the mirror; the committed offset stops before the record.
    Abort,
}

/// The one send-failure policy, for `send()` errors and delivery reports
/// alike. `stopping`: a shutdown or another stream's fatal error was
/// requested. A record is only ever dropped when it really failed and the
/// user asked for that; a record merely not sent because of a stop is never
/// counted as delivered.
pub fn on_send_failure(
    failure: SendFailure,
    stopping: bool,
    abort_on_send_failure: bool,
) -> SendAction {
    match failure {
        SendFailure::Enqueue(C::QueueFull) if stopping => SendAction::Abandon,
        SendFailure::Enqueue(C::QueueFull) => SendAction::Retry,
        // Purged from the producer on the way out (a producer dropped with
        // records still queued): never sent, not a send failure.
        SendFailure::Delivery(C::PurgeQueue | C::PurgeInflight) => SendAction::Abandon,
        SendFailure::Enqueue(_) | SendFailure::Delivery(_) if abort_on_send_failure => {
            SendAction::Abort
        }
        SendFailure::Enqueue(_) | SendFailure::Delivery(_) => SendAction::Drop,
    }
}

/// Commit errors worth retrying: the coordinator is moving, loading or
/// unreachable for a moment, or a rebalance is under way.
pub const RETRIABLE_COMMIT: &[C] = &[
    C::RebalanceInProgress,
    C::CoordinatorNotAvailable,
    C::NotCoordinator,
    C::CoordinatorLoadInProgress,
    C::RequestTimedOut,
    C::BrokerTransportFailure,
    C::AllBrokersDown,
    C::OperationTimedOut,
    C::WaitingForCoordinator,
    C::NetworkException,
];

/// Whether a commit error is worth retrying ([`RETRIABLE_COMMIT`]).
pub fn commit_retriable(code: C) -> bool {
    RETRIABLE_COMMIT.contains(&code)
}

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

/// Kerberos errors as librdkafka and MIT krb5 word them, and the section of
/// docs/kerberos.md that explains the cause and the fix.
pub const KERBEROS_DOCS: &[(&str, &str)] = &[
    (
        "Server not found in Kerberos database",
        "docs/kerberos.md#server-not-found-in-kerberos-database",
    ),
    (
        "No worthy mechs found",
        "docs/kerberos.md#no-worthy-mechs-found",
    ),
    (
        "Clock skew too great",
        "docs/kerberos.md#clock-skew-too-great",
    ),
    (
        "Cannot find key of appropriate type to decrypt AP REQ",
        "docs/kerberos.md#cannot-find-key-of-appropriate-type-to-decrypt-ap-req",
    ),
    (
        "Client not found in Kerberos database",
        "docs/kerberos.md#client-not-found-in-kerberos-database",
    ),
    (
        "Preauthentication failed",
        "docs/kerberos.md#preauthentication-failed",
    ),
];

/// ` (see <the section>)` when `message` holds a Kerberos error the
/// docs explain; empty otherwise.
pub fn kerberos_doc_hint(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    KERBEROS_DOCS
        .iter()
        .find(|(text, _)| lower.contains(&text.to_ascii_lowercase()))
        .map(|(_, doc)| format!(" (see {doc})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kerberos_errors_point_to_their_section() {
        let m = "SASL authentication error: GSSAPI Error: Unspecified GSS failure (Server not found in Kerberos database)";
        assert_eq!(
            kerberos_doc_hint(m),
            " (see docs/kerberos.md#server-not-found-in-kerberos-database)"
        );
        assert_eq!(kerberos_doc_hint("Broker transport failure"), "");
    }

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
        assert!(client_error_is_fatal(C::Authentication));
        assert!(!client_error_is_fatal(C::AllBrokersDown));
    }

    /// Case 4 and the design item: the whole send-failure policy, one row
    /// per (failure, stopping, --abort.on.send.failure).
    #[test]
    fn send_failure_policy_table() {
        use SendAction::*;
        use SendFailure::*;
        let too_large = Enqueue(C::MessageSizeTooLarge);
        let full = Enqueue(C::QueueFull);
        let rejected = Delivery(C::MessageSizeTooLarge);
        let purged = Delivery(C::PurgeInflight);
        let purged_queued = Delivery(C::PurgeQueue);
        #[rustfmt::skip]
        let table = [
            // failure,   stopping, abort, action
            (full,        false,    true,  Retry),
            (full,        false,    false, Retry),
            // A stop while the queue is full: the record was never sent.
            // It must hold the prefix, not be dropped and counted delivered.
            (full,        true,     true,  Abandon),
            (full,        true,     false, Abandon),
            (too_large,   false,    true,  Abort),
            (too_large,   true,     true,  Abort),
            (too_large,   false,    false, Drop),
            (too_large,   true,     false, Drop),
            (rejected,    false,    true,  Abort),
            (rejected,    true,     true,  Abort),
            (rejected,    false,    false, Drop),
            (rejected,    true,     false, Drop),
            // Purged when the producer is dropped on the way out: never
            // sent, so neither a send failure nor a dropped record.
            (purged,      true,     true,  Abandon),
            (purged,      true,     false, Abandon),
            (purged_queued, true,   false, Abandon),
        ];
        for (failure, stopping, abort, want) in table {
            assert_eq!(
                on_send_failure(failure, stopping, abort),
                want,
                "{failure:?}, stopping={stopping}, abort={abort}"
            );
        }
    }
}
