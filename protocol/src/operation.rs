//! Joint operations (INTERPOL TRIGGER-style): a coordinator's signed operation naming its
//! participants, each participant's signed join, and each participant's signed seizure
//! records. None of it goes into the feeds, which every member replicates: every message
//! travels point to point, to the operation's participants only, and carries the
//! coordinator's signed operation so that a receiver can check, from the coordinator's own
//! words, that both it and the sender take part.

use std::fmt;

use bincode::{Decode, Encode};

use crate::{
    firearm::RecordRef,
    identity::BureauId,
    signed::{SignedKind, SignedMessage},
    time::MAX_TIME_MS,
};

/// Most participants of one operation, the coordinator included.
pub const MAX_PARTICIPANTS: usize = 64;
/// Longest operation name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest operation description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// Longest place of a seizure, in characters.
pub const MAX_PLACE_CHARS: usize = 200;
/// Longest description of a seized item, in characters.
pub const MAX_ITEM_DESCRIPTION_CHARS: usize = 200;
/// Most items one seizure record lists.
pub const MAX_SEIZURE_ITEMS: usize = 64;
/// Largest count of one item (a seizure of a million rounds is plausible; more is a typo).
pub const MAX_ITEM_COUNT: u32 = 1_000_000;
/// Most arrests one seizure record states.
pub const MAX_ARRESTS: u32 = 10_000;
/// Largest encoded operation.
pub const MAX_OPERATION_BYTES: usize = 64 * 1024;
/// Largest encoded seizure record.
pub const MAX_SEIZURE_BYTES: usize = 64 * 1024;
/// Largest encoded join.
pub const MAX_JOIN_BYTES: usize = 256;
/// Largest encoded delivery (an operation and a seizure, each signed).
pub const MAX_DELIVERY_BYTES: usize = MAX_OPERATION_BYTES + MAX_SEIZURE_BYTES + 1024;
/// A refusal that starts with this is final: the sender drops the message. Any other refusal
/// (rate limited, busy, a receiver's disk failing) is tried again later.
pub const REFUSED_FINAL: &str = "operation refused: ";

/// An operation's id: derived from its coordinator and a random salt, so that no other
/// member can claim an id first and have its own operation taken for the coordinator's.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct OperationId(pub [u8; 16]);

impl OperationId {
    /// The id of the operation `coordinator` creates with `salt`.
    pub fn derive(coordinator: &BureauId, salt: &[u8; 16]) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key("striae operation id v1");
        hasher.update(&coordinator.0);
        hasher.update(salt);
        let mut out = [0u8; 16];
        out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        OperationId(out)
    }

    /// Lower-case hex (32 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 32 hex characters.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(OperationId(out))
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperationId({})", self.to_hex())
    }
}

