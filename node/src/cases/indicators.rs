//! Trafficking indicators (step 9). The list is data (`indicators.json`: code, description,
//! source, and the rule that raises it, with its parameters); the rules are the functions
//! below, each returning the evidence that raised it. A rule named in the table but unknown
//! here is refused by a unit test, so the table and the code cannot drift apart.

use std::{collections::BTreeSet, sync::OnceLock};

use serde::Deserialize;
use serde_json::{Value, json};
use striae_firearms_lib::Date;

use super::{Case, view::Findings};

/// One indicator of the table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Indicator {
    pub(super) code: String,
    pub(super) rule: String,
    pub(super) description: String,
    pub(super) source: String,
    /// `short_time_to_crime`: the window in years.
    #[serde(default)]
    pub(super) years: Option<u32>,
}

/// The table, parsed once.
pub(super) fn table() -> &'static [Indicator] {
    static TABLE: OnceLock<Vec<Indicator>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The table is part of the binary and checked by a unit test.
        serde_json::from_str(include_str!("indicators.json")).unwrap_or_default()
    })
}

/// The indicators a case raises, each with its evidence.
pub(super) fn evaluate(
    case: &Case,
    findings: &Findings,
    others: &[(Case, Findings)],
) -> Vec<Value> {
    table()
        .iter()
        .filter_map(|ind| {
            let evidence = apply(ind, case, findings, others)?;
            (!evidence.is_empty()).then(|| {
                json!({
                    "code": ind.code,
                    "description": ind.description,
                    "evidence": evidence,
                    "source": ind.source,
                })
            })
        })
        .collect()
}

/// The evidence of one rule (empty when it is not raised); `None` for an unknown rule.
fn apply(
    ind: &Indicator,
    case: &Case,
    f: &Findings,
    others: &[(Case, Findings)],
) -> Option<Vec<String>> {
    Some(match ind.rule.as_str() {
        "lost_or_stolen_elsewhere" => lost_or_stolen_elsewhere(f),
        "serial_altered" => serial_altered(case),
        "foreign_without_import_marking" => foreign_without_import_marking(case, f),
        "short_time_to_crime" => short_time_to_crime(case, f, ind.years.unwrap_or(3)),
        "ballistic_link_abroad" => ballistic_link_abroad(f),
        "shared_party_with_other_case" => shared_party(case, f, others),
        "several_firearms_one_source" => one_source(case, f, others),
        _ => return None,
    })
}

fn lost_or_stolen_elsewhere(f: &Findings) -> Vec<String> {
    let mut out = BTreeSet::new();
    for hit in &f.network_hits {
        if matches!(hit["status"].as_str(), Some("stolen" | "lost")) {
            out.insert(format!(
                "{} holds a record of it as {} ({} match)",
                s(&hit["country"]),
                s(&hit["status"]),
                s(&hit["match"])
            ));
        }
    }
    for r in &f.disclosed {
        if matches!(r.status.as_str(), "stolen" | "lost") {
            out.insert(format!(
                "{} disclosed a record of it as {}",
                r.country, r.status
            ));
        }
    }
    out.into_iter().collect()
}

fn serial_altered(case: &Case) -> Vec<String> {
    case.firearm
        .as_ref()
        .map(|f| f.state())
        .filter(|s| !matches!(s, super::SerialState::Intact))
        .map(|s| vec![format!("serial recorded as {} on recovery", s.as_str())])
        .unwrap_or_default()
}

fn foreign_without_import_marking(case: &Case, f: &Findings) -> Vec<String> {
    let Some(firearm) = &case.firearm else {
        return Vec::new();
    };
    let Some(made) = &f.made_in else {
        return Vec::new();
    };
    let marked = firearm.importer.is_some() || firearm.import_country.is_some();
    if *made == case.recovered.country || marked {
        return Vec::new();
    }
    vec![format!(
        "made in {made}, recovered in {}, no importer or import country marked",
        case.recovered.country
    )]
}

fn short_time_to_crime(case: &Case, f: &Findings, years: u32) -> Vec<String> {
    let Ok(recovered) = case.recovered.date.parse::<Date>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in &f.disclosed {
        let last = r
            .history
            .iter()
            .filter(|e| {
                matches!(
                    e.event.as_str(),
                    "sold" | "transferred" | "imported" | "exported"
                )
            })
            .filter_map(|e| e.date.parse::<Date>().ok().map(|d| (d, e)))
            .filter(|(d, _)| *d <= recovered)
            .max_by_key(|(d, _)| *d);
        let Some((date, event)) = last else {
            continue;
        };
        let limit = Date::new(date.year() + years as i32, date.month(), date.day().min(28));
        if limit.is_some_and(|l| recovered <= l) {
            out.push(format!(
                "last legal transfer {} ({} to {}) in {}'s history, recovered {}",
                date, event.event, event.party, r.country, recovered
            ));
        }
    }
    out
}

