//! `striae export`: this node's own records as CSV or NDJSON, in the import's own columns and
//! fields, so that an export imported again (here, or at a node restored elsewhere) gives the
//! same records. Streamed in chunks from a blocking thread: a million records never sit in
//! memory at once.

use serde_json::Value;
use striae_firearms_lib::{FirearmInput, record::INPUT_FIELDS};
use tokio::sync::mpsc;

use super::{Firearms, records::stored_input};
use crate::store::StoreError;

/// Bytes gathered before a chunk is handed on.
const CHUNK_BYTES: usize = 64 << 10;

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// A header row of field names, one record per row, the history as JSON in its cell.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl ExportFormat {
    /// The format called `name` (`csv` or `ndjson`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "csv" => Some(ExportFormat::Csv),
            "ndjson" => Some(ExportFormat::Ndjson),
            _ => None,
        }
    }

    /// The media type of the export.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }
}

/// The CSV columns: the import's field names, `calibre` (an alias of `caliber`) left out.
fn csv_columns() -> impl Iterator<Item = &'static str> {
    INPUT_FIELDS.into_iter().filter(|f| *f != "calibre")
}

impl Firearms {
    /// Writes every record this node holds to `chunks`, in key order. Blocks: run it on a
    /// blocking thread. Stops early, without error, when the receiver is dropped.
    pub fn export_blocking(
        &self,
        format: ExportFormat,
        chunks: &mpsc::Sender<Result<Vec<u8>, StoreError>>,
    ) {
        let mut out = Vec::with_capacity(CHUNK_BYTES);
        if format == ExportFormat::Csv {
            out = csv_row(out, csv_columns().map(str::to_string));
        }
        for item in self.records.iter() {
            let input = item.and_then(|(_, value)| stored_input(&value));
            let input = match input {
                Ok(input) => input,
                Err(e) => {
                    let _ = chunks.blocking_send(Err(e));
                    return;
                }
            };
            out = write_record(out, format, &input);
            if out.len() >= CHUNK_BYTES {
                let full = std::mem::replace(&mut out, Vec::with_capacity(CHUNK_BYTES));
                if chunks.blocking_send(Ok(full)).is_err() {
                    return;
                }
            }
        }
        if !out.is_empty() {
            let _ = chunks.blocking_send(Ok(out));
        }
    }
}

fn write_record(mut out: Vec<u8>, format: ExportFormat, input: &FirearmInput) -> Vec<u8> {
    // Plain structs of strings serialise to JSON without fail.
    let value = serde_json::to_value(input).unwrap_or(Value::Null);
    match format {
        ExportFormat::Ndjson => {
            out.extend(serde_json::to_vec(&value).unwrap_or_default());
            out.push(b'\n');
            out
        }
        ExportFormat::Csv => {
            let cells = csv_columns().map(|field| cell(&value[field]));
            csv_row(out, cells)
        }
    }
}

/// A field as a CSV cell: text as it is, the history as JSON, nothing as empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_row(out: Vec<u8>, cells: impl Iterator<Item = String>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(out);
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(cells.collect::<Vec<_>>());
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_export_reads_back_as_the_same_inputs() {
        let input = FirearmInput {
            make: "Walther".into(),
            model: "P99".into(),
            caliber: "9x19mm".into(),
            serial: "WK1057, \"33\"".into(),
            firearm_type: "pistol".into(),
            status: "stolen".into(),
            notes: Some("line one\nline two".into()),
            history: Some(vec![striae_firearms_lib::record::HistoryInput {
                date: "2020-01-02".into(),
                event: "sale".into(),
                party: "Dealer, GmbH".into(),
                country: "DE".into(),
                document_ref: None,
            }]),
            ..FirearmInput::default()
        };
        let mut out = csv_row(Vec::new(), csv_columns().map(str::to_string));
        out = write_record(out, ExportFormat::Csv, &input);
        let back: Vec<_> = striae_firearms_lib::import::parse_csv(out.as_slice()).collect();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].1.as_ref().expect("parses"), &input);
        let ndjson = write_record(Vec::new(), ExportFormat::Ndjson, &input);
        let back: Vec<_> = striae_firearms_lib::import::parse_ndjson(ndjson.as_slice()).collect();
        assert_eq!(back[0].1.as_ref().expect("parses"), &input);
    }
}
