//! Firearm records: the input accepted from members (JSON, CSV, NDJSON), its validation, and
//! the validated record that keeps both the values as entered and their normalised forms.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::date::Date;
use crate::reference::{Normalised, ReferenceTable};
use crate::serial::{confusable_fold, normalise_serial};

/// Longest value of a short text field (make, model, party, case reference, ...), in characters.
pub const MAX_SHORT_CHARS: usize = 200;
/// Longest `markings`, in characters.
pub const MAX_MARKINGS_CHARS: usize = 1_000;
/// Longest `notes`, in characters.
pub const MAX_NOTES_CHARS: usize = 4_000;
/// Most history events on one record.
pub const MAX_HISTORY_EVENTS: usize = 100;
/// Days after today that a date may lie, to absorb time-zone differences between members.
pub const MAX_FUTURE_DAYS: i64 = 1;
/// Earliest year accepted for any date; older firearms are antiques outside the system's scope.
pub const MIN_YEAR: i32 = 1700;

/// Reads JSON `null` as an empty string, so a missing value is reported as "required" by
/// validation rather than as a type error.
fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Option::<String>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// A firearm record as submitted. Every field is kept as text so that validation can report
/// all problems at once, each under its field name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirearmInput {
    #[serde(deserialize_with = "null_as_empty")]
    pub make: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub model: String,
    #[serde(deserialize_with = "null_as_empty", alias = "calibre")]
    pub caliber: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub serial: String,
    #[serde(rename = "type", deserialize_with = "null_as_empty")]
    pub firearm_type: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub status: String,
    pub country_of_manufacture: Option<String>,
    pub importer: Option<String>,
    pub markings: Option<String>,
    /// YYYY-MM-DD: when the firearm was stolen, lost, seized, ...
    pub event_date: Option<String>,
    pub case_ref: Option<String>,
    pub notes: Option<String>,
    pub reporting_agency: Option<String>,
    pub history: Option<Vec<HistoryInput>>,
}

/// One event of a firearm's history as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryInput {
    #[serde(deserialize_with = "null_as_empty")]
    pub date: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub event: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub party: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub country: String,
    pub document_ref: Option<String>,
}

/// Field names a [`FirearmInput`] accepts, including aliases.
pub const INPUT_FIELDS: [&str; 15] = [
    "make",
    "model",
    "caliber",
    "calibre",
    "serial",
    "type",
    "status",
    "country_of_manufacture",
    "importer",
    "markings",
    "event_date",
    "case_ref",
    "notes",
    "reporting_agency",
    "history",
];

/// Field names a [`HistoryInput`] accepts.
pub const HISTORY_FIELDS: [&str; 5] = ["date", "event", "party", "country", "document_ref"];

/// A problem with one field of a submitted record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's path, e.g. `serial` or `history[2].date`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Why the record exists. Stolen, lost, trafficked, smuggled and seized records signal an
/// illicit firearm; recovered and closed records are kept for history but no longer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Taken from its lawful holder.
    Stolen,
    /// Missing from its lawful holder without evidence of theft.
    Lost,
    /// Moved across a border or between holders in breach of law or embargo.
    Trafficked,
    /// Moved across a border concealed from customs.
    Smuggled,
    /// Taken into police custody and submitted for tracing.
    Seized,
    /// Back with its lawful holder or the authorities; the alert is over.
    Recovered,
    /// The reporting agency closed the record for another reason.
    Closed,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Stolen,
        Status::Lost,
        Status::Trafficked,
        Status::Smuggled,
        Status::Seized,
        Status::Recovered,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stolen => "stolen",
            Status::Lost => "lost",
            Status::Trafficked => "trafficked",
            Status::Smuggled => "smuggled",
            Status::Seized => "seized",
            Status::Recovered => "recovered",
            Status::Closed => "closed",
        }
    }

    /// Whether a record with this status still signals an illicit firearm.
    pub fn is_active(self) -> bool {
        !matches!(self, Status::Recovered | Status::Closed)
    }

    /// Case- and whitespace-insensitive parse.
    pub fn parse(raw: &str) -> Option<Status> {
        let wanted = raw.trim().to_lowercase();
        Status::ALL.into_iter().find(|s| s.as_str() == wanted)
    }
}

