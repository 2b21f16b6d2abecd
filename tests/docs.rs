//! The docs cannot rot: every shell command shown in `README.md`, `docs/`
//! and `docker/README.md` is either run by a test (here, or the test named
//! in [`ACCOUNTED`]) or listed there with the reason it cannot run on the
//! local rig. A new command in the docs fails
//! `every_shell_command_in_the_docs_is_accounted_for` until it is.
//!
//! `kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc` follows
//! `docs/kerberos.md` step by step against the rig's real MIT KDC and two
//! kerberized, ACL-enforcing clusters, running the commands as printed
//! (with `/etc/kmirror` and the realm pointed at the test's own), and then
//! the README's `kmirror` command. `readme_demo_command_runs` runs
//! `scripts/demo.sh` itself.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kmirror::preflight::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use kmirror_rig::kdc::{Kdc, KdcOptions};
use kmirror_rig::listener::SecuredBroker;
use support::*;

/// Every shell command in the docs, by file and the start of the command:
/// how it is exercised.
const ACCOUNTED: &[(&str, &str, &str)] = &[
    (
        "docs/operations.md",
        "head -c 32 /dev/urandom > audit-2.key",
        "the key the same way tests/observe.rs audit_key_named writes it (32 random bytes, mode 0600)",
    ),
    (
        "docs/operations.md",
        "kmirror audit rotate audit.jsonl",
        "run (with the test's paths) by audit_trail_is_single_writer_keyed_and_anchored in tests/observe.rs",
    ),
    (
        "docs/operations.md",
        "kmirror ... --audit.log audit.jsonl --audit.key audit-2.key",
        "run (with the test's paths) by audit_trail_is_single_writer_keyed_and_anchored: the mirror after the rotation",
    ),
    (
        "docs/operations.md",
        "kmirror audit verify audit.jsonl --key audit.key --key audit-2.key",
        "run (with the test's paths) by audit_trail_is_single_writer_keyed_and_anchored: verify with both keys",
    ),
    (
        "README.md",
        "scripts/demo.sh",
        "run by readme_demo_command_runs",
    ),
    (
        "README.md",
        "scripts/test.sh",
        "run by CI: .ci/run ends with exactly this command (a test cannot run the suite it is part of)",
    ),
    (
        "README.md",
        "kmirror --consumer.config source.properties",
        "run by kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc",
    ),
    (
        "README.md",
        "scripts/bench.sh",
        "not run whole (its figures are the point and take minutes); bench/tests/smoke.rs runs kmirror-bench --quick --verify with the venv from scripts/bench-venv.sh, and tests/shipping.rs shellchecks scripts/bench.sh",
    ),
    (
        "README.md",
        "KMIRROR_BENCH_KMIRROR_ARGS=\"--num.producers 4\" scripts/bench.sh",
        "scripts/bench.sh with extra kmirror flags: not run whole for the same reason; bench/tests/smoke.rs runs --rtt 20 with the distance rows",
    ),
    (
        "docs/benchmarks.md",
        "scripts/bench.sh",
        "not run whole (its figures are the point and take minutes); bench/tests/smoke.rs runs kmirror-bench --quick --verify (loopback, with latency loads) and --rtt 20 --verify with its latency load, and tests/shipping.rs shellchecks scripts/bench.sh",
    ),
    (
        "docs/kerberos.md",
        "kadmin.local -q \"addprinc",
        "run by kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc",
    ),
    (
        "docs/kerberos.md",
        "kadmin.local -q \"ktadd",
        "run by kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc",
    ),
    (
        "docs/kerberos.md",
        "chown kmirror",
        "run by kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc (as the test's user)",
    ),
    (
        "docs/kerberos.md",
        "kafka-acls.sh",
        "applied by kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc: each line's ACLs, parsed, created on the rig through the Kafka CreateAcls API (there is no Java kafka-acls.sh here); kmirror check then proves them sufficient",
    ),
    (
        "docs/kerberos.md",
        "KAFKA_OPTS=\"-Djava.security.auth.login.config=/etc/kmirror/kerberos.jaas\" kmirror check",
        "run by kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc",
    ),
    (
        "docs/kerberos.md",
        "KAFKA_OPTS=\"-Djava.security.auth.login.config=/etc/kmirror/kerberos.jaas\" kmirror --consumer.config",
        "run by kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc",
    ),
    (
        "docs/kerberos.md",
        "kmirror --consumer.config source.properties --producer.config target.properties --whitelist 'orders.*' --jaas per-side-kerberos.jaas",
        "run (with the sample per-side JAAS file filled in) by tests/kerberos.rs per_side_principals_in_one_run",
    ),
    (
        "docs/failover.md",
        "kmirror --consumer.config source.properties --producer.config target.properties --whitelist 'orders.*' --preserve.partitions --sync.group.offsets",
        "run (with the rig's properties files, topic and group pattern) by tests/failover.rs failover_exact and failover_exact_after_two_kill_9",
    ),
    (
        "docs/failover.md",
        "kmirror offsets translate",
        "run (with the rig's properties files, topic and groups) by tests/failover.rs failover_exact: --from.target with the source stopped, and --apply",
    ),
    (
        "docs/operations.md",
        "scripts/package-deb.sh",
        "run by tests/shipping.rs deb_package_installs_into_a_clean_root (long tier: installs cargo-deb); deb_metadata_ships_every_unit_example_and_library checks its assets in the fast tier",
    ),
    (
        "docs/operations.md",
        "apt install ./target/debian/kmirror_",
        "not run: installing into the test machine's own root would change it; tests/shipping.rs deb_package_installs_into_a_clean_root unpacks the same package into an empty root and runs kmirror --version and man from it",
    ),
    (
        "docs/operations.md",
        "cargo install --locked --path .",
        "not run: a second release build of the whole tree (minutes); the fast tier builds the same crate with --locked",
    ),
    (
        "docs/operations.md",
        "install -d -m 0750 -o root -g kmirror /etc/kmirror/main",
        "not run: needs the kmirror user and a systemd host; tests/shipping.rs systemd_instance_from_the_examples_loads_with_the_credential_keytab sets up the same instance from the examples in a temporary root",
    ),
    (
        "docs/operations.md",
        "cp /usr/share/doc/kmirror/examples/",
        "not run: see the line above; the examples are the package's assets (deb_metadata_ships_every_unit_example_and_library)",
    ),
    (
        "docs/operations.md",
        "systemctl enable --now kmirror@main",
        "not run: no systemd as PID 1 here; tests/shipping.rs runs systemd-analyze verify on kmirror@main.service",
    ),
    (
        "docs/kerberos.md",
        "kadmin -p admin/admin -q \"ktadd -k mirrormaker.keytab -e",
        "not run: a remote kadmin with an admin principal; the walkthrough test runs step 1's kadmin.local ktadd on the rig's KDC",
    ),
    (
        "docs/kerberos.md",
        "klist -ekt",
        "not run: inspection only; tests/kerberos.rs reads keytabs through kmirror's own keytab check",
    ),
    (
        "docs/kerberos.md",
        "scp mirrormaker.keytab",
        "not run: needs a second host",
    ),
    (
        "docs/kerberos.md",
        "install -o root -g root -m 0600",
        "not run: needs the systemd layout; tests/shipping.rs systemd_instance_from_the_examples_loads_with_the_credential_keytab loads a keytab from the credential path",
    ),
    (
        "docs/tls.md",
        "keytool -importkeystore",
        "not run: Java's keytool is not on the rig; tests/tls.rs checks kmirror's JKS refusal prints this command",
    ),
    (
        "docker/README.md",
        "docker compose",
        "not run: Docker cannot run on this machine; tests/shipping.rs validates the compose file with docker-compose config and shellchecks its scripts",
    ),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fenced code blocks of a Markdown file: (line of the fence, language, body).
fn code_blocks(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            match open.take() {
                Some(block) => out.push(block),
                None => open = Some((i + 1, rest.trim().to_string(), String::new())),
            }
        } else if let Some((_, _, body)) = open.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The commands of a shell block: continuation lines joined, whitespace
/// collapsed, comments and trailing `# ...` remarks dropped.
fn commands(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (line, continues) = match line.strip_suffix('\\') {
            Some(l) => (l, true),
            None => (line, false),
        };
        // A remark after the command ("scripts/demo.sh   # the main job").
        let line = match line.find("  #") {
            Some(i) => &line[..i],
            None => line,
        };
        current.push_str(line.trim());
        current.push(' ');
        if !continues {
            out.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
            current.clear();
        }
    }
    out
}