/// A field of an operation message that breaks a rule, named as the API names it
/// (`participants`, `ends_at`, `items[2].count`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OperationError {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl OperationError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        OperationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a text field: present if `required`, at most `max_chars`, and no control
/// characters (they would reach other members' terminals) except line breaks and tabs where
/// `multiline`.
pub fn check_text(
    field: &str,
    value: &str,
    max_chars: usize,
    required: bool,
    multiline: bool,
) -> Result<(), OperationError> {
    if required && value.trim().is_empty() {
        return Err(OperationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(OperationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(OperationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// One participant as the coordinator names it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Participant {
    /// The member.
    pub bureau: BureauId,
    /// Its country code, as the coordinator's roster says (for display).
    pub country: String,
}

/// An operation, signed by its coordinator and sent to each participant.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Operation {
    /// `OperationId::derive(coordinator, salt)`.
    pub id: OperationId,
    /// Random, chosen by the coordinator.
    pub salt: [u8; 16],
    /// The member that created it and coordinates it.
    pub coordinator: BureauId,
    /// 1 when created; a later version from the coordinator replaces an earlier one.
    pub version: u32,
    /// When this version was signed, ms since the epoch.
    pub issued_at_ms: u64,
    /// A short name.
    pub name: String,
    /// What the operation targets (may be empty).
    pub description: String,
    /// Every participant, the coordinator first.
    pub participants: Vec<Participant>,
    /// When it starts, ms since the epoch.
    pub starts_at_ms: u64,
    /// When it ends, ms since the epoch (after the start).
    pub ends_at_ms: u64,
    /// The requesting bureau's reference for the user who asked (`acting` module): empty when
    /// the node acted on its own. Last, so bytes signed before it existed still read.
    pub acting: String,
}

impl Operation {
    /// Checks its bounds and consistency; names the offending field.
    pub fn check(&self) -> Result<(), OperationError> {
        if self.id != OperationId::derive(&self.coordinator, &self.salt) {
            return Err(OperationError::new(
                "id",
                "is not derived from the coordinator",
            ));
        }
        if self.version == 0 {
            return Err(OperationError::new("version", "starts at 1"));
        }
        check_text("name", &self.name, MAX_NAME_CHARS, true, false)?;
        check_text(
            "description",
            &self.description,
            MAX_DESCRIPTION_CHARS,
            false,
            true,
        )?;
        self.check_participants()?;
        for (field, ms) in [
            ("issued_at", self.issued_at_ms),
            ("starts_at", self.starts_at_ms),
            ("ends_at", self.ends_at_ms),
        ] {
            if ms > MAX_TIME_MS {
                return Err(OperationError::new(field, "is after the year 9999"));
            }
        }
        if self.ends_at_ms <= self.starts_at_ms {
            return Err(OperationError::new("ends_at", "must be after starts_at"));
        }
        Ok(())
    }

    fn check_participants(&self) -> Result<(), OperationError> {
        let list = &self.participants;
        if list.len() < 2 {
            return Err(OperationError::new(
                "participants",
                "name at least one member besides the coordinator",
            ));
        }
        if list.len() > MAX_PARTICIPANTS {
            return Err(OperationError::new(
                "participants",
                format!("at most {MAX_PARTICIPANTS} members, the coordinator included"),
            ));
        }
        if list[0].bureau != self.coordinator {
            return Err(OperationError::new(
                "participants",
                "the coordinator comes first",
            ));
        }
        for (i, p) in list.iter().enumerate() {
            let code = p.country.as_bytes();
            if code.len() != 2 || !code.iter().all(u8::is_ascii_uppercase) {
                return Err(OperationError::new(
                    format!("participants[{i}]"),
                    "a country code is two capital letters",
                ));
            }
            if list[..i].iter().any(|q| q.bureau == p.bureau) {
                return Err(OperationError::new(
                    format!("participants[{i}]"),
                    "is named twice",
                ));
            }
        }
        Ok(())
    }

    /// Whether `member` takes part.
    pub fn is_participant(&self, member: &BureauId) -> bool {
        self.participants.iter().any(|p| p.bureau == *member)
    }
}

impl SignedKind for Operation {
    const DOMAIN: &'static [u8] = b"striae-operation-v1:";
    const MAX_BYTES: usize = MAX_OPERATION_BYTES;
    fn signer(&self) -> BureauId {
        self.coordinator
    }
    const ACTING_LAST: bool = true;
    fn acting(&self) -> &str {
        &self.acting
    }
}

/// "We take part": a participant's signed join, sent to every other participant.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct OperationJoin {
    /// The operation joined.
    pub operation: OperationId,
    /// The participant.
    pub participant: BureauId,
    /// When it joined, ms since the epoch.
    pub joined_at_ms: u64,
    /// The requesting bureau's reference for the user who asked (`acting` module): empty when
    /// the node acted on its own. Last, so bytes signed before it existed still read.
    pub acting: String,
}

impl OperationJoin {
    /// Checks its time.
    pub fn check(&self) -> Result<(), OperationError> {
        if self.joined_at_ms > MAX_TIME_MS {
            return Err(OperationError::new("joined_at", "is after the year 9999"));
        }
        Ok(())
    }
}

impl SignedKind for OperationJoin {
    const DOMAIN: &'static [u8] = b"striae-operation-join-v1:";
    const MAX_BYTES: usize = MAX_JOIN_BYTES;
    fn signer(&self) -> BureauId {
        self.participant
    }
    const ACTING_LAST: bool = true;
    fn acting(&self) -> &str {
        &self.acting
    }
}

/// What a seized item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum ItemCategory {
    /// A firearm (may name one of the author's firearm records).
    Firearm,
    /// Rounds of ammunition.
    Ammunition,
    /// Drugs (count: packages or units, as the description says).
    Drugs,
    /// A vehicle.
    Vehicle,
    /// Falsified or illicit medicine.
    Medicine,
    /// Anything else.
    Other,
}

impl ItemCategory {
    /// Every category, in the order reports show them.
    pub const ALL: [ItemCategory; 6] = [
        ItemCategory::Firearm,
        ItemCategory::Ammunition,
        ItemCategory::Drugs,
        ItemCategory::Vehicle,
        ItemCategory::Medicine,
        ItemCategory::Other,
    ];

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemCategory::Firearm => "firearm",
            ItemCategory::Ammunition => "ammunition",
            ItemCategory::Drugs => "drugs",
            ItemCategory::Vehicle => "vehicle",
            ItemCategory::Medicine => "medicine",
            ItemCategory::Other => "other",
        }
    }

    /// From the API's name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// One line of a seizure record.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SeizedItem {
    /// What was seized.
    pub category: ItemCategory,
    /// How many (1 to `MAX_ITEM_COUNT`).
    pub count: u32,
    /// Free text (may be empty).
    pub description: String,
    /// One of the author's firearm records (firearms only), by the reference the author's
    /// node shows for it.
    pub firearm_ref: Option<RecordRef>,
}

