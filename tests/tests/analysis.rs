//! Network statistics across real members, through the HTTP API: aggregates published by
//! several members add up at every other member, routes from real traces land on the right
//! legs, small counts are suppressed, a later publication replaces the month, the figures
//! survive a restart, and bad query parameters get a 400 naming the parameter.

use std::time::Duration;

use serde_json::{Value, json};
use striae_tests::{TestNet, eventually, fast, wait_connected};

const WAIT: Duration = Duration::from_secs(30);
const FR: usize = 0;
const DE: usize = 1;
const ES: usize = 2;

/// A Glock made in Austria, imported into and stolen in Germany.
fn glock(serial: &str) -> Value {
    json!({
        "make": "Glock", "model": "17", "caliber": "9x19mm", "serial": serial,
        "type": "pistol", "status": "stolen", "country_of_manufacture": "AT",
        "history": [
            {"date": "2015-02-01", "event": "manufactured", "party": "Glock", "country": "AT"},
            {"date": "2015-06-01", "event": "imported", "party": "Import KG", "country": "DE"},
            {"date": "2016-05-02", "event": "sold", "party": "Waffen Schmidt KG", "country": "DE"},
            {"date": "2023-03-09", "event": "stolen", "party": "Holder", "country": "DE"}
        ]
    })
}

/// A revolver made and sold in the United States, seized in Spain.
fn revolver(serial: &str) -> Value {
    json!({
        "make": "Smith & Wesson", "model": "Model 10", "caliber": ".38 Special",
        "serial": serial, "type": "revolver", "status": "seized",
        "country_of_manufacture": "US",
        "history": [
            {"date": "2010-01-01", "event": "manufactured", "party": "S&W", "country": "US"},
            {"date": "2011-04-01", "event": "sold", "party": "Gun shop", "country": "US"},
            {"date": "2024-06-01", "event": "seized", "party": "Guardia Civil", "country": "ES"}
        ]
    })
}

fn lost_beretta() -> Value {
    json!({"make": "Beretta", "model": "92FS", "caliber": "9x19mm", "serial": "BE-1",
           "type": "pistol", "status": "lost"})
}

async fn create(net: &TestNet, i: usize, record: &Value) {
    let (code, v) = net.post(i, "/v1/firearms", record).await;
    assert_eq!(code, 201, "{v}");
}

async fn publish(net: &TestNet, i: usize) -> Value {
    let (code, v) = net.post(i, "/v1/analysis/publish", &json!({})).await;
    assert_eq!(code, 200, "{v}");
    v
}

/// Starts the members with `min_count` 2, so that a handful of records makes figures.
async fn start_low_threshold(n: usize) -> TestNet {
    let mut net = TestNet::create(n);
    net.tune = |c| {
        fast(c);
        c.analysis.min_count = 2;
    };
    for i in 0..n {
        net.start_member(i).await;
    }
    assert!(wait_connected(&net, WAIT).await);
    net
}

/// Traces `serial` from FR and waits until the trace is complete.
async fn trace_from_fr(net: &TestNet, serial: &str) {
    let held = eventually(WAIT, || async {
        let (_, v) = net
            .post(
                FR,
                "/v1/firearms/check",
                &json!({"make": "Glock", "serial": serial}),
            )
            .await;
        v["verdict"] == "hits"
    })
    .await;
    assert!(held, "DE's record {serial} never reached FR");
    let (code, started) = net
        .post(
            FR,
            "/v1/traces",
            &json!({"make": "Glock", "serial": serial, "case_ref": "FR-1", "reason": "Recovered in Lyon"}),
        )
        .await;
    assert_eq!(code, 202, "{started}");
    let path = format!("/v1/traces/{}", started["id"].as_str().unwrap());
    let done = eventually(WAIT, || async {
        net.get(FR, &path).await.1["state"] == "complete"
    })
    .await;
    assert!(done, "{}", net.get(FR, &path).await.1);
}

/// Waits until member `i` sees `members` members reporting and `seized` seized records.
async fn summary_at(net: &TestNet, i: usize, members: u64, seized: u64) -> Value {
    let reached = eventually(WAIT, || async {
        let (_, s) = net.get(i, "/v1/analysis/summary").await;
        s["members_reporting"] == members && s["records"]["by_status"]["seized"] == seized
    })
    .await;
    let (_, s) = net.get(i, "/v1/analysis/summary").await;
    assert!(reached, "member {i}: {s}");
    s
}

