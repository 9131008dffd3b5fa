//! The user on whose behalf the node acts, carried from the API to the audit log.
//!
//! The API's authentication layer runs each request inside [`scope`], so every audit record
//! written while the request is handled names the user without each capability passing it
//! down. Work a handler hands to a task of its own (a trace or query sent in the background)
//! keeps the user by going through [`carry`]. Work the node does by itself (retries after a
//! restart, deliveries of reviewed answers, periodic ticks, a peer's request) names no user.

use std::future::Future;

use serde::{Deserialize, Serialize};

/// The acting user as the audit log names it: the bureau's internal reference (its account id
/// and name), never anything that goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActingUser {
    /// The account id.
    pub id: String,
    /// The account name.
    pub name: String,
}

tokio::task_local! {
    static ACTING: ActingUser;
}

/// Runs `work` on behalf of `user`: audit records it writes name them.
pub async fn scope<F: Future>(user: ActingUser, work: F) -> F::Output {
    ACTING.scope(user, work).await
}

/// The user the current task acts for, if any.
pub fn current() -> Option<ActingUser> {
    ACTING.try_with(Clone::clone).ok()
}

/// `work`, still on behalf of the current user once spawned as a task of its own (task-locals
/// do not follow `tokio::spawn`).
pub fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let user = current();
    async move {
        match user {
            Some(user) => ACTING.scope(user, work).await,
            None => work.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_user_follows_a_carried_spawn_only() {
        let user = ActingUser {
            id: "u1".into(),
            name: "ana".into(),
        };
        let (carried, plain) = scope(user.clone(), async {
            let carried = tokio::spawn(carry(async { current() }));
            let plain = tokio::spawn(async { current() });
            (carried.await.ok().flatten(), plain.await.ok().flatten())
        })
        .await;
        assert_eq!(carried, Some(user));
        assert_eq!(plain, None);
        assert_eq!(current(), None);
    }
}
