//! X3P (ISO 25178-72) reading and writing: the zip container, `main.xml`, point data, the
//! validity mask and every integrity check that guards scans received from other bureaus.
//!
//! The reader treats its input as hostile: sizes declared in the zip directory and in
//! `main.xml` are checked against hard caps before anything is inflated, and every read is
//! bounded with [`Read::take`] because declared sizes can lie.

use std::io::{Cursor, Read};

use md5::{Digest as _, Md5};
use thiserror::Error;

mod write;

pub use write::{WriteOptions, write_x3p, write_x3p_with, zip_files};

/// Largest number of bytes inflated from one archive in total. A 20000 x 5000 float64 scan
/// is 800 MB, but the largest real breech-face scans are a few tens of MB; 512 MiB leaves
/// ample room while keeping a zip bomb from exhausting memory.
pub const MAX_TOTAL_UNCOMPRESSED: u64 = 512 * 1024 * 1024;
/// Largest accepted size along one axis (points). Instruments in use produce < 10000.
pub const MAX_AXIS_POINTS: u64 = 20_000;
/// Largest accepted number of points in one scan.
pub const MAX_POINTS: u64 = 100_000_000;
/// Largest accepted `main.xml` (bytes); real files are ~2 KiB.
pub const MAX_XML_BYTES: u64 = 4 * 1024 * 1024;
/// Largest number of entries in the archive; real files have 3-5.
pub const MAX_ENTRIES: usize = 10_000;

/// Everything that can make an X3P file unusable.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum X3pError {
    #[error("not a zip archive (an X3P file is a zip container): {0}")]
    NotZip(String),
    #[error("zip archive is damaged: {0}")]
    Zip(String),
    #[error("no main.xml in the archive (not an X3P file)")]
    MissingMainXml,
    #[error("file `{0}` named by main.xml is missing from the archive")]
    MissingFile(String),
    #[error("main.xml is not well-formed XML: {0}")]
    Xml(String),
    #[error("main.xml root element is `{0}`, expected ISO5436_2")]
    WrongRoot(String),
    #[error("main.xml lacks required field `{0}`")]
    MissingField(&'static str),
    #[error("main.xml field `{field}` has invalid value `{value}`")]
    InvalidField { field: &'static str, value: String },
    #[error("unsupported feature type `{0}` (only SUR surfaces are supported)")]
    UnsupportedFeature(String),
    #[error("unsupported {field} `{value}`")]
    Unsupported { field: &'static str, value: String },
    #[error(
        "absurd dimensions SizeX {size_x} x SizeY {size_y} x SizeZ {size_z} (default limits: {MAX_AXIS_POINTS} per axis, {MAX_POINTS} points, SizeZ 1)"
    )]
    Dimensions {
        size_x: u64,
        size_y: u64,
        size_z: u64,
    },
    #[error("archive too large: `{file}` would inflate beyond the {limit}-byte cap")]
    TooLarge { file: String, limit: u64 },
    #[error("too many entries in archive ({0})")]
    TooManyEntries(usize),
    #[error("`{file}` has {actual} bytes, expected {expected} (truncated or mis-sized point data)")]
    SizeMismatch {
        file: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "MD5ChecksumPointData mismatch for `{file}`: main.xml says {expected}, data hashes to {actual}"
    )]
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("failed reading `{file}` from archive: {reason}")]
    Read { file: String, reason: String },
}

/// Storage type of the Z axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DataType {
    /// int16
    I,
    /// int32
    L,
    /// float32
    F,
    /// float64
    D,
}

impl DataType {
    fn parse(s: &str) -> Result<Self, X3pError> {
        match s.trim() {
            "I" => Ok(Self::I),
            "L" => Ok(Self::L),
            "F" => Ok(Self::F),
            "D" => Ok(Self::D),
            other => Err(X3pError::Unsupported {
                field: "CZ/DataType",
                value: other.to_string(),
            }),
        }
    }

