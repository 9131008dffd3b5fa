//! The web console as a real member serves it: `/` redirects to `/console/`; the page and its
//! files are served without a token, with their content types and security headers, beside an
//! API that still refuses `/v1` without one; a token in the query string is refused; the
//! devnet's console link carries the token in the fragment only.

use reqwest::{StatusCode, redirect::Policy};
use striae_node::console::{ASSETS, CONTENT_SECURITY_POLICY};
use striae_tests::TestNet;

#[tokio::test]
async fn a_member_serves_its_console_without_a_token_and_its_data_only_with_one() {
    let net = TestNet::start(1).await;
    let base = format!("http://{}", net.node(0).api_addr);
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");

    let root = client.get(format!("{base}/")).send().await.expect("answer");
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(root.headers()["location"], "/console/");

    for asset in ASSETS {
        let path = if asset.path == "index.html" {
            "/console/".to_string()
        } else {
            format!("/console/{}", asset.path)
        };
        let r = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], asset.content_type, "{path}");
        assert_eq!(
            r.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
    }

    // The data stays behind the token.
    let me = client
        .get(format!("{base}/v1/me"))
        .send()
        .await
        .expect("answer");
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let me = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(&net.members[0].token)
        .send()
        .await
        .expect("answer");
    assert_eq!(me.status(), StatusCode::OK);

    // A token in the query string signs nobody in.
    let query = client
        .get(format!("{base}/console/?token={}", net.members[0].token))
        .send()
        .await
        .expect("answer");
    assert_eq!(query.status(), StatusCode::BAD_REQUEST);
    assert!(query.headers().get("set-cookie").is_none());
    let body = query.text().await.expect("body");
    assert!(!body.contains(&net.members[0].token), "{body}");

    // Unknown paths are still the API's 404.
    let other = client
        .get(format!("{base}/nothing"))
        .send()
        .await
        .expect("answer");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    // The devnet's console link: the API's console, the token after `#` only.
    let link = &net.members[0].console;
    let (before, after) = link.split_once('#').expect("a fragment");
    assert_eq!(before, format!("{}/console/", net.members[0].api));
    assert_eq!(after, format!("token={}", net.members[0].token));
}