fn ballistic_link_abroad(f: &Findings) -> Vec<String> {
    f.ballistic_links
        .iter()
        .filter(|l| !l.own)
        .map(|l| {
            format!(
                "exhibit {} matches {}'s exhibit {} (confirmed by the holder)",
                l.exhibit, l.country, l.other
            )
        })
        .collect()
}

fn shared_party(case: &Case, f: &Findings, others: &[(Case, Findings)]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (other, of) in others {
        if other.id == case.id {
            continue;
        }
        for (role, party) in &f.parties {
            if of.parties.iter().any(|(_, p)| p == party) {
                out.insert(format!(
                    "{role} \"{party}\" also appears in case {} ({})",
                    other.case_ref, other.title
                ));
            }
        }
    }
    out.into_iter().collect()
}

fn one_source(case: &Case, f: &Findings, others: &[(Case, Findings)]) -> Vec<String> {
    let Some(source) = f.first_purchaser.as_ref() else {
        return Vec::new();
    };
    let same: Vec<&Case> = others
        .iter()
        .filter(|(o, of)| {
            o.id != case.id
                && o.case_ref == case.case_ref
                && of.first_purchaser.as_ref() == Some(source)
        })
        .map(|(o, _)| o)
        .collect();
    if same.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "{} firearms of case {} were first sold to \"{source}\"",
        same.len() + 1,
        case.case_ref
    )]
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, case_ref: &str) -> Case {
        serde_json::from_value(json!({
            "id": id, "case_ref": case_ref, "title": format!("case {id}"), "created_at_ms": 0,
            "recovered": {"date": "2025-01-01", "country": "FR"}, "firearm": null,
            "exhibits": [], "to": [], "own_records": null, "network_hits": null,
            "trace_id": null, "query_id": null, "step2_note": null, "searches": {},
            "manual": {}, "automatic_started": true
        }))
        .expect("a case")
    }

    fn sold_by(dealer: &str) -> Findings {
        Findings {
            parties: vec![("seller or purchaser".into(), dealer.into())],
            first_purchaser: Some(dealer.into()),
            ..Findings::default()
        }
    }

    #[test]
    fn a_dealer_seen_in_another_case_and_firearms_of_one_case_from_one_source_are_raised() {
        let this = case("01", "FR-1");
        let others = vec![
            (case("02", "FR-1"), sold_by("armeria roma")),
            (case("03", "FR-9"), sold_by("waffen schmidt kg")),
        ];
        let shared = shared_party(&this, &sold_by("armeria roma"), &others);
        assert_eq!(shared.len(), 1, "{shared:?}");
        assert!(shared[0].contains("FR-1"), "{shared:?}");
        let source = one_source(&this, &sold_by("armeria roma"), &others);
        assert_eq!(
            source,
            vec!["2 firearms of case FR-1 were first sold to \"armeria roma\"".to_string()]
        );
        assert!(one_source(&this, &sold_by("someone else"), &others).is_empty());
        assert!(shared_party(&this, &sold_by("someone else"), &others).is_empty());
    }

    #[test]
    fn every_indicator_of_the_table_has_its_rule() {
        let table: Vec<Indicator> =
            serde_json::from_str(include_str!("indicators.json")).expect("the table parses");
        assert!(table.len() >= 7);
        let case: Case = serde_json::from_value(json!({
            "id": "00", "case_ref": "r", "title": "t", "created_at_ms": 0,
            "recovered": {"date": "2025-01-01", "country": "FR"}, "firearm": null,
            "exhibits": [], "to": [], "own_records": null, "network_hits": null,
            "trace_id": null, "query_id": null, "step2_note": null, "searches": {},
            "manual": {}, "automatic_started": true
        }))
        .expect("a case");
        for ind in &table {
            assert!(
                apply(ind, &case, &Findings::default(), &[]).is_some(),
                "{} names an unknown rule {}",
                ind.code,
                ind.rule
            );
            assert!(!ind.source.is_empty() && !ind.description.is_empty());
        }
    }
}
