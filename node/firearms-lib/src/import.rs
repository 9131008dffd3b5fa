//! Bulk import: CSV and NDJSON files of firearm records parsed line by line, so that good
//! lines are kept when others are rejected.
//!
//! Each item is `(line, Result<FirearmInput, ImportError>)`, where `line` is the 1-based line
//! the record starts on and the error names the field at fault. Parsing only checks shape and
//! types; [`crate::record::validate_input`] checks content. Memory per line is bounded by
//! [`MAX_LINE_BYTES`], and no input makes the parsers panic.

use std::collections::HashSet;
use std::io::{self, BufRead, Read};

use serde_json::{Map, Value};

use crate::record::{FirearmInput, HISTORY_FIELDS, INPUT_FIELDS};

/// Longest line (NDJSON) or physical line and record (CSV), in bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One parsed line: its number and the record or the reason it was rejected.
pub type ImportItem = (u64, Result<FirearmInput, ImportError>);

/// Why a line (or the rest of a file) could not be imported. The text names the field at
/// fault; names taken from the input are clipped to 40 characters.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A record object has a field that [`FirearmInput`] does not know.
    #[error("unknown field `{name}`")]
    UnknownField {
        /// The field's name (clipped).
        name: String,
    },
    /// A record field holds a JSON value other than a string or null.
    #[error("field `{field}`: expected a string, found {found}")]
    NotAString {
        /// The field.
        field: String,
        /// What it holds instead ("a number", "an array"...).
        found: &'static str,
    },
    /// `history` is neither an array nor null.
    #[error("field `history`: expected an array of events, found {found}")]
    HistoryNotAnArray {
        /// What it holds instead.
        found: &'static str,
    },
    /// An element of `history` is not an object.
    #[error("field `history[{index}]`: expected an object, found {found}")]
    HistoryEventNotAnObject {
        /// The element's position (0-based).
        index: usize,
        /// What it is instead.
        found: &'static str,
    },
    /// A history event has a field that history events do not know.
    #[error("field `history[{index}]`: unknown field `{name}`")]
    UnknownHistoryField {
        /// The event's position (0-based).
        index: usize,
        /// The field's name (clipped).
        name: String,
    },
    /// A history event field holds a JSON value other than a string or null.
    #[error("field `history[{index}].{field}`: expected a string, found {found}")]
    HistoryFieldNotAString {
        /// The event's position (0-based).
        index: usize,
        /// The field.
        field: String,
        /// What it holds instead.
        found: &'static str,
    },
    /// The record object has the right field types but still does not make a record.
    #[error("invalid record: {0}")]
    InvalidRecord(#[source] serde_json::Error),
    /// An NDJSON line is not UTF-8.
    #[error("line is not valid UTF-8")]
    LineNotUtf8,
    /// An NDJSON line is JSON, but not an object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject {
        /// What the line holds instead.
        found: &'static str,
    },
    /// An NDJSON line is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// Reading the NDJSON input failed; nothing after this line is read.
    #[error("could not read input: {0}")]
    Read(#[source] io::Error),
    /// An NDJSON line is longer than [`MAX_LINE_BYTES`].
    #[error("line is longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    /// A cell of the CSV header row is not UTF-8.
    #[error("header: column {column} is not valid UTF-8")]
    HeaderNotUtf8 {
        /// The column (1-based).
        column: usize,
    },
    /// The CSV header row names a column that [`FirearmInput`] does not know.
    #[error(
        "header: unknown column `{name}`; expected names from: {}",
        INPUT_FIELDS.join(", ")
    )]
    UnknownColumn {
        /// The column's name, trimmed and lowercased (clipped).
        name: String,
    },
    /// The CSV header row names a column twice.
    #[error("header: column `{name}` appears twice")]
    DuplicateColumn {
        /// The column's name, trimmed and lowercased.
        name: String,
    },
    /// A CSV record is longer than [`MAX_LINE_BYTES`].
    #[error("record is longer than {MAX_LINE_BYTES} bytes")]
    RecordTooLong,
    /// A CSV record does not have as many fields as the header.
    #[error("expected {expected} fields as in the header, found {found}")]
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the record.
        found: usize,
    },
    /// A CSV cell is not UTF-8.
    #[error("field `{field}`: not valid UTF-8")]
    FieldNotUtf8 {
        /// The cell's column.
        field: String,
    },
    /// The CSV `history` cell is not JSON.
    #[error("field `history`: invalid JSON: {0}")]
    HistoryJson(#[source] serde_json::Error),
    /// A CSV physical line is longer than [`MAX_LINE_BYTES`]; the rest of the file is not read.
    #[error("line is longer than {MAX_LINE_BYTES} bytes; the rest of the file was not read")]
    CsvLineTooLong,
    /// The CSV input could not be read or parsed; the rest of the file is not read.
    #[error("could not read CSV: {0}; the rest of the file was not read")]
    Csv(#[source] csv::Error),
}

/// The two accepted file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Csv,
    Ndjson,
}