/// The shell blocks (`sh`, `bash`, `console`) of the docs, per file.
fn shell_blocks() -> Vec<(String, usize, String)> {
    let mut files = vec!["README.md".to_string(), "docker/README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| format!("docs/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(repo().join(&f)).unwrap();
        for (line, lang, body) in code_blocks(&text) {
            if matches!(lang.as_str(), "sh" | "bash" | "console" | "shell") {
                out.push((f.clone(), line, body));
            }
        }
    }
    out
}

/// The commands of the first shell block in `file` containing `needle`.
fn block_with(file: &str, needle: &str) -> String {
    shell_blocks()
        .into_iter()
        .find(|(f, _, body)| f == file && body.contains(needle))
        .unwrap_or_else(|| panic!("{file} has no shell block with {needle:?}"))
        .2
}

#[test]
fn every_shell_command_in_the_docs_is_accounted_for() {
    let mut used = vec![false; ACCOUNTED.len()];
    let mut unaccounted = Vec::new();
    let mut total = 0;
    for (file, line, body) in shell_blocks() {
        for cmd in commands(&body) {
            total += 1;
            let hits: Vec<usize> = ACCOUNTED
                .iter()
                .enumerate()
                .filter(|(_, (f, prefix, _))| *f == file && cmd.starts_with(prefix))
                .map(|(i, _)| i)
                .collect();
            match hits.as_slice() {
                [i] => used[*i] = true,
                [] => unaccounted.push(format!("{file}:{line}: {cmd}")),
                many => panic!("{file}:{line}: {cmd} matches several entries: {many:?}"),
            }
        }
    }
    assert!(
        unaccounted.is_empty(),
        "shell commands in the docs that no test runs (run them in tests/docs.rs, or add them to ACCOUNTED with the reason they cannot run here):\n{}",
        unaccounted.join("\n")
    );
    let stale: Vec<&str> = ACCOUNTED
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|((_, p, _), _)| *p)
        .collect();
    assert!(
        stale.is_empty(),
        "ACCOUNTED entries matching no command: {stale:?}"
    );
    assert!(total >= ACCOUNTED.len(), "{total} commands");
}

