//! Replays the fuzz corpora (`tests/fuzz/corpus/<target>/`) and every crash reproducer
//! (`tests/fuzz/regressions/<target>/`) through the same functions the libFuzzer targets call,
//! so that CI checks them on every build without a fuzzing toolchain.
//!
//! `write_seed_corpora` (ignored) writes the generated seeds: real signed entries, heads and
//! messages, framed requests and responses, X3P files, import documents, configs and rosters.

use std::{
    fs,
    path::{Path, PathBuf},
};

use striae_ballistics_lib::{
    preprocess::{PrepParams, prepare},
    signature::digest,
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::{DataType, WriteOptions, X3pScan, read_x3p, write_x3p, write_x3p_with},
};
use striae_protocol::{
    Body, Entry, EntryId, Head, Heads, NetworkId, NoticeContent, NoticeId, NoticeKind, NoticeOp,
    SignedMessage, Signer, SyncRequest, SyncResponse,
    analysis::{Aggregate, Count, Period, RouteLeg},
    ballistic::{
        BallisticDigest, Comparison, ConfirmRequest, ConfirmResponse, EvidenceKind, ProbeSurface,
    },
    codec,
    feed::{AuditAnchor, ENTRY_VERSION},
    firearm::{DigestStatus, FirearmDigest, RecordRef},
    trace::{TraceOutcome, TraceRequest, TraceResponse, TracedRecord},
};
use striae_tests::fuzz_targets::{self, FUZZ_NETWORK};

