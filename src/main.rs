//! The `kmirror` binary: parses the command line, runs the library, maps
//! errors to exit codes.

use kmirror::config::cli::{
    parse_invocation, AuditCli, AuditCommand, CheckCli, Cli, Invocation, LagCli, VerifyCli,
};
use kmirror::config::Config;

/// Rust's own allocations go to mimalloc; librdkafka's stay with glibc.
///
/// Why: every record allocates a small delivery token on the consumer thread
/// that the producer's delivery thread frees. Under glibc those frees land in
/// the consumer arena's fastbins, and the next record's ~1 KiB copy inside
/// librdkafka then runs `malloc_consolidate` (2.8% of kmirror's CPU against
/// 0.6% in a loop without tokens). With mimalloc for Rust only, in two
/// interleaved A/B runs (1M × 1 KiB, 8 partitions): 11–13% fewer CPU-s per
/// GB, 9–11% more MB/s, 8–10 MB more peak RSS. Replacing glibc for
/// librdkafka too (LD_PRELOAD) saved a little more CPU but raised peak RSS to
/// 126 MB, so it is not done. See `docs/operations.md`.
#[global_allocator]
static RUST_ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set when `--log.format json` is in force: every line on stderr is then
/// a JSON object, errors and the final summary included.
static JSON_LOGS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn json_logs() -> bool {
    JSON_LOGS.get().copied().unwrap_or(false)
}

fn init_logging(format: &str) {
    let _ = JSON_LOGS.set(format == "json");
    use std::io::IsTerminal;
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,librdkafka=warn,rdkafka=warn"));
    // Colour codes only on a terminal: a log file, journald or a pipe gets
    // plain text that grep and log shippers read as it is.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
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
    let mut causes = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if json_logs() {
        tracing::error!(causes = ?causes, "{e}");
        return;
    }
    eprintln!("kmirror: error: {e}");
    for c in causes {
        eprintln!("  caused by: {c}");
    }
}

/// Reads the configuration (no network I/O), then runs the TLS preflight
/// against the brokers, as every subcommand connects to them.
fn load_config(args: &kmirror::config::cli::MirrorArgs) -> Config {
    let exit = |e: kmirror::Error| -> ! {
        print_error(&e);
        std::process::exit(e.exit_code());
    };
    let mut config = Config::from_args(args).unwrap_or_else(|e| exit(e.into()));
    if let Err(e) = kmirror::preflight::tls::preflight_config(&mut config) {
        exit(e.into());
    }
    config
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
        Invocation::Verify(cli) => verify(cli),
        Invocation::Offsets(cli) => offsets(cli),
        Invocation::Completions(cli) => completions(cli),
        Invocation::Manpage(cli) => manpage(cli),
    }
}

/// `kmirror completions SHELL`: the completion script on stdout.
fn completions(cli: kmirror::config::cli::CompletionsCli) {
    let mut cmd = kmirror::config::cli::command_tree();
    clap_complete::generate(cli.shell, &mut cmd, "kmirror", &mut std::io::stdout());
}

/// Sections of kmirror(1) that clap does not know about.
const MANPAGE_EXTRA: &str = r#".SH ENVIRONMENT
.TP
\fBKAFKA_OPTS\fR
Read for \fB\-Djava.security.auth.login.config=FILE\fR (the JAAS file), as MirrorMaker does, when \fB\-\-jaas\fR is not given.
.TP
\fBKRB5_CONFIG\fR
The Kerberos configuration (default \fI/etc/krb5.conf\fR).
.TP
\fBRUST_LOG\fR
Log filter (default \fBinfo\fR).
.SH EXIT STATUS
0 after a clean stop (SIGINT/SIGTERM: consumption stops, in\-flight records are flushed within \fB\-\-shutdown.timeout.ms\fR, offsets are committed); 1 on a runtime failure (send failure, lost source data, authorization); 2 on a configuration error.
.SH SEE ALSO
\fBkmirror\-check\fR(1), \fBkmirror\-lag\fR(1), \fBkmirror\-verify\fR(1), \fBkmirror\-audit\fR(1), \fBkinit\fR(1), \fBklist\fR(1), \fBkrb5.conf\fR(5)
"#;

