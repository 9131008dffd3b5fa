//! Serial patterns for partial or obliterated serials: what a laboratory restored, with `?`
//! for one unreadable character and `*` for an unreadable run (`12?45*`). A pattern is
//! normalised like a serial (uppercase letters and digits, separators dropped) and matched
//! against normalised serials, exactly or after folding commonly misread characters.

use crate::serial::{MAX_RAW_SERIAL_CHARS, MAX_SERIAL_CHARS, confusable_fold, normalise_serial};

/// Fewest known characters a pattern must hold: fewer would match a large share of any
/// register and disclose records nobody could have meant.
pub const MIN_KNOWN_CHARS: usize = 4;

/// Why a pattern is refused; the text is meant for the person who wrote it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Longer than a serial can be written.
    #[error("is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Characters given.
        len: usize,
        /// Most allowed.
        max: usize,
    },
    /// Too few known characters.
    #[error(
        "has {known} known characters; at least {MIN_KNOWN_CHARS} letters or digits are needed besides `?` and `*`"
    )]
    TooFewKnown {
        /// Known characters given.
        known: usize,
    },
    /// A character that is neither a letter, a digit, a separator, `?` nor `*`.
    #[error(
        "contains {0:?}: use letters, digits, `?` for one unknown character and `*` for an unknown run"
    )]
    BadCharacter(char),
}

/// One element of a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// This character.
    Char(char),
    /// Any one character.
    One,
    /// Any run of characters, possibly empty.
    Run,
}

/// A parsed, normalised serial pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialPattern {
    exact: Vec<Token>,
    folded: Vec<Token>,
    text: String,
}

impl SerialPattern {
    /// Parses a pattern as written: letters and digits are normalised like serials,
    /// separators dropped, `?` and `*` kept (runs of `*` collapse to one).
    pub fn parse(raw: &str) -> Result<SerialPattern, PatternError> {
        let len = raw.chars().count();
        if len > MAX_RAW_SERIAL_CHARS {
            return Err(PatternError::TooLong {
                len,
                max: MAX_RAW_SERIAL_CHARS,
            });
        }
        let mut exact = Vec::new();
        for c in raw.chars() {
            match c {
                '?' => exact.push(Token::One),
                '*' if exact.last() == Some(&Token::Run) => {}
                '*' => exact.push(Token::Run),
                c if c.is_alphanumeric() => {
                    let Ok(normal) = normalise_serial(&c.to_string()) else {
                        return Err(PatternError::BadCharacter(c));
                    };
                    exact.extend(normal.chars().map(Token::Char));
                }
                c if c.is_whitespace() || matches!(c, '-' | '/' | '.' | '_') => {}
                c => return Err(PatternError::BadCharacter(c)),
            }
        }
        let known = exact.iter().filter(|t| matches!(t, Token::Char(_))).count();
        if known < MIN_KNOWN_CHARS {
            return Err(PatternError::TooFewKnown { known });
        }
        let fixed = exact.iter().filter(|t| **t != Token::Run).count();
        if fixed > MAX_SERIAL_CHARS {
            return Err(PatternError::TooLong {
                len: fixed,
                max: MAX_SERIAL_CHARS,
            });
        }
        let folded = exact
            .iter()
            .map(|t| match t {
                Token::Char(c) => Token::Char(fold_char(*c)),
                other => *other,
            })
            .collect();
        let text = exact
            .iter()
            .map(|t| match t {
                Token::Char(c) => *c,
                Token::One => '?',
                Token::Run => '*',
            })
            .collect();
        Ok(SerialPattern {
            exact,
            folded,
            text,
        })
    }

    /// The normalised pattern (`12?45*`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How a normalised serial matches: `Some(true)` as written, `Some(false)` only once
    /// commonly misread characters are folded together ([`confusable_fold`]), `None` not.
    pub fn match_kind(&self, normalised_serial: &str) -> Option<bool> {
        if normalised_serial.is_ascii() {
            let bytes = normalised_serial.as_bytes();
            if glob(&self.exact, bytes, |b| b as char) {
                return Some(true);
            }
            return glob(&self.folded, bytes, |b| fold_char(b as char)).then_some(false);
        }
        let chars: Vec<char> = normalised_serial.chars().collect();
        if glob(&self.exact, &chars, |c| c) {
            return Some(true);
        }
        let folded: Vec<char> = confusable_fold(normalised_serial).chars().collect();
        glob(&self.folded, &folded, |c| c).then_some(false)
    }
}

/// The fold of [`confusable_fold`] for one uppercase letter or digit.
fn fold_char(c: char) -> char {
    match c {
        'O' => '0',
        'I' | 'L' => '1',
        'Z' => '2',
        'S' => '5',
        'B' => '8',
        other => other,
    }
}

/// Glob matching with one backtrack point (the last `*`): linear in practice, and at worst
/// pattern length times serial length, both bounded. `read` maps a text element to the
/// character compared (bytes of an ASCII serial are read without allocating).
fn glob<T: Copy>(pattern: &[Token], text: &[T], read: impl Fn(T) -> char) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Token::Char(c)) if *c == read(text[t]) => {
                p += 1;
                t += 1;
            }
            Some(Token::One) => {
                p += 1;
                t += 1;
            }
            Some(Token::Run) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|t| *t == Token::Run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SerialPattern {
        SerialPattern::parse(s).unwrap()
    }

    #[test]
    fn unknown_characters_and_runs_match_what_they_stand_for() {
        let m = |pattern: &str, serial: &str| p(pattern).match_kind(serial) == Some(true);
        assert!(m("12?45*", "123456789"));
        assert!(m("12?45*", "12X45"));
        assert!(!m("12?45*", "1245"));
        assert!(m("*3456", "AB123456"));
        assert!(!m("*3456", "AB1234567"));
        assert!(m("AB*56*9", "AB1256789"));
        assert!(m("ab-12?4", "AB1234"));
        assert!(m("Ж12?4", "Ж1234"));
        assert_eq!(p("ab-12**4").as_str(), "AB12*4");
    }

    #[test]
    fn misread_characters_match_only_when_folded() {
        let pattern = p("B0I5*");
        assert_eq!(pattern.match_kind("8015X"), Some(false));
        assert_eq!(pattern.match_kind("B0I5X"), Some(true));
        assert_eq!(pattern.match_kind("8016X"), None);
    }

    #[test]
    fn patterns_that_say_too_little_or_the_wrong_thing_are_refused() {
        assert_eq!(
            SerialPattern::parse("12?*"),
            Err(PatternError::TooFewKnown { known: 2 })
        );
        assert_eq!(
            SerialPattern::parse("12%45"),
            Err(PatternError::BadCharacter('%'))
        );
        assert!(matches!(
            SerialPattern::parse(&"1".repeat(500)),
            Err(PatternError::TooLong { .. })
        ));
    }
}
