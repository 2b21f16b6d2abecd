//! ACL enforcement for authenticated requests, as Apache Kafka's
//! `KafkaApis` does it: each request is checked against the authorizer;
//! denied parts are removed from the relayed request and answered with the
//! error Kafka would give; fully denied requests are answered locally.
//!
//! Only APIs listed in [`ENFORCED_APIS`] are relayed (the listener's
//! ApiVersions answer advertises nothing else), so no request reaches tansu
//! unchecked.

use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use super::acl_api;
use super::audit::{now_ms, AuditEvent};
use super::kafka_authorizer::{
    Acl, KafkaAuthorizer, Operation, PatternType, Permission, ResourceType,
    AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_RESOURCE_NAME,
};
use super::server::Shared;
use super::wire::{decode_response, encode_response, sb, Request};

/// TOPIC_AUTHORIZATION_FAILED.
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// GROUP_AUTHORIZATION_FAILED.
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// CLUSTER_AUTHORIZATION_FAILED.
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// The message Kafka puts next to authorization error codes.
const AUTH_FAILED_MSG: &str = "Authorization failed.";

/// The APIs the listener relays or answers after authentication, with the
/// highest version it accepts: versions that identify topics only by id
/// (Produce v13, Fetch v13+, OffsetCommit/OffsetFetch v10) are excluded
/// because ACLs are by topic name.
pub const ENFORCED_APIS: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 12),
    (ApiKey::Fetch, 12),
    (ApiKey::ListOffsets, i16::MAX),
    (ApiKey::Metadata, 12),
    (ApiKey::OffsetCommit, 9),
    (ApiKey::OffsetFetch, 9),
    (ApiKey::FindCoordinator, i16::MAX),
    (ApiKey::JoinGroup, i16::MAX),
    (ApiKey::Heartbeat, i16::MAX),
    (ApiKey::LeaveGroup, i16::MAX),
    (ApiKey::SyncGroup, i16::MAX),
    (ApiKey::DescribeGroups, i16::MAX),
    (ApiKey::ListGroups, i16::MAX),
    (ApiKey::ApiVersions, i16::MAX),
    (ApiKey::CreateTopics, i16::MAX),
    (ApiKey::DeleteTopics, 5),
    (ApiKey::InitProducerId, i16::MAX),
    (ApiKey::DescribeConfigs, i16::MAX),
    (ApiKey::AlterConfigs, i16::MAX),
    (ApiKey::DescribeCluster, i16::MAX),
];

/// APIs the listener answers itself, with the versions it offers.
pub const LOCAL_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
];

/// Rewrites a response from tansu before it goes to the client.
pub type PostFn = Box<dyn FnOnce(Bytes) -> Result<Bytes> + Send>;

/// What to do with one authenticated request.
pub enum Action {
    /// Relay `frame` to tansu; when `expects_response`, pass tansu's
    /// response through `post` (if any) to the client.
    Forward {
        /// The request to relay (the original or a trimmed re-encoding).
        frame: Bytes,
        /// Response rewriting.
        post: Option<PostFn>,
        /// False for Produce with acks=0, which has no response.
        expects_response: bool,
    },
    /// Answer with this response frame without contacting tansu.
    Respond(Bytes),
    /// Close the connection, as Kafka does (e.g. a denied acks=0 Produce).
    Close(String),
}

/// One authenticated connection's identity and the shared authorizer.
pub struct ConnCtx {
    /// Listener state shared by all connections.
    pub shared: Arc<Shared>,
    /// The Kafka principal, e.g. `User:mirrormaker`.
    pub principal: String,
    /// The client's IP address, as ACL host.
    pub host: String,
    /// The client's address, for the evidence log.
    pub peer: String,
}