impl ImportFormat {
    /// The format for an HTTP `Content-Type` (`text/csv`, `application/x-ndjson`, ...),
    /// ignoring parameters such as `charset`.
    pub fn from_content_type(content_type: &str) -> Option<ImportFormat> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" | "application/csv" => Some(ImportFormat::Csv),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => Some(ImportFormat::Ndjson),
            _ => None,
        }
    }
}

/// Parses `reader` in `format`.
pub fn parse<'a, R: BufRead + 'a>(
    format: ImportFormat,
    reader: R,
) -> Box<dyn Iterator<Item = ImportItem> + 'a> {
    match format {
        ImportFormat::Csv => Box::new(parse_csv(reader)),
        ImportFormat::Ndjson => Box::new(parse_ndjson(reader)),
    }
}

/// Checks the JSON types of a record object, naming the first field at fault, then converts it.
fn input_from_object(object: Map<String, Value>) -> Result<FirearmInput, ImportError> {
    for (name, value) in &object {
        if !INPUT_FIELDS.contains(&name.as_str()) {
            return Err(ImportError::UnknownField { name: clip(name) });
        }
        if name == "history" {
            check_history(value)?;
        } else if !matches!(value, Value::String(_) | Value::Null) {
            return Err(ImportError::NotAString {
                field: name.clone(),
                found: type_name(value),
            });
        }
    }
    serde_json::from_value(Value::Object(object)).map_err(ImportError::InvalidRecord)
}

fn check_history(value: &Value) -> Result<(), ImportError> {
    let events = match value {
        Value::Null => return Ok(()),
        Value::Array(events) => events,
        other => {
            return Err(ImportError::HistoryNotAnArray {
                found: type_name(other),
            });
        }
    };
    for (index, event) in events.iter().enumerate() {
        let Value::Object(fields) = event else {
            return Err(ImportError::HistoryEventNotAnObject {
                index,
                found: type_name(event),
            });
        };
        for (name, value) in fields {
            if !HISTORY_FIELDS.contains(&name.as_str()) {
                return Err(ImportError::UnknownHistoryField {
                    index,
                    name: clip(name),
                });
            }
            if !matches!(value, Value::String(_) | Value::Null) {
                return Err(ImportError::HistoryFieldNotAString {
                    index,
                    field: name.clone(),
                    found: type_name(value),
                });
            }
        }
    }
    Ok(())
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// At most 40 characters of a name taken from the input, for error messages.
fn clip(name: &str) -> String {
    name.chars().take(40).collect()
}

// ---------------------------------------------------------------------------------------------
// NDJSON

/// Parses newline-delimited JSON: one record object per line; blank lines are skipped.
pub fn parse_ndjson<R: BufRead>(reader: R) -> NdjsonRecords<R> {
    NdjsonRecords {
        reader,
        line: 0,
        done: false,
    }
}

/// Iterator over the records of an NDJSON stream.
pub struct NdjsonRecords<R> {
    reader: R,
    line: u64,
    done: bool,
}

/// One physical line, or why it could not be read whole.
enum RawLine {
    Text(Vec<u8>),
    TooLong,
}

impl<R: BufRead> NdjsonRecords<R> {
    /// Reads the next physical line keeping at most [`MAX_LINE_BYTES`]; the rest of an
    /// over-long line is skipped without being stored.
    fn read_line(&mut self) -> io::Result<Option<RawLine>> {
        let mut kept = Vec::new();
        let mut too_long = false;
        let mut read_any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            if buf.is_empty() {
                break;
            }
            read_any = true;
            let (chunk, consumed, ended) = match buf.iter().position(|&b| b == b'\n') {
                Some(at) => (&buf[..at], at + 1, true),
                None => (buf, buf.len(), false),
            };
            if !too_long && kept.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                kept = Vec::new();
            }
            if !too_long {
                kept.extend_from_slice(chunk);
            }
            self.reader.consume(consumed);
            if ended {
                break;
            }
        }
        Ok(match (read_any, too_long) {
            (false, _) => None,
            (true, true) => Some(RawLine::TooLong),
            (true, false) => Some(RawLine::Text(kept)),
        })
    }

    fn parse_line(&self, bytes: &[u8]) -> Option<Result<FirearmInput, ImportError>> {
        let bytes = if self.line == 1 {
            bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
        } else {
            bytes
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return Some(Err(ImportError::LineNotUtf8)),
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => input_from_object(object),
            Ok(other) => Err(ImportError::NotAnObject {
                found: type_name(&other),
            }),
            Err(err) => Err(ImportError::InvalidJson(err)),
        })
    }
}

impl<R: BufRead> Iterator for NdjsonRecords<R> {
    type Item = ImportItem;

