//! The on-disk format of the reference table (`data/reference.json`) and its conversion into
//! table entries.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Caliber, EntryKind, FirearmType, Make, Model, RefError};
use crate::fold;

/// Scope name under `models` for designs made by many factories (AKM, SKS, M1911, ...).
pub(super) const ANY_MAKE: &str = "any";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DataFile {
    pub version: u32,
    pub makes: Vec<MakeRecord>,
    pub models: BTreeMap<String, Vec<ModelRecord>>,
    pub calibres: Vec<CaliberRecord>,
    pub types: Vec<TypeRecord>,
    pub ambiguous: Vec<AmbiguousRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MakeRecord {
    pub id: String,
    pub name: String,
    pub country: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A model is written either compactly as `["name", "alias", ...]` or as an object when it
/// needs a pinned id or a note.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ModelRecord {
    Compact(Vec<String>),
    Full {
        #[serde(default)]
        id: Option<String>,
        name: String,
        #[serde(default)]
        aliases: Vec<String>,
        #[serde(default)]
        note: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CaliberRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub related: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TypeRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AmbiguousRecord {
    pub kind: AmbiguousKind,
    pub alias: String,
    pub candidates: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AmbiguousKind {
    Make,
    Model,
    Caliber,
    Type,
}

impl From<AmbiguousKind> for EntryKind {
    fn from(kind: AmbiguousKind) -> Self {
        match kind {
            AmbiguousKind::Make => EntryKind::Make,
            AmbiguousKind::Model => EntryKind::Model,
            AmbiguousKind::Caliber => EntryKind::Caliber,
            AmbiguousKind::Type => EntryKind::Type,
        }
    }
}

/// Id of a model: pinned in the data, or derived from its make and name. Derived ids are
/// stable as long as the canonical name is not edited; pin the old id when renaming.
pub(super) fn model_id(make_id: Option<&str>, name: &str) -> String {
    match make_id {
        Some(make) => format!(
            "model:{}-{}",
            make.strip_prefix("make:").unwrap_or(make),
            fold::slug(name)
        ),
        None => format!("model:{}", fold::slug(name)),
    }
}

impl MakeRecord {
    pub(crate) fn into_entry(self) -> Make {
        Make {
            id: self.id,
            name: self.name,
            country: self.country,
            aliases: self.aliases,
            note: self.note,
        }
    }
}

impl ModelRecord {
    pub(crate) fn into_entry(self, scope: &str) -> Result<Model, RefError> {
        let make_id = (scope != ANY_MAKE).then(|| scope.to_owned());
        let (id, name, aliases, note) = match self {
            ModelRecord::Compact(mut names) => {
                if names.is_empty() {
                    return Err(RefError::Data(format!(
                        "an empty model entry under `{scope}`"
                    )));
                }
                let name = names.remove(0);
                (None, name, names, None)
            }
            ModelRecord::Full {
                id,
                name,
                aliases,
                note,
            } => (id, name, aliases, note),
        };
        let id = id.unwrap_or_else(|| model_id(make_id.as_deref(), &name));
        Ok(Model {
            id,
            make_id,
            name,
            aliases,
            note,
        })
    }
}

impl CaliberRecord {
    pub(crate) fn into_entry(self) -> Caliber {
        Caliber {
            id: self.id,
            name: self.name,
            aliases: self.aliases,
            related: self.related,
            note: self.note,
        }
    }
}

impl TypeRecord {
    pub(crate) fn into_entry(self) -> FirearmType {
        FirearmType {
            id: self.id,
            name: self.name,
            aliases: self.aliases,
            note: self.note,
        }
    }
}
