//! kmirror's test rig: real brokers (tansu), a real MIT KDC, a kerberized
//! ACL-enforcing listener, a data generator and the no-loss checker.
//!
//! Not part of the product: the integration tests, the README demo and the
//! benchmark start these as processes.

pub mod checker;
pub mod cluster;
pub mod delay_proxy;
pub mod kdc;
pub mod listener;
pub mod tansu;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1, found by binding port 0 and releasing it.
///
/// There is a small race between release and reuse; the rig's start-up
/// waits for the process it starts to accept on the port, so a lost race
/// shows up as a start-up error, not a silent misconnection.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 must work on any machine with loopback")
}

/// Waits until `addr` accepts TCP connections, or `timeout` elapses.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A random lowercase suffix for topic and group names, so tests sharing a
/// broker never see each other's data.
pub fn random_name(prefix: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let suffix: String = (0..10)
        .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
        .collect();
    format!("{prefix}-{suffix}")
}

/// Polls `cond` until it returns `Some`, or the deadline passes.
pub fn await_condition<T>(timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
