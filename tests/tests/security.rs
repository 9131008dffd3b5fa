//! Hostile input from the network: strangers are refused, and forged, tampered, replayed,
//! misplaced and equivocating entries are rejected, with the sender's score lowered.

use std::time::Duration;

use serde_json::json;
use striae_node::{
    config::{MemberFile, NodeConfig, Roster, RosterFile},
    devnet, node,
};
use striae_protocol::{
    Body, BureauId, Entry, EntryId, NetworkId, NoticeContent, NoticeKind, NoticeOp, Signer,
    VerifiedEntry,
    feed::ENTRY_VERSION,
    time::{YEAR_MS, now_ms},
};
use striae_tests::{TestNet, eventually, free_ports, wait_connected};

const WAIT: Duration = Duration::from_secs(30);

fn craft(
    signer: &Signer,
    origin: BureauId,
    seq: u64,
    prev: EntryId,
    ts: u64,
    title: &str,
) -> VerifiedEntry {
    Entry {
        version: ENTRY_VERSION,
        origin,
        seq,
        prev,
        timestamp_ms: ts,
        body: Body::Notice(NoticeOp::Issue(NoticeContent {
            kind: NoticeKind::Purple,
            title: title.into(),
            summary: "crafted by a test".into(),
            body: String::new(),
            expires_at_ms: ts + YEAR_MS,
        })),
    }
    .sign(signer, &NetworkId::from_name("devnet"))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_key_is_not_on_the_roster_is_refused_and_its_entries_go_nowhere() {
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);

    // The outsider knows the network key and lists itself in its own copy of the roster.
    let outsider_dir = net.dir.path().join("outsider");
    let signer = striae_node::config::load_or_create_key(&outsider_dir.join("data")).unwrap();
    let roster_text = std::fs::read_to_string(net.dir.path().join("roster.toml")).unwrap();
    let mut roster: RosterFile = toml::from_str(&roster_text).unwrap();
    let port = free_ports(2);
    roster.members.push(MemberFile {
        country: "XX".into(),
        name: "Outsider".into(),
        bureau_id: signer.bureau().to_string(),
        addrs: vec![format!("/ip4/127.0.0.1/tcp/{}", port[0])],
    });
    let roster = Roster::from_file(roster, std::path::Path::new("roster.toml")).unwrap();
    let mut config = net.config(0);
    config.country = "XX".into();
    config.data_dir = outsider_dir.join("data");
    config.listen = vec![format!("/ip4/127.0.0.1/tcp/{}", port[0]).parse().unwrap()];
    config.api_listen = format!("127.0.0.1:{}", port[1]).parse().unwrap();
    config.roster = roster;
    let outsider = node::start(NodeConfig { ..config }).await.unwrap();

    let entry = outsider
        .handle
        .publish(Body::Notice(NoticeOp::Issue(NoticeContent {
            kind: NoticeKind::Orange,
            title: "from outside".into(),
            summary: "should reach nobody".into(),
            body: String::new(),
            expires_at_ms: now_ms() + YEAR_MS,
        })))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let peers = outsider.handle.net.peers().await.unwrap();
    assert!(
        peers.iter().all(|p| !p.connected),
        "a member accepted the outsider"
    );
    for i in 0..3 {
        let held = net.node(i).handle.store.head(&signer.bureau()).unwrap();
        assert!(held.is_none(), "member {i} holds the outsider's feed");
        let path = format!(
            "/v1/notices/{}",
            striae_protocol::NoticeId::from_entry(&entry.id)
        );
        assert_eq!(net.get(i, &path).await.0, 404);
    }
    outsider.shutdown().await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_replayed_and_misplaced_entries_are_rejected_and_the_sender_pays() {
    let mut net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let rogue = devnet::signer_of(&net.member_dir(1)).unwrap();
    let me = rogue.bureau();
    let victim = net.node(2).handle.me;
    let rejected = |net: &TestNet| {
        net.node(0)
            .handle
            .core
            .rejected_from()
            .get(&me)
            .copied()
            .unwrap_or(0)
    };
    let publish = |net: &TestNet, bytes: Vec<u8>| {
        let handle = net.node(1).handle.net.clone();
        async move { handle.publish(bytes).await.unwrap() }
    };
    // Let gossip subscriptions settle so that raw publishes are delivered.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Out of order but genuine: held until the gap fills, then both apply.
    let e1 = craft(&rogue, me, 1, EntryId::GENESIS, now_ms(), "first");
    let e2 = craft(&rogue, me, 2, e1.id, now_ms(), "second");
    publish(&net, e2.wire.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        net.node(0).handle.store.head(&me).unwrap().is_none(),
        "applied across a gap"
    );
    publish(&net, e1.wire.clone()).await;
    let both = eventually(WAIT, || async {
        net.node(0).handle.store.head(&me).unwrap().map(|h| h.0) == Some(2)
    })
    .await;
    assert!(both, "held entry did not apply after the gap filled");
    // An entry written long ago (replayed below, once everyone has it).
    let old = craft(&rogue, me, 3, e2.id, now_ms() - 600_000, "old news");
    publish(&net, old.wire.clone()).await;
    assert!(
        eventually(WAIT, || async {
            net.node(0).handle.store.head(&me).unwrap().map(|h| h.0) == Some(3)
        })
        .await
    );

    // Forged: an entry in another member's name, signed with the rogue's key.
    let forged = craft(&rogue, victim, 1, EntryId::GENESIS, now_ms(), "forged");
    publish(&net, forged.wire.clone()).await;
    assert!(
        eventually(WAIT, || async { rejected(&net) >= 1 }).await,
        "forgery not rejected"
    );
    assert!(net.node(0).handle.store.head(&victim).unwrap().is_none());

    // Tampered: a valid entry with one byte changed after signing.
    let e4 = craft(&rogue, me, 4, old.id, now_ms(), "fourth");
    let mut tampered = e4.wire.clone();
    let at = tampered.len() - 64 - 30;
    tampered[at] ^= 0x20;
    publish(&net, tampered).await;
    assert!(
        eventually(WAIT, || async { rejected(&net) >= 2 }).await,
        "tampering not rejected"
    );

    // Misplaced: the next seq, but chained to an entry that is not its predecessor.
    let broken = craft(&rogue, me, 4, EntryId([7; 32]), now_ms(), "broken");
    publish(&net, broken.wire.clone()).await;
    assert!(
        eventually(WAIT, || async { rejected(&net) >= 3 }).await,
        "misplaced entry not rejected"
    );
    assert_eq!(
        net.node(0).handle.store.head(&me).unwrap().map(|h| h.0),
        Some(3)
    );
    let score_dropped = eventually(WAIT, || async {
        let (_, peers) = net.get(0, "/v1/peers").await;
        peers.as_array().unwrap().iter().any(|p| {
            p["bureau_id"] == json!(me.to_string())
                && p["rejected_entries"].as_u64().unwrap_or(0) >= 3
                && p["gossip_score"].as_f64().unwrap_or(0.0) < 0.0
        })
    })
    .await;
    assert!(
        score_dropped,
        "the rogue's score did not drop: {}",
        net.get(0, "/v1/peers").await.1
    );

    // Restarts clear gossipsub's in-memory duplicate caches, so the replay reaches the node.
    net.stop_member(0).await;
    net.stop_member(1).await;
    net.start_member(0).await;
    net.start_member(1).await;
    assert!(wait_connected(&net, WAIT).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rejected(&net);
    publish(&net, old.wire.clone()).await;
    assert!(
        eventually(WAIT, || async { rejected(&net) > before }).await,
        "replay not rejected"
    );
    // The verdict reaches gossipsub's scoring a moment after the node counts the refusal.
    let rogue_score = || async {
        let (_, peers) = net.get(0, "/v1/peers").await;
        peers
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["bureau_id"] == json!(me.to_string()))
            .and_then(|p| p["gossip_score"].as_f64())
            .unwrap_or(0.0)
    };
    assert!(
        eventually(WAIT, || async { rogue_score().await < 0.0 }).await,
        "the replayer's score did not drop: {}",
        rogue_score().await
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_origin_is_detected_and_neither_entry_applies() {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rogue = devnet::signer_of(&net.member_dir(1)).unwrap();
    let me = rogue.bureau();
    let e1 = craft(&rogue, me, 1, EntryId::GENESIS, now_ms(), "first");
    let a = craft(&rogue, me, 2, e1.id, now_ms(), "version A");
    let b = craft(&rogue, me, 2, e1.id, now_ms(), "version B");
    let e3a = craft(&rogue, me, 3, a.id, now_ms(), "after A");
    let handle = net.node(1).handle.net.clone();
    // Both versions of seq 2 arrive while seq 1 is missing, so both are held.
    handle.publish(e3a.wire.clone()).await.unwrap();
    handle.publish(a.wire.clone()).await.unwrap();
    handle.publish(b.wire.clone()).await.unwrap();
    let detected = eventually(WAIT, || async {
        let (_, status) = net.get(0, "/v1/status").await;
        status["equivocations"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    })
    .await;
    let (_, status) = net.get(0, "/v1/status").await;
    assert!(detected, "{status}");
    assert_eq!(status["equivocations"][0]["country"], "DE");
    assert_eq!(status["equivocations"][0]["seq"], 2);
    handle.publish(e1.wire.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        net.node(0).handle.store.head(&me).unwrap().is_none(),
        "an entry of the frozen feed was applied"
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_stamped_in_the_far_future_are_refused_and_listings_still_answer() {
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let rogue = devnet::signer_of(&net.member_dir(1)).unwrap();
    let me = rogue.bureau();
    let publish = |bytes: Vec<u8>| {
        let handle = net.node(1).handle.net.clone();
        async move { handle.publish(bytes).await.unwrap() }
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Stamped in the year 10000: no timestamp can show it, so no member takes it.
    let year_10000 = striae_protocol::time::MAX_TIME_MS + 1;
    let impossible = craft(&rogue, me, 1, EntryId::GENESIS, year_10000, "year 10000");
    publish(impossible.wire.clone()).await;
    let refused = eventually(WAIT, || async {
        net.node(0)
            .handle
            .core
            .rejected_from()
            .get(&me)
            .is_some_and(|n| *n >= 1)
    })
    .await;
    assert!(refused, "an entry from the year 10000 was not refused");

    // Stamped a day ahead: not applied while it lies in the future (and it is not the
    // sender's fault, so nothing more is counted against it).
    let tomorrow = craft(
        &rogue,
        me,
        1,
        EntryId::GENESIS,
        now_ms() + 86_400_000,
        "tomorrow",
    );
    publish(tomorrow.wire.clone()).await;
    // An honest entry of another member, published after it, arrives everywhere...
    let (code, _) = net
        .post(
            2,
            "/v1/notices",
            &json!({"kind": "orange", "title": "After the future", "summary": "s"}),
        )
        .await;
    assert_eq!(code, 201);
    let honest = net.node(2).handle.me;
    assert!(
        eventually(WAIT, || async {
            net.node(0).handle.store.head(&honest).unwrap().is_some()
        })
        .await
    );
    // ... while the forward-dated one did not apply anywhere.
    for i in 0..3 {
        if i != 1 {
            assert!(net.node(i).handle.store.head(&me).unwrap().is_none());
        }
        let (code, list) = net.get(i, "/v1/notices").await;
        assert_eq!(code, 200, "{list}");
    }
    net.shutdown().await;
}
