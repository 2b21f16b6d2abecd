//! The JAAS lexer: characters to tokens with `line:column` positions.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
}

#[derive(Debug, PartialEq)]
pub(super) enum Tok {
    /// A run of word characters (identifier or bare value).
    Word(String),
    /// A quoted string, escapes resolved.
    Str(String),
    LBrace,
    RBrace,
    Semi,
    Eq,
    /// Any other character.
    Other(char),
    Eof,
}

#[derive(Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: Pos,
}

pub(super) enum LexError {
    UnterminatedString(Pos),
    UnterminatedComment(Pos),
}

pub(super) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '$' | '*' | '/' | ':' | '@' | '+')
}

pub(super) fn is_identifier(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '$'))
}

/// Java's StreamTokenizer treats every character up to and including space
/// as white space.
pub(super) fn is_space(c: char) -> bool {
    c <= ' '
}

pub(super) struct Lexer<'a> {
    pub(super) src: &'a str,
    pub(super) at: usize,
    pub(super) line: usize,
    pub(super) column: usize,
    /// Kafka's inline parser accepts 'single-quoted' strings; Java files do not.
    pub(super) single_quotes: bool,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str, single_quotes: bool) -> Self {
        let at = if src.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        Lexer {
            src,
            at,
            line: 1,
            column: 1,
            single_quotes,
        }
    }

    pub(super) fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.src[self.at..].chars().next()
    }

    pub(super) fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.at..].chars();
        it.next();
        it.next()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        match c {
            '\n' => {
                self.line += 1;
                self.column = 1;
            }
            // CR LF is one line break, counted at the LF; a lone CR is one too.
            '\r' if self.peek() == Some('\n') => self.column += 1,
            '\r' => {
                self.line += 1;
                self.column = 1;
            }
            _ => self.column += 1,
        }
        Some(c)
    }

    pub(super) fn at_comment_start(&self) -> bool {
        self.peek() == Some('/') && matches!(self.peek2(), Some('/') | Some('*'))
    }

    pub(super) fn skip_trivia(&mut self) -> Result<(), LexError> {
        loop {
            match self.peek() {
                Some(c) if is_space(c) => {
                    self.bump();
                }
                Some('/') if self.peek2() == Some('/') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' || c == '\r' {
                            break;
                        }
                        self.bump();
                    }
                }
                Some('/') if self.peek2() == Some('*') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(LexError::UnterminatedComment(start)),
                            Some('*') if self.peek() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    pub(super) fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_trivia()?;
        let pos = self.pos();
        let tok = match self.peek() {
            None => Tok::Eof,
            Some(c @ ('{' | '}' | ';' | '=')) => {
                self.bump();
                match c {
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    ';' => Tok::Semi,
                    _ => Tok::Eq,
                }
            }
            Some('"') => self.string('"', pos)?,
            Some('\'') if self.single_quotes => self.string('\'', pos)?,
            Some(c) if is_word_char(c) => {
                let mut word = String::new();
                while let Some(c) = self.peek() {
                    if !is_word_char(c) || self.at_comment_start() {
                        break;
                    }
                    word.push(c);
                    self.bump();
                }
                Tok::Word(word)
            }
            Some(c) => {
                self.bump();
                Tok::Other(c)
            }
        };
        Ok(Token { tok, pos })
    }

    /// A quoted string with Java StreamTokenizer escapes. It may not span
    /// lines.
    pub(super) fn string(&mut self, quote: char, start: Pos) -> Result<Tok, LexError> {
        self.bump();
        let mut text = String::new();
        loop {
            let c = match self.bump() {
                None | Some('\n') | Some('\r') => return Err(LexError::UnterminatedString(start)),
                Some(c) => c,
            };
            if c == quote {
                return Ok(Tok::Str(text));
            }
            if c != '\\' {
                text.push(c);
                continue;
            }
            let escaped = match self.bump() {
                None | Some('\n') | Some('\r') => return Err(LexError::UnterminatedString(start)),
                Some(e) => e,
            };
            let resolved = match escaped {
                '0'..='7' => {
                    let mut value = escaped.to_digit(8).unwrap_or(0);
                    if let Some(d) = self.peek().and_then(|c| c.to_digit(8)) {
                        self.bump();
                        value = value * 8 + d;
                        if escaped <= '3' {
                            if let Some(d) = self.peek().and_then(|c| c.to_digit(8)) {
                                self.bump();
                                value = value * 8 + d;
                            }
                        }
                    }
                    // At most \377 = 255: always a valid char.
                    char::from_u32(value).unwrap_or('\u{fffd}')
                }
                'a' => '\u{7}',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\u{b}',
                other => other,
            };
            text.push(resolved);
        }
    }
}
