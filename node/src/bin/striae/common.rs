//! What every client command shares: how to reach the node and how to print its answers.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::Value;
use striae_node::client::Client;

#[derive(Args, Clone)]
pub(crate) struct Target {
    /// API base URL, e.g. http://127.0.0.1:47001
    #[arg(long, env = "STRIAE_API", global = true)]
    pub api: Option<String>,
    /// API token
    #[arg(long, env = "STRIAE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Node config file: the API address and token are read from it
    #[arg(long, env = "STRIAE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// PEM certificates to trust for an HTTPS API (the bureau's own authority)
    #[arg(long, env = "STRIAE_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,
}

pub(crate) fn client(t: &Target) -> Result<Client> {
    Ok(Client::resolve(
        t.api.clone(),
        t.token.clone(),
        t.config.clone(),
        t.ca.clone(),
    )?)
}

pub(crate) fn print(t: &Target, value: &Value, human: impl FnOnce(&Value) -> String) {
    if t.json {
        println!("{value}");
    } else {
        println!("{}", human(value));
    }
}

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// `?a=b&c=d` with every value percent-encoded; absent values are left out.
pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> Result<String> {
    let mut url = reqwest::Url::parse("http://query/")?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    Ok(url.query().map(|q| format!("?{q}")).unwrap_or_default())
}
