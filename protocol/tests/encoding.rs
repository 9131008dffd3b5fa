//! Golden vectors pin the canonical encoding and signatures; property tests cover round trips,
//! verification, and that changing any byte of a signed entry makes it fail.

use proptest::prelude::*;
use striae_protocol::{
    Body, Entry, EntryId, Head, Heads, NetworkId, NoticeContent, NoticeId, NoticeKind, NoticeOp,
    SignedMessage, Signer, SyncRequest,
    feed::{ENTRY_VERSION, UnverifiedEntry},
    firearm::RecordRef,
    operation::{
        Delivered, ItemCategory, Operation, OperationDelivery, OperationId, Participant,
        SeizedItem, Seizure,
    },
};

fn golden_entry(signer: &Signer) -> Entry {
    Entry {
        version: ENTRY_VERSION,
        origin: signer.bureau(),
        seq: 7,
        prev: EntryId([0x11; 32]),
        timestamp_ms: 1_767_225_600_000,
        body: Body::Notice(NoticeOp::Cancel {
            notice: NoticeId([0x22; 16]),
            reason: "threat over".into(),
        }),
    }
}

const GOLDEN_ENTRY_WIRE: &str = include_str!("golden/entry_wire.hex");
const GOLDEN_PULL: &str = include_str!("golden/pull_request.hex");
const GOLDEN_OPERATION_SEIZURE_BEFORE_ACTING: &str =
    include_str!("golden/operation_seizure_before_acting.hex");
const GOLDEN_OPERATION_SEIZURE_ACTING: &str = include_str!("golden/operation_seizure.hex");

#[test]
fn entry_encoding_and_signature_match_the_golden_vector() {
    let signer = Signer::from_seed([42; 32]);
    let signed = golden_entry(&signer)
        .sign(&signer, &NetworkId::from_name("golden"))
        .unwrap();
    assert_eq!(
        hex::encode(&signed.wire),
        GOLDEN_ENTRY_WIRE.trim(),
        "the canonical encoding of entries changed: that breaks every stored feed"
    );
    let back = UnverifiedEntry::decode(&signed.wire)
        .unwrap()
        .verify(&NetworkId::from_name("golden"))
        .unwrap();
    assert_eq!(back.entry, golden_entry(&signer));
}

#[test]
fn sync_request_encoding_matches_the_golden_vector() {
    let signer = Signer::from_seed([42; 32]);
    let request = SyncRequest::Pull {
        origin: signer.bureau(),
        from_seq: 1025,
        limit: 1024,
    };
    assert_eq!(hex::encode(request.encode().unwrap()), GOLDEN_PULL.trim());
    assert_eq!(
        SyncRequest::decode(&request.encode().unwrap()).unwrap(),
        request
    );
}

/// A seizure record as one participant sends it to another: the coordinator's signed
/// operation and the author's signed seizure, inside a sync request.
fn golden_operation_delivery(acting: &str) -> SyncRequest {
    let net = NetworkId::from_name("golden");
    let coordinator = Signer::from_seed([42; 32]);
    let author = Signer::from_seed([43; 32]);
    let salt = [0x33; 16];
    let id = OperationId::derive(&coordinator.bureau(), &salt);
    let op = Operation {
        id,
        salt,
        coordinator: coordinator.bureau(),
        version: 1,
        issued_at_ms: 1_767_225_600_000,
        name: "TRIGGER Golden".into(),
        description: "Arms trafficking".into(),
        participants: vec![
            Participant {
                bureau: coordinator.bureau(),
                country: "FR".into(),
            },
            Participant {
                bureau: author.bureau(),
                country: "DE".into(),
            },
        ],
        starts_at_ms: 1_767_225_600_000,
        ends_at_ms: 1_768_435_200_000,
        acting: acting.into(),
    };
    let seizure = Seizure {
        operation: id,
        seizure_id: [0x44; 16],
        author: author.bureau(),
        recorded_at_ms: 1_767_312_000_000,
        date: "2026-01-02".into(),
        place: "Kehl".into(),
        items: vec![SeizedItem {
            category: ItemCategory::Firearm,
            count: 2,
            description: "pistols".into(),
            firearm_ref: Some(RecordRef([0x55; 16])),
        }],
        arrests: 1,
        acting: acting.into(),
    };
    SyncRequest::Operation(OperationDelivery {
        operation: SignedMessage::sign(&op, &coordinator, &net).expect("signs"),
        delivered: Delivered::Seizure(SignedMessage::sign(&seizure, &author, &net).expect("signs")),
    })
}

#[test]
fn operation_delivery_encoding_and_signatures_match_the_golden_vector() {
    let request = golden_operation_delivery("5e6f0a1b2c3d4e5f60718293a4b5c6d7");
    let bytes = request.encode().unwrap();
    assert_eq!(
        hex::encode(&bytes),
        GOLDEN_OPERATION_SEIZURE_ACTING.trim(),
        "the encoding of operation messages changed: members of different versions would \
         refuse each other's seizures"
    );
    let (op, seizure) = open_delivery(&bytes);
    assert_eq!(op.acting, "5e6f0a1b2c3d4e5f60718293a4b5c6d7");
    assert_eq!(seizure.acting, op.acting);
}

