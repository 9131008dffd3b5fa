//! The CLI's HTTP client: finds the API and token (flags, environment or a node config) and
//! calls the routes, turning API errors into one readable line.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{NodeFile, TOKEN_FILE};

/// Client failures, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No way to find the API.
    #[error("{0}")]
    Setup(String),
    /// The API could not be reached.
    #[error("cannot reach the node API at {url}: {message} (is `striae run` running?)")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The API answered with an error.
    #[error("{status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
}

/// The API's base URL from what the operator typed: `127.0.0.1:47001` means
/// `http://127.0.0.1:47001`; anything that is not an http(s) URL with a host is refused in
/// the operator's terms.
fn api_base(given: &str) -> Result<String, ClientError> {
    let given = given.trim().trim_end_matches('/');
    let url = if given.contains("://") {
        given.to_string()
    } else {
        format!("http://{given}")
    };
    let parsed = reqwest::Url::parse(&url).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    match parsed {
        Some(_) => Ok(url),
        None => Err(ClientError::Setup(format!(
            "--api {given}: give the node's API address, such as http://127.0.0.1:47001 \
             (see `api.listen` in its node.toml)"
        ))),
    }
}

/// Where and how to reach a node's API.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// From explicit values, or a node config file (API address and the token in its data dir).
    pub fn resolve(
        api: Option<String>,
        token: Option<String>,
        config: Option<PathBuf>,
        ca: Option<PathBuf>,
    ) -> Result<Self, ClientError> {
        let (mut base, mut tok, mut ca) = (api, token, ca);
        if let Some(path) = config {
            let found = from_config(&path)?;
            base.get_or_insert(found.base);
            tok.get_or_insert(found.token);
            if let Some(cert) = found.cert {
                ca.get_or_insert(cert);
            }
        }
        let base = base.ok_or_else(|| {
            ClientError::Setup(
                "say which node: --config FILE, or --api URL with --token TOKEN".into(),
            )
        })?;
        let token = tok.ok_or_else(|| {
            ClientError::Setup("no API token: pass --token TOKEN or --config FILE".into())
        })?;
        Ok(Client {
            base: api_base(&base)?,
            token,
            http: http_client(ca.as_deref())?,
        })
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let bytes = self.send_for_bytes(builder).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends with the token; the body of a success, or the API's error message.
    async fn send_for_bytes(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, ClientError> {
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: self.base.clone(),
            message: e.to_string(),
        };
        let response = builder
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let message = value["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        Err(ClientError::Api {
            status: status.as_u16(),
            message,
        })
    }

    /// `GET path` of something other than JSON (a picture): its bytes.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        self.send_for_bytes(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// `POST path` with a raw body of `content_type` (CSV, NDJSON, X3P bytes).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value, ClientError> {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    /// Sends `method path` and writes the answer's body to `out` as it arrives (backups and
    /// exports may be larger than memory); the bytes written. A failed transfer leaves no
    /// file behind.
    pub async fn download(
        &self,
        method: reqwest::Method,
        path: &str,
        out: &Path,
    ) -> Result<u64, ClientError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut response = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            let message = value["error"]["message"]
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            return Err(ClientError::Api { status, message });
        }
        let cannot_write =
            |e: std::io::Error| ClientError::Setup(format!("{}: {e}", out.display()));
        let partial = out.with_extension("partial");
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(cannot_write)?;
        let mut written = 0u64;
        let copied = async {
            while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                    .await
                    .map_err(cannot_write)?;
                written += chunk.len() as u64;
            }
            file.sync_all().await.map_err(cannot_write)
        }
        .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
        tokio::fs::rename(&partial, out)
            .await
            .map_err(cannot_write)?;
        Ok(written)
    }

    /// `DELETE path`.
    pub async fn send_delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(body))
            .await
    }
}

/// An HTTP client that also trusts the certificates in `ca` (PEM), for a node whose API
/// certificate comes from the bureau's own authority.
fn http_client(ca: Option<&Path>) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca)
            .map_err(|e| ClientError::Setup(format!("--ca {}: {e}", ca.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            ClientError::Setup(format!("--ca {}: not PEM certificates: {e}", ca.display()))
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| ClientError::Setup(format!("cannot set up HTTPS: {e}")))
}

/// What a node config tells a client.
struct FromConfig {
    base: String,
    token: String,
    /// The API's certificate chain when it serves HTTPS (trusted by the client).
    cert: Option<PathBuf>,
}

fn from_config(path: &Path) -> Result<FromConfig, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Setup(format!("{}: {e}", path.display())))?;
    let file: NodeFile = toml::from_str(&text)
        .map_err(|e| ClientError::Setup(format!("{}: {e}", path.display())))?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let token_path = base_dir.join(&file.node.data_dir).join(TOKEN_FILE);
    let token = std::fs::read_to_string(&token_path)
        .map_err(|e| ClientError::Setup(format!("{}: {e}", token_path.display())))?;
    let scheme = if file.api.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(FromConfig {
        base: format!("{scheme}://{}", file.api.listen),
        token: token.trim().to_string(),
        cert: file.api.tls_cert.map(|c| base_dir.join(c)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_scheme_is_taken_as_http_and_garbage_is_refused_plainly() {
        assert_eq!(
            api_base("127.0.0.1:47001").unwrap(),
            "http://127.0.0.1:47001"
        );
        assert_eq!(
            api_base("https://node.example/").unwrap(),
            "https://node.example"
        );
        let refused = api_base("ftp://x").unwrap_err().to_string();
        assert!(refused.contains("--api ftp://x"), "{refused}");
        assert!(api_base("two words").is_err());
    }
}
