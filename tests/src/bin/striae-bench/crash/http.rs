//! The harness's HTTP client: answers kept with their status.

use super::*;

/// An HTTP answer: status and JSON body (`null` when the body is not JSON).
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
}

impl Answer {
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One member's API.
#[derive(Clone)]
pub(super) struct Api {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) token: String,
}

impl Api {
    pub(super) async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    pub(super) async fn get(&self, path: &str) -> Result<Answer> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub(super) async fn post_json(&self, path: &str, body: &Value) -> Result<Answer> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub(super) async fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Answer> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        self.send(request).await
    }
}
