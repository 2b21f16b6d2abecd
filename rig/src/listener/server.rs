//! The listener process: accepts Kafka clients, authenticates them with
//! SASL (GSSAPI, PLAIN or SCRAM-SHA-256/512), enforces ACLs, and relays
//! to the tansu broker behind it over one upstream connection per client
//! connection.
//!
//! Each client connection has two tasks: the reader decodes requests,
//! authenticates and authorizes them, relays allowed requests upstream and
//! queues one "pending" entry per expected response; the responder takes
//! entries in order, reading tansu's responses or using locally built ones,
//! so responses reach the client in request order even when the client
//! pipelines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kmirror::preflight::acl::Authorizer;
use libgssapi::credential::Cred;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::acl_api;
use super::audit::{now_ms, AuditEvent, AuditLog};
use super::authz::{self, Action, ConnCtx, PostFn};
use super::sasl::{self, GssServer, PlainUsers, Step};
use super::scram::{ScramMechanism, ScramServer, ScramUsers};
use super::tls;
use super::wire::{
    decode_response, encode_response, parse_request, read_frame, response_correlation_id, sb,
    write_frame, Request,
};

/// SASL_AUTHENTICATION_FAILED.
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// UNSUPPORTED_SASL_MECHANISM.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// ILLEGAL_SASL_STATE.
pub const ILLEGAL_SASL_STATE: i16 = 34;

/// Command line of `kmirror-listener`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "kmirror-listener",
    about = "Kerberos/PLAIN/SCRAM-authenticating, ACL-enforcing Kafka listener in front of a tansu broker (kmirror test rig)"
)]
pub struct ListenerArgs {
    /// Address to accept Kafka clients on.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The tansu broker to relay to.
    #[arg(long)]
    pub upstream: SocketAddr,
    /// Enabled SASL mechanisms, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "GSSAPI,PLAIN")]
    pub mechanisms: Vec<String>,
    /// Service keytab (sets KRB5_KTNAME); required for GSSAPI.
    #[arg(long)]
    pub keytab: Option<PathBuf>,
    /// Accept only this service principal (e.g. kafka/localhost@REALM);
    /// without it any principal in the keytab is accepted.
    #[arg(long)]
    pub service_principal: Option<String>,
    /// krb5.conf to use (sets KRB5_CONFIG).
    #[arg(long)]
    pub krb5_conf: Option<PathBuf>,
    /// File of `user:password` lines for PLAIN and SCRAM (SCRAM credentials
    /// are derived from them at start-up, each with a random salt).
    #[arg(long)]
    pub plain_users: Option<PathBuf>,
    /// Super users, `;`-separated, e.g. `User:admin`.
    #[arg(long, default_value = "")]
    pub super_users: String,
    /// Initial ACLs: a JSON array of ACL entries.
    #[arg(long)]
    pub acl_file: Option<PathBuf>,
    /// Evidence log: one JSON line per authentication and denial.
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// Kafka's allow.everyone.if.no.acl.found.
    #[arg(long)]
    pub allow_everyone_if_no_acl_found: bool,
    /// Answer KIP-430 authorized-operations requests with "not included"
    /// (`i32::MIN`), as a broker older than Kafka 2.3 does, so clients must
    /// fall back to DescribeAcls.
    #[arg(long)]
    pub omit_authorized_operations: bool,
    /// TLS server certificate chain (PEM): the listener speaks TLS
    /// (SASL_SSL, or SSL when `--mechanisms` is empty).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM). On an SSL
    /// listener (no SASL) the certificate's subject is the principal.
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

impl ListenerArgs {
    /// Points the GSS-API library at the rig's krb5.conf and service keytab.
    /// Must run before any thread is started (environment changes are not
    /// thread-safe), i.e. first thing in `main`.
    pub fn apply_kerberos_env(&self) {
        if let Some(conf) = &self.krb5_conf {
            std::env::set_var("KRB5_CONFIG", conf);
        }
        if let Some(kt) = &self.keytab {
            std::env::set_var("KRB5_KTNAME", format!("FILE:{}", kt.display()));
        }
    }
}

/// State shared by all connections of one listener.
pub struct Shared {
    /// The ACLs, changed at run time by CreateAcls/DeleteAcls.
    pub authorizer: RwLock<Authorizer>,
    /// The evidence log.
    pub audit: AuditLog,
    /// The listener's own address, recorded in evidence.
    pub listen: String,
    upstream: SocketAddr,
    mechanisms: Vec<String>,
    plain: PlainUsers,
    scram: ScramUsers,
    gss: Option<Cred>,
    tls: Option<TlsAcceptor>,
    /// See [`ListenerArgs::omit_authorized_operations`].
    pub omit_authorized_operations: bool,
}

impl Shared {
    /// Validates the arguments and loads users, ACLs and credentials.
    pub fn from_args(args: &ListenerArgs) -> Result<Shared> {
        let mechanisms: Vec<String> = args
            .mechanisms
            .iter()
            .filter(|m| !m.is_empty())
            .cloned()
            .collect();
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsAcceptor::from(tls::server_config(
                cert,
                key,
                args.tls_client_ca.as_deref(),
            )?)),
            _ => None,
        };
        if mechanisms.is_empty() {
            if tls.is_none() {
                bail!("no SASL mechanism and no TLS: the listener would authenticate nobody");
            }
        } else {
            sasl::validate_mechanisms(&mechanisms)?;
        }
        let gss = if mechanisms.iter().any(|m| m == "GSSAPI") {
            if args.keytab.is_none() {
                bail!("GSSAPI needs --keytab");
            }
            Some(sasl::acquire_acceptor(args.service_principal.as_deref())?)
        } else {
            None
        };
        let plain = match &args.plain_users {
            Some(p) => PlainUsers::load(p)?,
            None if mechanisms
                .iter()
                .any(|m| m == "PLAIN" || ScramMechanism::from_name(m).is_some()) =>
            {
                bail!("PLAIN and SCRAM need --plain-users")
            }
            None => PlainUsers::default(),
        };
        let scram = if mechanisms
            .iter()
            .any(|m| ScramMechanism::from_name(m).is_some())
        {
            ScramUsers::from_plain(&plain)?
        } else {
            ScramUsers::default()
        };
        let mut authorizer = Authorizer::new();
        authorizer.super_users = kmirror::preflight::acl::parse_super_users(&args.super_users)
            .context("parsing --super-users")?;
        authorizer.allow_everyone_if_no_acl_found = args.allow_everyone_if_no_acl_found;
        if let Some(f) = &args.acl_file {
            acl_api::load_acl_file(&mut authorizer, f)?;
        }
        Ok(Shared {
            authorizer: RwLock::new(authorizer),
            audit: AuditLog::open(args.audit_log.as_deref())?,
            listen: args.listen.to_string(),
            upstream: args.upstream,
            mechanisms,
            plain,
            scram,
            gss,
            tls,
            omit_authorized_operations: args.omit_authorized_operations,
        })
    }
}

