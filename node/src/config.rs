//! Node configuration and the roster: TOML files read and validated once at start, plus the
//! key and API-token files kept in the data dir with mode 0600.

use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};
use striae_protocol::{BureauId, NetworkId, Signer};

mod analysis;
mod blobs;
mod service;

pub use analysis::{AnalysisConfig, AnalysisSection, DEFAULT_MIN_COUNT};
pub use blobs::{
    BlobsConfig, BlobsSection, DEFAULT_BLOB_TIMEOUT, MAX_BLOB_TIMEOUT, S3Blobs, S3Credentials,
};
pub use service::{
    AccountsSection, DEFAULT_LOG_LEVEL, LogConfig, LogFormat, LogSection, TlsFiles, UserOnWire,
};

/// File name of the node key in the data dir.
pub const KEY_FILE: &str = "node.key";
/// File name of the API token in the data dir.
pub const TOKEN_FILE: &str = "api.token";

/// What can go wrong reading configuration, roster, key or token.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A TOML file does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value breaks a rule.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(path: &Path, field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
    }
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `[node]` of the node config file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// ISO 3166-1 alpha-2 code of the member country.
    pub country: String,
    /// The bureau's name.
    pub name: String,
    /// Where the key, token and database live (relative to the config file).
    pub data_dir: PathBuf,
}

/// `[network]` of the node config file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Multiaddrs to listen on.
    pub listen: Vec<String>,
    /// Path of the roster (relative to the config file).
    pub roster: PathBuf,
    /// If set, dial only these members (by country code); others may still dial in. Used for
    /// partial meshes in large test networks; by default a node dials every member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_only: Option<Vec<String>>,
}

/// Where the API listens when the config does not say: loopback only, since the API speaks
/// plain HTTP.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:7470";

/// `[api]` of the node config file (optional).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Address of the HTTP API (default `DEFAULT_API_LISTEN`). Anything but loopback is
    /// warned about at start: the API has no TLS of its own.
    #[serde(default = "default_api_listen")]
    pub listen: String,
    /// Serve `/metrics` without the API token, for scrapers on a trusted network (default
    /// false: `/metrics` needs the token like every `/v1` route).
    #[serde(default)]
    pub metrics_public: bool,
    /// PEM certificate chain: with `tls_key`, the API serves HTTPS itself (relative to the
    /// config file). Without, plain HTTP, for loopback or behind a TLS-terminating proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

fn default_api_listen() -> String {
    DEFAULT_API_LISTEN.to_string()
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: default_api_listen(),
            metrics_public: false,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// How this node answers firearm trace requests from other members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TracePolicy {
    /// Answer at once: found (with the record and its history) or not found.
    #[default]
    Auto,
    /// Hold every request that finds a record until an operator approves or refuses it
    /// (`/v1/traces/incoming/{id}/approve|refuse`); requests that find nothing are answered
    /// "not found" at once, since nothing is disclosed.
    Review,
}

/// `[traces]` of the node config file (optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesSection {
    /// `auto` (default) or `review`.
    #[serde(default)]
    pub policy: TracePolicy,
}

/// `[queries]` of the node config file (optional): how serial-pattern queries from other
/// members are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryPolicy {
    /// `auto` (default): answer at once; `review`: hold every query that matches a record
    /// until an operator approves or refuses it (no match is answered at once).
    #[serde(default)]
    pub policy: TracePolicy,
    /// Most records one answer discloses (1 to `protocol::query::MAX_QUERY_MATCHES`); an
    /// answer with more matches says it was cut.
    #[serde(default = "QueryPolicy::default_max_matches")]
    pub max_matches: usize,
    /// Queries one member may send per hour (a burst of as many, refilled evenly); beyond it
    /// the member is answered `rate_limited`.
    #[serde(default = "QueryPolicy::default_per_member_per_hour")]
    pub per_member_per_hour: u32,
}

impl QueryPolicy {
    fn default_max_matches() -> usize {
        50
    }