    fn next(&mut self) -> Option<ImportItem> {
        while !self.done {
            let raw = match self.read_line() {
                Ok(Some(raw)) => raw,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(err) => {
                    self.done = true;
                    return Some((self.line + 1, Err(ImportError::Read(err))));
                }
            };
            self.line += 1;
            let parsed = match raw {
                RawLine::TooLong => Some(Err(ImportError::LineTooLong)),
                RawLine::Text(bytes) => self.parse_line(&bytes),
            };
            if let Some(result) = parsed {
                return Some((self.line, result));
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// CSV

/// Message carried by the I/O error [`LineLimit`] raises, to tell it from real I/O errors.
const LINE_LIMIT_MESSAGE: &str = "physical line too long";

/// Refuses to pass on a physical line longer than [`MAX_LINE_BYTES`], so that a file with no
/// line breaks (or an unterminated quote) cannot make the CSV reader buffer without bound.
struct LineLimit<R> {
    inner: R,
    current: usize,
    tripped: bool,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tripped {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LINE_LIMIT_MESSAGE,
            ));
        }
        let n = self.inner.read(buf)?;
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte == b'\n' {
                self.current = 0;
                continue;
            }
            self.current += 1;
            if self.current > MAX_LINE_BYTES {
                // Hand over what precedes the overflow; the next call reports it.
                self.tripped = true;
                return Ok(i);
            }
        }
        Ok(n)
    }
}

/// Parses CSV with a header row of [`FirearmInput`] field names (in any order and case);
/// `history`, if present, holds the events as a JSON array. Empty cells are absent values.
pub fn parse_csv<R: Read>(reader: R) -> CsvRecords<R> {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineLimit {
            inner: reader,
            current: 0,
            tripped: false,
        });
    CsvRecords {
        reader,
        headers: None,
        record: csv::ByteRecord::new(),
        last_line: 0,
        done: false,
    }
}

/// Iterator over the records of a CSV stream.
pub struct CsvRecords<R> {
    reader: csv::Reader<LineLimit<R>>,
    headers: Option<Vec<String>>,
    record: csv::ByteRecord,
    /// Line number given to the last record read (header and blank records included).
    last_line: u64,
    done: bool,
}

fn is_line_limit(err: &csv::Error) -> bool {
    match err.kind() {
        csv::ErrorKind::Io(io) => io.to_string() == LINE_LIMIT_MESSAGE,
        _ => false,
    }
}

/// Header names, trimmed and lowercased, or why the header row is unusable.
fn read_headers(record: &csv::ByteRecord) -> Result<Vec<String>, ImportError> {
    let mut seen = HashSet::new();
    let mut names = Vec::with_capacity(record.len());
    for (i, cell) in record.iter().enumerate() {
        let cell = if i == 0 {
            cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell)
        } else {
            cell
        };
        let name = std::str::from_utf8(cell)
            .map_err(|_| ImportError::HeaderNotUtf8 { column: i + 1 })?
            .trim()
            .to_lowercase();
        if !INPUT_FIELDS.contains(&name.as_str()) {
            return Err(ImportError::UnknownColumn { name: clip(&name) });
        }
        if !seen.insert(name.clone()) {
            return Err(ImportError::DuplicateColumn { name });
        }
        names.push(name);
    }
    Ok(names)
}

fn record_to_input(
    headers: &[String],
    record: &csv::ByteRecord,
) -> Result<FirearmInput, ImportError> {
    if record.as_slice().len() > MAX_LINE_BYTES {
        return Err(ImportError::RecordTooLong);
    }
    if record.len() != headers.len() {
        return Err(ImportError::FieldCount {
            expected: headers.len(),
            found: record.len(),
        });
    }
    let mut object = Map::new();
    for (name, cell) in headers.iter().zip(record.iter()) {
        let text = std::str::from_utf8(cell).map_err(|_| ImportError::FieldNotUtf8 {
            field: name.clone(),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let value = if name == "history" {
            serde_json::from_str(text).map_err(ImportError::HistoryJson)?
        } else {
            Value::String(text.to_owned())
        };
        object.insert(name.clone(), value);
    }
    input_from_object(object)
}

impl<R: Read> Iterator for CsvRecords<R> {
    type Item = ImportItem;

    fn next(&mut self) -> Option<ImportItem> {
        while !self.done {
            let line = self.reader.position().line();
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => self.done = true,
                Ok(true) => {
                    let line = self.record.position().map_or(line, |p| p.line());
                    // The CSV reader ends a record at a bare CR too, but counts lines by LF
                    // only: a record after a bare CR would share its predecessor's number
                    // (every record of a CR-only file would be line 1). Such a record is
                    // numbered one past the record before it: exact for CR-only and LF
                    // files, close for files that mix them.
                    let line = line.max(self.last_line + 1);
                    self.last_line = line;
                    if self
                        .record
                        .iter()
                        .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
                    {
                        continue;
                    }
                    let Some(headers) = &self.headers else {
                        match read_headers(&self.record) {
                            Ok(names) => self.headers = Some(names),
                            Err(error) => {
                                self.done = true;
                                return Some((line, Err(error)));
                            }
                        }
                        continue;
                    };
                    return Some((line, record_to_input(headers, &self.record)));
                }
                Err(err) => {
                    self.done = true;
                    let line = self.reader.position().line().max(line);
                    let error = if is_line_limit(&err) {
                        ImportError::CsvLineTooLong
                    } else {
                        ImportError::Csv(err)
                    };
                    return Some((line, Err(error)));
                }
            }
        }
        None
    }
}