/// Binds and serves until the process is killed. Prints
/// `kmirror-listener listening on ADDR` once accepting.
pub async fn run(args: ListenerArgs) -> Result<()> {
    let shared = Arc::new(Shared::from_args(&args)?);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    println!("kmirror-listener listening on {}", listener.local_addr()?);
    serve(listener, shared).await
}

/// Accepts connections on `listener` forever.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) -> Result<()> {
    loop {
        let (sock, peer) = listener.accept().await.context("accepting")?;
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = accept(sock, peer, shared).await {
                tracing::info!("connection from {peer} ended: {e:#}");
            }
        });
    }
}

/// One queued response, in request order.
enum Pending {
    /// A response built by the listener (a frame payload).
    Local(Bytes),
    /// A response to read from tansu, checked against the correlation id.
    Upstream {
        correlation_id: i32,
        post: Option<PostFn>,
    },
    /// Close the connection after everything queued before.
    Close,
}

/// Runs the TLS handshake if the listener speaks TLS, then the Kafka
/// connection.
async fn accept(sock: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> Result<()> {
    sock.set_nodelay(true).ok();
    let Some(acceptor) = shared.tls.clone() else {
        return connection(sock, peer, shared, None).await;
    };
    let handshake = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(sock)).await;
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let why = format!("TLS handshake failed: {e}");
            audit_auth(&shared, peer, "SSL", None, None, Some(why.clone()));
            bail!(why);
        }
        Err(_) => bail!("TLS handshake timed out"),
    };
    let principal = match stream.get_ref().1.peer_certificates() {
        Some([leaf, ..]) => Some(tls::subject_dn(leaf)?),
        _ => None,
    };
    connection(stream, peer, shared, Some(principal)).await
}

