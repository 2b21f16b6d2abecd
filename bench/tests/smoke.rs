//! The benchmark end to end, small: every row of the main scenario runs on
//! real brokers, kmirror's copy passes the rig's checker (`--verify`), and
//! the JSON holds figures and ratios. Performance itself is never asserted
//! here (figures are for `scripts/bench.sh`); this keeps the benchmark from
//! breaking unnoticed between runs.
//!
//! The mirrors measured are the `kmirror` binary next to this test's
//! `kmirror-bench` (`cargo test --workspace` builds both), and the Python
//! peer runs in the venv `scripts/bench-venv.sh` creates.

use std::path::Path;
use std::process::Command;

#[test]
fn quick_run_measures_every_row_and_verifies_kmirrors_copy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = Command::new(root.join("scripts/bench-venv.sh"))
        .output()
        .expect("running scripts/bench-venv.sh");
    assert!(
        venv.status.success(),
        "scripts/bench-venv.sh: {}",
        String::from_utf8_lossy(&venv.stderr)
    );
    let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let run = Command::new(env!("CARGO_BIN_EXE_kmirror-bench"))
        .args([
            "--quick",
            "--main-only",
            "--reps",
            "1",
            "--records",
            "100000",
            "--latency-secs",
            "1",
        ])
        .arg("--verify")
        .arg("--out")
        .arg(&out)
        .env("KMIRROR_BENCH_PYTHON", &python)
        .output()
        .expect("running kmirror-bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "kmirror-bench failed:\n{stderr}\n{stdout}"
    );
    assert!(
        stderr.contains("verified: 100000 source records, 100000 on target (0 duplicates"),
        "kmirror's copy was not verified:\n{stderr}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let row = |what: &str| {
        rows.iter()
            .find(|r| r["what"].as_str().is_some_and(|w| w.starts_with(what)))
            .unwrap_or_else(|| panic!("no row {what:?} in {json}"))
    };
    let median = |r: &serde_json::Value, field: &str| r[field]["median"].as_f64();
    for what in [
        "consume-only",
        "produce-only",
        "produce-only, queue free",
        "consume + produce at once",
        "consume + produce at once, queue free",
        "kmirror",
        "python confluent-kafka loop",
        "bare rdkafka loop",
    ] {
        let r = row(what);
        assert_eq!(r["scenario"]["records"], 100000, "{r}");
        assert!(median(r, "mb_per_s").unwrap() > 0.0, "{r}");
        assert!(median(r, "records_per_s").unwrap() > 0.0, "{r}");
    }
    for what in [
        "kmirror",
        "python confluent-kafka loop",
        "bare rdkafka loop",
    ] {
        let r = row(what);
        assert!(median(r, "peak_rss_mb").unwrap() > 1.0, "{r}");
        assert!(median(r, "cpu_s_per_gb").is_some(), "{r}");
        assert!(median(r, "tenth_rss_mb").unwrap() > 1.0, "{r}");
    }
    for ratio in [
        "kmirror_vs_ceiling",
        "kmirror_vs_python",
        "kmirror_vs_bare_loop",
        "ceiling_mb_per_s",
        "kmirror_vs_both_at_once",
        "both_at_once_mb_per_s",
        // The unconstrained bound (issue #24): the producer free to queue.
        "kmirror_vs_unconstrained_both_at_once",
        "unconstrained_both_at_once_mb_per_s",
        "unconstrained_produce_mb_per_s",
    ] {
        assert!(
            json["ratios"][ratio].as_f64().unwrap() > 0.0,
            "{ratio}: {json}"
        );
    }
    // A ratio against the bound measured in the same run (100,000 records,
    // so the mirrors commit several times and their start-up is measured
    // apart; with 20,000 a run could end before its first interval commit
    // and count start-up as mirroring). Only a catastrophe guard: the
    // benchmark, not this test, measures performance. On the 2-core CI
    // machine the ratio was 0.66 alone and 0.49 beside another test (the
    // denominator itself is noisy: consume + produce at once once beat
    // consume-only), so the floor is 0.25: a noisy machine does not fail
    // it, a mirror gone slow by 4x (a stall, a per-record flush or sleep)
    // does.
    let vs_both = json["ratios"]["kmirror_vs_both_at_once"].as_f64().unwrap();
    eprintln!("kmirror / consume + produce at once (same run): {vs_both:.2}");
    assert!(
        vs_both >= 0.25,
        "kmirror reached {vs_both:.2} of the consume + produce bound of the same run (< 0.25):\n{stdout}"
    );
    assert_latency(&json, "loopback, kmirror", &[10, 50, 90]);
    assert!(stdout.contains("latency, ms:"), "{stdout}");
    // The settings that distort the measurement are printed with the table.
    let settings = json["settings"].as_str().unwrap_or_default();
    assert!(settings.contains("fetch.wait.max.ms="), "{settings}");
    assert!(stdout.contains("kmirror / ceiling:"), "{stdout}");
    assert!(stdout.contains("consume and produce at once:"), "{stdout}");
    assert!(
        stdout.contains("consume and produce at once, producer queue free:"),
        "{stdout}"
    );
}

