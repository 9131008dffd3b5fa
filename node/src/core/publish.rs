//! This node's own entries: publications wait until the node may sign
//! (`SyncState::may_sign`), are signed in order, made durable by one flush per batch and only
//! then gossiped.

use std::sync::Arc;

use striae_protocol::{Body, Entry, VerifiedEntry, feed::ENTRY_VERSION, time::now_ms};

use super::{Core, CoreCommand, CoreError, MAX_PUBLISH_BATCH, Output, PublishReply, sync::Input};

impl Core {
    /// Publishes what waits, once this node may sign: each signed and stored in order, all
    /// made durable by one flush, then gossiped. On disk before anyone hears of them: a
    /// member that announced an entry it then lost in a crash would sign another entry for
    /// the same seq after restart, and every peer would see it equivocate.
    pub(super) async fn publish_if_ready(&mut self) {
        while !self.waiting.is_empty() && self.sync.may_sign(now_ms()) {
            // Publications that queued in the channel meanwhile join this batch.
            while self.waiting.len() < MAX_PUBLISH_BATCH {
                match self.commands.try_recv() {
                    Ok(CoreCommand::Publish { body, reply }) => {
                        self.waiting.push_back((body, reply))
                    }
                    Ok(other) => {
                        Box::pin(self.on_command(other)).await;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let take = self.waiting.len().min(MAX_PUBLISH_BATCH);
            let batch: Vec<_> = self.waiting.drain(..take).collect();
            self.publish_batch(batch).await;
        }
    }

    async fn publish_batch(&mut self, batch: Vec<(Body, PublishReply)>) {
        let batch: Vec<_> = batch
            .into_iter()
            .map(|(body, reply)| (self.append_own(body), reply))
            .collect();
        let flushed = self.store.flush().await.map_err(Arc::new);
        self.storage_failed |= flushed.is_err()
            || batch
                .iter()
                .any(|(a, _)| matches!(a, Err(CoreError::Store(_))));
        for (appended, reply) in batch {
            let result = match (appended, &flushed) {
                (Ok(entry), Ok(())) if !self.storage_failed => {
                    if let Err(e) = self.net.publish(entry.wire.clone()).await {
                        // Sync delivers it anyway; gossip is only the fast path.
                        let cause = std::error::Error::source(&e).map(ToString::to_string);
                        tracing::warn!(cause, "{e}");
                    }
                    Ok(entry)
                }
                (Ok(_), Err(e)) => Err(CoreError::NotDurable(e.clone())),
                (Ok(_), Ok(())) => Err(CoreError::Stopped),
                (Err(e), _) => Err(e),
            };
            let _ = reply.send(result);
        }
    }

    /// Signs `body` as the next entry of our own feed and stores it (not yet flushed).
    fn append_own(&mut self, body: Body) -> Result<VerifiedEntry, CoreError> {
        let Some((seq, prev)) = self.sync.own_head() else {
            return Err(CoreError::Frozen);
        };
        let entry = Entry {
            version: ENTRY_VERSION,
            origin: self.me,
            seq: seq + 1,
            prev,
            timestamp_ms: now_ms(),
            body,
        }
        .sign(&self.signer, &self.network)?;
        let outputs = self
            .sync
            .handle(Input::Own(entry.clone()), now_ms(), &self.store);
        let mut stored = false;
        for output in outputs {
            if let Output::Persist(run) = output {
                self.persist(run)?;
                stored = true;
            }
        }
        if !stored {
            tracing::error!(seq = entry.entry.seq, "own entry not applicable");
            return Err(CoreError::Frozen);
        }
        Ok(entry)
    }
}
