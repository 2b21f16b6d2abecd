//! Topic selection: MirrorMaker's `--whitelist`/`--blacklist` (Java regular
//! expressions matched against the whole topic name) and the internal-topic
//! rule.

use regex::Regex;

/// A compiled topic pattern: the regex crate (linear time) when it accepts
/// the pattern, otherwise fancy-regex for the Java features it lacks
/// (lookahead/lookbehind, possessive quantifiers, backreferences).
#[derive(Debug, Clone)]
enum Pattern {
    Fast(Regex),
    Java(fancy_regex::Regex),
}

impl Pattern {
    /// Compiles `^(?:p)$`; on failure, the reason and the 0-based position
    /// in `p` where the engine stopped, when it says.
    fn anchored(p: &str) -> Result<Pattern, (String, Option<usize>)> {
        const PREFIX: usize = "^(?:".len();
        let full = format!("^(?:{p})$");
        let fast_err = match Regex::new(&full) {
            Ok(r) => return Ok(Pattern::Fast(r)),
            Err(e) => e,
        };
        match fancy_regex::Regex::new(&full) {
            Ok(r) => Ok(Pattern::Java(r)),
            Err(fancy_regex::Error::ParseError(pos, kind)) => Err((
                kind.to_string(),
                Some(pos.saturating_sub(PREFIX).min(p.len())),
            )),
            Err(_) => Err((fast_err.to_string(), None)),
        }
    }

    fn is_match(&self, topic: &str) -> bool {
        match self {
            Pattern::Fast(r) => r.is_match(topic),
            // A pattern that backtracks past fancy-regex's limit matches nothing.
            Pattern::Java(r) => r.is_match(topic).unwrap_or(false),
        }
    }
}

/// Which source topics are mirrored.
#[derive(Debug, Clone)]
pub struct TopicFilter {
    include: Pattern,
    exclude: Option<Pattern>,
    include_internal: bool,
    include_src: String,
    exclude_src: Option<String>,
}

/// A whitelist/blacklist that is not a valid regular expression.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{flag} {pattern:?} is not a valid regular expression{}: {reason}", at(.position, .normalized))]
pub struct FilterError {
    /// The flag it came from.
    pub flag: &'static str,
    /// The pattern as given.
    pub pattern: String,
    /// The pattern after MirrorMaker's normalisation (commas to `|`).
    pub normalized: String,
    /// 0-based character position in `normalized` where parsing stopped.
    pub position: Option<usize>,
    /// The regex engine's explanation.
    pub reason: String,
}

fn at(position: &Option<usize>, normalized: &str) -> String {
    match position {
        Some(p) => match normalized.get(*p..).filter(|rest| !rest.is_empty()) {
            Some(rest) => format!(" at position {p} of {normalized:?} (at {rest:?})"),
            None => format!(" at position {p} of {normalized:?} (its end)"),
        },
        None => String::new(),
    }
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
            Pattern::anchored(&p)
                .map(|r| (r, p.clone()))
                .map_err(|(reason, position)| FilterError {
                    flag,
                    pattern: raw.to_string(),
                    normalized: p.clone(),
                    position,
                    reason,
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

/// Prefix of the offset map topics kmirror keeps on the target (`--offset.map`).
pub const OFFSET_MAP_TOPIC_PREFIX: &str = "kmirror.offsets.";

/// The map topic of the source cluster with id `cluster_id`. Characters a
/// topic name cannot hold become `_`.
pub fn offset_map_topic(cluster_id: &str) -> String {
    let id: String = cluster_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{OFFSET_MAP_TOPIC_PREFIX}{id}")
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
    fn java_lookahead_and_possessive_quantifiers() {
        // Everything but topics starting with tmp, as a Java user writes it.
        let f = TopicFilter::new("(?!tmp).*", None, false).unwrap();
        assert!(f.matches("orders"));
        assert!(!f.matches("tmp-1"));
        let f = TopicFilter::new("orders.*+", None, false).unwrap();
        assert!(f.matches("orders-eu"));
        assert!(!f.matches("payments"));
        let f = TopicFilter::new("(?<!x)orders", Some("(\\w)\\1.*"), false).unwrap();
        assert!(f.matches("orders"));
        let f = TopicFilter::new(".*", Some("(\\w)\\1.*"), false).unwrap();
        assert!(!f.matches("oorders"), "backreference in --blacklist");
        assert!(f.matches("orders"));
    }

    #[test]
    fn invalid_pattern_names_flag_pattern_and_position() {
        let e = TopicFilter::new("orders,pay(ments", None, false).unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("--whitelist \"orders,pay(ments\""), "{m}");
        assert_eq!(e.normalized, "orders|pay(ments");
        assert!(e.position.is_some(), "{m}");
        assert!(m.contains("at position"), "{m}");
        let e = TopicFilter::new(".*", Some("[z-a]"), false).unwrap_err();
        assert_eq!(e.flag, "--blacklist");
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
