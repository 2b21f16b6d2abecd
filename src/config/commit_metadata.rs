//! What kmirror writes as the metadata of each committed offset: the
//! topic's id (to recognise a re-created topic, issue #18 case 5) and the
//! partition's explained skipped offsets (case 0), read back by the next
//! run and by `kmirror lag`.

/// The commit-metadata prefix before a topic id.
const METADATA_PREFIX: &str = "kmirror:topic-id=";

/// What follows the topic id: the partition's explained skipped offsets.
const SKIPPED_FIELD: &str = ";skipped=";

/// The commit metadata recording `topic_id` (empty when the broker reports
/// no ids) and, when there were any, the partition's `skipped` offsets
/// (transaction markers, aborted records, compaction, retention; see
/// `skips`), which `kmirror lag` shows: `kmirror:topic-id=<id>[;skipped=<n>]`.
pub(crate) fn commit_metadata(topic_id: Option<&str>, skipped: u64) -> String {
    let mut m = format!("{METADATA_PREFIX}{}", topic_id.unwrap_or(""));
    if skipped > 0 {
        m.push_str(&format!("{SKIPPED_FIELD}{skipped}"));
    } else if topic_id.is_none() {
        m.clear();
    }
    m
}

/// The topic id a commit's metadata records, if kmirror wrote it.
pub(crate) fn id_in_metadata(metadata: &str) -> Option<&str> {
    let rest = metadata.strip_prefix(METADATA_PREFIX)?;
    let id = rest.split_once(SKIPPED_FIELD).map_or(rest, |(id, _)| id);
    Some(id).filter(|id| !id.is_empty())
}

/// The skipped offsets a commit's metadata records (0 when none, or when
/// kmirror did not write it).
pub(crate) fn skipped_in_metadata(metadata: &str) -> u64 {
    metadata
        .strip_prefix(METADATA_PREFIX)
        .and_then(|rest| rest.split_once(SKIPPED_FIELD))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_metadata_round_trips_and_ignores_foreign_metadata() {
        let m = commit_metadata(Some("q1Sh-9_ISia_zwGINzRvyQ"), 0);
        assert_eq!(m, "kmirror:topic-id=q1Sh-9_ISia_zwGINzRvyQ");
        assert_eq!(id_in_metadata(&m), Some("q1Sh-9_ISia_zwGINzRvyQ"));
        assert_eq!(skipped_in_metadata(&m), 0);
        assert_eq!(commit_metadata(None, 0), "");
        // With skipped offsets, with and without an id.
        let m = commit_metadata(Some("q1Sh-9_ISia_zwGINzRvyQ"), 7);
        assert_eq!(id_in_metadata(&m), Some("q1Sh-9_ISia_zwGINzRvyQ"));
        assert_eq!(skipped_in_metadata(&m), 7);
        let m = commit_metadata(None, 7);
        assert_eq!((id_in_metadata(&m), skipped_in_metadata(&m)), (None, 7));
        assert_eq!(id_in_metadata(""), None);
        // Another tool's metadata, or MirrorMaker's: no identity.
        assert_eq!(id_in_metadata("some app data"), None);
        assert_eq!(id_in_metadata("kmirror:topic-id="), None);
    }
}