/// The distance rows (`--rtt`), tiny: every row runs through the delay
/// proxy in both placements and each kmirror copy (defaults and the
/// distance mode, near the source and near the target) passes the checker.
/// No figure is asserted beyond being there.
#[test]
fn quick_distance_rows_run_and_verify_kmirrors_copies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let run = Command::new(env!("CARGO_BIN_EXE_kmirror-bench"))
        .args([
            "--rtt",
            "20",
            "--reps",
            "1",
            "--records",
            "2000",
            "--verify",
            "--latency-loads",
            "50",
            "--latency-secs",
            "1",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("running kmirror-bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "kmirror-bench --rtt failed:\n{stderr}\n{stdout}"
    );
    assert_eq!(
        stderr
            .matches("verified: 2000 source records, 2000 on target (0 duplicates")
            .count(),
        4,
        "every kmirror copy is verified:\n{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    for what in [
        "20 ms RTT, near source: produce-only, acks=all, 1 in flight",
        "20 ms RTT, near source: produce-only, idempotent, 5 in flight",
        "20 ms RTT, near source: kmirror defaults",
        "20 ms RTT, near source: kmirror distance mode (idempotent)",
        "20 ms RTT, near target: consume-only",
        "20 ms RTT, near target: kmirror defaults",
        "20 ms RTT, near target: kmirror distance mode (idempotent)",
    ] {
        let r = rows
            .iter()
            .find(|r| r["what"] == what)
            .unwrap_or_else(|| panic!("no row {what:?} in {json}"));
        assert!(r["mb_per_s"]["median"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert_eq!(json["ratios"]["rtt_ms"], 20);
    assert_latency(&json, "20 ms RTT, near source: kmirror defaults", &[50]);
    assert_latency(
        &json,
        "20 ms RTT, near source: kmirror distance mode (idempotent)",
        &[50],
    );
    assert!(
        stdout.contains("near source: kmirror distance mode / defaults:"),
        "{stdout}"
    );
}

/// The latency rows of `what`: one per load, each with its records and
/// p50 <= p99 <= max (readable on the target), and kmirror's own
/// acknowledgement quantiles from its histogram, p50 <= p99. No figure is
/// judged.
fn assert_latency(json: &serde_json::Value, what: &str, loads: &[u64]) {
    let rows: Vec<&serde_json::Value> = json["latency"]
        .as_array()
        .unwrap_or_else(|| panic!("no latency rows in {json}"))
        .iter()
        .filter(|r| r["what"] == what)
        .collect();
    let got: Vec<u64> = rows.iter().filter_map(|r| r["load_pct"].as_u64()).collect();
    assert_eq!(
        got, loads,
        "latency loads of {what:?}: {:?}",
        json["latency"]
    );
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("no {k} in {r}"));
        assert!(f("records") >= 1.0, "{r}");
        assert!(f("offered_records_per_s") > 0.0, "{r}");
        assert!(0.0 <= f("p50_ms"), "{r}");
        assert!(f("p50_ms") <= f("p99_ms"), "{r}");
        assert!(f("p99_ms") <= f("max_ms"), "{r}");
        assert!(f("ack_p50_ms") <= f("ack_p99_ms"), "{r}");
    }
}