/// `kmirror manpage [--dir DIR]`: kmirror(1) on stdout, or every page into DIR.
fn manpage(cli: kmirror::config::cli::ManpageCli) {
    let result = match cli.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(kmirror::config::cli::command_tree())
                .render(&mut page)
                .map(|()| {
                    page.extend_from_slice(MANPAGE_EXTRA.as_bytes());
                    page
                })
                .and_then(|page| std::io::Write::write_all(&mut std::io::stdout(), &page))
        }
        Some(dir) => {
            clap_mangen::generate_to(kmirror::config::cli::command_tree(), &dir).and_then(|()| {
                use std::io::Write;
                let main = dir.join("kmirror.1");
                let mut f = std::fs::OpenOptions::new().append(true).open(&main)?;
                f.write_all(MANPAGE_EXTRA.as_bytes())
            })
        }
    };
    if let Err(e) = result {
        eprintln!("kmirror: error: writing the man page: {e}");
        std::process::exit(1);
    }
}

/// `kmirror verify`: prints one line per topic; exit 1 on any difference.
fn verify(cli: VerifyCli) {
    use std::io::IsTerminal;
    init_logging(&cli.mirror.log_format);
    let config = load_config(&cli.mirror);
    let ticket = kerberos_login(&config);
    let code = match kmirror::observe::verify::run(&config, std::io::stderr().is_terminal()) {
        Ok(verdicts) => {
            print!("{}", kmirror::observe::verify::summary(&verdicts));
            i32::from(!verdicts.iter().all(|v| v.ok()))
        }
        Err(e) => {
            print_error(&e);
            1
        }
    };
    // exit() skips destructors: drop the keeper so it removes its caches.
    drop(ticket);
    std::process::exit(code);
}

/// The same Kerberos login a mirror run does, for the side tools (`check`,
/// `lag`, `verify`, `offsets translate`): a ticket per principal from its keytab into kmirror's
/// private caches, installed per side through the side's ticket handle, so
/// each side authenticates as its own principal, never through the user's
/// `KRB5CCNAME`. Exits as a run would when the login fails.
fn kerberos_login(config: &Config) -> Option<kmirror::security::kerberos::TicketKeeper> {
    match kmirror::security::kerberos::TicketKeeper::start_for(config.auth_sides()) {
        Ok(t) => t,
        Err(e) => {
            let e = kmirror::Error::from(kmirror::pipeline::PipelineError::from(e));
            print_error(&e);
            std::process::exit(e.exit_code());
        }
    }
}

/// `kmirror audit verify FILE --key KEY`: exit 0 when the trail is
/// intact, 1 at the first broken entry, a cut-off tail or a missing file
/// or anchor, 2 when a key is refused. `kmirror audit rotate`: exit 0
/// once the rotation is appended and anchored, 1 if refused, 2 when a key
/// is refused.
fn audit(cli: AuditCli) {
    use kmirror::observe::audit::{self, Seal};
    let load = |k: &std::path::Path| match audit::key::AuditKey::load(k) {
        Ok(k) => Seal::Keyed(std::sync::Arc::new(k)),
        Err(e) => {
            print_error(&e);
            std::process::exit(2);
        }
    };
    match cli.command {
        AuditCommand::Verify {
            file,
            key,
            anchor,
            unkeyed,
        } => {
            let mut seals: Vec<Seal> = key.iter().map(|k| load(k)).collect();
            // clap requires --key unless --unkeyed.
            if unkeyed {
                seals.push(Seal::Unkeyed);
            }
            match audit::verify(&file, anchor.as_deref(), &seals) {
                Ok(v) => print_verified(&file, &v),
                Err(e) => {
                    print_error(&e);
                    std::process::exit(1);
                }
            }
        }
        AuditCommand::Rotate {
            file,
            key,
            new_key,
            anchor,
            unkeyed: _,
        } => {
            // clap requires --key unless --unkeyed.
            let old = key.as_deref().map_or(Seal::Unkeyed, load);
            let new = load(&new_key);
            match audit::rotation::rotate(&file, anchor.as_deref(), &old, &new) {
                Ok(r) => println!(
                    "{}: rotated from key id `{}` to `{}`; start the mirror with --audit.key {}, verify with every key of the trail",
                    file.display(),
                    r.rotate_from_key_id,
                    r.rotate_to_key_id,
                    new_key.display()
                ),
                Err(e) => {
                    print_error(&e);
                    std::process::exit(1);
                }
            }
        }
    }
}

