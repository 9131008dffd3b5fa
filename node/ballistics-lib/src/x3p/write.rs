//! Writing X3P files: the container, `main.xml` and point data, with options to produce the
//! variants other software writes (for tests and the devnet's synthetic scans).

use std::io::{Cursor, Write};

use super::{DataType, X3pScan, md5_hex};

/// Options for [`write_x3p_with`].
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Storage type; integers use `z_increment` and `z_offset`.
    pub data_type: DataType,
    pub z_increment: f64,
    pub z_offset: f64,
    /// Use the `p:` namespace prefix on the root element (most writers do).
    pub prefixed_root: bool,
    /// Put everything under this top-level folder (e.g. `"scan/"`).
    pub folder: String,
    /// Write `bindata/valid.bin` marking NaN points invalid.
    pub valid_mask: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            data_type: DataType::D,
            z_increment: 1.0,
            z_offset: 0.0,
            prefixed_root: true,
            folder: String::new(),
            valid_mask: false,
        }
    }
}

/// Serialise a scan as float64 X3P (NaN = missing), with MD5 checksums.
pub fn write_x3p(scan: &X3pScan) -> Vec<u8> {
    write_x3p_with(scan, &WriteOptions::default())
}

pub(super) fn encode(scan: &X3pScan, o: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(scan.z.len() * o.data_type.width() as usize);
    let to_int = |v: f64| ((v - o.z_offset) / o.z_increment).round();
    for &v in &scan.z {
        match o.data_type {
            DataType::D => out.extend_from_slice(&v.to_le_bytes()),
            DataType::F => out.extend_from_slice(&(v as f32).to_le_bytes()),
            DataType::I => {
                let r = if v.is_finite() {
                    to_int(v).clamp(-32768.0, 32767.0) as i16
                } else {
                    0
                };
                out.extend_from_slice(&r.to_le_bytes());
            }
            DataType::L => {
                let r = if v.is_finite() {
                    to_int(v).clamp(i32::MIN as f64, i32::MAX as f64) as i32
                } else {
                    0
                };
                out.extend_from_slice(&r.to_le_bytes());
            }
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn main_xml(scan: &X3pScan, o: &WriteOptions, data_md5: &str) -> String {
    let (root_open, root_close) = if o.prefixed_root {
        (
            "<p:ISO5436_2 xmlns:p=\"http://www.opengps.eu/2008/ISO5436_2\">",
            "</p:ISO5436_2>",
        )
    } else {
        ("<ISO5436_2>", "</ISO5436_2>")
    };
    let valid = if o.valid_mask {
        "<ValidPointsLink>bindata/valid.bin</ValidPointsLink>"
    } else {
        ""
    };
    let opt = |v: &Option<String>| xml_escape(v.as_deref().unwrap_or("N/A"));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{root_open}\n<Record1><Revision>ISO5436 - 2000</Revision><FeatureType>SUR</FeatureType><Axes>\
<CX><AxisType>I</AxisType><DataType>D</DataType><Increment>{ix:e}</Increment><Offset>0</Offset></CX>\
<CY><AxisType>I</AxisType><DataType>D</DataType><Increment>{iy:e}</Increment><Offset>0</Offset></CY>\
<CZ><AxisType>A</AxisType><DataType>{dt}</DataType><Increment>{zi:e}</Increment><Offset>{zo:e}</Offset></CZ></Axes></Record1>\n\
<Record2><Date>{date}</Date><Creator>{creator}</Creator><Instrument><Manufacturer>{instr}</Manufacturer><Model>N/A</Model><Serial>N/A</Serial><Version>N/A</Version></Instrument>\
<CalibrationDate>N/A</CalibrationDate><ProbingSystem><Type>N/A</Type><Identification>N/A</Identification></ProbingSystem><Comment>{comment}</Comment></Record2>\n\
<Record3><MatrixDimension><SizeX>{sx}</SizeX><SizeY>{sy}</SizeY><SizeZ>1</SizeZ></MatrixDimension>\
<DataLink><PointDataLink>bindata/data.bin</PointDataLink><MD5ChecksumPointData>{data_md5}</MD5ChecksumPointData>{valid}</DataLink></Record3>\n\
<Record4><ChecksumFile>md5checksum.hex</ChecksumFile></Record4>\n{root_close}\n",
        ix = scan.increment_x,
        iy = scan.increment_y,
        dt = o.data_type.code(),
        zi = o.z_increment,
        zo = o.z_offset,
        date = opt(&scan.date),
        creator = opt(&scan.creator),
        instr = opt(&scan.instrument),
        comment = opt(&scan.comment),
        sx = scan.size_x,
        sy = scan.size_y,
    )
}

/// Serialise with explicit options (data type, prefix, folder, mask); used by tests to
/// produce the variants other software writes.
pub fn write_x3p_with(scan: &X3pScan, o: &WriteOptions) -> Vec<u8> {
    let data = encode(scan, o);
    let xml = main_xml(scan, o, &md5_hex(&data));
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("{}main.xml", o.folder), xml.clone().into_bytes()),
        (format!("{}bindata/data.bin", o.folder), data),
        (
            format!("{}md5checksum.hex", o.folder),
            format!("{} *main.xml\n", md5_hex(xml.as_bytes())).into_bytes(),
        ),
    ];
    if o.valid_mask {
        let mut mask = vec![0u8; scan.z.len().div_ceil(8)];
        for (i, v) in scan.z.iter().enumerate() {
            if v.is_finite()
                && let Some(b) = mask.get_mut(i / 8)
            {
                *b |= 1 << (i % 8);
            }
        }
        files.push((format!("{}bindata/valid.bin", o.folder), mask));
    }
    zip_files(&files)
}

/// Build a deflate-compressed zip from (name, content) pairs. Writing to memory cannot fail
/// for I/O reasons, so errors here would be programming errors; they yield an empty archive
/// (which every reader rejects) rather than a panic.
pub fn zip_files(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let build = || -> zip::result::ZipResult<Vec<u8>> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in files {
            w.start_file(name.as_str(), opts)?;
            w.write_all(content)?;
        }
        Ok(w.finish()?.into_inner())
    };
    build().unwrap_or_default()
}
