//! Pictures of the network analysis as standalone SVG documents, for the console and for
//! reports: a map of trafficking routes, line charts of monthly trends and bar charts of
//! breakdowns. Pure functions over their own small input types: no I/O, no network (the
//! world map is embedded), every text from a member escaped, every size bounded.

mod bar;
mod line;
mod map;
mod month;
mod scale;
mod svg;
mod world;

pub use bar::{Bar, BarChart, MAX_BARS, bar_chart};
pub use line::{LineChart, MAX_MONTHS, MAX_SERIES, Series, line_chart};
pub use map::{MAX_LEGS, MapExtent, MapOptions, RouteLeg, RouteMap, route_map};
pub use month::{Month, MonthError};

#[cfg(test)]
mod samples;
