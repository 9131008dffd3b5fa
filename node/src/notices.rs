//! Notices as members see them: the projection of Orange and Purple notice operations from all
//! feeds into current records, and the views the API serves (status, expiry, receipts).

use std::{collections::HashMap, sync::RwLock};

use serde::{Deserialize, Serialize};
use striae_protocol::{
    Body, BureauId, NoticeContent, NoticeId, NoticeKind, NoticeOp, VerifiedEntry,
};

use crate::{
    config::Roster,
    store::{Store, StoreError},
};

/// A notice's current state, as the projection holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoticeRecord {
    /// Id (hex).
    pub id: NoticeId,
    /// The issuing member.
    #[serde(with = "crate::store::bureau_hex")]
    pub issuer: BureauId,
    /// Seq of the issuing entry in the issuer's feed.
    pub issue_seq: u64,
    /// `orange` or `purple`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Summary.
    pub summary: String,
    /// Body.
    pub body: String,
    /// Issued, ms since epoch (issuer's clock).
    pub issued_at_ms: u64,
    /// Last changed, ms since epoch (issuer's clock).
    pub updated_at_ms: u64,
    /// Expiry, ms since epoch.
    pub expires_at_ms: u64,
    /// 1 at issue, +1 per update.
    pub version: u32,
    /// Set when cancelled, ms since epoch.
    pub cancelled_at_ms: Option<u64>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Seq of the last operation applied (re-applying an older one is a no-op).
    pub last_seq: u64,
    /// When this node received it, ms since epoch (this node's clock).
    pub received_at_ms: u64,
}

/// A notice's status at a moment.
pub fn status_at(record: &NoticeRecord, now_ms: u64) -> &'static str {
    if record.cancelled_at_ms.is_some() {
        "cancelled"
    } else if now_ms >= record.expires_at_ms {
        "expired"
    } else {
        "active"
    }
}

fn apply_content(record: &mut NoticeRecord, content: &NoticeContent) {
    record.kind = content.kind.as_str().to_string();
    record.title = content.title.clone();
    record.summary = content.summary.clone();
    record.body = content.body.clone();
    record.expires_at_ms = content.expires_at_ms;
}

/// The notices held: the projection of every feed's notice operations, kept in memory and
/// rebuilt from the stored feeds at start (the signed entries are the durable truth; notices
/// are few, and a per-notice database write would cost more than verifying the entry).
#[derive(Default)]
pub struct Notices {
    records: RwLock<Held>,
}

/// Most memory the notices of one member may take here (a member issues a few hundred
/// notices a year; each is at most a few tens of KB). Notices past it are skipped with a
/// warning: a member with a valid key cannot fill every node's memory with notices.
pub const MAX_NOTICE_BYTES_PER_MEMBER: usize = 64 << 20;

/// The notices and what each issuer's take in memory.
#[derive(Default)]
struct Held {
    records: HashMap<NoticeId, NoticeRecord>,
    bytes: HashMap<BureauId, usize>,
}

fn notice_bytes(content: &NoticeContent) -> usize {
    content.title.len() + content.summary.len() + content.body.len() + 256
}

impl Held {
    /// Whether `issuer` may hold `grow` more bytes; if so they are counted.
    fn make_room(&mut self, issuer: BureauId, grow: isize) -> bool {
        let used = self.bytes.entry(issuer).or_default();
        let after = used.saturating_add_signed(grow);
        if grow > 0 && after > MAX_NOTICE_BYTES_PER_MEMBER {
            return false;
        }
        *used = after;
        true
    }
}

