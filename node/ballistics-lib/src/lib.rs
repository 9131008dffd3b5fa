//! striae-ballistics-lib: cartridge-case breech-face and bullet land matching for striae —
//! X3P reading, preprocessing, indexable digests, CMC confirmation (cartridge cases),
//! land signatures with CCF/CMS/SAM comparison (bullets, see [`bullet`]), synthetic scans
//! and evaluation.
//!
//! Flow at a bureau:
//! 1. [`x3p::read_x3p`] a scan (hostile input: checked, capped, typed errors);
//! 2. [`preprocess::prepare`] it into a standard [`preprocess::Surface`] (12.5 µm grid,
//!    form removed, 16-500 µm Gaussian band-pass, region of interest, outliers trimmed);
//! 3. [`signature::digest`] it into a fixed-size [`signature::Digest`]
//!    ([`signature::DIGEST_BYTES`] bytes) that is shared for screening; other bureaus
//!    [`signature::DigestIndex::search`] their packed digests with it;
//! 4. the holder of both scans confirms candidates with [`cmc::compare`]
//!    (Congruent Matching Cells; identification at [`cmc::CONFIRM_THRESHOLD`] = 6 CMCs).
//!
//! [`render::surface_png`] draws a prepared surface for examiners. [`synthetic`] makes seeded test scans for volume tests; [`eval`] measures accuracy on
//! labelled real scans.
//!
//! Reproduce (from the crate folder):
//! - `cargo test --release` (the Fadul test runs when the data is found, see
//!   [`eval::find_dataset`]);
//! - `cargo run --release --example accuracy -- ../shared/datasets/fadul-known [--top 10]`;
//! - `cargo run --release --example bench -- 1000000`.
//!
//! Bullets: [`bullet::prepare_bullet`] the land scans, share [`bullet::bullet_digest`]
//! ([`bullet::BULLET_DIGEST_BYTES`] bytes, compared with [`bullet::bullet_screen_score`]),
//! confirm at the holder with [`bullet::compare_bullets`], draw with
//! [`render_bullet::aligned_signatures_png`]. Accuracy: `cargo test --release bullet` and
//! `striae-bench accuracy --dataset ../shared/datasets/bullets-dev --kind bullet`.

pub mod bullet;
pub mod cmc;
pub mod crossval;
pub mod descriptor;
pub mod eval;
pub mod perturb;
pub mod preprocess;
pub mod render;
pub mod render_bullet;
pub mod render_cmc;
pub mod signature;
pub mod synthetic;
pub mod x3p;
