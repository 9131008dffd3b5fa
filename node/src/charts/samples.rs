//! A sample of every picture, checked to parse; written to the folder named by
//! `STRIAE_CHARTS_SAMPLE` (e.g. `target/charts-sample`) for a person to look at.

use super::*;

fn month(s: &str) -> Month {
    s.parse().expect("month")
}

fn leg(from: &str, to: &str, count: u64) -> RouteLeg {
    RouteLeg {
        from: from.into(),
        to: to.into(),
        count,
    }
}

/// Legs shaped like the devnet's: Europe-centred, with imports from the Americas and Turkey.
fn europe_legs() -> Vec<RouteLeg> {
    vec![
        leg("US", "DE", 48),
        leg("DE", "FR", 35),
        leg("BE", "NL", 22),
        leg("TR", "BG", 18),
        leg("BG", "RO", 9),
        leg("RS", "HR", 14),
        leg("HR", "SI", 11),
        leg("SI", "IT", 9),
        leg("AT", "DE", 6),
        leg("CZ", "PL", 7),
        leg("SK", "CZ", 5),
        leg("IT", "FR", 8),
        leg("FR", "ES", 5),
        leg("GB", "IE", 6),
        leg("NL", "GB", 12),
        leg("BR", "PT", 5),
        leg("UA", "PL", 16),
        leg("FR", "BE", 7),
        leg("SE", "DK", 5),
        leg("XX", "DE", 3),
    ]
}

/// The same without the transatlantic legs: the map zooms to Europe.
fn regional() -> Vec<RouteLeg> {
    let far = ["US", "BR"];
    europe_legs()
        .into_iter()
        .filter(|l| !far.contains(&l.from.as_str()))
        .collect()
}

fn world_legs() -> Vec<RouteLeg> {
    vec![
        leg("US", "MX", 320),
        leg("US", "CA", 85),
        leg("US", "BR", 40),
        leg("BR", "PY", 25),
        leg("PY", "BR", 60),
        leg("US", "DE", 30),
        leg("TR", "DE", 18),
        leg("CN", "AU", 12),
        leg("ZA", "NG", 9),
        leg("RU", "UA", 22),
        leg("IN", "NP", 7),
        leg("JP", "US", 5),
        leg("BE", "FR", 26),
    ]
}

fn trends() -> LineChart {
    let months: Vec<Month> = (0..18)
        .map(|i| Month::from_index(month("2025-01").index() + i))
        .collect();
    let series = |name: &str, base: f64, slope: f64| Series {
        name: name.into(),
        points: months
            .iter()
            .enumerate()
            .map(|(i, m)| {
                (
                    *m,
                    (base + slope * i as f64 + 6.0 * ((i as f64) * 0.9).sin())
                        .round()
                        .max(0.0),
                )
            })
            .collect(),
    };
    LineChart {
        title: "Firearms recovered per month".into(),
        subtitle: "Jan 2025 – Jun 2026 · 14 members reporting".into(),
        y_label: "Recovered".into(),
        unit: "firearms".into(),
        series: vec![
            series("Pistols", 40.0, 1.5),
            series("Rifles", 18.0, 0.4),
            series("Shotguns", 9.0, -0.2),
            series("Converted & \"blank\" <firers>", 3.0, 0.9),
        ],
    }
}

fn makes() -> BarChart {
    let bars = [
        ("Glock", 412.0),
        ("Zastava", 233.0),
        ("CZ", 198.0),
        ("Beretta", 151.0),
        ("Smith & Wesson", 97.0),
        ("Walther", 64.0),
        ("Ekol (converted blank-firer)", 41.0),
        ("Unknown", 12.0),
    ];
    BarChart {
        title: "Records by make".into(),
        subtitle: "Firearms reported stolen or lost · Jan 2025 – Jun 2026".into(),
        unit: "firearms".into(),
        bars: bars
            .iter()
            .map(|(l, v)| Bar {
                label: (*l).into(),
                value: *v,
            })
            .collect(),
    }
}

#[test]
fn samples_parse_and_are_written_when_asked() {
    let europe = MapOptions {
        title: "Trafficking routes".into(),
        subtitle: "Jan 2025 – Jun 2026 · all makes, all types · 14 members reporting".into(),
        ..MapOptions::default()
    };
    let world_options = MapOptions {
        extent: MapExtent::World,
        subtitle: "Jan 2025 – Jun 2026 · handguns".into(),
        ..MapOptions::default()
    };
    let one = LineChart {
        series: vec![Series {
            name: "All".into(),
            points: vec![(month("2026-06"), 7.0)],
        }],
        ..trends()
    };
    let pictures = [
        ("routes-europe.svg", route_map(&europe_legs(), &europe).svg),
        (
            "routes-europe-only.svg",
            route_map(&regional(), &europe).svg,
        ),
        (
            "routes-world.svg",
            route_map(&world_legs(), &world_options).svg,
        ),
        (
            "routes-empty.svg",
            route_map(&[], &MapOptions::default()).svg,
        ),
        ("trends.svg", line_chart(&trends())),
        ("trends-one-point.svg", line_chart(&one)),
        (
            "trends-empty.svg",
            line_chart(&LineChart {
                series: Vec::new(),
                ..trends()
            }),
        ),
        ("makes.svg", bar_chart(&makes())),
    ];
    for (_, svg) in &pictures {
        roxmltree::Document::parse(svg).expect("valid XML");
    }
    if let Some(dir) = std::env::var_os("STRIAE_CHARTS_SAMPLE") {
        std::fs::create_dir_all(&dir).expect("sample folder");
        for (name, svg) in &pictures {
            std::fs::write(std::path::Path::new(&dir).join(name), svg).expect("write sample");
        }
    }
}
