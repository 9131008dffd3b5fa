//! "Did you mean" suggestions for values the table does not know.

use std::collections::HashMap;

/// Most suggestions returned for one value.
pub(super) const MAX_SUGGESTIONS: usize = 5;

/// Lowest similarity (0..=1) still worth showing to a person.
const MIN_SIMILARITY: f64 = 0.72;

/// Similarity of two folded keys. Jaro-Winkler favours shared prefixes, which suits
/// typos in makers' names; normalised Levenshtein catches transpositions inside short
/// designations ("SKS" / "SSK") that Jaro-Winkler undervalues.
fn similarity(a: &str, b: &str) -> f64 {
    strsim::jaro_winkler(a, b).max(strsim::normalized_levenshtein(a, b))
}

/// Longest folded value (in characters) that gets suggestions: no name in the table comes
/// close, and the edit distance costs the product of both lengths for every candidate, so a
/// long unknown value in a bulk import would otherwise cost far more than the line is worth.
pub(super) const MAX_QUERY_CHARS: usize = 64;

/// The best distinct labels among `candidates` (folded key, position) for the folded `query`;
/// `label` names a position, and is asked only for the candidates close enough to show.
/// Runs over the whole namespace, which is fine because only unknown values get here.
pub(super) fn best<'a>(
    query: &str,
    candidates: impl Iterator<Item = (&'a str, usize)>,
    label: impl Fn(usize) -> String,
) -> Vec<String> {
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Vec::new();
    }
    let mut scores: HashMap<String, f64> = HashMap::new();
    for (key, position) in candidates {
        let score = similarity(query, key);
        if score < MIN_SIMILARITY {
            continue;
        }
        let entry = scores.entry(label(position)).or_insert(score);
        if score > *entry {
            *entry = score;
        }
    }
    let mut ranked: Vec<(String, f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(label, _)| label)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_closest_first_and_caps_the_list() {
        let names = ["glock", "glok", "block", "lock", "clock", "gloch", "zzz"];
        let found = best("glocck", names.iter().copied().zip(0..), |i| {
            names[i].to_uppercase()
        });
        assert_eq!(found.first().map(String::as_str), Some("GLOCK"));
        assert!(found.len() <= MAX_SUGGESTIONS);
        assert!(!found.contains(&"ZZZ".to_owned()));
    }

    #[test]
    fn empty_query_suggests_nothing() {
        assert!(best("", [("a", 0)].into_iter(), |_| "A".to_owned()).is_empty());
    }

    #[test]
    fn a_value_longer_than_any_name_gets_no_suggestions() {
        let long = "glock".repeat(MAX_QUERY_CHARS);
        assert!(best(&long, [("glock", 0)].into_iter(), |_| "GLOCK".to_owned()).is_empty());
    }
}