    /// Bytes per stored point.
    pub fn width(self) -> u64 {
        match self {
            Self::I => 2,
            Self::L | Self::F => 4,
            Self::D => 8,
        }
    }

    /// One-letter code used in `main.xml`.
    pub fn code(self) -> &'static str {
        match self {
            Self::I => "I",
            Self::L => "L",
            Self::F => "F",
            Self::D => "D",
        }
    }
}

/// A decoded areal surface scan. Heights are in metres, `NaN` marks missing points.
#[derive(Debug, Clone, PartialEq)]
pub struct X3pScan {
    pub size_x: usize,
    pub size_y: usize,
    /// Point spacing along x (metres).
    pub increment_x: f64,
    /// Point spacing along y (metres).
    pub increment_y: f64,
    /// Heights (metres), row-major with x fastest; `NaN` = no data.
    pub z: Vec<f64>,
    /// Storage type in the file the scan was read from (`D` for synthetic scans).
    pub data_type: DataType,
    pub creator: Option<String>,
    pub instrument: Option<String>,
    pub date: Option<String>,
    pub comment: Option<String>,
    /// Non-fatal findings while reading (e.g. stale `md5checksum.hex`).
    pub warnings: Vec<String>,
}

/// Summary of a scan for display and audit logs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct X3pInfo {
    pub size_x: usize,
    pub size_y: usize,
    pub increment_x: f64,
    pub increment_y: f64,
    pub data_type: &'static str,
    pub valid_points: usize,
    pub creator: Option<String>,
    pub instrument: Option<String>,
    pub date: Option<String>,
    pub warnings: Vec<String>,
}

impl X3pScan {
    /// A scan from heights (metres) on a regular grid, as produced by instruments or
    /// [`crate::synthetic`]. `z.len()` must equal `size_x * size_y`.
    pub fn new(
        size_x: usize,
        size_y: usize,
        increment_x: f64,
        increment_y: f64,
        z: Vec<f64>,
    ) -> Self {
        Self {
            size_x,
            size_y,
            increment_x,
            increment_y,
            z,
            data_type: DataType::D,
            creator: None,
            instrument: None,
            date: None,
            comment: None,
            warnings: Vec::new(),
        }
    }

    /// Dimensions, resolution, provenance and warnings.
    pub fn inspect(&self) -> X3pInfo {
        X3pInfo {
            size_x: self.size_x,
            size_y: self.size_y,
            increment_x: self.increment_x,
            increment_y: self.increment_y,
            data_type: self.data_type.code(),
            valid_points: self.z.iter().filter(|v| v.is_finite()).count(),
            creator: self.creator.clone(),
            instrument: self.instrument.clone(),
            date: self.date.clone(),
            warnings: self.warnings.clone(),
        }
    }
}

/// Fields taken from `main.xml`.
struct Header {
    feature: String,
    size_x: u64,
    size_y: u64,
    size_z: u64,
    inc_x: f64,
    inc_y: f64,
    data_type: DataType,
    z_increment: f64,
    z_offset: f64,
    data_link: String,
    data_md5: Option<String>,
    valid_link: Option<String>,
    creator: Option<String>,
    instrument: Option<String>,
    date: Option<String>,
    comment: Option<String>,
}

/// Resource caps applied while reading (defaults: the `MAX_*` constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    pub max_total_uncompressed: u64,
    pub max_axis_points: u64,
    pub max_points: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_total_uncompressed: MAX_TOTAL_UNCOMPRESSED,
            max_axis_points: MAX_AXIS_POINTS,
            max_points: MAX_POINTS,
        }
    }
}

/// Parse an X3P file held in memory, with the default [`ReadLimits`].
pub fn read_x3p(bytes: &[u8]) -> Result<X3pScan, X3pError> {
    read_x3p_with_limits(bytes, &ReadLimits::default())
}

