//! Notices: Orange (a serious and imminent threat, e.g. firearms disguised as everyday
//! objects) and Purple (modus operandi, concealment methods, devices), issued, updated and
//! cancelled by their issuer, and expiring at most five years after they were written.

use std::{fmt, str::FromStr};

use bincode::{Decode, Encode};

use crate::{entry_id::EntryId, time::YEAR_MS};

/// Longest notice title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest notice summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 2_000;
/// Longest notice body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest cancellation reason, in characters.
pub const MAX_REASON_CHARS: usize = 1_000;
/// A notice may not outlive five years from the moment it is written (INTERPOL's initial
/// retention limit).
pub const MAX_LIFETIME_MS: u64 = 5 * YEAR_MS;

/// The colour of a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum NoticeKind {
    /// Warning of an event, person, object or process that is a serious, imminent threat.
    Orange,
    /// Information on modus operandi, objects, devices and concealment methods.
    Purple,
}

impl NoticeKind {
    /// `"orange"` or `"purple"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NoticeKind::Orange => "orange",
            NoticeKind::Purple => "purple",
        }
    }
}

impl FromStr for NoticeKind {
    type Err = NoticeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "orange" => Ok(NoticeKind::Orange),
            "purple" => Ok(NoticeKind::Purple),
            other => Err(NoticeError::field(
                "kind",
                format!("must be \"orange\" or \"purple\", not {other:?}"),
            )),
        }
    }
}

/// A notice's id: the first 16 bytes of the id of the entry that issued it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct NoticeId(pub [u8; 16]);

impl NoticeId {
    /// The id of the notice issued by entry `id`.
    pub fn from_entry(id: &EntryId) -> Self {
        let mut out = [0u8; 16];
        out.copy_from_slice(&id.0[..16]);
        NoticeId(out)
    }
}

impl fmt::Display for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoticeId({self})")
    }
}

impl FromStr for NoticeId {
    type Err = NoticeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| NoticeError::field("id", "must be 32 hexadecimal characters"))?;
        Ok(NoticeId(out))
    }
}

impl serde::Serialize for NoticeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for NoticeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a notice says.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct NoticeContent {
    /// Orange or Purple.
    pub kind: NoticeKind,
    /// One line.
    pub title: String,
    /// A paragraph every member reads.
    pub summary: String,
    /// Optional details (may be empty).
    pub body: String,
    /// When it stops being active, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

/// A notice operation, carried in the issuer's feed.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum NoticeOp {
    /// A new notice; its id derives from this entry's id.
    Issue(NoticeContent),
    /// A new version of the issuer's own notice.
    Update {
        /// The notice.
        notice: NoticeId,
        /// The full new content.
        content: NoticeContent,
    },
    /// The issuer withdraws its notice.
    Cancel {
        /// The notice.
        notice: NoticeId,
        /// Why (may be empty).
        reason: String,
    },
}

/// A notice that breaks a rule, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct NoticeError {
    /// The offending field, as named in the API.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl NoticeError {
    fn field(field: &'static str, message: impl Into<String>) -> Self {
        NoticeError {
            field,
            message: message.into(),
        }
    }
}

fn check_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
    required: bool,
) -> Result<(), NoticeError> {
    if required && value.trim().is_empty() {
        return Err(NoticeError::field(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(NoticeError::field(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(())
}

impl NoticeContent {
    /// Checks the content as written at `written_at_ms`: required texts present, lengths
    /// bounded, expiry in the future and at most five years ahead.
    pub fn validate(&self, written_at_ms: u64) -> Result<(), NoticeError> {
        check_text("title", &self.title, MAX_TITLE_CHARS, true)?;
        check_text("summary", &self.summary, MAX_SUMMARY_CHARS, true)?;
        if self.body.len() > MAX_BODY_BYTES {
            return Err(NoticeError::field(
                "body",
                format!("must be at most {MAX_BODY_BYTES} bytes"),
            ));
        }
        if self.expires_at_ms <= written_at_ms {
            return Err(NoticeError::field("expires_at", "must be in the future"));
        }
        if self.expires_at_ms - written_at_ms > MAX_LIFETIME_MS {
            return Err(NoticeError::field(
                "expires_at",
                "may be at most 5 years ahead",
            ));
        }
        Ok(())
    }
}

impl NoticeOp {
    /// Checks the operation as written at `written_at_ms`.
    pub fn validate(&self, written_at_ms: u64) -> Result<(), NoticeError> {
        match self {
            NoticeOp::Issue(content) | NoticeOp::Update { content, .. } => {
                content.validate(written_at_ms)
            }
            NoticeOp::Cancel { reason, .. } => {
                check_text("reason", reason, MAX_REASON_CHARS, false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(expires_at_ms: u64) -> NoticeContent {
        NoticeContent {
            kind: NoticeKind::Purple,
            title: "Concealment in car doors".into(),
            summary: "Pistols hidden in door panels".into(),
            body: String::new(),
            expires_at_ms,
        }
    }

    #[test]
    fn expiry_is_bounded_to_five_years() {
        let now = 1_700_000_000_000;
        assert!(content(now + MAX_LIFETIME_MS).validate(now).is_ok());
        let err = content(now + MAX_LIFETIME_MS + 1)
            .validate(now)
            .unwrap_err();
        assert_eq!(err.field, "expires_at");
        assert_eq!(content(now).validate(now).unwrap_err().field, "expires_at");
    }

    #[test]
    fn empty_title_names_the_field() {
        let mut c = content(1_800_000_000_000);
        c.title = "  ".into();
        assert_eq!(c.validate(1_700_000_000_000).unwrap_err().field, "title");
    }

    #[test]
    fn notice_id_parses_its_own_display() {
        let id = NoticeId([0xab; 16]);
        assert_eq!(
            id.to_string().parse::<NoticeId>().expect("test fixture"),
            id
        );
        assert!("xyz".parse::<NoticeId>().is_err());
    }
}
