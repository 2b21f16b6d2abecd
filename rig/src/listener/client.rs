//! A tiny blocking Kafka client built on `kafka-protocol`, for what
//! rdkafka's admin client lacks (CreateAcls, DescribeAcls, DeleteAcls) and
//! for wire-level tests of the listener (raw SASL, unauthenticated
//! requests, KIP-430 fields).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateAclsRequest, DeleteAclsRequest,
    RequestHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kmirror::preflight::acl::{AclBinding, AclBindingFilter};

use super::acl_api;
use super::wire::{decode_response, encode_request, sb};

/// An error code returned by the server, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Kafka error {code}: {message}")]
pub struct KafkaError {
    /// The Kafka error code.
    pub code: i16,
    /// The server's message, if any.
    pub message: String,
}

/// A blocking connection to a Kafka listener.
pub struct KafkaClient {
    stream: TcpStream,
    next_correlation: i32,
    versions: HashMap<i16, (i16, i16)>,
    session_lifetime_ms: i64,
}

impl KafkaClient {
    /// Connects and asks ApiVersions (allowed before authentication).
    pub fn connect(addr: SocketAddr) -> Result<KafkaClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        let mut c = KafkaClient {
            stream,
            next_correlation: 1,
            versions: HashMap::new(),
            session_lifetime_ms: 0,
        };
        let resp: ApiVersionsResponse = c.send_at(
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(sb("kmirror-rig"))
                .with_client_software_version(sb("0")),
        )?;
        if resp.error_code != 0 {
            bail!("ApiVersions failed with error {}", resp.error_code);
        }
        c.versions = resp
            .api_keys
            .iter()
            .map(|a| (a.api_key, (a.min_version, a.max_version)))
            .collect();
        Ok(c)
    }

    /// The session lifetime (KIP-368) of the last SaslAuthenticate answer:
    /// the server ends the session that long after it; 0 means never.
    pub fn session_lifetime_ms(&self) -> i64 {
        self.session_lifetime_ms
    }

    /// Versions the server advertised, by api key.
    pub fn advertised(&self) -> &HashMap<i16, (i16, i16)> {
        &self.versions
    }

    /// The highest version of `R` both sides support.
    pub fn version_for<R: Request>(&self) -> Result<i16> {
        let key =
            ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown key {}", R::KEY))?;
        let (min, max) = self
            .versions
            .get(&R::KEY)
            .copied()
            .with_context(|| format!("server does not offer {key:?}"))?;
        let ours = key.valid_versions();
        let v = max.min(ours.max);
        if v < min.max(ours.min) {
            bail!("no common version for {key:?}");
        }
        Ok(v)
    }

    /// Sends `req` at the highest common version and returns the response.
    pub fn send<R: Request>(&mut self, req: &R) -> Result<R::Response> {
        let v = self.version_for::<R>()?;
        self.send_at(v, req)
    }

    /// Sends `req` at `version` and returns the response.
    pub fn send_at<R: Request>(&mut self, version: i16, req: &R) -> Result<R::Response> {
        let corr = self.send_request(version, req)?;
        let (got, body) = self.receive::<R>(version)?;
        if got != corr {
            bail!("response correlation id {got} != {corr}");
        }
        Ok(body)
    }

    /// Sends `req` at `version` without waiting for the response (for
    /// pipelining); returns its correlation id.
    pub fn send_request<R: Request>(&mut self, version: i16, req: &R) -> Result<i32> {
        let corr = self.next_correlation;
        self.next_correlation += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = corr;
        header.client_id = Some(sb("kmirror-rig"));
        let frame = encode_request(&header, req)?;
        self.write_frame(&frame)?;
        Ok(corr)
    }

    /// Reads the next response, decoding it as `R`'s response at
    /// `version`; returns its correlation id and body.
    pub fn receive<R: Request>(&mut self, version: i16) -> Result<(i32, R::Response)> {
        let key =
            ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown key {}", R::KEY))?;
        let raw = self
            .read_frame()
            .with_context(|| format!("waiting for a {key:?} v{version} response"))?;
        let (h, body) = decode_response::<R::Response>(key, version, &raw)?;
        Ok((h.correlation_id, body))
    }

    fn write_frame(&mut self, payload: &[u8]) -> Result<()> {
        let mut buf = (payload.len() as i32).to_be_bytes().to_vec();
        buf.extend_from_slice(payload);
        self.stream.write_all(&buf).context("writing request")
    }

    fn read_frame(&mut self) -> Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .context("reading response length (connection closed?)")?;
        let mut buf = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
        self.stream
            .read_exact(&mut buf)
            .context("reading response")?;
        Ok(Bytes::from(buf))
    }

    /// Whether the server has closed the connection: a read sees end of
    /// stream or a reset within `timeout` (a timeout means still open).
    pub fn is_closed_by_server(&mut self, timeout: Duration) -> bool {
        use std::io::ErrorKind::{TimedOut, WouldBlock};
        let _ = self.stream.set_read_timeout(Some(timeout));
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), WouldBlock | TimedOut),
        }
    }

    /// Authenticates with SASL/PLAIN (handshake v1, SaslAuthenticate).
    pub fn sasl_plain(&mut self, user: &str, password: &str) -> Result<()> {
        self.handshake("PLAIN")?;
        let token = format!("\0{user}\0{password}");
        self.sasl_authenticate(token.into_bytes()).map(|_| ())
    }

    /// Authenticates with SASL/GSSAPI as the default principal of the
    /// process's credential cache (`KRB5CCNAME`, `KRB5_CONFIG`), for the
    /// service `kafka@<host>`, doing the RFC 4752 exchange as Cyrus SASL
    /// does: context tokens, an empty token after the context completes,
    /// then the wrapped security-layer choice ("none").
    pub fn sasl_gssapi(&mut self, host: &str) -> Result<()> {
        use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext};
        use libgssapi::name::Name;
        use libgssapi::oid::{GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE};

        self.handshake("GSSAPI")?;
        let target = Name::new(
            format!("kafka@{host}").as_bytes(),
            Some(GSS_NT_HOSTBASED_SERVICE),
        )
        .context("importing the service name")?;
        let mut ctx = ClientCtx::new(
            None,
            target,
            CtxFlags::GSS_C_MUTUAL_FLAG | CtxFlags::GSS_C_INTEG_FLAG,
            Some(GSS_MECH_KRB5),
        );
        let mut server_token: Option<Vec<u8>> = None;
        loop {
            let out = ctx
                .step(server_token.as_deref(), None)
                .context("GSSAPI init_sec_context (do we have a ticket?)")?;
            let Some(tok) = out else { break };
            server_token = Some(self.sasl_authenticate(tok.to_vec())?);
            if ctx.is_complete() {
                break;
            }
        }
        // Context complete: acknowledge with an empty token and receive
        // the server's wrapped layer offer.
        let offer = self.sasl_authenticate(Vec::new())?;
        let offer = ctx
            .unwrap(&offer)
            .context("unwrapping the server's layer offer")?;
        if offer.len() != 4 || offer[0] & 0x01 == 0 {
            bail!(
                "server's layer offer {:?} does not include 'no security layer'",
                &offer[..]
            );
        }
        let choice = ctx
            .wrap(false, &[0x01, 0, 0, 0])
            .context("wrapping the layer choice")?;
        self.sasl_authenticate(choice.to_vec())?;
        Ok(())
    }

    /// Authenticates with SASL/PLAIN the pre-KIP-152 way: SaslHandshake v0,
    /// then the token as a bare frame, answered by a bare (empty) frame.
    pub fn sasl_plain_v0(&mut self, user: &str, password: &str) -> Result<()> {
        let resp = self.send_at(
            0,
            &SaslHandshakeRequest::default().with_mechanism(sb("PLAIN")),
        )?;
        if resp.error_code != 0 {
            return Err(KafkaError {
                code: resp.error_code,
                message: "SaslHandshake v0 for PLAIN".into(),
            }
            .into());
        }
        self.write_frame(format!("\0{user}\0{password}").as_bytes())?;
        let reply = self
            .read_frame()
            .context("no reply to the PLAIN token (refused?)")?;
        if !reply.is_empty() {
            bail!("unexpected {}-byte reply to the PLAIN token", reply.len());
        }
        Ok(())
    }

    /// Sends SaslHandshake v1 for `mechanism`.
    pub fn handshake(&mut self, mechanism: &str) -> Result<Vec<String>> {
        let resp = self.send_at(
            1,
            &SaslHandshakeRequest::default().with_mechanism(sb(mechanism)),
        )?;
        let mechs = resp.mechanisms.iter().map(StrBytes::to_string).collect();
        if resp.error_code != 0 {
            return Err(KafkaError {
                code: resp.error_code,
                message: format!("handshake for {mechanism}; server offers {mechs:?}"),
            }
            .into());
        }
        Ok(mechs)
    }

    /// Sends one SaslAuthenticate token; a [`KafkaError`] if refused.
    pub fn sasl_authenticate(&mut self, token: Vec<u8>) -> Result<Vec<u8>> {
        let v = self.version_for::<SaslAuthenticateRequest>()?;
        let resp = self.send_at(
            v,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
        )?;
        if resp.error_code != 0 {
            return Err(KafkaError {
                code: resp.error_code,
                message: resp
                    .error_message
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            }
            .into());
        }
        self.session_lifetime_ms = resp.session_lifetime_ms;
        Ok(resp.auth_bytes.to_vec())
    }

    /// Creates ACLs; fails with the first per-binding error.
    pub fn create_acls(&mut self, bindings: &[AclBinding]) -> Result<()> {
        let req = CreateAclsRequest::default().with_creations(
            bindings
                .iter()
                .map(acl_api::creation_from_binding)
                .collect(),
        );
        let resp = self.send(&req)?;
        for r in resp.results {
            if r.error_code != 0 {
                return Err(KafkaError {
                    code: r.error_code,
                    message: r.error_message.map(|m| m.to_string()).unwrap_or_default(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// The ACLs matching `filter`.
    pub fn describe_acls(&mut self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let resp = self.send(&acl_api::describe_request(filter))?;
        if resp.error_code != 0 {
            return Err(KafkaError {
                code: resp.error_code,
                message: resp
                    .error_message
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            }
            .into());
        }
        Ok(acl_api::bindings_from_describe(&resp))
    }

    /// Deletes the ACLs matching each filter; returns what was deleted.
    pub fn delete_acls(&mut self, filters: &[AclBindingFilter]) -> Result<Vec<AclBinding>> {
        let req = DeleteAclsRequest::default()
            .with_filters(filters.iter().map(acl_api::delete_filter).collect());
        let resp = self.send(&req)?;
        let mut deleted = Vec::new();
        for fr in resp.filter_results {
            if fr.error_code != 0 {
                return Err(KafkaError {
                    code: fr.error_code,
                    message: fr.error_message.map(|m| m.to_string()).unwrap_or_default(),
                }
                .into());
            }
            for m in fr.matching_acls {
                deleted.push(AclBinding::new(
                    kmirror::preflight::acl::ResourceType::from_code(m.resource_type)
                        .unwrap_or(kmirror::preflight::acl::ResourceType::Unknown),
                    &m.resource_name,
                    kmirror::preflight::acl::PatternType::from_code(m.pattern_type)
                        .unwrap_or(kmirror::preflight::acl::PatternType::Unknown),
                    &m.principal,
                    &m.host,
                    kmirror::preflight::acl::Operation::from_code(m.operation)
                        .unwrap_or(kmirror::preflight::acl::Operation::Unknown),
                    kmirror::preflight::acl::Permission::from_code(m.permission_type)
                        .unwrap_or(kmirror::preflight::acl::Permission::Unknown),
                ));
            }
        }
        Ok(deleted)
    }
}
