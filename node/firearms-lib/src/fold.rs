//! Text folding: the lookup keys under which reference names and aliases are stored and found.
//!
//! Every key is built by the same function at load time and at query time, so two spellings
//! match exactly when they fold to the same key. Folding is deliberately lossy: case, accents,
//! spacing and punctuation are not identifying for a make, model or calibre.

/// Writes the lowercase, accent-free form of `c` to `out`.
///
/// Only Latin letters that appear in makers' names across member countries are mapped; other
/// scripts (Cyrillic names of Russian plants, for instance) are kept lowercase as they are.
fn push_folded(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        let mapped = match lower {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ğ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ı' | 'ī' | 'į' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' | 'ō' => "o",
            'œ' => "oe",
            'ř' => "r",
            'ś' | 'š' | 'ş' | 'ș' => "s",
            'ß' => "ss",
            'ť' | 'ţ' | 'ț' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ů' | 'ű' | 'ū' | 'ų' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            other => {
                out.push(other);
                continue;
            }
        };
        out.push_str(mapped);
    }
}

/// Lowercase, accent-free copy of `raw` with every other character kept.
fn lower_plain(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        push_folded(c, &mut out);
    }
    out
}

/// Key for makes, models and firearm types: letters and digits only, with `&` and `+` read as
/// "and" so that "Smith & Wesson", "Smith and Wesson" and "Smith + Wesson" agree.
pub(crate) fn name_key(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in lower_plain(raw).chars() {
        match c {
            '&' | '+' => out.push_str("and"),
            c if c.is_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

/// Key for calibres: letters and digits only, `×` read as `x`, and the unit "mm" dropped
/// after a number, so "9 x 19 mm", "9×19mm" and "9x19" agree.
pub(crate) fn caliber_key(raw: &str) -> String {
    let plain: Vec<char> = lower_plain(raw)
        .chars()
        .map(|c| if c == '×' || c == '*' { 'x' } else { c })
        .filter(|c| c.is_alphanumeric())
        .collect();
    let mut out = String::with_capacity(plain.len());
    let mut i = 0;
    while i < plain.len() {
        let unit_after_number = plain[i] == 'm'
            && plain.get(i + 1) == Some(&'m')
            && out.chars().last().is_some_and(|c| c.is_ascii_digit());
        if unit_after_number {
            i += 2;
            continue;
        }
        out.push(plain[i]);
        i += 1;
    }
    out
}

/// Words that only say "this is a calibre" ("cal. 45", ".45 calibre") and carry no identity.
const CALIBER_WORDS: [&str; 5] = ["cal", "caliber", "calibre", "kaliber", "kal"];

/// `raw` without standalone calibre words; used as a second lookup after the exact key fails,
/// so that aliases which need the word (such as "cal 12" for 12 gauge) still win.
pub(crate) fn strip_caliber_words(raw: &str) -> String {
    raw.split_whitespace()
        .filter(|word| {
            let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
            !CALIBER_WORDS.contains(&lower_plain(bare).as_str())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Company-form and generic trade words that may trail a maker's name on a record.
const CORPORATE_WORDS: [&str; 30] = [
    "ab",
    "ad",
    "ag",
    "and",
    "arms",
    "as",
    "co",
    "company",
    "corp",
    "corporation",
    "doo",
    "firearms",
    "gesmbh",
    "gmbh",
    "inc",
    "industries",
    "jsc",
    "kg",
    "llc",
    "ltd",
    "mbh",
    "mfg",
    "oy",
    "plc",
    "sa",
    "spa",
    "sro",
    "srl",
    "usa",
    "manufacturing",
];

/// Make key with trailing company-form words removed ("Glock GmbH" -> "glock"), used as a
/// second lookup after the plain key fails.
pub(crate) fn make_core_key(raw: &str) -> String {
    let without_dots: String = lower_plain(raw)
        .chars()
        .filter(|c| *c != '.' && *c != '\'')
        .collect();
    let mut tokens: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in without_dots.chars() {
        if c.is_alphanumeric() {
            current.push(c);
        } else {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            if c == '&' || c == '+' {
                tokens.push("and".to_owned());
            }
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    while tokens.len() > 1
        && tokens
            .last()
            .is_some_and(|t| CORPORATE_WORDS.contains(&t.as_str()))
    {
        tokens.pop();
    }
    tokens.concat()
}

/// Model key without a trailing Glock-style generation marker ("19 Gen5" -> "19"); generations
/// share magazines and markings and are recorded as the same model.
pub(crate) fn strip_generation(key: &str) -> Option<&str> {
    let pos = key.rfind("gen")?;
    let digits = &key[pos + 3..];
    let is_generation = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
    (is_generation && pos > 0).then(|| &key[..pos])
}

/// Stable identifier fragment: ASCII letters, digits and dots, other runs collapsed to `-`.
pub(crate) fn slug(raw: &str) -> String {
    let mut out = String::new();
    let mut pending_dash = false;
    for c in lower_plain(raw).chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c);
        } else {
            pending_dash = true;
        }
    }
    out
}

/// Display form of a value the table does not know: trimmed, inner whitespace collapsed and
/// uppercased, so the same unknown value entered twice is stored identically.
pub(crate) fn clean_unknown(raw: &str) -> String {
    raw.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys_ignore_case_spacing_and_ampersands() {
        assert_eq!(name_key("Smith & Wesson"), name_key("smith and wesson"));
        assert_eq!(name_key("Česká zbrojovka"), name_key("Ceska Zbrojovka"));
        assert_eq!(name_key("Heckler & Koch"), "hecklerandkoch");
    }

    #[test]
    fn caliber_keys_drop_units_after_numbers() {
        assert_eq!(caliber_key("9 x 19 mm"), "9x19");
        assert_eq!(caliber_key("9×19MM"), "9x19");
        assert_eq!(caliber_key("9mm Luger"), "9luger");
        assert_eq!(caliber_key("7,62x39"), caliber_key("7.62x39"));
        assert_eq!(caliber_key(".357 Magnum"), "357magnum");
    }

    #[test]
    fn caliber_words_are_stripped_only_as_words() {
        assert_eq!(strip_caliber_words(".45 cal."), ".45");
        assert_eq!(strip_caliber_words("Calibre 12"), "12");
        assert_eq!(strip_caliber_words("Calico"), "Calico");
    }

    #[test]
    fn make_core_drops_company_forms() {
        assert_eq!(make_core_key("Glock Ges.m.b.H."), "glock");
        assert_eq!(make_core_key("Sturm, Ruger & Co."), "sturmruger");
        assert_eq!(make_core_key("Arms"), "arms");
    }

    #[test]
    fn generation_suffix() {
        assert_eq!(strip_generation("19gen5"), Some("19"));
        assert_eq!(strip_generation("gen5"), None);
        assert_eq!(strip_generation("19"), None);
    }

    #[test]
    fn slugs_are_ascii() {
        assert_eq!(slug("Modèle 1935A"), "modele-1935a");
        assert_eq!(slug("M&P9"), "m-p9");
        assert_eq!(slug("PPK/S"), "ppk-s");
    }
}
