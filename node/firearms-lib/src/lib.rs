//! Firearm records for striae: the project's own reference table of makes, models, calibres
//! and types; serial-number normalisation; validation of firearm records; and bulk import of
//! CSV and NDJSON files.
//!
//! Every record and every query passes through [`reference::ReferenceTable`], so that digests
//! and matches are computed over canonical ids rather than free text.

mod fold;

pub mod date;
pub mod import;
pub mod pattern;
pub mod record;
pub mod reference;
pub mod serial;

pub use date::Date;
pub use pattern::{PatternError, SerialPattern};
pub use record::{FieldError, FirearmInput, FirearmRecord, validate_input};
pub use reference::{
    AdditionOrder, MergedReference, Normalised, RefError, ReferenceAddition, ReferenceTable,
    clean_unknown,
};
pub use serial::{SerialError, confusable_fold, normalise_serial};
