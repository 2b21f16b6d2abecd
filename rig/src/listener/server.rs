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
use std::time::{Duration, Instant};

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
    /// Kafka's `connections.max.reauth.ms` (KIP-368): a SASL session ends
    /// this many ms after authentication, and for GSSAPI no later than the
    /// client's service ticket. The SaslAuthenticate response (v1+) tells
    /// the client, which must re-authenticate on the connection before
    /// then; a request on an expired session closes the connection. 0:
    /// sessions never end (Kafka's default).
    #[arg(long, default_value_t = 0)]
    pub session_lifetime_ms: u64,
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
    /// The realm's clock-skew allowance (for service tickets' real end).
    clockskew: Duration,
    tls: Option<TlsAcceptor>,
    /// See [`ListenerArgs::omit_authorized_operations`].
    pub omit_authorized_operations: bool,
    /// See [`ListenerArgs::session_lifetime_ms`]; `None` for 0.
    session_lifetime: Option<Duration>,
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
            clockskew: args
                .krb5_conf
                .as_deref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map_or(sasl::DEFAULT_CLOCKSKEW, |t| sasl::krb5_clockskew(&t)),
            tls,
            omit_authorized_operations: args.omit_authorized_operations,
            session_lifetime: (args.session_lifetime_ms > 0)
                .then(|| Duration::from_millis(args.session_lifetime_ms)),
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
            audit_auth(
                &shared,
                peer,
                AuthOutcome {
                    mechanism: "SSL",
                    error: Some(why.clone()),
                    ..Default::default()
                },
            );
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
                AuthOutcome {
                    mechanism: "SSL",
                    principal: cert.clone(),
                    kafka_principal: Some(kafka_principal.clone()),
                    ..Default::default()
                },
            );
            AuthState::Authenticated(Session {
                ctx: Arc::new(ConnCtx {
                    shared: shared.clone(),
                    principal: kafka_principal,
                    host: peer.ip().to_string(),
                    peer: peer.to_string(),
                }),
                mechanism: "SSL".to_string(),
                expires: None,
            })
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

/// An authenticated session: who, how, and until when.
struct Session {
    ctx: Arc<ConnCtx>,
    /// The SASL mechanism (or `SSL`) it was authenticated with; a
    /// re-authentication must use the same one, as in Kafka.
    mechanism: String,
    /// When it ends (KIP-368); `None`: never.
    expires: Option<Instant>,
}

impl Session {
    fn expired(&self) -> bool {
        self.expires.is_some_and(|e| Instant::now() >= e)
    }
}

enum AuthState {
    /// Nothing but ApiVersions and SaslHandshake yet.
    Start,
    /// SaslHandshake chose a mechanism; `raw` for v0, whose tokens travel
    /// as bare frames instead of SaslAuthenticate requests. `previous` is
    /// the session being re-authenticated (KIP-368), if any.
    Handshaken {
        mech: Mechanism,
        raw: bool,
        previous: Option<Session>,
    },
    /// Authenticated: requests are authorized and relayed.
    Authenticated(Session),
}

/// Where a connection stands, without borrowing its state: the GSS
/// context in [`AuthState`] is not `Sync`, so no reference to it may live
/// across an await.
enum Phase {
    Start,
    Handshaken,
    /// Authenticated; `sasl` when by SASL (so it may re-authenticate).
    Authenticated {
        ctx: Arc<ConnCtx>,
        sasl: bool,
    },
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
    /// Authenticated: the last token, and the session lifetime for the
    /// client in ms (0: the session does not expire).
    Done(Vec<u8>, i64),
    Failed(String),
}

