//! The broker questions `kmirror check` asks that rust-rdkafka's
//! `AdminClient` cannot: DescribeAcls and the KIP-430 "authorized
//! operations" of topics, the cluster and a consumer group.
//!
//! librdkafka has them in its C API; this module is the only place kmirror
//! calls them. Every C object lives in an RAII wrapper that destroys it
//! exactly once, every `unsafe` block says why it is sound, and only owned
//! Rust values leave the module.
//!
//! Two librdkafka 2.12 behaviours shape the API:
//! - DescribeAcls drops the broker's top-level error code
//!   (`rd_kafka_DescribeAclsResponse_parse` reads it into a local and
//!   carries on), so a refused request looks like an empty ACL list.
//!   [`AclAdmin::describe_acls`] therefore treats an empty answer as
//!   suspect and asks the broker whether the principal may describe the
//!   cluster before trusting it.
//! - A broker computes cluster authorized operations only for principals
//!   with DESCRIBE on the cluster and otherwise answers 0, so an empty
//!   cluster list means "not revealed", not "nothing allowed".

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, c_int, CStr, CString};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};
use rdkafka::types::RDKafkaErrorCode;

use super::acl::{
    AclBinding, AclBindingFilter, AclError, Operation, PatternType, Permission, ResourceType,
};

/// Extra time given to the result queue beyond the request timeout, so that
/// librdkafka's own timeout error (which names the broker state) arrives
/// before kmirror gives up waiting.
const QUEUE_GRACE: Duration = Duration::from_secs(5);

/// Size of the buffers librdkafka writes option errors into.
const ERRSTR_LEN: usize = 512;

/// A failed admin request, classified so that `kmirror check` can tell
/// "the principal may not ask" (the check is unverified) from "the request
/// broke" (the cluster or configuration is at fault).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The broker refused the request for lack of permission
    /// (`CLUSTER_AUTHORIZATION_FAILED`, …) or because it runs without an
    /// authorizer (`SECURITY_DISABLED`).
    #[error("{request}: not authorized: {reason}")]
    NotAuthorized {
        /// The admin request, e.g. `DescribeAcls`.
        request: &'static str,
        /// The broker's error code, or `None` when kmirror inferred the refusal.
        code: Option<RDKafkaErrorCode>,
        /// What the broker said, or how the refusal was inferred.
        reason: String,
    },
    /// The broker (or librdkafka) does not implement the request.
    #[error("{request}: not supported by the broker: {reason}")]
    Unsupported {
        /// The admin request.
        request: &'static str,
        /// librdkafka's explanation.
        reason: String,
    },
    /// No answer arrived in time.
    #[error(
        "{request}: no answer within {timeout:?}: {reason}. Check that the brokers are reachable"
    )]
    Timeout {
        /// The admin request.
        request: &'static str,
        /// The time allowed.
        timeout: Duration,
        /// librdkafka's explanation, if it gave one.
        reason: String,
    },
    /// An empty DescribeAcls answer that could be a silent refusal (see the
    /// module documentation) and that the broker would not help resolve.
    #[error("{request}: the broker returned no ACLs, which librdkafka also reports when the request was refused; {reason}")]
    Inconclusive {
        /// The admin request.
        request: &'static str,
        /// Why the answer could not be confirmed.
        reason: String,
    },
    /// The filter cannot be sent (UNKNOWN field, a value librdkafka has no
    /// constant for, an interior NUL byte).
    #[error("{request}: invalid request: {reason}")]
    Invalid {
        /// The admin request.
        request: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other failure, with the broker's or librdkafka's error.
    #[error("{request} failed: {reason} ({code:?})")]
    Failed {
        /// The admin request.
        request: &'static str,
        /// The error code.
        code: RDKafkaErrorCode,
        /// The error text.
        reason: String,
    },
}

impl AdminError {
    /// Whether the principal is not allowed to make this request, as opposed
    /// to the request failing.
    pub fn is_not_authorized(&self) -> bool {
        matches!(self, AdminError::NotAuthorized { .. })
    }

    /// Classifies an error code from an admin result.
    fn from_code(
        request: &'static str,
        code: RDKafkaErrorCode,
        reason: String,
        timeout: Duration,
    ) -> Self {
        use RDKafkaErrorCode as E;
        match code {
            E::ClusterAuthorizationFailed
            | E::TopicAuthorizationFailed
            | E::GroupAuthorizationFailed
            | E::SecurityDisabled => AdminError::NotAuthorized {
                request,
                code: Some(code),
                reason,
            },
            E::UnsupportedVersion | E::UnsupportedFeature | E::InvalidRequest => {
                AdminError::Unsupported { request, reason }
            }
            E::OperationTimedOut | E::RequestTimedOut => AdminError::Timeout {
                request,
                timeout,
                reason,
            },
            _ => AdminError::Failed {
                request,
                code,
                reason,
            },
        }
    }
}

