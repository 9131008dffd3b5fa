//! `striae`: the member node daemon (`run`, `devnet`) and its command-line client.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use striae_node::{
    config::{self, NodeConfig},
    devnet, node,
};

mod analysis;
mod audit;
mod ballistic;
mod case;
mod common;
mod data;
mod firearm;
mod notice;
mod operation;
mod query;
mod user;

use common::{Target, client, print, s};
use notice::NoticeAction;

#[derive(Parser)]
#[command(
    name = "striae",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("STRIAE_COMMIT"), ")"),
    about = "A member node of the striae network: cross-border firearm traces, ballistic matches and notices without a central database"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the node key and API token in a data dir (if absent)
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        country: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Run one member until SIGINT/SIGTERM
    Run {
        #[arg(long)]
        config: PathBuf,
        /// text or json (one object per line); overrides `[log] format` (default text)
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
    /// Node configuration files
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Run a demonstration network of N members in this process, or write its configs
    Devnet {
        #[command(subcommand)]
        action: Option<DevnetAction>,
        #[command(flatten)]
        opts: DevnetOpts,
    },
    /// This node's identity, connections and feeds
    Status(#[command(flatten)] Target),
    /// The roster members and whether they are connected
    Peers(#[command(flatten)] Target),
    /// Orange and Purple notices
    Notice {
        #[command(subcommand)]
        action: NoticeAction,
        #[command(flatten)]
        target: Target,
    },
    /// Firearm records: add, get, check against the network, import, trace
    Firearm {
        #[command(subcommand)]
        action: firearm::FirearmAction,
        #[command(flatten)]
        target: Target,
    },
    /// Traces this node sent or received
    Trace {
        #[command(subcommand)]
        action: firearm::TraceAction,
        #[command(flatten)]
        target: Target,
    },
    /// Cases: the Firearms Recovery Protocol for one recovered firearm or its ammunition
    Case {
        #[command(subcommand)]
        action: case::CaseAction,
        #[command(flatten)]
        target: Target,
    },
    /// Queries for partial or obliterated serials, sent to the members and received
    Query {
        #[command(subcommand)]
        action: query::QueryAction,
        #[command(flatten)]
        target: Target,
    },
    /// Ballistic evidence: add scans, search the network, automatic leads
    Ballistic {
        #[command(subcommand)]
        action: ballistic::BallisticAction,
        #[command(flatten)]
        target: Target,
    },
    /// X3P surface files (works offline)
    X3p {
        #[command(subcommand)]
        action: ballistic::X3pAction,
        #[command(flatten)]
        target: Target,
    },
    /// Joint operations: create, join, record seizures, report
    Operation {
        #[command(subcommand)]
        action: operation::OperationAction,
        #[command(flatten)]
        target: Target,
    },
    /// Network statistics from members' aggregates: summary, routes, trends, publish
    Analysis {
        #[command(subcommand)]
        action: analysis::AnalysisAction,
        #[command(flatten)]
        target: Target,
    },
    /// The signed, hash-chained audit log of everything that crossed a border
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
        #[command(flatten)]
        target: Target,
    },
    /// The node's users: add (prints the token once), list, revoke, rotate (admins only)
    User {
        #[command(subcommand)]
        action: user::UserAction,
        #[command(flatten)]
        target: Target,
    },
    /// A backup of the running node's data (database, key, scans) to one file (admins)
    Backup(data::BackupArgs),
    /// Restore a backup into a stopped node's data dir
    Restore(data::RestoreArgs),
    /// Export this node's own records as CSV or NDJSON (the import's formats)
    Export(data::ExportArgs),
    /// Who the token in use belongs to: name, role, expiry
    Whoami {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Args, Clone)]
struct DevnetOpts {
    /// Number of members (1 to 196)
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Folder for configs and data (default: a fresh temporary folder)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// First port; member i uses base+2i (p2p) and base+2i+1 (API)
    #[arg(long, default_value_t = 47000)]
    base_port: u16,
}

#[derive(Subcommand)]
enum DevnetAction {
    /// Write the roster and member configs, print them, and exit
    Init {
        #[command(flatten)]
        opts: DevnetOpts,
        /// Write over the configs of a devnet already in --dir (keys and data are kept)
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Load a node config as `run` would (roster, key, sections) and say what it found
    Check {
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

/// An error and its causes on one line, leaving out a cause whose text the line already says
/// (libraries often repeat their source in their own message: "Address already in use (os
/// error 98): Address already in use (os error 98)").
fn error_text(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
enum LogFormat {
    /// One line of text per event (colours only when standard error is a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl From<config::LogFormat> for LogFormat {
    fn from(format: config::LogFormat) -> Self {
        match format {
            config::LogFormat::Text => LogFormat::Text,
            config::LogFormat::Json => LogFormat::Json,
        }
    }
}

/// Logs to standard error; `RUST_LOG` overrides `default` (e.g. `RUST_LOG=striae_node=debug`).
/// Colour codes are written only to a terminal, never into a log file or a pipe.
fn init_logging(default: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    init_logging_to(default, format, std::io::stderr, ansi);
}

/// Logs as `[log]` in the config says (the command line's format first), to its file if it
/// names one.
fn init_logging_from(log: &config::LogConfig, format: Option<LogFormat>) -> Result<()> {
    let format = format
        .or(log.format.map(LogFormat::from))
        .unwrap_or_default();
    let Some(path) = &log.file else {
        init_logging(&log.level, format);
        return Ok(());
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the log file {} ([log] file)", path.display()))?;
    init_logging_to(&log.level, format, std::sync::Mutex::new(file), false);
    Ok(())
}

fn init_logging_to<W>(default: &str, format: LogFormat, writer: W, ansi: bool)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Init {
            data_dir,
            country,
            name,
        } => init(data_dir, country, name),
        Command::Run { config, log_format } => run(config, log_format).await,
        Command::Config {
            action: ConfigAction::Check { config },
        } => config_check(&config),
        Command::Devnet { action, opts } => match action {
            Some(DevnetAction::Init { opts, force }) => {
                refuse_overwrite(&opts, force)?;
                devnet_init(&opts).map(|_| ())
            }
            None => devnet_run(opts).await,
        },
        Command::Status(t) => status(&t).await,
        Command::Peers(t) => peers(&t).await,
        Command::Notice { action, target } => notice::notice(action, &target).await,
        Command::Firearm { action, target } => firearm::firearm(action, &target).await,
        Command::Trace { action, target } => firearm::trace(action, &target).await,
        Command::Query { action, target } => query::query(action, &target).await,
        Command::Case { action, target } => case::case(action, &target).await,
        Command::Ballistic { action, target } => ballistic::ballistic(action, &target).await,
        Command::X3p { action, target } => ballistic::x3p(action, &target).await,
        Command::Operation { action, target } => operation::operation(action, &target).await,
        Command::Analysis { action, target } => analysis::analysis(action, &target).await,
        Command::Audit { action, target } => audit::audit(action, &target).await,
        Command::User { action, target } => user::user(action, &target).await,
        Command::Whoami { target } => user::whoami(&target).await,
        Command::Backup(args) => data::backup(args).await,
        Command::Restore(args) => data::restore(args),
        Command::Export(args) => data::export(args).await,
    }
}

fn init(data_dir: PathBuf, country: String, name: Option<String>) -> Result<()> {
    config::validate_country(&country)?;
    let signer = config::load_or_create_key(&data_dir)?;
    config::load_or_create_token(&data_dir)?;
    let line = json!({
        "country": country,
        "name": name.unwrap_or_else(|| format!("NCB {country}")),
        "bureau_id": signer.bureau().to_string(),
        "data_dir": data_dir,
    });
    println!("{line}");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Loads a node config as `run` would and says what it found, or what is wrong.
fn config_check(path: &std::path::Path) -> Result<()> {
    let config = NodeConfig::load(path)?;
    let me = config::load_or_create_key(&config.data_dir)
        .ok()
        .map(|s| s.bureau());
    let on_roster = me.is_some_and(|b| config.roster.member(&b).is_some());
    println!(
        "{}: valid\n  country {} ({}), data dir {}\n  API on {}, network {} with {} members{}\n  traces {:?}, queries {:?} (at most {} matches, {} per member per hour)",
        path.display(),
        config.country,
        config.name,
        config.data_dir.display(),
        config.api_listen,
        config.roster.network,
        config.roster.members.len(),
        if on_roster {
            ""
        } else {
            "\n  WARNING: this node's key is not on the roster: members will refuse it"
        },
        config.trace_policy,
        config.queries.policy,
        config.queries.max_matches,
        config.queries.per_member_per_hour,
    );
    Ok(())
}

async fn run(config_path: PathBuf, log_format: Option<LogFormat>) -> Result<()> {
    let config = NodeConfig::load(&config_path)?;
    init_logging_from(&config.log, log_format)?;
    let running = node::start(config).await?;
    eprintln!(
        "striae member {} ({}) running; API on http://{}; web console on http://{}{}",
        running.handle.country,
        running.handle.me,
        running.api_addr,
        running.api_addr,
        striae_node::console::PATH
    );
    shutdown_signal().await;
    eprintln!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// `devnet init` into a folder that holds a devnet already would silently rewrite its configs.
fn refuse_overwrite(opts: &DevnetOpts, force: bool) -> Result<()> {
    if let Some(dir) = &opts.dir
        && dir.join("roster.toml").exists()
        && !force
    {
        anyhow::bail!(
            "{} holds a devnet already (roster.toml): pass --force to write its configs again \
             (member keys and data are kept), or choose another --dir",
            dir.display()
        );
    }
    Ok(())
}

fn devnet_init(opts: &DevnetOpts) -> Result<Vec<devnet::MemberLine>> {
    if opts.nodes == 0 || opts.nodes > devnet::MAX_NODES {
        anyhow::bail!("--nodes must be between 1 and {}", devnet::MAX_NODES);
    }
    if usize::from(opts.base_port) + 2 * opts.nodes > usize::from(u16::MAX) {
        anyhow::bail!(
            "--base-port {} leaves too few ports for {} members",
            opts.base_port,
            opts.nodes
        );
    }
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new()
            .prefix("striae-devnet-")
            .tempdir()
            .context("cannot create a temporary folder")?
            .keep(),
    };
    let lines = devnet::init(&dir, opts.nodes, opts.base_port)?;
    for line in &lines {
        println!("{}", serde_json::to_string(line)?);
    }
    Ok(lines)
}

async fn devnet_run(opts: DevnetOpts) -> Result<()> {
    // Five members' connection logs would drown the summary: warnings only by default.
    init_logging("warn", LogFormat::Text);
    let lines = devnet_init(&opts)?;
    let nodes = devnet::start_all(&lines).await?;
    devnet::seed_examples(&nodes).await?;
    println!("{}", json!({"ready": true}));
    for content in devnet::example_notices() {
        let body = striae_protocol::Body::Notice(striae_protocol::NoticeOp::Issue(content));
        if let Some(first) = nodes.first() {
            first.handle.publish(body).await?;
        }
    }
    for line in &lines {
        eprintln!("console {}: {}", line.country, line.console);
    }
    if let Some(first) = lines.first() {
        eprintln!(
            "try: striae status --api {} --token {}   (or: striae notice list --config {})",
            first.api,
            first.token,
            first.config.display()
        );
        if lines.len() > 1 {
            eprintln!(
                "try: striae firearm check --config {} --make Walther --serial 'wk 105733'   (a pistol DE holds; see docs/firearms.md)",
                first.config.display()
            );
        }
    }
    let mut every = tokio::time::interval(devnet::SUMMARY_EVERY);
    loop {
        tokio::select! {
            _ = shutdown_signal() => break,
            _ = every.tick() => eprintln!("{}", devnet::summary(&nodes).await),
        }
    }
    eprintln!("stopping the devnet");
    for n in nodes {
        n.shutdown().await;
    }
    Ok(())
}

async fn status(t: &Target) -> Result<()> {
    let v = client(t)?.get("/v1/status").await?;
    print(t, &v, |v| {
        let mut out = format!(
            "{} {} ({})\nnetwork {}: {} of {} other members connected\nfeeds held:",
            s(&v["country"]),
            s(&v["name"]),
            s(&v["bureau_id"]),
            s(&v["network"]),
            v["peers_connected"],
            v["roster_size"].as_u64().unwrap_or(1).saturating_sub(1)
        );
        if let Some(feeds) = v["feeds"].as_object() {
            for (bureau, seq) in feeds {
                out.push_str(&format!("\n  {bureau}  up to #{seq}"));
            }
        }
        for (kind, command) in [("traces", "trace"), ("queries", "query")] {
            let p = &v["policies"][kind];
            out.push_str(&format!(
                "\n{kind} from other members: answered {}, {} waiting for review{}",
                s(&p["policy"]),
                p["waiting_for_review"],
                if p["waiting_for_review"].as_u64().unwrap_or(0) > 0 {
                    format!(" (`striae {command} incoming --pending`)")
                } else {
                    String::new()
                }
            ));
        }
        if let Some(eq) = v["equivocations"].as_array().filter(|a| !a.is_empty()) {
            out.push_str(&format!(
                "\nEQUIVOCATION detected: {}",
                Value::Array(eq.clone())
            ));
        }
        out
    });
    Ok(())
}

async fn peers(t: &Target) -> Result<()> {
    let v = client(t)?.get("/v1/peers").await?;
    print(t, &v, |v| {
        let mut out = String::from("country  connected  last seen                 bureau id");
        for p in v.as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n{:<8} {:<10} {:<25} {}",
                s(&p["country"]),
                if p["connected"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                s(&p["last_seen"]),
                s(&p["bureau_id"])
            ));
        }
        out
    });
    Ok(())
}