impl ConnCtx {
    /// Runs `f` with the listener's own authorizer over a snapshot of the
    /// ACL store. The store (filled by the ACL file and CreateAcls/
    /// DeleteAcls) is only read as data here; every verdict comes from
    /// [`KafkaAuthorizer`], never from kmirror's evaluator, so the rig can
    /// catch kmirror's ACL bugs instead of repeating them.
    fn with_authorizer<T>(&self, f: impl FnOnce(&KafkaAuthorizer<'_>) -> T) -> T {
        let store = self
            .shared
            .authorizer
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let authz = KafkaAuthorizer::new(
            store.acls().iter().map(acl_view),
            store.super_users.iter().map(String::as_str),
            store.allow_everyone_if_no_acl_found,
        );
        f(&authz)
    }

    /// Authorizes one operation; a denial is written to the evidence log
    /// when `log` (Kafka's `logIfDenied`: false where unauthorized items
    /// are silently filtered, as in list-all Metadata).
    pub fn allow(
        &self,
        api: ApiKey,
        op: Operation,
        rt: ResourceType,
        name: &str,
        log: bool,
    ) -> bool {
        let verdict =
            self.with_authorizer(|a| a.authorize(&self.principal, &self.host, op, rt, name));
        if !verdict.allowed && log {
            self.shared.audit.record(&AuditEvent::AuthorizationDenied {
                ts_ms: now_ms(),
                listener: self.shared.listen.clone(),
                peer: self.peer.clone(),
                principal: self.principal.clone(),
                api: format!("{api:?}"),
                operation: op.to_string(),
                resource_type: rt.to_string(),
                resource_name: name.to_string(),
                reason: verdict.reason,
            });
        }
        verdict.allowed
    }

    /// The KIP-430 authorized-operations bits for a resource.
    pub fn ops(&self, rt: ResourceType, name: &str) -> i32 {
        if self.shared.omit_authorized_operations {
            return AUTHORIZED_OPERATIONS_OMITTED;
        }
        self.with_authorizer(|a| a.authorized_operations(&self.principal, &self.host, rt, name))
    }

    fn cluster(&self, api: ApiKey, op: Operation, log: bool) -> bool {
        self.allow(api, op, ResourceType::Cluster, CLUSTER_RESOURCE_NAME, log)
    }

    /// Kafka's `authorizeByResourceType(TOPIC, WRITE)` used by
    /// InitProducerId: may the principal write to some topic?
    fn any_topic_write(&self) -> bool {
        self.with_authorizer(|a| {
            a.authorize_by_resource_type(
                &self.principal,
                &self.host,
                Operation::Write,
                ResourceType::Topic,
            )
        })
    }
}

/// One stored binding as the listener's authorizer sees it, translated by
/// Kafka wire code so no kmirror type or rule reaches the verdict. Codes
/// the listener does not know become UNKNOWN, which matches nothing (Kafka
/// would not have stored such an ACL).
fn acl_view(b: &kmirror::preflight::acl::AclBinding) -> Acl<'_> {
    Acl {
        resource_type: ResourceType::from_code(b.resource_type.code())
            .unwrap_or(ResourceType::Unknown),
        pattern_type: PatternType::from_code(b.pattern_type.code()).unwrap_or(PatternType::Unknown),
        resource_name: &b.resource_name,
        principal: &b.principal,
        host: &b.host,
        operation: Operation::from_code(b.operation.code()).unwrap_or(Operation::Unknown),
        permission: Permission::from_code(b.permission.code()).unwrap_or(Permission::Unknown),
    }
}

fn respond<T: Encodable>(req: &Request, body: &T) -> Result<Action> {
    Ok(Action::Respond(encode_response(
        req.api_key,
        req.version(),
        req.correlation_id(),
        body,
    )?))
}

fn forward(req: &Request) -> Action {
    Action::Forward {
        frame: req.raw.clone(),
        post: None,
        expects_response: true,
    }
}

fn forward_with(frame: Bytes, post: PostFn) -> Action {
    Action::Forward {
        frame,
        post: Some(post),
        expects_response: true,
    }
}

/// A response rewriter that decodes `T`, applies `f` and re-encodes.
fn patch<T, F>(req: &Request, f: F) -> PostFn
where
    T: Decodable + Encodable,
    F: FnOnce(&mut T) + Send + 'static,
{
    let (api_key, version) = (req.api_key, req.version());
    Box::new(move |raw: Bytes| {
        let (header, mut body) = decode_response::<T>(api_key, version, &raw)?;
        f(&mut body);
        encode_response(api_key, version, header.correlation_id, &body)
    })
}

