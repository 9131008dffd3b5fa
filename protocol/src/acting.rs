//! The acting user's reference that a signed request carries: the requesting bureau's own
//! reference for the person who asked (by default its account id, an opaque internal
//! reference; a name only if the bureau's operator chooses so; empty when the node acted on
//! its own, e.g. an automatic confirmation). The holder keeps it in its audit log, so both
//! sides can say who asked. It is the requester's word, signed by the requesting bureau: the
//! holder cannot check it, only hold the bureau to it.

/// Longest reference, in bytes (an account id is 32 hexadecimal characters).
pub const MAX_ACTING_BYTES: usize = 64;

/// A reference that breaks a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActingError {
    /// Longer than `MAX_ACTING_BYTES`.
    #[error("acting: at most {MAX_ACTING_BYTES} bytes")]
    TooLong,
    /// It holds a control character (it reaches other members' screens and logs).
    #[error("acting: must not contain control characters")]
    ControlCharacter,
}

/// Checks a reference's bounds.
pub fn check_acting(reference: &str) -> Result<(), ActingError> {
    if reference.len() > MAX_ACTING_BYTES {
        return Err(ActingError::TooLong);
    }
    if reference.chars().any(char::is_control) {
        return Err(ActingError::ControlCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_short_printable_text() {
        assert_eq!(check_acting(""), Ok(()));
        assert_eq!(check_acting(&"a".repeat(64)), Ok(()));
        assert_eq!(check_acting(&"a".repeat(65)), Err(ActingError::TooLong));
        assert_eq!(
            check_acting("ana\u{1b}[2J"),
            Err(ActingError::ControlCharacter)
        );
    }
}
