//! CreateAcls, DescribeAcls and DeleteAcls, answered by the listener from
//! its own [`Authorizer`] (tansu's ACL APIs are stubs), plus the ACL file
//! format used to load initial ACLs.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kmirror::preflight::acl::{
    AclBinding, AclBindingFilter, AclError, Authorizer, Operation, PatternType, Permission,
    ResourceType,
};
use serde::{Deserialize, Serialize};

use super::wire::sb;

/// Kafka's INVALID_REQUEST error code, for malformed bindings and filters.
pub const INVALID_REQUEST: i16 = 42;
/// Kafka's CLUSTER_AUTHORIZATION_FAILED error code.
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;

/// Converts a CreateAcls creation into a binding. Unknown codes become the
/// enums' `Unknown`, which [`AclBinding::validate`] rejects.
pub fn binding_from_creation(c: &AclCreation) -> AclBinding {
    AclBinding::new(
        ResourceType::from_code(c.resource_type).unwrap_or(ResourceType::Unknown),
        &c.resource_name,
        PatternType::from_code(c.resource_pattern_type).unwrap_or(PatternType::Unknown),
        &c.principal,
        &c.host,
        Operation::from_code(c.operation).unwrap_or(Operation::Unknown),
        Permission::from_code(c.permission_type).unwrap_or(Permission::Unknown),
    )
}

/// A binding as a CreateAcls creation (for the rig's admin client).
pub fn creation_from_binding(b: &AclBinding) -> AclCreation {
    let mut c = AclCreation::default();
    c.resource_type = b.resource_type.code();
    c.resource_name = sb(b.resource_name.clone());
    c.resource_pattern_type = b.pattern_type.code();
    c.principal = sb(b.principal.clone());
    c.host = sb(b.host.clone());
    c.operation = b.operation.code();
    c.permission_type = b.permission.code();
    c
}

/// Builds a filter from DescribeAcls/DeleteAcls wire fields.
#[allow(clippy::too_many_arguments)]
pub fn filter_from_wire(
    resource_type: i8,
    resource_name: Option<&str>,
    pattern_type: i8,
    principal: Option<&str>,
    host: Option<&str>,
    operation: i8,
    permission: i8,
) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type).unwrap_or(ResourceType::Unknown),
        resource_name: resource_name.map(str::to_string),
        pattern_type: PatternType::from_code(pattern_type).unwrap_or(PatternType::Unknown),
        principal: principal.map(str::to_string),
        host: host.map(str::to_string),
        operation: Operation::from_code(operation).unwrap_or(Operation::Unknown),
        permission: Permission::from_code(permission).unwrap_or(Permission::Unknown),
    }
}

/// A filter as DescribeAcls wire fields (for the rig's admin client).
pub fn describe_request(f: &AclBindingFilter) -> DescribeAclsRequest {
    let mut r = DescribeAclsRequest::default();
    r.resource_type_filter = f.resource_type.code();
    r.resource_name_filter = f.resource_name.clone().map(sb);
    r.pattern_type_filter = f.pattern_type.code();
    r.principal_filter = f.principal.clone().map(sb);
    r.host_filter = f.host.clone().map(sb);
    r.operation = f.operation.code();
    r.permission_type = f.permission.code();
    r
}

/// A filter as a DeleteAcls filter (for the rig's admin client).
pub fn delete_filter(f: &AclBindingFilter) -> DeleteAclsFilter {
    let mut r = DeleteAclsFilter::default();
    r.resource_type_filter = f.resource_type.code();
    r.resource_name_filter = f.resource_name.clone().map(sb);
    r.pattern_type_filter = f.pattern_type.code();
    r.principal_filter = f.principal.clone().map(sb);
    r.host_filter = f.host.clone().map(sb);
    r.operation = f.operation.code();
    r.permission_type = f.permission.code();
    r
}

/// Bindings from a DescribeAcls response, flattened.
pub fn bindings_from_describe(resp: &DescribeAclsResponse) -> Vec<AclBinding> {
    let mut out = Vec::new();
    for r in &resp.resources {
        for a in &r.acls {
            out.push(AclBinding::new(
                ResourceType::from_code(r.resource_type).unwrap_or(ResourceType::Unknown),
                &r.resource_name,
                PatternType::from_code(r.pattern_type).unwrap_or(PatternType::Unknown),
                &a.principal,
                &a.host,
                Operation::from_code(a.operation).unwrap_or(Operation::Unknown),
                Permission::from_code(a.permission_type).unwrap_or(Permission::Unknown),
            ));
        }
    }
    out
}

