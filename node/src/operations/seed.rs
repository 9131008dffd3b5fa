//! The devnet's example operation: the first member coordinates an operation with the next
//! two, which join once its invitation reaches them, and seizures are recorded at the
//! coordinator and at the second member. It runs in the background, through the same outbox
//! and messages as any operation, so the devnet starts at once and the operation fills in
//! over the following seconds.

use std::time::{Duration, Instant};

use striae_protocol::{
    operation::{ItemCategory, OperationId, SeizedItem},
    time::now_ms,
};

use super::{
    NewOperation, NewSeizure, OperationsError, OperationsNode, create, join, record_seizure,
};
use crate::notices::rfc3339;

/// How long a member waits for the invitation to reach it.
const INVITATION_WAIT: Duration = Duration::from_secs(120);
const DAY_MS: u64 = 24 * 3600 * 1000;

/// Seeds the example operation among the first three members (none with fewer than three).
pub fn seed_devnet(members: &[OperationsNode]) {
    let [coordinator, first, second, ..] = members else {
        return;
    };
    let (coordinator, first, second) = (coordinator.clone(), first.clone(), second.clone());
    tokio::spawn(async move {
        if let Err(e) = seed(&coordinator, &first, &second).await {
            tracing::warn!("the example operation was not seeded: {e}");
        }
    });
}

fn item(category: ItemCategory, count: u32, description: &str) -> SeizedItem {
    SeizedItem {
        category,
        count,
        description: description.into(),
        firearm_ref: None,
    }
}

fn day(offset_days: u64) -> String {
    rfc3339(now_ms().saturating_sub(offset_days * DAY_MS))[..10].to_string()
}

async fn seed(
    coordinator: &OperationsNode,
    first: &OperationsNode,
    second: &OperationsNode,
) -> Result<(), OperationsError> {
    let now = now_ms();
    let held = create(
        coordinator,
        NewOperation {
            name: "TRIGGER Rhine (example)".into(),
            description: "Joint action against small-arms trafficking along the Rhine corridor: \
                          road checks, parcel hubs and ports."
                .into(),
            invited: vec![first.me, second.me],
            starts_at_ms: now.saturating_sub(7 * DAY_MS),
            ends_at_ms: now + 7 * DAY_MS,
        },
    )
    .await?;
    let id = held.op.id;
    let seizure = NewSeizure {
        date: day(2),
        place: "Strasbourg, A35 road check".into(),
        items: vec![
            item(ItemCategory::Firearm, 3, "semi-automatic pistols"),
            item(ItemCategory::Ammunition, 450, "9x19 mm rounds"),
        ],
        arrests: 2,
    };
    record_seizure(coordinator, &id, seizure).await?;
    for member in [first, second] {
        wait_for_invitation(member, &id).await;
        join(member, &id).await?;
    }
    let seizure = NewSeizure {
        date: day(1),
        place: "Kehl, parcel hub".into(),
        items: vec![
            item(ItemCategory::Firearm, 1, "converted alarm revolver"),
            item(ItemCategory::Drugs, 12, "packages of cannabis resin"),
            item(ItemCategory::Vehicle, 1, "van with a hidden compartment"),
        ],
        arrests: 1,
    };
    record_seizure(first, &id, seizure).await?;
    Ok(())
}

async fn wait_for_invitation(member: &OperationsNode, id: &OperationId) {
    let start = Instant::now();
    while start.elapsed() < INVITATION_WAIT {
        if matches!(member.operations.get(id), Ok(Some(_))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
