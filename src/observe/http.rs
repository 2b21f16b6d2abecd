//! The `--metrics.addr` HTTP endpoint: `/metrics` (Prometheus text),
//! `/healthz` (the process answers) and `/readyz` (authenticated to every
//! side, consumers joined, not aborting; a 503 gives reason codes such as
//! `auth_failed target since ...`, never raw error text). HTTP/1.1 on
//! hyper; nothing else is served.
//!
//! Hostile or broken clients cannot take it down: a connection must send
//! its request headers within [`HEADER_READ_TIMEOUT`] (also between
//! keep-alive requests), lives at most [`CONNECTION_LIFETIME`], and at
//! most [`MAX_CONNECTIONS`] are served at once. At the cap, a new
//! connection evicts the oldest one that has not sent a request yet, so
//! a pile of idle connections cannot lock a scraper out.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::metrics::Metrics;

/// Connections served at once; scrapers need one or two each.
pub const MAX_CONNECTIONS: usize = 32;

/// How long a connection may take to send a request's headers (also the
/// idle limit between keep-alive requests).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a connection is kept, whatever it does.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// How long the accept loop waits for an evicted connection's slot.
const EVICTION_WAIT: Duration = Duration::from_millis(500);

/// Binding the metrics address failed.
#[derive(Debug, thiserror::Error)]
#[error("--metrics.addr {addr}: cannot listen: {source}")]
pub struct BindError {
    /// The address asked for.
    pub addr: String,
    /// The OS error.
    pub source: std::io::Error,
}

/// `HOST:PORT` as given, or `127.0.0.1:PORT` for a bare port (`9404` or
/// `:9404`): loopback unless another address is asked for explicitly.
pub fn listen_address(addr: &str) -> String {
    let port = addr.strip_prefix(':').unwrap_or(addr);
    if port.parse::<u16>().is_ok() {
        format!("127.0.0.1:{port}")
    } else {
        addr.to_string()
    }
}

/// Binds `addr` (`HOST:PORT`, or a bare port on 127.0.0.1; port 0 picks a free one).
pub async fn bind(addr: &str) -> Result<TcpListener, BindError> {
    TcpListener::bind(listen_address(addr))
        .await
        .map_err(|source| BindError {
            addr: addr.to_string(),
            source,
        })
}

/// Connections that have not sent a request yet, oldest first, each with
/// the sender that closes it.
#[derive(Default)]
struct Idle {
    next_id: u64,
    waiting: VecDeque<(u64, oneshot::Sender<()>)>,
}

/// Serves requests on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let local: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(addr = ?local, "metrics and health endpoint listening");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let idle = Arc::new(Mutex::new(Idle::default()));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: the mirror goes on.
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(permit) = slot(&slots, &idle).await else {
            tracing::debug!(
                "metrics endpoint: {MAX_CONNECTIONS} connections busy; closing a new one"
            );
            continue;
        };
        let (evict, evicted) = oneshot::channel();
        let id = {
            let mut i = idle.lock().expect("idle lock");
            i.next_id += 1;
            let id = i.next_id;
            i.waiting.push_back((id, evict));
            id
        };
        tokio::spawn(connection(
            stream,
            metrics.clone(),
            idle.clone(),
            id,
            evicted,
            permit,
        ));
    }
}

