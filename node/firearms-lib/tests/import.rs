//! Bulk import: good lines survive bad ones, errors name the field, garbage never panics.

use std::io::Cursor;

use striae_firearms_lib::FirearmInput;
use striae_firearms_lib::import::{
    ImportError, ImportFormat, ImportItem, MAX_LINE_BYTES, parse, parse_csv, parse_ndjson,
};

/// The parsed items, each error as the text an import reports.
fn texts(items: impl Iterator<Item = ImportItem>) -> Vec<(u64, Result<FirearmInput, String>)> {
    items
        .map(|(line, result)| (line, result.map_err(|e| e.to_string())))
        .collect()
}

#[test]
fn ndjson_keeps_good_lines_and_names_bad_fields() {
    let text = concat!(
        r#"{"make":"Glock","model":"17","caliber":"9x19","serial":"A1","type":"pistol","status":"stolen"}"#,
        "\n",
        "\n",
        r#"{"make":"Glock","serial":12345}"#,
        "\n",
        "not json\n",
        r#"{"make":"CZ","model":"75","caliber":"9x19","serial":"B2","type":"pistol","status":"lost","history":[{"date":"2020-01-01","event":"sold","party":"X","country":7}]}"#,
        "\n",
        r#"{"make":"CZ","serail":"B2"}"#,
        "\n",
        r#"[1,2]"#,
        "\n",
        r#"{"make":"Beretta","model":"92FS","caliber":"9x19","serial":"C3","type":"pistol","status":"seized"}"#,
        "\r\n",
    );
    let items = texts(parse_ndjson(Cursor::new(text)));
    let lines: Vec<u64> = items.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![1, 3, 4, 5, 6, 7, 8]);
    assert_eq!(items[0].1.as_ref().map(|r| r.serial.as_str()), Ok("A1"));
    assert!(
        items[1].1.as_ref().is_err_and(|e| e.contains("`serial`")),
        "{:?}",
        items[1]
    );
    assert!(
        items[2]
            .1
            .as_ref()
            .is_err_and(|e| e.contains("invalid JSON"))
    );
    assert!(
        items[3]
            .1
            .as_ref()
            .is_err_and(|e| e.contains("history[0].country")),
        "{:?}",
        items[3]
    );
    assert!(items[4].1.as_ref().is_err_and(|e| e.contains("serail")));
    assert!(items[5].1.as_ref().is_err_and(|e| e.contains("object")));
    assert_eq!(items[6].1.as_ref().map(|r| r.make.as_str()), Ok("Beretta"));
}

#[test]
fn csv_keeps_good_lines_and_names_bad_fields() {
    let text = "\u{feff}Make,model,caliber,serial,type,status,history,notes\n\
        Glock,17,9x19,A1,pistol,stolen,,\n\
        Glock,17,9x19,A2,pistol,stolen\n\
        CZ,75,9x19,B2,pistol,lost,\"[{\"\"date\"\":\"\"2020-01-01\"\",\"\"event\"\":\"\"sold\"\",\"\"party\"\":\"\"X\"\",\"\"country\"\":\"\"FR\"\"}]\",\"multi\nline note\"\n\
        CZ,75,9x19,B3,pistol,lost,[oops,\n\
        Beretta,92FS,9x19,C3,pistol,seized,,\n";
    let items = texts(parse_csv(Cursor::new(text)));
    let lines: Vec<u64> = items.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![2, 3, 4, 6, 7]);
    assert_eq!(items[0].1.as_ref().map(|r| r.serial.as_str()), Ok("A1"));
    assert!(
        items[1]
            .1
            .as_ref()
            .is_err_and(|e| e.contains("expected 8 fields"))
    );
    let with_history = items[2]
        .1
        .as_ref()
        .map(|r| r.history.clone().unwrap_or_default().len());
    assert_eq!(with_history, Ok(1));
    assert_eq!(
        items[2]
            .1
            .as_ref()
            .map(|r| r.notes.clone().unwrap_or_default()),
        Ok("multi\nline note".to_owned())
    );
    assert!(items[3].1.as_ref().is_err_and(|e| e.contains("`history`")));
    assert_eq!(items[4].1.as_ref().map(|r| r.make.as_str()), Ok("Beretta"));
}