#[test]
fn command_parsing_joins_continuations_and_drops_remarks() {
    let body = "# comment\nscripts/demo.sh     # the main job\nKAFKA_OPTS=\"x\" \\\nkmirror --a b \\\n        --c 'd,e'\n";
    assert_eq!(
        commands(body),
        vec![
            "scripts/demo.sh",
            "KAFKA_OPTS=\"x\" kmirror --a b --c 'd,e'"
        ]
    );
    let blocks = code_blocks("a\n```sh\nls\n```\n```\nKafkaClient {\n```\n");
    assert_eq!(
        blocks,
        vec![
            (2, "sh".to_string(), "ls\n".to_string()),
            (5, String::new(), "KafkaClient {\n".to_string())
        ]
    );
}

/// `scripts/demo.sh`, the README's main command, with the binaries this
/// test run built (the release build it makes from scratch is the long
/// tier's `readme_demo_command_runs_from_scratch`).
#[test]
fn readme_demo_command_runs() {
    let bins = Path::new(kmirror_bin()).parent().unwrap().to_path_buf();
    assert!(
        bins.join("kmirror-demo").is_file(),
        "no kmirror-demo beside {}: build the workspace (cargo build --workspace)",
        kmirror_bin()
    );
    run_readme_demo(&[("KMIRROR_DEMO_BIN_DIR", bins.display().to_string())]);
}

