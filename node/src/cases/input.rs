//! The body of `POST /v1/cases` and its validation: every field checked at the boundary,
//! with an error naming it (`recovered.date`, `firearm.serial_state`, `exhibits[2]`...).

use serde::{Deserialize, Serialize};
use striae_firearms_lib::{Date, SerialPattern, normalise_serial};

use super::{CaseError, CasesNode, MAX_EXHIBITS, field};
use crate::firearms::traces::check_text;

/// Longest short text field of a case.
const MAX_FIELD_CHARS: usize = 200;
/// Longest title.
const MAX_TITLE_CHARS: usize = 500;

/// What the operator opens a case with.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseInput {
    /// The bureau's case reference.
    pub case_ref: String,
    /// A title for people.
    pub title: String,
    /// Where and when.
    pub recovered: Recovered,
    /// The firearm, when one was recovered.
    #[serde(default)]
    pub firearm: Option<CaseFirearm>,
    /// This node's ballistic exhibits of the case.
    #[serde(default)]
    pub exhibits: Vec<String>,
    /// Countries to ask besides those found automatically.
    #[serde(default)]
    pub to: Vec<String>,
}

/// Where and when the firearm or ammunition was recovered.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recovered {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// A place name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Latitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// The state of a firearm's serial number as the laboratory found it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SerialState {
    /// Legible as made.
    #[default]
    Intact,
    /// Partly legible: the serial is a pattern (`12?45*`).
    Partial,
    /// Removed, nothing restored.
    Obliterated,
    /// Removed and restored by the laboratory (whole or in part).
    Restored,
}

impl SerialState {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SerialState::Intact => "intact",
            SerialState::Partial => "partial",
            SerialState::Obliterated => "obliterated",
            SerialState::Restored => "restored",
        }
    }

    /// Whether someone tampered with the serial.
    pub fn altered(self) -> bool {
        matches!(self, SerialState::Obliterated | SerialState::Restored)
    }
}

/// The recovered firearm.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseFirearm {
    /// Make as written.
    pub make: String,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Caliber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caliber: Option<String>,
    /// Serial as read (a pattern with `?` and `*` when partial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// How legible the serial is (default `intact`, or `partial` when it holds `?` or `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_state: Option<SerialState>,
    /// Firearm type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub firearm_type: Option<String>,
    /// Country of manufacture (ISO alpha-2), if marked; else the make's country is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_of_manufacture: Option<String>,
    /// Importer marking, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importer: Option<String>,
    /// Country of import (ISO alpha-2), if marked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_country: Option<String>,
}

impl CaseFirearm {
    /// The serial state, defaulted from the serial.
    pub fn state(&self) -> SerialState {
        self.serial_state.unwrap_or_else(|| {
            if self
                .serial
                .as_deref()
                .is_some_and(|s| s.contains(['?', '*']))
            {
                SerialState::Partial
            } else {
                SerialState::Intact
            }
        })
    }

    /// Whether the serial is read whole (a check and a trace can use it) or is a pattern.
    pub fn whole_serial(&self) -> Option<&str> {
        let serial = self.serial.as_deref()?;
        (!serial.contains(['?', '*']) && self.state() != SerialState::Partial).then_some(serial)
    }
}

/// Checks the whole body; the case's fields, cleaned.
pub(super) fn check(node: &CasesNode, mut input: CaseInput) -> Result<CaseInput, CaseError> {
    text("case_ref", &input.case_ref, true, MAX_FIELD_CHARS)?;
    text("title", &input.title, true, MAX_TITLE_CHARS)?;
    check_recovered(&mut input.recovered)?;
    if let Some(firearm) = &mut input.firearm {
        check_firearm(firearm)?;
    }
    if input.exhibits.len() > MAX_EXHIBITS {
        return Err(field(
            "exhibits",
            format!("at most {MAX_EXHIBITS} exhibits"),
        ));
    }
    input.exhibits = check_exhibits(node, &input.exhibits)?;
    if input.firearm.is_none() && input.exhibits.is_empty() {
        return Err(field(
            "firearm",
            "a case needs a recovered firearm, ballistic exhibits, or both",
        ));
    }
    for (i, cc) in input.to.iter_mut().enumerate() {
        *cc = cc.trim().to_ascii_uppercase();
        let name = format!("to[{i}]");
        let member = node.roster.by_country(cc).ok_or_else(|| {
            field(
                &name,
                format!("`{cc}` is not a member country of this network"),
            )
        })?;
        if member.bureau == node.me {
            return Err(field(&name, "is this node's own country"));
        }
    }
    Ok(input)
}