/// What a broker reported about the operations kmirror's principal may
/// perform on one resource (KIP-430).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "operations", rename_all = "snake_case")]
pub enum AuthorizedOps {
    /// The broker listed the allowed operations (in code order).
    Listed(Vec<Operation>),
    /// The broker refused to describe the resource
    /// (`TOPIC_`/`GROUP_AUTHORIZATION_FAILED`, or an empty cluster answer),
    /// so the principal has no usable DESCRIBE on it.
    DescribeDenied,
    /// The broker answered without the operations: it predates KIP-430
    /// (Kafka 2.3) or omits them.
    NotReturned,
    /// The topic does not exist.
    Missing,
}

/// DescribeAcls and KIP-430 queries through a borrowed rdkafka client.
///
/// Each call creates its own result queue and blocks on it for at most the
/// given timeout (plus a short grace), which suits a one-off preflight.
pub struct AclAdmin<'a> {
    /// The client's handle; valid for `'a` because the client is borrowed.
    rk: NonNull<rd::rd_kafka_t>,
    /// Where requests go; `None` means the controller, librdkafka's default.
    broker: Option<i32>,
    _client: PhantomData<&'a ()>,
}

impl<'a> AclAdmin<'a> {
    /// Wraps any rdkafka client (admin, consumer or producer); admin
    /// requests work on every client type.
    pub fn new<C: ClientContext>(client: &'a Client<C>) -> Self {
        let rk = NonNull::new(client.native_ptr())
            .expect("an rdkafka Client always holds a non-null rd_kafka_t");
        AclAdmin {
            rk,
            broker: None,
            _client: PhantomData,
        }
    }

    /// Sends every request to broker `broker_id` instead of the controller
    /// the cluster's metadata names. Any broker can answer these requests;
    /// this helps when the named controller is unreachable (and with
    /// librdkafka's mock cluster, which names none).
    pub fn via_broker(mut self, broker_id: i32) -> Self {
        self.broker = Some(broker_id);
        self
    }