/// Answers CreateAcls. `authorized` is whether the caller holds ALTER on
/// the cluster; without it every creation fails with
/// CLUSTER_AUTHORIZATION_FAILED, as in Kafka.
pub fn create_acls(
    authorizer: &mut Authorizer,
    req: &CreateAclsRequest,
    authorized: bool,
) -> CreateAclsResponse {
    let mut resp = CreateAclsResponse::default();
    for c in &req.creations {
        let mut r = AclCreationResult::default();
        if !authorized {
            r.error_code = CLUSTER_AUTHORIZATION_FAILED;
            r.error_message = Some(sb("Cluster authorization failed."));
        } else if let Err(e) = authorizer.add(binding_from_creation(c)) {
            r.error_code = INVALID_REQUEST;
            r.error_message = Some(sb(e.to_string()));
        }
        resp.results.push(r);
    }
    resp
}

/// Answers DescribeAcls, grouping bindings by resource pattern as Kafka
/// does. `authorized` is whether the caller holds DESCRIBE on the cluster.
pub fn describe_acls(
    authorizer: &Authorizer,
    req: &DescribeAclsRequest,
    authorized: bool,
) -> DescribeAclsResponse {
    let mut resp = DescribeAclsResponse::default();
    if !authorized {
        resp.error_code = CLUSTER_AUTHORIZATION_FAILED;
        resp.error_message = Some(sb("Cluster authorization failed."));
        return resp;
    }
    let filter = filter_from_wire(
        req.resource_type_filter,
        req.resource_name_filter.as_deref(),
        req.pattern_type_filter,
        req.principal_filter.as_deref(),
        req.host_filter.as_deref(),
        req.operation,
        req.permission_type,
    );
    if let Err(e) = filter.validate() {
        resp.error_code = INVALID_REQUEST;
        resp.error_message = Some(sb(e.to_string()));
        return resp;
    }
    for b in authorizer.describe(&filter) {
        let key = (
            b.resource_type.code(),
            b.resource_name.clone(),
            b.pattern_type.code(),
        );
        let pos = resp
            .resources
            .iter()
            .position(|r| (r.resource_type, r.resource_name.to_string(), r.pattern_type) == key);
        let idx = match pos {
            Some(i) => i,
            None => {
                let mut r = DescribeAclsResource::default();
                r.resource_type = key.0;
                r.resource_name = sb(key.1);
                r.pattern_type = key.2;
                resp.resources.push(r);
                resp.resources.len() - 1
            }
        };
        let mut a = AclDescription::default();
        a.principal = sb(b.principal);
        a.host = sb(b.host);
        a.operation = b.operation.code();
        a.permission_type = b.permission.code();
        resp.resources[idx].acls.push(a);
    }
    resp
}

/// Answers DeleteAcls. `authorized` is whether the caller holds ALTER on
/// the cluster.
pub fn delete_acls(
    authorizer: &mut Authorizer,
    req: &DeleteAclsRequest,
    authorized: bool,
) -> DeleteAclsResponse {
    let mut resp = DeleteAclsResponse::default();
    for f in &req.filters {
        let mut fr = DeleteAclsFilterResult::default();
        let filter = filter_from_wire(
            f.resource_type_filter,
            f.resource_name_filter.as_deref(),
            f.pattern_type_filter,
            f.principal_filter.as_deref(),
            f.host_filter.as_deref(),
            f.operation,
            f.permission_type,
        );
        if !authorized {
            fr.error_code = CLUSTER_AUTHORIZATION_FAILED;
            fr.error_message = Some(sb("Cluster authorization failed."));
        } else if let Err(e) = filter.validate() {
            fr.error_code = INVALID_REQUEST;
            fr.error_message = Some(sb(e.to_string()));
        } else {
            for b in authorizer.remove(&filter) {
                let mut m = DeleteAclsMatchingAcl::default();
                m.resource_type = b.resource_type.code();
                m.resource_name = sb(b.resource_name);
                m.pattern_type = b.pattern_type.code();
                m.principal = sb(b.principal);
                m.host = sb(b.host);
                m.operation = b.operation.code();
                m.permission_type = b.permission.code();
                fr.matching_acls.push(m);
            }
        }
        resp.filter_results.push(fr);
    }
    resp
}

/// One ACL in the ACL file: names as Kafka prints them (`TOPIC`,
/// `PREFIXED`, `User:alice`, `WRITE`, `ALLOW`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFileEntry {
    /// e.g. `TOPIC`, `GROUP`, `CLUSTER`.
    pub resource_type: String,
    /// Name, prefix, or `*`; `kafka-cluster` for CLUSTER.
    pub resource_name: String,
    /// `LITERAL` (default) or `PREFIXED`.
    #[serde(default = "literal")]
    pub pattern_type: String,
    /// e.g. `User:mirrormaker`.
    pub principal: String,
    /// A host or `*` (default).
    #[serde(default = "star")]
    pub host: String,
    /// e.g. `READ`.
    pub operation: String,
    /// `ALLOW` (default) or `DENY`.
    #[serde(default = "allow")]
    pub permission: String,
}

fn literal() -> String {
    "LITERAL".to_string()
}
fn star() -> String {
    "*".to_string()
}
fn allow() -> String {
    "ALLOW".to_string()
}