/// Parse an X3P file held in memory under explicit resource caps.
pub fn read_x3p_with_limits(bytes: &[u8], limits: &ReadLimits) -> Result<X3pScan, X3pError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| X3pError::NotZip(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(X3pError::TooManyEntries(archive.len()));
    }
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    let (main_name, prefix) = find_main_xml(&names)?;
    let mut budget = limits.max_total_uncompressed;
    let xml_bytes = read_entry(&mut archive, &main_name, MAX_XML_BYTES, &mut budget)?;
    let xml = String::from_utf8_lossy(&xml_bytes);
    let header = parse_header(&xml, limits)?;
    let mut warnings = Vec::new();
    check_main_checksum(
        &mut archive,
        &names,
        &prefix,
        &xml_bytes,
        &mut budget,
        &mut warnings,
    );
    let z = read_points(
        &mut archive,
        &names,
        &prefix,
        &header,
        &mut budget,
        &mut warnings,
    )?;
    Ok(X3pScan {
        size_x: header.size_x as usize,
        size_y: header.size_y as usize,
        increment_x: header.inc_x,
        increment_y: header.inc_y,
        z,
        data_type: header.data_type,
        creator: header.creator,
        instrument: header.instrument,
        date: header.date,
        comment: header.comment,
        warnings,
    })
}

/// True for archive entries made by macOS that carry no X3P content.
fn is_mac_junk(name: &str) -> bool {
    name.starts_with("__MACOSX/")
        || name.contains("/__MACOSX/")
        || name
            .rsplit('/')
            .next()
            .is_some_and(|b| b == ".DS_Store" || b.starts_with("._"))
}

/// Locate `main.xml` at the root or under exactly one top-level folder; returns its entry
/// name and the folder prefix (empty or ending in `/`) that other links are relative to.
fn find_main_xml(names: &[String]) -> Result<(String, String), X3pError> {
    let mut candidates: Vec<&String> = names
        .iter()
        .filter(|n| !is_mac_junk(n))
        .filter(|n| {
            n.rsplit('/')
                .next()
                .is_some_and(|b| b.eq_ignore_ascii_case("main.xml"))
        })
        .filter(|n| n.matches('/').count() <= 1)
        .collect();
    // Prefer the root copy when several exist.
    candidates.sort_by_key(|n| n.matches('/').count());
    let name = candidates.first().ok_or(X3pError::MissingMainXml)?;
    let prefix = match name.rfind('/') {
        Some(i) => name[..=i].to_string(),
        None => String::new(),
    };
    Ok(((*name).clone(), prefix))
}

/// Resolve a link from `main.xml` to an archive entry name.
fn resolve(names: &[String], prefix: &str, link: &str) -> Option<String> {
    let link = link.trim().trim_start_matches("./").replace('\\', "/");
    let with_prefix = format!("{prefix}{link}");
    [with_prefix, link]
        .into_iter()
        .find(|cand| names.iter().any(|n| n == cand))
}

/// Inflate one entry, refusing anything above `limit` or the remaining total `budget`.
fn read_entry<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
    budget: &mut u64,
) -> Result<Vec<u8>, X3pError> {
    let cap = limit.min(*budget);
    let file = archive.by_name(name).map_err(|e| X3pError::Read {
        file: name.to_string(),
        reason: e.to_string(),
    })?;
    // Declared size first: cheap rejection before inflating anything.
    if file.size() > cap {
        return Err(X3pError::TooLarge {
            file: name.to_string(),
            limit: cap,
        });
    }
    let mut out = Vec::with_capacity(file.size() as usize);
    // Never trust the declared size: read at most cap + 1 bytes.
    file.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| X3pError::Read {
            file: name.to_string(),
            reason: e.to_string(),
        })?;
    if out.len() as u64 > cap {
        return Err(X3pError::TooLarge {
            file: name.to_string(),
            limit: cap,
        });
    }
    *budget -= out.len() as u64;
    Ok(out)
}

