//! The striae member node: configuration, storage, replication, networking, the capabilities
//! (notices, firearms, ballistics, joint operations, the audit log), the HTTP API and its web console, the CLI client and the in-process demonstration network.

pub mod accounts;
pub mod analysis;
pub mod api;
pub mod audit;
pub mod backup;
pub mod ballistics;
pub mod cases;
pub mod charts;
pub mod client;
pub mod config;
pub mod console;
pub mod context;
pub mod core;
pub mod devnet;
pub mod firearms;
pub mod metrics;
pub mod net;
pub mod node;
pub mod notices;
pub mod operations;
pub mod store;
pub mod tally;
