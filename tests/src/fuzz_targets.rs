//! The bodies of the fuzz targets in `tests/fuzz`: one function per decoder family a peer or
//! API caller reaches. The libFuzzer binaries and the corpus replay test
//! (`tests/fuzz_corpora.rs`) call these same functions, so a crash the fuzzer found is replayed
//! by `cargo test` exactly as it was found.
//!
//! Each function takes arbitrary bytes, must never panic on them, and asserts the properties
//! that hold for whatever the decoder accepts (canonical round trips, signatures that verify,
//! bounds that the shape checks promise). An assertion failing is a bug in the decoder.

use std::{path::Path, sync::OnceLock};

use futures::io::Cursor;
use libp2p::request_response::Codec as _;
use striae_ballistics_lib::{
    preprocess::{PrepParams, prepare},
    signature::Digest,
    x3p::{ReadLimits, X3pScan, read_x3p_with_limits, write_x3p},
};
use striae_firearms_lib::{
    ReferenceAddition, ReferenceTable,
    import::{self, ImportFormat},
    validate_input,
};
use striae_node::{
    config::{NodeConfig, NodeFile, Roster, RosterFile},
    net::codec::{SYNC_PROTOCOL, SyncCodec},
};
use striae_protocol::{
    Body, BureauId, NetworkId, SignedHeads, SignedMessage, SyncRequest, SyncResponse,
    ballistic::{ConfirmRequest, ConfirmResponse, PictureRequest, PictureResponse, SharedDigests},
    bullet::{BulletConfirmRequest, BulletConfirmResponse},
    codec::{self, MAX_ENTRY_BYTES, MAX_REQUEST_BYTES},
    feed::{UnverifiedEntry, VerifiedEntry, verify_batch},
    heads::{Heads, MAX_HEADS_BYTES, MAX_ORIGINS},
    operation::{Delivered, Operation, OperationJoin, Seizure},
    query::{QueryRequest, QueryResponse},
    signed::SignedKind,
    trace::{TraceRequest, TraceResponse},
};

/// The network name every seed in the corpora is signed for (the protocol's golden vectors
/// use it too), so that seeds reach the code behind signature verification.
pub const FUZZ_NETWORK: &str = "golden";

/// Points above which the x3p target skips surface preparation: preparing a surface costs
/// milliseconds per thousand points, which would starve the fuzzer of executions, and every
/// scan small enough exercises the same code.
const MAX_PREPARED_POINTS: usize = 16 * 1024;

fn network() -> NetworkId {
    NetworkId::from_name(FUZZ_NETWORK)
}

// ---------------------------------------------------------------------------------------------
// Feed entries

/// A feed entry as gossip carries it and a store keeps it: the canonical bytes of a
/// `WireEntry`, decoded, shape-checked and verified as the node's fast and slow paths do.
pub fn entry(data: &[u8]) {
    let Ok(decoded) = UnverifiedEntry::decode(data) else {
        return;
    };
    check_body(&decoded.entry.body, decoded.entry.timestamp_ms);
    let copies = vec![decoded.clone(); 4];
    let Ok(verified) = decoded.verify(&network()) else {
        return;
    };
    // Only for entries that verify: a batch of a refused entry falls back to four single
    // checks, which would cost most of the target's executions for nothing new.
    assert!(
        verify_batch(copies, &network())
            .iter()
            .all(|batched| batched.as_ref().ok() == Some(&verified)),
        "batch verification disagrees with single verification"
    );
    check_verified_entry(&verified, data);
}

/// What holds for every entry that decoded and verified.
fn check_verified_entry(verified: &VerifiedEntry, wire: &[u8]) {
    assert_eq!(verified.wire, wire, "a verified entry keeps its wire bytes");
    let wire_entry = verified
        .wire_entry()
        .expect("a verified entry's wire form decodes");
    assert_eq!(
        codec::encode(&verified.entry, MAX_ENTRY_BYTES).expect("a decoded entry encodes"),
        wire_entry.entry_bytes,
        "entry round trip"
    );
    let stored = VerifiedEntry::from_stored(verified.wire.clone()).expect("stored form reads");
    assert_eq!(
        &stored, verified,
        "an entry reads back from the store unchanged"
    );
}

