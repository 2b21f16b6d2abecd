//! The `kmirror` binary: parses the command line, runs the library, maps
//! errors to exit codes.

use kmirror::config::cli::{
    parse_invocation, AuditCli, AuditCommand, CheckCli, Cli, Invocation, LagCli,
};
use kmirror::config::Config;

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

fn load_config(args: &kmirror::config::cli::MirrorArgs) -> Config {
    match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            let e = kmirror::Error::from(e);
            print_error(&e);
            std::process::exit(e.exit_code());
        }
    }
}

fn main() {
    let invocation = match parse_invocation(std::env::args_os()) {
        Ok(i) => i,
        Err(e) => e.exit(),
    };
    match invocation {
        Invocation::Mirror(cli) => mirror(cli),
        Invocation::Check(cli) => check(cli),
        Invocation::Lag(cli) => lag(cli),
        Invocation::Audit(cli) => audit(cli),
    }
}

/// `kmirror audit verify FILE`: exit 0 when the chain is intact, 1 at the
/// first broken entry.
fn audit(cli: AuditCli) {
    match cli.command {
        AuditCommand::Verify { file } => match kmirror::observe::audit::verify(&file) {
            Ok(entries) => {
                let records: u64 = entries.iter().map(|e| e.records).sum();
                println!(
                    "{}: chain intact: {} entries, {records} records",
                    file.display(),
                    entries.len()
                );
            }
            Err(e) => {
                print_error(&e);
                std::process::exit(1);
            }
        },
    }
}

/// `kmirror lag`: prints the table (or JSON); exit 1 if a cluster cannot be read.
fn lag(cli: LagCli) {
    init_logging(&cli.mirror.log_format);
    let config = load_config(&cli.mirror);
    match kmirror::observe::lag::collect(&config) {
        Ok(report) if cli.format == "json" => println!("{}", report.json()),
        Ok(report) => print!("{}", report.table()),
        Err(e) => {
            print_error(&e);
            std::process::exit(1);
        }
    }
}

/// `kmirror check`: prints the report; exit 0 only if every required check passed.
fn check(cli: CheckCli) {
    init_logging(&cli.mirror.log_format);
    let config = load_config(&cli.mirror);
    let opts = kmirror::preflight::check::CheckOptions {
        accept_unverified: cli.mirror.accept_unverified_acls,
        ..Default::default()
    };
    let format = if cli.format == "json" {
        kmirror::preflight::check::OutputFormat::Json
    } else {
        kmirror::preflight::check::OutputFormat::Table
    };
    match kmirror::preflight::check::run_checks(&config, opts) {
        Ok(report) => {
            println!("{}", report.render(format));
            std::process::exit(if report.passed() { 0 } else { 1 });
        }
        Err(e) => {
            let e = kmirror::Error::from(e);
            print_error(&e);
            std::process::exit(e.exit_code());
        }
    }
}

fn mirror(cli: Cli) {
    init_logging(&cli.mirror.log_format);
    if cli.mirror.new_consumer {
        tracing::info!("--new.consumer has no effect: kmirror always uses the broker-based consumer");
    }
    let config = load_config(&cli.mirror);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let observe = kmirror::observe::ObserveOptions {
        metrics_addr: cli.mirror.metrics_addr.clone(),
        progress_interval: std::time::Duration::from_millis(cli.mirror.progress_interval_ms),
        audit_log: cli.mirror.audit_log.clone(),
    };
    match rt.block_on(kmirror::pipeline::run_with(config, observe, shutdown_signal())) {
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