    fn default_per_member_per_hour() -> u32 {
        120
    }

    fn check(self, path: &Path) -> Result<Self, ConfigError> {
        let max = striae_protocol::query::MAX_QUERY_MATCHES;
        if self.max_matches == 0 || self.max_matches > max {
            return Err(invalid(
                path,
                "queries.max_matches",
                format!("must be between 1 and {max}"),
            ));
        }
        if self.per_member_per_hour == 0 {
            return Err(invalid(
                path,
                "queries.per_member_per_hour",
                "must be at least 1",
            ));
        }
        Ok(self)
    }
}

impl Default for QueryPolicy {
    fn default() -> Self {
        QueryPolicy {
            policy: TracePolicy::Auto,
            max_matches: Self::default_max_matches(),
            per_member_per_hour: Self::default_per_member_per_hour(),
        }
    }
}

/// `[ballistics]` of the node config file (optional): how new exhibits are shared.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallisticsSection {
    /// Default sharing of a new exhibit: `network` (the default), `local`, or `region:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// Named sharing lists: region name -> country codes of roster members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub regions: BTreeMap<String, Vec<String>>,
}

/// Who an exhibit's digest is shared with (IBIN's sharing criteria as policy).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Share {
    /// Every member: the digest goes into the feed.
    #[default]
    Network,
    /// Nobody: the digest stays at this node (searchable here only).
    Local,
    /// The members of a named list: the digest is sent to each of them point to point.
    Region {
        /// The list's name.
        region: String,
        /// Its members when the exhibit was added (a later change of the list does not widen
        /// what was shared).
        members: Vec<BureauId>,
    },
}

impl Share {
    /// Whether `member` may know of an exhibit shared this way (its holder always may).
    pub fn includes(&self, member: &BureauId, holder: &BureauId) -> bool {
        member == holder
            || match self {
                Share::Network => true,
                Share::Local => false,
                Share::Region { members, .. } => members.contains(member),
            }
    }
}

/// The sharing lists and the default for new exhibits.
#[derive(Clone, Debug)]
pub struct SharingPolicy {
    /// Applied when a request names none.
    pub default: Share,
    /// Named lists of members.
    pub regions: BTreeMap<String, Vec<BureauId>>,
}

impl Default for SharingPolicy {
    fn default() -> Self {
        SharingPolicy {
            default: Share::Network,
            regions: BTreeMap::new(),
        }
    }
}

impl SharingPolicy {
    /// `network`, `local` or `region:NAME` as a sharing; the error says what is accepted.
    pub fn parse(&self, text: &str) -> Result<Share, String> {
        match text.trim() {
            "network" => Ok(Share::Network),
            "local" => Ok(Share::Local),
            other => {
                let name = other.strip_prefix("region:").unwrap_or("");
                match self.regions.get(name) {
                    Some(members) => Ok(Share::Region {
                        region: name.to_string(),
                        members: members.clone(),
                    }),
                    None => {
                        let known: Vec<String> =
                            self.regions.keys().map(|r| format!("region:{r}")).collect();
                        Err(format!(
                            "`{other}` is not a sharing: use network, local{}{}",
                            if known.is_empty() { "" } else { ", " },
                            known.join(", ")
                        ))
                    }
                }
            }
        }
    }

    fn from_section(
        section: BallisticsSection,
        roster: &Roster,
        path: &Path,
    ) -> Result<Self, ConfigError> {
        let mut regions = BTreeMap::new();
        for (name, codes) in section.regions {
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                return Err(invalid(
                    path,
                    "ballistics.regions",
                    format!("`{name}`: a region name is 1-64 letters, digits, - or _"),
                ));
            }
            let members = resolve_countries(&codes, roster, path, "ballistics.regions")?;
            regions.insert(name, members);
        }
        let mut policy = SharingPolicy {
            default: Share::Network,
            regions,
        };
        if let Some(share) = section.share {
            policy.default = policy
                .parse(&share)
                .map_err(|e| invalid(path, "ballistics.share", e))?;
        }
        Ok(policy)
    }
}

