//! `[blobs]` of the node config: where the raw X3P files of this node's exhibits are kept, a
//! folder (the default, `data_dir/blobs`) or an S3-compatible object store (`s3://bucket/prefix`).
//! Credentials never come from the file: a node reads them from the environment.

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// How long one request to the object store may take when the config does not say (a 64 MiB
/// scan must upload within it).
pub const DEFAULT_BLOB_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest `blobs.timeout` accepted.
pub const MAX_BLOB_TIMEOUT: Duration = Duration::from_secs(600);

/// `[blobs]` of the node config file (optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsSection {
    /// `s3://bucket/prefix` or `file:///absolute/folder`; the default is the folder
    /// `blobs` in the data dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The S3 endpoint, for MinIO, Ceph or another S3-compatible store
    /// (`http://minio.bureau.example:9000`); else `AWS_ENDPOINT_URL` / `AWS_ENDPOINT`, else
    /// AWS itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The S3 region; else `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Allow a plain-HTTP endpoint; else `AWS_ALLOW_HTTP`, else false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
    /// How long one request may take (`60s` by default, at most `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Where this node keeps raw scans, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobsConfig {
    /// Files under a folder.
    Folder(PathBuf),
    /// Objects in an S3-compatible store.
    S3(S3Blobs),
}

/// An S3 bucket and key prefix, with what the config says about reaching it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Blobs {
    /// The bucket.
    pub bucket: String,
    /// The key prefix without slashes at either end (empty: the bucket's root).
    pub prefix: String,
    /// The endpoint, when the config names one (else the environment's, else AWS).
    pub endpoint: Option<String>,
    /// The region, when the config names one.
    pub region: Option<String>,
    /// Whether plain HTTP is allowed, when the config says.
    pub allow_http: Option<bool>,
    /// How long one request may take.
    pub timeout: Duration,
    /// Keys given by the program that starts the node (tests, an embedding program). The
    /// config file never holds them: left `None`, they come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    pub credentials: Option<S3Credentials>,
}

impl S3Blobs {
    /// `s3://bucket/prefix`, for logs and errors.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A static S3 key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl BlobsConfig {
    /// Validates `[blobs]`; `data_dir` gives the default folder, `path` names the file in
    /// errors.
    pub fn from_section(
        section: Option<BlobsSection>,
        data_dir: &Path,
        path: &Path,
    ) -> Result<Self, ConfigError> {
        let section = section.unwrap_or_default();
        let s3_only = |field: &str| {
            invalid(
                path,
                &format!("blobs.{field}"),
                "applies only to an `s3://` blobs.url",
            )
        };
        let url = match section.url.as_deref() {
            None => None,
            Some(u) => Some(parse_url(u).map_err(|m| invalid(path, "blobs.url", m))?),
        };
        let Some(Location::S3 { bucket, prefix }) = url else {
            if section.endpoint.is_some() {
                return Err(s3_only("endpoint"));
            }
            if section.region.is_some() {
                return Err(s3_only("region"));
            }
            if section.allow_http.is_some() {
                return Err(s3_only("allow_http"));
            }
            if section.timeout.is_some() {
                return Err(s3_only("timeout"));
            }
            return Ok(match url {
                Some(Location::Folder(dir)) => BlobsConfig::Folder(dir),
                _ => BlobsConfig::Folder(data_dir.join("blobs")),
            });
        };
        let timeout = match section.timeout.as_deref() {
            None => DEFAULT_BLOB_TIMEOUT,
            Some(t) => humantime::parse_duration(t)
                .ok()
                .filter(|d| !d.is_zero() && *d <= MAX_BLOB_TIMEOUT)
                .ok_or_else(|| {
                    invalid(
                        path,
                        "blobs.timeout",
                        format!("{t:?} is not a duration from 1ms to 10m (such as `60s`)"),
                    )
                })?,
        };
        if let Some(endpoint) = &section.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(invalid(
                path,
                "blobs.endpoint",
                format!("{endpoint:?} is not an http:// or https:// URL"),
            ));
        }
        Ok(BlobsConfig::S3(S3Blobs {
            bucket,
            prefix,
            endpoint: section.endpoint,
            region: section.region,
            allow_http: section.allow_http,
            timeout,
            credentials: None,
        }))
    }
}