/// The capabilities' own decoding of what a body carries: notice rules, ballistic digests,
/// reference additions.
fn check_body(body: &Body, written_at_ms: u64) {
    match body {
        Body::Notice(op) => {
            let _ = op.validate(written_at_ms);
        }
        Body::BallisticDigests(list) => {
            for d in list {
                if let Ok(digest) = Digest::from_bytes(&d.digest) {
                    assert_eq!(digest.to_bytes(), d.digest, "ballistic digest round trip");
                }
            }
        }
        Body::ReferenceAddition(json) => reference_addition(json),
        Body::Aggregate(aggregate) => {
            // A decoded entry passed the body check: the aggregate keeps its bounds.
            assert!(
                aggregate.check().is_ok(),
                "a decoded aggregate keeps its bounds"
            );
        }
        Body::FirearmDigests(_)
        | Body::FirearmRetractions(_)
        | Body::BallisticRetractions(_)
        | Body::AuditAnchor(_) => {}
    }
}

/// A reference addition as the firearm capability applies it: parse, validate, add to a copy
/// of the table.
fn reference_addition(json: &str) {
    let Ok(addition) = serde_json::from_str::<ReferenceAddition>(json) else {
        return;
    };
    if addition.validate().is_err() {
        return;
    }
    let mut table = ReferenceTable::builtin().clone();
    let _ = table.add(addition);
}

// ---------------------------------------------------------------------------------------------
// Heads

/// A signed heads statement as a heads exchange carries it: the canonical bytes of
/// `SignedHeads`, then its shape and signature.
pub fn heads(data: &[u8]) {
    let Ok(signed) = codec::decode::<SignedHeads>(data, MAX_HEADS_BYTES + 128) else {
        return;
    };
    check_signed_heads(&signed);
}

fn check_signed_heads(signed: &SignedHeads) {
    let Ok(heads) = signed.verify(&network()) else {
        return;
    };
    assert_eq!(
        codec::encode(&heads, MAX_HEADS_BYTES).expect("verified heads encode"),
        signed.heads_bytes,
        "heads round trip"
    );
    check_heads_shape(&heads);
}