#[test]
fn csv_lines_ended_by_a_bare_cr_are_numbered_apart() {
    let text = "make,serial\rGlock,A1\rGlock,A2\rCZ,D4\r";
    let items = texts(parse_csv(Cursor::new(text)));
    let lines: Vec<u64> = items.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![2, 3, 4]);
}

#[test]
fn csv_with_an_unknown_column_is_refused_once() {
    let items = texts(parse_csv(Cursor::new("make,serial_no\nGlock,1\n")));
    assert_eq!(items.len(), 1);
    assert!(items[0].1.as_ref().is_err_and(|e| e.contains("serial_no")));
}

#[test]
fn over_long_lines_are_rejected_without_losing_the_others() {
    let good = r#"{"make":"Glock","model":"17","caliber":"9x19","serial":"A1","type":"pistol","status":"stolen"}"#;
    let long = format!(r#"{{"notes":"{}"}}"#, "x".repeat(MAX_LINE_BYTES + 10));
    let text = format!("{good}\n{long}\n{good}\n");
    let items = texts(parse_ndjson(Cursor::new(text)));
    assert_eq!(items.len(), 3);
    assert!(items[0].1.is_ok() && items[2].1.is_ok());
    assert!(
        items[1]
            .1
            .as_ref()
            .is_err_and(|e| e.contains("longer than"))
    );

    let csv = format!(
        "make,notes\nGlock,short\nGlock,{}\n",
        "y".repeat(MAX_LINE_BYTES + 10)
    );
    let items = texts(parse_csv(Cursor::new(csv)));
    assert!(items[0].1.is_ok());
    assert!(
        items
            .last()
            .is_some_and(|(_, r)| r.as_ref().is_err_and(|e| e.contains("longer than")))
    );
}

#[test]
fn garbage_never_panics() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..200 {
        let len = (round * 37) % 3_000;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let pick = (seed % 16) as usize;
                b"{}[]\",:\n\r\\xa1 \xff\xfe"[pick]
            })
            .collect();
        for format in [ImportFormat::Csv, ImportFormat::Ndjson] {
            let count = parse(format, Cursor::new(bytes.clone())).count();
            assert!(count <= len + 1);
        }
    }
    let header_then_garbage = b"make,serial\n\"unterminated,\xff\n\n\n".to_vec();
    let _ = parse_csv(Cursor::new(header_then_garbage)).count();
    assert_eq!(parse_csv(Cursor::new("")).count(), 0);
    assert_eq!(parse_ndjson(Cursor::new("")).count(), 0);
}

#[test]
fn content_types_select_the_format() {
    assert_eq!(
        ImportFormat::from_content_type("text/csv; charset=utf-8"),
        Some(ImportFormat::Csv)
    );
    assert_eq!(
        ImportFormat::from_content_type("application/x-ndjson"),
        Some(ImportFormat::Ndjson)
    );
    assert_eq!(ImportFormat::from_content_type("application/json"), None);
}

#[test]
fn errors_are_typed_and_keep_their_source() {
    let text = concat!(
        r#"{"make":"Glock","serial":12345}"#,
        "\n",
        "not json\n",
        r#"{"history":[{"country":7}]}"#,
        "\n",
    );
    let items: Vec<_> = parse_ndjson(Cursor::new(text)).collect();
    assert!(matches!(
        &items[0].1,
        Err(ImportError::NotAString { field, found: "a number" }) if field == "serial"
    ));
    let Err(invalid) = &items[1].1 else {
        panic!("{:?}", items[1]);
    };
    assert!(matches!(invalid, ImportError::InvalidJson(_)));
    assert!(std::error::Error::source(invalid).is_some());
    assert!(matches!(
        &items[2].1,
        Err(ImportError::HistoryFieldNotAString { index: 0, field, .. }) if field == "country"
    ));
    let items: Vec<_> = parse_csv(Cursor::new("make,make\n")).collect();
    assert!(matches!(
        &items[0].1,
        Err(ImportError::DuplicateColumn { name }) if name == "make"
    ));
}