/// Decides what to do with an authenticated request. ApiVersions and the
/// SASL APIs are handled by the connection loop, not here.
pub fn handle(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let v = req.version();
    match api {
        ApiKey::Produce => produce(ctx, req),
        ApiKey::Fetch => fetch(ctx, req),
        ApiKey::ListOffsets => list_offsets(ctx, req),
        ApiKey::Metadata => metadata(ctx, req),
        ApiKey::OffsetCommit => offset_commit(ctx, req),
        ApiKey::OffsetFetch => offset_fetch(ctx, req),
        ApiKey::FindCoordinator => find_coordinator(ctx, req),
        ApiKey::JoinGroup => {
            let r: JoinGroupRequest = req.decode()?;
            if ctx.allow(api, Operation::Read, ResourceType::Group, &r.group_id, true) {
                return Ok(forward(req));
            }
            let mut resp = JoinGroupResponse::default();
            resp.error_code = GROUP_AUTHORIZATION_FAILED;
            resp.generation_id = -1;
            // Non-nullable before v7.
            resp.protocol_name = if v < 7 { Some(sb("")) } else { None };
            respond(req, &resp)
        }
        ApiKey::SyncGroup => {
            let r: SyncGroupRequest = req.decode()?;
            if ctx.allow(api, Operation::Read, ResourceType::Group, &r.group_id, true) {
                return Ok(forward(req));
            }
            let mut resp = SyncGroupResponse::default();
            resp.error_code = GROUP_AUTHORIZATION_FAILED;
            respond(req, &resp)
        }
        ApiKey::Heartbeat => {
            let r: HeartbeatRequest = req.decode()?;
            if ctx.allow(api, Operation::Read, ResourceType::Group, &r.group_id, true) {
                return Ok(forward(req));
            }
            let mut resp = HeartbeatResponse::default();
            resp.error_code = GROUP_AUTHORIZATION_FAILED;
            respond(req, &resp)
        }
        ApiKey::LeaveGroup => {
            let r: LeaveGroupRequest = req.decode()?;
            if ctx.allow(api, Operation::Read, ResourceType::Group, &r.group_id, true) {
                return Ok(forward(req));
            }
            let mut resp = LeaveGroupResponse::default();
            resp.error_code = GROUP_AUTHORIZATION_FAILED;
            respond(req, &resp)
        }
        ApiKey::DescribeGroups => describe_groups(ctx, req),
        ApiKey::ListGroups => {
            let c = ctx.clone();
            if ctx.cluster(api, Operation::Describe, false) {
                return Ok(forward(req));
            }
            Ok(forward_with(
                req.raw.clone(),
                patch::<ListGroupsResponse, _>(req, move |resp| {
                    resp.groups.retain(|g| {
                        c.allow(
                            api,
                            Operation::Describe,
                            ResourceType::Group,
                            &g.group_id,
                            false,
                        )
                    })
                }),
            ))
        }
        ApiKey::CreateTopics => create_topics(ctx, req),
        ApiKey::DeleteTopics => delete_topics(ctx, req),
        ApiKey::InitProducerId => {
            let r: InitProducerIdRequest = req.decode()?;
            let error = match &r.transactional_id {
                Some(tx) => (!ctx.allow(
                    api,
                    Operation::Write,
                    ResourceType::TransactionalId,
                    tx,
                    true,
                ))
                .then_some(TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
                None => (!ctx.cluster(api, Operation::IdempotentWrite, false)
                    && !ctx.any_topic_write())
                .then(|| {
                    // Log the cluster-level denial once it is final.
                    ctx.cluster(api, Operation::IdempotentWrite, true);
                    CLUSTER_AUTHORIZATION_FAILED
                }),
            };
            match error {
                None => Ok(forward(req)),
                Some(code) => {
                    let mut resp = InitProducerIdResponse::default();
                    resp.error_code = code;
                    resp.producer_id = (-1).into();
                    resp.producer_epoch = -1;
                    respond(req, &resp)
                }
            }
        }
        ApiKey::DescribeConfigs => describe_configs(ctx, req),
        ApiKey::AlterConfigs => alter_configs(ctx, req),
        ApiKey::DescribeCluster => {
            let r: DescribeClusterRequest = req.decode()?;
            if !r.include_cluster_authorized_operations {
                return Ok(forward(req));
            }
            let bits = if ctx.shared.omit_authorized_operations
                || ctx.cluster(api, Operation::Describe, false)
            {
                ctx.ops(ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
            } else {
                0
            };
            Ok(forward_with(
                req.raw.clone(),
                patch::<DescribeClusterResponse, _>(req, move |resp| {
                    resp.cluster_authorized_operations = bits
                }),
            ))
        }
        ApiKey::DescribeAcls => {
            let r: DescribeAclsRequest = req.decode()?;
            let ok = ctx.cluster(api, Operation::Describe, true);
            let authz = ctx
                .shared
                .authorizer
                .read()
                .unwrap_or_else(|p| p.into_inner());
            let resp = acl_api::describe_acls(&authz, &r, ok);
            drop(authz);
            respond(req, &resp)
        }
        ApiKey::CreateAcls => {
            let r: CreateAclsRequest = req.decode()?;
            let ok = ctx.cluster(api, Operation::Alter, true);
            let mut authz = ctx
                .shared
                .authorizer
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let resp = acl_api::create_acls(&mut authz, &r, ok);
            drop(authz);
            respond(req, &resp)
        }
        ApiKey::DeleteAcls => {
            let r: DeleteAclsRequest = req.decode()?;
            let ok = ctx.cluster(api, Operation::Alter, true);
            let mut authz = ctx
                .shared
                .authorizer
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let resp = acl_api::delete_acls(&mut authz, &r, ok);
            drop(authz);
            respond(req, &resp)
        }
        other => Ok(Action::Close(format!(
            "{other:?} is not offered by this listener (not in its ApiVersions)"
        ))),
    }
}

fn produce(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: ProduceRequest = req.decode()?;
    let tx_denied = match &r.transactional_id {
        Some(tx) => !ctx.allow(
            api,
            Operation::Write,
            ResourceType::TransactionalId,
            tx,
            true,
        ),
        None => false,
    };
    let (mut allowed, mut denied) = (Vec::new(), Vec::new());
    for t in std::mem::take(&mut r.topic_data) {
        if !tx_denied && ctx.allow(api, Operation::Write, ResourceType::Topic, &t.name, true) {
            allowed.push(t);
        } else {
            let code = if tx_denied {
                TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            } else {
                TOPIC_AUTHORIZATION_FAILED
            };
            let mut tr = TopicProduceResponse::default();
            tr.name = t.name.clone();
            for p in &t.partition_data {
                let mut pr = PartitionProduceResponse::default();
                pr.index = p.index;
                pr.error_code = code;
                pr.base_offset = -1;
                pr.log_append_time_ms = -1;
                pr.log_start_offset = -1;
                tr.partition_responses.push(pr);
            }
            denied.push(tr);
        }
    }
    if r.acks == 0 {
        // acks=0 has no response: Kafka closes the connection so the
        // client notices the failure.
        if !denied.is_empty() {
            return Ok(Action::Close("acks=0 Produce to unauthorized topic".into()));
        }
        return Ok(Action::Forward {
            frame: req.raw.clone(),
            post: None,
            expects_response: false,
        });
    }
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if allowed.is_empty() {
        let mut resp = ProduceResponse::default();
        resp.responses = denied;
        return respond(req, &resp);
    }
    r.topic_data = allowed;
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<ProduceResponse, _>(req, move |resp| resp.responses.extend(denied)),
    ))
}