    /// The ACLs matching `filter` (DescribeAcls). Needs DESCRIBE on the
    /// cluster.
    ///
    /// An empty answer is only returned when the broker confirms the
    /// principal may describe the cluster; otherwise the refusal librdkafka
    /// hid becomes [`AdminError::NotAuthorized`] or
    /// [`AdminError::Inconclusive`].
    pub fn describe_acls(
        &self,
        filter: &AclBindingFilter,
        timeout: Duration,
    ) -> Result<Vec<AclBinding>, AdminError> {
        const REQUEST: &str = "DescribeAcls";
        let native = Filter::new(REQUEST, filter)?;
        let event = self.request(
            REQUEST,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
            false,
            timeout,
            rd::RD_KAFKA_EVENT_DESCRIBEACLS_RESULT,
            // SAFETY: `rk` is live (borrowed client); `native`, `options`
            // and `queue` are live for the call and librdkafka copies the
            // filter (`rd_kafka_AclBindingFilter_copy`) before returning.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DescribeAcls(rk, native.0.as_ptr(), options, queue)
            },
        )?;
        // SAFETY: the event is a DESCRIBEACLS_RESULT (checked by `request`),
        // so the accessor returns its result, owned by the event.
        let result = unsafe { rd::rd_kafka_event_DescribeAcls_result(event.0.as_ptr()) };
        let mut count = 0usize;
        // SAFETY: `result` belongs to the live `event`; the array and the
        // bindings in it stay valid until the event is destroyed, which
        // happens after they are copied into owned values below.
        let acls = unsafe {
            let array = rd::rd_kafka_DescribeAcls_result_acls(result, &mut count);
            slice_of(array, count)
                .iter()
                .map(|b| binding_from_native(*b))
                .collect::<Vec<_>>()
        };
        if !acls.is_empty() {
            return Ok(acls);
        }
        // Empty: a genuine answer only if the principal may describe the
        // cluster, which DescribeAcls requires.
        match self.cluster_authorized_operations(timeout)? {
            AuthorizedOps::Listed(ops) if ops.contains(&Operation::Describe) => Ok(acls),
            AuthorizedOps::Listed(_) | AuthorizedOps::DescribeDenied => {
                Err(AdminError::NotAuthorized {
                    request: REQUEST,
                    code: None,
                    reason: "the principal lacks DESCRIBE on the cluster, which DescribeAcls \
                         requires (the broker's CLUSTER_AUTHORIZATION_FAILED is not passed on \
                         by librdkafka, so kmirror asked for the cluster's authorized \
                         operations instead)"
                        .into(),
                })
            }
            AuthorizedOps::NotReturned | AuthorizedOps::Missing => Err(AdminError::Inconclusive {
                request: REQUEST,
                reason: "the broker does not report authorized operations (KIP-430), so \
                         kmirror cannot confirm that the principal may describe ACLs"
                    .into(),
            }),
        }
    }

    /// The operations the principal may perform on each of `topics`
    /// (DescribeTopics with authorized operations). Duplicates are
    /// collapsed; a topic that does not exist maps to
    /// [`AuthorizedOps::Missing`].
    pub fn topic_authorized_operations(
        &self,
        topics: &[&str],
        timeout: Duration,
    ) -> Result<BTreeMap<String, AuthorizedOps>, AdminError> {
        const REQUEST: &str = "DescribeTopics";
        let unique: BTreeSet<&str> = topics.iter().copied().collect();
        if unique.is_empty() {
            return Ok(BTreeMap::new());
        }
        let names = c_strings(REQUEST, unique.iter().copied())?;
        let mut pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
        // SAFETY: `pointers` holds `len` NUL-terminated strings that outlive
        // the call; librdkafka copies them (`rd_strdup`).
        let collection = unsafe {
            rd::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len())
        };
        let collection =
            TopicCollection(NonNull::new(collection).ok_or_else(|| AdminError::Invalid {
                request: REQUEST,
                reason: "librdkafka could not build the topic collection".into(),
            })?);
        let event = self.request(
            REQUEST,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
            true,
            timeout,
            rd::RD_KAFKA_EVENT_DESCRIBETOPICS_RESULT,
            // SAFETY: all pointers are live for the call; librdkafka copies
            // the topic names out of the collection before returning.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DescribeTopics(rk, collection.0.as_ptr(), options, queue)
            },
        )?;
        // SAFETY: the event is a DESCRIBETOPICS_RESULT (checked by `request`).
        let result = unsafe { rd::rd_kafka_event_DescribeTopics_result(event.0.as_ptr()) };
        let mut count = 0usize;
        // SAFETY: the descriptions are owned by the live event and are only
        // read before it is dropped.
        let descriptions = unsafe {
            slice_of(
                rd::rd_kafka_DescribeTopics_result_topics(result, &mut count),
                count,
            )
        };
        let mut out = BTreeMap::new();
        for &desc in descriptions {
            // SAFETY: `desc` is a valid description of the live event; its
            // name is a NUL-terminated string it owns.
            let name = unsafe { owned_str(rd::rd_kafka_TopicDescription_name(desc)) };
            // SAFETY: as above; the error, if any, is owned by `desc`.
            let error = unsafe { error_of(rd::rd_kafka_TopicDescription_error(desc)) };
            let ops = match error {
                None => {
                    let mut n = 0usize;
                    // SAFETY: as above; the array (or NULL) is owned by `desc`.
                    unsafe {
                        let array =
                            rd::rd_kafka_TopicDescription_authorized_operations(desc, &mut n);
                        operations_from_native(array, n)
                    }
                }
                Some((RDKafkaErrorCode::TopicAuthorizationFailed, _)) => {
                    AuthorizedOps::DescribeDenied
                }
                Some((RDKafkaErrorCode::UnknownTopicOrPartition, _)) => AuthorizedOps::Missing,
                Some((code, reason)) => {
                    return Err(AdminError::Failed {
                        request: REQUEST,
                        code,
                        reason: format!("topic {name}: {reason}"),
                    })
                }
            };
            out.insert(name, ops);
        }
        Ok(out)
    }

    /// The operations the principal may perform on the cluster
    /// (DescribeCluster with authorized operations). Brokers reveal them
    /// only to principals with DESCRIBE on the cluster; an empty answer is
    /// [`AuthorizedOps::DescribeDenied`].
    pub fn cluster_authorized_operations(
        &self,
        timeout: Duration,
    ) -> Result<AuthorizedOps, AdminError> {
        const REQUEST: &str = "DescribeCluster";
        let event = self.request(
            REQUEST,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
            true,
            timeout,
            rd::RD_KAFKA_EVENT_DESCRIBECLUSTER_RESULT,
            // SAFETY: all pointers are live for the call.
            |rk, options, queue| unsafe { rd::rd_kafka_DescribeCluster(rk, options, queue) },
        )?;
        let mut n = 0usize;
        // SAFETY: the event is a DESCRIBECLUSTER_RESULT (checked by
        // `request`); the array (or NULL) it returns is owned by the event,
        // which outlives this read.
        let ops = unsafe {
            let result = rd::rd_kafka_event_DescribeCluster_result(event.0.as_ptr());
            let array = rd::rd_kafka_DescribeCluster_result_authorized_operations(result, &mut n);
            operations_from_native(array, n)
        };
        Ok(match ops {
            // Kafka answers 0 to principals without DESCRIBE on the cluster.
            AuthorizedOps::Listed(ops) if ops.is_empty() => AuthorizedOps::DescribeDenied,
            other => other,
        })
    }

    /// The operations the principal may perform on consumer group `group`
    /// (DescribeConsumerGroups with authorized operations).
    pub fn group_authorized_operations(
        &self,
        group: &str,
        timeout: Duration,
    ) -> Result<AuthorizedOps, AdminError> {
        const REQUEST: &str = "DescribeConsumerGroups";
        let name = c_strings(REQUEST, [group])?;
        let mut pointers = [name[0].as_ptr()];
        let event = self.request(
            REQUEST,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
            true,
            timeout,
            rd::RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT,
            // SAFETY: `pointers` holds one live NUL-terminated string, which
            // librdkafka copies (`rd_strdup`); the other pointers are live.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DescribeConsumerGroups(
                    rk,
                    pointers.as_mut_ptr(),
                    pointers.len(),
                    options,
                    queue,
                )
            },
        )?;
        let mut count = 0usize;
        // SAFETY: the event is a DESCRIBECONSUMERGROUPS_RESULT (checked by
        // `request`); the descriptions are owned by it and read before it
        // is dropped.
        let groups = unsafe {
            let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event.0.as_ptr());
            slice_of(
                rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count),
                count,
            )
        };
        let Some(&desc) = groups.first() else {
            return Err(AdminError::Failed {
                request: REQUEST,
                code: RDKafkaErrorCode::Fail,
                reason: format!("the answer did not describe group {group}"),
            });
        };
        // SAFETY: `desc` is a valid description owned by the live event.
        match unsafe { error_of(rd::rd_kafka_ConsumerGroupDescription_error(desc)) } {
            None => {
                let mut n = 0usize;
                // SAFETY: as above; the array (or NULL) is owned by `desc`.
                Ok(unsafe {
                    let array =
                        rd::rd_kafka_ConsumerGroupDescription_authorized_operations(desc, &mut n);
                    operations_from_native(array, n)
                })
            }
            Some((RDKafkaErrorCode::GroupAuthorizationFailed, _)) => {
                Ok(AuthorizedOps::DescribeDenied)
            }
            Some((code, reason)) => Err(AdminError::from_code(
                REQUEST,
                code,
                format!("group {group}: {reason}"),
                timeout,
            )),
        }
    }

    /// Sends one admin request through `send` and waits for its result
    /// event of type `expected`, turning request-level errors into
    /// [`AdminError`]s.
    fn request(
        &self,
        request: &'static str,
        op: rd::rd_kafka_admin_op_t,
        include_authorized_operations: bool,
        timeout: Duration,
        expected: c_int,
        send: impl FnOnce(
            *mut rd::rd_kafka_t,
            *const rd::rd_kafka_AdminOptions_t,
            *mut rd::rd_kafka_queue_t,
        ),
    ) -> Result<Event, AdminError> {
        let options = Options::new(self.rk, request, op, timeout)?;
        if let Some(broker) = self.broker {
            options.set_broker(request, broker)?;
        }
        if include_authorized_operations {
            options.include_authorized_operations(request)?;
        }
        // SAFETY: `rk` is live for `'a`; the new queue is owned by `Queue`
        // and destroyed before this function returns. A reply arriving
        // after that is discarded: librdkafka reference-counts queues.
        let queue = Queue(
            NonNull::new(unsafe { rd::rd_kafka_queue_new(self.rk.as_ptr()) }).ok_or_else(|| {
                AdminError::Failed {
                    request,
                    code: RDKafkaErrorCode::Fail,
                    reason: "librdkafka could not create a result queue".into(),
                }
            })?,
        );
        send(self.rk.as_ptr(), options.0.as_ptr(), queue.0.as_ptr());
        let deadline = Instant::now() + timeout + QUEUE_GRACE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AdminError::Timeout {
                    request,
                    timeout,
                    reason: "no result event arrived".into(),
                });
            }
            // SAFETY: the queue is live; a non-NULL event is ours to destroy,
            // which `Event` does.
            let Some(event) =
                NonNull::new(unsafe { rd::rd_kafka_queue_poll(queue.0.as_ptr(), millis(left)) })
                    .map(Event)
            else {
                continue;
            };
            // SAFETY: the event is live.
            let kind = unsafe { rd::rd_kafka_event_type(event.0.as_ptr()) };
            // SAFETY: the event is live; the error string it returns is
            // owned by the event and copied before the event is dropped.
            let (code, reason) = unsafe {
                let code = raw::rd_kafka_event_error(event.0.as_ptr());
                (
                    rdkafka::error::error_code_from_raw(code),
                    owned_str(rd::rd_kafka_event_error_string(event.0.as_ptr())),
                )
            };
            if code != RDKafkaErrorCode::NoError {
                return Err(AdminError::from_code(request, code, reason, timeout));
            }
            if kind == expected {
                return Ok(event);
            }
            // Not our result (nothing else should arrive on a private
            // queue); drop it and keep waiting.
        }
    }
}