/// One client connection. `tls` is `None` for plaintext, otherwise the
/// client certificate's subject DN if it sent one.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tls: Option<Option<String>>,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let up = TcpStream::connect(shared.upstream)
        .await
        .with_context(|| format!("connecting to tansu at {}", shared.upstream))?;
    up.set_nodelay(true).ok();
    let (mut cr, cw) = tokio::io::split(stream);
    let (ur, mut uw) = up.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut responder = tokio::spawn(respond_loop(rx, cw, ur));
    // An SSL listener (TLS, no SASL) authenticates by the client
    // certificate, as Kafka's DEFAULT ssl.principal.mapping.rules does;
    // without a certificate the client is ANONYMOUS.
    let state = match tls {
        Some(cert) if shared.mechanisms.is_empty() => {
            let kafka_principal = format!("User:{}", cert.as_deref().unwrap_or("ANONYMOUS"));
            audit_auth(
                &shared,
                peer,
                "SSL",
                cert.clone(),
                Some(kafka_principal.clone()),
                None,
            );
            AuthState::Authenticated(Arc::new(ConnCtx {
                shared: shared.clone(),
                principal: kafka_principal,
                host: peer.ip().to_string(),
                peer: peer.to_string(),
            }))
        }
        _ => AuthState::Start,
    };
    let mut conn = Conn {
        shared,
        peer,
        tx,
        state,
    };
    tokio::select! {
        r = conn.read_loop(&mut cr, &mut uw) => {
            drop(conn);
            let flushed = responder.await.context("responder task")?;
            r.and(flushed)
        }
        r = &mut responder => r.context("responder task")?,
    }
}

async fn respond_loop<W: AsyncWrite + Unpin>(
    mut rx: mpsc::UnboundedReceiver<Pending>,
    mut cw: W,
    mut ur: OwnedReadHalf,
) -> Result<()> {
    while let Some(p) = rx.recv().await {
        match p {
            Pending::Local(frame) => write_frame(&mut cw, &frame).await?,
            Pending::Upstream {
                correlation_id,
                post,
            } => {
                let frame = read_frame(&mut ur)
                    .await?
                    .context("tansu closed the connection")?;
                let got = response_correlation_id(&frame)?;
                if got != correlation_id {
                    bail!("tansu answered correlation id {got}, expected {correlation_id}");
                }
                let out = match post {
                    Some(f) => f(frame)?,
                    None => frame,
                };
                write_frame(&mut cw, &out).await?;
            }
            Pending::Close => break,
        }
    }
    cw.shutdown().await.ok();
    Ok(())
}

enum Mechanism {
    Gss(Box<GssServer>),
    Plain,
    Scram(Box<ScramServer>),
}

enum AuthState {
    /// Nothing but ApiVersions and SaslHandshake yet.
    Start,
    /// SaslHandshake chose a mechanism; `raw` for v0, whose tokens travel
    /// as bare frames instead of SaslAuthenticate requests.
    Handshaken { mech: Mechanism, raw: bool },
    /// Authenticated: requests are authorized and relayed.
    Authenticated(Arc<ConnCtx>),
}

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    tx: mpsc::UnboundedSender<Pending>,
    state: AuthState,
}

/// How one SASL token exchange step ended.
enum SaslOutcome {
    Continue(Vec<u8>),
    Done(Vec<u8>),
    Failed(String),
}

impl Conn {
    fn push(&self, p: Pending) -> Result<()> {
        self.tx
            .send(p)
            .map_err(|_| anyhow::anyhow!("responder has stopped"))
    }

    fn local<T: kafka_protocol::protocol::Encodable>(&self, req: &Request, body: &T) -> Result<()> {
        self.push(Pending::Local(encode_response(
            req.api_key,
            req.version(),
            req.correlation_id(),
            body,
        )?))
    }

    async fn read_loop<R: AsyncRead + Unpin>(
        &mut self,
        cr: &mut R,
        uw: &mut OwnedWriteHalf,
    ) -> Result<()> {
        loop {
            let Some(frame) = read_frame(cr).await? else {
                return Ok(());
            };
            if let AuthState::Handshaken { raw: true, .. } = self.state {
                if !self.raw_token(frame)? {
                    return Ok(());
                }
                continue;
            }
            let req = match parse_request(frame) {
                Ok(r) => r,
                Err(e) => {
                    self.push(Pending::Close)?;
                    return Err(e.context("undecodable request; closing"));
                }
            };
            if !self.dispatch(&req, uw).await? {
                self.push(Pending::Close)?;
                return Ok(());
            }
        }
    }

