//! Wire and domain types of striae: the one canonical encoding, bureau identities, signed
//! hash-chained feed entries, notices, firearm digests, ballistic digests, signed heads
//! (receipts), signed traces and confirmations, joint operations, members' aggregate
//! statistics, and the sync messages.
//!
//! This crate does no I/O and has no async code. Everything that crosses a border or reaches
//! disk as a signed object is defined here, so that one place decides how bytes look.

#![deny(missing_docs)]

pub mod acting;
pub mod analysis;
pub mod ballistic;
pub mod bullet;
pub mod codec;
pub mod entry_id;
pub mod feed;
pub mod firearm;
pub mod heads;
pub mod identity;
pub mod notice;
pub mod operation;
pub mod query;
pub mod signed;
pub mod sync;
pub mod time;
pub mod trace;

pub use codec::CodecError;
pub use entry_id::EntryId;
pub use feed::{Body, Entry, EntryError, VerifiedEntry, WireEntry};
pub use heads::{Head, Heads, SignedHeads};
pub use identity::{BureauId, IdentityError, NetworkId, Signer};
pub use notice::{NoticeContent, NoticeError, NoticeId, NoticeKind, NoticeOp};
pub use signed::{SignedError, SignedKind, SignedMessage};
pub use sync::{SyncRequest, SyncResponse};
