//! The embedded world map: Natural Earth's 1:110m countries (public domain), converted by
//! `data/build-world.py` into `data/world-110m.txt` and parsed once on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The committed map data (about 90 KB); see `data/README.md` for its origin.
const DATA: &str = include_str!("data/world-110m.txt");

/// A point in tenths of a degree (longitude, latitude): the data's own resolution.
pub(super) type Point = (i16, i16);

/// One country of the map.
#[derive(Debug)]
pub(super) struct Country {
    /// ISO 3166-1 alpha-2, or `-` for a shape without a code (Somaliland, N. Cyprus).
    pub(super) code: String,
    /// Natural Earth's English short name.
    pub(super) name: String,
    /// Where arcs start and end: the centroid of the largest polygon.
    pub(super) position: Point,
    /// Outline rings; empty for small states too small for 1:110m (drawn as a dot).
    pub(super) rings: Vec<Vec<Point>>,
}

/// Every country of the map, with an index by code.
#[derive(Debug)]
pub(super) struct World {
    pub(super) countries: Vec<Country>,
    by_code: HashMap<String, usize>,
}

impl World {
    /// The country with this alpha-2 code (case-insensitive), if the map has it.
    pub(super) fn country(&self, code: &str) -> Option<&Country> {
        let code = code.trim().to_ascii_uppercase();
        if code == "-" {
            return None;
        }
        self.by_code.get(&code).and_then(|&i| self.countries.get(i))
    }
}

/// The parsed map, built on first use and kept for the life of the process.
pub(super) fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| parse(DATA))
}

/// Parses the data file; a malformed line is skipped (the unit test checks there is none).
fn parse(data: &str) -> World {
    let countries: Vec<Country> = data
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(parse_line)
        .collect();
    let by_code = countries
        .iter()
        .enumerate()
        .filter(|(_, c)| c.code != "-")
        .map(|(i, c)| (c.code.clone(), i))
        .collect();
    World { countries, by_code }
}

/// `CODE \t LON LAT \t NAME \t RINGS`, as written by `build-world.py`.
fn parse_line(line: &str) -> Option<Country> {
    let mut fields = line.split('\t');
    let code = fields.next()?.to_owned();
    let (x, y) = fields.next()?.split_once(' ')?;
    let position = (x.parse().ok()?, y.parse().ok()?);
    let name = fields.next()?.to_owned();
    let rings = match fields.next()? {
        "" => Vec::new(),
        shape => shape.split('|').map(parse_ring).collect::<Option<_>>()?,
    };
    Some(Country {
        code,
        name,
        position,
        rings,
    })
}

/// Space-separated `lon,lat` points.
fn parse_ring(ring: &str) -> Option<Vec<Point>> {
    ring.split(' ')
        .map(|p| {
            let (x, y) = p.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes of members the devnet and the bureaus' examples use most.
    const COMMON: [&str; 20] = [
        "DE", "FR", "IT", "ES", "PL", "NL", "BE", "GB", "US", "BR", "ZA", "CN", "JP", "AU", "RU",
        "TR", "NG", "IN", "MX", "CA",
    ];

    #[test]
    fn every_line_of_the_data_parses() {
        let lines = DATA
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        assert_eq!(world().countries.len(), lines);
        assert!(lines > 200, "{lines} countries");
    }

    #[test]
    fn common_member_codes_have_shapes_and_positions() {
        for code in COMMON {
            let c = world()
                .country(code)
                .unwrap_or_else(|| panic!("{code} missing"));
            assert!(!c.rings.is_empty(), "{code} has no shape");
            let (x, y) = c.position;
            assert!(
                (-1800..=1800).contains(&x) && (-900..=900).contains(&y),
                "{code} {x} {y}"
            );
        }
        let (x, y) = world()
            .country("fr")
            .map(|c| c.position)
            .unwrap_or_default();
        assert!(
            (-50..=80).contains(&x) && (420..=510).contains(&y),
            "France at {x} {y}"
        );
    }

    #[test]
    fn small_states_have_a_position_without_a_shape() {
        for code in ["SG", "MT", "LU", "MC", "LI"] {
            assert!(world().country(code).is_some(), "{code} missing");
        }
        assert!(world().country("ZZ").is_none());
        assert!(world().country("-").is_none());
    }

    #[test]
    fn rings_stay_within_one_side_of_the_antimeridian() {
        for c in &world().countries {
            for ring in &c.rings {
                for pair in ring.windows(2) {
                    assert!((pair[0].0 - pair[1].0).abs() <= 1800, "{} jumps", c.code);
                }
            }
        }
    }
}
