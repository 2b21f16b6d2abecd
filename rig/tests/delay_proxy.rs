//! The rig's WAN link as a command (`kmirror-rig delay-proxy`) and in front
//! of a real broker ([`DelayedTansu`]): clients reach tansu only through
//! the delay, and an outage made with the proxy is ridden out.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kmirror_rig::cluster::{self, ClusterConn, Workload};
use kmirror_rig::delay_proxy::DelayedTansu;
use kmirror_rig::tansu::TansuOptions;
use kmirror_rig::{free_port, random_name, wait_for_port};

fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn rtt(addr: SocketAddr) -> Duration {
    let mut s = TcpStream::connect(addr).unwrap();
    let t = Instant::now();
    s.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    t.elapsed()
}

fn kill(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// The command delays by --delay-ms each way, SIGUSR1 makes an outage
/// (connections refused), SIGUSR2 ends it.
#[test]
fn delay_proxy_command_delays_and_makes_outages() {
    let upstream = echo_server();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmirror-rig"))
        .args([
            "delay-proxy",
            "--listen",
            &listen.to_string(),
            "--upstream",
            &upstream.to_string(),
            "--delay-ms",
            "40",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for_port(listen, Duration::from_secs(10)));
    let took = rtt(listen);
    assert!(took >= Duration::from_millis(80), "rtt {took:?}");
    kill(child.id(), "USR1");
    let refused = kmirror_rig::await_condition(Duration::from_secs(10), || {
        TcpStream::connect(listen).is_err().then_some(())
    });
    assert!(refused.is_some(), "SIGUSR1 did not stop the proxy");
    kill(child.id(), "USR2");
    assert!(wait_for_port(listen, Duration::from_secs(10)));
    assert!(rtt(listen) >= Duration::from_millis(80));
    let _ = child.kill();
    let _ = child.wait();
}

/// tansu advertises the proxy: a producer and a consumer bootstrapped at
/// the proxy stay behind it (the proxy accepts their broker connections),
/// records written through it are all read back through it, and after a
/// stop and restart of the proxy they still are.
#[test]
fn tansu_behind_the_proxy_is_reached_through_it() {
    let b = DelayedTansu::start(Duration::from_millis(20), TansuOptions::default()).unwrap();
    assert_eq!(b.tansu.advertised(), b.proxy.addr());
    let conn = ClusterConn::plaintext(b.bootstrap());
    let topic = random_name("wan");
    conn.create_topic(&topic, 2).unwrap();
    let w = Workload {
        records: 2_000,
        keys: 20,
        ..Default::default()
    };
    cluster::produce_range(&conn, &topic, &w, 0..1_000).unwrap();
    let before = b.proxy.accepted_connections();
    assert!(before > 0);
    b.proxy.stop();
    std::thread::sleep(Duration::from_millis(500));
    b.proxy.restart().unwrap();
    cluster::produce_range(&conn, &topic, &w, 1_000..2_000).unwrap();
    let read = cluster::read_all(
        &conn,
        &topic,
        2_000,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(read.len(), 2_000);
    assert!(b.proxy.accepted_connections() > before);
}
