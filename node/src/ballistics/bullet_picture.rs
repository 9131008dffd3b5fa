//! The picture of a comparison for an examiner (a cartridge case is handed to `picture`).
//! Bullets: this node's bullet and a candidate bullet, their matched lands' signatures drawn
//! aligned. For a candidate held here both
//! bullets are at hand; for one held abroad the holder is asked again (a signed, audited
//! bullet confirmation naming that one bullet) and its answer carries the matched lands'
//! signatures only when it confirms the match, so nothing more of its evidence is shown.

use striae_ballistics_lib::{
    bullet::{self, Bullet, Grooves, Land, LandPair, SIGNATURE_PITCH_UM, compare_bullets},
    render_bullet::aligned_signatures_png,
};
use striae_protocol::{
    ballistic::{EvidenceKind, ExhibitRef},
    bullet::BulletComparison,
};

use super::{BallisticsError, bullet_search::ask_bullet_holder, exhibits::on_cpu};
use crate::ballistics::BallisticsNode;

/// The aligned signatures of this node's bullet `id` and the bullet `other` (held here or by
/// another member), as a PNG.
pub async fn comparison_png(
    node: &BallisticsNode,
    id: &str,
    other: ExhibitRef,
) -> Result<Vec<u8>, BallisticsError> {
    let b = &node.ballistics;
    let not_found = || BallisticsError::NotFound(format!("no exhibit {id} at this node"));
    let record = b.record(id)?.ok_or_else(not_found)?;
    if record.evidence_kind() != Some(EvidenceKind::Bullet) {
        return super::picture::cartridge_png(node, id, other).await;
    }
    let probe = b.bullet(id)?.ok_or_else(not_found)?;
    let held = b.bullets.holder_of(&other).ok_or_else(|| {
        BallisticsError::NotFound(format!(
            "no bullet {} is held by any member",
            other.to_hex()
        ))
    })?;
    if held == node.me {
        let theirs = b
            .bullet(&other.to_hex())?
            .ok_or_else(|| BallisticsError::NotFound(format!("no bullet {}", other.to_hex())))?;
        return on_cpu(node, move || {
            let cmp = compare_bullets(&probe, &theirs);
            aligned_signatures_png(&probe, &theirs, &cmp)
        })
        .await?
        .map_err(|e| BallisticsError::Field {
            field: "id",
            message: format!("nothing to draw: {e}"),
        });
    }
    let search_id: [u8; 16] = rand::random();
    let answer = ask_bullet_holder(
        node,
        held,
        search_id,
        &record.case_ref,
        probe.to_bytes(),
        vec![other],
    )
    .await
    .map_err(|e| BallisticsError::Conflict(format!("the holder did not compare: {e}")))?;
    node.store.flush().await?;
    let Some((_, compared)) = answer.into_iter().find(|(r, _)| *r == other) else {
        return Err(BallisticsError::Conflict(
            "the holder's answer left this bullet out".into(),
        ));
    };
    let (theirs, cmp) = from_wire(&compared)?;
    on_cpu(node, move || aligned_signatures_png(&probe, &theirs, &cmp))
        .await?
        .map_err(|e| BallisticsError::Conflict(format!("nothing to draw: {e}")))
}

/// The held bullet as far as the holder showed it (the matched lands' signatures) and the
/// comparison, in the library's terms.
fn from_wire(
    compared: &BulletComparison,
) -> Result<(Bullet, bullet::BulletComparison), BallisticsError> {
    let BulletComparison::Compared {
        score,
        phase,
        matched_lands,
        pairs,
        confirmed: true,
        traces,
    } = compared
    else {
        return Err(BallisticsError::Conflict(
            "the holder did not confirm this bullet: its signatures are shown only for a confirmed match".into(),
        ));
    };
    let lands = traces
        .iter()
        .map(|t| usize::from(t.land) + 1)
        .max()
        .unwrap_or(0);
    let mut held = Bullet {
        lands: (0..lands).map(|_| land_of(&[])).collect(),
    };
    for trace in traces {
        if (f64::from(trace.step_um) - SIGNATURE_PITCH_UM).abs() > 1e-3 {
            return Err(BallisticsError::Conflict(format!(
                "the holder's signatures are sampled every {} µm, not {SIGNATURE_PITCH_UM}",
                trace.step_um
            )));
        }
        if let Some(slot) = held.lands.get_mut(usize::from(trace.land)) {
            *slot = land_of(&trace.z);
        }
    }
    let matched: std::collections::HashSet<(u8, u8)> = matched_lands.iter().copied().collect();
    let cmp = bullet::BulletComparison {
        score: *score,
        phase: *phase as usize,
        phase_scores: Vec::new(),
        phase_margin: 0.0,
        matched_lands: matched_lands
            .iter()
            .map(|&(a, b)| (usize::from(a), usize::from(b)))
            .collect(),
        pairs: pairs
            .iter()
            .filter(|p| matched.contains(&(p.probe_land, p.held_land)))
            .map(|p| LandPair {
                probe_land: usize::from(p.probe_land),
                held_land: usize::from(p.held_land),
                ccf: p.ccf,
                lag_um: p.lag_um,
                overlap_um: 0.0,
                cms: p.cms,
                matches: 0,
                mismatches: 0,
                d_um: 0.0,
                matched: true,
                in_phase: true,
            })
            .collect(),
        confirmed: true,
    };
    Ok((held, cmp))
}

fn land_of(signature: &[f32]) -> Land {
    Land {
        signature: signature.to_vec(),
        grooves: Grooves {
            left_um: 0.0,
            right_um: (signature.len() as f64 * SIGNATURE_PITCH_UM) as f32,
            left_found: true,
            right_found: true,
        },
        crosscut_um: 0.0,
        striae_along_x: false,
        crosscut_stability: 1.0,
    }
}