/// A participant's seizure record, signed by it and sent to every other participant.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Seizure {
    /// The operation it belongs to.
    pub operation: OperationId,
    /// Chosen by the author: the time it was recorded (8 bytes, big-endian ms) then 8 random
    /// bytes, so one author's records sort in the order they were made.
    pub seizure_id: [u8; 16],
    /// The participant that recorded it.
    pub author: BureauId,
    /// When it was recorded, ms since the epoch.
    pub recorded_at_ms: u64,
    /// The day of the seizure, `YYYY-MM-DD`.
    pub date: String,
    /// Where (may be empty).
    pub place: String,
    /// What was seized.
    pub items: Vec<SeizedItem>,
    /// People arrested.
    pub arrests: u32,
    /// The requesting bureau's reference for the user who asked (`acting` module): empty when
    /// the node acted on its own. Last, so bytes signed before it existed still read.
    pub acting: String,
}

impl Seizure {
    /// Checks its bounds; names the offending field.
    pub fn check(&self) -> Result<(), OperationError> {
        check_seizure_fields(&self.date, &self.place, &self.items, self.arrests)?;
        if self.recorded_at_ms > MAX_TIME_MS {
            return Err(OperationError::new("recorded_at", "is after the year 9999"));
        }
        Ok(())
    }
}

