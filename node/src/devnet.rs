//! The demonstration network: writes a roster and per-member configs (`striae devnet init`),
//! and runs all members in one process with example notices and a live summary.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Serialize;
use striae_protocol::Signer;

use crate::{
    config::{
        self, AnalysisSection, ApiSection, ConfigError, MemberFile, NetworkSection, NodeConfig,
        NodeFile, NodeSection, RosterFile,
    },
    node::{self, NodeError, RunningNode},
};

/// Countries in the order devnet assigns them.
const COUNTRIES: [(&str, &str); 32] = [
    ("FR", "NCB Paris"),
    ("DE", "NCB Wiesbaden"),
    ("ES", "NCB Madrid"),
    ("PT", "NCB Lisbon"),
    ("IT", "NCB Rome"),
    ("NL", "NCB The Hague"),
    ("BE", "NCB Brussels"),
    ("AT", "NCB Vienna"),
    ("CH", "NCB Bern"),
    ("PL", "NCB Warsaw"),
    ("CZ", "NCB Prague"),
    ("SE", "NCB Stockholm"),
    ("DK", "NCB Copenhagen"),
    ("NO", "NCB Oslo"),
    ("FI", "NCB Helsinki"),
    ("IE", "NCB Dublin"),
    ("GB", "NCB Manchester"),
    ("GR", "NCB Athens"),
    ("RO", "NCB Bucharest"),
    ("HU", "NCB Budapest"),
    ("BR", "NCB Brasilia"),
    ("AR", "NCB Buenos Aires"),
    ("MX", "NCB Mexico City"),
    ("US", "NCB Washington"),
    ("CA", "NCB Ottawa"),
    ("JP", "NCB Tokyo"),
    ("KR", "NCB Seoul"),
    ("AU", "NCB Canberra"),
    ("ZA", "NCB Pretoria"),
    ("MA", "NCB Rabat"),
    ("TR", "NCB Ankara"),
    ("IN", "NCB New Delhi"),
];

/// Most members a devnet can have (the roster's scale).
pub const MAX_NODES: usize = 196;

/// The code of the `i`-th devnet member: real codes first, then made-up codes starting with
/// Q, X and Z (which ISO 3166 leaves for private use) and then other letters, never repeating
/// a real code from the list.
pub fn country(i: usize) -> (String, String) {
    if let Some((cc, name)) = COUNTRIES.get(i) {
        return (cc.to_string(), name.to_string());
    }
    let code = (b"QXZABCDEFGHIJKLMNOPRSTUVWY".iter())
        .flat_map(|first| (b'A'..=b'Z').map(move |second| [*first, second]))
        .map(|pair| String::from_utf8_lossy(&pair).into_owned())
        .filter(|code| !COUNTRIES.iter().any(|(cc, _)| cc == code))
        .nth(i - COUNTRIES.len())
        .unwrap_or_else(|| "ZZ".to_string());
    (code.clone(), format!("Test bureau {code}"))
}

/// One member as `devnet init` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct MemberLine {
    /// Country code.
    pub country: String,
    /// PeerId.
    pub bureau_id: String,
    /// Path of its node.toml.
    pub config: PathBuf,
    /// API base URL.
    pub api: String,
    /// API token.
    pub token: String,
    /// The web console, signed in as the member's admin: the token is in the fragment, which
    /// the browser never sends to the server.
    pub console: String,
    /// P2P address.
    pub p2p: String,
}

/// Writes `dir/roster.toml` and `dir/<cc>/node.toml` (with keys and tokens) for `n` members on
/// loopback, ports `base_port + 2i` (p2p) and `base_port + 2i + 1` (API).
pub fn init(dir: &Path, n: usize, base_port: u16) -> Result<Vec<MemberLine>, ConfigError> {
    init_with_ports(dir, n, |i| {
        let p2p = base_port + 2 * i as u16;
        (p2p, p2p + 1)
    })
}