impl AclFileEntry {
    /// The entry for a binding.
    pub fn from_binding(b: &AclBinding) -> AclFileEntry {
        AclFileEntry {
            resource_type: b.resource_type.to_string(),
            resource_name: b.resource_name.clone(),
            pattern_type: b.pattern_type.to_string(),
            principal: b.principal.clone(),
            host: b.host.clone(),
            operation: b.operation.to_string(),
            permission: b.permission.to_string(),
        }
    }

    /// The binding this entry names.
    pub fn to_binding(&self) -> std::result::Result<AclBinding, AclError> {
        Ok(AclBinding::new(
            ResourceType::from_str(&self.resource_type)?,
            &self.resource_name,
            PatternType::from_str(&self.pattern_type)?,
            &self.principal,
            &self.host,
            Operation::from_str(&self.operation)?,
            Permission::from_str(&self.permission)?,
        ))
    }
}

/// Loads an ACL file (a JSON array of [`AclFileEntry`]) into `authorizer`.
pub fn load_acl_file(authorizer: &mut Authorizer, path: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading ACL file {}", path.display()))?;
    let entries: Vec<AclFileEntry> = serde_json::from_str(&text)
        .with_context(|| format!("parsing ACL file {} (a JSON array)", path.display()))?;
    for (i, e) in entries.iter().enumerate() {
        let b = e
            .to_binding()
            .with_context(|| format!("{} entry {i}", path.display()))?;
        authorizer
            .add(b)
            .with_context(|| format!("{} entry {i}", path.display()))?;
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(name: &str, pattern: PatternType, op: Operation, perm: Permission) -> AclBinding {
        AclBinding::new(
            ResourceType::Topic,
            name,
            pattern,
            "User:alice",
            "*",
            op,
            perm,
        )
    }

    #[test]
    fn create_describe_delete_round_trip() {
        let mut authz = Authorizer::new();
        let acls = [
            b(
                "t1",
                PatternType::Literal,
                Operation::Write,
                Permission::Allow,
            ),
            b(
                "t1",
                PatternType::Literal,
                Operation::Read,
                Permission::Deny,
            ),
            b(
                "pre-",
                PatternType::Prefixed,
                Operation::Read,
                Permission::Allow,
            ),
        ];
        let mut req = CreateAclsRequest::default();
        req.creations = acls.iter().map(creation_from_binding).collect();
        let denied = create_acls(&mut authz, &req, false);
        assert!(denied
            .results
            .iter()
            .all(|r| r.error_code == CLUSTER_AUTHORIZATION_FAILED));
        assert!(authz.acls().is_empty());
        let ok = create_acls(&mut authz, &req, true);
        assert!(ok.results.iter().all(|r| r.error_code == 0));

        let all = describe_acls(&authz, &describe_request(&AclBindingFilter::any()), true);
        assert_eq!(all.error_code, 0);
        // Grouped by resource pattern: t1 literal (2 entries), pre- prefixed.
        assert_eq!(all.resources.len(), 2);
        let mut got = bindings_from_describe(&all);
        got.sort_by_key(|b| b.to_string());
        let mut want = acls.to_vec();
        want.sort_by_key(|b| b.to_string());
        assert_eq!(got, want);
        assert_eq!(
            describe_acls(&authz, &describe_request(&AclBindingFilter::any()), false).error_code,
            CLUSTER_AUTHORIZATION_FAILED
        );

        let mut del = DeleteAclsRequest::default();
        del.filters = vec![delete_filter(&AclBindingFilter::exact(&acls[1]))];
        let resp = delete_acls(&mut authz, &del, true);
        assert_eq!(resp.filter_results[0].matching_acls.len(), 1);
        assert_eq!(authz.acls().len(), 2);
    }

    #[test]
    fn invalid_creation_is_invalid_request() {
        let mut authz = Authorizer::new();
        let mut req = CreateAclsRequest::default();
        let mut bad = b("t", PatternType::Literal, Operation::Any, Permission::Allow);
        bad.principal = "User:x".into();
        req.creations = vec![creation_from_binding(&bad)];
        let resp = create_acls(&mut authz, &req, true);
        assert_eq!(resp.results[0].error_code, INVALID_REQUEST);
    }

    #[test]
    fn acl_file_entries_parse_with_defaults() {
        let e: Vec<AclFileEntry> = serde_json::from_str(
            r#"[{"resource_type":"TOPIC","resource_name":"x","principal":"User:a","operation":"Write"}]"#,
        )
        .unwrap();
        let binding = e[0].to_binding().unwrap();
        assert_eq!(binding.pattern_type, PatternType::Literal);
        assert_eq!(binding.permission, Permission::Allow);
        assert_eq!(binding.host, "*");
        assert_eq!(
            AclFileEntry::from_binding(&binding).to_binding().unwrap(),
            binding
        );
    }
}
