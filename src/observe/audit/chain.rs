//! Reading a trail back: every line checked for canonical form, its link
//! to the line before, its seal under the key in effect at that line, and
//! its fields, across key rotations ([`super::rotation`]).
//!
//! The key in effect at the first line is whichever given key seals it;
//! a rotation line hands over to the key it names. `verify` needs every
//! key of the trail (`--key` once per key). A running mirror holds only
//! the current key: it reads with [`Retired::Trust`], which accepts lines
//! sealed under an earlier key unverified *if* a rotation line sealed
//! under the given key follows them (its seal covers the last of them
//! through `prev`), so the segment the mirror appends to is always
//! checked.

use std::io::{BufRead, Read};
use std::path::Path;

use super::rotation::KeyRotation;
use super::{io_err, AuditEntry, AuditError, Seal, GENESIS, MAX_LINE_BYTES};

/// What to do with lines sealed under a key that was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retired {
    /// Refuse them (`verify`: every key must be given).
    Refuse,
    /// Accept them unverified when a rotation to a given key follows
    /// (the mirror and `rotate`, which hold only the current key).
    Trust,
}

/// The lines of an intact trail.
#[derive(Debug)]
pub(crate) struct Lines {
    /// The audit entries, in file order.
    pub(crate) entries: Vec<AuditEntry>,
    /// The key rotations, in file order.
    pub(crate) rotations: Vec<KeyRotation>,
    /// `hash` of every line (entries and rotations), in file order: what
    /// the anchor counts and names.
    pub(crate) heads: Vec<String>,
    /// Lines sealed under a key that was not given (only with [`Retired::Trust`]).
    pub(crate) unverified: usize,
    /// The file ended in an unterminated line, ignored.
    pub(crate) incomplete_last_line: bool,
    /// The key in effect at the end (what the anchor and the next line
    /// are sealed with); `None` for an empty trail.
    pub(crate) seal: Option<Seal>,
}

/// Reads the next line of at most [`MAX_LINE_BYTES`]: `(bytes, terminated)`.
fn next_line(r: &mut impl BufRead) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    let mut buf = Vec::new();
    r.by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if buf.is_empty() {
        return Ok(None);
    }
    let terminated = buf.last() == Some(&b'\n');
    if terminated {
        buf.pop();
    }
    Ok(Some((buf, terminated)))
}

enum Line {
    Entry(AuditEntry),
    Rotation(KeyRotation),
}

impl Line {
    fn prev(&self) -> &str {
        match self {
            Line::Entry(e) => &e.prev,
            Line::Rotation(r) => &r.prev,
        }
    }

    fn hash(&self) -> &str {
        match self {
            Line::Entry(e) => &e.hash,
            Line::Rotation(r) => &r.hash,
        }
    }
}

/// Parses a line as an entry, else as a rotation; it must be the
/// canonical serialisation of what it parsed to.
fn parse(line: &str) -> Result<Line, String> {
    let edited = || "not in canonical form (the line was edited)".to_string();
    match serde_json::from_str::<AuditEntry>(line) {
        Ok(e) if e.line() == line => Ok(Line::Entry(e)),
        Ok(_) => Err(edited()),
        Err(entry_err) => match serde_json::from_str::<KeyRotation>(line) {
            Ok(r) if r.line() == line => Ok(Line::Rotation(r)),
            Ok(_) => Err(edited()),
            Err(_) => Err(format!("not an audit entry: {entry_err}")),
        },
    }
}

fn unsealed(seal: &Seal) -> String {
    match seal {
        Seal::Keyed(k) => format!("hash does not verify under the audit key (key id {}): the entry was changed or re-chained without the key, or the key is not the trail's", k.id()),
        Seal::Unkeyed => "hash does not match the entry (the entry was changed)".into(),
    }
}

/// The key checks of one trail read.
struct Keys<'a> {
    seals: &'a [Seal],
    retired: Retired,
    /// The key in effect; `None` before the first line and inside a
    /// segment sealed under a key that was not given.
    current: Option<Seal>,
    /// Why the first line did not verify, while in such a segment: the
    /// error if no rotation to a given key follows.
    pending: Option<(usize, String)>,
}