    /// Handles one request; false means close the connection.
    async fn dispatch(&mut self, req: &Request, uw: &mut OwnedWriteHalf) -> Result<bool> {
        if req.api_key == ApiKey::ApiVersions {
            write_frame(uw, &req.raw).await?;
            self.push(Pending::Upstream {
                correlation_id: req.correlation_id(),
                post: Some(api_versions_post(req)),
            })?;
            return Ok(true);
        }
        // The session is cloned out so that no borrow of `self.state` (which
        // may hold a GSS context, not `Sync`) lives across an await.
        let session = match &self.state {
            AuthState::Authenticated(ctx) => Some(ctx.clone()),
            _ => None,
        };
        let handshaken = matches!(self.state, AuthState::Handshaken { .. });
        let started = matches!(self.state, AuthState::Start);
        match (session, req.api_key) {
            (None, ApiKey::SaslHandshake) if started => self.handshake(req),
            (None, ApiKey::SaslAuthenticate) if handshaken => {
                let r: SaslAuthenticateRequest = req.decode()?;
                let outcome = self.sasl_step(&r.auth_bytes);
                let mut resp = SaslAuthenticateResponse::default();
                let keep = match outcome {
                    SaslOutcome::Continue(tok) | SaslOutcome::Done(tok) => {
                        resp.auth_bytes = Bytes::from(tok);
                        true
                    }
                    SaslOutcome::Failed(msg) => {
                        resp.error_code = SASL_AUTHENTICATION_FAILED;
                        resp.error_message = Some(sb(msg));
                        false
                    }
                };
                self.local(req, &resp)?;
                Ok(keep)
            }
            (Some(ctx), key) if key != ApiKey::SaslHandshake && key != ApiKey::SaslAuthenticate => {
                match authz::handle(&ctx, req)? {
                    Action::Forward {
                        frame,
                        post,
                        expects_response,
                    } => {
                        write_frame(uw, &frame).await?;
                        if expects_response {
                            self.push(Pending::Upstream {
                                correlation_id: req.correlation_id(),
                                post,
                            })?;
                        }
                        Ok(true)
                    }
                    Action::Respond(frame) => {
                        self.push(Pending::Local(frame))?;
                        Ok(true)
                    }
                    Action::Close(why) => {
                        tracing::info!("closing connection from {}: {why}", self.peer);
                        Ok(false)
                    }
                }
            }
            (_, ApiKey::SaslAuthenticate) | (_, ApiKey::SaslHandshake) => {
                // Out of sequence (or re-authentication, which this
                // listener does not offer): Kafka answers ILLEGAL_SASL_STATE
                // and disconnects.
                if req.api_key == ApiKey::SaslAuthenticate {
                    let mut resp = SaslAuthenticateResponse::default();
                    resp.error_code = ILLEGAL_SASL_STATE;
                    resp.error_message =
                        Some(sb("Unexpected SaslAuthenticate request in this SASL state"));
                    self.local(req, &resp)?;
                } else {
                    let mut resp = SaslHandshakeResponse::default();
                    resp.error_code = ILLEGAL_SASL_STATE;
                    self.local(req, &resp)?;
                }
                Ok(false)
            }
            (_, other) => {
                tracing::info!(
                    "closing unauthenticated connection from {}: {other:?} before SASL authentication",
                    self.peer
                );
                Ok(false)
            }
        }
    }

    fn handshake(&mut self, req: &Request) -> Result<bool> {
        let r: SaslHandshakeRequest = req.decode()?;
        let mut resp = SaslHandshakeResponse::default();
        resp.mechanisms = self
            .shared
            .mechanisms
            .iter()
            .map(|m| sb(m.clone()))
            .collect();
        let mech = match r.mechanism.as_str() {
            m if !self.shared.mechanisms.iter().any(|e| e == m) => None,
            "GSSAPI" => self
                .shared
                .gss
                .as_ref()
                .map(|c| Mechanism::Gss(Box::new(GssServer::new(c)))),
            "PLAIN" => Some(Mechanism::Plain),
            m => ScramMechanism::from_name(m)
                .map(|s| Mechanism::Scram(Box::new(ScramServer::new(s)))),
        };
        match mech {
            Some(mech) => {
                self.state = AuthState::Handshaken {
                    mech,
                    raw: req.version() == 0,
                };
                self.local(req, &resp)?;
                Ok(true)
            }
            None => {
                resp.error_code = UNSUPPORTED_SASL_MECHANISM;
                self.audit_auth(
                    r.mechanism.as_str(),
                    None,
                    None,
                    Some(format!(
                        "Unsupported SASL mechanism {}",
                        r.mechanism.as_str()
                    )),
                );
                self.local(req, &resp)?;
                Ok(false)
            }
        }
    }