/// The node config file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// `[node]`.
    pub node: NodeSection,
    /// `[network]`.
    pub network: NetworkSection,
    /// `[api]`, optional: the API on loopback, `/metrics` behind the token.
    #[serde(default)]
    pub api: ApiSection,
    /// `[traces]`, optional: how trace requests from other members are answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<TracesSection>,
    /// `[ballistics]`, optional: how new exhibits are shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ballistics: Option<BallisticsSection>,
    /// `[queries]`, optional: how serial-pattern queries from other members are answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<QueryPolicy>,
    /// `[blobs]`, optional: where raw scans are kept (default: `blobs/` in the data dir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs: Option<BlobsSection>,
    /// `[log]`, optional: level, format and file of the node's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogSection>,
    /// `[analysis]`, optional: the threshold of published statistics and how often they
    /// are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSection>,
    /// `[accounts]`, optional: what signed requests say of the user who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<AccountsSection>,
}

/// One `[[member]]` of the roster as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    /// Country code.
    pub country: String,
    /// Bureau name.
    pub name: String,
    /// The member's PeerId.
    pub bureau_id: String,
    /// Where to reach it.
    pub addrs: Vec<String>,
}

/// The roster file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterFile {
    /// Network name; part of every signature.
    pub network: String,
    /// Pre-shared network key, 64 hex characters.
    pub psk: String,
    /// The members.
    #[serde(default, rename = "member")]
    pub members: Vec<MemberFile>,
}

/// A validated roster member.
#[derive(Clone, Debug)]
pub struct Member {
    /// Country code.
    pub country: String,
    /// Bureau name.
    pub name: String,
    /// Identity.
    pub bureau: BureauId,
    /// Where to reach it.
    pub addrs: Vec<Multiaddr>,
}

/// A validated roster.
#[derive(Clone, Debug)]
pub struct Roster {
    /// Network name.
    pub network: String,
    /// Hash of the network name, bound into every signature.
    pub network_id: NetworkId,
    /// Pre-shared key of the transport fence.
    pub psk: [u8; 32],
    /// Members by bureau.
    pub members: BTreeMap<BureauId, Member>,
}

impl Roster {
    /// The member with this bureau id, if any.
    pub fn member(&self, bureau: &BureauId) -> Option<&Member> {
        self.members.get(bureau)
    }

    /// The member with this country code, if any.
    pub fn by_country(&self, country: &str) -> Option<&Member> {
        self.members.values().find(|m| m.country == country)
    }

    /// Reads and validates a roster file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_text(path)?;
        let file: RosterFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_file(file, path)
    }

    /// Validates a parsed roster; `path` is only used in error messages.
    pub fn from_file(file: RosterFile, path: &Path) -> Result<Self, ConfigError> {
        if file.network.trim().is_empty() {
            return Err(invalid(path, "network", "must not be empty"));
        }
        let mut psk = [0u8; 32];
        hex::decode_to_slice(file.psk.trim(), &mut psk)
            .map_err(|_| invalid(path, "psk", "must be 64 hexadecimal characters"))?;
        let mut members = BTreeMap::new();
        for (i, m) in file.members.into_iter().enumerate() {
            let member = validate_member(m, path, i)?;
            if members
                .values()
                .any(|x: &Member| x.country == member.country)
            {
                return Err(invalid(
                    path,
                    &format!("member[{i}].country"),
                    format!("{} is listed twice", member.country),
                ));
            }
            if members.insert(member.bureau, member).is_some() {
                return Err(invalid(
                    path,
                    &format!("member[{i}].bureau_id"),
                    "is listed twice",
                ));
            }
        }
        if members.is_empty() {
            return Err(invalid(path, "member", "the roster lists no members"));
        }
        Ok(Roster {
            network_id: NetworkId::from_name(&file.network),
            network: file.network,
            psk,
            members,
        })
    }
}

