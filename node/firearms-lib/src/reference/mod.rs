//! The reference table: canonical makes, models, calibres and firearm types with their
//! aliases, and the normalisation of free-text values against them.
//!
//! The built-in table is the project's own, written from public facts (makers' names and
//! countries, model designations, cartridge names); it is not derived from the INTERPOL or RCMP
//! Firearms Reference Tables, whose licence forbids copying. Members extend it at run time with
//! [`ReferenceAddition`]s.
//!
//! Policy on ambiguity: the table never guesses between distinct cartridges or types. A value
//! such as "9mm" (9x19mm, .380 ACP and 9x18mm Makarov are all marked "9mm"), ".38" or
//! "handgun" is returned with `known = false`, `ambiguous = true` and the candidates as
//! suggestions, so the record keeps what was entered and a person resolves it from the
//! markings.

mod addition;
mod data;
mod index;
mod merge;
mod suggest;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use addition::{RefError, ReferenceAddition};
pub use merge::{AdditionOrder, MergedReference};

use crate::fold;
use data::{ANY_MAKE, DataFile};

/// The built-in table's source, compiled into the crate.
const BUILTIN_JSON: &str = include_str!("../../data/reference.json");

/// The form a value the table does not know is stored and compared in: trimmed, inner
/// whitespace collapsed and uppercased (what [`Normalised::canonical`] holds for an unknown
/// value). Lets a caller match records made before an addition taught the table that value.
pub fn clean_unknown(raw: &str) -> String {
    fold::clean_unknown(raw)
}

/// The result of normalising one free-text value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Normalised {
    /// The canonical name when known; otherwise the entered value trimmed, with inner
    /// whitespace collapsed and uppercased.
    pub canonical: String,
    /// The stable id of the entry (`make:glock`, `cal:9x19`, ...), when known.
    pub id: Option<String>,
    /// Whether the value matched an entry of the table.
    pub known: bool,
    /// Whether the value is a deliberately ambiguous one ("9mm", "handgun"); `suggestions` then
    /// lists every candidate.
    #[serde(default)]
    pub ambiguous: bool,
    /// Up to five likely entries, best first, when the value is unknown or ambiguous.
    pub suggestions: Vec<String>,
}

/// The four kinds of entries, each with its own id prefix and alias namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Make,
    Model,
    Caliber,
    Type,
}

impl EntryKind {
    /// The id prefix of this kind, including the colon.
    pub fn prefix(self) -> &'static str {
        match self {
            EntryKind::Make => "make:",
            EntryKind::Model => "model:",
            EntryKind::Caliber => "cal:",
            EntryKind::Type => "type:",
        }
    }

    /// The kind an id belongs to, from its prefix.
    pub fn of_id(id: &str) -> Option<EntryKind> {
        [
            EntryKind::Make,
            EntryKind::Model,
            EntryKind::Caliber,
            EntryKind::Type,
        ]
        .into_iter()
        .find(|kind| id.starts_with(kind.prefix()))
    }
}

/// A firearm manufacturer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Make {
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2 code of the country where the make principally manufactures; a
    /// record's own `country_of_manufacture` takes precedence for trace routing.
    pub country: String,
    pub aliases: Vec<String>,
    pub note: Option<String>,
}

/// A model designation. `make_id` is `None` for designs made by many factories (AKM, SKS,
/// M1911, ...), which match whatever make the record names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    pub id: String,
    pub make_id: Option<String>,
    pub name: String,
    pub aliases: Vec<String>,
    pub note: Option<String>,
}

/// A cartridge or shotgun gauge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caliber {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    /// Distinct cartridges that are close enough to matter to an investigator (5.56x45mm NATO
    /// and .223 Remington; 7.62x51mm NATO and .308 Winchester).
    pub related: Vec<String>,
    pub note: Option<String>,
}

/// A firearm type of the taxonomy (pistol, revolver, rifle, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirearmType {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub note: Option<String>,
}

/// Canonical entries plus the pre-built indexes every lookup goes through.
#[derive(Debug, Clone, Default)]
pub struct ReferenceTable {
    version: u32,
    makes: Vec<Make>,
    models: Vec<Model>,
    calibres: Vec<Caliber>,
    types: Vec<FirearmType>,
    /// Entry id to its kind and position.
    ids: HashMap<String, (EntryKind, usize)>,
    make_keys: HashMap<String, usize>,
    /// Folded keys of each make, by position, for stripping a make name off a model.
    make_key_lists: Vec<Vec<String>>,
    /// Model keys per make id; the empty scope holds the multi-maker designs.
    model_keys: HashMap<String, HashMap<String, usize>>,
    /// Every model key across all scopes, for lookups without a make.
    model_any: HashMap<String, Vec<usize>>,
    caliber_keys: HashMap<String, usize>,
    type_keys: HashMap<String, usize>,
    /// Deliberately ambiguous keys and the ids they could mean.
    ambiguous: HashMap<(EntryKind, String), Vec<String>>,
}

