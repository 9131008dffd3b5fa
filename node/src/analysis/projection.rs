//! Every member's published aggregates, in memory: the latest per member and period (a later
//! entry of the member's feed replaces an earlier one), at most `MAX_PERIODS_PER_MEMBER`
//! periods and `MAX_BYTES_PER_MEMBER` bytes per member (the oldest periods go first).
//! Rebuilt from the feeds at start.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
};

use striae_protocol::{
    BureauId,
    analysis::{Aggregate, Period},
};

use super::report::MemberAggregate;

/// Most periods kept per member: five years of months.
pub const MAX_PERIODS_PER_MEMBER: usize = 60;
/// Most bytes of aggregates kept per member (a realistic month takes a few KiB; the protocol
/// allows 64 KiB).
pub const MAX_BYTES_PER_MEMBER: usize = 1 << 20;

struct MemberPeriods {
    /// The member's id as text, made once (it is a base58 PeerId, costly to redo per read).
    id: String,
    periods: BTreeMap<Period, Arc<Aggregate>>,
    bytes: usize,
}

impl MemberPeriods {
    fn put(&mut self, aggregate: Aggregate) {
        let bytes = aggregate.approx_bytes();
        if let Some(old) = self.periods.insert(aggregate.period, Arc::new(aggregate)) {
            self.bytes = self.bytes.saturating_sub(old.approx_bytes());
        }
        self.bytes += bytes;
        while self.periods.len() > MAX_PERIODS_PER_MEMBER || self.bytes > MAX_BYTES_PER_MEMBER {
            let Some((_, oldest)) = self.periods.pop_first() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(oldest.approx_bytes());
        }
    }
}

/// The aggregates held.
#[derive(Default)]
pub struct Projection {
    members: RwLock<HashMap<BureauId, MemberPeriods>>,
}

impl Projection {
    /// Keeps `aggregate` from `member` (already checked by the protocol), replacing the one
    /// it held for that period.
    pub fn put(&self, member: BureauId, aggregate: Aggregate) {
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(member)
            .or_insert_with(|| MemberPeriods {
                id: member.to_string(),
                periods: BTreeMap::new(),
                bytes: 0,
            })
            .put(aggregate);
    }

    /// Every aggregate held in `[from, to]`, with its member's id and country (`country_of`).
    pub fn between(
        &self,
        from: Period,
        to: Period,
        country_of: impl Fn(&BureauId) -> String,
    ) -> Vec<MemberAggregate> {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (member, held) in members.iter() {
            let country = country_of(member);
            for aggregate in held.periods.range(from..=to).map(|(_, a)| a) {
                out.push(MemberAggregate {
                    member: held.id.clone(),
                    country: country.clone(),
                    aggregate: aggregate.clone(),
                });
            }
        }
        out
    }

    /// Aggregates held and the bytes they take, for the metrics.
    pub fn size(&self) -> (usize, usize) {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        members
            .values()
            .fold((0, 0), |(n, b), m| (n + m.periods.len(), b + m.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use striae_protocol::analysis::Count;

    fn aggregate(period: Period, value: u64) -> Aggregate {
        Aggregate {
            period,
            min_count: 5,
            counts: vec![Count {
                metric: "checks".into(),
                key: "hits".into(),
                value,
            }],
            routes: Vec::new(),
        }
    }

    #[test]
    fn a_later_publication_replaces_the_period_and_old_periods_go_first() {
        let p = Projection::default();
        let member = BureauId([1; 32]);
        let mut period = Period::parse("2020-01").unwrap();
        p.put(member, aggregate(period, 5));
        p.put(member, aggregate(period, 9));
        let all = |p: &Projection| {
            p.between(
                Period::parse("2000-01").unwrap(),
                Period::parse("2100-01").unwrap(),
                |_| "FR".into(),
            )
        };
        assert_eq!(all(&p).len(), 1);
        assert_eq!(all(&p)[0].aggregate.counts[0].value, 9);
        for _ in 0..MAX_PERIODS_PER_MEMBER + 5 {
            period = period.next();
            p.put(member, aggregate(period, 5));
        }
        let held = all(&p);
        assert_eq!(held.len(), MAX_PERIODS_PER_MEMBER);
        assert!(
            held.iter()
                .all(|a| a.aggregate.period.to_string() != "2020-01")
        );
    }
}
