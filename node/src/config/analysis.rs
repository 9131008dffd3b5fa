//! `[analysis]` of the node config: the threshold below which a published statistic is
//! suppressed or coarsened, and how often this node publishes its aggregates.

use std::{path::Path, time::Duration};

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Default threshold: no published figure counts fewer than 5 firearms or events.
pub const DEFAULT_MIN_COUNT: u32 = 5;
/// Highest threshold accepted (a higher one would suppress nearly everything a bureau has).
const MAX_MIN_COUNT: u32 = 1_000;
/// Default publication interval: daily.
const DEFAULT_INTERVAL_MINUTES: u32 = 24 * 60;
/// Longest interval accepted: 31 days (a month's figures should appear within it).
const MAX_INTERVAL_MINUTES: u32 = 31 * 24 * 60;

/// `[analysis]` as written (optional, every key too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSection {
    /// Counts below this are suppressed or merged into `other` before publishing (1 to
    /// 1000; default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    /// Minutes between publications of the current month's aggregate (default 1440).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_interval_minutes: Option<u32>,
    /// Whether the aggregate is published at start as well (default false; the devnet
    /// turns it on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_at_start: Option<bool>,
}

/// The validated `[analysis]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisConfig {
    /// The threshold.
    pub min_count: u32,
    /// Time between publications.
    pub publish_interval: Duration,
    /// Whether to publish at start.
    pub publish_at_start: bool,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            min_count: DEFAULT_MIN_COUNT,
            publish_interval: Duration::from_secs(u64::from(DEFAULT_INTERVAL_MINUTES) * 60),
            publish_at_start: false,
        }
    }
}

impl AnalysisConfig {
    /// Validates the section read from `path`.
    pub fn from_section(section: AnalysisSection, path: &Path) -> Result<Self, ConfigError> {
        let min_count = section.min_count.unwrap_or(DEFAULT_MIN_COUNT);
        if !(1..=MAX_MIN_COUNT).contains(&min_count) {
            return Err(invalid(
                path,
                "analysis.min_count",
                format!("must be between 1 and {MAX_MIN_COUNT}"),
            ));
        }
        let minutes = section
            .publish_interval_minutes
            .unwrap_or(DEFAULT_INTERVAL_MINUTES);
        if !(1..=MAX_INTERVAL_MINUTES).contains(&minutes) {
            return Err(invalid(
                path,
                "analysis.publish_interval_minutes",
                format!("must be between 1 and {MAX_INTERVAL_MINUTES}"),
            ));
        }
        Ok(AnalysisConfig {
            min_count,
            publish_interval: Duration::from_secs(u64::from(minutes) * 60),
            publish_at_start: section.publish_at_start.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_validated_naming_the_key() {
        let path = Path::new("node.toml");
        let ok = AnalysisConfig::from_section(AnalysisSection::default(), path).unwrap();
        assert_eq!(ok, AnalysisConfig::default());
        let zero = AnalysisSection {
            min_count: Some(0),
            ..AnalysisSection::default()
        };
        let err = AnalysisConfig::from_section(zero, path).unwrap_err();
        assert!(err.to_string().contains("analysis.min_count"), "{err}");
        let long = AnalysisSection {
            publish_interval_minutes: Some(0),
            ..AnalysisSection::default()
        };
        let err = AnalysisConfig::from_section(long, path).unwrap_err();
        assert!(
            err.to_string().contains("publish_interval_minutes"),
            "{err}"
        );
    }
}