fn print_verified(file: &std::path::Path, v: &kmirror::observe::audit::Verified) {
    let records: u64 = v.entries.iter().map(|e| e.records).sum();
    println!(
        "{}: {} intact: {} entries ({} lines anchored), {records} records, {} key rotation(s)",
        file.display(),
        if v.keyed {
            "chain and MACs"
        } else {
            "UNKEYED chain"
        },
        v.entries.len(),
        v.anchored,
        v.rotations.len(),
    );
    if v.incomplete_last_line {
        println!(
            "note: an incomplete last line was ignored (a write in progress, or a crash mid-write)"
        );
    }
}

/// `kmirror offsets translate`: prints the translation (table or JSON);
/// exit 1 if it cannot be made or applied. Logs in from the keytabs as a
/// run does: it reads the source's group offsets and the target's map.
fn offsets(cli: kmirror::config::cli::OffsetsCli) {
    let kmirror::config::cli::OffsetsCommand::Translate {
        mirror,
        group,
        topic,
        json,
        apply,
        from_target,
        source_cluster_id,
    } = cli.command;
    init_logging(&mirror.log_format);
    let config = load_config(&mirror);
    let ticket = kerberos_login(&config);
    let req = kmirror::failover::translate::Request {
        group,
        topics: topic,
        apply,
        from_target,
        source_cluster_id,
    };
    let code = match kmirror::failover::translate::run(&config, &req) {
        Ok(report) if json => {
            println!("{}", report.json());
            0
        }
        Ok(report) => {
            print!("{}", report.table());
            0
        }
        Err(e) => {
            print_error(&e);
            1
        }
    };
    // exit() skips destructors: drop the keeper so it removes its caches.
    drop(ticket);
    std::process::exit(code);
}

/// `kmirror lag`: prints the table (or JSON); exit 1 if a cluster cannot be
/// read, 2 on a configuration error.
fn lag(cli: LagCli) {
    init_logging(&cli.lag.log_format);
    let mut config = match kmirror::config::SourcesConfig::from_lag_args(&cli.lag) {
        Ok(c) => c,
        Err(e) => {
            let e = kmirror::Error::from(e);
            print_error(&e);
            std::process::exit(e.exit_code());
        }
    };
    // The TLS preflight a run does, for the sources only.
    if let Err(e) = kmirror::preflight::tls::preflight_sides(config.sources.iter_mut()) {
        let e = kmirror::Error::from(e);
        print_error(&e);
        std::process::exit(e.exit_code());
    }
    // The Kerberos login a run does, for the sources' principals.
    let sides = config
        .sources
        .iter()
        .map(|c| (c.label.as_str(), &c.security));
    let ticket = match kmirror::security::kerberos::TicketKeeper::start_for(sides) {
        Ok(t) => t,
        Err(e) => {
            let e = kmirror::Error::from(kmirror::pipeline::PipelineError::from(e));
            print_error(&e);
            std::process::exit(e.exit_code());
        }
    };
    let code = match kmirror::observe::lag::collect(&config.sources, config.filter.as_ref()) {
        Ok(report) if cli.json || cli.format == "json" => {
            println!("{}", report.json());
            0
        }
        Ok(report) => {
            print!("{}", report.table());
            0
        }
        Err(e) => {
            print_error(&e);
            1
        }
    };
    // exit() skips destructors: drop the keeper so it removes its caches.
    drop(ticket);
    std::process::exit(code);
}

