//! Topic identities. A deleted and re-created topic keeps its name but gets
//! a new id from the broker (Kafka 2.8 and later, tansu). kmirror stores
//! the id with every committed offset (in the commit's metadata), so a
//! committed offset of an older incarnation is recognised instead of being
//! applied to the new topic, where it would silently skip the new topic's
//! first records (issue #18, case 5).

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::types::RDKafkaErrorCode;

// The commit metadata's format is shared with `kmirror lag` (observe),
// which cannot import the pipeline.
pub(crate) use crate::config::commit_metadata::{
    commit_metadata, id_in_metadata, skipped_in_metadata,
};

/// Why topic ids could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicIdError {
    /// librdkafka's code.
    pub code: RDKafkaErrorCode,
    /// Its explanation.
    pub message: String,
}

/// The ids of those of `topics` that exist on the cluster `rk` is connected
/// to, by name (DescribeTopics). A topic that does not exist, or that the
/// broker gives no id (the zero id), is left out. A broker too old for
/// DescribeTopics (before Kafka 2.8 there are no topic ids) gives an empty
/// map; any other failure is an error.
///
/// `rk` must be a live client handle (any type: admin calls run on the
/// client's own threads, and the answer comes back on a private queue).
pub(crate) fn topic_ids(
    rk: *mut rd::rd_kafka_t,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, String>, TopicIdError> {
    if topics.is_empty() {
        return Ok(BTreeMap::new());
    }
    let names: Vec<CString> = topics
        .iter()
        .filter_map(|t| CString::new(t.as_str()).ok())
        .collect();
    let mut ptrs: Vec<*const std::ffi::c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `rk` is a live client; every object created here is destroyed
    // before returning, and the event (and the descriptions it owns) is read
    // only before it is destroyed.
    unsafe {
        let collection = rd::rd_kafka_TopicCollection_of_topic_names(ptrs.as_mut_ptr(), ptrs.len());
        let queue = rd::rd_kafka_queue_new(rk);
        let options = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
        );
        rd::rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, std::ptr::null_mut(), 0);
        rd::rd_kafka_DescribeTopics(rk, collection, options, queue);
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms.saturating_add(1000));
        let result = read_result(event);
        if !event.is_null() {
            rd::rd_kafka_event_destroy(event);
        }
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_TopicCollection_destroy(collection);
        result
    }
}

/// Reads a DescribeTopics result event.
///
/// # Safety
/// `event` is null or a live DescribeTopics result event.
unsafe fn read_result(
    event: *mut rd::rd_kafka_event_t,
) -> Result<BTreeMap<String, String>, TopicIdError> {
    if event.is_null() {
        return Err(TopicIdError {
            code: RDKafkaErrorCode::OperationTimedOut,
            message: "DescribeTopics: no answer in time".into(),
        });
    }
    let err = rd::rd_kafka_event_error(event);
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        let code = RDKafkaErrorCode::from(err);
        if code == RDKafkaErrorCode::UnsupportedFeature {
            return Ok(BTreeMap::new());
        }
        return Err(TopicIdError {
            code,
            message: c_text(rd::rd_kafka_event_error_string(event)),
        });
    }
    let result = rd::rd_kafka_event_DescribeTopics_result(event);
    let mut count = 0usize;
    let descriptions = rd::rd_kafka_DescribeTopics_result_topics(result, &mut count);
    let mut ids = BTreeMap::new();
    for i in 0..count {
        let d = *descriptions.add(i);
        if !rd::rd_kafka_TopicDescription_error(d).is_null() {
            continue;
        }
        let id = rd::rd_kafka_TopicDescription_topic_id(d);
        if id.is_null()
            || (rd::rd_kafka_Uuid_most_significant_bits(id) == 0
                && rd::rd_kafka_Uuid_least_significant_bits(id) == 0)
        {
            continue;
        }
        ids.insert(
            c_text(rd::rd_kafka_TopicDescription_name(d)),
            c_text(rd::rd_kafka_Uuid_base64str(id)),
        );
    }
    Ok(ids)
}

/// A C string owned by librdkafka, copied (empty for null).
///
/// # Safety
/// `s` is null or a valid NUL-terminated string.
unsafe fn c_text(s: *const std::ffi::c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}