fn fetch(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: FetchRequest = req.decode()?;
    let replica = if req.version() >= 15 {
        r.replica_state.replica_id.0
    } else {
        r.replica_id.0
    };
    let from_follower = replica >= 0;
    if from_follower && !ctx.cluster(api, Operation::ClusterAction, true) {
        let mut resp = FetchResponse::default();
        resp.error_code = CLUSTER_AUTHORIZATION_FAILED;
        return respond(req, &resp);
    }
    let (mut allowed, mut denied) = (Vec::new(), Vec::new());
    for t in std::mem::take(&mut r.topics) {
        if from_follower || ctx.allow(api, Operation::Read, ResourceType::Topic, &t.topic, true) {
            allowed.push(t);
        } else {
            let mut tr = FetchableTopicResponse::default();
            tr.topic = t.topic.clone();
            for p in &t.partitions {
                let mut pd = PartitionData::default();
                pd.partition_index = p.partition;
                pd.error_code = TOPIC_AUTHORIZATION_FAILED;
                pd.high_watermark = -1;
                pd.records = None;
                tr.partitions.push(pd);
            }
            denied.push(tr);
        }
    }
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if allowed.is_empty() {
        let mut resp = FetchResponse::default();
        resp.responses = denied;
        return respond(req, &resp);
    }
    r.topics = allowed;
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<FetchResponse, _>(req, move |resp| resp.responses.extend(denied)),
    ))
}