/// `scripts/demo.sh` exactly as a newcomer types it: installs what is
/// missing, builds the release binaries, runs the demo.
#[test]
#[ignore = "long tier: the demo's own release build (8-15 minutes cold)"]
fn readme_demo_command_runs_from_scratch() {
    run_readme_demo(&[]);
}

fn run_readme_demo(env: &[(&str, String)]) {
    let block = block_with("README.md", "scripts/demo.sh");
    assert!(commands(&block).contains(&"scripts/demo.sh".to_string()));
    let out = Command::new("bash")
        .arg("-c")
        .arg("scripts/demo.sh")
        .current_dir(repo())
        .env_remove("KAFKA_OPTS")
        .env_remove("KMIRROR_DEMO_BIN_DIR")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scripts/demo.sh failed:\n{text}");
    for want in ["verified:", "== demo passed", "mirrormaker/localhost@"] {
        assert!(
            text.contains(want),
            "{want:?} missing from the demo:\n{text}"
        );
    }
}

/// The walkthrough's stand-ins for `/etc/kmirror`, the realm and the host.
struct Walkthrough {
    kdc: Kdc,
    source: SecuredBroker,
    target: SecuredBroker,
    dir: tempfile::TempDir,
    etc: PathBuf,
    host: String,
}

impl Walkthrough {
    /// A doc command as it runs here: `/etc/kmirror` is the test's
    /// directory, `EXAMPLE.COM` the rig's realm, `HOST` this host, and the
    /// keytab is chowned to the user running the test.
    fn localize(&self, text: &str) -> String {
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        text.replace("/etc/kmirror", &self.etc.display().to_string())
            .replace("EXAMPLE.COM", self.kdc.realm())
            .replace("mirrormaker/HOST@", &format!("mirrormaker/{}@", self.host))
            .replace("chown kmirror ", &format!("chown {user} "))
    }

    /// One doc command for bash in the working directory, kmirror on
    /// `PATH` and the realm's krb5.conf (as /etc/krb5.conf would be).
    fn command(&self, script: &str) -> Command {
        let bin = Path::new(kmirror_bin()).parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("bash");
        c.arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(script)
            .current_dir(self.dir.path())
            .envs(self.kdc.env())
            .env("PATH", path)
            .env("RUST_LOG", "info,librdkafka=warn")
            .env(
                "KRB5CCNAME",
                format!("FILE:{}", self.dir.path().join("user-ccache").display()),
            )
            .env_remove("KAFKA_OPTS")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, cmd: &str) -> Output {
        let out = self.command(cmd).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts a long-running doc command, its output in `log`.
    fn spawn(&self, cmd: &str, log: &str) -> Kmirror {
        let log = self.dir.path().join(log);
        let f = std::fs::File::create(&log).unwrap();
        // bash -c runs a single simple command by exec'ing it, so the
        // signals the test sends reach kmirror itself.
        let child = self
            .command(cmd)
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap();
        Kmirror { child, log }
    }

    fn broker(&self, name: &str) -> &SecuredBroker {
        match name {
            "SRC:9092" => &self.source,
            "DST:9092" => &self.target,
            other => panic!("unknown --bootstrap-server {other} in docs/kerberos.md"),
        }
    }
}

/// The ACL bindings a `kafka-acls.sh --add` command line creates, and the
/// cluster (`--bootstrap-server`) it runs against.
fn parse_kafka_acls(cmd: &str) -> (String, Vec<AclBinding>) {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    assert_eq!(words[0], "kafka-acls.sh", "{cmd}");
    assert!(words.contains(&"--add"), "{cmd}");
    let mut bootstrap = None;
    let mut principals = Vec::new();
    let mut ops = Vec::new();
    let mut resources = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let value = words.get(i + 1).copied();
        match words[i] {
            "--bootstrap-server" => bootstrap = value,
            "--allow-principal" => principals.push(value.unwrap()),
            "--operation" => ops.push(match value.unwrap() {
                "Read" => Operation::Read,
                "Write" => Operation::Write,
                "Describe" => Operation::Describe,
                "Create" => Operation::Create,
                other => panic!("operation {other} in {cmd}"),
            }),
            "--topic" => resources.push((ResourceType::Topic, value.unwrap())),
            "--group" => resources.push((ResourceType::Group, value.unwrap())),
            "--command-config" => {}
            "--add" => {
                i += 1;
                continue;
            }
            other => panic!("kafka-acls.sh option {other} in {cmd}"),
        }
        i += 2;
    }
    let mut acls = Vec::new();
    for p in &principals {
        for (rt, name) in &resources {
            for op in &ops {
                acls.push(AclBinding::new(
                    *rt,
                    name,
                    PatternType::Literal,
                    p,
                    "*",
                    *op,
                    Permission::Allow,
                ));
            }
        }
    }
    (bootstrap.expect("--bootstrap-server").to_string(), acls)
}