#[test]
fn operation_messages_signed_before_the_acting_reference_still_open() {
    // Bytes signed by members before requests named the acting user: they end where the
    // reference would begin, and read as a reference left empty.
    let bytes = hex::decode(GOLDEN_OPERATION_SEIZURE_BEFORE_ACTING.trim()).unwrap();
    let (op, seizure) = open_delivery(&bytes);
    assert_eq!((op.acting.as_str(), seizure.acting.as_str()), ("", ""));
    assert_eq!(op.name, "TRIGGER Golden");
    // Such a value, signed again today, is the golden delivery with an empty reference.
    let now = golden_operation_delivery("").encode().unwrap();
    assert_ne!(now, bytes, "the reference is on the wire even when empty");
}

/// The operation and the seizure a golden delivery carries, both verified and checked.
fn open_delivery(bytes: &[u8]) -> (Operation, Seizure) {
    let SyncRequest::Operation(delivery) = SyncRequest::decode(bytes).expect("decodes") else {
        panic!("not an operation delivery");
    };
    let net = NetworkId::from_name("golden");
    let op: Operation = delivery.operation.open(&net).expect("operation opens");
    assert_eq!(op.check(), Ok(()));
    let Delivered::Seizure(signed) = delivery.delivered else {
        panic!("not a seizure");
    };
    let seizure: Seizure = signed
        .open_from(&net, &Signer::from_seed([43; 32]).bureau())
        .expect("seizure opens");
    assert_eq!(seizure.check(), Ok(()));
    assert!(op.is_participant(&seizure.author));
    (op, seizure)
}

fn kind() -> impl Strategy<Value = NoticeKind> {
    prop_oneof![Just(NoticeKind::Orange), Just(NoticeKind::Purple)]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (kind(), ".{0,40}", ".{0,80}", ".{0,80}", any::<u64>()).prop_map(
            |(kind, title, summary, body, expires_at_ms)| {
                Body::Notice(NoticeOp::Issue(NoticeContent {
                    kind,
                    title,
                    summary,
                    body,
                    expires_at_ms,
                }))
            }
        ),
        (any::<[u8; 16]>(), ".{0,40}").prop_map(|(id, reason)| {
            Body::Notice(NoticeOp::Cancel {
                notice: NoticeId(id),
                reason,
            })
        }),
    ]
}

fn entry() -> impl Strategy<Value = (u8, Entry)> {
    (
        any::<u8>(),
        2u64..u64::MAX,
        any::<[u8; 32]>(),
        // Every time a signed object may carry (later ones are refused when decoded).
        0..=striae_protocol::time::MAX_TIME_MS,
        body(),
    )
        .prop_map(|(seed, seq, prev, timestamp_ms, body)| {
            let signer = Signer::from_seed([seed; 32]);
            (
                seed,
                Entry {
                    version: ENTRY_VERSION,
                    origin: signer.bureau(),
                    seq,
                    prev: EntryId(prev),
                    timestamp_ms,
                    body,
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signed_entries_round_trip_and_verify((seed, e) in entry()) {
        let net = NetworkId::from_name("prop");
        let signer = Signer::from_seed([seed; 32]);
        let signed = e.clone().sign(&signer, &net).unwrap();
        let back = UnverifiedEntry::decode(&signed.wire).unwrap().verify(&net).unwrap();
        prop_assert_eq!(back.entry, e);
        prop_assert_eq!(back.id, signed.id);
        prop_assert_eq!(back.wire, signed.wire);
    }

    #[test]
    fn changing_any_byte_of_a_signed_entry_fails(
        (seed, e) in entry(),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let net = NetworkId::from_name("prop");
        let signer = Signer::from_seed([seed; 32]);
        let mut wire = e.sign(&signer, &net).unwrap().wire;
        let i = position.index(wire.len());
        wire[i] ^= flip;
        let result = UnverifiedEntry::decode(&wire).and_then(|u| u.verify(&net));
        prop_assert!(result.is_err(), "byte {} of {} changed and still verified", i, wire.len());
    }

    #[test]
    fn changing_any_byte_of_signed_heads_fails(
        seqs in prop::collection::vec(1u64..1_000_000, 1..8),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let net = NetworkId::from_name("prop");
        let member = Signer::from_seed([9; 32]);
        let mut heads: Vec<Head> = seqs
            .iter()
            .enumerate()
            .map(|(i, seq)| Head {
                origin: Signer::from_seed([i as u8 + 100; 32]).bureau(),
                seq: *seq,
                id: EntryId([i as u8; 32]),
            })
            .collect();
        heads.sort_by_key(|h| h.origin);
        let statement = Heads { member: member.bureau(), issued_at_ms: 5, heads };
        let mut signed = statement.sign(&member, &net).unwrap();
        prop_assert_eq!(signed.verify(&net).unwrap(), statement);
        let total = signed.heads_bytes.len() + 64;
        let i = position.index(total);
        if i < signed.heads_bytes.len() {
            signed.heads_bytes[i] ^= flip;
        } else {
            signed.signature[i - signed.heads_bytes.len()] ^= flip;
        }
        prop_assert!(signed.verify(&net).is_err());
    }
}