/// Child element of `node` by local name (namespace prefixes ignored).
fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// Text at a path of local names below `node`, trimmed; `None` when absent or empty.
fn text_at(node: roxmltree::Node<'_, '_>, path: &[&str]) -> Option<String> {
    let mut cur = node;
    for p in path {
        cur = child(cur, p)?;
    }
    let t = cur.text()?.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn required(
    node: roxmltree::Node<'_, '_>,
    path: &[&str],
    field: &'static str,
) -> Result<String, X3pError> {
    text_at(node, path).ok_or(X3pError::MissingField(field))
}

fn parse_u64(s: &str, field: &'static str) -> Result<u64, X3pError> {
    s.trim().parse::<u64>().map_err(|_| X3pError::InvalidField {
        field,
        value: s.to_string(),
    })
}

fn parse_f64(s: &str, field: &'static str) -> Result<f64, X3pError> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(X3pError::InvalidField {
            field,
            value: s.to_string(),
        }),
    }
}

/// Positive, finite axis increment (metres).
fn parse_increment(
    node: roxmltree::Node<'_, '_>,
    axis: &str,
    field: &'static str,
) -> Result<f64, X3pError> {
    let v = match text_at(node, &["Record1", "Axes", axis, "Increment"]) {
        Some(s) => parse_f64(&s, field)?,
        // ISO 5436-2 makes the increment optional; 1 is its documented default.
        None => 1.0,
    };
    if v <= 0.0 {
        return Err(X3pError::InvalidField {
            field,
            value: v.to_string(),
        });
    }
    Ok(v)
}

fn parse_header(xml: &str, limits: &ReadLimits) -> Result<Header, X3pError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| X3pError::Xml(e.to_string()))?;
    let root = doc.root_element();
    let root_name = root.tag_name().name();
    if root_name != "ISO5436_2" && root_name != "ISO5436" {
        return Err(X3pError::WrongRoot(root_name.to_string()));
    }
    let feature = required(root, &["Record1", "FeatureType"], "Record1/FeatureType")?;
    if feature != "SUR" {
        return Err(X3pError::UnsupportedFeature(feature));
    }
    for axis in ["CX", "CY"] {
        if let Some(t) = text_at(root, &["Record1", "Axes", axis, "AxisType"])
            && t != "I"
        {
            return Err(X3pError::Unsupported {
                field: "CX/CY AxisType",
                value: t,
            });
        }
    }
    let size_x = parse_u64(
        &required(root, &["Record3", "MatrixDimension", "SizeX"], "SizeX")?,
        "SizeX",
    )?;
    let size_y = parse_u64(
        &required(root, &["Record3", "MatrixDimension", "SizeY"], "SizeY")?,
        "SizeY",
    )?;
    let size_z = match text_at(root, &["Record3", "MatrixDimension", "SizeZ"]) {
        Some(s) => parse_u64(&s, "SizeZ")?,
        None => 1,
    };
    let points = size_x.saturating_mul(size_y);
    let max_axis = limits.max_axis_points;
    if size_x == 0
        || size_y == 0
        || size_x > max_axis
        || size_y > max_axis
        || points > limits.max_points
        || size_z != 1
    {
        return Err(X3pError::Dimensions {
            size_x,
            size_y,
            size_z,
        });
    }
    let data_type = DataType::parse(&required(
        root,
        &["Record1", "Axes", "CZ", "DataType"],
        "CZ/DataType",
    )?)?;
    let z_increment = match text_at(root, &["Record1", "Axes", "CZ", "Increment"]) {
        Some(s) => parse_f64(&s, "CZ/Increment")?,
        None => 1.0,
    };
    let z_offset = match text_at(root, &["Record1", "Axes", "CZ", "Offset"]) {
        Some(s) => parse_f64(&s, "CZ/Offset")?,
        None => 0.0,
    };
    let instrument = child(root, "Record2")
        .and_then(|r| child(r, "Instrument"))
        .map(|ins| {
            ["Manufacturer", "Model", "Serial", "Version"]
                .iter()
                .filter_map(|f| text_at(ins, &[f]))
                .collect::<Vec<_>>()
                .join(" ")
        });
    Ok(Header {
        feature,
        size_x,
        size_y,
        size_z,
        inc_x: parse_increment(root, "CX", "CX/Increment")?,
        inc_y: parse_increment(root, "CY", "CY/Increment")?,
        data_type,
        z_increment,
        z_offset,
        data_link: required(
            root,
            &["Record3", "DataLink", "PointDataLink"],
            "Record3/DataLink/PointDataLink",
        )?,
        data_md5: text_at(root, &["Record3", "DataLink", "MD5ChecksumPointData"]),
        valid_link: text_at(root, &["Record3", "DataLink", "ValidPointsLink"]),
        creator: text_at(root, &["Record2", "Creator"]),
        instrument: instrument.filter(|s| !s.is_empty()),
        date: text_at(root, &["Record2", "Date"]),
        comment: text_at(root, &["Record2", "Comment"]),
    })
}