impl Notices {
    /// Applies the notice operations among `entries` (verified, in feed order). Operations
    /// that break a rule (an update by someone other than the issuer, an invalid content) are
    /// skipped with a warning: the entry itself stays in the feed, as signed.
    pub fn project(&self, entries: &[VerifiedEntry], received_at_ms: u64) {
        let Ok(mut records) = self.records.write() else {
            return;
        };
        for e in entries {
            let Body::Notice(op) = &e.entry.body else {
                continue;
            };
            if let Err(err) = op.validate(e.entry.timestamp_ms) {
                tracing::warn!(origin = %e.entry.origin, seq = e.entry.seq, "invalid notice operation skipped: {err}");
                continue;
            }
            if !room_for(&mut records, e, op) {
                tracing::warn!(origin = %e.entry.origin, seq = e.entry.seq, "notice skipped: the member's notices take {MAX_NOTICE_BYTES_PER_MEMBER} bytes here already");
                continue;
            }
            apply(&mut records.records, e, op, received_at_ms);
        }
    }

    /// One notice.
    pub fn get(&self, id: &NoticeId) -> Option<NoticeRecord> {
        self.records.read().ok()?.records.get(id).cloned()
    }

    /// Every notice held.
    pub fn list(&self) -> Vec<NoticeRecord> {
        self.records
            .read()
            .map(|r| r.records.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// Counts what `op` adds to its issuer's notices, or says there is no room for it.
fn room_for(held: &mut Held, e: &VerifiedEntry, op: &NoticeOp) -> bool {
    let grow = match op {
        NoticeOp::Issue(content) => notice_bytes(content) as isize,
        NoticeOp::Update { notice, content } => match held.records.get(notice) {
            Some(old) if old.issuer == e.entry.origin => {
                let before = old.title.len() + old.summary.len() + old.body.len() + 256;
                notice_bytes(content) as isize - before as isize
            }
            _ => 0,
        },
        NoticeOp::Cancel { reason, .. } => reason.len() as isize,
    };
    held.make_room(e.entry.origin, grow)
}

fn apply(
    records: &mut HashMap<NoticeId, NoticeRecord>,
    e: &VerifiedEntry,
    op: &NoticeOp,
    received_at_ms: u64,
) {
    match op {
        NoticeOp::Issue(content) => {
            let id = NoticeId::from_entry(&e.id);
            let mut record = NoticeRecord {
                id,
                issuer: e.entry.origin,
                issue_seq: e.entry.seq,
                kind: String::new(),
                title: String::new(),
                summary: String::new(),
                body: String::new(),
                issued_at_ms: e.entry.timestamp_ms,
                updated_at_ms: e.entry.timestamp_ms,
                expires_at_ms: 0,
                version: 1,
                cancelled_at_ms: None,
                cancel_reason: None,
                last_seq: e.entry.seq,
                received_at_ms,
            };
            apply_content(&mut record, content);
            records.insert(id, record);
        }
        NoticeOp::Update { notice, content } => {
            if let Some(record) = applicable(records, notice, e) {
                apply_content(record, content);
                record.version += 1;
                record.updated_at_ms = e.entry.timestamp_ms;
                record.last_seq = e.entry.seq;
            }
        }
        NoticeOp::Cancel { notice, reason } => {
            if let Some(record) = applicable(records, notice, e) {
                record.cancelled_at_ms = Some(e.entry.timestamp_ms);
                record.cancel_reason = Some(reason.clone());
                record.updated_at_ms = e.entry.timestamp_ms;
                record.last_seq = e.entry.seq;
            }
        }
    }
}

/// The record an update or cancel applies to, if it may: it exists, the entry's origin issued
/// it, and the entry is newer than the last operation applied.
fn applicable<'a>(
    records: &'a mut HashMap<NoticeId, NoticeRecord>,
    notice: &NoticeId,
    e: &VerifiedEntry,
) -> Option<&'a mut NoticeRecord> {
    let Some(record) = records.get_mut(notice) else {
        tracing::warn!(%notice, origin = %e.entry.origin, "operation on an unknown notice skipped");
        return None;
    };
    if record.issuer != e.entry.origin {
        tracing::warn!(%notice, origin = %e.entry.origin, "operation by a member that did not issue the notice skipped");
        return None;
    }
    if e.entry.seq <= record.last_seq {
        return None;
    }
    Some(record)
}

/// One receipt: a member that holds the notice, and since when.
#[derive(Clone, Debug, Serialize)]
pub struct Ack {
    /// Member country.
    pub country: String,
    /// Member id.
    pub bureau_id: BureauId,
    /// RFC 3339.
    pub at: String,
}

/// Which members hold the notice: the issuer since it issued it, this node since it received
/// it, and every other member since its signed heads first reached the issuing entry. Those
/// receipts are kept by the issuer's node; elsewhere the list names the issuer and this node.
pub fn acks(
    store: &Store,
    roster: &Roster,
    me: &BureauId,
    record: &NoticeRecord,
) -> Result<Vec<Ack>, StoreError> {
    let mut out = Vec::new();
    for member in roster.members.values() {
        let at = if member.bureau == record.issuer {
            Some(record.issued_at_ms)
        } else if member.bureau == *me {
            Some(record.received_at_ms)
        } else {
            store.acked_at(&member.bureau, &record.issuer, record.issue_seq)?
        };
        if let Some(at) = at {
            out.push(Ack {
                country: member.country.clone(),
                bureau_id: member.bureau,
                at: rfc3339(at),
            });
        }
    }
    Ok(out)
}

/// Milliseconds since the epoch as RFC 3339 (UTC, millisecond precision).
///
/// Never fails: a time after the last one RFC 3339 can write (what a member could have signed
/// before `MAX_TIME_MS` was enforced, or an expiry five years past a late timestamp) shows as
/// that last instant.
pub fn rfc3339(ms: u64) -> String {
    let ms = ms.min(striae_protocol::time::MAX_TIME_MS);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// The notice kind named in the API.
pub fn parse_kind(text: &str) -> Result<NoticeKind, striae_protocol::NoticeError> {
    text.parse()
}

impl crate::core::Capability for Notices {
    fn name(&self) -> &'static str {
        "notices"
    }

    fn replay(&self, entry: &VerifiedEntry, received_at_ms: u64) {
        self.project(std::slice::from_ref(entry), received_at_ms);
    }

    fn apply(
        &self,
        run: &[VerifiedEntry],
        received_at_ms: u64,
    ) -> Result<(), crate::store::StoreError> {
        self.project(run, received_at_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use striae_protocol::{
        Entry, EntryId, NetworkId, NoticeKind, Signer, feed::ENTRY_VERSION, notice::MAX_BODY_BYTES,
        time::now_ms,
    };

    use super::*;

    #[test]
    fn one_member_cannot_fill_memory_with_notices_and_others_still_apply() {
        let net = NetworkId::from_name("t");
        let (flooder, honest) = (Signer::from_seed([1; 32]), Signer::from_seed([2; 32]));
        let notices = Notices::default();
        let now = now_ms();
        let issue = |signer: &Signer, seq: u64, prev: EntryId| {
            Entry {
                version: ENTRY_VERSION,
                origin: signer.bureau(),
                seq,
                prev,
                timestamp_ms: now,
                body: Body::Notice(NoticeOp::Issue(NoticeContent {
                    kind: NoticeKind::Purple,
                    title: format!("n{seq}"),
                    summary: "s".into(),
                    body: "x".repeat(MAX_BODY_BYTES),
                    expires_at_ms: now + 1_000,
                })),
            }
            .sign(signer, &net)
            .expect("test fixture")
        };
        let mut prev = EntryId::GENESIS;
        let flood = MAX_NOTICE_BYTES_PER_MEMBER / MAX_BODY_BYTES + 50;
        for seq in 1..=flood as u64 {
            let e = issue(&flooder, seq, prev);
            prev = e.id;
            notices.project(std::slice::from_ref(&e), now);
        }
        let held = notices.list().len();
        assert!(held < flood && held > flood - 100, "{held} of {flood}");
        notices.project(&[issue(&honest, 1, EntryId::GENESIS)], now);
        assert_eq!(notices.list().len(), held + 1);
    }

    #[test]
    fn any_time_formats_without_panicking() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            rfc3339(striae_protocol::time::MAX_TIME_MS + 1),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
