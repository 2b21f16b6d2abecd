//! A delaying TCP proxy: the rig's WAN link (`tc netem` is not available
//! in the rig's kernel).
//!
//! Every chunk read from one side is written to the other side `delay`
//! after it was read, in each direction, so a request/response round trip
//! through the proxy takes at least 2 × `delay`. Chunks are timestamped
//! when read and a writer task sleeps until each one's time, while the
//! reader keeps reading: many chunks are on their way at once, so bulk
//! throughput is not held to one chunk per delay (a long fat pipe, not a
//! stop-and-wait link).
//!
//! What it does not model: TCP's own window over a long link. The proxy
//! acknowledges on loopback at once and buffers up to
//! [`DEFAULT_BUFFER_BYTES`] per direction and connection itself, so it is a
//! link with a large window; a real link with a small socket buffer is
//! slower than this.
//!
//! [`DelayProxy::stop`] drops every connection and refuses new ones (the
//! listening socket is closed), [`DelayProxy::restart`] listens again on the
//! same address: a network outage between clients and the broker behind
//! it, while the broker keeps its data (tansu's `memory://` storage would
//! lose it on a restart).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::tansu::{Tansu, TansuOptions};

/// Bytes asked of one read.
const CHUNK: usize = 64 * 1024;

/// Bytes one direction of one connection may hold while they wait out the
/// delay (64 MiB: 2.5 GB/s at 25 ms one way); the reader waits when full.
pub const DEFAULT_BUFFER_BYTES: usize = 64 << 20;

/// A running delay proxy. Dropping it stops it.
pub struct DelayProxy {
    rt: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    upstream: Mutex<Option<SocketAddr>>,
    /// While true, nothing is written towards clients (see
    /// [`DelayProxy::hold_responses`]).
    hold: tokio::sync::watch::Sender<bool>,
    delay: Duration,
    open: AtomicUsize,
    accepted: AtomicUsize,
    /// Bytes written to the broker (after their delay), all connections.
    to_broker: Arc<AtomicU64>,
}

impl std::fmt::Debug for DelayProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayProxy")
            .field("addr", &self.addr)
            .field("upstream", &*self.inner.upstream.lock().unwrap())
            .field("delay", &self.inner.delay)
            .finish()
    }
}