static BUILTIN: OnceLock<Result<ReferenceTable, RefError>> = OnceLock::new();

impl ReferenceTable {
    /// The built-in table, parsed on first use.
    ///
    /// # Panics
    /// If the compiled-in data file is malformed. That is a defect of the crate, which the test
    /// suite catches through [`ReferenceTable::try_builtin`]; no caller input can cause it.
    pub fn builtin() -> &'static ReferenceTable {
        match Self::try_builtin() {
            Ok(table) => table,
            Err(err) => panic!("{err}"),
        }
    }

    /// The built-in table, or the reason its data file could not be loaded.
    pub fn try_builtin() -> Result<&'static ReferenceTable, RefError> {
        BUILTIN
            .get_or_init(|| Self::from_json(BUILTIN_JSON))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Builds a table from a document in the format of `data/reference.json`.
    pub fn from_json(json: &str) -> Result<ReferenceTable, RefError> {
        let file: DataFile =
            serde_json::from_str(json).map_err(|e| RefError::Data(e.to_string()))?;
        let mut table = ReferenceTable {
            version: file.version,
            ..ReferenceTable::default()
        };
        for make in file.makes {
            table.insert_make(make.into_entry())?;
        }
        for (scope, models) in file.models {
            if scope != ANY_MAKE && !table.ids.contains_key(&scope) {
                return Err(RefError::Data(format!(
                    "models listed under unknown make `{scope}`"
                )));
            }
            for model in models {
                table.insert_model(model.into_entry(&scope)?)?;
            }
        }
        for caliber in file.calibres {
            table.insert_caliber(caliber.into_entry())?;
        }
        table.link_related()?;
        for firearm_type in file.types {
            table.insert_type(firearm_type.into_entry())?;
        }
        for entry in file.ambiguous {
            table.insert_ambiguous(entry.kind.into(), &entry.alias, entry.candidates)?;
        }
        Ok(table)
    }

    /// A copy of the built-in table with `additions` applied in order.
    pub fn with_additions(additions: &[ReferenceAddition]) -> Result<ReferenceTable, RefError> {
        let mut table = Self::try_builtin()?.clone();
        for addition in additions {
            table.apply(addition)?;
        }
        Ok(table)
    }

    /// Applies one addition. On error the table is left unchanged.
    pub fn add(&mut self, addition: ReferenceAddition) -> Result<(), RefError> {
        let mut next = self.clone();
        next.apply(&addition)?;
        *self = next;
        Ok(())
    }

    /// Version number of the data file this table was loaded from.
    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn makes(&self) -> &[Make] {
        &self.makes
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    pub fn calibres(&self) -> &[Caliber] {
        &self.calibres
    }

    pub fn types(&self) -> &[FirearmType] {
        &self.types
    }

    pub fn make(&self, id: &str) -> Option<&Make> {
        self.position(id, EntryKind::Make).map(|i| &self.makes[i])
    }

    pub fn model(&self, id: &str) -> Option<&Model> {
        self.position(id, EntryKind::Model).map(|i| &self.models[i])
    }

    pub fn caliber(&self, id: &str) -> Option<&Caliber> {
        self.position(id, EntryKind::Caliber)
            .map(|i| &self.calibres[i])
    }

    pub fn firearm_type(&self, id: &str) -> Option<&FirearmType> {
        self.position(id, EntryKind::Type).map(|i| &self.types[i])
    }

    /// Country of manufacture of a make (ISO 3166-1 alpha-2), for routing trace requests.
    pub fn make_country(&self, make_id: &str) -> Option<&str> {
        self.make(make_id).map(|make| make.country.as_str())
    }

    /// Ids of the cartridges related to, but distinct from, `caliber_id`.
    pub fn related_calibres(&self, caliber_id: &str) -> &[String] {
        self.caliber(caliber_id)
            .map(|c| c.related.as_slice())
            .unwrap_or(&[])
    }

    /// Whether two calibre ids are the same cartridge or declared related.
    pub fn calibres_related(&self, a: &str, b: &str) -> bool {
        a == b || self.related_calibres(a).iter().any(|r| r == b)
    }

    /// Normalises a make as written on a record ("S&W", "Smith and Wesson", "Glock GmbH").
    pub fn normalise_make(&self, raw: &str) -> Normalised {
        let keys = [fold::name_key(raw), fold::make_core_key(raw)];
        match self.resolve(EntryKind::Make, &self.make_keys, &keys) {
            Some(Resolution::Known(i)) => known(&self.makes[i].name, &self.makes[i].id),
            Some(Resolution::Ambiguous(ids)) => self.ambiguous_result(raw, &ids),
            None => unknown(
                raw,
                suggest::best(
                    &keys[0],
                    self.make_keys.iter().map(|(k, &i)| (k.as_str(), i)),
                    |i| self.makes[i].name.clone(),
                ),
            ),
        }
    }

    /// Normalises a calibre ("9mm Para", "9 x 19", ".380 Auto", "12/70").
    pub fn normalise_caliber(&self, raw: &str) -> Normalised {
        let keys = [
            fold::caliber_key(raw),
            fold::caliber_key(&fold::strip_caliber_words(raw)),
        ];
        match self.resolve(EntryKind::Caliber, &self.caliber_keys, &keys) {
            Some(Resolution::Known(i)) => known(&self.calibres[i].name, &self.calibres[i].id),
            Some(Resolution::Ambiguous(ids)) => self.ambiguous_result(raw, &ids),
            None => unknown(
                raw,
                suggest::best(
                    &keys[1],
                    self.caliber_keys.iter().map(|(k, &i)| (k.as_str(), i)),
                    |i| self.calibres[i].name.clone(),
                ),
            ),
        }
    }

    /// Normalises a firearm type ("semi-automatic pistol", "SMG", "carbine").
    pub fn normalise_type(&self, raw: &str) -> Normalised {
        let keys = [fold::name_key(raw)];
        match self.resolve(EntryKind::Type, &self.type_keys, &keys) {
            Some(Resolution::Known(i)) => known(&self.types[i].name, &self.types[i].id),
            Some(Resolution::Ambiguous(ids)) => self.ambiguous_result(raw, &ids),
            None => unknown(
                raw,
                suggest::best(
                    &keys[0],
                    self.type_keys.iter().map(|(k, &i)| (k.as_str(), i)),
                    |i| self.types[i].name.clone(),
                ),
            ),
        }
    }

    /// Normalises a model, within the make `make_id` when given ("Glock 17", "G17" and "17"
    /// under `make:glock` all give "17"). Designs made by many factories (AKM, SKS, M1911)
    /// match under any make. Without a make, a designation shared by several makes ("17") is
    /// ambiguous; a leading make name ("Glock 17") is recognised.
    pub fn normalise_model(&self, make_id: Option<&str>, raw: &str) -> Normalised {
        let key = fold::name_key(raw);
        let scope = make_id.filter(|id| self.make(id).is_some());
        let found = match scope {
            Some(make) => self.find_model_in_make(make, &key),
            None => self.find_model_anywhere(&key),
        };
        match found {
            Some(Resolution::Known(i)) => known(&self.models[i].name, &self.models[i].id),
            Some(Resolution::Ambiguous(ids)) => self.ambiguous_result(raw, &ids),
            None => unknown(raw, self.suggest_models(scope, &key)),
        }
    }

    fn position(&self, id: &str, kind: EntryKind) -> Option<usize> {
        match self.ids.get(id) {
            Some(&(k, i)) if k == kind => Some(i),
            _ => None,
        }
    }

    /// Tries each key in turn: an entry wins, then a declared ambiguity.
    fn resolve(
        &self,
        kind: EntryKind,
        index: &HashMap<String, usize>,
        keys: &[String],
    ) -> Option<Resolution> {
        keys.iter().filter(|k| !k.is_empty()).find_map(|key| {
            if let Some(&i) = index.get(key) {
                return Some(Resolution::Known(i));
            }
            self.ambiguous
                .get(&(kind, key.clone()))
                .map(|ids| Resolution::Ambiguous(ids.clone()))
        })
    }

    /// Model keys worth trying for `key` under `make`: as written, without a leading make
    /// name, and each without a generation suffix.
    fn model_key_variants(&self, make_pos: usize, key: &str) -> Vec<String> {
        let mut variants = vec![key.to_owned()];
        for make_key in &self.make_key_lists[make_pos] {
            if let Some(rest) = key.strip_prefix(make_key.as_str())
                && !rest.is_empty()
            {
                variants.push(rest.to_owned());
            }
        }
        let without_generation: Vec<String> = variants
            .iter()
            .filter_map(|v| fold::strip_generation(v).map(str::to_owned))
            .collect();
        variants.extend(without_generation);
        variants
    }

    fn find_model_in_make(&self, make_id: &str, key: &str) -> Option<Resolution> {
        let make_pos = self.position(make_id, EntryKind::Make)?;
        let variants = self.model_key_variants(make_pos, key);
        for scope in [make_id, ""] {
            let Some(index) = self.model_keys.get(scope) else {
                continue;
            };
            if let Some(&i) = variants.iter().find_map(|v| index.get(v)) {
                return Some(Resolution::Known(i));
            }
        }
        self.resolve_ambiguous_model(key)
    }

    fn find_model_anywhere(&self, key: &str) -> Option<Resolution> {
        if key.is_empty() {
            return None;
        }
        let generation_free = fold::strip_generation(key);
        for candidate in std::iter::once(key).chain(generation_free) {
            if let Some(&i) = self.model_keys.get("").and_then(|m| m.get(candidate)) {
                return Some(Resolution::Known(i));
            }
            if let Some(found) = self.model_any.get(candidate) {
                return Some(match found.as_slice() {
                    [only] => Resolution::Known(*only),
                    many => Resolution::Ambiguous(
                        many.iter().map(|&i| self.models[i].id.clone()).collect(),
                    ),
                });
            }
        }
        self.find_model_after_make_prefix(key)
            .or_else(|| self.resolve_ambiguous_model(key))
    }

    /// "glock17": the longest leading make key whose remainder is a model of that make.
    fn find_model_after_make_prefix(&self, key: &str) -> Option<Resolution> {
        let cuts: Vec<usize> = key.char_indices().map(|(i, _)| i).skip(1).collect();
        cuts.into_iter().rev().find_map(|cut| {
            let make_pos = *self.make_keys.get(&key[..cut])?;
            let make_id = &self.makes[make_pos].id;
            let index = self.model_keys.get(make_id.as_str())?;
            self.model_key_variants(make_pos, &key[cut..])
                .iter()
                .find_map(|v| index.get(v))
                .map(|&i| Resolution::Known(i))
        })
    }

    fn resolve_ambiguous_model(&self, key: &str) -> Option<Resolution> {
        self.ambiguous
            .get(&(EntryKind::Model, key.to_owned()))
            .map(|ids| Resolution::Ambiguous(ids.clone()))
    }

    fn suggest_models(&self, scope: Option<&str>, key: &str) -> Vec<String> {
        let scopes: Vec<&str> = match scope {
            Some(make) => vec![make, ""],
            None => self.model_keys.keys().map(String::as_str).collect(),
        };
        let candidates = scopes
            .into_iter()
            .filter_map(|s| self.model_keys.get(s))
            .flat_map(|index| index.iter())
            .map(|(k, &i)| (k.as_str(), i));
        suggest::best(key, candidates, |i| self.model_label(i, scope.is_none()))
    }

    /// A model's name, with its make in brackets when the caller gave no make.
    fn model_label(&self, pos: usize, with_make: bool) -> String {
        let model = &self.models[pos];
        let make_name = model
            .make_id
            .as_deref()
            .and_then(|id| self.make(id))
            .map(|make| make.name.as_str());
        match make_name {
            Some(make) if with_make => format!("{} ({make})", model.name),
            _ => model.name.clone(),
        }
    }

    fn display_name(&self, id: &str) -> String {
        match self.ids.get(id) {
            Some(&(EntryKind::Make, i)) => self.makes[i].name.clone(),
            Some(&(EntryKind::Model, i)) => self.model_label(i, true),
            Some(&(EntryKind::Caliber, i)) => self.calibres[i].name.clone(),
            Some(&(EntryKind::Type, i)) => self.types[i].name.clone(),
            None => id.to_owned(),
        }
    }

    fn ambiguous_result(&self, raw: &str, ids: &[String]) -> Normalised {
        Normalised {
            canonical: fold::clean_unknown(raw),
            id: None,
            known: false,
            ambiguous: true,
            suggestions: ids.iter().map(|id| self.display_name(id)).collect(),
        }
    }
}

enum Resolution {
    Known(usize),
    Ambiguous(Vec<String>),
}

fn known(name: &str, id: &str) -> Normalised {
    Normalised {
        canonical: name.to_owned(),
        id: Some(id.to_owned()),
        known: true,
        ambiguous: false,
        suggestions: Vec::new(),
    }
}

fn unknown(raw: &str, suggestions: Vec<String>) -> Normalised {
    Normalised {
        canonical: fold::clean_unknown(raw),
        id: None,
        known: false,
        ambiguous: false,
        suggestions,
    }
}