fn list_offsets(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: ListOffsetsRequest = req.decode()?;
    let (mut allowed, mut denied) = (Vec::new(), Vec::new());
    for t in std::mem::take(&mut r.topics) {
        if ctx.allow(api, Operation::Describe, ResourceType::Topic, &t.name, true) {
            allowed.push(t);
        } else {
            let mut tr = ListOffsetsTopicResponse::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let mut pr = ListOffsetsPartitionResponse::default();
                pr.partition_index = p.partition_index;
                pr.error_code = TOPIC_AUTHORIZATION_FAILED;
                pr.timestamp = -1;
                pr.offset = -1;
                pr.leader_epoch = -1;
                tr.partitions.push(pr);
            }
            denied.push(tr);
        }
    }
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if allowed.is_empty() {
        let mut resp = ListOffsetsResponse::default();
        resp.topics = denied;
        return respond(req, &resp);
    }
    r.topics = allowed;
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<ListOffsetsResponse, _>(req, move |resp| resp.topics.extend(denied)),
    ))
}

fn metadata(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: MetadataRequest = req.decode()?;
    let topic_ops = r.include_topic_authorized_operations;
    let cluster_ops = r.include_cluster_authorized_operations;
    let list_all =
        r.topics.is_none() || (req.version() == 0 && r.topics.as_ref().is_some_and(Vec::is_empty));
    let orig_auto_create = r.allow_auto_topic_creation;
    let mut denied_names: Vec<String> = Vec::new();
    if let Some(topics) = r.topics.as_mut() {
        topics.retain(|t| match &t.name {
            Some(n) if !ctx.allow(api, Operation::Describe, ResourceType::Topic, n, true) => {
                denied_names.push(n.to_string());
                false
            }
            _ => true,
        });
        if r.allow_auto_topic_creation
            && !ctx.cluster(api, Operation::Create, false)
            && topics.iter().any(|t| {
                t.name.as_ref().is_some_and(|n| {
                    !ctx.allow(api, Operation::Create, ResourceType::Topic, n, false)
                })
            })
        {
            // Kafka refuses auto-creation of topics the client may not
            // create; tansu would create them, so ask it not to.
            r.allow_auto_topic_creation = false;
        }
        if topics.is_empty() && !denied_names.is_empty() && req.version() == 0 {
            // An empty v0 list means "all topics": answer the denials only.
            let mut resp = MetadataResponse::default();
            resp.topics = denied_names.iter().map(|n| denied_topic(n)).collect();
            return respond(req, &resp);
        }
    }
    let cluster_bits = if ctx.shared.omit_authorized_operations
        || (cluster_ops && ctx.cluster(api, Operation::Describe, false))
    {
        ctx.ops(ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
    } else {
        0
    };
    let frame = if denied_names.is_empty() && r.allow_auto_topic_creation == orig_auto_create {
        req.raw.clone()
    } else {
        req.with_body(&r)?
    };
    let c = ctx.clone();
    Ok(forward_with(
        frame,
        patch::<MetadataResponse, _>(req, move |resp| {
            resp.topics.retain(|t| {
                t.name.as_ref().is_none_or(|n| {
                    // Listing all topics silently hides unauthorized ones.
                    c.allow(api, Operation::Describe, ResourceType::Topic, n, !list_all)
                })
            });
            if topic_ops {
                for t in resp.topics.iter_mut() {
                    if let Some(n) = &t.name {
                        t.topic_authorized_operations = c.ops(ResourceType::Topic, n);
                    }
                }
            }
            resp.topics
                .extend(denied_names.iter().map(|n| denied_topic(n)));
            if cluster_ops {
                resp.cluster_authorized_operations = cluster_bits;
            }
        }),
    ))
}

fn denied_topic(name: &str) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.error_code = TOPIC_AUTHORIZATION_FAILED;
    t.name = Some(sb(name).into());
    t.is_internal = false;
    t
}

fn offset_commit(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: OffsetCommitRequest = req.decode()?;
    let group_ok = ctx.allow(api, Operation::Read, ResourceType::Group, &r.group_id, true);
    let (mut allowed, mut denied) = (Vec::new(), Vec::new());
    for t in std::mem::take(&mut r.topics) {
        let code = if !group_ok {
            GROUP_AUTHORIZATION_FAILED
        } else if !ctx.allow(api, Operation::Read, ResourceType::Topic, &t.name, true) {
            TOPIC_AUTHORIZATION_FAILED
        } else {
            allowed.push(t);
            continue;
        };
        let mut tr = OffsetCommitResponseTopic::default();
        tr.name = t.name.clone();
        for p in &t.partitions {
            let mut pr = OffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = code;
            tr.partitions.push(pr);
        }
        denied.push(tr);
    }
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if allowed.is_empty() {
        let mut resp = OffsetCommitResponse::default();
        resp.topics = denied;
        return respond(req, &resp);
    }
    r.topics = allowed;
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<OffsetCommitResponse, _>(req, move |resp| resp.topics.extend(denied)),
    ))
}