impl DelayProxy {
    /// Listens on `listen` (port 0: a free port) and forwards every
    /// connection to `upstream`, delaying each direction by `delay`.
    /// `upstream` may be set later ([`DelayProxy::set_upstream`]), so a
    /// broker can be started advertising the proxy's address; connections
    /// accepted before that are closed.
    pub fn start(
        listen: SocketAddr,
        upstream: Option<SocketAddr>,
        delay: Duration,
    ) -> io::Result<DelayProxy> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("delay-proxy")
            .enable_all()
            .build()?;
        let inner = Arc::new(Inner {
            upstream: Mutex::new(upstream),
            hold: tokio::sync::watch::Sender::new(false),
            delay,
            open: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            to_broker: Arc::default(),
        });
        let mut proxy = DelayProxy {
            rt: Some(rt),
            addr: listen,
            inner,
            accept: Mutex::new(None),
        };
        proxy.addr = proxy.listen(listen)?;
        Ok(proxy)
    }

    /// Binds `addr` and spawns the accept loop; returns the bound address.
    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let rt = self.rt.as_ref().expect("runtime lives until drop");
        // std sets SO_REUSEADDR on Unix, so the address can be bound again
        // right after a stop although its old connections are in TIME_WAIT.
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let bound = std_listener.local_addr()?;
        let _enter = rt.enter();
        let listener = TcpListener::from_std(std_listener)?;
        let task = rt.spawn(accept_loop(listener, self.inner.clone()));
        *self.accept.lock().unwrap() = Some(task);
        Ok(bound)
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The one-way delay.
    pub fn delay(&self) -> Duration {
        self.inner.delay
    }

    /// Sets where new connections are forwarded to.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.inner.upstream.lock().unwrap() = Some(upstream);
    }

    /// While `held`, the broker's bytes are not delivered to clients (they
    /// queue in the proxy), while clients' bytes still reach the broker:
    /// requests are handled, their answers do not arrive. Followed by
    /// [`DelayProxy::stop`], the broker has appended records whose
    /// acknowledgements are lost, so the client must retry them: the case
    /// an idempotent producer's sequence numbers keep from duplicating.
    pub fn hold_responses(&self, held: bool) {
        self.inner.hold.send_replace(held);
    }

    /// Bytes the proxy has written to the broker since start (requests that
    /// reached it, after their delay; also while answers are held). A test
    /// awaits it growing to know requests passed, instead of sleeping.
    pub fn bytes_to_broker(&self) -> u64 {
        self.inner.to_broker.load(Ordering::Acquire)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Connections accepted since start.
    pub fn accepted_connections(&self) -> usize {
        self.inner.accepted.load(Ordering::Acquire)
    }

    /// Whether the proxy is listening (not stopped).
    pub fn is_running(&self) -> bool {
        self.accept.lock().unwrap().is_some()
    }

    /// Drops every connection and closes the listening socket, so new
    /// connections are refused; returns once all are closed (bounded by 10 s).
    pub fn stop(&self) {
        let Some(task) = self.accept.lock().unwrap().take() else {
            return;
        };
        // Aborting the accept loop drops its listener and its JoinSet, which
        // aborts every connection task and with it both sockets.
        task.abort();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while (!task.is_finished() || self.open_connections() > 0)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Listens again on the same address after [`DelayProxy::stop`].
    pub fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.listen(self.addr).map(|_| ())
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        // Safe inside another runtime, unlike dropping the runtime.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((client, _)) => {
                    inner.accepted.fetch_add(1, Ordering::AcqRel);
                    conns.spawn(connection(client, inner.clone()));
                }
                Err(e) => {
                    tracing::warn!("delay proxy: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Counts a connection as open for as long as its task lives (also when it
/// is aborted).
struct OpenGuard(Arc<Inner>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn connection(client: TcpStream, inner: Arc<Inner>) {
    inner.open.fetch_add(1, Ordering::AcqRel);
    let _guard = OpenGuard(inner.clone());
    let Some(upstream) = *inner.upstream.lock().unwrap() else {
        return;
    };
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pipe(cr, sw, inner.delay, None, Some(inner.to_broker.clone()));
    let down = pipe(sr, cw, inner.delay, Some(inner.hold.subscribe()), None);
    tokio::pin!(up, down);
    // A clean end of one direction (EOF, passed on as a shutdown) leaves the
    // other running; an error in either ends the connection.
    tokio::select! {
        r = &mut up => if r.is_ok() { let _ = down.await; },
        r = &mut down => if r.is_ok() { let _ = up.await; },
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read,
/// and not while `hold` says so; adds the bytes written to `written`.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    mut hold: Option<tokio::sync::watch::Receiver<bool>>,
    written: Option<Arc<AtomicU64>>,
) -> io::Result<()> {
    let budget = Arc::new(Semaphore::new(DEFAULT_BUFFER_BYTES));
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Bytes, OwnedSemaphorePermit)>();
    let reader = async move {
        let mut buf = BytesMut::new();
        loop {
            buf.reserve(CHUNK);
            if from.read_buf(&mut buf).await? == 0 {
                // EOF: dropping `tx` lets the writer drain and shut down.
                return Ok::<_, io::Error>(());
            }
            let due = Instant::now() + delay;
            let chunk = buf.split().freeze();
            let n = u32::try_from(chunk.len()).expect("a read is at most CHUNK bytes");
            let permit = budget
                .clone()
                .acquire_many_owned(n)
                .await
                .expect("the semaphore is never closed");
            if tx.send((due, chunk, permit)).is_err() {
                return Ok(());
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk, permit)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if let Some(h) = hold.as_mut() {
                // The sender lives as long as the proxy.
                let _ = h.wait_for(|held| !*held).await;
            }
            to.write_all(&chunk).await?;
            if let Some(w) = &written {
                w.fetch_add(chunk.len() as u64, Ordering::AcqRel);
            }
            drop(permit);
        }
        to.shutdown().await
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

/// A tansu broker behind a [`DelayProxy`]: the proxy listens first and
/// tansu advertises it, so every client connection (bootstrap and the
/// broker connections from Metadata) goes through the delay.
#[derive(Debug)]
pub struct DelayedTansu {
    /// Declared first: dropped (stopped) before the broker behind it.
    pub proxy: DelayProxy,
    /// The broker; its own address ([`Tansu::addr`]) is the undelayed path.
    pub tansu: Tansu,
}

impl DelayedTansu {
    /// Starts the proxy on a free loopback port, then tansu advertising it.
    pub fn start(delay: Duration, opts: TansuOptions) -> anyhow::Result<DelayedTansu> {
        let proxy = DelayProxy::start("127.0.0.1:0".parse()?, None, delay)?;
        let tansu = Tansu::start(TansuOptions {
            advertised: Some(proxy.addr()),
            ..opts
        })?;
        proxy.set_upstream(tansu.addr());
        Ok(DelayedTansu { proxy, tansu })
    }

    /// The bootstrap address clients use: the proxy.
    pub fn bootstrap(&self) -> String {
        self.proxy.addr().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener as StdListener, TcpStream as StdStream};
    use std::time::Instant as StdInstant;

    /// An upstream that echoes every byte back, on a thread per connection.
    fn echo_server() -> SocketAddr {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    /// An upstream that reads 8 bytes (a length N), then N bytes, then
    /// answers one byte.
    fn sink_server() -> SocketAddr {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                std::thread::spawn(move || {
                    let mut len = [0u8; 8];
                    s.read_exact(&mut len).unwrap();
                    let mut left = u64::from_be_bytes(len);
                    let mut buf = vec![0u8; 256 * 1024];
                    while left > 0 {
                        let n = s.read(&mut buf).unwrap();
                        assert!(n > 0, "EOF with {left} bytes to go");
                        left -= n as u64;
                    }
                    s.write_all(b"k").unwrap();
                });
            }
        });
        addr
    }

    fn proxy(upstream: SocketAddr, delay_ms: u64) -> DelayProxy {
        DelayProxy::start(
            "127.0.0.1:0".parse().unwrap(),
            Some(upstream),
            Duration::from_millis(delay_ms),
        )
        .unwrap()
    }

    fn round_trip(s: &mut StdStream) -> Duration {
        let t = StdInstant::now();
        s.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
        t.elapsed()
    }

    /// A request/response through the proxy takes at least twice the
    /// one-way delay, and not much more on an idle path.
    #[test]
    fn round_trip_takes_twice_the_delay() {
        let p = proxy(echo_server(), 50);
        let mut s = StdStream::connect(p.addr()).unwrap();
        for _ in 0..3 {
            let rtt = round_trip(&mut s);
            assert!(rtt >= Duration::from_millis(100), "rtt {rtt:?}");
            assert!(rtt < Duration::from_secs(2), "rtt {rtt:?}");
        }
    }

    /// 32 MiB through a 50 ms link: one 64 KiB chunk per delay would take
    /// 25 s; pipelined it takes the delay plus loopback copying. The bound
    /// (5 s) leaves room for a loaded machine and still fails a
    /// stop-and-wait proxy by 5×.
    #[test]
    fn bulk_throughput_is_not_one_chunk_per_delay() {
        let p = proxy(sink_server(), 50);
        let total: u64 = 32 << 20;
        let mut s = StdStream::connect(p.addr()).unwrap();
        let t = StdInstant::now();
        s.write_all(&total.to_be_bytes()).unwrap();
        let block = vec![7u8; 1 << 20];
        for _ in 0..(total >> 20) {
            s.write_all(&block).unwrap();
        }
        let mut k = [0u8; 1];
        s.read_exact(&mut k).unwrap();
        let took = t.elapsed();
        eprintln!(
            "32 MiB through a 50 ms proxy in {took:?} ({:.0} MB/s)",
            total as f64 / took.as_secs_f64() / 1e6
        );
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    /// `stop` drops open connections and refuses new ones; `restart`
    /// accepts again on the same address.
    #[test]
    fn stop_drops_and_refuses_restart_accepts() {
        let p = proxy(echo_server(), 5);
        let addr = p.addr();
        let mut s = StdStream::connect(addr).unwrap();
        round_trip(&mut s);
        assert_eq!(p.open_connections(), 1);
        p.stop();
        assert_eq!(p.open_connections(), 0);
        // The old connection is gone: a read sees EOF or a reset.
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"x");
        let mut b = [0u8; 1];
        assert!(
            matches!(s.read(&mut b), Ok(0) | Err(_)),
            "the connection survived stop"
        );
        let refused = StdStream::connect_timeout(&addr, Duration::from_secs(1));
        assert!(refused.is_err(), "a stopped proxy accepted a connection");
        p.restart().unwrap();
        assert_eq!(p.addr(), addr);
        let mut s = StdStream::connect(addr).unwrap();
        round_trip(&mut s);
        assert_eq!(p.accepted_connections(), 2);
    }

    /// Held responses queue: the request reaches the upstream (counted in
    /// `bytes_to_broker`), the answer arrives only after the hold ends.
    #[test]
    fn held_responses_arrive_after_the_hold() {
        let p = proxy(echo_server(), 1);
        let mut s = StdStream::connect(p.addr()).unwrap();
        round_trip(&mut s);
        assert_eq!(p.bytes_to_broker(), 4);
        p.hold_responses(true);
        s.write_all(b"ping").unwrap();
        // The request reaches the upstream while its answer is held.
        let passed = crate::await_condition(Duration::from_secs(5), || {
            (p.bytes_to_broker() == 8).then_some(())
        });
        assert!(
            passed.is_some(),
            "{} bytes to the broker",
            p.bytes_to_broker()
        );
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut b = [0u8; 4];
        assert!(s.read_exact(&mut b).is_err(), "an answer passed the hold");
        p.hold_responses(false);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
    }

    /// Without an upstream a connection is closed, not left hanging; once
    /// set, it is used.
    #[test]
    fn upstream_can_be_set_after_start() {
        let p = DelayProxy::start(
            "127.0.0.1:0".parse().unwrap(),
            None,
            Duration::from_millis(1),
        )
        .unwrap();
        let mut s = StdStream::connect(p.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)));
        p.set_upstream(echo_server());
        let mut s = StdStream::connect(p.addr()).unwrap();
        round_trip(&mut s);
    }
}