fn validate_member(m: MemberFile, path: &Path, i: usize) -> Result<Member, ConfigError> {
    validate_country(&m.country)
        .map_err(|e| invalid(path, &format!("member[{i}].country"), e.to_string()))?;
    let bureau: BureauId = m
        .bureau_id
        .parse()
        .map_err(|e| invalid(path, &format!("member[{i}].bureau_id"), format!("{e}")))?;
    let addrs = m
        .addrs
        .iter()
        .map(|a| a.parse::<Multiaddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, &format!("member[{i}].addrs"), e.to_string()))?;
    Ok(Member {
        country: m.country,
        name: m.name,
        bureau,
        addrs,
    })
}

/// A country code that is not two upper-case ASCII letters; it holds the code as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a two-letter upper-case country code (ISO 3166-1 alpha-2)")]
pub struct CountryCodeError(pub String);

/// Checks an ISO 3166-1 alpha-2 shaped code: two upper-case ASCII letters.
pub fn validate_country(code: &str) -> Result<(), CountryCodeError> {
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(CountryCodeError(code.to_string()))
    }
}

/// A node configuration, validated and with paths resolved.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Country code.
    pub country: String,
    /// Bureau name.
    pub name: String,
    /// Data dir (absolute or relative to the working dir).
    pub data_dir: PathBuf,
    /// P2P listen addresses.
    pub listen: Vec<Multiaddr>,
    /// API listen address.
    pub api_listen: SocketAddr,
    /// Whether `/metrics` is served without the API token.
    pub metrics_public: bool,
    /// The roster.
    pub roster: Roster,
    /// Members to dial (all other members when `None`).
    pub dial_only: Option<Vec<BureauId>>,
    /// How trace requests from other members are answered.
    pub trace_policy: TracePolicy,
    /// How serial-pattern queries from other members are answered.
    pub queries: QueryPolicy,
    /// How ballistic exhibits are shared.
    pub sharing: SharingPolicy,
    /// Where raw scans are kept.
    pub blobs: BlobsConfig,
    /// The node's log.
    pub log: LogConfig,
    /// What signed requests to other members say of the user who asked.
    pub user_on_wire: UserOnWire,
    /// The API's certificate and key, when it serves HTTPS itself.
    pub api_tls: Option<TlsFiles>,
    /// Published statistics: threshold and interval.
    pub analysis: AnalysisConfig,
    /// Tunables with defaults.
    pub tuning: Tuning,
}

/// Timing and size knobs; the defaults suit a real deployment and the tests alike.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// How often heads are exchanged with every connected member even when nothing changed.
    pub heads_interval: std::time::Duration,
    /// How long after a change our heads are pushed to peers (batches many changes into one).
    pub heads_debounce: std::time::Duration,
    /// How often unconnected members are redialled at the fastest.
    pub redial_min: std::time::Duration,
    /// Longest redial backoff.
    pub redial_max: std::time::Duration,
    /// Gossipsub heartbeat.
    pub gossip_heartbeat: std::time::Duration,
    /// How far ahead of this node's clock an entry may be stamped and still apply now (later
    /// ones wait until the clock catches up): the clock difference tolerated between members.
    pub max_clock_ahead: std::time::Duration,
    /// After start, how long the node waits to hear a member's heads (which say how far its
    /// own feed reached) before it signs a new entry with no member heard from.
    pub own_head_grace: std::time::Duration,
    /// Most bytes of one other member's feed this node stores (and so holds in its indexes):
    /// a member with a valid key cannot make every node hold more of its data than this. A
    /// large national database (millions of firearm records and a million ballistic
    /// exhibits) fits well within the default.
    pub max_feed_bytes_per_member: u64,
    /// Ballistic leads a member may receive a confirmation request for each day without an
    /// operator approving each one (every request sends one of our prepared surfaces). 0, the
    /// default: every lead waits for an operator.
    pub lead_auto_confirms_per_day: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        use std::time::Duration;
        Tuning {
            heads_interval: Duration::from_secs(15),
            heads_debounce: Duration::from_millis(250),
            redial_min: Duration::from_millis(500),
            redial_max: Duration::from_secs(60),
            gossip_heartbeat: Duration::from_millis(700),
            max_clock_ahead: Duration::from_secs(600),
            own_head_grace: Duration::from_secs(10),
            max_feed_bytes_per_member: 16 << 30,
            lead_auto_confirms_per_day: 0,
        }
    }
}