/// `kmirror check`: prints the report; exit 0 only if every required check passed.
fn check(cli: CheckCli) {
    init_logging(&cli.mirror.log_format);
    let config = load_config(&cli.mirror);
    // The same warnings a run logs at start (relaxed checks, no encryption).
    for c in config.sources.iter().chain(std::iter::once(&config.target)) {
        for w in c.start_warnings() {
            tracing::warn!(cluster = %c.label, "{w}");
        }
    }
    // The same Kerberos login a run does (kmirror's private ticket cache),
    // so GSSAPI clusters see the principal the run would authenticate as.
    let ticket = kerberos_login(&config);
    let opts = kmirror::preflight::check::CheckOptions {
        accept_unverified: cli.mirror.accept_unverified_acls,
        config_drift: true,
        ..Default::default()
    };
    let format = if cli.format == "json" {
        kmirror::preflight::check::OutputFormat::Json
    } else {
        kmirror::preflight::check::OutputFormat::Table
    };
    let code = match kmirror::preflight::check::run_checks(&config, opts) {
        Ok(report) => {
            print!("{}", report.render(format));
            if format == kmirror::preflight::check::OutputFormat::Json {
                println!();
            }
            if report.passed() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            let e = kmirror::Error::from(e);
            print_error(&e);
            e.exit_code()
        }
    };
    // exit() skips destructors: drop the ticket keeper first so it removes
    // its private ticket cache.
    drop(ticket);
    std::process::exit(code);
}

/// The `--audit.key`, loaded and checked before anything starts; a
/// refused key, or a trail without a key or `--audit.unkeyed`, is a
/// configuration error (exit 2).
fn load_audit_key(
    args: &kmirror::config::cli::MirrorArgs,
) -> Option<std::sync::Arc<kmirror::observe::audit::key::AuditKey>> {
    use kmirror::observe::audit::{key::AuditKey, AuditError};
    let exit = |e: &dyn std::error::Error| -> ! {
        print_error(e);
        std::process::exit(2);
    };
    match (&args.audit_log, &args.audit_key) {
        (Some(_), Some(k)) => match AuditKey::load(k) {
            Ok(k) => Some(std::sync::Arc::new(k)),
            Err(e) => exit(&e),
        },
        (Some(path), None) if !args.audit_unkeyed => {
            exit(&AuditError::NoKey { path: path.clone() })
        }
        _ => None,
    }
}

fn mirror(cli: Cli) {
    init_logging(&cli.mirror.log_format);
    if cli.mirror.new_consumer {
        tracing::info!(
            "--new.consumer has no effect: kmirror always uses the broker-based consumer"
        );
    }
    let config = load_config(&cli.mirror);
    let audit_key = load_audit_key(&cli.mirror);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let observe = kmirror::observe::ObserveOptions {
        metrics_addr: cli.mirror.metrics_addr.clone(),
        progress_interval: std::time::Duration::from_millis(cli.mirror.progress_interval_ms),
        audit_log: cli.mirror.audit_log.clone(),
        audit_anchor: cli.mirror.audit_anchor.clone(),
        audit_key,
        audit_unkeyed: cli.mirror.audit_unkeyed,
    };
    match rt.block_on(kmirror::pipeline::run_with(
        config,
        observe,
        shutdown_signal(),
    )) {
        Ok(summary) => {
            let line = format!(
                "stopped cleanly: {} records ({} bytes) mirrored in {:.1}s{}",
                summary.records,
                summary.bytes,
                summary.elapsed.as_secs_f64(),
                if summary.dropped > 0 {
                    format!(", {} DROPPED after send failures", summary.dropped)
                } else {
                    String::new()
                }
            );
            if json_logs() {
                tracing::info!(
                    records = summary.records,
                    bytes = summary.bytes,
                    dropped = summary.dropped,
                    "{line}"
                );
            } else {
                eprintln!("kmirror: {line}");
            }
        }
        Err(e) => {
            print_error(&e);
            std::process::exit(e.exit_code());
        }
    }
}