fn offset_fetch(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let v = req.version();
    let mut r: OffsetFetchRequest = req.decode()?;
    let describe_topic =
        |name: &str, log: bool| ctx.allow(api, Operation::Describe, ResourceType::Topic, name, log);
    if v < 8 {
        if !ctx.allow(
            api,
            Operation::Describe,
            ResourceType::Group,
            &r.group_id,
            true,
        ) {
            let mut resp = OffsetFetchResponse::default();
            resp.error_code = GROUP_AUTHORIZATION_FAILED;
            if v < 2 {
                // v0-1 have no top-level error: report it per partition.
                for t in r.topics.iter().flatten() {
                    let mut tr = OffsetFetchResponseTopic::default();
                    tr.name = t.name.clone();
                    for p in &t.partition_indexes {
                        tr.partitions
                            .push(offset_fetch_error(*p, GROUP_AUTHORIZATION_FAILED));
                    }
                    resp.topics.push(tr);
                }
            }
            return respond(req, &resp);
        }
        let fetch_all = r.topics.is_none();
        let mut denied = Vec::new();
        if let Some(topics) = r.topics.as_mut() {
            topics.retain(|t| {
                if describe_topic(&t.name, true) {
                    return true;
                }
                let mut tr = OffsetFetchResponseTopic::default();
                tr.name = t.name.clone();
                for p in &t.partition_indexes {
                    tr.partitions
                        .push(offset_fetch_error(*p, TOPIC_AUTHORIZATION_FAILED));
                }
                denied.push(tr);
                false
            });
        }
        if !fetch_all && denied.is_empty() {
            return Ok(forward(req));
        }
        if !fetch_all && r.topics.as_ref().is_some_and(Vec::is_empty) {
            let mut resp = OffsetFetchResponse::default();
            resp.topics = denied;
            return respond(req, &resp);
        }
        let frame = if fetch_all {
            req.raw.clone()
        } else {
            req.with_body(&r)?
        };
        let c = ctx.clone();
        return Ok(forward_with(
            frame,
            patch::<OffsetFetchResponse, _>(req, move |resp| {
                resp.topics.retain(|t| {
                    c.allow(
                        api,
                        Operation::Describe,
                        ResourceType::Topic,
                        &t.name,
                        false,
                    )
                });
                resp.topics.extend(denied);
            }),
        ));
    }
    // v8+: several groups, each with its own topics.
    let mut denied_groups = Vec::new();
    let mut denied_topics: Vec<(GroupId, Vec<OffsetFetchResponseTopics>)> = Vec::new();
    r.groups.retain_mut(|g| {
        if !ctx.allow(
            api,
            Operation::Describe,
            ResourceType::Group,
            &g.group_id,
            true,
        ) {
            let mut gr = OffsetFetchResponseGroup::default();
            gr.group_id = g.group_id.clone();
            gr.error_code = GROUP_AUTHORIZATION_FAILED;
            denied_groups.push(gr);
            return false;
        }
        let mut denied = Vec::new();
        if let Some(topics) = g.topics.as_mut() {
            topics.retain(|t| {
                if describe_topic(&t.name, true) {
                    return true;
                }
                let mut tr = OffsetFetchResponseTopics::default();
                tr.name = t.name.clone();
                for p in &t.partition_indexes {
                    let mut pr = OffsetFetchResponsePartitions::default();
                    pr.partition_index = *p;
                    pr.committed_offset = -1;
                    pr.committed_leader_epoch = -1;
                    pr.metadata = Some(sb(""));
                    pr.error_code = TOPIC_AUTHORIZATION_FAILED;
                    tr.partitions.push(pr);
                }
                denied.push(tr);
                false
            });
        }
        if !denied.is_empty() {
            denied_topics.push((g.group_id.clone(), denied));
        }
        true
    });
    if r.groups.is_empty() {
        let mut resp = OffsetFetchResponse::default();
        resp.groups = denied_groups;
        return respond(req, &resp);
    }
    let c = ctx.clone();
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<OffsetFetchResponse, _>(req, move |resp| {
            for g in resp.groups.iter_mut() {
                g.topics.retain(|t| {
                    c.allow(
                        api,
                        Operation::Describe,
                        ResourceType::Topic,
                        &t.name,
                        false,
                    )
                });
                if let Some((_, d)) = denied_topics.iter_mut().find(|(id, _)| *id == g.group_id) {
                    g.topics.append(d);
                }
            }
            resp.groups.extend(denied_groups);
        }),
    ))
}