/// What happened to the firearm in one history event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryEventKind {
    Manufactured,
    Imported,
    Exported,
    Sold,
    Transferred,
    Stolen,
    Lost,
    Recovered,
    Seized,
    Destroyed,
}

impl HistoryEventKind {
    pub const ALL: [HistoryEventKind; 10] = [
        HistoryEventKind::Manufactured,
        HistoryEventKind::Imported,
        HistoryEventKind::Exported,
        HistoryEventKind::Sold,
        HistoryEventKind::Transferred,
        HistoryEventKind::Stolen,
        HistoryEventKind::Lost,
        HistoryEventKind::Recovered,
        HistoryEventKind::Seized,
        HistoryEventKind::Destroyed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HistoryEventKind::Manufactured => "manufactured",
            HistoryEventKind::Imported => "imported",
            HistoryEventKind::Exported => "exported",
            HistoryEventKind::Sold => "sold",
            HistoryEventKind::Transferred => "transferred",
            HistoryEventKind::Stolen => "stolen",
            HistoryEventKind::Lost => "lost",
            HistoryEventKind::Recovered => "recovered",
            HistoryEventKind::Seized => "seized",
            HistoryEventKind::Destroyed => "destroyed",
        }
    }

    /// Case- and whitespace-insensitive parse.
    pub fn parse(raw: &str) -> Option<HistoryEventKind> {
        let wanted = raw.trim().to_lowercase();
        HistoryEventKind::ALL
            .into_iter()
            .find(|e| e.as_str() == wanted)
    }
}

/// A value checked against the reference table: as entered, and as normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalisedValue {
    pub entered: String,
    #[serde(flatten)]
    pub normalised: Normalised,
}

/// A serial as entered, normalised, and folded for confusable matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialValue {
    pub entered: String,
    pub normalised: String,
    pub confusable: String,
}

/// Which reference values were not recognised (or were ambiguous) and need a person's review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownFlags {
    pub make: bool,
    pub model: bool,
    pub caliber: bool,
    #[serde(rename = "type")]
    pub firearm_type: bool,
}

impl UnknownFlags {
    pub fn any(self) -> bool {
        self.make || self.model || self.caliber || self.firearm_type
    }
}

/// A validated history event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub date: Date,
    pub event: HistoryEventKind,
    pub party: String,
    /// ISO 3166-1 alpha-2, uppercase.
    pub country: String,
    pub document_ref: Option<String>,
}

/// A validated firearm record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirearmRecord {
    pub make: NormalisedValue,
    pub model: NormalisedValue,
    pub caliber: NormalisedValue,
    #[serde(rename = "type")]
    pub firearm_type: NormalisedValue,
    pub serial: SerialValue,
    pub status: Status,
    /// As entered, uppercased; takes precedence over `make_country` for trace routing.
    pub country_of_manufacture: Option<String>,
    /// The make's country from the reference table, when the make is known.
    pub make_country: Option<String>,
    pub importer: Option<String>,
    pub markings: Option<String>,
    pub event_date: Option<Date>,
    pub case_ref: Option<String>,
    pub notes: Option<String>,
    pub reporting_agency: Option<String>,
    pub history: Vec<HistoryEntry>,
    pub flags: UnknownFlags,
}

impl FirearmRecord {
    /// The country a trace request should go to as country of manufacture.
    pub fn manufacture_country(&self) -> Option<&str> {
        self.country_of_manufacture
            .as_deref()
            .or(self.make_country.as_deref())
    }
}

/// Validates `input` against `table`, using today's UTC date for the future-date check.
pub fn validate_input(
    input: &FirearmInput,
    table: &ReferenceTable,
) -> Result<FirearmRecord, Vec<FieldError>> {
    validate_input_on(input, table, Date::today_utc())
}