/// The session lifetime to grant (KIP-368): at most `max`, and for GSSAPI
/// no longer than the client's service ticket lives; `None` when sessions
/// do not expire (no `max`, Kafka's default for GSSAPI). Never zero, since
/// to the client 0 means "never re-authenticate": a ticket at or past its
/// end gets 1 ms, i.e. "re-authenticate now".
pub fn session_lifetime(
    max: Option<Duration>,
    ticket_expiry_ms: Option<u64>,
    now_ms: u64,
) -> Option<Duration> {
    let max = max?;
    let left = ticket_expiry_ms.map_or(max, |e| Duration::from_millis(e.saturating_sub(now_ms)));
    Some(max.min(left).max(Duration::from_millis(1)))
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

    fn phase(&self) -> Phase {
        match &self.state {
            AuthState::Start => Phase::Start,
            AuthState::Handshaken { .. } => Phase::Handshaken,
            AuthState::Authenticated(s) => Phase::Authenticated {
                ctx: s.ctx.clone(),
                sasl: s.mechanism != "SSL",
            },
        }
    }

    /// Handles one request; false means close the connection.
    async fn dispatch(&mut self, req: &Request, uw: &mut OwnedWriteHalf) -> Result<bool> {
        if let AuthState::Authenticated(s) = &self.state {
            // Like Kafka's broker: an ended session closes the connection
            // at its next request, unless that request starts
            // re-authentication.
            if s.expired() && req.api_key != ApiKey::SaslHandshake {
                tracing::info!(
                    "closing connection from {}: the session of {} expired without re-authentication ({:?} request)",
                    self.peer,
                    s.ctx.principal,
                    req.api_key
                );
                return Ok(false);
            }
        }
        if req.api_key == ApiKey::ApiVersions {
            write_frame(uw, &req.raw).await?;
            self.push(Pending::Upstream {
                correlation_id: req.correlation_id(),
                post: Some(api_versions_post(req)),
            })?;
            return Ok(true);
        }
        let sasl_api = matches!(
            req.api_key,
            ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        );
        match (self.phase(), req.api_key) {
            (Phase::Start, ApiKey::SaslHandshake) => self.handshake(req, None),
            // KIP-368 re-authentication always uses SaslAuthenticate, so a
            // v0 handshake cannot start one.
            (Phase::Authenticated { sasl: true, .. }, ApiKey::SaslHandshake)
                if req.version() >= 1 =>
            {
                let AuthState::Authenticated(previous) =
                    std::mem::replace(&mut self.state, AuthState::Start)
                else {
                    unreachable!("phase said authenticated");
                };
                self.handshake(req, Some(previous))
            }
            (Phase::Handshaken, ApiKey::SaslAuthenticate) => self.authenticate(req),
            (Phase::Authenticated { ctx, .. }, _) if !sasl_api => self.relay(&ctx, req, uw).await,
            (_, ApiKey::SaslAuthenticate | ApiKey::SaslHandshake) => self.illegal_state(req),
            (_, other) => {
                tracing::info!(
                    "closing unauthenticated connection from {}: {other:?} before SASL authentication",
                    self.peer
                );
                Ok(false)
            }
        }
    }

    /// Authorizes one request of an authenticated session and relays it
    /// (or answers or closes, as the authorizer says).
    async fn relay(
        &mut self,
        ctx: &Arc<ConnCtx>,
        req: &Request,
        uw: &mut OwnedWriteHalf,
    ) -> Result<bool> {
        match authz::handle(ctx, req)? {
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

    /// A SASL request out of sequence: Kafka answers ILLEGAL_SASL_STATE
    /// and disconnects.
    fn illegal_state(&mut self, req: &Request) -> Result<bool> {
        if req.api_key == ApiKey::SaslAuthenticate {
            let mut resp = SaslAuthenticateResponse::default();
            resp.error_code = ILLEGAL_SASL_STATE;
            resp.error_message = Some(sb("Unexpected SaslAuthenticate request in this SASL state"));
            self.local(req, &resp)?;
        } else {
            let mut resp = SaslHandshakeResponse::default();
            resp.error_code = ILLEGAL_SASL_STATE;
            self.local(req, &resp)?;
        }
        Ok(false)
    }

    /// One SaslAuthenticate request: a step of the exchange; the last
    /// answer (v1+) carries the session lifetime.
    fn authenticate(&mut self, req: &Request) -> Result<bool> {
        let r: SaslAuthenticateRequest = req.decode()?;
        let mut resp = SaslAuthenticateResponse::default();
        let keep = match self.sasl_step(&r.auth_bytes) {
            SaslOutcome::Continue(tok) => {
                resp.auth_bytes = Bytes::from(tok);
                true
            }
            SaslOutcome::Done(tok, lifetime_ms) => {
                resp.auth_bytes = Bytes::from(tok);
                // v0 has no such field (and the encoder refuses a value
                // the version cannot carry).
                if req.version() >= 1 {
                    resp.session_lifetime_ms = lifetime_ms;
                }
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

    /// A SaslHandshake: picks the mechanism. `previous` is the session a
    /// re-authentication replaces, whose mechanism must not change.
    fn handshake(&mut self, req: &Request, previous: Option<Session>) -> Result<bool> {
        let r: SaslHandshakeRequest = req.decode()?;
        let mut resp = SaslHandshakeResponse::default();
        resp.mechanisms = self
            .shared
            .mechanisms
            .iter()
            .map(|m| sb(m.clone()))
            .collect();
        let wanted = r.mechanism.as_str();
        let changed = previous.as_ref().filter(|p| p.mechanism != wanted);
        let mech = match wanted {
            _ if changed.is_some() => None,
            m if !self.shared.mechanisms.iter().any(|e| e == m) => None,
            "GSSAPI" => self
                .shared
                .gss
                .as_ref()
                .map(|c| Mechanism::Gss(Box::new(GssServer::new(c, self.shared.clockskew)))),
            "PLAIN" => Some(Mechanism::Plain),
            m => ScramMechanism::from_name(m)
                .map(|s| Mechanism::Scram(Box::new(ScramServer::new(s)))),
        };
        let Some(mech) = mech else {
            let error = match changed {
                Some(p) => format!(
                    "SASL mechanism '{wanted}' requested by client is not supported for re-authentication of mechanism '{}'",
                    p.mechanism
                ),
                None => format!("Unsupported SASL mechanism {wanted}"),
            };
            self.audit_auth(AuthOutcome {
                mechanism: wanted,
                error: Some(error),
                reauthentication: previous.is_some(),
                ..Default::default()
            });
            resp.error_code = UNSUPPORTED_SASL_MECHANISM;
            self.local(req, &resp)?;
            return Ok(false);
        };
        self.state = AuthState::Handshaken {
            mech,
            raw: req.version() == 0,
            previous,
        };
        self.local(req, &resp)?;
        Ok(true)
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
            SaslOutcome::Done(tok, _) => {
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

    /// Feeds one token to the mechanism; on success the connection is
    /// (re-)authenticated.
    fn sasl_step(&mut self, token: &[u8]) -> SaslOutcome {
        let AuthState::Handshaken { mech, previous, .. } = &mut self.state else {
            return SaslOutcome::Failed("no SASL handshake".into());
        };
        let reauthentication = previous.is_some();
        let (name, result, claimed, ticket_expiry_ms) = match mech {
            Mechanism::Gss(gss) => {
                let r = gss.step(token);
                ("GSSAPI", r, gss.client_name(), gss.ticket_expiry_ms())
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
                ("PLAIN", r, claimed, None)
            }
            Mechanism::Scram(scram) => {
                let r = scram.step(&self.shared.scram, token);
                (scram.mechanism().name(), r, scram.claimed_user(), None)
            }
        };
        let outcome = AuthOutcome {
            mechanism: name,
            reauthentication,
            ticket_expiry_ms,
            ..Default::default()
        };
        match result {
            Ok(Step::Continue(tok)) => SaslOutcome::Continue(tok),
            Ok(Step::Done { principal, reply }) => self.authenticated(principal, reply, outcome),
            Err(reason) => {
                let msg = format!(
                    "Authentication failed during {} due to invalid credentials with SASL mechanism {name}: {reason}",
                    if reauthentication { "re-authentication" } else { "authentication" }
                );
                self.audit_auth(AuthOutcome {
                    principal: claimed,
                    error: Some(reason),
                    ..outcome
                });
                SaslOutcome::Failed(msg)
            }
        }
    }

    /// The exchange succeeded as `principal`: starts the session, unless a
    /// re-authentication changed the principal, which Kafka refuses.
    fn authenticated(
        &mut self,
        principal: String,
        reply: Vec<u8>,
        outcome: AuthOutcome<'static>,
    ) -> SaslOutcome {
        let kafka_principal = format!("User:{}", sasl::short_name(&principal));
        let previous = match std::mem::replace(&mut self.state, AuthState::Start) {
            AuthState::Handshaken { previous, .. } => previous,
            _ => None,
        };
        if let Some(p) = previous.filter(|p| p.ctx.principal != kafka_principal) {
            let msg = format!(
                "Cannot change principals during re-authentication from {}: {kafka_principal}",
                p.ctx.principal
            );
            self.audit_auth(AuthOutcome {
                principal: Some(principal),
                error: Some(msg.clone()),
                ..outcome
            });
            return SaslOutcome::Failed(msg);
        }
        let lifetime = session_lifetime(
            self.shared.session_lifetime,
            outcome.ticket_expiry_ms,
            now_ms(),
        );
        let lifetime_ms = lifetime.map(|d| d.as_millis() as u64);
        self.audit_auth(AuthOutcome {
            principal: Some(principal),
            kafka_principal: Some(kafka_principal.clone()),
            session_lifetime_ms: lifetime_ms,
            ..outcome
        });
        self.state = AuthState::Authenticated(Session {
            ctx: Arc::new(ConnCtx {
                shared: self.shared.clone(),
                principal: kafka_principal,
                host: self.peer.ip().to_string(),
                peer: self.peer.to_string(),
            }),
            mechanism: outcome.mechanism.to_string(),
            expires: lifetime.map(|d| Instant::now() + d),
        });
        SaslOutcome::Done(reply, lifetime_ms.unwrap_or(0) as i64)
    }

    fn audit_auth(&self, outcome: AuthOutcome<'_>) {
        audit_auth(&self.shared, self.peer, outcome);
    }
}

/// One authentication outcome for the evidence log.
#[derive(Debug, Default, Clone)]
struct AuthOutcome<'a> {
    mechanism: &'a str,
    principal: Option<String>,
    kafka_principal: Option<String>,
    error: Option<String>,
    reauthentication: bool,
    ticket_expiry_ms: Option<u64>,
    session_lifetime_ms: Option<u64>,
}

fn audit_auth(shared: &Shared, peer: SocketAddr, o: AuthOutcome<'_>) {
    shared.audit.record(&AuditEvent::Authentication {
        ts_ms: now_ms(),
        listener: shared.listen.clone(),
        peer: peer.to_string(),
        mechanism: o.mechanism.to_string(),
        principal: o.principal,
        success: o.error.is_none(),
        kafka_principal: o.kafka_principal,
        error: o.error,
        reauthentication: o.reauthentication,
        ticket_expiry_ms: o.ticket_expiry_ms,
        session_lifetime_ms: o.session_lifetime_ms,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lifetime_is_the_shorter_of_limit_and_ticket() {
        let s = Duration::from_secs;
        let now = 1_000_000;
        // No limit configured: sessions never end, whatever the ticket.
        assert_eq!(session_lifetime(None, Some(now + 5_000), now), None);
        // PLAIN/SCRAM (no ticket): the limit.
        assert_eq!(session_lifetime(Some(s(10)), None, now), Some(s(10)));
        // A ticket that outlives the limit, and one that does not.
        assert_eq!(
            session_lifetime(Some(s(10)), Some(now + 60_000), now),
            Some(s(10))
        );
        assert_eq!(
            session_lifetime(Some(s(10)), Some(now + 4_000), now),
            Some(s(4))
        );
        // An expired ticket (accepted within the clock skew) asks for
        // re-authentication at once; 0 would tell the client "never".
        assert_eq!(
            session_lifetime(Some(s(10)), Some(now - 2_000), now),
            Some(Duration::from_millis(1))
        );
    }
}