fn text(name: &str, value: &str, required: bool, max: usize) -> Result<(), CaseError> {
    check_text(name, value, required, max).map_err(|e| field(name, strip(&e.to_string(), name)))
}

/// `check_text`'s message without its `field: ` prefix.
fn strip(message: &str, name: &str) -> String {
    message
        .strip_prefix(&format!("{name}: "))
        .unwrap_or(message)
        .to_string()
}

fn country(name: &str, value: &mut String) -> Result<(), CaseError> {
    *value = value.trim().to_ascii_uppercase();
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(field(name, "an ISO 3166-1 alpha-2 country code such as DE"))
    }
}

fn check_recovered(r: &mut Recovered) -> Result<(), CaseError> {
    let date: Date = r
        .date
        .trim()
        .parse()
        .map_err(|_| field("recovered.date", "a date as YYYY-MM-DD"))?;
    if date > Date::today_utc() {
        return Err(field("recovered.date", "is in the future"));
    }
    r.date = date.to_string();
    country("recovered.country", &mut r.country)?;
    if let Some(place) = &r.place {
        text("recovered.place", place, false, MAX_FIELD_CHARS)?;
    }
    if r.lat.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        return Err(field("recovered.lat", "degrees between -90 and 90"));
    }
    if r.lon.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        return Err(field("recovered.lon", "degrees between -180 and 180"));
    }
    Ok(())
}

fn check_firearm(f: &mut CaseFirearm) -> Result<(), CaseError> {
    text("firearm.make", &f.make, true, MAX_FIELD_CHARS)?;
    for (name, value) in [
        ("firearm.model", &f.model),
        ("firearm.caliber", &f.caliber),
        ("firearm.type", &f.firearm_type),
        ("firearm.importer", &f.importer),
    ] {
        if let Some(v) = value {
            text(name, v, false, MAX_FIELD_CHARS)?;
        }
    }
    if let Some(cc) = &mut f.country_of_manufacture {
        country("firearm.country_of_manufacture", cc)?;
    }
    if let Some(cc) = &mut f.import_country {
        country("firearm.import_country", cc)?;
    }
    let state = f.state();
    match (&f.serial, state) {
        (Some(serial), SerialState::Partial) => {
            SerialPattern::parse(serial).map_err(|e| field("firearm.serial", e.to_string()))?;
        }
        (Some(serial), SerialState::Restored) if serial.contains(['?', '*']) => {
            SerialPattern::parse(serial).map_err(|e| field("firearm.serial", e.to_string()))?;
        }
        (Some(serial), _) => {
            if serial.contains(['?', '*']) {
                return Err(field(
                    "firearm.serial_state",
                    "a serial with `?` or `*` is `partial` (or `restored`)",
                ));
            }
            normalise_serial(serial).map_err(|e| field("firearm.serial", e.to_string()))?;
        }
        (None, SerialState::Intact) => {
            return Err(field(
                "firearm.serial",
                "is required unless the serial is partial or obliterated",
            ));
        }
        (None, _) => {}
    }
    Ok(())
}

/// The exhibits, each one of this node's ballistic exhibits, without repeats.
pub(super) fn check_exhibits(node: &CasesNode, ids: &[String]) -> Result<Vec<String>, CaseError> {
    let mut out: Vec<String> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let name = format!("exhibits[{i}]");
        let id = id.trim().to_ascii_lowercase();
        let known = id.len() == 32
            && id.bytes().all(|b| b.is_ascii_hexdigit())
            && node.ballistics.ballistics.record(&id)?.is_some();
        if !known {
            return Err(field(
                &name,
                format!("`{id}` is not an exhibit of this node"),
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}
