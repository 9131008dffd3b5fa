//! How the daemon itself is run: `[log]` (level, format, file), the API's TLS (`[api]
//! tls_cert`, `tls_key`) and `[accounts]` (what signed requests say of the user who asked),
//! checked when the config is read so that a typo fails at start, not at the first log line or
//! the first HTTPS client.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// What a signed request to another member says of the user who asked it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserOnWire {
    /// The user's account id: an opaque reference that only this bureau can resolve to a
    /// person (the default).
    #[default]
    Id,
    /// The account's name as an administrator wrote it (personal data leaves the bureau).
    Name,
    /// Nothing: the holder's audit log names the bureau only.
    None,
}

/// `[accounts]` of the node config file (optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsSection {
    /// What signed requests carry of the acting user: `id` (default), `name` or `none`.
    #[serde(default)]
    pub user_on_wire: UserOnWire,
}

/// The level filter when neither the config nor `RUST_LOG` sets one.
pub const DEFAULT_LOG_LEVEL: &str = "info,libp2p=warn,sled=warn";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One line of text per event (colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[log]` of the node config file (optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A level filter in `RUST_LOG` syntax, e.g. `info` or `info,striae_node::firearms=debug`
    /// (default `DEFAULT_LOG_LEVEL`; `RUST_LOG` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// `text` or `json` (default text; `striae run --log-format` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
    /// A file to append log lines to instead of standard error (relative to the config file).
    /// Rotate it with logrotate's `copytruncate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// Logging as configured, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The level filter.
    pub level: String,
    /// The format, if the config names one.
    pub format: Option<LogFormat>,
    /// The file to append to, if any (absolute or relative to the working dir).
    pub file: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: DEFAULT_LOG_LEVEL.to_string(),
            format: None,
            file: None,
        }
    }
}

impl LogConfig {
    /// Checks `section`: the level must parse, the file's folder must exist.
    pub fn from_section(
        section: LogSection,
        base: &Path,
        path: &Path,
    ) -> Result<Self, ConfigError> {
        let level = section
            .level
            .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string());
        tracing_subscriber::EnvFilter::try_new(&level).map_err(|e| {
            invalid(
                path,
                "log.level",
                format!("`{level}` is not a level filter: {e}"),
            )
        })?;
        let file = section.file.map(|f| base.join(f));
        if let Some(file) = &file {
            let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
            if folder.is_some_and(|p| !p.is_dir()) {
                return Err(invalid(
                    path,
                    "log.file",
                    format!("the folder of {} does not exist", file.display()),
                ));
            }
        }
        Ok(LogConfig {
            level,
            format: section.format,
            file,
        })
    }
}

/// The API's certificate chain and private key (PEM files), when it serves HTTPS itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both `api.tls_cert` and `api.tls_key`, or neither; relative to the config file; both
    /// readable.
    pub fn from_section(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        base: &Path,
        path: &Path,
    ) -> Result<Option<Self>, ConfigError> {
        let (cert, key) = match (cert, key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (base.join(cert), base.join(key)),
            (Some(_), None) => {
                return Err(invalid(path, "api.tls_key", "tls_cert needs tls_key too"));
            }
            (None, Some(_)) => {
                return Err(invalid(path, "api.tls_cert", "tls_key needs tls_cert too"));
            }
        };
        for (field, file) in [("api.tls_cert", &cert), ("api.tls_key", &key)] {
            if let Err(e) = std::fs::metadata(file) {
                return Err(invalid(
                    path,
                    field,
                    format!("cannot read {}: {e}", file.display()),
                ));
            }
        }
        Ok(Some(TlsFiles { cert, key }))
    }
}
