//! The reference table in force as a function of the *set* of additions members published,
//! whatever order they arrive in.
//!
//! Additions can conflict (two members bind one alias to different makes, or add one id with
//! different names) and can depend on each other (an alias for a make another addition
//! creates). Applying them in arrival order would let two nodes, or one node before and
//! after a restart, normalise the same make differently. Instead every addition is applied
//! in one total order, [`AdditionOrder`] (the publishing entry's timestamp, then its origin,
//! then its seq), each skipped if it conflicts with those before it. An addition arriving
//! after all those held is applied at once; one that sorts earlier rebuilds the table from
//! the base.

use std::collections::BTreeMap;

use super::{RefError, ReferenceAddition, ReferenceTable};

/// Where an addition sorts: the publishing entry's timestamp, its origin's key, its seq.
/// Every field is signed into the entry, so every node sorts the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdditionOrder {
    /// The entry's timestamp, ms since the epoch.
    pub timestamp_ms: u64,
    /// The origin's public key.
    pub origin: [u8; 32],
    /// The entry's seq in its origin's feed.
    pub seq: u64,
}

/// One addition held, and whether it is in force.
#[derive(Clone, Debug)]
struct Held {
    addition: ReferenceAddition,
    /// Why it is not in force (it conflicts with an earlier addition), if it is not.
    refused: Option<RefError>,
}

/// The base table with every addition held applied in [`AdditionOrder`].
#[derive(Clone, Debug)]
pub struct MergedReference {
    base: ReferenceTable,
    table: ReferenceTable,
    held: BTreeMap<AdditionOrder, Held>,
}

impl MergedReference {
    /// `base` with no additions.
    pub fn new(base: ReferenceTable) -> Self {
        MergedReference {
            table: base.clone(),
            base,
            held: BTreeMap::new(),
        }
    }

    /// The table in force.
    pub fn table(&self) -> &ReferenceTable {
        &self.table
    }

    /// Additions held (one already held at that order is ignored) and the table brought up
    /// to date: applied one by one if they all sort after every addition held, else rebuilt
    /// once. Returns, for each new addition, why it is not in force if it is not.
    pub fn insert(
        &mut self,
        additions: impl IntoIterator<Item = (AdditionOrder, ReferenceAddition)>,
    ) -> Vec<(AdditionOrder, Option<RefError>)> {
        let last = self.held.keys().next_back().copied();
        let mut new: Vec<AdditionOrder> = Vec::new();
        for (order, addition) in additions {
            if self.held.contains_key(&order) {
                continue;
            }
            self.held.insert(
                order,
                Held {
                    addition,
                    refused: None,
                },
            );
            new.push(order);
        }
        new.sort();
        if new.first().is_some_and(|first| Some(*first) < last) {
            self.rebuild();
        } else {
            for order in &new {
                self.apply(*order);
            }
        }
        new.into_iter()
            .map(|order| {
                let refused = self.held.get(&order).and_then(|h| h.refused.clone());
                (order, refused)
            })
            .collect()
    }

    /// The table again from the base, every addition held applied in order.
    pub fn rebuild(&mut self) {
        self.table = self.base.clone();
        let orders: Vec<AdditionOrder> = self.held.keys().copied().collect();
        for order in orders {
            self.apply(order);
        }
    }

    fn apply(&mut self, order: AdditionOrder) {
        let Some(held) = self.held.get_mut(&order) else {
            return;
        };
        // `add` leaves the table unchanged when the addition conflicts.
        held.refused = self.table.add(held.addition.clone()).err();
    }

    /// The additions in force, in the order applied.
    pub fn applied(&self) -> impl Iterator<Item = (&AdditionOrder, &ReferenceAddition)> {
        self.held
            .iter()
            .filter(|(_, h)| h.refused.is_none())
            .map(|(order, h)| (order, &h.addition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(timestamp_ms: u64, origin: u8, seq: u64) -> AdditionOrder {
        AdditionOrder {
            timestamp_ms,
            origin: [origin; 32],
            seq,
        }
    }

    fn alias(target_id: &str, alias: &str) -> ReferenceAddition {
        ReferenceAddition::Alias {
            target_id: target_id.into(),
            alias: alias.into(),
        }
    }

    /// Conflicting aliases, a make and an alias that depends on it, from three members.
    fn additions() -> Vec<(AdditionOrder, ReferenceAddition)> {
        vec![
            (order(10, 2, 1), alias("make:glock", "Zastrow Arms")),
            (order(20, 1, 1), alias("make:beretta", "Zastrow Arms")),
            (
                order(5, 3, 1),
                ReferenceAddition::Make {
                    id: "make:kestrel".into(),
                    name: "Kestrel".into(),
                    country: "FI".into(),
                    aliases: vec![],
                },
            ),
            (order(30, 3, 2), alias("make:kestrel", "Kestrel Oy")),
            (order(30, 1, 2), alias("make:glock", "Kestrel Oy")),
        ]
    }

    fn normalisations(merged: &MergedReference) -> Vec<Option<String>> {
        ["Zastrow Arms", "Kestrel Oy", "Kestrel"]
            .iter()
            .map(|m| merged.table().normalise_make(m).id)
            .collect()
    }

    #[test]
    fn the_same_additions_in_any_order_give_the_same_table() {
        let base = ReferenceTable::try_builtin().unwrap().clone();
        let all = additions();
        let mut expected = None;
        // Every rotation, one at a time and all at once, forwards and backwards.
        for start in 0..all.len() {
            for reverse in [false, true] {
                let mut list: Vec<_> = all[start..].iter().chain(&all[..start]).cloned().collect();
                if reverse {
                    list.reverse();
                }
                let mut one_by_one = MergedReference::new(base.clone());
                for item in list.clone() {
                    one_by_one.insert([item]);
                }
                let mut at_once = MergedReference::new(base.clone());
                at_once.insert(list);
                for merged in [one_by_one, at_once] {
                    let got = normalisations(&merged);
                    let expected = expected.get_or_insert_with(|| got.clone());
                    assert_eq!(&got, expected, "start {start}, reverse {reverse}");
                }
            }
        }
        // The earliest binding of a conflicting alias wins (10 before 20; at 30, origin 1
        // before origin 3), and an alias sorting after the make it names applies.
        assert_eq!(
            expected.unwrap(),
            vec![
                Some("make:glock".to_string()),
                Some("make:glock".to_string()),
                Some("make:kestrel".to_string()),
            ]
        );
    }

    #[test]
    fn an_addition_held_twice_counts_once_and_refusals_are_reported() {
        let base = ReferenceTable::try_builtin().unwrap().clone();
        let mut merged = MergedReference::new(base);
        let first = merged.insert([(order(1, 1, 1), alias("make:glock", "Zastrow Arms"))]);
        assert!(first[0].1.is_none());
        assert!(
            merged
                .insert([(order(1, 1, 1), alias("make:glock", "Zastrow Arms"))])
                .is_empty()
        );
        let second = merged.insert([(order(2, 2, 1), alias("make:beretta", "Zastrow Arms"))]);
        assert!(matches!(second[0].1, Some(RefError::AliasConflict { .. })));
        assert_eq!(merged.applied().count(), 1);
    }
}