/// Validates `input` as of `today`. Reports every problem found, each under its field path.
pub fn validate_input_on(
    input: &FirearmInput,
    table: &ReferenceTable,
    today: Date,
) -> Result<FirearmRecord, Vec<FieldError>> {
    let mut check = Checker {
        errors: Vec::new(),
        latest: today.add_days(MAX_FUTURE_DAYS),
    };
    let make_text = check.required("make", &input.make);
    let model_text = check.required("model", &input.model);
    let caliber_text = check.required("caliber", &input.caliber);
    let type_text = check.required("type", &input.firearm_type);
    let serial = check.serial(&input.serial);
    let status = check.status(&input.status);
    let country_of_manufacture = check.optional_country(
        "country_of_manufacture",
        input.country_of_manufacture.as_deref(),
    );
    let importer = check.optional_text(
        "importer",
        input.importer.as_deref(),
        MAX_SHORT_CHARS,
        false,
    );
    let markings = check.optional_text(
        "markings",
        input.markings.as_deref(),
        MAX_MARKINGS_CHARS,
        true,
    );
    let notes = check.optional_text("notes", input.notes.as_deref(), MAX_NOTES_CHARS, true);
    let case_ref = check.optional_text(
        "case_ref",
        input.case_ref.as_deref(),
        MAX_SHORT_CHARS,
        false,
    );
    let reporting_agency = check.optional_text(
        "reporting_agency",
        input.reporting_agency.as_deref(),
        MAX_SHORT_CHARS,
        false,
    );
    let event_date = check.optional_date("event_date", input.event_date.as_deref());
    let history = check.history(input.history.as_deref().unwrap_or(&[]));

    let (Some(make_text), Some(model_text), Some(caliber_text), Some(type_text)) =
        (make_text, model_text, caliber_text, type_text)
    else {
        return Err(check.errors);
    };
    let (Some(serial), Some(status)) = (serial, status) else {
        return Err(check.errors);
    };
    if !check.errors.is_empty() {
        return Err(check.errors);
    }

    let make = table.normalise_make(make_text);
    let model = table.normalise_model(make.id.as_deref(), model_text);
    let caliber = table.normalise_caliber(caliber_text);
    let firearm_type = table.normalise_type(type_text);
    let make_country = make
        .id
        .as_deref()
        .and_then(|id| table.make_country(id))
        .map(str::to_owned);
    let flags = UnknownFlags {
        make: !make.known,
        model: !model.known,
        caliber: !caliber.known,
        firearm_type: !firearm_type.known,
    };
    Ok(FirearmRecord {
        make: entered(make_text, make),
        model: entered(model_text, model),
        caliber: entered(caliber_text, caliber),
        firearm_type: entered(type_text, firearm_type),
        serial,
        status,
        country_of_manufacture,
        make_country,
        importer,
        markings,
        event_date,
        case_ref,
        notes,
        reporting_agency,
        history,
        flags,
    })
}

fn entered(text: &str, normalised: Normalised) -> NormalisedValue {
    NormalisedValue {
        entered: text.to_owned(),
        normalised,
    }
}

/// Collects field errors while checking one record.
struct Checker {
    errors: Vec<FieldError>,
    /// Latest acceptable date.
    latest: Date,
}

impl Checker {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Length and control-character rules shared by every text field. Multi-line fields
    /// (notes, markings) may contain line breaks and tabs; single-line ones may not, which
    /// keeps logs and CSV exports unambiguous.
    fn text_ok(&mut self, field: &str, value: &str, max: usize, multiline: bool) -> bool {
        let chars = value.chars().count();
        if chars > max {
            self.fail(
                field,
                format!("is {chars} characters long; at most {max} are allowed"),
            );
            return false;
        }
        let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
        if value.chars().any(|c| c.is_control() && !allowed(c)) {
            self.fail(field, "must not contain control characters");
            return false;
        }
        true
    }

