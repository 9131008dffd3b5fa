//! Member-published additions to the reference table, their validation, and the table's
//! error type.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::data::model_id;
use super::{Caliber, EntryKind, Make, Model, ReferenceTable};

/// Longest canonical name or alias, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 100;
/// Longest id, in characters.
pub(crate) const MAX_ID_CHARS: usize = 80;
/// Most aliases one addition may carry.
pub(crate) const MAX_ALIASES: usize = 32;

/// Why a reference entry or addition was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RefError {
    #[error("reference data is malformed: {0}")]
    Data(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("id `{0}` is already used by another entry")]
    DuplicateId(String),
    #[error("no reference entry has id `{0}`")]
    UnknownId(String),
    #[error("`{alias}` already means {existing}, so it cannot also mean {requested}")]
    AliasConflict {
        alias: String,
        existing: String,
        requested: String,
    },
    #[error(
        "`{alias}` is deliberately ambiguous in the table and cannot be bound to a single entry"
    )]
    AmbiguousAlias { alias: String },
    #[error("`{0}` has no letters or digits to match on")]
    EmptyAlias(String),
}

fn invalid(field: &str, message: impl Into<String>) -> RefError {
    RefError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A change a member publishes to the shared reference data: a new make, model or calibre, or
/// a new alias for an existing entry. Serialised with a `kind` tag, e.g.
/// `{"kind":"alias","target_id":"make:glock","alias":"Glock Ges.m.b.H"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReferenceAddition {
    Make {
        /// `make:` followed by lowercase letters, digits, `.` or `-`.
        id: String,
        name: String,
        /// ISO 3166-1 alpha-2, uppercase.
        country: String,
        #[serde(default)]
        aliases: Vec<String>,
    },
    Model {
        /// Derived from the make and name when absent (`model:glock-17`).
        #[serde(default)]
        id: Option<String>,
        /// `None` for a design made by many factories.
        #[serde(default)]
        make_id: Option<String>,
        name: String,
        #[serde(default)]
        aliases: Vec<String>,
    },
    Caliber {
        id: String,
        name: String,
        #[serde(default)]
        aliases: Vec<String>,
        #[serde(default)]
        related: Vec<String>,
    },
    Alias {
        target_id: String,
        alias: String,
    },
}

fn check_text(field: &str, value: &str) -> Result<(), RefError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_aliases(aliases: &[String]) -> Result<(), RefError> {
    if aliases.len() > MAX_ALIASES {
        return Err(invalid(
            "aliases",
            format!("{} given; at most {MAX_ALIASES} are allowed", aliases.len()),
        ));
    }
    aliases
        .iter()
        .enumerate()
        .try_for_each(|(i, alias)| check_text(&format!("aliases[{i}]"), alias))
}

pub(super) fn check_id(id: &str, kind: EntryKind) -> Result<(), RefError> {
    let Some(rest) = id.strip_prefix(kind.prefix()) else {
        return Err(invalid(
            "id",
            format!("must start with `{}`", kind.prefix()),
        ));
    };
    let well_formed = !rest.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && rest
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if well_formed {
        Ok(())
    } else {
        Err(invalid(
            "id",
            format!(
                "`{id}` must be `{}` followed by at most {MAX_ID_CHARS} lowercase letters, digits, `.` or `-`",
                kind.prefix()
            ),
        ))
    }
}

pub(super) fn check_country(country: &str) -> Result<(), RefError> {
    let valid = country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase());
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "country",
            format!("`{country}` is not two uppercase letters (ISO 3166-1 alpha-2)"),
        ))
    }
}

impl ReferenceAddition {
    /// Checks the addition on its own: lengths, id form, country code. Conflicts with the
    /// table are found when it is applied.
    pub fn validate(&self) -> Result<(), RefError> {
        match self {
            ReferenceAddition::Make {
                id,
                name,
                country,
                aliases,
            } => {
                check_id(id, EntryKind::Make)?;
                check_text("name", name)?;
                check_country(country)?;
                check_aliases(aliases)
            }
            ReferenceAddition::Model {
                id,
                make_id,
                name,
                aliases,
            } => {
                if let Some(id) = id {
                    check_id(id, EntryKind::Model)?;
                }
                if let Some(make_id) = make_id {
                    check_id(make_id, EntryKind::Make)
                        .map_err(|_| invalid("make_id", format!("`{make_id}` is not a make id")))?;
                }
                check_text("name", name)?;
                check_aliases(aliases)
            }
            ReferenceAddition::Caliber {
                id,
                name,
                aliases,
                related,
            } => {
                check_id(id, EntryKind::Caliber)?;
                check_text("name", name)?;
                check_aliases(aliases)?;
                related
                    .iter()
                    .try_for_each(|r| check_id(r, EntryKind::Caliber))
            }
            ReferenceAddition::Alias { target_id, alias } => {
                if EntryKind::of_id(target_id).is_none() {
                    return Err(RefError::UnknownId(target_id.clone()));
                }
                check_text("alias", alias)
            }
        }
    }
}

impl ReferenceTable {
    /// Validates and applies one addition. Callers needing atomicity go through
    /// [`ReferenceTable::add`], which applies to a copy.
    pub(super) fn apply(&mut self, addition: &ReferenceAddition) -> Result<(), RefError> {
        addition.validate()?;
        match addition.clone() {
            ReferenceAddition::Make {
                id,
                name,
                country,
                aliases,
            } => self.insert_make(Make {
                id,
                name,
                country,
                aliases,
                note: None,
            }),
            ReferenceAddition::Model {
                id,
                make_id,
                name,
                aliases,
            } => {
                if let Some(make) = &make_id
                    && self.make(make).is_none()
                {
                    return Err(RefError::UnknownId(make.clone()));
                }
                let id = id.unwrap_or_else(|| model_id(make_id.as_deref(), &name));
                self.insert_model(Model {
                    id,
                    make_id,
                    name,
                    aliases,
                    note: None,
                })
            }
            ReferenceAddition::Caliber {
                id,
                name,
                aliases,
                related,
            } => {
                self.insert_caliber(Caliber {
                    id,
                    name,
                    aliases,
                    related,
                    note: None,
                })?;
                self.link_related()
            }
            ReferenceAddition::Alias { target_id, alias } => self.insert_alias(&target_id, &alias),
        }
    }
}