/// docs/kerberos.md from `kadmin.local` to a running mirror, on the rig's
/// KDC and two kerberized clusters that start with no ACL for the mirror:
/// step 1's commands make the principal and keytab, step 2's `kafka-acls.sh`
/// lines are the only grants, step 3's JAAS file is used as printed, and
/// step 5's `kmirror check` and `kmirror` commands run as printed. Then the
/// README's `kmirror` command mirrors a second batch. The no-loss checker
/// covers both runs.
#[test]
fn kerberos_md_walkthrough_and_readme_command_on_the_rig_kdc() {
    let kdc = Kdc::start(KdcOptions::default()).expect("the MIT KDC starts");
    let source = SecuredBroker::start_kerberos(&kdc, |_| {}).unwrap();
    let target = SecuredBroker::start_kerberos(&kdc, |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc-kmirror");
    std::fs::create_dir(&etc).unwrap();
    let host = String::from_utf8(Command::new("hostname").arg("-f").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let w = Walkthrough {
        kdc,
        source,
        target,
        dir,
        etc,
        host,
    };
    let doc = "docs/kerberos.md";

    // 1. A principal and a keytab.
    for cmd in commands(&block_with(doc, "kadmin.local")) {
        w.run(&w.localize(&cmd));
    }
    let keytab = w.etc.join("mirrormaker.keytab");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&keytab).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "step 1 leaves the keytab 0600");
    let klist = w.run(&format!("klist -kt {}", keytab.display()));
    let principal = format!("mirrormaker/{}@{}", w.host, w.kdc.realm());
    assert!(
        String::from_utf8_lossy(&klist.stdout).contains(&principal),
        "step 1's keytab holds {principal}"
    );

    // 2. ACLs: exactly the documented ones.
    let mut granted = BTreeMap::<String, Vec<AclBinding>>::new();
    for cmd in commands(&block_with(doc, "kafka-acls.sh")) {
        let (cluster, acls) = parse_kafka_acls(&cmd);
        granted.entry(cluster).or_default().extend(acls);
    }
    for (cluster, acls) in &granted {
        let mut c = KafkaClient::connect(w.broker(cluster).listener.addr()).unwrap();
        c.sasl_plain("admin", ADMIN_PASSWORD).unwrap();
        c.create_acls(acls).unwrap();
    }
    assert_eq!(granted.len(), 2, "ACLs on both clusters: {granted:?}");

    // 3. The JAAS file as printed, and properties as the doc describes them.
    let jaas = code_blocks(&std::fs::read_to_string(repo().join(doc)).unwrap())
        .into_iter()
        .find(|(_, _, body)| body.contains("KafkaClient {"))
        .expect("the JAAS block")
        .2;
    std::fs::write(w.etc.join("kerberos.jaas"), w.localize(&jaas)).unwrap();
    std::fs::write(
        w.dir.path().join("source.properties"),
        format!(
            "bootstrap.servers={}\ngroup.id=kmirror\nsecurity.protocol=SASL_PLAINTEXT\n# the test broker (tansu) holds a fetch for the full wait\nfetch.max.wait.ms=10\n",
            w.source.listener.bootstrap()
        ),
    )
    .unwrap();
    std::fs::write(
        w.dir.path().join("target.properties"),
        format!(
            "bootstrap.servers={}\nsecurity.protocol=SASL_PLAINTEXT\n",
            w.target.listener.bootstrap()
        ),
    )
    .unwrap();
    let (src_admin, dst_admin) = (w.source.admin_conn(), w.target.admin_conn());
    src_admin.create_topic("orders", 3).unwrap();
    dst_admin.create_topic("orders", 3).unwrap();
    let batch = Workload {
        records: 5000,
        keys: 100,
        headers: 1,
        ..Default::default()
    };
    cluster::produce(&src_admin, "orders", &batch).unwrap();

    // 5. Check, then run, as printed.
    let step5 = commands(&block_with(doc, "kmirror check"));
    assert_eq!(step5.len(), 1, "{step5:?}");
    let check = w.run(&w.localize(&step5[0]));
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("User:mirrormaker"),
        "check report:\n{report}"
    );
    let run = commands(&block_with(doc, "kmirror --consumer.config"))
        .into_iter()
        .find(|c| c.starts_with("KAFKA_OPTS="))
        .expect("step 5's run command");
    let km = w.spawn(&w.localize(&run), "step5.log");
    let records = await_and_stop(&w, km, batch.records);

    // The README's command, with the same files (the JAAS file handed over
    // through KAFKA_OPTS, as a MirrorMaker user's environment has it).
    let readme = commands(&block_with("README.md", "kmirror --consumer.config"));
    assert_eq!(readme.len(), 1, "{readme:?}");
    let second = Workload {
        tag: "second".into(),
        ..batch.clone()
    };
    cluster::produce(&src_admin, "orders", &second).unwrap();
    let opts = format!(
        "KAFKA_OPTS=\"-Djava.security.auth.login.config={}\" ",
        w.etc.join("kerberos.jaas").display()
    );
    let km = w.spawn(&format!("{opts}{}", readme[0]), "readme.log");
    let all = await_and_stop(&w, km, 2 * batch.records);
    assert!(all.len() > records.len());

    // Each cluster authenticated the mirror only as the walkthrough's principal.
    assert_gssapi_only_as("source", &w.source.listener, &principal);
    assert_gssapi_only_as("target", &w.target.listener, &principal);
}

