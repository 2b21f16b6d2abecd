//! Topic selection: MirrorMaker's `--whitelist`/`--blacklist` (Java regular
//! expressions matched against the whole topic name) and the internal-topic
//! rule.

use regex::Regex;

/// Which source topics are mirrored.
#[derive(Debug, Clone)]
pub struct TopicFilter {
    include: Regex,
    exclude: Option<Regex>,
    include_internal: bool,
    include_src: String,
    exclude_src: Option<String>,
}

/// A whitelist/blacklist that is not a valid regular expression.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{flag} {pattern:?} is not a valid regular expression: {reason}")]
pub struct FilterError {
    /// The flag it came from.
    pub flag: &'static str,
    /// The pattern as given.
    pub pattern: String,
    /// The regex engine's explanation.
    pub reason: String,
}

/// Normalises a MirrorMaker topic list the way MirrorMaker's `Whitelist`
/// does: surrounding quotes and spaces removed, a comma means `|`.
pub fn normalize_pattern(raw: &str) -> String {
    let trimmed = raw.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    trimmed
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("|")
}

/// Internal topics (`__consumer_offsets`, `__transaction_state`, any name
/// starting with `__`) belong to the cluster, and a producer may not write
/// them ("Producer cannot send requests to __consumer_offsets").
pub fn is_internal(topic: &str) -> bool {
    topic.starts_with("__")
}

impl TopicFilter {
    /// Builds a filter. Java's `Pattern.matches` matches the whole name, so
    /// each expression is anchored at both ends.
    pub fn new(
        include: &str,
        exclude: Option<&str>,
        include_internal: bool,
    ) -> Result<TopicFilter, FilterError> {
        let compile = |flag: &'static str, raw: &str| {
            let p = normalize_pattern(raw);
            Regex::new(&format!("^(?:{p})$"))
                .map(|r| (r, p.clone()))
                .map_err(|e| FilterError {
                    flag,
                    pattern: raw.to_string(),
                    reason: e.to_string(),
                })
        };
        let (include_re, include_src) = compile("--whitelist", include)?;
        let (exclude, exclude_src) = match exclude {
            Some(x) if !normalize_pattern(x).is_empty() => {
                let (r, s) = compile("--blacklist", x)?;
                (Some(r), Some(s))
            }
            _ => (None, None),
        };
        Ok(TopicFilter {
            include: include_re,
            exclude,
            include_internal,
            include_src,
            exclude_src,
        })
    }

    /// Whether `topic` is mirrored.
    pub fn matches(&self, topic: &str) -> bool {
        if is_internal(topic) && !self.include_internal {
            return false;
        }
        self.include.is_match(topic) && !self.exclude.as_ref().is_some_and(|x| x.is_match(topic))
    }

    /// The normalised include pattern.
    pub fn include_pattern(&self) -> &str {
        &self.include_src
    }

    /// The normalised exclude pattern, if any.
    pub fn exclude_pattern(&self) -> Option<&str> {
        self.exclude_src.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_quotes_and_spaces() {
        assert_eq!(
            normalize_pattern(" 'orders, payments.*' "),
            "orders|payments.*"
        );
        assert_eq!(normalize_pattern("\"a,b\""), "a|b");
        let f = TopicFilter::new("'orders,payments.*'", None, false).unwrap();
        assert!(f.matches("orders"));
        assert!(f.matches("payments-eu"));
        assert!(
            !f.matches("orders-eu"),
            "whole-name match, as Java's Pattern.matches"
        );
        assert!(!f.matches("xorders"));
    }

    #[test]
    fn internal_topics_excluded_even_by_dot_star() {
        let f = TopicFilter::new(".*", None, false).unwrap();
        assert!(f.matches("test-topic"));
        assert!(!f.matches("__consumer_offsets"));
        assert!(!f.matches("__transaction_state"));
        assert!(!f.matches("__anything"));
        let f = TopicFilter::new(".*", None, true).unwrap();
        assert!(f.matches("__consumer_offsets"));
    }

    #[test]
    fn blacklist_wins() {
        let f = TopicFilter::new(".*", Some("tmp.*, scratch"), false).unwrap();
        assert!(f.matches("orders"));
        assert!(!f.matches("tmp-1"));
        assert!(!f.matches("scratch"));
        assert!(f.matches("scratchpad"));
        assert_eq!(f.exclude_pattern(), Some("tmp.*|scratch"));
    }

    #[test]
    fn bad_regex_names_flag() {
        let e = TopicFilter::new("orders(", None, false).unwrap_err();
        assert!(e.to_string().starts_with("--whitelist \"orders(\""), "{e}");
        let e = TopicFilter::new(".*", Some("[x"), false).unwrap_err();
        assert!(e.to_string().starts_with("--blacklist"), "{e}");
    }
}
