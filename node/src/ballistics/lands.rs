//! A bullet's land scans as they arrive in one request body: `multipart/form-data` with one
//! part per land in land order, or `application/zip` holding the lands' X3P files, taken in
//! name order (numbers compared as numbers, so `land2` comes before `land10`).

use std::io::Read;

use striae_protocol::bullet::MAX_LANDS;

use super::BallisticsError;

/// Fewest lands a bullet is compared with (phases need several lands to be told apart).
pub(super) const MIN_LANDS: usize = 3;
/// Most bytes the lands of one bullet may hold once unpacked.
const MAX_UNPACKED_BYTES: u64 = 128 << 20;

fn body_error(message: impl Into<String>) -> BallisticsError {
    BallisticsError::Field {
        field: "body",
        message: message.into(),
    }
}

/// The lands' X3P files in land order, from a body of type `content_type`.
pub async fn split_lands(
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Vec<Vec<u8>>, BallisticsError> {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let lands = match mime.as_str() {
        "multipart/form-data" => from_multipart(content_type.unwrap_or_default(), body).await?,
        "application/zip" | "application/x-zip-compressed" => from_zip(body)?,
        other => {
            let shown = if other.is_empty() { "none" } else { other };
            return Err(BallisticsError::Field {
                field: "content-type",
                message: format!(
                    "a bullet is sent as multipart/form-data (one part per land, in land order) or application/zip (the lands' X3P files); got {shown}"
                ),
            });
        }
    };
    check_count(lands.len())?;
    Ok(lands)
}

fn check_count(n: usize) -> Result<(), BallisticsError> {
    if (MIN_LANDS..=MAX_LANDS).contains(&n) {
        return Ok(());
    }
    Err(body_error(format!(
        "a bullet needs {MIN_LANDS} to {MAX_LANDS} land scans; the body holds {n}"
    )))
}

async fn from_multipart(
    content_type: &str,
    body: Vec<u8>,
) -> Result<Vec<Vec<u8>>, BallisticsError> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| BallisticsError::Field {
        field: "content-type",
        message: format!("multipart without a usable boundary: {e}"),
    })?;
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut lands = Vec::new();
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|e| body_error(format!("not a well-formed multipart body: {e}")))?
    {
        if lands.len() == MAX_LANDS {
            return Err(body_error(format!("more than {MAX_LANDS} land scans")));
        }
        let bytes = field
            .bytes()
            .await
            .map_err(|e| body_error(format!("land {} could not be read: {e}", lands.len() + 1)))?;
        if bytes.is_empty() {
            return Err(body_error(format!("land {} is empty", lands.len() + 1)));
        }
        lands.push(bytes.to_vec());
    }
    Ok(lands)
}

/// A zip entry that holds no land: folders, and the metadata macOS and editors leave.
fn is_clutter(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    name.ends_with('/') || name.starts_with("__MACOSX/") || base.starts_with('.') || base.is_empty()
}

fn from_zip(body: Vec<u8>) -> Result<Vec<Vec<u8>>, BallisticsError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body))
        .map_err(|e| body_error(format!("not a readable zip file: {e}")))?;
    let mut names: Vec<(usize, String)> = Vec::new();
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| body_error(format!("zip entry {i} unreadable: {e}")))?;
        let name = entry.name().to_string();
        if is_clutter(&name) {
            continue;
        }
        if !name.to_ascii_lowercase().ends_with(".x3p") {
            return Err(body_error(format!(
                "zip entry `{name}` is not an .x3p file: the zip holds the lands' X3P files only"
            )));
        }
        names.push((i, name));
        if names.len() > MAX_LANDS {
            return Err(body_error(format!("more than {MAX_LANDS} land scans")));
        }
    }
    names.sort_by(|a, b| natural_cmp(&a.1, &b.1));
    let mut budget = MAX_UNPACKED_BYTES;
    let mut lands = Vec::with_capacity(names.len());
    for (i, name) in names {
        let entry = archive
            .by_index(i)
            .map_err(|e| body_error(format!("zip entry `{name}` unreadable: {e}")))?;
        let mut bytes = Vec::new();
        // Read at most what is left of the budget, whatever the entry claims (a zip bomb
        // declares small sizes).
        entry
            .take(budget + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| body_error(format!("zip entry `{name}` could not be unpacked: {e}")))?;
        budget = budget.checked_sub(bytes.len() as u64).ok_or_else(|| {
            body_error(format!(
                "the lands unpack to more than {} MiB",
                MAX_UNPACKED_BYTES >> 20
            ))
        })?;
        if bytes.is_empty() {
            return Err(body_error(format!("zip entry `{name}` is empty")));
        }
        lands.push(bytes);
    }
    Ok(lands)
}

/// Orders names as people number files: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                let order = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if order.is_ne() {
                    return order;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    s.split_at(n)
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in files {
            let options = zip::write::SimpleFileOptions::default();
            out.start_file(*name, options).expect("start");
            out.write_all(bytes).expect("write");
        }
        out.finish().expect("finish").into_inner()
    }

    #[tokio::test]
    async fn zip_lands_come_in_natural_name_order_without_clutter() {
        let body = zip_of(&[
            ("b/land10.x3p", b"ten"),
            ("b/land2.x3p", b"two"),
            ("__MACOSX/b/._land2.x3p", b"junk"),
            ("b/.DS_Store", b"junk"),
            ("b/land1.x3p", b"one"),
        ]);
        let lands = split_lands(Some("application/zip"), body)
            .await
            .expect("lands");
        assert_eq!(
            lands,
            vec![b"one".to_vec(), b"two".to_vec(), b"ten".to_vec()]
        );
    }

    #[tokio::test]
    async fn a_zip_with_other_files_or_too_few_lands_is_refused_naming_why() {
        let body = zip_of(&[("land1.x3p", b"a"), ("notes.txt", b"b")]);
        let e = split_lands(Some("application/zip"), body)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("notes.txt"), "{e}");
        let body = zip_of(&[("land1.x3p", b"a"), ("land2.x3p", b"b")]);
        let e = split_lands(Some("application/zip"), body)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("3 to 12"), "{e}");
        let e = split_lands(Some("application/zip"), b"not a zip".to_vec())
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("body:"), "{e}");
    }

    #[tokio::test]
    async fn multipart_parts_are_lands_in_order() {
        let mut body = Vec::new();
        for (i, content) in ["first", "second", "third"].iter().enumerate() {
            write!(
                body,
                "--XyZ\r\nContent-Disposition: form-data; name=\"land\"; filename=\"l{i}.x3p\"\r\nContent-Type: application/octet-stream\r\n\r\n{content}\r\n"
            )
            .expect("write");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        let lands = split_lands(Some("multipart/form-data; boundary=XyZ"), body)
            .await
            .expect("lands");
        assert_eq!(lands[1], b"second".to_vec());
        assert_eq!(lands.len(), 3);
    }

    #[tokio::test]
    async fn a_raw_body_is_refused_naming_the_content_type() {
        let e = split_lands(Some("application/octet-stream"), vec![1, 2, 3])
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                BallisticsError::Field {
                    field: "content-type",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn natural_order_compares_numbers_as_numbers() {
        let mut names = vec!["land10", "land2", "land1", "land02x", "a"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, vec!["a", "land1", "land2", "land02x", "land10"]);
    }
}
