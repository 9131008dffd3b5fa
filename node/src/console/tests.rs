//! The console's routes served on loopback and read back with an HTTP client: redirects,
//! content types, security headers, caching, the refusal of a token in the query string, and
//! checks over the embedded files themselves (no external URL, no `innerHTML`).

use reqwest::{StatusCode, redirect::Policy};

use super::*;

/// Serves `routes()` on a loopback port; its base URL.
async fn serve_console() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, routes::<()>()).await;
    });
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

fn assert_secured(response: &reqwest::Response, what: &str) {
    let h = response.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("img-src 'self' blob: data:"), "{what}: {csp}");
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "{what}"
    );
    assert_eq!(
        h.get("referrer-policy").map(|v| v.as_bytes()),
        Some(&b"no-referrer"[..]),
        "{what}"
    );
}

#[tokio::test]
async fn the_root_and_the_bare_path_redirect_to_the_console() {
    let base = serve_console().await;
    for path in ["/", "/console"] {
        let r = client()
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            r.headers().get("location").map(|v| v.as_bytes()),
            Some(&b"/console/"[..]),
            "{path}"
        );
        assert_secured(&r, path);
    }
}

#[tokio::test]
async fn the_page_and_every_file_are_served_with_their_type_and_policy() {
    let base = serve_console().await;
    let page = client()
        .get(format!("{base}/console/"))
        .send()
        .await
        .expect("answer");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/html; charset=utf-8"[..])
    );
    assert_secured(&page, "/console/");
    let html = page.text().await.expect("body");
    assert!(html.contains("<html lang=\"en\">"), "{html}");

    for asset in ASSETS {
        let url = format!("{base}/console/{}", asset.path);
        let r = client().get(&url).send().await.expect("answer");
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        let expected = match asset.path.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{url}: unexpected extension {other:?}"),
        };
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some(expected),
            "{url}"
        );
        assert_eq!(
            r.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-cache"),
            "{url}"
        );
        assert_secured(&r, &url);
        let etag = r.headers().get("etag").cloned().expect("etag");
        assert_eq!(
            r.bytes().await.expect("body").as_ref(),
            asset.bytes,
            "{url}"
        );
        let again = client()
            .get(&url)
            .header("if-none-match", etag)
            .send()
            .await
            .expect("answer");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
    }

    let missing = client()
        .get(format!("{base}/console/nothing.js"))
        .send()
        .await
        .expect("answer");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_secured(&missing, "a missing file");
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused_and_never_echoed() {
    let base = serve_console().await;
    for path in [
        "/console/?token=secret-x",
        "/console/app.js?a=1&Token=secret-x",
    ] {
        let r = client()
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(r.headers().get("set-cookie").is_none(), "{path}");
        assert_secured(&r, path);
        let body = r.text().await.expect("body");
        assert!(body.contains("#token="), "{body}");
        assert!(!body.contains("secret-x"), "{body}");
    }
    // The page itself never reads the query string for a token.
    for asset in ASSETS {
        let text = std::str::from_utf8(asset.bytes).expect("UTF-8");
        assert!(
            !text.contains("location.search") && !text.contains("URLSearchParams(location"),
            "{} reads the query string",
            asset.path
        );
    }
}

/// `text` without comments (`/* */`, `//` at a line start or after a space, `<!-- -->`).
fn without_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->").map_or("", |(_, r)| r);
        } else if (rest.starts_with(" //") || rest.starts_with("\n//")) && !rest.starts_with(" ///")
        {
            out.push('\n');
            rest = rest[1..].split_once('\n').map_or("", |(_, r)| r);
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[test]
fn the_files_name_no_external_url_and_build_the_dom_without_html_strings() {
    for asset in ASSETS {
        let text = std::str::from_utf8(asset.bytes).expect("UTF-8");
        let code = without_comments(text);
        for scheme in ["http://", "https://", "//cdn", "ws://", "wss://"] {
            let allowed = asset.path.ends_with(".svg") && scheme == "http://";
            let found = code.match_indices(scheme).any(|(i, _)| {
                // The SVG namespace is a name, not a fetch.
                !(allowed && code[i..].starts_with("http://www.w3.org/2000/svg"))
            });
            assert!(!found, "{} names an external URL ({scheme})", asset.path);
        }
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!code.contains(sink), "{} uses {sink}", asset.path);
        }
    }
}

#[test]
fn every_asset_file_on_disk_is_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console/assets");
    let mut on_disk = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("assets folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&dir).expect("below assets");
                on_disk.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    on_disk.sort();
    let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
}

#[test]
fn query_tokens_are_recognised() {
    assert!(has_token_parameter(Some("token=abc")));
    assert!(has_token_parameter(Some("x=1&TOKEN=abc")));
    assert!(has_token_parameter(Some("token")));
    assert!(!has_token_parameter(Some("tokens=1")));
    assert!(!has_token_parameter(None));
}