fn md5_hex(bytes: &[u8]) -> String {
    let d = Md5::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare `md5checksum.hex` with main.xml; a mismatch is only a warning because tools that
/// edit main.xml after writing often leave it stale, and the point data has its own MD5.
fn check_main_checksum<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    names: &[String],
    prefix: &str,
    xml: &[u8],
    budget: &mut u64,
    warnings: &mut Vec<String>,
) {
    let Some(name) = resolve(names, prefix, "md5checksum.hex") else {
        warnings.push("md5checksum.hex missing".to_string());
        return;
    };
    match read_entry(archive, &name, 4096, budget) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let stated = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let actual = md5_hex(xml);
            if stated != actual {
                warnings.push(format!(
                    "md5checksum.hex is stale: states {stated}, main.xml hashes to {actual}"
                ));
            }
        }
        Err(e) => warnings.push(format!("md5checksum.hex unreadable: {e}")),
    }
}

/// Read, verify and decode point data (and the optional validity mask).
fn read_points<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    names: &[String],
    prefix: &str,
    h: &Header,
    budget: &mut u64,
    warnings: &mut Vec<String>,
) -> Result<Vec<f64>, X3pError> {
    let _ = (&h.feature, h.size_z);
    let name = resolve(names, prefix, &h.data_link)
        .ok_or_else(|| X3pError::MissingFile(h.data_link.clone()))?;
    let points = h.size_x * h.size_y;
    let expected = points * h.data_type.width();
    if expected > *budget {
        return Err(X3pError::TooLarge {
            file: name,
            limit: *budget,
        });
    }
    let raw = read_entry(archive, &name, expected, budget).map_err(|e| match e {
        X3pError::TooLarge { .. } => X3pError::SizeMismatch {
            file: name.clone(),
            expected,
            actual: expected + 1,
        },
        other => other,
    })?;
    if raw.len() as u64 != expected {
        return Err(X3pError::SizeMismatch {
            file: name,
            expected,
            actual: raw.len() as u64,
        });
    }
    match &h.data_md5 {
        Some(stated) => {
            let actual = md5_hex(&raw);
            if stated.trim().to_ascii_lowercase() != actual {
                return Err(X3pError::ChecksumMismatch {
                    file: name,
                    expected: stated.clone(),
                    actual,
                });
            }
        }
        None => warnings.push("MD5ChecksumPointData missing: point data not verified".to_string()),
    }
    let mut z = decode(&raw, h.data_type, h.z_offset, h.z_increment);
    if let Some(link) = &h.valid_link {
        apply_mask(archive, names, prefix, link, &mut z, budget, warnings)?;
    }
    Ok(z)
}

/// Little-endian decoding; integers are scaled as Offset + Increment * raw.
fn decode(raw: &[u8], t: DataType, offset: f64, inc: f64) -> Vec<f64> {
    match t {
        DataType::I => raw
            .chunks_exact(2)
            .map(|c| offset + inc * f64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DataType::L => raw
            .chunks_exact(4)
            .map(|c| offset + inc * f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DataType::F => raw
            .chunks_exact(4)
            .map(|c| {
                let v = f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                // Float data are stored in metres; Offset/Increment apply only to integers.
                if v.is_finite() { v } else { f64::NAN }
            })
            .collect(),
        DataType::D => raw
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                let v = f64::from_le_bytes(b);
                if v.is_finite() { v } else { f64::NAN }
            })
            .collect(),
    }
}