enum Location {
    Folder(PathBuf),
    S3 { bucket: String, prefix: String },
}

const URL_FORMS: &str = "use `s3://bucket/prefix` or `file:///absolute/folder`";

fn parse_url(url: &str) -> Result<Location, String> {
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(format!(
                "{url:?}: a file URL names an absolute folder on this machine (`file:///srv/blobs`)"
            ));
        }
        return Ok(Location::Folder(PathBuf::from(rest)));
    }
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(format!("{url:?} is not a blob store URL: {URL_FORMS}"));
    };
    if rest.contains(['@', '?', '#']) {
        return Err(format!(
            "{url:?}: the URL holds only the bucket and prefix (credentials come from the \
             environment, options from the other `[blobs]` fields)"
        ));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket(bucket).map_err(|m| format!("{url:?}: {m}"))?;
    let prefix = prefix.trim_matches('/');
    for segment in prefix.split('/').filter(|_| !prefix.is_empty()) {
        let ok = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            return Err(format!(
                "{url:?}: the prefix's parts must be letters, digits, `-`, `_` or `.` \
                 (not {segment:?})"
            ));
        }
    }
    Ok(Location::S3 {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    })
}

/// S3's bucket naming rules, the part that matters for a URL.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && edge_ok(bucket.bytes().next())
        && edge_ok(bucket.bytes().last());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{bucket:?} is not a bucket name (3 to 63 lower-case letters, digits, `-` or `.`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BlobsConfig, ConfigError> {
        let section: BlobsSection = toml::from_str(text).expect("test section parses");
        BlobsConfig::from_section(Some(section), Path::new("/d"), Path::new("node.toml"))
    }

    #[test]
    fn blobs_default_to_the_data_dir_and_take_file_and_s3_urls() {
        let none = BlobsConfig::from_section(None, Path::new("/d"), Path::new("n.toml"));
        assert_eq!(none.ok(), Some(BlobsConfig::Folder("/d/blobs".into())));
        assert_eq!(
            parse("url = \"file:///srv/scans\"").ok(),
            Some(BlobsConfig::Folder("/srv/scans".into()))
        );
        let Ok(BlobsConfig::S3(s3)) = parse(
            "url = \"s3://bureau-scans/node/fr/\"\nendpoint = \"http://127.0.0.1:9000\"\n\
             allow_http = true\ntimeout = \"5s\"",
        ) else {
            panic!("an s3 url parses");
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str()),
            ("bureau-scans", "node/fr")
        );
        assert_eq!(s3.url(), "s3://bureau-scans/node/fr");
        assert_eq!(s3.timeout, Duration::from_secs(5));
        assert_eq!(s3.allow_http, Some(true));
        assert!(s3.credentials.is_none());
        let Ok(BlobsConfig::S3(bare)) = parse("url = \"s3://scans\"") else {
            panic!("a bucket alone parses");
        };
        assert_eq!(
            (bare.prefix.as_str(), bare.timeout),
            ("", DEFAULT_BLOB_TIMEOUT)
        );
    }

    #[test]
    fn bad_blobs_settings_name_the_field() {
        for (text, field) in [
            ("url = \"ftp://x/y\"", "blobs.url"),
            ("url = \"s3://Bad_Bucket/p\"", "blobs.url"),
            ("url = \"s3://b\"", "blobs.url"),
            ("url = \"s3://key:secret@bucket/p\"", "blobs.url"),
            ("url = \"s3://bucket/a/../b\"", "blobs.url"),
            ("url = \"s3://bucket/a//b\"", "blobs.url"),
            ("url = \"file://relative/dir\"", "blobs.url"),
            ("url = \"s3://bucket\"\ntimeout = \"soon\"", "blobs.timeout"),
            ("url = \"s3://bucket\"\ntimeout = \"1h\"", "blobs.timeout"),
            (
                "url = \"s3://bucket\"\nendpoint = \"minio:9000\"",
                "blobs.endpoint",
            ),
            ("endpoint = \"http://127.0.0.1:9000\"", "blobs.endpoint"),
            ("url = \"file:///srv\"\nregion = \"eu\"", "blobs.region"),
        ] {
            match parse(text) {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