/// A target's name and the function its fuzz binary calls.
type Target = (&'static str, fn(&[u8]));

/// Every target.
const TARGETS: [Target; 9] = [
    ("entry", fuzz_targets::entry),
    ("heads", fuzz_targets::heads),
    ("sync_message", fuzz_targets::sync_message),
    ("signed_message", fuzz_targets::signed_message),
    ("codec_framing", fuzz_targets::codec_framing),
    ("x3p", fuzz_targets::x3p),
    ("import_line", fuzz_targets::import_line),
    ("config_toml", fuzz_targets::config_toml),
    ("roster_toml", fuzz_targets::roster_toml),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .map(|e| e.expect("a readable corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_and_reproducer_replays_without_a_failure() {
    for (target, run) in TARGETS {
        let corpus = files_in(&fuzz_dir().join("corpus").join(target));
        assert!(
            !corpus.is_empty(),
            "the corpus of fuzz target `{target}` is missing or empty"
        );
        let regressions = files_in(&fuzz_dir().join("regressions").join(target));
        for file in corpus.iter().chain(&regressions) {
            let data = fs::read(file).expect("a readable corpus file");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target `{target}` fails on {}",
                file.display()
            );
        }
    }
}

#[test]
fn no_target_lacks_a_fuzz_binary() {
    for (target, _) in TARGETS {
        let binary = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        let source = fs::read_to_string(&binary).expect("every target has a fuzz binary");
        assert!(
            source.contains(&format!("fuzz_targets::{target}(data)")),
            "{} calls another function",
            binary.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Seed generation

/// Writes the generated seeds into `tests/fuzz/corpus/<target>/seed-*`. Run with
/// `cargo test -p striae-tests --test fuzz_corpora -- --ignored`; the fuzzer grows and
/// `cargo fuzz cmin` minimises the corpora from there.
#[test]
#[ignore = "writes files; run by hand to regenerate the seed corpora"]
fn write_seed_corpora() {
    let seeds = Seeds::new();
    let corpus = fuzz_dir().join("corpus");
    let sets = [
        ("entry", seeds.entries()),
        ("heads", seeds.heads()),
        ("sync_message", seeds.sync_messages()),
        ("signed_message", seeds.signed_messages()),
        ("codec_framing", seeds.frames()),
        ("x3p", x3p_seeds()),
        ("import_line", import_seeds()),
        ("config_toml", config_seeds()),
        ("roster_toml", roster_seeds()),
    ];
    for (target, files) in sets {
        let dir = corpus.join(target);
        fs::create_dir_all(&dir).expect("corpus folder");
        let (_, run) = TARGETS
            .iter()
            .find(|(name, _)| *name == target)
            .expect("a known target");
        for (i, bytes) in files.iter().enumerate() {
            run(bytes);
            fs::write(dir.join(format!("seed-{i:02}")), bytes).expect("seed written");
        }
    }
}

/// Builds signed objects as members do, for the network the targets verify against.
struct Seeds {
    signer: Signer,
    other: Signer,
    network: NetworkId,
}

const T0: u64 = 1_767_225_600_000;

impl Seeds {
    fn new() -> Self {
        Seeds {
            signer: Signer::from_seed([42; 32]),
            other: Signer::from_seed([7; 32]),
            network: NetworkId::from_name(FUZZ_NETWORK),
        }
    }

    fn content() -> NoticeContent {
        NoticeContent {
            kind: NoticeKind::Orange,
            title: "Pistols disguised as phones".into(),
            summary: "Folding pistols shaped like smartphones".into(),
            body: "Seen at two border crossings.".into(),
            expires_at_ms: T0 + 86_400_000,
        }
    }

    fn ballistic_digest() -> Vec<u8> {
        let scan = synthetic_scan(1, 2, 3, &SyntheticParams::default());
        let surface = prepare(&scan, &PrepParams::default()).expect("a synthetic scan prepares");
        digest(&surface).to_bytes()
    }

    fn bodies() -> Vec<Body> {
        let reference = RecordRef([5; 16]);
        vec![
            Body::Notice(NoticeOp::Issue(Self::content())),
            Body::Notice(NoticeOp::Update {
                notice: NoticeId([0x22; 16]),
                content: Self::content(),
            }),
            Body::Notice(NoticeOp::Cancel {
                notice: NoticeId([0x22; 16]),
                reason: "threat over".into(),
            }),
            Body::FirearmDigests(vec![FirearmDigest {
                exact: [1; 16],
                confusable: [2; 16],
                status: DigestStatus::Stolen,
                record_ref: reference,
            }]),
            Body::FirearmRetractions(vec![reference]),
            Body::ReferenceAddition(
                r#"{"kind":"alias","target_id":"make:glock","alias":"Glock GmbH"}"#.into(),
            ),
            Body::BallisticDigests(vec![BallisticDigest {
                exhibit_ref: reference,
                kind: EvidenceKind::CartridgeCase,
                caliber_class: "9x19".into(),
                digest: Self::ballistic_digest(),
            }]),
            Body::BallisticRetractions(vec![reference]),
            Body::AuditAnchor(AuditAnchor {
                records: 42,
                last_hash: [0x42; 32],
            }),
            Body::Aggregate(Aggregate {
                period: Period::new(2026, 11).expect("a month"),
                min_count: 5,
                counts: vec![Count {
                    metric: "records.status".into(),
                    key: "stolen".into(),
                    value: 12,
                }],
                routes: vec![RouteLeg {
                    from: "AT".into(),
                    to: "DE".into(),
                    count: 7,
                    makes: vec![("Glock".into(), 7)],
                    types: vec![("pistol".into(), 7)],
                }],
            }),
        ]
    }

    /// Signed entries of every body kind, a chain of seq 1 and 2, and the golden vector.
    fn entry_wires(&self) -> Vec<Vec<u8>> {
        let mut prev = EntryId::GENESIS;
        let mut wires = Vec::new();
        for (i, body) in Self::bodies().into_iter().enumerate() {
            let signed = Entry {
                version: ENTRY_VERSION,
                origin: self.signer.bureau(),
                seq: i as u64 + 1,
                prev,
                timestamp_ms: T0 + i as u64,
                body,
            }
            .sign(&self.signer, &self.network)
            .expect("seed entry signs");
            prev = signed.id;
            wires.push(signed.wire);
        }
        wires
    }

    fn entries(&self) -> Vec<Vec<u8>> {
        let golden = include_str!("../../protocol/tests/golden/entry_wire.hex");
        let mut all = vec![hex::decode(golden.trim()).expect("golden hex")];
        all.extend(self.entry_wires());
        all
    }

    fn signed_heads(&self, origins: usize) -> striae_protocol::SignedHeads {
        let mut heads: Vec<Head> = [&self.signer, &self.other]
            .iter()
            .take(origins)
            .map(|s| Head {
                origin: s.bureau(),
                seq: 3,
                id: EntryId([1; 32]),
            })
            .collect();
        heads.sort_by_key(|h| h.origin);
        Heads {
            member: self.signer.bureau(),
            issued_at_ms: T0,
            heads,
        }
        .sign(&self.signer, &self.network)
        .expect("seed heads sign")
    }

    fn heads(&self) -> Vec<Vec<u8>> {
        (0..=2)
            .map(|n| codec::encode(&self.signed_heads(n), usize::MAX).expect("heads encode"))
            .collect()
    }

    fn trace_request(&self) -> SignedMessage {
        let request = TraceRequest {
            trace_id: [1; 16],
            requester: self.signer.bureau(),
            issued_at_ms: T0,
            make: "Glock".into(),
            model: "17".into(),
            caliber: "9x19".into(),
            serial: "ABC123".into(),
            case_ref: "case-1".into(),
            reason: "recovered at a scene".into(),
            record_refs: vec![RecordRef([5; 16])],
            acting: "5e6f0a1b2c3d4e5f60718293a4b5c6d7".into(),
        };
        SignedMessage::sign(&request, &self.signer, &self.network).expect("seed signs")
    }

    fn trace_response(&self) -> SignedMessage {
        let response = TraceResponse {
            trace_id: [1; 16],
            responder: self.signer.bureau(),
            requester: self.other.bureau(),
            answered_at_ms: T0,
            outcome: TraceOutcome::Found,
            records: vec![TracedRecord {
                record_ref: RecordRef([5; 16]),
                json: r#"{"make":"Glock","serial":"ABC123","history":[]}"#.into(),
            }],
            note: String::new(),
        };
        SignedMessage::sign(&response, &self.signer, &self.network).expect("seed signs")
    }

    fn confirm_request(&self) -> SignedMessage {
        let request = ConfirmRequest {
            search_id: [3; 16],
            requester: self.signer.bureau(),
            issued_at_ms: T0,
            case_ref: "case-2".into(),
            probe: ProbeSurface {
                nx: 4,
                ny: 2,
                pixel_um: 12.5,
                center_x: 2.0,
                center_y: 1.0,
                z: vec![0.5, -0.5, 1.0, f32::NAN, 0.0, 0.25, -1.0, 2.0],
            },
            exhibits: vec![RecordRef([5; 16])],
            acting: String::new(),
        };
        SignedMessage::sign(&request, &self.signer, &self.network).expect("seed signs")
    }

    fn confirm_response(&self) -> SignedMessage {
        let response = ConfirmResponse {
            search_id: [3; 16],
            responder: self.signer.bureau(),
            requester: self.other.bureau(),
            answered_at_ms: T0,
            results: vec![
                (
                    RecordRef([5; 16]),
                    Comparison::Compared {
                        cmc_count: 12,
                        cells_compared: 40,
                        score: 0.3,
                        confirmed: true,
                    },
                ),
                (RecordRef([6; 16]), Comparison::UnknownExhibit),
                (
                    RecordRef([7; 16]),
                    Comparison::NotComparable("no data".into()),
                ),
            ],
        };
        SignedMessage::sign(&response, &self.signer, &self.network).expect("seed signs")
    }

    fn requests(&self) -> Vec<SyncRequest> {
        vec![
            SyncRequest::Heads(self.signed_heads(2)),
            SyncRequest::Pull {
                origin: self.signer.bureau(),
                from_seq: 1025,
                limit: 1024,
            },
            SyncRequest::Trace(self.trace_request()),
            SyncRequest::TraceAnswer(self.trace_response()),
            SyncRequest::Confirm(self.confirm_request()),
        ]
    }

    fn responses(&self) -> Vec<SyncResponse> {
        vec![
            SyncResponse::Heads(self.signed_heads(2)),
            SyncResponse::Entries(self.entry_wires()),
            SyncResponse::Refused("unknown origin".into()),
            SyncResponse::Trace(self.trace_response()),
            SyncResponse::Confirm(self.confirm_response()),
            SyncResponse::Received,
        ]
    }

    /// Selector byte (even: request, odd: response), then the body.
    fn sync_messages(&self) -> Vec<Vec<u8>> {
        let requests = self
            .requests()
            .into_iter()
            .map(|r| prefixed(0, &r.encode().expect("request encodes")));
        let responses = self
            .responses()
            .into_iter()
            .map(|r| prefixed(1, &r.encode().expect("response encodes")));
        requests.chain(responses).collect()
    }

    /// Selector byte (the kind), then the `SignedMessage`.
    fn signed_messages(&self) -> Vec<Vec<u8>> {
        [
            self.trace_request(),
            self.trace_response(),
            self.confirm_request(),
            self.confirm_response(),
        ]
        .iter()
        .enumerate()
        .map(|(kind, m)| prefixed(kind as u8, &codec::encode(m, usize::MAX).expect("encodes")))
        .collect()
    }

    /// Selector byte, then the frame as it travels: big-endian length and body.
    fn frames(&self) -> Vec<Vec<u8>> {
        self.sync_messages()
            .into_iter()
            .map(|message| {
                let (selector, body) = message.split_first().expect("a selector");
                let len = u32::try_from(body.len()).expect("a small seed");
                let mut frame = vec![*selector];
                frame.extend_from_slice(&len.to_be_bytes());
                frame.extend_from_slice(body);
                frame
            })
            .collect()
    }
}

fn prefixed(selector: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![selector];
    out.extend_from_slice(body);
    out
}

/// The X3P fixtures written by other software, a real scan cropped small in every storage
/// type and layout the writer can produce, and a small synthetic scan.
fn x3p_seeds() -> Vec<Vec<u8>> {
    let fixtures = Path::new("/work/shared/fixtures/x3p");
    let mut seeds: Vec<Vec<u8>> = ["pyramid.x3p", "testing.x3p"]
        .iter()
        .map(|name| fs::read(fixtures.join(name)).expect("fixture"))
        .collect();
    let real = fs::read("/work/shared/datasets/fadul-known/fadul-1-1.x3p").expect("a real scan");
    let real = read_x3p(&real).expect("the real scan reads");
    let cropped = crop(&real, 24, 16);
    let layouts = [
        WriteOptions::default(),
        WriteOptions {
            data_type: DataType::F,
            valid_mask: true,
            ..WriteOptions::default()
        },
        WriteOptions {
            data_type: DataType::I,
            z_increment: 1e-8,
            prefixed_root: false,
            folder: "scan/".into(),
            ..WriteOptions::default()
        },
        WriteOptions {
            data_type: DataType::L,
            z_increment: 1e-9,
            valid_mask: true,
            ..WriteOptions::default()
        },
    ];
    seeds.extend(layouts.iter().map(|o| write_x3p_with(&cropped, o)));
    let synthetic = synthetic_scan(
        1,
        2,
        3,
        &SyntheticParams {
            size: 40,
            ..SyntheticParams::default()
        },
    );
    seeds.push(write_x3p(&synthetic));
    seeds
}

/// The centre `nx` x `ny` points of `scan`.
fn crop(scan: &X3pScan, nx: usize, ny: usize) -> X3pScan {
    let (x0, y0) = ((scan.size_x - nx) / 2, (scan.size_y - ny) / 2);
    let z = (y0..y0 + ny)
        .flat_map(|y| (x0..x0 + nx).map(move |x| (x, y)))
        .map(|(x, y)| scan.z[y * scan.size_x + x])
        .collect();
    X3pScan::new(nx, ny, scan.increment_x, scan.increment_y, z)
}

/// The import examples of the tests and docs, CSV (selector 0) and NDJSON (selector 1).
fn import_seeds() -> Vec<Vec<u8>> {
    let csv = "make,model,caliber,serial,type,status,event_date\n\
               Glock,17,9x19mm,AB-1001,pistol,stolen,2023-01-02\n\
               Beretta,92FS,9mm Luger,AB-1002,pistol,lost,2023-02-03\n\
               Glock,19,9mm,AB-1003,pistol,exploded,2023-02-03\n\
               Colt,M1911,.45 ACP,,pistol,stolen,2023-02-03\n\
               Heckler & Koch,MP5,9x19mm,AB-1005,submachine gun,recovered,2023-03-04\n";
    let csv_history = "make,model,caliber,serial,type,status,event_date,case_ref,history\n\
               Carl Walther GmbH,P99,9mm Parabellum,WK-1O5 733,pistol,stolen,2024-03-09,DE-1,\
               \"[{\"\"date\"\":\"\"2016-02-11\"\",\"\"event\"\":\"\"manufactured\"\",\
               \"\"party\"\":\"\"Carl Walther GmbH\"\",\"\"country\"\":\"\"DE\"\"}]\"\n";
    let ndjson = "{\"make\":\"Ruger\",\"model\":\"10/22\",\"caliber\":\".22 LR\",\"serial\":\"R-77\",\"type\":\"rifle\",\"status\":\"smuggled\"}\n\
                  not json\n";
    let ndjson_history = r#"{"make":"Carl Walther GmbH","model":"P99","caliber":"9mm Parabellum","serial":"WK-1O5 733","type":"pistol","status":"stolen","event_date":"2024-03-09","case_ref":"DE-BKA-2024-0417","history":[{"date":"2016-02-11","event":"manufactured","party":"Carl Walther GmbH","country":"DE"},{"date":"2016-05-02","event":"sold","party":"Waffen Schmidt KG","country":"DE","document_ref":"WS-2016-1182"}]}
"#;
    vec![
        prefixed(0, csv.as_bytes()),
        prefixed(0, csv_history.as_bytes()),
        prefixed(1, ndjson.as_bytes()),
        prefixed(1, ndjson_history.as_bytes()),
    ]
}

fn repo_file(path: &str) -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).expect("repo file")
}

/// The example network's configs, and one with every optional section.
fn config_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = ["fr", "de", "es"]
        .iter()
        .map(|c| repo_file(&format!("configs/example/{c}/node.toml")))
        .collect();
    let mut full = String::from_utf8(repo_file("configs/example/fr/node.toml")).expect("utf-8");
    full = full.replace(
        "roster = \"../roster.toml\"",
        "roster = \"../roster.toml\"\ndial_only = [\"DE\", \"ES\"]",
    );
    full.push_str("\n[traces]\npolicy = \"review\"\n");
    seeds.push(full.into_bytes());
    seeds
}

/// The example roster and a devnet roster of five members.
fn roster_seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("temp dir");
    striae_node::devnet::init(dir.path(), 5, 47_200).expect("devnet init");
    let devnet = fs::read(dir.path().join("roster.toml")).expect("devnet roster");
    vec![repo_file("configs/example/roster.toml"), devnet]
}
