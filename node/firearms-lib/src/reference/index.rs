//! Insertion of entries and aliases into the table's lookup indexes, with the conflict
//! checks that keep every folded key pointing at exactly one entry.

use std::collections::HashMap;

use super::addition::{check_country, check_id};
use super::suggest::MAX_SUGGESTIONS;
use super::{Caliber, EntryKind, FirearmType, Make, Model, RefError, ReferenceTable};
use crate::fold;

/// The folded key of `alias` in the namespace of `kind`.
fn key_for(kind: EntryKind, alias: &str) -> String {
    match kind {
        EntryKind::Caliber => fold::caliber_key(alias),
        EntryKind::Make | EntryKind::Model | EntryKind::Type => fold::name_key(alias),
    }
}

impl ReferenceTable {
    fn register_id(&mut self, id: &str, kind: EntryKind, pos: usize) -> Result<(), RefError> {
        check_id(id, kind)?;
        if self.ids.contains_key(id) {
            return Err(RefError::DuplicateId(id.to_owned()));
        }
        self.ids.insert(id.to_owned(), (kind, pos));
        Ok(())
    }

    /// Checks that `alias` may mean the entry `id` of `kind`, returning its folded key.
    /// `index` is the namespace the key would go into.
    fn claim_key(
        &self,
        kind: EntryKind,
        index: Option<&HashMap<String, usize>>,
        id: &str,
        alias: &str,
    ) -> Result<String, RefError> {
        let key = key_for(kind, alias);
        if key.is_empty() {
            return Err(RefError::EmptyAlias(alias.to_owned()));
        }
        if self.ambiguous.contains_key(&(kind, key.clone())) {
            return Err(RefError::AmbiguousAlias {
                alias: alias.to_owned(),
            });
        }
        let holder = index.and_then(|idx| idx.get(&key)).map(|&pos| match kind {
            EntryKind::Make => &self.makes[pos].id,
            EntryKind::Model => &self.models[pos].id,
            EntryKind::Caliber => &self.calibres[pos].id,
            EntryKind::Type => &self.types[pos].id,
        });
        match holder {
            Some(existing) if existing != id => Err(RefError::AliasConflict {
                alias: alias.to_owned(),
                existing: existing.clone(),
                requested: id.to_owned(),
            }),
            _ => Ok(key),
        }
    }

    fn names_of<'a>(name: &'a str, aliases: &'a [String]) -> impl Iterator<Item = &'a str> {
        std::iter::once(name).chain(aliases.iter().map(String::as_str))
    }

    pub(super) fn insert_make(&mut self, make: Make) -> Result<(), RefError> {
        check_country(&make.country)?;
        let pos = self.makes.len();
        let keys = Self::names_of(&make.name, &make.aliases)
            .map(|alias| self.claim_key(EntryKind::Make, Some(&self.make_keys), &make.id, alias))
            .collect::<Result<Vec<_>, _>>()?;
        self.register_id(&make.id, EntryKind::Make, pos)?;
        for key in &keys {
            self.make_keys.insert(key.clone(), pos);
        }
        let mut distinct = keys;
        distinct.sort();
        distinct.dedup();
        self.make_key_lists.push(distinct);
        self.makes.push(make);
        Ok(())
    }

