//! The one canonical encoding: bincode 2 with an explicit configuration, explicit size limits,
//! no trailing bytes, and a re-encoding check so that every value has exactly one byte form.

use bincode::{Decode, Encode};

/// Largest encoded feed entry (body included) that any node accepts or produces.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;
/// Largest encoded sync request: a confirmation request carries a probe surface
/// (`ballistic::MAX_CONFIRM_BYTES`); heads and pulls are far smaller.
pub const MAX_REQUEST_BYTES: usize = 6 << 20;
/// Largest encoded sync response: one page of entries.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Errors of the canonical codec.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value could not be encoded, e.g. it is larger than the limit.
    #[error("cannot encode: {0}")]
    Encode(#[source] bincode::error::EncodeError),
    /// The bytes are not a valid encoding of the expected type.
    #[error("cannot decode: {0}")]
    Decode(#[source] bincode::error::DecodeError),
    /// The bytes decode, but more bytes follow the value.
    #[error("{0} trailing bytes after the encoded value")]
    TrailingBytes(usize),
    /// The bytes decode, but are not the canonical form of the value they carry.
    #[error("not the canonical encoding of the value")]
    NotCanonical,
    /// The input is larger than the limit for its type.
    #[error("{actual} bytes exceed the limit of {limit}")]
    TooLarge {
        /// Size of the input.
        actual: usize,
        /// The limit for this type.
        limit: usize,
    },
}

fn config() -> impl bincode::config::Config {
    // Fixed-width little-endian integers: every integer has a single byte form, which makes the
    // encoding canonical without relying on varint minimality checks.
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_RESPONSE_BYTES>()
}

/// Encodes `value` in the canonical form, refusing results larger than `limit` bytes.
pub fn encode<T: Encode>(value: &T, limit: usize) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::encode_to_vec(value, config()).map_err(CodecError::Encode)?;
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            actual: bytes.len(),
            limit,
        });
    }
    Ok(bytes)
}

/// Decodes `bytes` as a `T`, requiring the canonical form, no trailing bytes, and at most
/// `limit` bytes of input.
pub fn decode<T: Encode + Decode<()>>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    let value: T = decode_stored(bytes, limit)?;
    let again = bincode::encode_to_vec(&value, config()).map_err(CodecError::Encode)?;
    if again != bytes {
        return Err(CodecError::NotCanonical);
    }
    Ok(value)
}

/// Decodes bytes this node itself checked and stored earlier: the same limits and no trailing
/// bytes, but without the re-encoding check (they were canonical when they were accepted).
pub fn decode_stored<T: Decode<()>>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            actual: bytes.len(),
            limit,
        });
    }
    let (value, used): (T, usize) =
        bincode::decode_from_slice(bytes, config()).map_err(CodecError::Decode)?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&7u32, 16).expect("test fixture");
        bytes.push(0);
        assert!(matches!(
            decode::<u32>(&bytes, 16),
            Err(CodecError::TrailingBytes(1))
        ));
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let bytes = vec![0u8; 32];
        assert!(matches!(
            decode::<u32>(&bytes, 16),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn invalid_bool_is_refused() {
        assert!(decode::<bool>(&[2], 16).is_err());
    }

    #[test]
    fn decode_errors_keep_bincode_as_their_source() {
        let err = decode::<bool>(&[2], 16).unwrap_err();
        let source = std::error::Error::source(&err).expect("bincode's error");
        assert_eq!(err.to_string(), format!("cannot decode: {source}"));
    }
}
