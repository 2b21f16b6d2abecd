use super::*;
use ConfigSource::*;

/// (source partitions, target partitions, --create.topics,
/// --preserve.partitions) → the step.
#[test]
fn partition_steps() {
    use PartitionStep::*;
    let table = [
        (4, Some(4), true, true, Keep),
        (4, Some(6), true, true, Keep),
        (4, None, true, true, Keep),
        (4, None, false, false, Keep),
        (6, Some(4), true, true, Add { from: 4, to: 6 }),
        (6, Some(4), true, false, Add { from: 4, to: 6 }),
        (
            6,
            Some(4),
            false,
            true,
            Refuse {
                source: 6,
                target: 4,
            },
        ),
        (
            6,
            Some(4),
            false,
            false,
            Note {
                source: 6,
                target: 4,
            },
        ),
    ];
    for (source, target, create, preserve, want) in table {
        assert_eq!(
            partition_step(source, target, create, preserve),
            want,
            "source {source}, target {target:?}, create {create}, preserve {preserve}"
        );
    }
}

fn entry(name: &str, value: Option<&str>, source: ConfigSource) -> ConfigEntry {
    ConfigEntry {
        name: name.into(),
        value: value.map(String::from),
        is_default: matches!(source, Default),
        source,
        is_read_only: false,
        is_sensitive: value.is_none(),
    }
}

fn changes(u: &ConfigUpdate) -> Vec<(&str, Option<&str>, &str)> {
    u.changes
        .iter()
        .map(|c| (c.key.as_str(), c.from.as_deref(), c.to.as_str()))
        .collect()
}

/// Drifted allow-listed keys change; keys outside the allow-list and keys
/// the source leaves at its defaults never do; the set sent keeps every
/// key the target topic sets itself.
#[test]
fn config_updates() {
    let source = [
        entry("cleanup.policy", Some("compact"), DynamicTopic),
        entry("retention.ms", Some("1000"), DynamicTopic),
        entry("compression.type", Some("zstd"), DynamicTopic),
        // Outside the allow-list: never copied.
        entry("min.insync.replicas", Some("3"), DynamicTopic),
        // The source brokers' defaults: not the topic's own.
        entry("max.message.bytes", Some("2000000"), StaticBroker),
        entry("retention.bytes", Some("-1"), Default),
    ];
    let target = [
        entry("cleanup.policy", Some("delete"), Default),
        entry("retention.ms", Some("1000"), DynamicTopic),
        entry("min.insync.replicas", Some("2"), DynamicTopic),
        entry("max.message.bytes", Some("1048588"), Default),
        entry("retention.bytes", Some("5000"), DynamicTopic),
    ];
    let u = config_update(&source, &target).unwrap().unwrap();
    assert_eq!(
        changes(&u),
        [
            ("cleanup.policy", Some("delete"), "compact"),
            ("compression.type", None, "zstd"),
        ]
    );
    let set: Vec<(&str, &str)> = u
        .set
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        set,
        [
            ("cleanup.policy", "compact"),
            ("compression.type", "zstd"),
            // The target's own settings, kept as they are (AlterConfigs
            // would reset what is left out).
            ("min.insync.replicas", "2"),
            ("retention.bytes", "5000"),
            ("retention.ms", "1000"),
        ]
    );
}

#[test]
fn no_drift_no_update() {
    let source = [entry("cleanup.policy", Some("compact"), DynamicTopic)];
    let target = [
        entry("cleanup.policy", Some("compact"), DynamicTopic),
        entry("retention.ms", Some("5"), DynamicTopic),
    ];
    assert_eq!(config_update(&source, &target), Ok(None));
    // Only keys outside the allow-list differ: nothing either.
    let source = [entry("min.insync.replicas", Some("3"), DynamicTopic)];
    assert_eq!(config_update(&source, &target), Ok(None));
}

/// A target setting whose value is hidden cannot be sent back: the topic
/// is left alone rather than reset.
#[test]
fn hidden_target_value_leaves_the_topic_alone() {
    let source = [entry("retention.ms", Some("1000"), DynamicTopic)];
    let target = [entry("some.secret", None, DynamicTopic)];
    assert_eq!(
        config_update(&source, &target),
        Err(ConfigUpdateError::HiddenTargetValue {
            key: "some.secret".into()
        })
    );
}
