//! Validation of firearm records: normalised values, flags and field-named errors.

use striae_firearms_lib::Date;
use striae_firearms_lib::ReferenceTable;
use striae_firearms_lib::record::{FirearmInput, Status, validate_input_on};

fn today() -> Date {
    Date::new(2025, 6, 1).unwrap_or_else(|| Date::from_days_since_epoch(0))
}

fn input(json: &str) -> FirearmInput {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("test JSON is wrong: {e}"))
}

fn fields_in_error(json: &str) -> Vec<String> {
    match validate_input_on(&input(json), ReferenceTable::builtin(), today()) {
        Ok(record) => panic!("expected errors, got {record:?}"),
        Err(errors) => errors.into_iter().map(|e| e.field).collect(),
    }
}

#[test]
fn a_complete_record_is_normalised() {
    let json = r#"{
        "make": "S&W", "model": "M&P 9", "caliber": "9mm Luger", "serial": "ab-12 34/5",
        "type": "semi-automatic pistol", "status": "Stolen", "country_of_manufacture": "us",
        "event_date": "2025-05-30", "case_ref": "PJ/2025/0042", "notes": "Taken in a burglary.\nSafe forced.",
        "reporting_agency": "FR-PJ-75",
        "history": [
            {"date": "2019-03-01", "event": "manufactured", "party": "Smith & Wesson", "country": "US"},
            {"date": "2020-01-15", "event": "imported", "party": "Importer SA", "country": "FR", "document_ref": "IMP-77"}
        ]
    }"#;
    let record = validate_input_on(&input(json), ReferenceTable::builtin(), today())
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(record.make.entered, "S&W");
    assert_eq!(record.make.normalised.canonical, "Smith & Wesson");
    assert_eq!(
        record.model.normalised.id.as_deref(),
        Some("model:smith-wesson-m-p9")
    );
    assert_eq!(record.caliber.normalised.id.as_deref(), Some("cal:9x19"));
    assert_eq!(record.firearm_type.normalised.canonical, "pistol");
    assert_eq!(record.serial.normalised, "AB12345");
    assert_eq!(record.serial.confusable, "A812345");
    assert_eq!(record.status, Status::Stolen);
    assert!(record.status.is_active());
    assert_eq!(record.country_of_manufacture.as_deref(), Some("US"));
    assert_eq!(record.make_country.as_deref(), Some("US"));
    assert_eq!(record.history.len(), 2);
    assert!(!record.flags.any());
    let stored = serde_json::to_value(&record).unwrap_or_default();
    assert_eq!(stored["type"]["canonical"], "pistol");
    assert_eq!(stored["event_date"], "2025-05-30");
}

#[test]
fn unknown_reference_values_are_flagged_not_rejected() {
    let json = r#"{"make": "Acme Gunworks", "model": "Thunder X", "caliber": "9mm",
        "serial": "123", "type": "blunderbuss", "status": "lost"}"#;
    let record = validate_input_on(&input(json), ReferenceTable::builtin(), today())
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        record.flags.make
            && record.flags.model
            && record.flags.caliber
            && record.flags.firearm_type
    );
    assert_eq!(record.make.normalised.canonical, "ACME GUNWORKS");
    assert!(record.caliber.normalised.ambiguous);
    assert_eq!(record.make_country, None);
}

#[test]
fn missing_required_fields_are_each_named() {
    let fields = fields_in_error(r#"{"make": "", "serial": "  ", "status": null}"#);
    for field in ["make", "model", "caliber", "type", "serial", "status"] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
}

#[test]
fn invalid_values_name_their_fields() {
    let long_notes = "n".repeat(4_001);
    let json = format!(
        r#"{{"make": "Glock", "model": "17", "caliber": "9x19", "serial": "-/-", "type": "pistol",
        "status": "borrowed", "country_of_manufacture": "AUT", "event_date": "2025-13-01",
        "notes": "{long_notes}", "case_ref": "line\u0007bell",
        "history": [
            {{"date": "2020-01-01", "event": "sold", "party": "Dealer", "country": "FR"}},
            {{"date": "2020-01-01", "event": "sold", "party": "Dealer", "country": "FR"}},
            {{"date": "2999-01-01", "event": "melted", "party": "", "country": "France"}}
        ]}}"#
    );
    let fields = fields_in_error(&json);
    for field in [
        "serial",
        "status",
        "country_of_manufacture",
        "event_date",
        "notes",
        "case_ref",
        "history[2].date",
        "history[2].event",
        "history[2].party",
        "history[2].country",
    ] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    assert!(!fields.iter().any(|f| f.starts_with("history[0]")));
}

#[test]
fn dates_in_the_future_or_too_old_are_refused() {
    let base = r#"{"make": "Glock", "model": "17", "caliber": "9x19", "serial": "ABC", "type": "pistol", "status": "stolen", "event_date": "DATE"}"#;
    let check = |date: &str| {
        validate_input_on(
            &input(&base.replace("DATE", date)),
            ReferenceTable::builtin(),
            today(),
        )
    };
    assert!(
        check("2025-06-02").is_ok(),
        "one day ahead absorbs time zones"
    );
    assert!(check("2025-06-03").is_err());
    assert!(check("1699-12-31").is_err());
    assert!(check("2023-02-29").is_err());
}

#[test]
fn too_many_history_events_are_refused() {
    let event = r#"{"date": "2020-01-01", "event": "sold", "party": "Dealer", "country": "FR"}"#;
    let events = vec![event; 101].join(",");
    let json = format!(
        r#"{{"make": "Glock", "model": "17", "caliber": "9x19", "serial": "ABC", "type": "pistol", "status": "stolen", "history": [{events}]}}"#
    );
    assert_eq!(fields_in_error(&json), vec!["history".to_owned()]);
}

#[test]
fn recovered_and_closed_records_are_not_active() {
    assert!(!Status::Recovered.is_active());
    assert!(!Status::Closed.is_active());
    assert_eq!(Status::parse(" SEIZED "), Some(Status::Seized));
}
