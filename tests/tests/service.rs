//! The node as its IT staff run it: `/metrics` names routes, statuses and the build without
//! letting callers mint series, and the API serves HTTPS itself from the certificate and key
//! in the config.

use std::path::Path;

use striae_tests::TestNet;

/// Adds `tls_cert` and `tls_key` to member `i`'s `[api]` section.
fn configure_tls(net: &TestNet, i: usize, cert: &Path, key: &Path) {
    let path = &net.members[i].config;
    let text = std::fs::read_to_string(path).expect("config");
    let with_tls = text.replacen(
        "[api]\n",
        &format!(
            "[api]\ntls_cert = {:?}\ntls_key = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
        1,
    );
    assert_ne!(text, with_tls, "the config has an [api] section");
    std::fs::write(path, with_tls).expect("write config");
}

/// A certificate authority and a certificate for 127.0.0.1 signed by it: (CA PEM, cert PEM,
/// key PEM).
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Test bureau CA");
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("leaf params");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .expect("leaf certificate");
    (ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_https_from_the_configured_certificate() {
    let mut net = TestNet::create(1);
    let (ca, cert, key) = certificates();
    let dir = net.dir.path().to_path_buf();
    let (cert_file, key_file) = (dir.join("api.crt"), dir.join("api.key"));
    std::fs::write(&cert_file, &cert).expect("cert");
    std::fs::write(&key_file, &key).expect("key");
    configure_tls(&net, 0, &cert_file, &key_file);
    net.start_member(0).await;
    let addr = net.node(0).api_addr;

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"))
        .build()
        .expect("client");
    let health = client
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .expect("HTTPS answers");
    assert_eq!(health.text().await.expect("body"), "ok");
    let status = client
        .get(format!("https://{addr}/v1/status"))
        .bearer_auth(&net.members[0].token)
        .send()
        .await
        .expect("HTTPS answers");
    assert_eq!(status.status().as_u16(), 200);

    // Plain HTTP on the same port gets no answer, and a client that does not trust the
    // bureau's authority refuses the certificate.
    let plain = reqwest::get(format!("http://{addr}/healthz")).await;
    assert!(plain.is_err() || !plain.expect("answer").status().is_success());
    let untrusting = reqwest::get(format!("https://{addr}/healthz")).await;
    assert!(untrusting.is_err(), "an unknown authority is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_a_certificate_and_no_key_is_refused_naming_the_field() {
    let net = TestNet::create(1);
    let path = &net.members[0].config;
    let text = std::fs::read_to_string(path).expect("config");
    std::fs::write(
        path,
        text.replacen("[api]\n", "[api]\ntls_cert = \"api.crt\"\n", 1),
    )
    .expect("write config");
    let error = striae_node::config::NodeConfig::load(path).unwrap_err();
    assert!(error.to_string().contains("api.tls_key"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_status_and_name_the_build() {
    let net = TestNet::start(1).await;
    for _ in 0..3 {
        let (status, _) = net.get(0, "/v1/status").await;
        assert_eq!(status, 200);
    }
    let (status, _) = net
        .get(0, "/v1/traces/0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(status, 404);
    // Unknown paths must not become series of their own.
    for n in 0..5 {
        let _ = net.get(0, &format!("/v1/no-such-route-{n}")).await;
    }
    let check = serde_json::json!({"make": "Wather", "serial": "WK1O5733"});
    let (status, answer) = net.post(0, "/v1/firearms/check", &check).await;
    assert_eq!(status, 200, "{answer}");

    let text = net.get_text(0, "/metrics").await;
    for expected in [
        "striae_build_info{version=",
        r#"striae_http_requests_total{method="GET",route="/v1/status",status="200"} 3"#,
        r#"route="/v1/traces/{id}",status="404"} 1"#,
        r#"striae_http_requests_total{method="GET",route="unmatched",status="404"} 5"#,
        r#"striae_http_request_duration_seconds_bucket{le="#,
        r#"striae_checks_total{kind="inconclusive"} 1"#,
        r#"striae_queued{kind="trace_reviews"} 0"#,
        r#"striae_size{kind="firearm_digests"}"#,
    ] {
        assert!(text.contains(expected), "no `{expected}` in\n{text}");
    }
    assert!(!text.contains("no-such-route"), "{text}");

    // The Grafana dashboard in configs/ charts only series the node has.
    let dashboard = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/grafana/striae-node.json"),
    )
    .expect("dashboard");
    let mut charted = 0;
    for word in dashboard.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some(name) = word.strip_prefix("striae_") {
            let family = name.trim_end_matches("_bucket").trim_end_matches("_total");
            assert!(
                text.contains(&format!("# TYPE striae_{family} ")),
                "the dashboard charts striae_{name}, which /metrics does not have"
            );
            charted += 1;
        }
    }
    assert!(charted >= 10, "{charted} series charted");
}