/// Apply `valid.bin`: bit `i % 8` of byte `i / 8`, LSB first; clear bit = missing point.
fn apply_mask<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    names: &[String],
    prefix: &str,
    link: &str,
    z: &mut [f64],
    budget: &mut u64,
    warnings: &mut Vec<String>,
) -> Result<(), X3pError> {
    let name =
        resolve(names, prefix, link).ok_or_else(|| X3pError::MissingFile(link.to_string()))?;
    let expected = z.len().div_ceil(8) as u64;
    let mask = read_entry(archive, &name, expected, budget).map_err(|e| match e {
        X3pError::TooLarge { .. } => X3pError::SizeMismatch {
            file: name.clone(),
            expected,
            actual: expected + 1,
        },
        other => other,
    })?;
    if (mask.len() as u64) < expected {
        return Err(X3pError::SizeMismatch {
            file: name,
            expected,
            actual: mask.len() as u64,
        });
    }
    let mut cleared = 0usize;
    for (i, v) in z.iter_mut().enumerate() {
        let bit = mask.get(i / 8).map_or(0, |b| (b >> (i % 8)) & 1);
        if bit == 0 && !v.is_nan() {
            *v = f64::NAN;
            cleared += 1;
        }
    }
    if cleared > 0 {
        warnings.push(format!("{cleared} points marked invalid by {name}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write::{encode, main_xml};
    use super::*;

    fn sample() -> X3pScan {
        let z = (0..12)
            .map(|i| if i == 5 { f64::NAN } else { i as f64 * 1e-6 })
            .collect();
        X3pScan::new(4, 3, 6.25e-6, 6.25e-6, z)
    }

    fn same(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.is_nan() && y.is_nan()) || (x - y).abs() <= tol)
    }

    #[test]
    fn roundtrip_all_types_and_layouts() {
        let s = sample();
        for dt in [DataType::I, DataType::L, DataType::F, DataType::D] {
            let o = WriteOptions {
                data_type: dt,
                z_increment: 1e-8,
                z_offset: 0.0,
                prefixed_root: dt != DataType::L,
                folder: if dt == DataType::I {
                    "scan/".into()
                } else {
                    String::new()
                },
                // Integers cannot hold NaN: the mask carries missing points.
                valid_mask: matches!(dt, DataType::I | DataType::L),
            };
            let r = read_x3p(&write_x3p_with(&s, &o)).expect("valid file");
            assert_eq!((r.size_x, r.size_y, r.data_type), (4, 3, dt));
            assert!(same(&r.z, &s.z, 1e-8), "{dt:?}: {:?}", r.z);
        }
    }

    #[test]
    fn rejects_bad_point_md5() {
        let s = sample();
        let data = encode(&s, &WriteOptions::default());
        let xml = main_xml(
            &s,
            &WriteOptions::default(),
            "0123456789abcdef0123456789abcdef",
        );
        let bytes = zip_files(&[
            ("main.xml".into(), xml.into_bytes()),
            ("bindata/data.bin".into(), data),
        ]);
        assert!(matches!(
            read_x3p(&bytes),
            Err(X3pError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn stale_main_checksum_is_warning() {
        let s = sample();
        let data = encode(&s, &WriteOptions::default());
        let xml = main_xml(&s, &WriteOptions::default(), &md5_hex(&data));
        let bytes = zip_files(&[
            ("main.xml".into(), xml.into_bytes()),
            ("bindata/data.bin".into(), data),
            (
                "md5checksum.hex".into(),
                b"00000000000000000000000000000000".to_vec(),
            ),
        ]);
        let r = read_x3p(&bytes).expect("stale checksum is not fatal");
        assert!(r.inspect().warnings.iter().any(|w| w.contains("stale")));
    }
}