fn offset_fetch_error(partition: i32, code: i16) -> OffsetFetchResponsePartition {
    let mut p = OffsetFetchResponsePartition::default();
    p.partition_index = partition;
    p.committed_offset = -1;
    p.committed_leader_epoch = -1;
    p.metadata = Some(sb(""));
    p.error_code = code;
    p
}

/// The resource, operation and error code FindCoordinator checks for a
/// key type (0 = group, 1 = transactional id).
fn coordinator_resource(key_type: i8) -> (ResourceType, i16) {
    if key_type == 1 {
        (
            ResourceType::TransactionalId,
            TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        )
    } else {
        (ResourceType::Group, GROUP_AUTHORIZATION_FAILED)
    }
}

fn find_coordinator(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: FindCoordinatorRequest = req.decode()?;
    let (rt, code) = coordinator_resource(r.key_type);
    if req.version() < 4 {
        if ctx.allow(api, Operation::Describe, rt, &r.key, true) {
            return Ok(forward(req));
        }
        let mut resp = FindCoordinatorResponse::default();
        resp.error_code = code;
        resp.error_message = Some(sb(AUTH_FAILED_MSG));
        resp.node_id = (-1).into();
        resp.port = -1;
        return respond(req, &resp);
    }
    let mut denied = Vec::new();
    r.coordinator_keys.retain(|k| {
        if ctx.allow(api, Operation::Describe, rt, k, true) {
            return true;
        }
        let mut c = Coordinator::default();
        c.key = k.clone();
        c.node_id = (-1).into();
        c.port = -1;
        c.error_code = code;
        c.error_message = Some(sb(AUTH_FAILED_MSG));
        denied.push(c);
        false
    });
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if r.coordinator_keys.is_empty() {
        let mut resp = FindCoordinatorResponse::default();
        resp.coordinators = denied;
        return respond(req, &resp);
    }
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<FindCoordinatorResponse, _>(req, move |resp| resp.coordinators.extend(denied)),
    ))
}

fn describe_groups(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: DescribeGroupsRequest = req.decode()?;
    let include_ops = r.include_authorized_operations;
    let mut denied = Vec::new();
    r.groups.retain(|g| {
        if ctx.allow(api, Operation::Describe, ResourceType::Group, g, true) {
            return true;
        }
        let mut d = DescribedGroup::default();
        d.group_id = g.clone();
        d.error_code = GROUP_AUTHORIZATION_FAILED;
        denied.push(d);
        false
    });
    if r.groups.is_empty() {
        let mut resp = DescribeGroupsResponse::default();
        resp.groups = denied;
        return respond(req, &resp);
    }
    if denied.is_empty() && !include_ops {
        return Ok(forward(req));
    }
    let c = ctx.clone();
    let frame = if denied.is_empty() {
        req.raw.clone()
    } else {
        req.with_body(&r)?
    };
    Ok(forward_with(
        frame,
        patch::<DescribeGroupsResponse, _>(req, move |resp| {
            if include_ops {
                for g in resp.groups.iter_mut() {
                    g.authorized_operations = c.ops(ResourceType::Group, &g.group_id);
                }
            }
            resp.groups.extend(denied);
        }),
    ))
}

fn create_topics(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: CreateTopicsRequest = req.decode()?;
    let cluster_ok = ctx.cluster(api, Operation::Create, false);
    let mut denied = Vec::new();
    r.topics.retain(|t| {
        if cluster_ok || ctx.allow(api, Operation::Create, ResourceType::Topic, &t.name, true) {
            return true;
        }
        let mut res = CreatableTopicResult::default();
        res.name = t.name.clone();
        res.error_code = TOPIC_AUTHORIZATION_FAILED;
        res.error_message = Some(sb(AUTH_FAILED_MSG));
        res.num_partitions = -1;
        res.replication_factor = -1;
        denied.push(res);
        false
    });
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if r.topics.is_empty() {
        let mut resp = CreateTopicsResponse::default();
        resp.topics = denied;
        return respond(req, &resp);
    }
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<CreateTopicsResponse, _>(req, move |resp| resp.topics.extend(denied)),
    ))
}

