//! What kmirror ships besides the binary: the compose rig (`docker/`), the
//! `Dockerfile`, the systemd template (`packaging/systemd/`), the Debian
//! package (`[package.metadata.deb]`, `scripts/package-deb.sh`), the man page and
//! the shell completions. No Docker engine runs where kmirror is built, so
//! the compose rig is checked for syntax (`docker-compose config`) and its
//! scripts with `shellcheck`; both are installed by `scripts/install-deps.sh`
//! and required here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kmirror(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(args)
        .output()
        .expect("running kmirror");
    assert!(
        out.status.success(),
        "kmirror {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a tool installed by scripts/install-deps.sh; a missing tool is a
/// failed test, with the fix in the message.
fn tool(name: &str, args: &[&str]) -> Output {
    Command::new(name)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {name} ({e}): install it with scripts/install-deps.sh (Debian package {name})")
        })
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// MirrorMaker's own flags: the man page must document every one.
const MIRRORMAKER_FLAGS: &[&str] = &[
    "consumer.config",
    "producer.config",
    "whitelist",
    "blacklist",
    "num.streams",
    "num.producers",
    "queue.size",
    "offset.commit.interval.ms",
    "abort.on.send.failure",
    "new.consumer",
];

#[test]
fn compose_rig_passes_docker_compose_config() {
    let out = tool(
        "docker-compose",
        &["-f", "docker/docker-compose.yml", "config"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "docker-compose config failed:\n{stderr}"
    );
    let config = String::from_utf8_lossy(&out.stdout);
    for service in [
        "kdc:",
        "kafka-source:",
        "kafka-target:",
        "setup:",
        "produce-sample:",
        "kmirror:",
        "check-target:",
    ] {
        assert!(
            config.contains(&format!("\n  {service}")),
            "no service {service}\n{config}"
        );
    }
    for needle in [
        "condition: service_healthy",
        "condition: service_completed_successfully",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "KAFKA_SASL_ENABLED_MECHANISMS: GSSAPI",
        "dockerfile: Dockerfile",
        "mirror-keytab:/keytabs:ro",
    ] {
        assert!(
            config.contains(needle),
            "compose config lacks {needle:?}\n{config}"
        );
    }
    // Deny by default on both brokers (quoted either way by the renderer).
    let deny = config
        .lines()
        .filter(|l| {
            l.trim()
                .starts_with("KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND:")
        })
        .filter(|l| {
            l.trim_end()
                .trim_end_matches(['"', '\''])
                .ends_with("false")
        })
        .count();
    assert_eq!(
        deny, 2,
        "allow.everyone.if.no.acl.found=false on both brokers"
    );
}

#[test]
fn compose_rig_grants_least_privilege_acls() {
    let setup = read("docker/scripts/setup.sh");
    for grant in [
        r#"allow "$SOURCE" --operation Read --operation Describe --topic "$TOPIC""#,
        r#"allow "$SOURCE" --operation Read --operation Describe --group "$GROUP""#,
        r#"allow "$TARGET" --operation Write --operation Describe --topic "$TOPIC""#,
    ] {
        assert!(setup.contains(grant), "setup.sh lacks {grant}");
    }
    assert!(
        !setup.contains("--operation All"),
        "the mirror must not get ALL"
    );
    assert!(
        !setup.contains("--operation Create"),
        "topics are created by the setup job"
    );
    let kdc = read("docker/kdc/init-kdc.sh");
    assert!(kdc.contains("chmod 0600"), "keytabs must be 0600");
    // The mirror's keytab belongs to the image's user.
    assert!(kdc.contains(r#"MIRROR_UID="${MIRROR_UID:-10001}""#));
    assert!(read("Dockerfile").contains("--uid 10001"));
}

/// Whether a prerequisite a test needs is here. `scripts/install-deps.sh`
/// installs every one, so under CI (`CI` set) a missing one fails the test;
/// elsewhere the test says loudly what it did not check.
fn prerequisite(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing, and scripts/install-deps.sh installs it: under CI that is a failure, not a skip"
    );
    eprintln!(
        "==== SKIPPED (not CI): {what} is missing; run scripts/install-deps.sh to check it ===="
    );
    false
}

fn shell_scripts() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "sh")
                || std::fs::read_to_string(&p).is_ok_and(|s| {
                    s.starts_with("#!/usr/bin/env bash")
                        || s.starts_with("#!/bin/bash")
                        || s.starts_with("#!/bin/sh")
                })
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for d in ["docker", "scripts", "packaging"] {
        walk(&repo().join(d), &mut out);
    }
    out.push(repo().join(".ci/run"));
    out.sort();
    out
}

