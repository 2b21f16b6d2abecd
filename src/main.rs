//! The `kmirror` binary: parses the command line, runs the library, maps
//! errors to exit codes.

use clap::Parser;
use kmirror::config::{cli::Cli, Config};

fn init_logging(format: &str) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,librdkafka=warn,rdkafka=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn print_error(e: &dyn std::error::Error) {
    eprintln!("kmirror: error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
}

fn main() {
    let cli = Cli::parse();
    init_logging(&cli.mirror.log_format);
    if cli.mirror.new_consumer {
        tracing::info!(
            "--new.consumer has no effect: kmirror always uses the broker-based consumer"
        );
    }
    let config = match Config::from_args(&cli.mirror) {
        Ok(c) => c,
        Err(e) => {
            let e = kmirror::Error::from(e);
            print_error(&e);
            std::process::exit(e.exit_code());
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    match rt.block_on(kmirror::pipeline::run(config, shutdown_signal())) {
        Ok(summary) => {
            eprintln!(
                "kmirror: stopped cleanly: {} records ({} bytes) mirrored in {:.1}s{}",
                summary.records,
                summary.bytes,
                summary.elapsed.as_secs_f64(),
                if summary.dropped > 0 {
                    format!(", {} DROPPED after send failures", summary.dropped)
                } else {
                    String::new()
                }
            );
        }
        Err(e) => {
            print_error(&e);
            std::process::exit(e.exit_code());
        }
    }
}