fn delete_topics(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: DeleteTopicsRequest = req.decode()?;
    let mut denied = Vec::new();
    r.topic_names.retain(|n| {
        if ctx.allow(api, Operation::Delete, ResourceType::Topic, n, true) {
            return true;
        }
        let mut res = DeletableTopicResult::default();
        res.name = Some(n.clone());
        res.error_code = TOPIC_AUTHORIZATION_FAILED;
        res.error_message = Some(sb(AUTH_FAILED_MSG));
        denied.push(res);
        false
    });
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if r.topic_names.is_empty() {
        let mut resp = DeleteTopicsResponse::default();
        resp.responses = denied;
        return respond(req, &resp);
    }
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<DeleteTopicsResponse, _>(req, move |resp| resp.responses.extend(denied)),
    ))
}

/// The ACL resource and error code for a config resource type
/// (2 = topic, 4 = broker, 8 = broker logger, 32 = group).
fn config_resource(resource_type: i8, name: &str) -> (ResourceType, String, i16) {
    match resource_type {
        2 => (
            ResourceType::Topic,
            name.to_string(),
            TOPIC_AUTHORIZATION_FAILED,
        ),
        32 => (
            ResourceType::Group,
            name.to_string(),
            GROUP_AUTHORIZATION_FAILED,
        ),
        _ => (
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME.to_string(),
            CLUSTER_AUTHORIZATION_FAILED,
        ),
    }
}

fn describe_configs(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: DescribeConfigsRequest = req.decode()?;
    let mut denied = Vec::new();
    r.resources.retain(|res| {
        let (rt, name, code) = config_resource(res.resource_type, &res.resource_name);
        if ctx.allow(api, Operation::DescribeConfigs, rt, &name, true) {
            return true;
        }
        let mut d = DescribeConfigsResult::default();
        d.error_code = code;
        d.error_message = Some(sb(AUTH_FAILED_MSG));
        d.resource_type = res.resource_type;
        d.resource_name = res.resource_name.clone();
        denied.push(d);
        false
    });
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if r.resources.is_empty() {
        let mut resp = DescribeConfigsResponse::default();
        resp.results = denied;
        return respond(req, &resp);
    }
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<DescribeConfigsResponse, _>(req, move |resp| resp.results.extend(denied)),
    ))
}

fn alter_configs(ctx: &Arc<ConnCtx>, req: &Request) -> Result<Action> {
    let api = req.api_key;
    let mut r: AlterConfigsRequest = req.decode()?;
    let mut denied = Vec::new();
    r.resources.retain(|res| {
        let (rt, name, code) = config_resource(res.resource_type, &res.resource_name);
        if ctx.allow(api, Operation::AlterConfigs, rt, &name, true) {
            return true;
        }
        let mut d = AlterConfigsResourceResponse::default();
        d.error_code = code;
        d.error_message = Some(sb(AUTH_FAILED_MSG));
        d.resource_type = res.resource_type;
        d.resource_name = res.resource_name.clone();
        denied.push(d);
        false
    });
    if denied.is_empty() {
        return Ok(forward(req));
    }
    if r.resources.is_empty() {
        let mut resp = AlterConfigsResponse::default();
        resp.responses = denied;
        return respond(req, &resp);
    }
    Ok(forward_with(
        req.with_body(&r)?,
        patch::<AlterConfigsResponse, _>(req, move |resp| resp.responses.extend(denied)),
    ))
}

/// Rewrites tansu's ApiVersions answer to what the listener offers: the
/// enforced APIs (capped as in [`ENFORCED_APIS`] and to what
/// `kafka-protocol` can decode) plus the SASL and ACL APIs it answers
/// itself. Anything else is dropped so clients never send it.
pub fn patch_api_versions(resp: &mut ApiVersionsResponse) {
    let upstream: Vec<_> = std::mem::take(&mut resp.api_keys);
    for a in upstream {
        let Ok(key) = ApiKey::try_from(a.api_key) else {
            continue;
        };
        let Some((_, cap)) = ENFORCED_APIS.iter().find(|(k, _)| *k == key) else {
            continue;
        };
        let ours = key.valid_versions();
        let min = a.min_version.max(ours.min);
        let max = a.max_version.min(ours.max).min(*cap);
        if min <= max {
            let mut v = a.clone();
            v.min_version = min;
            v.max_version = max;
            resp.api_keys.push(v);
        }
    }
    for (key, min, max) in LOCAL_APIS {
        let ours = key.valid_versions();
        let mut v = api_versions_response::ApiVersion::default();
        v.api_key = *key as i16;
        v.min_version = (*min).max(ours.min);
        v.max_version = (*max).min(ours.max);
        resp.api_keys.push(v);
    }
    resp.api_keys.sort_by_key(|a| a.api_key);
}
