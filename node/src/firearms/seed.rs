//! Example firearm records for the devnet: a few hundred deterministic records per member
//! (a realistic mix of makes, calibres, statuses and ownership histories), plus the
//! documented demonstration firearm held by the second member (DE), which
//! `docs/firearms.md` walks through: a Walther P99, serial `WK-1O5 733`, stolen in 2024.

use striae_firearms_lib::{FirearmInput, record::HistoryInput};

use crate::{firearms::FirearmsNode, node::NodeError};

/// Records each devnet member starts with (besides the demonstration firearm).
pub(super) const RECORDS_PER_MEMBER: usize = 300;

/// The demonstration firearm, as DE recorded it.
pub(super) const DEMO_MAKE: &str = "Carl Walther GmbH";
/// Its model.
pub(super) const DEMO_MODEL: &str = "P99";
/// Its calibre as DE wrote it.
pub(super) const DEMO_CALIBER: &str = "9mm Parabellum";
/// Its serial as DE wrote it (the letter O where FR will read a zero).
pub(super) const DEMO_SERIAL: &str = "WK-1O5 733";

/// (make, model, calibre, type, country of manufacture) of the example records.
const TEMPLATES: [(&str, &str, &str, &str, &str); 20] = [
    ("Glock", "17", "9x19mm", "pistol", "AT"),
    ("Glock", "19", "9mm Luger", "pistol", "AT"),
    ("Beretta", "92FS", "9mm Parabellum", "pistol", "IT"),
    ("Walther", "PPK", ".380 ACP", "pistol", "DE"),
    ("Heckler & Koch", "MP5", "9x19mm", "submachine gun", "DE"),
    ("SIG Sauer", "P226", "9x19mm", "pistol", "US"),
    ("CZ", "75", "9x19mm", "pistol", "CZ"),
    (
        "Smith & Wesson",
        "Model 10",
        ".38 Special",
        "revolver",
        "US",
    ),
    ("Colt", "M1911", ".45 ACP", "pistol", "US"),
    (
        "Kalashnikov Concern",
        "AKM",
        "7.62x39mm",
        "assault rifle",
        "RU",
    ),
    ("Zastava", "M70", "7.62x39mm", "assault rifle", "RS"),
    ("Remington", "870", "12 gauge", "shotgun", "US"),
    ("Mossberg", "500", "12 gauge", "shotgun", "US"),
    ("Ruger", "10/22", ".22 LR", "rifle", "US"),
    ("FN Herstal", "Hi-Power", "9x19mm", "pistol", "BE"),
    ("Baikal", "PM", "9x18mm Makarov", "pistol", "RU"),
    ("Taurus", "PT92", "9x19mm", "pistol", "BR"),
    ("Benelli", "M4", "12 gauge", "shotgun", "IT"),
    ("Steyr", "AUG", "5.56x45mm NATO", "rifle", "AT"),
    (
        "Česká zbrojovka",
        "Scorpion EVO 3",
        "9x19mm",
        "submachine gun",
        "CZ",
    ),
];

const STATUSES: [&str; 7] = [
    "stolen",
    "stolen",
    "stolen",
    "lost",
    "trafficked",
    "smuggled",
    "seized",
];

const DEALERS: [&str; 6] = [
    "Armurerie Centrale",
    "Waffen Schmidt KG",
    "Armería del Norte",
    "Nordic Arms AB",
    "Import Services Ltd",
    "Sport & Chasse SARL",
];

/// A small deterministic generator (xorshift), so every devnet has the same records.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn event(
    date: String,
    event: &str,
    party: &str,
    country: &str,
    doc: Option<String>,
) -> HistoryInput {
    HistoryInput {
        date,
        event: event.into(),
        party: party.into(),
        country: country.into(),
        document_ref: doc,
    }
}

/// Example record `n` of member `country`.
fn example(country: &str, rng: &mut Rng, n: usize) -> FirearmInput {
    let (make, model, caliber, kind, maker_country) = TEMPLATES[rng.below(TEMPLATES.len())];
    let status = STATUSES[rng.below(STATUSES.len())];
    let year = 1995 + rng.below(25) as i32;
    let serial = format!(
        "{}{}{:06}",
        (b'A' + rng.below(26) as u8) as char,
        (b'A' + rng.below(26) as u8) as char,
        rng.next() % 1_000_000
    );
    let month = 1 + rng.below(12);
    let sold = year + 1 + rng.below(3) as i32;
    let dealer = DEALERS[rng.below(DEALERS.len())];
    let mut history = vec![event(
        format!("{year}-{month:02}-15"),
        "manufactured",
        make,
        maker_country,
        None,
    )];
    if maker_country != country {
        history.push(event(
            format!("{year}-{:02}-01", (month % 12) + 1),
            "imported",
            "Import Services Ltd",
            country,
            Some(format!("IMP-{year}-{n:04}")),
        ));
    }
    history.push(event(
        format!("{sold}-03-{:02}", 1 + rng.below(28)),
        "sold",
        dealer,
        country,
        Some(format!("INV-{sold}-{n:05}")),
    ));
    let event_year = 2015 + rng.below(10) as i32;
    history.push(event(
        format!("{event_year}-06-{:02}", 1 + rng.below(28)),
        if status == "smuggled" || status == "trafficked" {
            "exported"
        } else {
            status
        },
        &format!("Holder {country}-{n:04}"),
        country,
        None,
    ));
    FirearmInput {
        make: make.into(),
        model: model.into(),
        caliber: caliber.into(),
        serial,
        firearm_type: kind.into(),
        status: status.into(),
        country_of_manufacture: Some(maker_country.into()),
        event_date: Some(format!("{event_year}-06-20")),
        case_ref: Some(format!("{country}-{event_year}-{n:05}")),
        reporting_agency: Some(format!("Police {country}")),
        notes: None,
        importer: (maker_country != country).then(|| "Import Services Ltd".into()),
        markings: None,
        history: Some(history),
    }
}