impl NodeConfig {
    /// Reads and validates a node config file and the roster it names.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_text(path)?;
        let file: NodeFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let roster = Roster::load(&base.join(&file.network.roster))?;
        Self::from_file(file, base, roster, path)
    }

    /// Validates a parsed config whose relative paths are relative to `base`.
    pub fn from_file(
        file: NodeFile,
        base: &Path,
        roster: Roster,
        path: &Path,
    ) -> Result<Self, ConfigError> {
        validate_country(&file.node.country)
            .map_err(|e| invalid(path, "node.country", e.to_string()))?;
        let listen = file
            .network
            .listen
            .iter()
            .map(|a| a.parse::<Multiaddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(path, "network.listen", e.to_string()))?;
        let api_listen: SocketAddr = file
            .api
            .listen
            .parse()
            .map_err(|e| invalid(path, "api.listen", format!("{e}")))?;
        let dial_only = match file.network.dial_only {
            None => None,
            Some(codes) => Some(resolve_countries(
                &codes,
                &roster,
                path,
                "network.dial_only",
            )?),
        };
        let sharing =
            SharingPolicy::from_section(file.ballistics.unwrap_or_default(), &roster, path)?;
        let data_dir = base.join(file.node.data_dir);
        let blobs = BlobsConfig::from_section(file.blobs, &data_dir, path)?;
        let log = LogConfig::from_section(file.log.unwrap_or_default(), base, path)?;
        let api_tls = TlsFiles::from_section(file.api.tls_cert, file.api.tls_key, base, path)?;
        Ok(NodeConfig {
            sharing,
            country: file.node.country,
            name: file.node.name,
            data_dir,
            listen,
            api_listen,
            metrics_public: file.api.metrics_public,
            roster,
            dial_only,
            trace_policy: file.traces.map(|t| t.policy).unwrap_or_default(),
            queries: file.queries.unwrap_or_default().check(path)?,
            blobs,
            log,
            user_on_wire: file.accounts.unwrap_or_default().user_on_wire,
            api_tls,
            analysis: AnalysisConfig::from_section(file.analysis.unwrap_or_default(), path)?,
            tuning: Tuning::default(),
        })
    }
}

fn resolve_countries(
    codes: &[String],
    roster: &Roster,
    path: &Path,
    field: &str,
) -> Result<Vec<BureauId>, ConfigError> {
    codes
        .iter()
        .map(|c| {
            roster
                .by_country(c)
                .map(|m| m.bureau)
                .ok_or_else(|| invalid(path, field, format!("{c} is not in the roster")))
        })
        .collect()
}

/// Writes `contents` to a new file readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Creates `data_dir` if absent and makes it accessible to its owner only (mode 0700): it
/// holds the key, the token and the store.
fn create_private_dir(data_dir: &Path) -> Result<(), ConfigError> {
    fs::create_dir_all(data_dir)
        .and_then(|()| crate::store::private_folder(data_dir))
        .map_err(|source| ConfigError::Io {
            path: data_dir.to_path_buf(),
            source,
        })
}