/// A timeout in whole milliseconds for librdkafka, saturating at `c_int::MAX`.
fn millis(d: Duration) -> c_int {
    c_int::try_from(d.as_millis()).unwrap_or(c_int::MAX)
}

/// Converts names to C strings, refusing interior NUL bytes.
fn c_strings<'s>(
    request: &'static str,
    names: impl IntoIterator<Item = &'s str>,
) -> Result<Vec<CString>, AdminError> {
    names
        .into_iter()
        .map(|n| {
            CString::new(n).map_err(|_| AdminError::Invalid {
                request,
                reason: format!("{n:?} contains a NUL byte"),
            })
        })
        .collect()
}

/// Views a librdkafka result array as a slice (empty for NULL).
///
/// # Safety
/// `array` must be NULL or point to `len` initialised elements that stay
/// valid for `'x`.
unsafe fn slice_of<'x, T>(array: *mut T, len: usize) -> &'x [T] {
    if array.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(array, len)
    }
}

/// Copies a C string (empty for NULL), replacing invalid UTF-8.
///
/// # Safety
/// `s` must be NULL or a valid NUL-terminated string.
unsafe fn owned_str(s: *const c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

/// librdkafka functions that return an error code, declared as returning
/// the C `int` they return: librdkafka passes broker error codes through,
/// and a code the bindings' enum lacks (a newer broker) must not become an
/// out-of-range Rust enum value. Converted by
/// [`rdkafka::error::error_code_from_raw`] (unknown codes: `Unknown`).
#[allow(clashing_extern_declarations)]
mod raw {
    use rdkafka::bindings as rd;
    extern "C" {
        pub(super) fn rd_kafka_error_code(error: *const rd::rd_kafka_error_t) -> i32;
        pub(super) fn rd_kafka_event_error(rkev: *mut rd::rd_kafka_event_t) -> i32;
    }
}

/// The code and message of an `rd_kafka_error_t`, or `None` for NULL.
///
/// # Safety
/// `error` must be NULL or a live error object.
unsafe fn error_of(error: *const rd::rd_kafka_error_t) -> Option<(RDKafkaErrorCode, String)> {
    if error.is_null() {
        return None;
    }
    let code = rdkafka::error::error_code_from_raw(raw::rd_kafka_error_code(error));
    Some((code, owned_str(rd::rd_kafka_error_string(error))))
}

/// Reads an authorized-operations array: NULL means the broker did not
/// return them.
///
/// # Safety
/// `array` must be NULL or point to `len` live `rd_kafka_AclOperation_t`s.
unsafe fn operations_from_native(
    array: *const rd::rd_kafka_AclOperation_t,
    len: usize,
) -> AuthorizedOps {
    if array.is_null() {
        return AuthorizedOps::NotReturned;
    }
    // The enum is `repr(u32)`; reading the raw u32 is sound whatever value
    // librdkafka stored, and unknown codes are dropped by `from_code`.
    let raw = slice_of(array.cast::<u32>().cast_mut(), len);
    let mut ops: Vec<Operation> = raw
        .iter()
        .filter_map(|&code| i8::try_from(code).ok().and_then(Operation::from_code))
        .collect();
    ops.sort();
    ops.dedup();
    AuthorizedOps::Listed(ops)
}

/// Copies one DescribeAcls binding into an [`AclBinding`].
///
/// # Safety
/// `b` must be a live binding. Its enum getters return values librdkafka
/// clamped to its own enum ranges while parsing (out-of-range codes become
/// UNKNOWN in `rd_kafka_DescribeAclsResponse_parse`), so the Rust enums
/// they are typed as are valid.
unsafe fn binding_from_native(b: *const rd::rd_kafka_AclBinding_t) -> AclBinding {
    let code = |c: u32| i8::try_from(c).unwrap_or(0);
    AclBinding {
        resource_type: ResourceType::from_code(code(rd::rd_kafka_AclBinding_restype(b) as u32))
            .unwrap_or(ResourceType::Unknown),
        resource_name: owned_str(rd::rd_kafka_AclBinding_name(b)),
        pattern_type: PatternType::from_code(code(
            rd::rd_kafka_AclBinding_resource_pattern_type(b) as u32,
        ))
        .unwrap_or(PatternType::Unknown),
        principal: owned_str(rd::rd_kafka_AclBinding_principal(b)),
        host: owned_str(rd::rd_kafka_AclBinding_host(b)),
        operation: Operation::from_code(code(rd::rd_kafka_AclBinding_operation(b) as u32))
            .unwrap_or(Operation::Unknown),
        permission: Permission::from_code(code(rd::rd_kafka_AclBinding_permission_type(b) as u32))
            .unwrap_or(Permission::Unknown),
    }
}

/// librdkafka's constant for a resource type; it has none for
/// DELEGATION_TOKEN and USER. Its BROKER (4) is Kafka's CLUSTER.
fn native_resource_type(rt: ResourceType) -> Option<rd::rd_kafka_ResourceType_t> {
    use rd::rd_kafka_ResourceType_t::*;
    Some(match rt {
        ResourceType::Unknown => RD_KAFKA_RESOURCE_UNKNOWN,
        ResourceType::Any => RD_KAFKA_RESOURCE_ANY,
        ResourceType::Topic => RD_KAFKA_RESOURCE_TOPIC,
        ResourceType::Group => RD_KAFKA_RESOURCE_GROUP,
        ResourceType::Cluster => RD_KAFKA_RESOURCE_BROKER,
        ResourceType::TransactionalId => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        ResourceType::DelegationToken | ResourceType::User => return None,
    })
}

/// librdkafka's constant for an operation; it has none for the
/// delegation-token operations.
fn native_operation(op: Operation) -> Option<rd::rd_kafka_AclOperation_t> {
    use rd::rd_kafka_AclOperation_t::*;
    Some(match op {
        Operation::Unknown => RD_KAFKA_ACL_OPERATION_UNKNOWN,
        Operation::Any => RD_KAFKA_ACL_OPERATION_ANY,
        Operation::All => RD_KAFKA_ACL_OPERATION_ALL,
        Operation::Read => RD_KAFKA_ACL_OPERATION_READ,
        Operation::Write => RD_KAFKA_ACL_OPERATION_WRITE,
        Operation::Create => RD_KAFKA_ACL_OPERATION_CREATE,
        Operation::Delete => RD_KAFKA_ACL_OPERATION_DELETE,
        Operation::Alter => RD_KAFKA_ACL_OPERATION_ALTER,
        Operation::Describe => RD_KAFKA_ACL_OPERATION_DESCRIBE,
        Operation::ClusterAction => RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        Operation::DescribeConfigs => RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        Operation::AlterConfigs => RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        Operation::IdempotentWrite => RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        Operation::CreateTokens | Operation::DescribeTokens => return None,
    })
}

fn native_pattern_type(pt: PatternType) -> rd::rd_kafka_ResourcePatternType_t {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match pt {
        PatternType::Unknown => RD_KAFKA_RESOURCE_PATTERN_UNKNOWN,
        PatternType::Any => RD_KAFKA_RESOURCE_PATTERN_ANY,
        PatternType::Match => RD_KAFKA_RESOURCE_PATTERN_MATCH,
        PatternType::Literal => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        PatternType::Prefixed => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
    }
}

fn native_permission(p: Permission) -> rd::rd_kafka_AclPermissionType_t {
    use rd::rd_kafka_AclPermissionType_t::*;
    match p {
        Permission::Unknown => RD_KAFKA_ACL_PERMISSION_TYPE_UNKNOWN,
        Permission::Any => RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
        Permission::Deny => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
        Permission::Allow => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
    }
}

/// An owned `rd_kafka_AclBindingFilter_t`.
struct Filter(NonNull<rd::rd_kafka_AclBindingFilter_t>);

impl Filter {
    fn new(request: &'static str, f: &AclBindingFilter) -> Result<Self, AdminError> {
        let invalid = |reason: String| AdminError::Invalid { request, reason };
        f.validate().map_err(|e: AclError| invalid(e.to_string()))?;
        let restype = native_resource_type(f.resource_type).ok_or_else(|| {
            invalid(format!(
                "librdkafka cannot filter on resource type {}",
                f.resource_type
            ))
        })?;
        let operation = native_operation(f.operation).ok_or_else(|| {
            invalid(format!(
                "librdkafka cannot filter on operation {}",
                f.operation
            ))
        })?;
        let optional = |s: &Option<String>| -> Result<Option<CString>, AdminError> {
            s.as_deref()
                .map(|s| c_strings(request, [s]).map(|mut v| v.remove(0)))
                .transpose()
        };
        let name = optional(&f.resource_name)?;
        let principal = optional(&f.principal)?;
        let host = optional(&f.host)?;
        let as_ptr = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        let mut errstr = [0 as c_char; ERRSTR_LEN];
        // SAFETY: the strings are NUL-terminated (or NULL, meaning "any")
        // and outlive the call, which copies them; `errstr` is writable for
        // its stated length.
        let filter = unsafe {
            rd::rd_kafka_AclBindingFilter_new(
                restype,
                as_ptr(&name),
                native_pattern_type(f.pattern_type),
                as_ptr(&principal),
                as_ptr(&host),
                operation,
                native_permission(f.permission),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        NonNull::new(filter).map(Filter).ok_or_else(|| {
            // SAFETY: librdkafka NUL-terminates `errstr` on failure and the
            // buffer was zeroed, so it is a valid C string either way.
            invalid(unsafe { owned_str(errstr.as_ptr()) })
        })
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        // SAFETY: created by `rd_kafka_AclBindingFilter_new`, destroyed once.
        unsafe { rd::rd_kafka_AclBinding_destroy(self.0.as_ptr()) }
    }
}

/// An owned `rd_kafka_AdminOptions_t`.
struct Options(NonNull<rd::rd_kafka_AdminOptions_t>);

impl Options {
    fn new(
        rk: NonNull<rd::rd_kafka_t>,
        request: &'static str,
        op: rd::rd_kafka_admin_op_t,
        timeout: Duration,
    ) -> Result<Self, AdminError> {
        // SAFETY: `rk` is a live client handle.
        let options = NonNull::new(unsafe { rd::rd_kafka_AdminOptions_new(rk.as_ptr(), op) })
            .map(Options)
            .ok_or_else(|| AdminError::Unsupported {
                request,
                reason: "librdkafka has no options for this request".into(),
            })?;
        let mut errstr = [0 as c_char; ERRSTR_LEN];
        // SAFETY: `options` is live; `errstr` is writable for its length.
        let err = unsafe {
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options.0.as_ptr(),
                millis(timeout),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(AdminError::Invalid {
                request,
                // SAFETY: zeroed buffer, NUL-terminated by librdkafka.
                reason: format!("request timeout {timeout:?}: {}", unsafe {
                    owned_str(errstr.as_ptr())
                }),
            });
        }
        Ok(options)
    }

    fn set_broker(&self, request: &'static str, broker: i32) -> Result<(), AdminError> {
        let mut errstr = [0 as c_char; ERRSTR_LEN];
        // SAFETY: `self` is live; `errstr` is writable for its length.
        let err = unsafe {
            rd::rd_kafka_AdminOptions_set_broker(
                self.0.as_ptr(),
                broker,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Ok(());
        }
        Err(AdminError::Invalid {
            request,
            // SAFETY: zeroed buffer, NUL-terminated by librdkafka.
            reason: format!("broker {broker}: {}", unsafe { owned_str(errstr.as_ptr()) }),
        })
    }

    fn include_authorized_operations(&self, request: &'static str) -> Result<(), AdminError> {
        // SAFETY: `self` is live; a returned error is ours to destroy.
        let error = unsafe {
            rd::rd_kafka_AdminOptions_set_include_authorized_operations(self.0.as_ptr(), 1)
        };
        if error.is_null() {
            return Ok(());
        }
        // SAFETY: `error` is live until destroyed right after reading it.
        let (code, reason) = unsafe {
            let read = error_of(error).expect("checked non-null");
            rd::rd_kafka_error_destroy(error);
            read
        };
        Err(AdminError::Failed {
            request,
            code,
            reason: format!("cannot ask for authorized operations: {reason}"),
        })
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: created by `rd_kafka_AdminOptions_new`, destroyed once;
        // librdkafka copied what it needs when the request was sent.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0.as_ptr()) }
    }
}

/// An owned `rd_kafka_queue_t`.
struct Queue(NonNull<rd::rd_kafka_queue_t>);

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: created by `rd_kafka_queue_new`, destroyed once.
        unsafe { rd::rd_kafka_queue_destroy(self.0.as_ptr()) }
    }
}

/// An owned `rd_kafka_event_t`; results read from it borrow it.
struct Event(NonNull<rd::rd_kafka_event_t>);

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: returned by `rd_kafka_queue_poll`, destroyed once.
        unsafe { rd::rd_kafka_event_destroy(self.0.as_ptr()) }
    }
}