/// A free slot: at once, or after evicting the oldest idle connection.
async fn slot(slots: &Arc<Semaphore>, idle: &Mutex<Idle>) -> Option<OwnedSemaphorePermit> {
    if let Ok(p) = slots.clone().try_acquire_owned() {
        return Some(p);
    }
    let oldest = idle.lock().expect("idle lock").waiting.pop_front();
    if let Some((_, evict)) = oldest {
        let _ = evict.send(());
    }
    tokio::time::timeout(EVICTION_WAIT, slots.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

/// Serves one connection until it ends, times out or is evicted.
async fn connection(
    stream: TcpStream,
    metrics: Arc<Metrics>,
    idle: Arc<Mutex<Idle>>,
    id: u64,
    evicted: oneshot::Receiver<()>,
    _permit: OwnedSemaphorePermit,
) {
    let active = idle.clone();
    let svc = hyper::service::service_fn(move |req| {
        // A request arrived: no longer evictable.
        active
            .lock()
            .expect("idle lock")
            .waiting
            .retain(|(i, _)| *i != id);
        let m = metrics.clone();
        async move { Ok::<_, Infallible>(respond(&m, &req)) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), svc);
    // The sender is dropped (not sent) once a request arrived: then only
    // the timeouts end the connection.
    let evicted = async {
        if evicted.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(CONNECTION_LIFETIME, conn) => {}
        () = evicted => {}
    }
    idle.lock()
        .expect("idle lock")
        .waiting
        .retain(|(i, _)| *i != id);
}

fn respond(m: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            m.encode(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => match m.readiness() {
            Ok(()) => (StatusCode::OK, "text/plain", "ready\n".into()),
            Err(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {}\n", why.replace('\n', "\nnot ready: ")),
            ),
        },
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a static response is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness() {
        let l = bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let m = Arc::new(Metrics::new());
        m.expect_streams(1);
        let server = tokio::spawn(serve(l, m.clone()));
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        m.stream_joined();
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        m.authentication_failed("target", "SASL authentication error");
        let r = get(addr, "/readyz").await;
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        assert!(r.contains("not ready: auth_failed target since "), "{r}");
        assert!(!r.contains("SASL authentication error"), "{r}");
        m.authenticated("target");
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        m.topic_counters("t").delivered(3);
        let metrics = get(addr, "/metrics").await;
        assert!(
            metrics.contains("kmirror_records_mirrored_total{topic=\"t\"} 1"),
            "{metrics}"
        );
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        server.abort();
    }

    /// Hundreds of connections that never send a request neither lock a
    /// scraper out nor stay open.
    #[tokio::test]
    async fn idle_connections_do_not_block_scrapes() {
        let l = bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(serve(l, Arc::new(Metrics::new())));
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        let t = std::time::Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(2), get(addr, "/metrics"))
            .await
            .expect("/metrics answers within 2 s");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(t.elapsed() < Duration::from_secs(2));
        // The idle ones are closed: evicted, or after the header timeout.
        let mut buf = [0u8; 1];
        let closed = tokio::time::timeout(
            HEADER_READ_TIMEOUT + Duration::from_secs(2),
            idle[299].read(&mut buf),
        )
        .await
        .expect("an idle connection is closed");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        server.abort();
    }

    /// What breaks Prometheus naming conventions in an OpenMetrics
    /// exposition, parsed as a scraper would: counters are exposed as
    /// `<family>_total` (so the family must not end in `_total`), no gauge
    /// ends in `_total`, a unit word is the name's suffix (before `_total`),
    /// and units are base units.
    fn convention_problems(text: &str) -> Vec<String> {
        use openmetrics_parser::{openmetrics::parse_openmetrics, OpenMetricsType};
        let exposition = parse_openmetrics(text).expect("a valid OpenMetrics exposition");
        let mut problems = Vec::new();
        for (name, family) in &exposition.families {
            let words: Vec<&str> = name.split('_').collect();
            if !name.starts_with("kmirror_") {
                problems.push(format!("{name}: not kmirror_ prefixed"));
            }
            if name.ends_with("_total") {
                problems.push(format!("{name}: a family name ending in _total"));
            }
            if matches!(family.family_type, OpenMetricsType::Counter)
                && !text
                    .lines()
                    .any(|l| l.starts_with(&format!("{name}_total")))
            {
                problems.push(format!("{name}: a counter without {name}_total samples"));
            }
            for unit in ["seconds", "bytes"] {
                if words.contains(&unit) && words.last() != Some(&unit) {
                    problems.push(format!("{name}: the unit {unit} is not the suffix"));
                }
            }
            for not_base in [
                "ms",
                "milliseconds",
                "minutes",
                "hours",
                "kb",
                "mb",
                "kilobytes",
            ] {
                if words.contains(&not_base) {
                    problems.push(format!("{name}: {not_base} is not a base unit"));
                }
            }
        }
        problems
    }

    #[tokio::test]
    async fn metric_names_follow_prometheus_conventions() {
        let l = bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let m = Arc::new(Metrics::new());
        // One series of every family.
        m.topic_counters("t").delivered(3);
        m.delivery_error("MessageTimedOut");
        m.set_queue(
            1,
            100,
            crate::config::QueueBound {
                records: 10,
                bytes: 1000,
            },
        );
        m.committed("source", "t", 0, 5);
        m.set_lag("source", "t", 0, 2);
        m.set_ticket_expiry("source", 600);
        m.track_side("target");
        let server = tokio::spawn(serve(l, m));
        let r = get(addr, "/metrics").await;
        let body = &r[r.find("\r\n\r\n").expect("a body") + 4..];
        let problems = convention_problems(body);
        assert!(problems.is_empty(), "{problems:#?}\n{body}");
        assert!(
            body.contains("kmirror_mirrored_bytes_total{topic=\"t\"} 3"),
            "{body}"
        );
        // The check itself catches the old name.
        assert_eq!(
            convention_problems(
                "# TYPE kmirror_bytes_mirrored counter\nkmirror_bytes_mirrored_total 1\n# EOF\n"
            )
            .len(),
            1
        );
        server.abort();
    }

    #[test]
    fn a_bare_port_listens_on_loopback() {
        assert_eq!(listen_address("9404"), "127.0.0.1:9404");
        assert_eq!(listen_address(":9404"), "127.0.0.1:9404");
        assert_eq!(listen_address("0.0.0.0:9404"), "0.0.0.0:9404");
        assert_eq!(listen_address("[::1]:9404"), "[::1]:9404");
    }
}