/// Waits until the mirror committed all `records` of `orders`, stops it
/// (SIGTERM), and runs the no-loss checker; returns the source records.
fn await_and_stop(w: &Walkthrough, mut km: Kmirror, records: usize) -> Vec<Record> {
    let src_admin = w.source.admin_conn();
    let source = km.await_all_committed(
        &src_admin,
        "kmirror",
        "orders",
        records,
        Duration::from_secs(180),
    );
    km.stop_ok();
    let target = cluster::read_all(
        &w.target.admin_conn(),
        "orders",
        records,
        Duration::from_secs(1),
        Duration::from_secs(120),
    )
    .unwrap();
    let report =
        checker::check(&source, &target, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"));
    let committed = cluster::committed_offsets(&src_admin, "kmirror", "orders").unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
    eprintln!("walkthrough: {report}");
    source
}

/// The rows of the first Markdown table after `heading` in `text`: cells,
/// header and separator dropped.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// docs/migrating-from-mirrormaker.md's tables of every MirrorMaker 1 flag
/// and key say what the code does: each flag row is parsed by kmirror's
/// command line, each key row looked up in kmirror's key table for both
/// files.
#[test]
fn migration_tables_match_the_code() {
    use kmirror::config::cli::parse_invocation;
    use kmirror::config::translate::{rule, Role, Rule};
    let doc = std::fs::read_to_string(repo().join("docs/migrating-from-mirrormaker.md")).unwrap();
    let unquote = |c: &str| c.trim().trim_matches('`').to_string();

    let flags = table_after(&doc, "## Flags");
    assert!(flags.len() >= 14, "{flags:?}");
    for row in &flags {
        let words: Vec<String> = unquote(&row[0])
            .split_whitespace()
            .map(String::from)
            .collect();
        let flag = words[0].clone();
        if flag == "--help" {
            continue; // clap prints help and exits: covered by clap itself
        }
        let mut argv = vec!["kmirror".to_string()];
        for base in [
            "--consumer.config=c",
            "--producer.config=p",
            "--whitelist=x",
        ] {
            if !base.starts_with(&format!("{flag}=")) {
                argv.push(base.into());
            }
        }
        argv.extend(words.iter().cloned());
        let parsed = parse_invocation(&argv);
        match row[1].as_str() {
            "same" | "no effect" => assert!(
                parsed.is_ok(),
                "{flag}: documented {:?}, refused: {:?}",
                row[1],
                parsed.err()
            ),
            "refused" => assert!(parsed.is_err(), "{flag}: documented refused, accepted"),
            other => panic!("{flag}: unknown handling {other:?}"),
        }
    }

    let keys = table_after(&doc, "## Every MirrorMaker 1 key");
    assert!(keys.len() >= 50, "{} rows", keys.len());
    let word = |r: Rule| -> String {
        match r {
            Rule::Pass => "passed".into(),
            Rule::Rename(to) => format!("→ `{to}`"),
            Rule::BytesToKbytes(to) => format!("KiB → `{to}`"),
            Rule::AssignmentStrategy => "assignor".into(),
            Rule::Security => "security".into(),
            Rule::Managed(_) => "managed".into(),
            Rule::Ignore(_) => "ignored".into(),
            Rule::Refuse(_) => "refused".into(),
            Rule::OtherRole => "other file".into(),
            Rule::Unknown => "unknown".into(),
        }
    };
    for row in &keys {
        let key = unquote(&row[0]);
        for (role, cell) in [(Role::Consumer, &row[1]), (Role::Producer, &row[2])] {
            assert_eq!(
                &word(rule(&key, role)),
                cell,
                "docs/migrating-from-mirrormaker.md: {key} in the {role:?} file"
            );
        }
    }
}

/// GitHub's anchor for a Markdown heading: lower case, spaces to `-`,
/// punctuation other than `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every `docs/FILE.md#anchor` kmirror's code names (error messages point
/// to the section that explains the fix) is a heading of that file, and
/// docs/kerberos.md has a section for each Kerberos error the operator
/// meets first.
#[test]
fn doc_anchors_named_by_the_code_exist() {
    let mut named = Vec::new();
    let mut stack = vec![repo().join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, _) in text.match_indices("docs/") {
                    let r: String = text[i..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || "/._-#".contains(*c))
                        .collect();
                    if let Some((file, a)) = r.split_once(".md#") {
                        named.push((p.clone(), format!("{file}.md"), a.to_string()));
                    }
                }
            }
        }
    }
    assert!(named.len() >= 8, "{named:?}");
    for (src, file, a) in &named {
        let doc = std::fs::read_to_string(repo().join(file))
            .unwrap_or_else(|e| panic!("{}: {file}: {e}", src.display()));
        let anchors: Vec<String> = doc
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| anchor(l.trim_start_matches('#')))
            .collect();
        assert!(
            anchors.contains(a),
            "{} names {file}#{a}, which has no such heading ({anchors:?})",
            src.display()
        );
    }
    for (text, doc) in kmirror::pipeline::errors::KERBEROS_DOCS {
        assert!(
            named.iter().any(|(_, f, a)| format!("{f}#{a}") == *doc),
            "{text}: {doc} not named"
        );
    }
    assert_eq!(
        anchor("Cannot find key of appropriate type to decrypt AP REQ"),
        "cannot-find-key-of-appropriate-type-to-decrypt-ap-req"
    );
}

