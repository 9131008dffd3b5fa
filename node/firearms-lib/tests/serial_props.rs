//! Property tests of serial normalisation.

use proptest::prelude::*;
use striae_firearms_lib::serial::{confusable_fold, normalise_serial};

/// Characters seen in typed serials: ASCII letters and digits, separators, Cyrillic, and some
/// arbitrary Unicode.
fn serial_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range('0', '9'),
        4 => prop::char::range('A', 'Z'),
        4 => prop::char::range('a', 'z'),
        2 => prop::sample::select(vec![' ', '-', '/', '.', '_', '#', ',', ':', '\t']),
        1 => prop::char::range('А', 'я'),
        1 => any::<char>(),
    ]
}

fn raw_serial() -> impl Strategy<Value = String> {
    prop::collection::vec(serial_char(), 0..80).prop_map(|chars| chars.into_iter().collect())
}

/// A serial without arbitrary Unicode, where case mapping is one-to-one.
fn plain_serial() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::char::range('0', '9'),
            prop::char::range('A', 'Z'),
            prop::char::range('a', 'z'),
            prop::char::range('А', 'я'),
        ],
        1..40,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn separator() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![' ', '-', '/', '.', '_', '\t']),
        0..3,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #[test]
    fn normalisation_is_idempotent(raw in raw_serial()) {
        if let Ok(once) = normalise_serial(&raw) {
            prop_assert_eq!(normalise_serial(&once), Ok(once.clone()));
            prop_assert_eq!(confusable_fold(&once), confusable_fold(&confusable_fold(&once)));
        }
    }

    #[test]
    fn normalisation_ignores_case(raw in plain_serial()) {
        prop_assert_eq!(normalise_serial(&raw.to_lowercase()), normalise_serial(&raw.to_uppercase()));
    }

    #[test]
    fn normalisation_ignores_punctuation(raw in plain_serial(), seps in prop::collection::vec(separator(), 41)) {
        let spaced: String = raw
            .chars()
            .zip(seps.iter())
            .map(|(c, sep)| format!("{sep}{c}"))
            .collect();
        prop_assert_eq!(normalise_serial(&spaced), normalise_serial(&raw));
    }

    #[test]
    fn normalised_serials_are_bounded_letters_and_digits(raw in raw_serial()) {
        if let Ok(serial) = normalise_serial(&raw) {
            prop_assert!(!serial.is_empty() && serial.chars().count() <= 64);
            prop_assert!(serial.chars().all(char::is_alphanumeric));
        }
    }
}
