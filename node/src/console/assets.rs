//! The console's files, embedded at build time from `assets/`, with their content types and
//! entity tags.

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path below `/console/`.
    pub path: &'static str,
    /// `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file.
    pub bytes: &'static [u8],
}

impl Asset {
    /// A strong entity tag: the first 16 bytes of the file's BLAKE3 hash, quoted.
    pub fn etag(&self) -> String {
        let hash = blake3::hash(self.bytes);
        format!("\"{}\"", hex::encode(&hash.as_bytes()[..16]))
    }
}

/// The content type of a file by its extension.
const fn content_type(path: &str) -> &'static str {
    let bytes = path.as_bytes();
    let n = bytes.len();
    if n >= 5 && bytes[n - 5] == b'.' && bytes[n - 4] == b'h' {
        "text/html; charset=utf-8"
    } else if n >= 4 && bytes[n - 4] == b'.' && bytes[n - 3] == b'c' {
        "text/css; charset=utf-8"
    } else if n >= 3 && bytes[n - 3] == b'.' && bytes[n - 2] == b'j' {
        "text/javascript; charset=utf-8"
    } else if n >= 4 && bytes[n - 4] == b'.' && bytes[n - 3] == b's' {
        "image/svg+xml"
    } else {
        "application/octet-stream"
    }
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        /// Every file of the console.
        pub const ASSETS: &[Asset] = &[$(Asset {
            path: $path,
            content_type: content_type($path),
            bytes: include_bytes!(concat!("assets/", $path)),
        }),*];
    };
}

assets![
    "index.html",
    "console.css",
    "favicon.svg",
    "app.js",
    "api.js",
    "ui.js",
    "countries.js",
    "pages/network.js",
    "pages/notices.js",
    "pages/firearms.js",
    "pages/traces.js",
    "pages/ballistics.js",
    "pages/cases.js",
    "pages/queries.js",
    "pages/operations.js",
    "pages/analysis.js",
    "pages/audit.js",
    "pages/users.js",
];

/// The embedded file at `path` (below `/console/`).
pub(super) fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}