/// docs/kubernetes.md's manifests parse as YAML and say what the page
/// says: N replicas of one Deployment, kmirror's own command line, the
/// keytab Secret at 0400 copied to a file kmirror owns, krb5.conf from a
/// ConfigMap, probes on /healthz and /readyz, scrape annotations on the
/// metrics port, and properties files kmirror's key table accepts.
#[test]
fn kubernetes_manifests_parse_and_agree() {
    use serde::Deserialize;
    use serde_yaml::Value;
    let doc = std::fs::read_to_string(repo().join("docs/kubernetes.md")).unwrap();
    let mut objects: Vec<Value> = Vec::new();
    for (line, lang, body) in code_blocks(&doc) {
        if lang == "yaml" {
            for d in serde_yaml::Deserializer::from_str(&body) {
                objects.push(
                    Value::deserialize(d)
                        .unwrap_or_else(|e| panic!("docs/kubernetes.md:{line}: {e}")),
                );
            }
        }
    }
    let kind = |k: &str, name: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == k && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {k} {name}"))
            .clone()
    };
    let deploy = kind("Deployment", "kmirror");
    let spec = &deploy["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2);
    let pod = &spec["template"];
    let ann = &pod["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/port"], "9404");
    assert_eq!(ann["prometheus.io/path"], "/metrics");
    let c = &pod["spec"]["containers"][0];
    let args: Vec<String> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(
        args.contains(&"--metrics.addr=0.0.0.0:9404".to_string()),
        "{args:?}"
    );
    match kmirror::config::cli::parse_invocation(
        std::iter::once("kmirror".to_string()).chain(args.clone()),
    ) {
        Ok(kmirror::config::cli::Invocation::Mirror(_)) => {}
        other => panic!("container args: {other:?}"),
    }
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"].as_u64(), Some(9404), "{probe}");
    }
    // Grace period above kmirror's drain-and-commit bound.
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(grace * 1000 >= 30_000 + 15_000);
    let volumes = pod["spec"]["volumes"].as_sequence().unwrap();
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("volume {name}"))
    };
    assert_eq!(
        volume("keytab-secret")["secret"]["defaultMode"].as_u64(),
        Some(0o400)
    );
    assert_eq!(volume("krb5")["configMap"]["name"], "kmirror-krb5");
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    assert!(mounts.iter().any(|m| m["name"] == "krb5"
        && m["mountPath"] == "/etc/krb5.conf"
        && m["subPath"] == "krb5.conf"));
    // The init container leaves the keytab kmirror's own, 0400, where the JAAS file says.
    let init = pod["spec"]["initContainers"][0]["command"][2]
        .as_str()
        .unwrap();
    assert!(
        init.contains("chmod 0400 /run/kmirror/keytab/mirrormaker.keytab"),
        "{init}"
    );
    assert_eq!(
        pod["spec"]["securityContext"]["runAsUser"].as_u64(),
        Some(10001)
    );
    let config = kind("ConfigMap", "kmirror-config");
    let jaas = config["data"]["kerberos.jaas"].as_str().unwrap();
    assert!(
        jaas.contains("keyTab=\"/run/kmirror/keytab/mirrormaker.keytab\""),
        "{jaas}"
    );
    // The properties files pass kmirror's key table.
    let dir = tempfile::tempdir().unwrap();
    for (file, role) in [
        (
            "source.properties",
            kmirror::config::translate::Role::Consumer,
        ),
        (
            "target.properties",
            kmirror::config::translate::Role::Producer,
        ),
    ] {
        let p = dir.path().join(file);
        std::fs::write(&p, config["data"][file].as_str().unwrap()).unwrap();
        let props = kmirror::config::properties::PropertiesFile::read(&p).unwrap();
        kmirror::config::translate::translate(&props, role)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let krb5 = kind("ConfigMap", "kmirror-krb5");
    assert!(krb5["data"]["krb5.conf"]
        .as_str()
        .unwrap()
        .contains("rdns = false"));
}