/// The demonstration firearm (see the module comment), with its full ownership chain.
pub(super) fn demo_firearm() -> FirearmInput {
    FirearmInput {
        make: DEMO_MAKE.into(),
        model: DEMO_MODEL.into(),
        caliber: DEMO_CALIBER.into(),
        serial: DEMO_SERIAL.into(),
        firearm_type: "pistol".into(),
        status: "stolen".into(),
        country_of_manufacture: Some("DE".into()),
        importer: None,
        markings: Some("Ulm/Do. proof mark; 'Made in Germany'".into()),
        event_date: Some("2024-03-09".into()),
        case_ref: Some("DE-BKA-2024-0417".into()),
        notes: Some("Stolen in a burglary of a registered sport shooter's home safe.".into()),
        reporting_agency: Some("Landeskriminalamt Baden-Württemberg".into()),
        history: Some(vec![
            event(
                "2016-02-11".into(),
                "manufactured",
                "Carl Walther GmbH",
                "DE",
                None,
            ),
            event(
                "2016-05-02".into(),
                "sold",
                "Waffen Schmidt KG",
                "DE",
                Some("WS-2016-1182".into()),
            ),
            event(
                "2019-09-23".into(),
                "transferred",
                "Schützenverein Ulm e.V. member",
                "DE",
                Some("WBK 2019/5521".into()),
            ),
            event(
                "2024-03-09".into(),
                "stolen",
                "Private holder, Ulm",
                "DE",
                None,
            ),
        ]),
    }
}

/// The example records of devnet member `index`.
pub(super) fn examples(country: &str, index: usize) -> Vec<FirearmInput> {
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut records: Vec<FirearmInput> = (0..RECORDS_PER_MEMBER)
        .map(|n| example(country, &mut rng, n))
        .collect();
    if index == 1 {
        records.push(demo_firearm());
    }
    records
}

/// Seeds devnet member `index` (of `members`) with its example records, in one import-style
/// batch (a single digest entry).
pub async fn seed_devnet(
    node: &FirearmsNode,
    index: usize,
    _members: usize,
) -> Result<(), NodeError> {
    // What a crash interrupted is finished (or undone) first: seeding is an import too.
    node.firearms
        .reconcile(node)
        .await
        .map_err(|e| NodeError::from(crate::store::StoreError::corrupt("firearm_records", e)))?;
    if node.firearms.record_count() > 0 {
        return Ok(());
    }
    let items = examples(&node.country, index)
        .into_iter()
        .enumerate()
        .map(|(i, input)| (i as u64 + 1, Ok(input)))
        .collect();
    let table = node.firearms.table();
    let outcome = node
        .firearms
        .store_inputs(node, table, items, seed_key(&node.country))
        .await
        .map_err(|e| match e {
            super::FirearmsError::Core(n) => NodeError::from(n),
            super::FirearmsError::Store(s) => NodeError::from(s),
            super::FirearmsError::Task(t) => {
                NodeError::from(crate::store::StoreError::corrupt("firearm_records", t))
            }
            super::FirearmsError::ImportInProgress => NodeError::from(
                crate::store::StoreError::corrupt("firearm_records", "seeding twice at once"),
            ),
        })?;
    if outcome.rejected_total > 0 {
        tracing::warn!(
            rejected = outcome.rejected_total,
            first = ?outcome.rejected.first().map(|r| &r.error),
            "some devnet example records were refused"
        );
    }
    Ok(())
}

/// The import key of a member's example records.
fn seed_key(country: &str) -> super::journal::ImportKey {
    *blake3::hash(format!("striae-devnet-seed:{country}").as_bytes()).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use striae_firearms_lib::{ReferenceTable, validate_input};

    #[test]
    fn examples_are_valid_and_use_known_makes_and_calibres() {
        let table = ReferenceTable::builtin();
        for input in examples("FR", 1) {
            let record = validate_input(&input, table).expect("example records are valid");
            assert!(!record.flags.make, "make {} unknown", input.make);
            assert!(!record.flags.caliber, "caliber {} unknown", input.caliber);
            assert!(
                !record.flags.firearm_type,
                "type {} unknown",
                input.firearm_type
            );
        }
    }

    #[test]
    fn examples_are_deterministic_and_differ_per_member() {
        assert_eq!(examples("FR", 0), examples("FR", 0));
        assert_ne!(examples("FR", 0)[0].serial, examples("DE", 1)[0].serial);
    }
}
