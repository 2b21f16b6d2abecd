//! The JAAS recursive-descent parser: tokens to sections and entries.

use super::lexer::*;
use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    File,
    Inline,
}

pub(super) struct Parser<'a> {
    pub(super) lexer: Lexer<'a>,
    pub(super) origin: &'a str,
    pub(super) mode: Mode,
    /// The current (not yet consumed) token.
    pub(super) tok: Token,
    /// Set once a secret option name has been read; cleared at the end of a
    /// section. While set, words in errors are described, not quoted.
    pub(super) redact: bool,
}

/// What precedes the option list position being parsed (for messages).
pub(super) enum After {
    Flag,
    Value(String),
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str, origin: &'a str, mode: Mode) -> Result<Self, JaasError> {
        let mut parser = Parser {
            lexer: Lexer::new(text, mode == Mode::Inline),
            origin,
            mode,
            tok: Token {
                tok: Tok::Eof,
                pos: Pos { line: 1, column: 1 },
            },
            redact: false,
        };
        parser.advance(None)?;
        Ok(parser)
    }

    /// Consumes the current token and lexes the next. `value_of` names the
    /// option whose value the next token should be (for messages).
    pub(super) fn advance(&mut self, value_of: Option<&str>) -> Result<Tok, JaasError> {
        let next = self
            .lexer
            .next_token()
            .map_err(|e| self.lex_error(e, value_of))?;
        Ok(std::mem::replace(&mut self.tok, next).tok)
    }

    pub(super) fn lex_error(&self, err: LexError, value_of: Option<&str>) -> JaasError {
        let origin = self.origin.to_string();
        match err {
            LexError::UnterminatedString(pos) => JaasError::UnterminatedString {
                origin,
                line: pos.line,
                column: pos.column,
                context: match value_of {
                    Some(key) => format!(" in the value of option {}", self.key_name(key)),
                    None => String::new(),
                },
            },
            LexError::UnterminatedComment(pos) => JaasError::UnterminatedComment {
                origin,
                line: pos.line,
                column: pos.column,
            },
        }
    }

    /// An option name as it may appear in a message.
    pub(super) fn key_name(&self, key: &str) -> String {
        if KNOWN_OPTION_NAMES
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            quoted(key)
        } else {
            "<name not shown>".to_string()
        }
    }

    /// A section or class name as it may appear in a message.
    pub(super) fn name(&self, name: &str) -> String {
        if self.redact {
            "<name not shown>".to_string()
        } else {
            quoted(name)
        }
    }

    /// Describes the current token for "found ..." without leaking secrets.
    /// `in_options`: the token sits where option names and values do.
    pub(super) fn describe(&self, in_options: bool) -> String {
        match &self.tok.tok {
            Tok::Eof => "end of input".to_string(),
            Tok::LBrace => "'{'".to_string(),
            Tok::RBrace => "'}'".to_string(),
            Tok::Semi => "';'".to_string(),
            Tok::Eq => "'='".to_string(),
            Tok::Str(s) if s.is_empty() => "an empty quoted string".to_string(),
            Tok::Str(_) => "a quoted string".to_string(),
            Tok::Other('\'') => {
                "a single quote (JAAS files take only double-quoted strings)".to_string()
            }
            Tok::Other(_) if self.redact => "an unexpected character".to_string(),
            Tok::Other(c) if c.is_ascii_graphic() => format!("'{c}'"),
            Tok::Other(c) => format!("the character U+{:04X}", *c as u32),
            Tok::Word(w) if self.redact || (in_options && !is_known_word(w)) => {
                "a word (not shown: it may be part of a secret)".to_string()
            }
            Tok::Word(w) => quoted(w),
        }
    }

    pub(super) fn unexpected(&self, expected: String, in_options: bool) -> JaasError {
        JaasError::Syntax {
            origin: self.origin.to_string(),
            line: self.tok.pos.line,
            column: self.tok.pos.column,
            expected,
            found: self.describe(in_options),
        }
    }

    /// A name (section, class or option): an identifier or a non-empty
    /// quoted string, as Java accepts.
    pub(super) fn at_name(&self) -> bool {
        match &self.tok.tok {
            Tok::Word(w) => is_identifier(w),
            Tok::Str(s) => !s.is_empty(),
            _ => false,
        }
    }

    pub(super) fn take_text(tok: Tok) -> String {
        match tok {
            Tok::Word(s) | Tok::Str(s) => s,
            _ => String::new(),
        }
    }

    pub(super) fn parse_file(&mut self) -> Result<Vec<JaasSection>, JaasError> {
        let mut sections: Vec<JaasSection> = Vec::new();
        while self.tok.tok != Tok::Eof {
            let section = self.parse_section(&sections)?;
            sections.push(section);
        }
        if sections.is_empty() {
            return Err(JaasError::NoSections {
                origin: self.origin.to_string(),
                line: self.tok.pos.line,
                column: self.tok.pos.column,
            });
        }
        Ok(sections)
    }

    pub(super) fn parse_section(
        &mut self,
        previous: &[JaasSection],
    ) -> Result<JaasSection, JaasError> {
        self.redact = false;
        let start = self.tok.pos;
        if !self.at_name() {
            return Err(self.unexpected(
                format!("a section name such as {KAFKA_CLIENT_SECTION}"),
                false,
            ));
        }
        let name = Self::take_text(self.advance(None)?);
        if let Some(first) = previous.iter().find(|s| s.name == name) {
            return Err(JaasError::DuplicateSection {
                origin: self.origin.to_string(),
                line: start.line,
                column: start.column,
                name,
                first_line: first.line,
            });
        }
        match self.tok.tok {
            Tok::LBrace => {}
            Tok::Eof => {
                // Stray text after the last section: point at it.
                return Err(JaasError::Syntax {
                    origin: self.origin.to_string(),
                    line: start.line,
                    column: start.column,
                    expected: format!("'{{' after section name {}", self.name(&name)),
                    found: "end of input".to_string(),
                });
            }
            _ => {
                return Err(self.unexpected(
                    format!("'{{' after section name {}", self.name(&name)),
                    false,
                ))
            }
        }
        self.advance(None)?;
        let mut entries = Vec::new();
        loop {
            match self.tok.tok {
                Tok::RBrace => break,
                Tok::Eof => {
                    return Err(self.unexpected(
                        format!(
                        "a login module class name or '}}' closing section {} (opened at line {})",
                        self.name(&name),
                        start.line
                    ),
                        false,
                    ))
                }
                _ => entries.push(self.parse_entry()?),
            }
        }
        self.advance(None)?;
        if self.tok.tok != Tok::Semi {
            return Err(self.unexpected(
                format!("';' after the '}}' closing section {}", self.name(&name)),
                false,
            ));
        }
        self.advance(None)?;
        self.redact = false;
        Ok(JaasSection {
            name,
            entries,
            line: start.line,
            column: start.column,
        })
    }

    pub(super) fn parse_inline(&mut self) -> Result<Vec<LoginModuleEntry>, JaasError> {
        let mut entries = Vec::new();
        while self.tok.tok != Tok::Eof {
            entries.push(self.parse_entry()?);
        }
        if entries.is_empty() {
            return Err(JaasError::NoEntries {
                origin: self.origin.to_string(),
                line: self.tok.pos.line,
                column: self.tok.pos.column,
            });
        }
        Ok(entries)
    }

    pub(super) fn parse_entry(&mut self) -> Result<LoginModuleEntry, JaasError> {
        let start = self.tok.pos;
        if !self.at_name() {
            let expected = match self.mode {
                Mode::File => "a login module class name or '}'",
                Mode::Inline => "a login module class name",
            };
            return Err(self.unexpected(expected.to_string(), false));
        }
        let class = Self::take_text(self.advance(None)?);

        let flag = match &self.tok.tok {
            Tok::Word(w) | Tok::Str(w) => ControlFlag::from_word(w),
            _ => None,
        };
        let Some(flag) = flag else {
            let mut expected = format!(
                "a control flag (required, requisite, sufficient or optional) after login module class {}",
                self.name(&class)
            );
            if self.mode == Mode::Inline && self.tok.tok == Tok::LBrace {
                expected.push_str(
                    " (sasl.jaas.config takes login module entries without a `Name { ... };` section around them)",
                );
            }
            return Err(self.unexpected(expected, false));
        };
        self.advance(None)?;

        let mut options = Vec::new();
        let mut after = After::Flag;
        loop {
            if self.tok.tok == Tok::Semi {
                break;
            }
            if !self.at_name() {
                let after = match &after {
                    After::Flag => "the login module flag".to_string(),
                    After::Value(key) => format!("the value of option {}", self.key_name(key)),
                };
                return Err(self.unexpected(format!("';' or an option name after {after}"), true));
            }
            let key = Self::take_text(std::mem::replace(&mut self.tok.tok, Tok::Eof));
            if is_secret_key(&key) {
                self.redact = true;
            }
            self.advance(None)?;
            if self.tok.tok != Tok::Eq {
                return Err(self.unexpected(
                    format!("'=' after option name {}", self.key_name(&key)),
                    true,
                ));
            }
            self.advance(Some(&key))?;
            if !matches!(self.tok.tok, Tok::Word(_) | Tok::Str(_)) {
                return Err(
                    self.unexpected(format!("a value for option {}", self.key_name(&key)), true)
                );
            }
            let value = Self::take_text(self.advance(None)?);
            let value = OptionValue::new(&key, value);
            options.push(JaasOption {
                key: key.clone(),
                value,
            });
            after = After::Value(key);
        }
        self.advance(None)?;
        Ok(LoginModuleEntry {
            class,
            flag,
            options,
            line: start.line,
            column: start.column,
        })
    }
}
