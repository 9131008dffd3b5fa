//! Calendar months, the x axis of the trend charts.

use std::fmt;
use std::str::FromStr;

/// A calendar month, as the analysis API names periods (`2026-03`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: u16,
    /// 1 to 12.
    month: u8,
}

/// A month that is not `YYYY-MM` with a month from 01 to 12.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a month (YYYY-MM): {0:?}")]
pub struct MonthError(String);

impl Month {
    /// The month `month` (1 to 12) of `year`; `None` outside that range.
    pub fn new(year: u16, month: u8) -> Option<Self> {
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    /// Months since January of year 0: consecutive months are one apart.
    pub(super) fn index(self) -> i64 {
        i64::from(self.year) * 12 + i64::from(self.month) - 1
    }

    /// The month at `index` (the inverse of [`Month::index`]).
    pub(super) fn from_index(index: i64) -> Self {
        let index = index.clamp(0, i64::from(u16::MAX) * 12 + 11);
        Month {
            year: (index / 12) as u16,
            month: (index % 12) as u8 + 1,
        }
    }

    /// A short axis label: "Mar 2026".
    pub(super) fn label(self) -> String {
        const NAMES: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let name = NAMES
            .get(usize::from(self.month) - 1)
            .copied()
            .unwrap_or("?");
        format!("{name} {}", self.year)
    }
}

impl FromStr for Month {
    type Err = MonthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MonthError(s.chars().take(32).collect());
        let (y, m) = s.trim().split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(err());
        }
        Month::new(y.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?).ok_or_else(err)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let m: Month = "2026-03".parse().expect("month");
        assert_eq!(m.to_string(), "2026-03");
        assert_eq!(m.label(), "Mar 2026");
        assert_eq!(Month::from_index(m.index() + 10).to_string(), "2027-01");
        for bad in ["2026-13", "2026-00", "26-01", "2026/01", "", "2026-1"] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}