fn leg<'a>(routes: &'a Value, from: &str, to: &str) -> Option<&'a Value> {
    routes["routes"]
        .as_array()?
        .iter()
        .find(|l| l["from"] == from && l["to"] == to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_add_up_at_every_member_and_routes_follow_real_traces() {
    let net = start_low_threshold(3).await;
    for serial in ["GL-1001", "GL-1002", "GL-1003"] {
        create(&net, DE, &glock(serial)).await;
    }
    for serial in ["SW-2001", "SW-2002", "SW-2003", "SW-2004"] {
        create(&net, ES, &revolver(serial)).await;
    }
    create(&net, ES, &lost_beretta()).await;
    for serial in ["GL-1001", "GL-1002", "GL-1003"] {
        trace_from_fr(&net, serial).await;
    }
    for i in [FR, DE, ES] {
        let p = publish(&net, i).await;
        assert_eq!(p["min_count"], 2);
    }

    // Every member sees the same network figures.
    for i in [FR, DE, ES] {
        let s = summary_at(&net, i, 3, 4).await;
        let status = &s["records"]["by_status"];
        assert_eq!(status["stolen"], 3, "{s}");
        assert!(
            status.get("lost").is_none(),
            "one lost record is suppressed: {s}"
        );
        assert!(status.get("other").is_none(), "{s}");
        assert_eq!(s["records"]["by_country"], json!({"DE": 3, "ES": 4}), "{s}");
        assert_eq!(s["recoveries"]["revolver"], 4, "{s}");
        assert_eq!(s["traces"]["sent"], 3, "{s}");
        assert_eq!(s["traces"]["answers_received"]["found"], 3, "{s}");
        assert_eq!(s["traces"]["requests_by_asker"]["FR"], 3, "{s}");
        assert_eq!(s["traces"]["answered"]["found"], 3, "{s}");
        assert!(
            s["checks"]["by_verdict"]["hits"].as_u64().unwrap_or(0) >= 3,
            "{s}"
        );

        // FR's traces put the Glocks on Austria → Germany → France; ES's seizures put the
        // revolvers on United States → Spain.
        let (code, routes) = net.get(i, "/v1/analysis/routes").await;
        assert_eq!(code, 200, "{routes}");
        assert_eq!(routes["members_reporting"], 3);
        let at_de = leg(&routes, "AT", "DE").expect("AT→DE");
        assert_eq!(at_de["count"], 3, "{routes}");
        assert_eq!(at_de["makes"]["Glock"], 3, "{routes}");
        assert_eq!(at_de["types"]["pistol"], 3, "{routes}");
        assert_eq!(leg(&routes, "DE", "FR").expect("DE→FR")["count"], 3);
        assert_eq!(leg(&routes, "US", "ES").expect("US→ES")["count"], 4);
        assert_eq!(routes["routes"].as_array().unwrap().len(), 3, "{routes}");
    }

    // The most travelled legs first, as many as asked.
    let (_, top) = net.get(ES, "/v1/analysis/routes?limit=1").await;
    assert_eq!(top["legs_total"], 3, "{top}");
    assert_eq!(top["routes"].as_array().unwrap().len(), 1, "{top}");
    assert_eq!(
        (&top["routes"][0]["from"], &top["routes"][0]["to"]),
        (&json!("US"), &json!("ES"))
    );

    // Filters: a make keeps only its legs, with its own count.
    let (_, glocks) = net.get(ES, "/v1/analysis/routes?make=glock").await;
    assert_eq!(glocks["routes"].as_array().unwrap().len(), 2, "{glocks}");
    let (_, revolvers) = net.get(ES, "/v1/analysis/routes?type=revolver").await;
    assert_eq!(
        revolvers["routes"].as_array().unwrap().len(),
        1,
        "{revolvers}"
    );
    let (_, fr_only) = net.get(DE, "/v1/analysis/summary?country=FR").await;
    assert_eq!(fr_only["members_reporting"], 1, "{fr_only}");
    assert_eq!(fr_only["traces"]["sent"], 3, "{fr_only}");

    // Trends and time to crime.
    let (_, trend) = net
        .get(DE, "/v1/analysis/trends?metric=records&by=month")
        .await;
    let series = trend["series"].as_array().unwrap();
    assert_eq!(series.len(), 12, "{trend}");
    assert_eq!(series[11]["value"], 7, "{trend}");
    assert_eq!(series[11]["members_reporting"], 3, "{trend}");
    let (_, ttc) = net.get(FR, "/v1/analysis/time-to-crime").await;
    let total = |m: &Value| {
        m.as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_u64)
            .sum::<u64>()
    };
    assert_eq!(total(&ttc["own"]), 3, "FR's three traces: {ttc}");
    assert_eq!(total(&ttc["network"]), 7, "FR's three and ES's four: {ttc}");

    // A later publication replaces the month: ES seizes two more revolvers.
    for serial in ["SW-2005", "SW-2006"] {
        create(&net, ES, &revolver(serial)).await;
    }
    publish(&net, ES).await;
    for i in [FR, DE, ES] {
        let s = summary_at(&net, i, 3, 6).await;
        assert_eq!(s["records"]["by_country"]["ES"], 6, "{s}");
        let (_, routes) = net.get(i, "/v1/analysis/routes").await;
        assert_eq!(leg(&routes, "US", "ES").expect("US→ES")["count"], 6);
    }

    // CSV.
    let csv = net.get_text(FR, "/v1/analysis/routes?format=csv").await;
    assert!(csv.starts_with("from,to,count,makes,types\n"), "{csv}");
    assert!(csv.contains("US,ES,6,"), "{csv}");
    let csv = net.get_text(FR, "/v1/analysis/summary?format=csv").await;
    assert!(csv.contains("records.by_status,seized,6"), "{csv}");

    // Pictures: the map draws the leg, the charts name their figures, as SVG documents.
    let url = |path: &str| format!("http://{}{path}", net.node(FR).api_addr);
    let picture = |path: &'static str| {
        let request = reqwest::Client::new()
            .get(url(path))
            .bearer_auth(&net.members[FR].token);
        async move {
            let answer = request.send().await.expect("API reachable");
            let kind = answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            (answer.status().as_u16(), kind, answer.text().await.unwrap())
        }
    };
    let (code, kind, map) = picture("/v1/analysis/routes?format=svg").await;
    assert_eq!((code, kind.as_str()), (200, "image/svg+xml; charset=utf-8"));
    assert!(map.starts_with("<svg") || map.starts_with("<?xml"), "{map}");
    assert_eq!(
        map.matches("class=\"leg\"").count(),
        3,
        "AT → DE, DE → FR, US → ES"
    );
    let (_, _, chart) = picture("/v1/analysis/summary?format=svg&chart=by_make").await;
    assert!(
        chart.contains("Smith &amp; Wesson"),
        "escaped make: {chart}"
    );
    let (_, _, trend) = picture("/v1/analysis/trends?metric=records&format=svg").await;
    assert!(trend.contains("Records per month"), "{trend}");
    let (_, _, ttc) = picture("/v1/analysis/time-to-crime?format=svg").await;
    assert!(ttc.contains("Time from last legal transfer"), "{ttc}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_counts_are_suppressed_survive_a_restart_and_bad_parameters_are_named() {
    let mut net = TestNet::start(1).await;
    for n in 0..6 {
        create(&net, FR, &revolver(&format!("SW-{n}"))).await;
    }
    for n in 0..4 {
        let mut lost = lost_beretta();
        lost["serial"] = json!(format!("BE-{n}"));
        create(&net, FR, &lost).await;
    }
    let published = publish(&net, FR).await;
    assert_eq!(published["min_count"], 5, "the default threshold");
    let reached = eventually(WAIT, || async {
        net.get(FR, "/v1/analysis/summary").await.1["members_reporting"] == 1
    })
    .await;
    assert!(reached);
    let (_, s) = net.get(FR, "/v1/analysis/summary").await;
    // Four lost Berettas: below 5, and `other` (4) too.
    assert_eq!(s["records"]["by_status"], json!({"seized": 6}), "{s}");
    assert_eq!(s["records"]["by_make"], json!({"Smith & Wesson": 6}), "{s}");
    assert_eq!(s["records"]["by_type"], json!({"revolver": 6}), "{s}");

    // After a restart the projection is rebuilt from the feed, and the tally kept the checks
    // made before it: a publication then still counts them.
    for _ in 0..5 {
        let (code, _) = net
            .post(
                FR,
                "/v1/firearms/check",
                &json!({"make": "Glock", "serial": "NONE-1"}),
            )
            .await;
        assert_eq!(code, 200);
    }
    net.stop_member(FR).await;
    net.start_member(FR).await;
    let replayed = eventually(WAIT, || async {
        net.get(FR, "/v1/analysis/summary").await.1["records"]["by_status"] == json!({"seized": 6})
    })
    .await;
    assert!(replayed, "{}", net.get(FR, "/v1/analysis/summary").await.1);
    publish(&net, FR).await;
    let counted = eventually(WAIT, || async {
        net.get(FR, "/v1/analysis/summary").await.1["checks"]["by_verdict"]["no_record"] == 5
    })
    .await;
    assert!(counted, "{}", net.get(FR, "/v1/analysis/summary").await.1);

    let bad = [
        ("/v1/analysis/summary?from=2026-13", "from"),
        ("/v1/analysis/summary?to=26-01", "to"),
        ("/v1/analysis/summary?from=2026-05&to=2026-01", "from"),
        ("/v1/analysis/summary?from=2000-01&to=2026-01", "from"),
        ("/v1/analysis/summary?bogus=1", "bogus"),
        ("/v1/analysis/summary?format=xml", "format"),
        ("/v1/analysis/summary?format=svg&chart=by_colour", "chart"),
        ("/v1/analysis/drafts?to=2026-1", "to"),
        ("/v1/analysis/routes?colour=red", "colour"),
        ("/v1/analysis/routes?limit=0", "limit"),
        ("/v1/analysis/trends?metric=nonsense", "metric"),
        ("/v1/analysis/trends?by=week", "by"),
        ("/v1/analysis/time-to-crime?to=2026-00", "to"),
        ("/v1/analysis/publish?now=1", "now"),
    ];
    for (path, field) in bad {
        let (code, v) = if path.contains("publish") {
            net.post(FR, path, &json!({})).await
        } else {
            net.get(FR, path).await
        };
        assert_eq!(code, 400, "{path}: {v}");
        assert_eq!(v["error"]["field"], field, "{path}: {v}");
    }
    net.shutdown().await;
}