/// Checks what a participant writes in a seizure record (the API checks a request with it
/// before it looks the operation up); names the offending field.
pub fn check_seizure_fields(
    date: &str,
    place: &str,
    items: &[SeizedItem],
    arrests: u32,
) -> Result<(), OperationError> {
    if !is_calendar_date(date) {
        return Err(OperationError::new(
            "date",
            "is not a date YYYY-MM-DD (e.g. 2026-03-14)",
        ));
    }
    check_text("place", place, MAX_PLACE_CHARS, false, false)?;
    if items.is_empty() || items.len() > MAX_SEIZURE_ITEMS {
        return Err(OperationError::new(
            "items",
            format!("list 1 to {MAX_SEIZURE_ITEMS} items"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        check_item(i, item)?;
    }
    if arrests > MAX_ARRESTS {
        return Err(OperationError::new(
            "arrests",
            format!("must be at most {MAX_ARRESTS}"),
        ));
    }
    Ok(())
}

fn check_item(i: usize, item: &SeizedItem) -> Result<(), OperationError> {
    if item.count == 0 || item.count > MAX_ITEM_COUNT {
        return Err(OperationError::new(
            format!("items[{i}].count"),
            format!("must be 1 to {MAX_ITEM_COUNT}"),
        ));
    }
    check_text(
        &format!("items[{i}].description"),
        &item.description,
        MAX_ITEM_DESCRIPTION_CHARS,
        false,
        false,
    )?;
    if item.firearm_ref.is_some() && item.category != ItemCategory::Firearm {
        return Err(OperationError::new(
            format!("items[{i}].firearm_id"),
            "only a firearm names a firearm record",
        ));
    }
    Ok(())
}

impl SignedKind for Seizure {
    const DOMAIN: &'static [u8] = b"striae-operation-seizure-v1:";
    const MAX_BYTES: usize = MAX_SEIZURE_BYTES;
    fn signer(&self) -> BureauId {
        self.author
    }
    const ACTING_LAST: bool = true;
    fn acting(&self) -> &str {
        &self.acting
    }
}

/// Whether `text` is a calendar date `YYYY-MM-DD` from 1970 to 9999.
pub fn is_calendar_date(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b[range.clone()].iter().all(u8::is_ascii_digit).then(|| {
            b[range]
                .iter()
                .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1970 && (1..=days).contains(&day)
}

/// What a delivery carries besides the operation.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Delivered {
    /// The operation itself (the coordinator's invitation).
    Invite,
    /// A signed `OperationJoin` of the sender.
    Join(SignedMessage),
    /// A signed `Seizure` of the sender.
    Seizure(SignedMessage),
}

/// One message between participants: the coordinator's signed `Operation` (so that the
/// receiver learns the operation from whichever participant reaches it first, in any order)
/// and what the sender says about it. Answered `Received` once kept, or `Refused`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct OperationDelivery {
    /// A signed `Operation`, signed by its coordinator.
    pub operation: SignedMessage,
    /// The invitation, a join or a seizure record.
    pub delivered: Delivered,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{NetworkId, Signer};

    fn operation(coordinator: &Signer) -> Operation {
        let salt = [7; 16];
        Operation {
            id: OperationId::derive(&coordinator.bureau(), &salt),
            salt,
            coordinator: coordinator.bureau(),
            version: 1,
            issued_at_ms: 1_767_225_600_000,
            name: "TRIGGER Balkan".into(),
            description: "Small arms trafficking on the western route".into(),
            participants: vec![
                Participant {
                    bureau: coordinator.bureau(),
                    country: "FR".into(),
                },
                Participant {
                    bureau: BureauId([2; 32]),
                    country: "DE".into(),
                },
            ],
            starts_at_ms: 1_767_225_600_000,
            ends_at_ms: 1_768_435_200_000,
            acting: String::new(),
        }
    }

    fn seizure() -> Seizure {
        Seizure {
            operation: OperationId([1; 16]),
            seizure_id: [3; 16],
            author: BureauId([2; 32]),
            recorded_at_ms: 1_767_225_600_000,
            date: "2026-01-02".into(),
            place: "Port of Hamburg".into(),
            items: vec![SeizedItem {
                category: ItemCategory::Firearm,
                count: 2,
                description: "pistols".into(),
                firearm_ref: Some(RecordRef([4; 16])),
            }],
            arrests: 1,
            acting: String::new(),
        }
    }

    #[test]
    fn an_operation_checks_and_names_the_offending_field() {
        let signer = Signer::from_seed([1; 32]);
        assert_eq!(operation(&signer).check(), Ok(()));
        let field = |o: Operation| o.check().unwrap_err().field;
        let mut o = operation(&signer);
        o.ends_at_ms = o.starts_at_ms;
        assert_eq!(field(o), "ends_at");
        let mut o = operation(&signer);
        o.participants.truncate(1);
        assert_eq!(field(o), "participants");
        let mut o = operation(&signer);
        o.participants.swap(0, 1);
        assert_eq!(field(o), "participants");
        let mut o = operation(&signer);
        o.participants.push(o.participants[1].clone());
        assert_eq!(field(o), "participants[2]");
        let mut o = operation(&signer);
        o.participants[1].country = "de".into();
        assert_eq!(field(o), "participants[1]");
        let mut o = operation(&signer);
        o.name = "x".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(field(o), "name");
        let mut o = operation(&signer);
        o.description = "line one\nline two\u{1b}[31m".into();
        assert_eq!(field(o), "description");
        let mut o = operation(&signer);
        o.salt = [8; 16];
        assert_eq!(field(o), "id");
        let mut o = operation(&signer);
        o.ends_at_ms = MAX_TIME_MS + 1;
        assert_eq!(field(o), "ends_at");
    }

    #[test]
    fn an_id_is_bound_to_its_coordinator() {
        let salt = [9; 16];
        let a = OperationId::derive(&BureauId([1; 32]), &salt);
        let b = OperationId::derive(&BureauId([2; 32]), &salt);
        assert_ne!(a, b);
        assert_eq!(OperationId::from_hex(&a.to_hex()), Some(a));
        assert_eq!(OperationId::from_hex("zz"), None);
        assert_eq!(OperationId::from_hex(&format!(" {}", a.to_hex())), None);
    }

    #[test]
    fn a_seizure_checks_and_names_the_offending_field() {
        assert_eq!(seizure().check(), Ok(()));
        let field = |s: Seizure| s.check().unwrap_err().field;
        let mut s = seizure();
        s.items[0].count = 0;
        assert_eq!(field(s), "items[0].count");
        let mut s = seizure();
        s.items[0].count = MAX_ITEM_COUNT + 1;
        assert_eq!(field(s), "items[0].count");
        let mut s = seizure();
        s.items[0].category = ItemCategory::Drugs;
        assert_eq!(field(s), "items[0].firearm_id");
        let mut s = seizure();
        s.items.clear();
        assert_eq!(field(s), "items");
        let mut s = seizure();
        s.items = vec![s.items[0].clone(); MAX_SEIZURE_ITEMS + 1];
        assert_eq!(field(s), "items");
        let mut s = seizure();
        s.date = "2026-02-30".into();
        assert_eq!(field(s), "date");
        let mut s = seizure();
        s.place = "x".repeat(MAX_PLACE_CHARS + 1);
        assert_eq!(field(s), "place");
        let mut s = seizure();
        s.arrests = MAX_ARRESTS + 1;
        assert_eq!(field(s), "arrests");
        let mut s = seizure();
        s.items.push(SeizedItem {
            category: ItemCategory::Other,
            count: 1,
            description: "x".repeat(MAX_ITEM_DESCRIPTION_CHARS + 1),
            firearm_ref: None,
        });
        let err = s.check().unwrap_err();
        assert_eq!(err.field, "items[1].description");
        assert_eq!(
            err.to_string(),
            format!(
                "items[1].description: must be at most {MAX_ITEM_DESCRIPTION_CHARS} characters"
            )
        );
    }

    #[test]
    fn dates_are_calendar_dates() {
        for good in [
            "2026-01-31",
            "2024-02-29",
            "2000-02-29",
            "1970-01-01",
            "9999-12-31",
        ] {
            assert!(is_calendar_date(good), "{good}");
        }
        for bad in [
            "2026-1-31",
            "2025-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "1969-12-31",
            "2026/01/31",
            "2026-01-3a",
            "２０２６-01-01",
            "",
        ] {
            assert!(!is_calendar_date(bad), "{bad}");
        }
    }

    #[test]
    fn categories_parse_their_names() {
        for c in ItemCategory::ALL {
            assert_eq!(ItemCategory::parse(c.as_str()), Some(c));
        }
        assert_eq!(ItemCategory::parse("Firearm"), None);
    }

    #[test]
    fn signatures_are_bound_to_their_kind_and_signer() {
        let net = NetworkId::from_name("test");
        let coordinator = Signer::from_seed([1; 32]);
        let signed = SignedMessage::sign(&operation(&coordinator), &coordinator, &net).unwrap();
        assert_eq!(
            signed.open::<Operation>(&net).unwrap(),
            operation(&coordinator)
        );
        // The same bytes do not open as another kind.
        assert!(signed.open::<Seizure>(&net).is_err());
        let other = Signer::from_seed([2; 32]);
        assert!(SignedMessage::sign(&operation(&coordinator), &other, &net).is_err());
        assert!(
            signed
                .open_from::<Operation>(&net, &other.bureau())
                .is_err()
        );
    }

    #[test]
    fn the_largest_messages_fit_their_bounds() {
        let coordinator = Signer::from_seed([1; 32]);
        let mut o = operation(&coordinator);
        o.name = "\u{1F52B}".repeat(MAX_NAME_CHARS);
        o.description = "\u{1F52B}".repeat(MAX_DESCRIPTION_CHARS);
        o.participants = (0..MAX_PARTICIPANTS)
            .map(|i| Participant {
                bureau: if i == 0 {
                    coordinator.bureau()
                } else {
                    BureauId([i as u8; 32])
                },
                country: "ZZ".into(),
            })
            .collect();
        let bytes = crate::codec::encode(&o, usize::MAX).unwrap();
        assert!(bytes.len() <= MAX_OPERATION_BYTES, "{}", bytes.len());
        let mut s = seizure();
        s.place = "\u{1F52B}".repeat(MAX_PLACE_CHARS);
        s.items = vec![
            SeizedItem {
                category: ItemCategory::Firearm,
                count: MAX_ITEM_COUNT,
                description: "\u{1F52B}".repeat(MAX_ITEM_DESCRIPTION_CHARS),
                firearm_ref: Some(RecordRef([1; 16])),
            };
            MAX_SEIZURE_ITEMS
        ];
        assert_eq!(s.check(), Ok(()));
        let bytes = crate::codec::encode(&s, usize::MAX).unwrap();
        assert!(bytes.len() <= MAX_SEIZURE_BYTES, "{}", bytes.len());
    }
}