/// An owned `rd_kafka_TopicCollection_t`.
struct TopicCollection(NonNull<rd::rd_kafka_TopicCollection_t>);

impl Drop for TopicCollection {
    fn drop(&mut self) {
        // SAFETY: created by `rd_kafka_TopicCollection_of_topic_names`,
        // destroyed once.
        unsafe { rd::rd_kafka_TopicCollection_destroy(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker error code kmirror's bindings do not know (a newer broker)
    /// becomes `Unknown`, never an out-of-range enum value: through the
    /// conversion, and through a topic-partition list element whose `err`
    /// librdkafka filled with it.
    #[test]
    fn unknown_error_codes_stay_in_range() {
        use rdkafka::error::{error_code_from_raw, KafkaError};
        use rdkafka::TopicPartitionList;
        assert_eq!(error_code_from_raw(9999), RDKafkaErrorCode::Unknown);
        assert_eq!(error_code_from_raw(-9999), RDKafkaErrorCode::Unknown);
        assert_eq!(error_code_from_raw(0), RDKafkaErrorCode::NoError);
        assert_eq!(
            error_code_from_raw(29),
            RDKafkaErrorCode::TopicAuthorizationFailed
        );
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 0);
        // SAFETY: the list is live with one element; `err` is a C int,
        // written here as librdkafka would write a broker's code.
        unsafe {
            let list = &*tpl.ptr();
            let err = std::ptr::addr_of_mut!((*list.elems).err).cast::<i32>();
            err.write(9999);
        }
        match tpl.elements()[0].error() {
            Err(KafkaError::OffsetFetch(code)) => assert_eq!(code, RDKafkaErrorCode::Unknown),
            other => panic!("{other:?}"),
        }
    }
    use rdkafka::admin::AdminClient;
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::mocking::MockCluster;

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn admin_client(bootstrap: &str) -> AdminClient<DefaultClientContext> {
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("admin client for the mock cluster")
    }

    #[test]
    fn describe_topics_against_mock_cluster() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("orders", 3, 1).unwrap();
        mock.create_topic("secret", 1, 1).unwrap();
        mock.topic_error(
            "secret",
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        )
        .unwrap();
        let client = admin_client(&mock.bootstrap_servers());
        let admin = AclAdmin::new(client.inner()).via_broker(1);
        let got = admin
            .topic_authorized_operations(&["orders", "secret", "absent", "orders"], TIMEOUT)
            .unwrap();
        // The mock broker never fills in authorized operations (it writes
        // INT32_MIN, "not requested"), so an existing topic is NotReturned.
        let want = BTreeMap::from([
            ("absent".to_string(), AuthorizedOps::Missing),
            ("orders".to_string(), AuthorizedOps::NotReturned),
            ("secret".to_string(), AuthorizedOps::DescribeDenied),
        ]);
        assert_eq!(got, want);
        assert!(admin
            .topic_authorized_operations(&[], TIMEOUT)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn cluster_and_acls_against_mock_cluster() {
        let mock = MockCluster::new(1).unwrap();
        let client = admin_client(&mock.bootstrap_servers());
        let admin = AclAdmin::new(client.inner()).via_broker(1);
        // DescribeCluster rides on Metadata, which the mock answers without
        // cluster authorized operations.
        assert_eq!(
            admin.cluster_authorized_operations(TIMEOUT).unwrap(),
            AuthorizedOps::NotReturned
        );
        // The mock broker has no DescribeAcls handler, so librdkafka finds
        // no ApiVersion for it and refuses locally.
        let err = admin
            .describe_acls(&AclBindingFilter::any(), TIMEOUT)
            .unwrap_err();
        assert!(
            matches!(&err, AdminError::Unsupported { reason, .. } if reason.contains("KIP-140")),
            "{err:?}"
        );
        assert!(!err.is_not_authorized());
        assert!(err.to_string().starts_with("DescribeAcls"), "{err}");
        // Nor DescribeGroups: the per-group error is classified too.
        let err = admin
            .group_authorized_operations("mm", TIMEOUT)
            .unwrap_err();
        assert!(
            matches!(&err, AdminError::Unsupported { reason, .. } if reason.starts_with("group mm:")),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_filters_are_refused_before_sending() {
        let mock = MockCluster::new(1).unwrap();
        let client = admin_client(&mock.bootstrap_servers());
        let admin = AclAdmin::new(client.inner()).via_broker(1);
        let cases = [
            (
                AclBindingFilter {
                    operation: Operation::Unknown,
                    ..AclBindingFilter::any()
                },
                "operation",
            ),
            (
                AclBindingFilter {
                    resource_type: ResourceType::User,
                    ..AclBindingFilter::any()
                },
                "USER",
            ),
            (
                AclBindingFilter {
                    principal: Some("User:a\0b".into()),
                    ..AclBindingFilter::any()
                },
                "NUL",
            ),
        ];
        for (filter, needle) in cases {
            let err = admin.describe_acls(&filter, TIMEOUT).unwrap_err();
            assert!(
                matches!(&err, AdminError::Invalid { reason, .. } if reason.contains(needle)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn error_codes_are_classified() {
        use RDKafkaErrorCode as E;
        let classify = |code| AdminError::from_code("DescribeAcls", code, "x".into(), TIMEOUT);
        for code in [
            E::ClusterAuthorizationFailed,
            E::SecurityDisabled,
            E::TopicAuthorizationFailed,
            E::GroupAuthorizationFailed,
        ] {
            assert!(classify(code).is_not_authorized(), "{code:?}");
        }
        assert!(matches!(
            classify(E::UnsupportedFeature),
            AdminError::Unsupported { .. }
        ));
        assert!(matches!(
            classify(E::OperationTimedOut),
            AdminError::Timeout { .. }
        ));
        assert!(matches!(
            classify(E::BrokerTransportFailure),
            AdminError::Failed { .. }
        ));
    }

    #[test]
    fn native_enum_tables_match_kafka_codes() {
        for rt in ResourceType::VALUES {
            if let Some(n) = native_resource_type(*rt) {
                assert_eq!(n as u32, rt.code() as u32, "{rt}");
            }
        }
        for op in Operation::VALUES {
            if let Some(n) = native_operation(*op) {
                assert_eq!(n as u32, op.code() as u32, "{op}");
            }
        }
        for pt in PatternType::VALUES {
            assert_eq!(native_pattern_type(*pt) as u32, pt.code() as u32, "{pt}");
        }
        for p in Permission::VALUES {
            assert_eq!(native_permission(*p) as u32, p.code() as u32, "{p}");
        }
    }
}