/// A pen gun (a disguised firearm) seized at a member.
fn pen_gun(serial: &str) -> Value {
    json!({"make": "Unknown", "model": "pen", "caliber": ".22 LR", "serial": serial, "type": "pen gun",
           "status": "seized"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pen_guns_seized_at_two_members_are_proposed_as_an_orange_notice_that_an_officer_issues() {
    let net = start_low_threshold(3).await;
    for (i, prefix) in [(FR, "FR-PEN-"), (DE, "DE-PEN-")] {
        for n in 0..2 {
            create(&net, i, &pen_gun(&format!("{prefix}{n}"))).await;
        }
        publish(&net, i).await;
    }
    // ES holds no pen gun; it sees the pattern in FR's and DE's published figures.
    let found = eventually(WAIT, || async {
        let (_, d) = net.get(ES, "/v1/analysis/drafts").await;
        d["drafts"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let (code, d) = net.get(ES, "/v1/analysis/drafts").await;
    assert!(found && code == 200, "{d}");
    let drafts = d["drafts"].as_array().expect("drafts");
    assert_eq!(drafts.len(), 1, "{d}");
    let draft = &drafts[0];
    assert_eq!(draft["kind"], "orange");
    assert_eq!(draft["rule"], "disguised_type_spread");
    assert_eq!(draft["members"], 2);
    let countries: std::collections::BTreeSet<&str> = draft["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(|e| e["country"].as_str())
        .collect();
    assert_eq!(
        countries.into_iter().collect::<Vec<_>>(),
        ["DE", "FR"],
        "{draft}"
    );
    assert_eq!(draft["title"], "Disguised firearm reported by 2 members");
    assert!(
        draft["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("at least 4 "),
        "seized pen guns are recorded and recovered, and counted once: {draft}"
    );

    // Nothing was issued; an officer at ES issues the draft as it stands, and DE receives it.
    let (_, notices) = net.get(DE, "/v1/notices").await;
    assert_eq!(notices.as_array().map(Vec::len), Some(0), "{notices}");
    let notice = json!({"kind": draft["kind"], "title": draft["title"],
        "summary": draft["summary"], "body": draft["body"]});
    let (code, issued) = net.post(ES, "/v1/notices", &notice).await;
    assert_eq!(code, 201, "{issued}");
    let arrived = eventually(WAIT, || async {
        let (_, notices) = net.get(DE, "/v1/notices").await;
        notices
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n["title"] == draft["title"]))
    })
    .await;
    assert!(arrived, "the issued draft never reached DE");
    net.shutdown().await;
}