    pub(super) fn insert_model(&mut self, model: Model) -> Result<(), RefError> {
        let scope = model.make_id.clone().unwrap_or_default();
        let pos = self.models.len();
        let keys = Self::names_of(&model.name, &model.aliases)
            .map(|alias| {
                self.claim_key(
                    EntryKind::Model,
                    self.model_keys.get(&scope),
                    &model.id,
                    alias,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.register_id(&model.id, EntryKind::Model, pos)?;
        self.models.push(model);
        for key in keys {
            self.index_model_key(&scope, key, pos);
        }
        Ok(())
    }

    fn index_model_key(&mut self, scope: &str, key: String, pos: usize) {
        let everywhere = self.model_any.entry(key.clone()).or_default();
        if !everywhere.contains(&pos) {
            everywhere.push(pos);
        }
        self.model_keys
            .entry(scope.to_owned())
            .or_default()
            .insert(key, pos);
    }

    pub(super) fn insert_caliber(&mut self, caliber: Caliber) -> Result<(), RefError> {
        let pos = self.calibres.len();
        let keys = Self::names_of(&caliber.name, &caliber.aliases)
            .map(|alias| {
                self.claim_key(
                    EntryKind::Caliber,
                    Some(&self.caliber_keys),
                    &caliber.id,
                    alias,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.register_id(&caliber.id, EntryKind::Caliber, pos)?;
        for key in keys {
            self.caliber_keys.insert(key, pos);
        }
        self.calibres.push(caliber);
        Ok(())
    }

    pub(super) fn insert_type(&mut self, firearm_type: FirearmType) -> Result<(), RefError> {
        let pos = self.types.len();
        let keys = Self::names_of(&firearm_type.name, &firearm_type.aliases)
            .map(|alias| {
                self.claim_key(
                    EntryKind::Type,
                    Some(&self.type_keys),
                    &firearm_type.id,
                    alias,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.register_id(&firearm_type.id, EntryKind::Type, pos)?;
        for key in keys {
            self.type_keys.insert(key, pos);
        }
        self.types.push(firearm_type);
        Ok(())
    }

    /// Adds `alias` to the existing entry `target_id`; re-adding an alias it already has is
    /// accepted and changes nothing.
    pub(super) fn insert_alias(&mut self, target_id: &str, alias: &str) -> Result<(), RefError> {
        let &(kind, pos) = self
            .ids
            .get(target_id)
            .ok_or_else(|| RefError::UnknownId(target_id.to_owned()))?;
        match kind {
            EntryKind::Make => {
                let key = self.claim_key(kind, Some(&self.make_keys), target_id, alias)?;
                if !self.make_key_lists[pos].contains(&key) {
                    self.make_key_lists[pos].push(key.clone());
                }
                self.make_keys.insert(key, pos);
                self.makes[pos].aliases.push(alias.to_owned());
            }
            EntryKind::Model => {
                let scope = self.models[pos].make_id.clone().unwrap_or_default();
                let key = self.claim_key(kind, self.model_keys.get(&scope), target_id, alias)?;
                self.index_model_key(&scope, key, pos);
                self.models[pos].aliases.push(alias.to_owned());
            }
            EntryKind::Caliber => {
                let key = self.claim_key(kind, Some(&self.caliber_keys), target_id, alias)?;
                self.caliber_keys.insert(key, pos);
                self.calibres[pos].aliases.push(alias.to_owned());
            }
            EntryKind::Type => {
                let key = self.claim_key(kind, Some(&self.type_keys), target_id, alias)?;
                self.type_keys.insert(key, pos);
                self.types[pos].aliases.push(alias.to_owned());
            }
        }
        Ok(())
    }

    /// Declares `alias` as meaning one of `candidates`, none preferred.
    pub(super) fn insert_ambiguous(
        &mut self,
        kind: EntryKind,
        alias: &str,
        candidates: Vec<String>,
    ) -> Result<(), RefError> {
        if candidates.len() < 2 || candidates.len() > MAX_SUGGESTIONS {
            return Err(RefError::Data(format!(
                "ambiguous `{alias}` must list 2 to {MAX_SUGGESTIONS} candidates"
            )));
        }
        if let Some(missing) = candidates
            .iter()
            .find(|id| !matches!(self.ids.get(*id), Some(&(k, _)) if k == kind))
        {
            return Err(RefError::UnknownId(missing.clone()));
        }
        let key = key_for(kind, alias);
        let taken = match kind {
            EntryKind::Make => self.make_keys.contains_key(&key),
            EntryKind::Model => self.model_any.contains_key(&key),
            EntryKind::Caliber => self.caliber_keys.contains_key(&key),
            EntryKind::Type => self.type_keys.contains_key(&key),
        };
        if key.is_empty() || taken || self.ambiguous.contains_key(&(kind, key.clone())) {
            return Err(RefError::Data(format!(
                "ambiguous `{alias}` is empty or already used as an alias"
            )));
        }
        self.ambiguous.insert((kind, key), candidates);
        Ok(())
    }

    /// Checks that related calibres exist and makes the relation symmetric.
    pub(super) fn link_related(&mut self) -> Result<(), RefError> {
        let mut pairs = Vec::new();
        for caliber in &self.calibres {
            for other in &caliber.related {
                if self.caliber(other).is_none() || other == &caliber.id {
                    return Err(RefError::UnknownId(other.clone()));
                }
                pairs.push((other.clone(), caliber.id.clone()));
            }
        }
        for (from, to) in pairs {
            if let Some(&(_, pos)) = self.ids.get(&from) {
                let related = &mut self.calibres[pos].related;
                if !related.contains(&to) {
                    related.push(to);
                }
            }
        }
        Ok(())
    }
}