/// Verified heads are a sorted list of distinct origins with seq >= 1, which the lookups rely
/// on.
fn check_heads_shape(heads: &Heads) {
    assert!(heads.heads.len() <= MAX_ORIGINS);
    for head in &heads.heads {
        assert!(head.seq >= 1);
        assert_eq!(
            heads.seq_of(&head.origin),
            head.seq,
            "lookup finds every head"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Sync messages

/// A sync request (first byte even) or response (odd), as the node's codec decodes a frame's
/// body, and then whatever it carries as the node would handle it.
pub fn sync_message(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        if let Ok(request) = SyncRequest::decode(body) {
            assert_eq!(request.encode().expect("decoded request encodes"), body);
            check_request(&request);
        }
    } else if let Ok(response) = SyncResponse::decode(body) {
        assert_eq!(response.encode().expect("decoded response encodes"), body);
        check_response(&response);
    }
}

fn check_request(request: &SyncRequest) {
    match request {
        SyncRequest::Heads(signed) => check_signed_heads(signed),
        SyncRequest::Pull { .. } => {}
        SyncRequest::Trace(message) => open_checked::<TraceRequest>(message),
        SyncRequest::TraceAnswer(message) => open_checked::<TraceResponse>(message),
        SyncRequest::Confirm(message) => open_checked::<ConfirmRequest>(message),
        SyncRequest::BulletConfirm(message) => open_checked::<BulletConfirmRequest>(message),
        SyncRequest::SharedDigests(message) => open_checked::<SharedDigests>(message),
        SyncRequest::Picture(message) => open_checked::<PictureRequest>(message),
        SyncRequest::Query(message) => open_checked::<QueryRequest>(message),
        SyncRequest::QueryAnswer(message) => open_checked::<QueryResponse>(message),
        SyncRequest::Operation(delivery) => {
            open_checked::<Operation>(&delivery.operation);
            match &delivery.delivered {
                Delivered::Invite => {}
                Delivered::Join(message) => open_checked::<OperationJoin>(message),
                Delivered::Seizure(message) => open_checked::<Seizure>(message),
            }
        }
    }
}

fn check_response(response: &SyncResponse) {
    match response {
        SyncResponse::Heads(signed) => check_signed_heads(signed),
        SyncResponse::Entries(page) => check_page(page),
        SyncResponse::Trace(message) => open_checked::<TraceResponse>(message),
        SyncResponse::Confirm(message) => open_checked::<ConfirmResponse>(message),
        SyncResponse::BulletConfirm(message) => open_checked::<BulletConfirmResponse>(message),
        SyncResponse::Picture(message) => open_checked::<PictureResponse>(message),
        SyncResponse::Query(message) => open_checked::<QueryResponse>(message),
        SyncResponse::Refused(_) | SyncResponse::Received => {}
    }
}

/// A pulled page as the verifier thread handles it: each entry decoded, then the page
/// verified as a batch.
fn check_page(page: &[Vec<u8>]) {
    let decoded: Vec<UnverifiedEntry> = page
        .iter()
        .filter_map(|wire| UnverifiedEntry::decode(wire).ok())
        .collect();
    let wires: Vec<Vec<u8>> = page
        .iter()
        .filter(|wire| UnverifiedEntry::decode(wire).is_ok())
        .cloned()
        .collect();
    for (result, wire) in verify_batch(decoded, &network()).iter().zip(&wires) {
        if let Ok(verified) = result {
            check_verified_entry(verified, wire);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signed point-to-point messages

/// A signed point-to-point message: the first byte picks the kind (trace request, trace
/// answer, confirmation request and answer, bullet confirmation request and answer, shared digests, picture request and answer, query and its answer), the rest is the canonical bytes of a
/// `SignedMessage` as a sync request or response carries it.
pub fn signed_message(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(message) = codec::decode::<SignedMessage>(body, MAX_REQUEST_BYTES) else {
        return;
    };
    match selector % 9 {
        0 => open_checked::<TraceRequest>(&message),
        1 => open_checked::<TraceResponse>(&message),
        2 => open_checked::<ConfirmRequest>(&message),
        3 => open_checked::<ConfirmResponse>(&message),
        4 => open_checked::<BulletConfirmRequest>(&message),
        5 => open_checked::<BulletConfirmResponse>(&message),
        6 => open_checked::<SharedDigests>(&message),
        7 => open_checked::<PictureRequest>(&message),
        8 => open_checked::<PictureResponse>(&message),
        9 => open_checked::<QueryRequest>(&message),
        _ => open_checked::<QueryResponse>(&message),
    }
}

/// Opens `message` as a `T` and checks what holds for an opened message: its bytes are the
/// canonical encoding of the value, it names its signer, and the checks the node makes next
/// cannot panic.
fn open_checked<T: SignedKind + CheckedKind>(message: &SignedMessage) {
    let Ok(value) = message.open::<T>(&network()) else {
        return;
    };
    let again = codec::encode(&value, T::MAX_BYTES).expect("an opened value encodes");
    // Bytes signed before requests carried the acting reference read with it empty: they are
    // the encoding without the empty string's length.
    let legacy = T::ACTING_LAST
        && value.acting().is_empty()
        && again.len() == message.bytes.len() + 8
        && again.starts_with(&message.bytes);
    assert!(again == message.bytes || legacy, "signed value round trip");
    let signer = value.signer();
    assert!(message.open_from::<T>(&network(), &signer).is_ok());
    let stranger = BureauId([0xEE; 32]);
    if stranger != signer {
        assert!(message.open_from::<T>(&network(), &stranger).is_err());
    }
    value.check_content();
}

/// The content checks the node makes on a signed value once it is opened.
trait CheckedKind {
    fn check_content(&self);
}

impl CheckedKind for TraceRequest {
    fn check_content(&self) {
        let _ = self.check();
    }
}

impl CheckedKind for TraceResponse {
    fn check_content(&self) {
        for record in &self.records {
            let _ = serde_json::from_str::<serde_json::Value>(&record.json);
        }
    }
}

impl CheckedKind for QueryRequest {
    fn check_content(&self) {
        if self.check().is_ok() {
            let _ = striae_firearms_lib::SerialPattern::parse(&self.serial_pattern);
        }
    }
}

impl CheckedKind for QueryResponse {
    fn check_content(&self) {
        let _ = self.check();
    }
}

impl CheckedKind for ConfirmRequest {
    fn check_content(&self) {
        let _ = self.probe.check();
    }
}

impl CheckedKind for ConfirmResponse {
    fn check_content(&self) {}
}

impl CheckedKind for PictureRequest {
    fn check_content(&self) {
        let _ = self.probe.check();
    }
}

impl CheckedKind for PictureResponse {
    fn check_content(&self) {}
}

impl CheckedKind for SharedDigests {
    fn check_content(&self) {
        let _ = self.check();
    }
}

impl CheckedKind for Operation {
    fn check_content(&self) {
        let _ = self.check();
    }
}

impl CheckedKind for OperationJoin {
    fn check_content(&self) {
        let _ = self.check();
    }
}

impl CheckedKind for Seizure {
    fn check_content(&self) {
        let _ = self.check();
    }
}

impl CheckedKind for BulletConfirmRequest {
    fn check_content(&self) {
        let _ = striae_ballistics_lib::bullet::Bullet::from_bytes(&self.probe);
    }
}

impl CheckedKind for BulletConfirmResponse {
    fn check_content(&self) {
        for (_, comparison) in &self.results {
            let _ = comparison.check();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request-response framing

/// The request-response codec reading a stream: the first byte picks request (even) or
/// response (odd), the rest is what the peer wrote on the stream (a big-endian length, then
/// the body). Whatever the codec reads, writing it again gives the bytes it consumed.
pub fn codec_framing(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    futures::executor::block_on(async {
        let mut codec = SyncCodec;
        let mut reader = Cursor::new(stream);
        if selector % 2 == 0 {
            let Ok(request) = codec.read_request(&SYNC_PROTOCOL, &mut reader).await else {
                return;
            };
            let consumed = consumed(&reader);
            let mut out = Cursor::new(Vec::new());
            codec
                .write_request(&SYNC_PROTOCOL, &mut out, request)
                .await
                .expect("a request that was read can be written");
            assert_eq!(
                out.get_ref().as_slice(),
                &stream[..consumed],
                "frame round trip"
            );
        } else {
            let Ok(response) = codec.read_response(&SYNC_PROTOCOL, &mut reader).await else {
                return;
            };
            let consumed = consumed(&reader);
            let mut out = Cursor::new(Vec::new());
            codec
                .write_response(&SYNC_PROTOCOL, &mut out, response)
                .await
                .expect("a response that was read can be written");
            assert_eq!(
                out.get_ref().as_slice(),
                &stream[..consumed],
                "frame round trip"
            );
        }
    });
}

fn consumed(reader: &Cursor<&[u8]>) -> usize {
    usize::try_from(reader.position()).expect("a position within the input")
}

// ---------------------------------------------------------------------------------------------
// X3P files

/// Caps for the x3p target, smaller than the node's defaults so that one execution stays
/// cheap; the checks they drive are the same code.
fn x3p_limits() -> ReadLimits {
    ReadLimits {
        max_total_uncompressed: 16 * 1024 * 1024,
        max_axis_points: 4096,
        max_points: 1 << 20,
    }
}

/// An X3P file as `POST /v1/ballistics/exhibits` receives it: zip container, `main.xml` and
/// binary point data, then (for small scans) the surface preparation and digest.
pub fn x3p(data: &[u8]) {
    let limits = x3p_limits();
    let Ok(scan) = read_x3p_with_limits(data, &limits) else {
        return;
    };
    check_scan_shape(&scan, &limits);
    let again = read_x3p_with_limits(&write_x3p(&scan), &limits)
        .expect("a scan this reader returned can be written and read again");
    assert_eq!((again.size_x, again.size_y), (scan.size_x, scan.size_y));
    assert!(
        same_heights(&again.z, &scan.z),
        "heights survive a write and a read"
    );
    let _ = scan.inspect();
    if scan.z.len() <= MAX_PREPARED_POINTS
        && let Ok(surface) = prepare(&scan, &PrepParams::default())
    {
        let _ = striae_ballistics_lib::signature::digest(&surface);
    }
}

fn check_scan_shape(scan: &X3pScan, limits: &ReadLimits) {
    assert_eq!(scan.z.len(), scan.size_x * scan.size_y);
    assert!(scan.size_x as u64 <= limits.max_axis_points);
    assert!(scan.size_y as u64 <= limits.max_axis_points);
    assert!(scan.z.len() as u64 <= limits.max_points);
}

/// Equal heights, NaN (missing) matching NaN.
fn same_heights(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

// ---------------------------------------------------------------------------------------------
// Firearm imports

/// A firearm import body: the first byte picks CSV (even) or NDJSON (odd), the rest is the
/// document; every parsed line is validated against a reference table, as
/// `POST /v1/firearms/import` does.
pub fn import_line(data: &[u8]) {
    let Some((&selector, document)) = data.split_first() else {
        return;
    };
    let format = if selector % 2 == 0 {
        ImportFormat::Csv
    } else {
        ImportFormat::Ndjson
    };
    let table = import_table();
    let physical_lines = line_breaks(document) + 1;
    let mut last_line = 0;
    for (line, parsed) in import::parse(format, std::io::Cursor::new(document)) {
        assert!(line > last_line, "line numbers increase");
        assert!(
            line <= physical_lines + 1,
            "line {line} of {physical_lines}"
        );
        last_line = line;
        match parsed {
            Ok(input) => {
                let _ = validate_input(&input, table);
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }
}

/// The built-in reference table cut to a few entries of each kind (with the ambiguous aliases
/// among them): the same validation code, but an unknown value is compared with dozens of
/// names rather than thousands, so that the fuzzer spends its executions in the parsers and
/// the validation rules rather than in the string-similarity loops of "did you mean".
fn import_table() -> &'static ReferenceTable {
    static TABLE: OnceLock<ReferenceTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let builtin: serde_json::Value =
            serde_json::from_str(include_str!("../../node/firearms-lib/data/reference.json"))
                .expect("the built-in table is JSON");
        ReferenceTable::from_json(&cut_table(builtin).to_string()).expect("the cut table loads")
    })
}

/// Entries kept of each kind in [`import_table`].
const KEPT_PER_KIND: usize = 6;

fn cut_table(mut table: serde_json::Value) -> serde_json::Value {
    let first = |list: &serde_json::Value| -> Vec<serde_json::Value> {
        list.as_array()
            .map(|items| items.iter().take(KEPT_PER_KIND).cloned().collect())
            .unwrap_or_default()
    };
    let makes = first(&table["makes"]);
    let make_ids: Vec<&str> = makes.iter().filter_map(|m| m["id"].as_str()).collect();
    let models: serde_json::Map<String, serde_json::Value> = table["models"]
        .as_object()
        .map(|by_make| {
            by_make
                .iter()
                .filter(|(make, _)| *make == "any" || make_ids.contains(&make.as_str()))
                .map(|(make, list)| (make.clone(), serde_json::Value::Array(first(list))))
                .collect()
        })
        .unwrap_or_default();
    let calibres = first(&table["calibres"]);
    let types = first(&table["types"]);
    let kept: Vec<&str> = [&makes, &calibres, &types]
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["id"].as_str())
        .collect();
    let ambiguous: Vec<serde_json::Value> = table["ambiguous"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| {
            entry["candidates"].as_array().is_some_and(|ids| {
                ids.iter()
                    .all(|id| id.as_str().is_some_and(|id| kept.contains(&id)))
            })
        })
        .cloned()
        .collect();
    table["makes"] = makes.into();
    table["models"] = models.into();
    table["calibres"] = calibres.into();
    table["types"] = types.into();
    table["ambiguous"] = ambiguous.into();
    table
}

/// LFs and bare CRs: the CSV reader ends a record at either.
fn line_breaks(document: &[u8]) -> u64 {
    let bare_cr = document
        .windows(2)
        .filter(|pair| pair[0] == b'\r' && pair[1] != b'\n')
        .count()
        + usize::from(document.last() == Some(&b'\r'));
    (document.iter().filter(|&&b| b == b'\n').count() + bare_cr) as u64
}

// ---------------------------------------------------------------------------------------------
// Config and roster files

/// The roster the config target validates against: the example network's.
fn example_roster() -> &'static Roster {
    static ROSTER: OnceLock<Roster> = OnceLock::new();
    ROSTER.get_or_init(|| {
        let text = include_str!("../../configs/example/roster.toml");
        let file: RosterFile = toml::from_str(text).expect("the example roster parses");
        Roster::from_file(file, Path::new("roster.toml")).expect("the example roster is valid")
    })
}

/// A node config file, parsed and validated as `NodeConfig::load` does (against the example
/// roster); a valid config written back out validates to the same config.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = toml::from_str::<NodeFile>(text) else {
        return;
    };
    let path = Path::new("node.toml");
    let base = Path::new("/fuzz");
    let Ok(config) = NodeConfig::from_file(file.clone(), base, example_roster().clone(), path)
    else {
        return;
    };
    let written = toml::to_string(&file).expect("a parsed config writes");
    let file_again: NodeFile = toml::from_str(&written).expect("a written config parses");
    let again = NodeConfig::from_file(file_again, base, example_roster().clone(), path)
        .expect("a written valid config stays valid");
    assert_eq!(
        (&again.country, &again.name, &again.data_dir, &again.listen),
        (
            &config.country,
            &config.name,
            &config.data_dir,
            &config.listen
        )
    );
    assert_eq!(
        (again.api_listen, &again.dial_only, again.trace_policy),
        (config.api_listen, &config.dial_only, config.trace_policy)
    );
}

/// A roster file, parsed and validated as `Roster::load` does; a valid roster names distinct
/// members with distinct country codes and bureau ids that read back from their text.
pub fn roster_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = toml::from_str::<RosterFile>(text) else {
        return;
    };
    let Ok(roster) = Roster::from_file(file, Path::new("roster.toml")) else {
        return;
    };
    assert!(!roster.members.is_empty());
    assert_eq!(roster.network_id, NetworkId::from_name(&roster.network));
    for (bureau, member) in &roster.members {
        assert_eq!(&member.bureau, bureau);
        assert_eq!(member.country.len(), 2);
        let text = bureau.to_string();
        assert_eq!(text.parse::<BureauId>().ok().as_ref(), Some(bureau));
        assert_eq!(
            roster.by_country(&member.country).map(|m| m.bureau),
            Some(*bureau)
        );
    }
}