/// Like `init`, with the (p2p, API) ports of member `i` chosen by `ports(i)`.
pub fn init_with_ports(
    dir: &Path,
    n: usize,
    ports: impl Fn(usize) -> (u16, u16),
) -> Result<Vec<MemberLine>, ConfigError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut members = Vec::new();
    let mut lines = Vec::new();
    for i in 0..n {
        let (cc, name) = country(i);
        let member_dir = dir.join(cc.to_lowercase());
        let data_dir = member_dir.join("data");
        let signer = config::load_or_create_key(&data_dir)?;
        let token = config::load_or_create_token(&data_dir)?;
        let (p2p_port, api_port) = ports(i);
        let p2p = format!("/ip4/127.0.0.1/tcp/{p2p_port}");
        let node_file = NodeFile {
            node: NodeSection {
                country: cc.clone(),
                name: name.clone(),
                data_dir: PathBuf::from("data"),
            },
            network: NetworkSection {
                listen: vec![p2p.clone()],
                roster: PathBuf::from("../roster.toml"),
                dial_only: None,
            },
            api: ApiSection {
                listen: format!("127.0.0.1:{api_port}"),
                ..ApiSection::default()
            },
            traces: None,
            ballistics: None,
            queries: None,
            blobs: None,
            log: None,
            // Every ten minutes, so that traces and cases started on the devnet show in the
            // statistics soon (`run` also publishes once the examples are seeded); the
            // threshold stays the deployment default.
            analysis: Some(AnalysisSection {
                publish_interval_minutes: Some(10),
                ..AnalysisSection::default()
            }),
            accounts: None,
        };
        let config_path = member_dir.join("node.toml");
        let text = toml::to_string(&node_file).map_err(|e| ConfigError::Parse {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&config_path, text).map_err(io(&config_path))?;
        members.push(MemberFile {
            country: cc.clone(),
            name,
            bureau_id: signer.bureau().to_string(),
            addrs: vec![p2p.clone()],
        });
        let api = format!("http://127.0.0.1:{api_port}");
        lines.push(MemberLine {
            country: cc,
            bureau_id: signer.bureau().to_string(),
            config: config_path,
            console: console_link(&api, &token),
            api,
            token,
            p2p,
        });
    }
    let roster = RosterFile {
        network: "devnet".into(),
        psk: psk_for(dir)?,
        members,
    };
    let roster_path = dir.join("roster.toml");
    let text = toml::to_string(&roster).map_err(|e| ConfigError::Parse {
        path: roster_path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&roster_path, text).map_err(io(&roster_path))?;
    Ok(lines)
}

/// The console of the member whose API is at `api`, signed in with `token` (in the fragment).
pub fn console_link(api: &str, token: &str) -> String {
    format!("{api}{}#token={token}", crate::console::PATH)
}

/// Keeps an existing roster's key when re-initialising, so running members stay in.
fn psk_for(dir: &Path) -> Result<String, ConfigError> {
    let path = dir.join("roster.toml");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(existing) = toml::from_str::<RosterFile>(&text)
    {
        return Ok(existing.psk);
    }
    Ok(hex::encode(rand::random::<[u8; 32]>()))
}

/// Starts every member of an initialised devnet in this process.
pub async fn start_all(lines: &[MemberLine]) -> Result<Vec<RunningNode>, NodeError> {
    let mut nodes = Vec::new();
    for line in lines {
        let config = NodeConfig::load(&line.config)?;
        nodes.push(node::start(config).await?);
    }
    Ok(nodes)
}

/// Seeds every member with example data: firearm records and ballistic exhibits, so that the
/// README can walk a newcomer through a check, a trace and a cross-border match, and (in the
/// background) each member's aggregate statistics, a joint operation among the first three
/// members and an example case at the first.
pub async fn seed_examples(nodes: &[RunningNode]) -> Result<(), NodeError> {
    for (index, node) in nodes.iter().enumerate() {
        crate::firearms::seed_devnet(&node.handle.firearms, index, nodes.len()).await?;
        crate::ballistics::seed_devnet(&node.handle.ballistics, index, nodes.len()).await?;
    }
    for node in nodes {
        // In the background: a node signs once it has heard how far its feed reached.
        let analysis = node.handle.analysis.clone();
        tokio::spawn(async move {
            if let Err(e) = analysis.publish_current().await {
                tracing::warn!("cannot publish the devnet's statistics: {e}");
            }
        });
    }
    let operations: Vec<_> = nodes.iter().map(|n| n.handle.operations.clone()).collect();
    crate::operations::seed_devnet(&operations);
    if let Some(first) = nodes.first() {
        crate::cases::seed_devnet(&first.handle.cases);
    }
    Ok(())
}

/// Example notices issued when the devnet starts.
pub fn example_notices() -> Vec<striae_protocol::NoticeContent> {
    use striae_protocol::{
        NoticeContent, NoticeKind,
        time::{YEAR_MS, now_ms},
    };
    let expires = now_ms() + YEAR_MS;
    vec![
        NoticeContent {
            kind: NoticeKind::Orange,
            title: "Pistols disguised as smartphones".into(),
            summary: "Folding .380 ACP pistols shaped like a smartphone have been seized at two borders; they pass visual inspection in a phone case.".into(),
            body: "X-ray shows a barrel and magazine along the long edge. Treat any heavy phone-shaped object with caution.".into(),
            expires_at_ms: expires,
        },
        NoticeContent {
            kind: NoticeKind::Purple,
            title: "Firearm parts concealed in car door panels".into(),
            summary: "Traffickers ship disassembled pistols inside the door panels of used cars exported by road.".into(),
            body: "Check panel screws for tool marks and weigh doors against the manufacturer's figures.".into(),
            expires_at_ms: expires,
        },
        NoticeContent {
            kind: NoticeKind::Orange,
            title: "Knife-pistols in cutlery shipments".into(),
            summary: "Single-shot .22 LR pistols built into folding knives were found among cutlery imports.".into(),
            body: String::new(),
            expires_at_ms: expires,
        },
    ]
}

/// A one-line summary of the network as the first member sees it.
pub async fn summary(nodes: &[RunningNode]) -> String {
    let mut out = String::new();
    let total: u64 = nodes
        .iter()
        .map(|n| n.handle.store.entry_count().unwrap_or(0))
        .sum();
    let mut connected = 0usize;
    for n in nodes {
        if let Ok(peers) = n.handle.net.peers().await {
            connected += peers.iter().filter(|p| p.connected).count();
        }
    }
    let links = nodes.len() * nodes.len().saturating_sub(1);
    let _ = write!(
        out,
        "devnet: {} members, {connected}/{links} member links up, {total} entries held across members",
        nodes.len()
    );
    out
}

/// How often the devnet prints its summary.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// The signer of a devnet member (for tests that need the key).
pub fn signer_of(member_dir: &Path) -> Result<Signer, ConfigError> {
    config::load_or_create_key(&member_dir.join("data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_devnet_country_code_is_distinct() {
        let codes: std::collections::HashSet<String> =
            (0..MAX_NODES).map(|i| country(i).0).collect();
        assert_eq!(codes.len(), MAX_NODES);
        assert!(codes.iter().all(|c| config::validate_country(c).is_ok()));
    }
}
