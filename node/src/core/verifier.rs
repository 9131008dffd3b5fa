//! The verifier thread: pulled pages are decoded and their signatures verified one page at a
//! time, in arrival order, each on all cores, so that the first page pulled is the first ready
//! to apply and the core applies it while the next is verified (pages verified side by side
//! would all finish late together).

use striae_protocol::{
    BureauId, EntryError, NetworkId, VerifiedEntry,
    feed::{UnverifiedEntry, verify_batch},
};
use tokio::sync::mpsc;

use super::sync::PageError;

/// A pulled page as it arrived.
pub(super) struct PulledPage<P> {
    pub(super) peer: P,
    pub(super) origin: BureauId,
    pub(super) from: u64,
    pub(super) page: Vec<Vec<u8>>,
}

/// A pulled page after verification: per entry, or why the page as a whole was refused.
pub(super) struct VerifiedPage<P> {
    pub(super) peer: P,
    pub(super) origin: BureauId,
    pub(super) from: u64,
    pub(super) results: Result<Vec<Result<VerifiedEntry, EntryError>>, PageError>,
}

/// Starts the verifier thread. It stops when the core drops its sender.
pub(super) fn spawn<P: Send + 'static>(
    network: NetworkId,
    mut pulled: mpsc::Receiver<PulledPage<P>>,
    verified: mpsc::Sender<VerifiedPage<P>>,
) {
    let spawned = std::thread::Builder::new()
        .name("striae-verify".into())
        .spawn(move || {
            while let Some(page) = pulled.blocking_recv() {
                let done = VerifiedPage {
                    results: verify_page(&network, page.origin, page.from, page.page),
                    peer: page.peer,
                    origin: page.origin,
                    from: page.from,
                };
                if verified.blocking_send(done).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the verifier thread: {e}");
    }
}

/// Decodes and verifies one page of `origin`'s entries from `from`.
pub fn verify_page(
    network: &NetworkId,
    origin: BureauId,
    from: u64,
    page: Vec<Vec<u8>>,
) -> Result<Vec<Result<VerifiedEntry, EntryError>>, PageError> {
    decode_page(origin, from, page).map(|decoded| verify_parallel(decoded, network))
}

/// Decodes a page and checks that it holds consecutive entries of `origin` from `from`.
fn decode_page(
    origin: BureauId,
    from: u64,
    page: Vec<Vec<u8>>,
) -> Result<Vec<UnverifiedEntry>, PageError> {
    let mut decoded = Vec::with_capacity(page.len());
    for (i, wire) in page.into_iter().enumerate() {
        let e = UnverifiedEntry::decode_owned(wire).map_err(PageError::Malformed)?;
        if e.entry.origin != origin || e.entry.seq != from + i as u64 {
            return Err(PageError::OutOfOrder);
        }
        decoded.push(e);
    }
    Ok(decoded)
}

/// Verifies a page on all cores, in batches.
fn verify_parallel(
    entries: Vec<UnverifiedEntry>,
    network: &NetworkId,
) -> Vec<Result<VerifiedEntry, EntryError>> {
    use rayon::prelude::*;
    const CHUNK: usize = 256;
    let mut chunks: Vec<Vec<UnverifiedEntry>> = Vec::new();
    let mut rest = entries.into_iter().peekable();
    while rest.peek().is_some() {
        chunks.push(rest.by_ref().take(CHUNK).collect());
    }
    chunks
        .into_par_iter()
        .map(|chunk| verify_batch(chunk, network))
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect()
}
