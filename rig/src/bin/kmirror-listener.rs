//! `kmirror-listener`: the rig's SASL (GSSAPI/PLAIN) and ACL front for a
//! tansu broker. See `kmirror_rig::listener`.

use clap::Parser;
use kmirror_rig::listener::server::{run, ListenerArgs};

fn main() -> anyhow::Result<()> {
    let args = ListenerArgs::parse();
    // Before the runtime starts threads: environment writes are not
    // thread-safe, and the GSS library reads these at first use.
    args.apply_kerberos_env();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}