    fn required<'a>(&mut self, field: &str, value: &'a str) -> Option<&'a str> {
        if value.trim().is_empty() {
            self.fail(field, "is required");
            return None;
        }
        self.text_ok(field, value, MAX_SHORT_CHARS, false)
            .then_some(value)
    }

    fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
        multiline: bool,
    ) -> Option<String> {
        let value = value.filter(|v| !v.trim().is_empty())?;
        self.text_ok(field, value, max, multiline)
            .then(|| value.to_owned())
    }

    fn serial(&mut self, raw: &str) -> Option<SerialValue> {
        if raw.trim().is_empty() {
            self.fail("serial", "is required");
            return None;
        }
        match normalise_serial(raw) {
            Ok(normalised) => Some(SerialValue {
                entered: raw.to_owned(),
                confusable: confusable_fold(&normalised),
                normalised,
            }),
            Err(err) => {
                self.fail("serial", err.to_string());
                None
            }
        }
    }

    fn status(&mut self, raw: &str) -> Option<Status> {
        if raw.trim().is_empty() {
            self.fail("status", "is required");
            return None;
        }
        let status = Status::parse(raw);
        if status.is_none() {
            let allowed: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            self.fail(
                "status",
                format!("`{}` is not one of {}", shorten(raw), allowed.join(", ")),
            );
        }
        status
    }

    /// Two ASCII letters; lowercase is accepted and stored uppercase.
    fn country(&mut self, field: &str, raw: &str) -> Option<String> {
        let code = raw.trim();
        if code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()) {
            return Some(code.to_ascii_uppercase());
        }
        self.fail(
            field,
            format!(
                "`{}` is not a two-letter ISO 3166-1 country code",
                shorten(raw)
            ),
        );
        None
    }

    fn optional_country(&mut self, field: &str, raw: Option<&str>) -> Option<String> {
        let raw = raw.filter(|v| !v.trim().is_empty())?;
        self.country(field, raw)
    }

    fn date(&mut self, field: &str, raw: &str) -> Option<Date> {
        let date = match raw.trim().parse::<Date>() {
            Ok(date) => date,
            Err(err) => {
                self.fail(field, err.to_string());
                return None;
            }
        };
        if date.year() < MIN_YEAR {
            self.fail(field, format!("{date} is before {MIN_YEAR}"));
            return None;
        }
        if date > self.latest {
            self.fail(field, format!("{date} is in the future"));
            return None;
        }
        Some(date)
    }

    fn optional_date(&mut self, field: &str, raw: Option<&str>) -> Option<Date> {
        let raw = raw.filter(|v| !v.trim().is_empty())?;
        self.date(field, raw)
    }

    fn history(&mut self, events: &[HistoryInput]) -> Vec<HistoryEntry> {
        if events.len() > MAX_HISTORY_EVENTS {
            self.fail(
                "history",
                format!(
                    "has {} events; at most {MAX_HISTORY_EVENTS} are allowed",
                    events.len()
                ),
            );
            return Vec::new();
        }
        events
            .iter()
            .enumerate()
            .filter_map(|(i, event)| self.history_event(i, event))
            .collect()
    }

    fn history_event(&mut self, i: usize, input: &HistoryInput) -> Option<HistoryEntry> {
        let path = |name: &str| format!("history[{i}].{name}");
        let date = if input.date.trim().is_empty() {
            self.fail(&path("date"), "is required");
            None
        } else {
            self.date(&path("date"), &input.date)
        };
        let event = self.history_kind(&path("event"), &input.event);
        let party = self
            .required(&path("party"), &input.party)
            .map(str::to_owned);
        let country = if input.country.trim().is_empty() {
            self.fail(&path("country"), "is required");
            None
        } else {
            self.country(&path("country"), &input.country)
        };
        let document_ref = self.optional_text(
            &path("document_ref"),
            input.document_ref.as_deref(),
            MAX_SHORT_CHARS,
            false,
        );
        Some(HistoryEntry {
            date: date?,
            event: event?,
            party: party?,
            country: country?,
            document_ref,
        })
    }

    fn history_kind(&mut self, field: &str, raw: &str) -> Option<HistoryEventKind> {
        if raw.trim().is_empty() {
            self.fail(field, "is required");
            return None;
        }
        let kind = HistoryEventKind::parse(raw);
        if kind.is_none() {
            let allowed: Vec<&str> = HistoryEventKind::ALL.iter().map(|e| e.as_str()).collect();
            self.fail(
                field,
                format!("`{}` is not one of {}", shorten(raw), allowed.join(", ")),
            );
        }
        kind
    }
}

/// At most 40 characters of a rejected value, for error messages.
fn shorten(raw: &str) -> String {
    let mut short: String = raw.chars().take(40).collect();
    if raw.chars().count() > 40 {
        short.push('…');
    }
    short
}