impl Keys<'_> {
    fn by_id(&self, id: &str) -> Option<Seal> {
        self.seals.iter().find(|s| s.key_id() == id).cloned()
    }

    /// Checks an entry's seal; `Err(reason)` if broken.
    fn entry(&mut self, line_no: usize, e: &AuditEntry) -> Result<bool, String> {
        let body = e.body();
        if line_no == 1 {
            return self.first(line_no, |s| s.check(&body, &e.hash));
        }
        match &self.current {
            Some(s) if s.check(&body, &e.hash) => Ok(true),
            Some(s) => Err(unsealed(s)),
            None => Ok(false),
        }
    }

    /// The first line decides the key in effect: whichever given key seals it.
    fn first(&mut self, line_no: usize, seals_it: impl Fn(&Seal) -> bool) -> Result<bool, String> {
        if let Some(s) = self.seals.iter().find(|s| seals_it(s)) {
            self.current = Some(s.clone());
            return Ok(true);
        }
        let reason = match self.seals {
            [one] => unsealed(one),
            _ => "hash does not verify under any of the given keys".into(),
        };
        match self.retired {
            Retired::Refuse => Err(reason),
            Retired::Trust => {
                self.pending = Some((line_no, reason));
                Ok(false)
            }
        }
    }

    /// Checks a rotation's two seals and hands over to its new key.
    fn rotation(&mut self, line_no: usize, r: &KeyRotation) -> Result<(), String> {
        let body = r.body();
        if line_no == 1 {
            self.first(line_no, |s| {
                s.key_id() == r.rotate_from_key_id && s.check(&body, &r.hash_from)
            })?;
        } else if let Some(s) = &self.current {
            if s.key_id() != r.rotate_from_key_id {
                return Err(format!(
                    "a key rotation from key id `{}`, but the lines before it are sealed under key id `{}`",
                    r.rotate_from_key_id,
                    s.key_id()
                ));
            }
            if !s.check(&body, &r.hash_from) {
                return Err(format!(
                    "hash_from does not verify under the retiring key (key id `{}`): the rotation was forged or changed",
                    s.key_id()
                ));
            }
        }
        match self.by_id(&r.rotate_to_key_id) {
            Some(s) if s.check(&body, &r.hash) => {
                self.current = Some(s);
                self.pending = None;
                Ok(())
            }
            Some(_) => Err(format!(
                "hash does not verify under the new key (key id `{}`): the rotation was forged or changed",
                r.rotate_to_key_id
            )),
            None if self.retired == Retired::Trust => {
                self.current = None;
                self.pending.get_or_insert((
                    line_no,
                    format!(
                        "the lines after this key rotation are sealed under key id `{}`, not the given key (key id `{}`): use the trail's current key (`kmirror audit rotate` printed it)",
                        r.rotate_to_key_id,
                        self.seals.first().map_or("", Seal::key_id)
                    ),
                ));
                Ok(())
            }
            None => Err(format!(
                "the lines from here on are sealed under key id `{}` (a key rotation): pass that key too (`--key` once per key of the trail)",
                r.rotate_to_key_id
            )),
        }
    }
}

/// Reads and checks every line (see the module docs); returns the lines,
/// or the first broken one. An unterminated last line is skipped (a write
/// in progress).
pub(crate) fn read_lines(
    path: &Path,
    seals: &[Seal],
    retired: Retired,
    mut r: impl BufRead,
) -> Result<Lines, AuditError> {
    let mut keys = Keys {
        seals,
        retired,
        current: None,
        pending: None,
    };
    let mut out = Lines {
        entries: Vec::new(),
        rotations: Vec::new(),
        heads: Vec::new(),
        unverified: 0,
        incomplete_last_line: false,
        seal: None,
    };
    let mut line_no = 0;
    while let Some((bytes, terminated)) = next_line(&mut r).map_err(io_err(path, "reading"))? {
        line_no += 1;
        let broken = |reason: String| AuditError::Broken {
            path: path.to_owned(),
            line: line_no,
            reason,
        };
        if bytes.len() > MAX_LINE_BYTES {
            return Err(broken(format!("longer than {MAX_LINE_BYTES} bytes")));
        }
        if !terminated {
            out.incomplete_last_line = true;
            break;
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| broken("not UTF-8".into()))?;
        let line = parse(text).map_err(broken)?;
        let prev = out.heads.last().map_or(GENESIS, String::as_str);
        if line.prev() != prev {
            return Err(broken(format!(
                "prev is {}, but the previous entry's hash is {prev}",
                line.prev()
            )));
        }
        out.heads.push(line.hash().to_string());
        match line {
            Line::Entry(e) => {
                if !keys.entry(line_no, &e).map_err(broken)? {
                    out.unverified += 1;
                }
                e.validate()
                    .map_err(|r| broken(format!("invalid entry: {r}")))?;
                out.entries.push(e);
            }
            Line::Rotation(rot) => {
                rot.validate()
                    .map_err(|r| broken(format!("invalid key rotation: {r}")))?;
                keys.rotation(line_no, &rot).map_err(broken)?;
                out.rotations.push(rot);
            }
        }
    }
    if let Some((line, reason)) = keys.pending {
        return Err(AuditError::Broken {
            path: path.to_owned(),
            line,
            reason,
        });
    }
    out.seal = keys.current;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::key::AuditKey;
    use super::super::tests::entry;
    use super::*;

    #[test]
    fn trusting_retired_keys_still_needs_the_given_key_at_the_end() {
        let k = |b| Seal::Keyed(Arc::new(AuditKey::from_bytes(vec![b; 32])));
        let mut e = entry("t", 0, 9);
        e.prev = GENESIS.into();
        e.hash = k(1).tag(&e.body());
        let text = format!("{}\n", e.line());
        let read =
            |seal: Seal, retired| read_lines(Path::new("t"), &[seal], retired, text.as_bytes());
        assert_eq!(read(k(1), Retired::Trust).unwrap().unverified, 0);
        // No rotation hands the trail to key 2: its lines are not trusted.
        for retired in [Retired::Trust, Retired::Refuse] {
            match read(k(2), retired) {
                Err(AuditError::Broken {
                    line: 1, reason, ..
                }) => {
                    assert!(reason.contains("does not verify"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
