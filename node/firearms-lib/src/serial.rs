//! Serial numbers: normalisation to the form that is stored and compared, and the
//! confusable fold that lets a human misreading still match.
//!
//! Normalisation keeps letters and digits only, uppercased, so "ab-123 456", "AB123456" and
//! "Ab/123.456" are one serial. Cyrillic and Greek capitals that look exactly like Latin ones
//! (А, В, Е, К, М, Н, О, Р, С, Т, Х, ...) are written as the Latin letter, because a stamped
//! marking does not say which keyboard will be used to type it; other letters of those scripts
//! are kept. Fullwidth forms and Arabic-Indic digits become their ASCII equivalents.

use thiserror::Error;

/// Longest normalised serial, in characters.
pub const MAX_SERIAL_CHARS: usize = 64;
/// Longest raw input examined, in characters; longer input is refused before any work.
pub const MAX_RAW_SERIAL_CHARS: usize = 256;

/// Why a serial number was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SerialError {
    #[error("serial number is empty: it must contain at least one letter or digit")]
    Empty,
    #[error("serial number has {len} letters and digits; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("serial number input is {len} characters long; at most {max} are accepted")]
    InputTooLong { len: usize, max: usize },
}

/// The Latin capital that a Cyrillic or Greek letter is visually identical to.
fn latin_homoglyph(c: char) -> Option<char> {
    let latin = match c {
        'А' | 'а' | 'Α' | 'α' => 'A',
        'В' | 'в' | 'Β' | 'β' => 'B',
        'Е' | 'е' | 'Ε' | 'ε' => 'E',
        'Ζ' | 'ζ' => 'Z',
        'Н' | 'н' | 'Η' | 'η' => 'H',
        'І' | 'і' | 'Ι' | 'ι' => 'I',
        'Ј' | 'ј' => 'J',
        'К' | 'к' | 'Κ' | 'κ' => 'K',
        'М' | 'м' | 'Μ' | 'μ' => 'M',
        'Ν' | 'ν' => 'N',
        'О' | 'о' | 'Ο' | 'ο' => 'O',
        'Р' | 'р' | 'Ρ' | 'ρ' => 'P',
        'С' | 'с' => 'C',
        'Ѕ' | 'ѕ' => 'S',
        'Т' | 'т' | 'Τ' | 'τ' => 'T',
        'У' | 'у' | 'Υ' | 'υ' => 'Y',
        'Х' | 'х' | 'Χ' | 'χ' => 'X',
        _ => return None,
    };
    Some(latin)
}

/// ASCII form of fullwidth letters and digits and of Arabic-Indic digits.
fn ascii_equivalent(c: char) -> Option<char> {
    let code = u32::from(c);
    let mapped = match code {
        0xFF10..=0xFF19 | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => code - 0xFEE0,
        0x0660..=0x0669 => code - 0x0660 + u32::from('0'),
        0x06F0..=0x06F9 => code - 0x06F0 + u32::from('0'),
        _ => return None,
    };
    char::from_u32(mapped)
}

/// Appends the normalised form of one input character (nothing for separators).
fn push_normalised(c: char, out: &mut String) {
    if c.is_ascii() || latin_homoglyph(ascii_equivalent(c).unwrap_or(c)).is_some() {
        push_folded(c, out);
    } else if c.is_alphanumeric() {
        // Uppercasing can produce a homoglyph of its own (micro sign -> Greek capital Mu), so
        // each uppercase character is folded again: normalising stays idempotent.
        for upper in c.to_uppercase().filter(|u| u.is_alphanumeric()) {
            push_folded(upper, out);
        }
    }
}

/// Pushes one character as an uppercase ASCII letter or digit where it has one, else as is.
fn push_folded(c: char, out: &mut String) {
    let c = ascii_equivalent(c).unwrap_or(c);
    if let Some(latin) = latin_homoglyph(c) {
        out.push(latin.to_ascii_uppercase());
    } else if c.is_ascii_alphanumeric() {
        out.push(c.to_ascii_uppercase());
    } else if c.is_alphanumeric() {
        out.push(c);
    }
}

/// Normalises a serial number as entered: uppercase letters and digits only, with spaces and
/// punctuation (`-`, `/`, `.`, `_`, ...) dropped.
pub fn normalise_serial(raw: &str) -> Result<String, SerialError> {
    let raw_len = raw.chars().count();
    if raw_len > MAX_RAW_SERIAL_CHARS {
        return Err(SerialError::InputTooLong {
            len: raw_len,
            max: MAX_RAW_SERIAL_CHARS,
        });
    }
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        push_normalised(c, &mut out);
    }
    match out.chars().count() {
        0 => Err(SerialError::Empty),
        len if len > MAX_SERIAL_CHARS => Err(SerialError::TooLong {
            len,
            max: MAX_SERIAL_CHARS,
        }),
        _ => Ok(out),
    }
}

/// Maps characters that people misread for one another to a single representative, so that a
/// serial read as "B0I5" matches one recorded as "8015":
///
/// | read as | folded to |
/// |---------|-----------|
/// | O       | 0         |
/// | I, L    | 1         |
/// | Z       | 2         |
/// | S       | 5         |
/// | B       | 8         |
///
/// The fold is meant for [`normalise_serial`] output and is applied to both sides of a
/// comparison; a match on the fold alone is reported as a "confusable" match, never as exact.
/// Lowercase and homoglyph input is handled too, so the fold of any string is well defined.
pub fn confusable_fold(normalised: &str) -> String {
    let mut upper = String::with_capacity(normalised.len());
    for c in normalised.chars() {
        push_normalised(c, &mut upper);
    }
    upper
        .chars()
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            'Z' => '2',
            'S' => '5',
            'B' => '8',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uppercasing_into_a_homoglyph_still_folds_to_latin() {
        // The micro sign uppercases to Greek capital Mu, which reads as Latin M.
        assert_eq!(normalise_serial("µ12").as_deref(), Ok("M12"));
        assert_eq!(normalise_serial("M12").as_deref(), Ok("M12"));
    }

    #[test]
    fn drops_separators_and_uppercases() {
        assert_eq!(
            normalise_serial(" ab-123/45.6_7 ").as_deref(),
            Ok("AB1234567")
        );
    }

    #[test]
    fn rejects_empty_and_long() {
        assert_eq!(normalise_serial(" -/. "), Err(SerialError::Empty));
        assert_eq!(
            normalise_serial(&"A".repeat(65)),
            Err(SerialError::TooLong { len: 65, max: 64 })
        );
        assert!(matches!(
            normalise_serial(&"-".repeat(300)),
            Err(SerialError::InputTooLong { .. })
        ));
    }

    #[test]
    fn homoglyphs_become_latin() {
        assert_eq!(normalise_serial("АК 123").as_deref(), Ok("AK123"));
        assert_eq!(normalise_serial("БД12").as_deref(), Ok("БД12"));
        assert_eq!(normalise_serial("ＡＢ１２").as_deref(), Ok("AB12"));
    }

    #[test]
    fn confusables_fold_together() {
        assert_eq!(confusable_fold("B0I5"), confusable_fold("8015"));
        assert_eq!(confusable_fold("SZOL"), "5201");
        assert_ne!(confusable_fold("A1"), confusable_fold("A7"));
    }
}