    /// A SaslHandshake v0 token frame; false means close.
    fn raw_token(&mut self, frame: Bytes) -> Result<bool> {
        let plain = matches!(
            self.state,
            AuthState::Handshaken {
                mech: Mechanism::Plain,
                ..
            }
        );
        match self.sasl_step(&frame) {
            SaslOutcome::Continue(tok) => {
                self.push(Pending::Local(Bytes::from(tok)))?;
                Ok(true)
            }
            SaslOutcome::Done(tok) => {
                // Like Kafka: the final (empty) PLAIN answer and SCRAM's
                // server-final message are sent; the GSSAPI exchange ends
                // with the client's layer choice.
                if plain || !tok.is_empty() {
                    self.push(Pending::Local(Bytes::from(tok)))?;
                }
                Ok(true)
            }
            SaslOutcome::Failed(_) => Ok(false),
        }
    }

    fn sasl_step(&mut self, token: &[u8]) -> SaslOutcome {
        let AuthState::Handshaken { mech, .. } = &mut self.state else {
            return SaslOutcome::Failed("no SASL handshake".into());
        };
        let (name, result, claimed) = match mech {
            Mechanism::Gss(gss) => {
                let r = gss.step(token);
                ("GSSAPI", r, gss.client_name())
            }
            Mechanism::Plain => {
                let claimed = token
                    .split(|b| *b == 0)
                    .nth(1)
                    .map(|u| String::from_utf8_lossy(u).into_owned());
                let r = self
                    .shared
                    .plain
                    .authenticate(token)
                    .map(|user| Step::Done {
                        principal: user,
                        reply: Vec::new(),
                    });
                ("PLAIN", r, claimed)
            }
            Mechanism::Scram(scram) => {
                let r = scram.step(&self.shared.scram, token);
                (scram.mechanism().name(), r, scram.claimed_user())
            }
        };
        match result {
            Ok(Step::Continue(tok)) => SaslOutcome::Continue(tok),
            Ok(Step::Done { principal, reply }) => {
                let kafka_principal = format!("User:{}", sasl::short_name(&principal));
                self.audit_auth(name, Some(principal), Some(kafka_principal.clone()), None);
                self.state = AuthState::Authenticated(Arc::new(ConnCtx {
                    shared: self.shared.clone(),
                    principal: kafka_principal,
                    host: self.peer.ip().to_string(),
                    peer: self.peer.to_string(),
                }));
                SaslOutcome::Done(reply)
            }
            Err(reason) => {
                let msg = format!(
                    "Authentication failed during authentication due to invalid credentials with SASL mechanism {name}: {reason}"
                );
                self.audit_auth(name, claimed, None, Some(reason));
                SaslOutcome::Failed(msg)
            }
        }
    }

    fn audit_auth(
        &self,
        mechanism: &str,
        principal: Option<String>,
        kafka_principal: Option<String>,
        error: Option<String>,
    ) {
        audit_auth(
            &self.shared,
            self.peer,
            mechanism,
            principal,
            kafka_principal,
            error,
        );
    }
}

fn audit_auth(
    shared: &Shared,
    peer: SocketAddr,
    mechanism: &str,
    principal: Option<String>,
    kafka_principal: Option<String>,
    error: Option<String>,
) {
    shared.audit.record(&AuditEvent::Authentication {
        ts_ms: now_ms(),
        listener: shared.listen.clone(),
        peer: peer.to_string(),
        mechanism: mechanism.to_string(),
        principal,
        success: error.is_none(),
        kafka_principal,
        error,
    });
}

/// Rewrites tansu's ApiVersions answer (see [`authz::patch_api_versions`]);
/// error answers (e.g. UNSUPPORTED_VERSION in v0 format) pass unchanged.
fn api_versions_post(req: &Request) -> PostFn {
    let version = req.version();
    Box::new(move |raw: Bytes| {
        if version > ApiKey::ApiVersions.valid_versions().max {
            return Ok(raw);
        }
        let Ok((header, mut body)) =
            decode_response::<ApiVersionsResponse>(ApiKey::ApiVersions, version, &raw)
        else {
            return Ok(raw);
        };
        if body.error_code != 0 {
            return Ok(raw);
        }
        authz::patch_api_versions(&mut body);
        encode_response(ApiKey::ApiVersions, version, header.correlation_id, &body)
    })
}