/// Loads the node key from `data_dir`, creating it (mode 0600) if absent.
pub fn load_or_create_key(data_dir: &Path) -> Result<Signer, ConfigError> {
    create_private_dir(data_dir)?;
    let path = data_dir.join(KEY_FILE);
    if !path.exists() {
        let signer = Signer::generate();
        let bytes = signer
            .keypair()
            .to_protobuf_encoding()
            .map_err(|e| invalid(&path, "key", e.to_string()))?;
        write_private(&path, &bytes)?;
        return Ok(signer);
    }
    warn_if_shared(&path);
    let bytes = fs::read(&path).map_err(|source| ConfigError::Io {
        path: path.clone(),
        source,
    })?;
    let keypair = libp2p::identity::Keypair::from_protobuf_encoding(&bytes)
        .map_err(|e| invalid(&path, "key", e.to_string()))?;
    Signer::from_keypair(&keypair).map_err(|e| invalid(&path, "key", e.to_string()))
}

/// Warns when a secret file can be read by other users (e.g. a key checked out from git).
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let shared = fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
        if shared {
            tracing::warn!(
                path = %path.display(),
                "secret file is readable by other users; run chmod 600 on it"
            );
        }
    }
}

/// Loads the API token from `data_dir`, creating a random one (mode 0600) if absent.
pub fn load_or_create_token(data_dir: &Path) -> Result<String, ConfigError> {
    create_private_dir(data_dir)?;
    let path = data_dir.join(TOKEN_FILE);
    if !path.exists() {
        let token = hex::encode(rand::random::<[u8; 32]>());
        write_private(&path, token.as_bytes())?;
        return Ok(token);
    }
    warn_if_shared(&path);
    let token = read_text(&path)?.trim().to_string();
    if token.len() < 16 {
        return Err(invalid(&path, "token", "is shorter than 16 characters"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_country_code_is_two_upper_case_letters() {
        assert!(validate_country("FR").is_ok());
        for bad in ["fr", "FRA", "F", "", "F1"] {
            let e = validate_country(bad).expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!("{bad:?} is not a two-letter upper-case country code (ISO 3166-1 alpha-2)")
            );
        }
    }

    #[test]
    fn key_and_token_files_are_private_and_stable() {
        let dir = tempfile::tempdir().expect("test fixture");
        let a = load_or_create_key(dir.path()).expect("test fixture");
        let b = load_or_create_key(dir.path()).expect("test fixture");
        assert_eq!(a.bureau(), b.bureau());
        let t1 = load_or_create_token(dir.path()).expect("test fixture");
        assert_eq!(t1, load_or_create_token(dir.path()).expect("test fixture"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [KEY_FILE, TOKEN_FILE] {
                let mode = fs::metadata(dir.path().join(f))
                    .expect("test fixture")
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
    }

    fn node_file(api: &str) -> NodeFile {
        let text = format!(
            "[node]\ncountry = \"FR\"\nname = \"N\"\ndata_dir = \"data\"\n\
             [network]\nlisten = []\nroster = \"roster.toml\"\n{api}"
        );
        toml::from_str(&text).expect("test config parses")
    }

    #[test]
    fn the_api_defaults_to_loopback_with_metrics_behind_the_token() {
        let file = node_file("");
        assert_eq!(file.api.listen, DEFAULT_API_LISTEN);
        assert!(!file.api.metrics_public);
        let listen: SocketAddr = DEFAULT_API_LISTEN.parse().expect("default parses");
        assert!(listen.ip().is_loopback());
        let file = node_file("[api]\nmetrics_public = true\n");
        assert_eq!(file.api.listen, DEFAULT_API_LISTEN);
        assert!(file.api.metrics_public);
        let file = node_file("[api]\nlisten = \"0.0.0.0:9000\"\n");
        assert_eq!(file.api.listen, "0.0.0.0:9000");
        assert!(!file.api.metrics_public);
    }

    #[test]
    fn roster_errors_name_the_field() {
        let file = RosterFile {
            network: "n".into(),
            psk: "zz".into(),
            members: vec![],
        };
        let err = Roster::from_file(file, Path::new("roster.toml")).unwrap_err();
        assert!(err.to_string().contains("psk"), "{err}");
    }
}