#[test]
fn every_shell_script_passes_shellcheck() {
    let scripts = shell_scripts();
    for expected in [
        "docker/kdc/init-kdc.sh",
        "docker/scripts/setup.sh",
        "docker/scripts/produce-sample.sh",
        "docker/scripts/check-target.sh",
        "scripts/install-deps.sh",
    ] {
        assert!(
            scripts.contains(&repo().join(expected)),
            "{expected} not found"
        );
    }
    let args: Vec<&str> = scripts.iter().map(|p| p.to_str().unwrap()).collect();
    let out = tool("shellcheck", &args);
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_page_documents_every_flag_and_subcommand() {
    let page = String::from_utf8(kmirror(&["manpage"]).stdout).unwrap();
    assert!(page.contains(".TH kmirror 1"), "{page}");
    for section in [
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
        ".SH EXIT STATUS",
        ".SH ENVIRONMENT",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    let roff_flag = |f: &str| format!(r"\fB\-\-{}\fR", f.replace('-', r"\-"));
    for flag in MIRRORMAKER_FLAGS {
        assert!(
            page.contains(&roff_flag(flag)),
            "--{flag} missing from the man page"
        );
    }
    // ...and every flag of a mirror run, from the clap definitions themselves.
    use clap::CommandFactory;
    let cmd = kmirror::config::cli::Cli::command();
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(
                page.contains(&roff_flag(long)),
                "--{long} missing from the man page"
            );
        }
    }
    for sub in ["check", "lag", "verify", "audit", "completions", "manpage"] {
        assert!(
            page.contains(&format!(r"kmirror\-{sub}(1)")),
            "subcommand {sub} missing"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    kmirror(&["manpage", "--dir", dir.path().to_str().unwrap()]);
    for file in [
        "kmirror.1",
        "kmirror-check.1",
        "kmirror-lag.1",
        "kmirror-verify.1",
        "kmirror-audit.1",
    ] {
        let p = dir.path().join(file);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(text.starts_with(".ie") || text.contains(".TH "), "{file}");
    }
    let check = std::fs::read_to_string(dir.path().join("kmirror-check.1")).unwrap();
    assert!(
        check.contains(r"\-\-format"),
        "kmirror-check(1) lacks --format"
    );
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let script = String::from_utf8(kmirror(&["completions", shell]).stdout).unwrap();
        assert!(
            script.contains("consumer.config"),
            "{shell}: no --consumer.config"
        );
        assert!(script.contains("check"), "{shell}: no check subcommand");
        assert!(script.len() > 500, "{shell}: {script}");
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kmirror.bash");
    std::fs::write(&file, kmirror(&["completions", "bash"]).stdout).unwrap();
    let out = tool("bash", &["-n", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unknown shell is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `key=value` pairs of one section of a unit file (continuation lines joined).
fn unit_section(unit: &str, section: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut pending = String::new();
    for line in unit.lines() {
        let line = line.trim();
        if !pending.is_empty() {
            pending.push(' ');
            pending.push_str(line.trim_end_matches('\\'));
            if !line.ends_with('\\') {
                let (k, v) = pending.split_once('=').unwrap();
                if current == section {
                    out.push((k.trim().to_string(), v.trim().to_string()));
                }
                pending.clear();
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if line.ends_with('\\') {
            pending = line.trim_end_matches('\\').to_string();
        } else {
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {line}"));
            if current == section {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

/// The systemd template, read as systemd does: `[Service]` keys, with the
/// example instance's `kmirror.env` substituted into the command lines.
struct UnitTemplate {
    service: Vec<(String, String)>,
    unit: Vec<(String, String)>,
}

impl UnitTemplate {
    fn read() -> Self {
        let text = read("packaging/systemd/kmirror@.service");
        UnitTemplate {
            service: unit_section(&text, "Service"),
            unit: unit_section(&text, "Unit"),
        }
    }
    fn get(&self, k: &str) -> String {
        self.service
            .iter()
            .chain(&self.unit)
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("kmirror@.service has no {k}="))
    }
    /// `ExecStartPre`/`ExecStart` for instance `name`, as argv, with the
    /// example kmirror.env's variables expanded as systemd does (`${X}`
    /// one word, `$X` split on whitespace).
    fn argv(&self, key: &str, name: &str) -> Vec<String> {
        let env = read("packaging/examples/kmirror.env");
        let var = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("kmirror.env sets no {k}"))
                .to_string()
        };
        let mut out = Vec::new();
        for word in self.get(key).replace("%i", name).split_whitespace() {
            match word {
                "$KMIRROR_OPTS" => {
                    out.extend(var("KMIRROR_OPTS").split_whitespace().map(String::from))
                }
                w => out.push(w.replace("${KMIRROR_WHITELIST}", &var("KMIRROR_WHITELIST"))),
            }
        }
        out
    }
}

#[test]
fn systemd_template_is_hardened_restarts_and_verifies() {
    let t = UnitTemplate::read();
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "2"),
        ("KillSignal", "SIGTERM"),
        ("LoadCredential", "keytab:/etc/kmirror/%i/kmirror.keytab"),
        ("EnvironmentFile", "/etc/kmirror/%i/kmirror.env"),
    ] {
        assert_eq!(t.get(k), v, "{k}");
    }
    // Restarts never stop during an outage: no start limit, or one that a
    // restart every RestartSec can never reach.
    let interval: u64 = t.get("StartLimitIntervalSec").parse().unwrap();
    let burst: u64 = t.get("StartLimitBurst").parse().unwrap();
    let restart_sec: u64 = t.get("RestartSec").parse().unwrap();
    assert!(
        interval == 0 || interval / restart_sec + 1 < burst,
        "StartLimitIntervalSec={interval} StartLimitBurst={burst} RestartSec={restart_sec}: systemd gives up during a long outage"
    );
    // systemd stops waiting after TimeoutStopSec: it must outlast kmirror's
    // own drain-and-commit bound, with margin for closing the clients.
    let start = t.argv("ExecStart", "main");
    let shutdown_ms: u64 = start
        .iter()
        .find_map(|a| a.strip_prefix("--shutdown.timeout.ms="))
        .expect("ExecStart sets --shutdown.timeout.ms")
        .parse()
        .unwrap();
    let stop_s: u64 = t.get("TimeoutStopSec").parse().unwrap();
    assert!(
        stop_s * 1000 >= shutdown_ms + 15_000,
        "TimeoutStopSec={stop_s} leaves less than 15 s over --shutdown.timeout.ms={shutdown_ms}"
    );
    // ExecStartPre is `kmirror check` with the same flags as the run.
    use kmirror::config::cli::{parse_invocation, Invocation};
    let pre = t.argv("ExecStartPre", "main");
    assert_eq!(pre[1], "check", "{pre:?}");
    match parse_invocation(&pre).unwrap() {
        Invocation::Check(_) => {}
        other => panic!("{other:?}"),
    }
    match parse_invocation(&start).unwrap() {
        Invocation::Mirror(_) => {}
        other => panic!("{other:?}"),
    }
    let run_flags: Vec<&String> = start[1..]
        .iter()
        .filter(|a| !a.starts_with("--shutdown.timeout.ms"))
        .collect();
    assert_eq!(run_flags, pre[2..].iter().collect::<Vec<_>>());

    // systemd's own verifier, with the binary and man page it refers to.
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man/man1");
    std::fs::create_dir_all(&man).unwrap();
    kmirror(&["manpage", "--dir", man.to_str().unwrap()]);
    assert!(
        Command::new("man").arg("--version").output().is_ok(),
        "man(1) is missing: scripts/install-deps.sh installs man-db"
    );
    let copy = dir.path().join("kmirror@.service");
    std::fs::write(
        &copy,
        read("packaging/systemd/kmirror@.service")
            .replace("/usr/bin/kmirror", env!("CARGO_BIN_EXE_kmirror")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args([
            "verify",
            &format!("{}", dir.path().join("kmirror@main.service").display()),
        ])
        .env("MANPATH", dir.path().join("man"))
        .output()
        .expect("systemd-analyze is missing: scripts/install-deps.sh installs systemd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unknown keys and unparsable values are only warnings to systemd.
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

/// An instance set up as the template's comment says, from the package's
/// examples, with the keytab where `LoadCredential=` puts it (mode 0400):
/// kmirror accepts the configuration (properties, CA, JAAS, the GSSAPI
/// plug-in, the keytab at the credential path), for `check` and the run.
#[test]
fn systemd_instance_from_the_examples_loads_with_the_credential_keytab() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc/kmirror/main");
    let creds = root.path().join("run/credentials/kmirror@main.service");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&creds).unwrap();
    let jaas = read("packaging/examples/kerberos.jaas").replace("INSTANCE", "main");
    let cred_path = "/run/credentials/kmirror@main.service/keytab";
    assert!(jaas.contains(&format!("keyTab=\"{cred_path}\"")), "{jaas}");
    let principal = jaas
        .split("principal=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let keytab = creds.join("keytab");
    std::fs::write(&keytab, keytab_bytes(&principal)).unwrap();
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o400)).unwrap();
    std::fs::write(
        etc.join("kerberos.jaas"),
        jaas.replace(cred_path, keytab.to_str().unwrap()),
    )
    .unwrap();
    // The CA file the examples name.
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    std::fs::write(etc.join("ca.pem"), ca.pem()).unwrap();
    let etc_s = root.path().join("etc").display().to_string();
    for f in ["source.properties", "target.properties"] {
        // Brokers that refuse at once (the TLS check skips them with a warning).
        let text: String = read(&format!("packaging/examples/{f}"))
            .lines()
            .map(|l| {
                if l.starts_with("bootstrap.servers=") {
                    "bootstrap.servers=127.0.0.1:1".to_string()
                } else {
                    l.replace("/etc", &etc_s)
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(etc.join(f), text).unwrap();
    }
    let t = UnitTemplate::read();
    for key in ["ExecStartPre", "ExecStart"] {
        let argv: Vec<String> = t
            .argv(key, "main")
            .into_iter()
            .map(|a| a.replace("/etc", &etc_s))
            .collect();
        let mirror = match kmirror::config::cli::parse_invocation(&argv).unwrap() {
            kmirror::config::cli::Invocation::Check(c) => c.mirror,
            kmirror::config::cli::Invocation::Mirror(c) => c.mirror,
            other => panic!("{other:?}"),
        };
        let config = kmirror::config::Config::from_args_and_kafka_opts(&mirror, None)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        for c in config.sources.iter().chain([&config.target]) {
            let k = c.security.kerberos().expect("GSSAPI");
            assert_eq!(k.keytab.as_deref(), Some(keytab.as_path()), "{key}");
        }
    }
}

/// A keytab (MIT format 0x0502) holding one AES key for `principal`.
fn keytab_bytes(principal: &str) -> Vec<u8> {
    let (name, realm) = principal.split_once('@').unwrap();
    let counted = |s: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s);
    };
    let mut entry = Vec::new();
    let components: Vec<&str> = name.split('/').collect();
    entry.extend_from_slice(&(components.len() as u16).to_be_bytes());
    counted(realm.as_bytes(), &mut entry);
    for c in &components {
        counted(c.as_bytes(), &mut entry);
    }
    entry.extend_from_slice(&1u32.to_be_bytes()); // KRB5_NT_PRINCIPAL
    entry.extend_from_slice(&0u32.to_be_bytes()); // timestamp
    entry.push(1); // kvno
    entry.extend_from_slice(&18u16.to_be_bytes()); // aes256-cts-hmac-sha1-96
    counted(&[7u8; 32], &mut entry);
    let mut out = vec![5, 2];
    out.extend_from_slice(&(entry.len() as i32).to_be_bytes());
    out.extend_from_slice(&entry);
    out
}

#[test]
fn compose_rig_kmirror_config_is_accepted_by_kmirror() {
    use std::os::unix::fs::PermissionsExt;
    // The rig's files, with the keytab path pointing at a local stand-in.
    let dir = tempfile::tempdir().unwrap();
    let keytab = dir.path().join("mirrormaker.keytab");
    std::fs::write(&keytab, keytab_bytes("mirrormaker/kmirror@EXAMPLE.COM")).unwrap();
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
    let jaas = read("docker/config/kmirror/kerberos.jaas");
    assert!(jaas.contains(r#"keyTab="/keytabs/mirrormaker.keytab""#));
    let jaas_path = dir.path().join("kerberos.jaas");
    std::fs::write(
        &jaas_path,
        jaas.replace("/keytabs/mirrormaker.keytab", keytab.to_str().unwrap()),
    )
    .unwrap();
    // The compose service's command line, with the local paths.
    let compose = read("docker/docker-compose.yml");
    let mut argv = vec!["kmirror".to_string()];
    let mut in_command = false;
    for line in compose.lines() {
        let t = line.trim();
        if t == "command:" {
            in_command = true;
        } else if in_command && t.starts_with("- --") {
            argv.push(t.trim_start_matches("- ").to_string());
        } else if in_command {
            break;
        }
    }
    assert!(
        argv.len() > 4,
        "kmirror's command in docker-compose.yml: {argv:?}"
    );
    let conf = repo().join("docker/config/kmirror");
    let argv: Vec<String> = argv
        .into_iter()
        .map(|a| {
            a.replace("/etc/kmirror/kerberos.jaas", jaas_path.to_str().unwrap())
                .replace("/etc/kmirror", conf.to_str().unwrap())
        })
        .collect();
    let cli = match kmirror::config::cli::parse_invocation(&argv).expect("compose command parses") {
        kmirror::config::cli::Invocation::Mirror(cli) => cli,
        other => panic!("{other:?}"),
    };
    let config = kmirror::config::Config::from_args_and_kafka_opts(&cli.mirror, None);
    assert!(
        config.is_ok(),
        "kmirror refuses the compose rig's configuration: {:?}",
        config.err()
    );
}

#[test]
fn dockerfile_is_multistage_nonroot_and_its_packages_exist() {
    let df = read("Dockerfile");
    assert!(df.contains("FROM rust:bookworm AS builder"));
    assert!(df.contains("FROM debian:bookworm-slim"));
    assert!(df.contains("USER 10001:10001"));
    assert!(df.contains(r#"ENTRYPOINT ["kmirror"]"#));
    let ignore = read(".dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target"),
        ".dockerignore must skip target/"
    );
    // Every Debian package the images install exists in bookworm (this
    // machine's distribution), when the package lists are present.
    let mut packages = Vec::new();
    for file in ["Dockerfile", "docker/kdc/Dockerfile"] {
        let text = read(file).replace("\\\n", " ");
        for line in text.lines().filter(|l| l.contains("apt-get install")) {
            let after = line.split("--no-install-recommends").nth(1).unwrap_or("");
            packages.extend(
                after
                    .split("&&")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .map(String::from),
            );
        }
    }
    for p in [
        "libsasl2-modules-gssapi-mit",
        "libkrb5-dev",
        "libssl3",
        "krb5-kdc",
    ] {
        assert!(
            packages.iter().any(|x| x == p),
            "{p} not installed by an image: {packages:?}"
        );
    }
    let lists_present = std::fs::read_dir("/var/lib/apt/lists")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
        .unwrap_or(false);
    let bookworm = std::fs::read_to_string("/etc/os-release")
        .is_ok_and(|s| s.contains("VERSION_CODENAME=bookworm"));
    if !bookworm {
        eprintln!("==== SKIPPED: not Debian bookworm, the image's base: package names not checked against apt ====");
        return;
    }
    if !prerequisite(
        lists_present,
        "apt's package lists (apt-get update), to check the image's package names",
    ) {
        return;
    }
    let mut args = vec!["show", "--no-all-versions"];
    args.extend(packages.iter().map(String::as_str));
    let out = tool("apt-cache", &args);
    assert!(
        out.status.success(),
        "an image installs a package bookworm does not have:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The KDC service's init script, run here with MIT Kerberos (installed by
/// scripts/install-deps.sh) on a free port instead of in its container:
/// every keytab it exports is 0600, owned by its reader's uid, and gets a
/// ticket from the KDC it then runs, with the rig's own krb5.conf.
#[test]
fn compose_rig_kdc_init_exports_working_keytabs() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if !prerequisite(
        unsafe { libc::geteuid() } == 0,
        "root (init-kdc.sh chowns keytabs)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = d.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let kdc_conf = read("docker/kdc/kdc.conf")
        .replace("/var/lib/krb5kdc", db.to_str().unwrap())
        .replace("/etc/krb5kdc", d.to_str().unwrap())
        .replace("kdc_ports = 88", &format!("kdc_ports = {port}"))
        .replace("kdc_tcp_ports = 88", &format!("kdc_tcp_ports = {port}"));
    std::fs::write(d.join("kdc.conf"), kdc_conf).unwrap();
    let krb5_conf = read("docker/config/krb5.conf").replace("kdc:88", &format!("127.0.0.1:{port}"));
    assert!(krb5_conf.contains(&format!("kdc = 127.0.0.1:{port}")));
    std::fs::write(d.join("krb5.conf"), krb5_conf).unwrap();
    let keytabs = d.join("keytabs");
    let mut kdc = Command::new(repo().join("docker/kdc/init-kdc.sh"))
        .env("KRB5_KDC_PROFILE", d.join("kdc.conf"))
        .env("KRB5_CONFIG", d.join("krb5.conf"))
        .env("DB_DIR", &db)
        .env("KEYTAB_DIR", &keytabs)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(d.join("kdc.log")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("init-kdc.sh: {e}"));
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let kdc = Kill(&mut kdc);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !db.join("ready").exists() {
        if let Ok(Some(status)) = kdc.0.try_wait() {
            panic!(
                "init-kdc.sh exited {status}:\n{}",
                std::fs::read_to_string(d.join("kdc.log")).unwrap()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "KDC not ready after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for (file, principal, uid) in [
        (
            "brokers/kafka-kafka-source.keytab",
            "kafka/kafka-source@EXAMPLE.COM",
            1000,
        ),
        (
            "brokers/kafka-kafka-target.keytab",
            "kafka/kafka-target@EXAMPLE.COM",
            1000,
        ),
        ("admin/admin.keytab", "admin@EXAMPLE.COM", 1000),
        (
            "mirror/mirrormaker.keytab",
            "mirrormaker/kmirror@EXAMPLE.COM",
            10001,
        ),
    ] {
        let path = keytabs.join(file);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(meta.mode() & 0o777, 0o600, "{file}");
        assert_eq!(meta.uid(), uid, "{file}");
        // The KDC may take a moment to listen after the ready marker.
        let mut last = None;
        for _ in 0..20 {
            let out = Command::new("kinit")
                .args(["-kt", path.to_str().unwrap(), principal])
                .env("KRB5_CONFIG", d.join("krb5.conf"))
                .env("KRB5CCNAME", format!("FILE:{}", d.join("cc").display()))
                .output()
                .expect("kinit (krb5-user)");
            if out.status.success() {
                last = None;
                break;
            }
            last = Some(String::from_utf8_lossy(&out.stderr).into_owned());
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        assert!(last.is_none(), "kinit {principal}: {last:?}");
    }
    drop(kdc);
}

/// A GSSAPI source and target in `dir` (properties, JAAS, keytab 0600),
/// with brokers that are never reached; returns the mirror's flags.
fn gssapi_config(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let keytab = dir.join("kmirror.keytab");
    std::fs::write(&keytab, keytab_bytes("mirrormaker/host@EXAMPLE.COM")).unwrap();
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
    let props = "bootstrap.servers=127.0.0.1:1\ngroup.id=g\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\nsasl.kerberos.service.name=kafka\n";
    std::fs::write(dir.join("source.properties"), props).unwrap();
    std::fs::write(
        dir.join("target.properties"),
        props.replace("group.id=g\n", ""),
    )
    .unwrap();
    std::fs::write(
        dir.join("kerberos.jaas"),
        format!(
            "KafkaClient {{ com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"{}\" storeKey=true principal=\"mirrormaker/host@EXAMPLE.COM\"; }};\n",
            keytab.display()
        ),
    )
    .unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    vec![
        format!("--consumer.config={}", p("source.properties")),
        format!("--producer.config={}", p("target.properties")),
        format!("--jaas={}", p("kerberos.jaas")),
        "--whitelist=orders".into(),
    ]
}

/// Without Cyrus SASL's GSSAPI plug-in (here: SASL_PATH names an empty
/// directory, which libsasl2 searches instead of its own), a run and
/// `kmirror check` stop before connecting, exit 2, and name the package,
/// instead of librdkafka's "No worthy mechs found" at the first connection.
#[test]
fn missing_gssapi_plugin_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let args = gssapi_config(dir.path());
    let empty = dir.path().join("no-plugins");
    std::fs::create_dir(&empty).unwrap();
    let krb5 = dir.path().join("krb5.conf");
    // A realm whose KDC is not there: with the plug-in, kmirror gets past
    // the plug-in check and fails later, at the Kerberos login.
    std::fs::write(
        &krb5,
        "[libdefaults]\ndefault_realm = EXAMPLE.COM\n[realms]\nEXAMPLE.COM = {\n kdc = 127.0.0.1:1\n}\n",
    )
    .unwrap();
    let run = |sub: Option<&str>, sasl_path: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmirror"));
        cmd.args(sub).args(&args).env("KRB5_CONFIG", &krb5);
        match sasl_path {
            Some(p) => cmd.env("SASL_PATH", p),
            None => cmd.env_remove("SASL_PATH"),
        };
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for sub in [Some("check"), None] {
        let (code, stderr) = run(sub, Some(&empty));
        assert_eq!(code, Some(2), "{sub:?}: {stderr}");
        assert!(
            stderr.contains("apt-get install libsasl2-modules-gssapi-mit")
                && stderr.contains("source (")
                && stderr.contains("docs/kerberos.md#no-worthy-mechs-found"),
            "{sub:?}: {stderr}"
        );
    }
    let (code, stderr) = run(Some("check"), None);
    assert!(
        !stderr.contains("libsasl2-modules-gssapi-mit"),
        "the installed plug-in was not found: {stderr}"
    );
    assert_ne!(code, Some(0), "{stderr}");
}

/// `[package.metadata.deb]` of Cargo.toml, through `cargo metadata`.
fn deb_metadata() -> serde_json::Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version=1", "--no-deps", "--offline"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kmirror")
        .unwrap()["metadata"]["deb"]
        .clone()
}

/// The Debian package's contents, without building it (cargo-deb takes
/// minutes to install; `deb_package_installs_into_a_clean_root` in the long
/// tier builds and installs it): every asset exists or is generated by
/// `scripts/package-deb.sh`, every systemd unit and example is shipped, and
/// Depends names the package of every shared library kmirror links, and
/// the GSSAPI plug-in.
#[test]
fn deb_metadata_ships_every_unit_example_and_library() {
    let deb = deb_metadata();
    let assets: Vec<(String, String)> = deb["assets"]
        .as_array()
        .expect("[package.metadata.deb] assets")
        .iter()
        .map(|a| {
            (
                a[0].as_str().unwrap().to_string(),
                a[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let gen = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(repo().join("scripts/package-deb.sh"))
        .args(["--assets-only", env!("CARGO_BIN_EXE_kmirror")])
        .env("KMIRROR_DEB_ASSETS", gen.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (src, _) in &assets {
        let path = match src.strip_prefix("target/packaging/") {
            Some(rest) => gen.path().join(rest),
            None if src == "target/release/kmirror" => continue,
            None => repo().join(src),
        };
        let dir = path.parent().unwrap();
        let pattern = path.file_name().unwrap().to_str().unwrap();
        let found = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{src}: {}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .any(|e| {
                let name = e.file_name().into_string().unwrap();
                match pattern.split_once('*') {
                    Some((pre, post)) => name.starts_with(pre) && name.ends_with(post),
                    None => name == pattern,
                }
            });
        assert!(
            found,
            "asset {src} is neither in the repository nor generated"
        );
    }
    let shipped = |src: &str| assets.iter().any(|(s, _)| s == src);
    assert!(shipped("target/release/kmirror"));
    for dir in ["packaging/systemd", "packaging/examples"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let f = format!("{dir}/{}", e.unwrap().file_name().to_str().unwrap());
            assert!(shipped(&f), "{f} is not in the package");
        }
    }
    let dest = |src: &str| assets.iter().find(|(s, _)| s == src).unwrap().1.clone();
    assert!(dest("packaging/systemd/kmirror@.service").starts_with("lib/systemd/system/"));
    assert!(dest("target/packaging/man/*.1.gz").starts_with("usr/share/man/man1"));
    assert!(gen.path().join("man/kmirror.1.gz").exists());
    assert_eq!(
        dest("target/packaging/completions/kmirror"),
        "usr/share/bash-completion/completions/kmirror"
    );

    // Depends: the package of every library the binary links, by dpkg.
    let depends: Vec<String> = deb["depends"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|d| d.trim().to_string())
        .collect();
    // The libraries kmirror itself needs (ELF NEEDED; theirs are their
    // packages' business), located by ldd.
    let elf = tool("readelf", &["-d", env!("CARGO_BIN_EXE_kmirror")]);
    let needed: Vec<String> = String::from_utf8_lossy(&elf.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(String::from))
        .collect();
    assert!(
        needed.iter().any(|n| n.starts_with("libsasl2")),
        "{needed:?}"
    );
    let ldd = tool("ldd", &[env!("CARGO_BIN_EXE_kmirror")]);
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let Some((name, rest)) = line.split_once("=>") else {
            continue;
        };
        let Some(path) = rest.split_whitespace().next() else {
            continue;
        };
        if !needed.iter().any(|n| n == name.trim()) {
            continue;
        }
        // Debian 12 is merged-/usr: dpkg may know the file under either path.
        let owner = [path.to_string(), format!("/usr{path}")]
            .iter()
            .map(|p| String::from_utf8_lossy(&tool("dpkg", &["-S", p]).stdout).into_owned())
            .find(|o| !o.trim().is_empty())
            .unwrap_or_else(|| panic!("no Debian package has {path}"));
        let package = owner.split(':').next().unwrap().trim();
        assert!(
            depends.iter().any(|d| d == package),
            "kmirror links {path} from Debian package {package}, missing from Depends {depends:?}"
        );
    }
    assert!(depends.iter().any(|d| d == "libsasl2-modules-gssapi-mit"));
}

/// The package as an admin gets it: built with cargo-deb
/// (`scripts/package-deb.sh`, installing cargo-deb if needed), inspected
/// with dpkg-deb, unpacked into an empty root; the binary runs from there
/// and its man page renders.
#[test]
#[ignore = "long tier: installs cargo-deb (about 6 minutes) and builds the package"]
fn deb_package_installs_into_a_clean_root() {
    let out = Command::new("bash")
        .arg(repo().join("scripts/package-deb.sh"))
        .env("KMIRROR_DEB_PROFILE", "dev")
        .current_dir(repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "package-deb.sh: {stderr}");
    let target = std::env::var("CARGO_TARGET_DIR").map_or(repo().join("target"), PathBuf::from);
    let deb = std::fs::read_dir(target.join("debian"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb in target/debian");
    let deb_s = deb.to_str().unwrap();
    let info = String::from_utf8_lossy(&tool("dpkg-deb", &["-I", deb_s]).stdout).into_owned();
    for dep in [
        "libsasl2-2",
        "libsasl2-modules-gssapi-mit",
        "libkrb5-3",
        "libssl3",
    ] {
        assert!(info.contains(dep), "Depends lacks {dep}: {info}");
    }
    let contents = String::from_utf8_lossy(&tool("dpkg-deb", &["-c", deb_s]).stdout).into_owned();
    for f in [
        "./usr/bin/kmirror",
        "./usr/share/man/man1/kmirror.1.gz",
        "./usr/share/man/man1/kmirror-check.1.gz",
        "./usr/share/bash-completion/completions/kmirror",
        "./usr/share/zsh/vendor-completions/_kmirror",
        "./usr/share/fish/vendor_completions.d/kmirror.fish",
        "./lib/systemd/system/kmirror@.service",
        "./usr/share/doc/kmirror/examples/kmirror.env",
    ] {
        assert!(contents.contains(f), "{f} missing: {contents}");
    }
    let root = tempfile::tempdir().unwrap();
    assert!(tool("dpkg", &["-x", deb_s, root.path().to_str().unwrap()])
        .status
        .success());
    let version = Command::new(root.path().join("usr/bin/kmirror"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout)
            .starts_with(&format!("kmirror {}", env!("CARGO_PKG_VERSION"))),
        "{version:?}"
    );
    let man = tool(
        "man",
        &[
            "-l",
            root.path()
                .join("usr/share/man/man1/kmirror.1.gz")
                .to_str()
                .unwrap(),
        ],
    );
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.status.success() && page.contains("consumer.config"),
        "{page}"
    );
}

/// kmirror's own options are spelled as MirrorMaker's (`--num.streams`):
/// dotted or one word, with the older dashed spelling still accepted.
#[test]
fn every_long_flag_is_dotted_and_dashed_spellings_still_parse() {
    let tree = kmirror::config::cli::command_tree();
    // Every level: `audit rotate` and `offsets translate` have flags too.
    let mut commands = vec![&tree];
    let mut i = 0;
    while i < commands.len() {
        let subs: Vec<_> = commands[i].get_subcommands().collect();
        commands.extend(subs);
        i += 1;
    }
    assert!(
        commands.iter().any(|c| c.get_name() == "rotate"),
        "nested subcommands not walked"
    );
    for cmd in commands {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(
                    !long.contains('-'),
                    "kmirror {}: --{long}: kmirror's flags are dotted like MirrorMaker's (--{})",
                    cmd.get_name(),
                    long.replace('-', ".")
                );
            }
        }
    }
    let argv = [
        "kmirror",
        "--consumer.config=c",
        "--producer.config=p",
        "--whitelist=x",
        "--allow-plaintext",
        "--create-topics",
        "--metrics-addr=127.0.0.1:9404",
        "--log-format=json",
        "--audit-log=a",
        "--audit-unkeyed",
    ];
    match kmirror::config::cli::parse_invocation(argv).unwrap() {
        kmirror::config::cli::Invocation::Mirror(c) => {
            assert!(
                c.mirror.security.allow_plaintext
                    && c.mirror.create_topics
                    && c.mirror.audit_unkeyed
            );
            assert_eq!(c.mirror.log_format, "json");
            assert_eq!(c.mirror.metrics_addr.as_deref(), Some("127.0.0.1:9404"));
        }
        other => panic!("{other:?}"),
    }
}

/// Logs on a pipe carry no colour codes, and `--log.format json` makes
/// every line on stderr JSON, the final error included.
#[test]
fn logs_are_plain_on_a_pipe_and_all_json_with_log_format_json() {
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("c.properties");
    // The error: a typo'd key in the producer file.
    std::fs::write(
        &props,
        "bootstrap.servers=127.0.0.1:1\ngroup.id=g\nsecurity.protocol=PLAINTEXT\n",
    )
    .unwrap();
    let bad = dir.path().join("p.properties");
    std::fs::write(&bad, "bootstrap.servers=127.0.0.1:1\nlinger.msx=5\n").unwrap();
    let run = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_kmirror"))
            .args(["--consumer.config", props.to_str().unwrap()])
            .args(["--producer.config", bad.to_str().unwrap()])
            // --new.consumer: an info line before the error.
            .args([
                "--whitelist=x",
                "--allow.plaintext",
                "--new.consumer",
                "--log.format",
                format,
            ])
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8(out.stderr).unwrap()
    };
    let text = run("text");
    assert!(
        text.contains("linger.msx") && text.contains("INFO"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "ANSI codes on a pipe: {text:?}");
    let json = run("json");
    assert!(json.contains("linger.msx"), "{json}");
    for line in json.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
    }
    assert!(json.lines().any(|l| l.contains("\"ERROR\"")), "{json}");
}

/// One metrics port everywhere an operator reads one: README, docs, the
/// compose rig, the Dockerfile, the systemd example and `--help`.
#[test]
fn one_metrics_port_across_docs_docker_and_systemd() {
    const PORT: &str = "9404";
    let mut files = vec![
        "README.md".to_string(),
        "Dockerfile".into(),
        "docker/docker-compose.yml".into(),
        "docker/README.md".into(),
        "packaging/systemd/kmirror@.service".into(),
        "packaging/examples/kmirror.env".into(),
        "src/config/cli.rs".into(),
    ];
    for e in std::fs::read_dir(repo().join("docs")).unwrap() {
        files.push(format!("docs/{}", e.unwrap().file_name().to_str().unwrap()));
    }
    let mut seen = 0;
    for f in &files {
        let text = read(f);
        // Every port written after --metrics.addr (HOST:PORT or PORT), and
        // every EXPOSE.
        for (i, _) in text.match_indices("metrics.addr") {
            let tail = &text[i + "metrics.addr".len()..];
            let value: String = tail
                .trim_start_matches(['=', ' ', '`'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == ':')
                .collect();
            let port = value.rsplit(':').next().unwrap_or("");
            if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() {
                assert_eq!(port, PORT, "{f}: --metrics.addr {value}");
                seen += 1;
            }
        }
        for line in text.lines().filter(|l| l.starts_with("EXPOSE")) {
            assert_eq!(line.trim(), format!("EXPOSE {PORT}"), "{f}");
        }
    }
    assert!(seen >= 4, "only {seen} --metrics.addr values found");
}
