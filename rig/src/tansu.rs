//! Starting and stopping `tansu` brokers (pinned 0.6.0) on loopback.
//!
//! Rig quirks the callers must know (measured, see docs/mission):
//! - tansu holds a fetch for the full `fetch.wait.max.ms` even when data is
//!   ready, so every rig client sets it low ([`crate::cluster::RIG_FETCH_WAIT_MS`]).
//! - it creates a topic on produce only through a metadata request, so the
//!   rig creates topics explicitly with the admin API.
//! - with `memory://` storage ListOffsets(latest) answers the base offset of
//!   the last batch + 1, not the high watermark: nothing in the rig trusts
//!   watermarks; records are counted by consuming them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

/// The tansu version the rig is pinned to.
pub const TANSU_VERSION: &str = "0.6.0";

/// How to start one tansu broker.
#[derive(Debug, Clone, Default)]
pub struct TansuOptions {
    /// The address tansu advertises in Metadata. Defaults to its own listen
    /// address; the secured rig points it at the security listener instead.
    pub advertised: Option<SocketAddr>,
    /// Kafka cluster id; defaults to a random name.
    pub cluster_id: Option<String>,
    /// Where the broker's stdout/stderr go; `None` discards them.
    pub log_file: Option<PathBuf>,
}

/// A running tansu broker, killed when dropped.
#[derive(Debug)]
pub struct Tansu {
    child: Child,
    addr: SocketAddr,
    advertised: SocketAddr,
    cluster_id: String,
}

/// Finds the tansu binary: `$TANSU_BIN`, else the rig's patched build in
/// `~/.cargo/kmirror-tansu/bin/tansu` (scripts/install-tansu.sh). A plain
/// `tansu` 0.6.0 is never picked up silently: it skips records when a fetch
/// starts inside a batch, which the rig must not do (rig/tansu-patches/).
pub fn tansu_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TANSU_BIN") {
        return PathBuf::from(p);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    cargo_home.join("kmirror-tansu/bin/tansu")
}

impl Tansu {
    /// Starts a broker with `memory://` storage on a free loopback port and
    /// waits until it accepts connections.
    pub fn start(opts: TansuOptions) -> anyhow::Result<Tansu> {
        let port = crate::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let advertised = opts.advertised.unwrap_or(addr);
        let cluster_id = opts
            .cluster_id
            .clone()
            .unwrap_or_else(|| crate::random_name("tansu"));
        let (out, err) = match &opts.log_file {
            Some(path) => {
                let f = std::fs::File::create(path)
                    .with_context(|| format!("creating tansu log {}", path.display()))?;
                (Stdio::from(f.try_clone()?), Stdio::from(f))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let bin = tansu_bin();
        let mut cmd = Command::new(&bin);
        // SAFETY: prctl is async-signal-safe and only affects the child.
        // The broker dies with the process that started it, so a test binary
        // killed by a timeout leaves no broker behind.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .arg("broker")
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .arg("--listener-url")
            .arg(format!("tcp://{addr}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://{advertised}"))
            .arg("--cluster-id")
            .arg(&cluster_id)
            // Quiet by default: at info tansu logs every request. Set
            // KMIRROR_RIG_TANSU_LOG (a RUST_LOG filter, e.g.
            // `info,tansu_broker::coordinator=debug`) to see why a group
            // rebalanced the way it did.
            .env(
                "RUST_LOG",
                std::env::var("KMIRROR_RIG_TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build the rig's patched tansu {TANSU_VERSION} with scripts/install-tansu.sh)",
                    bin.display()
                )
            })?;
        if !crate::wait_for_port(addr, Duration::from_secs(30)) {
            let status = child.try_wait()?;
            let _ = child.kill();
            bail!(
                "tansu did not accept connections on {addr} within 30 s (exit status: {status:?})"
            );
        }
        Ok(Tansu {
            child,
            addr,
            advertised,
            cluster_id,
        })
    }

    /// The address tansu listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address tansu advertises to clients.
    pub fn advertised(&self) -> SocketAddr {
        self.advertised
    }

    /// The Kafka cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Process id, for tests that stop/continue the broker.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
