//! The picture of a cartridge-case comparison for an examiner: this node's exhibit and a
//! candidate side by side, the congruent matching cells outlined on both. For a candidate
//! held here it is drawn on the spot; for one held abroad the holder is asked (a signed,
//! audited picture request carrying our prepared surface), compares again, and draws and
//! sends the picture only when the comparison confirms the match, so its surface is shown
//! for confirmed matches only.

use serde_json::json;
use striae_ballistics_lib::{cmc::CmcReference, preprocess::Surface, render_cmc::comparison_png};
use striae_protocol::{
    BureauId, SignedMessage, SyncRequest, SyncResponse,
    ballistic::{ExhibitRef, MAX_PICTURE_BYTES, PictureOutcome, PictureRequest, PictureResponse},
    time::now_ms,
};

use super::{
    BallisticsError,
    exchange::{Answering, Asking, Received, admit, answer_signed, ask_signed},
    exhibits::on_cpu,
    holder::check_probe,
    probe_from_surface,
    search::ConfirmError,
    surface_from_probe,
};
use crate::ballistics::BallisticsNode;

/// This node's cartridge case `id` beside `other` (held here or abroad), as a PNG.
pub(super) async fn cartridge_png(
    node: &BallisticsNode,
    id: &str,
    other: ExhibitRef,
) -> Result<Vec<u8>, BallisticsError> {
    let b = &node.ballistics;
    let not_found = || BallisticsError::NotFound(format!("no exhibit {id} at this node"));
    let record = b.record(id)?.ok_or_else(not_found)?;
    let probe = b.surface(id)?.ok_or_else(not_found)?;
    let holder = b.all.read().holder_of(&other).ok_or_else(|| {
        BallisticsError::NotFound(format!(
            "no exhibit {} is held by any member",
            other.to_hex()
        ))
    })?;
    if holder == node.me {
        let target = b
            .surface(&other.to_hex())?
            .ok_or_else(|| BallisticsError::NotFound(format!("no exhibit {}", other.to_hex())))?;
        let params = b.cmc.clone();
        return on_cpu(node, move || {
            let result = CmcReference::new(&probe, &params).compare(&target);
            comparison_png(&probe, &target, &result)
        })
        .await?
        .map_err(|e| BallisticsError::Conflict(format!("nothing to draw: {e}")));
    }
    let outcome = ask_picture(node, holder, &record.case_ref, &probe, other).await?;
    node.store.flush().await?;
    match outcome {
        PictureOutcome::Picture { png, .. } => checked_png(png),
        PictureOutcome::NotConfirmed { cmc_count, .. } => Err(BallisticsError::Conflict(format!(
            "the holder did not confirm this exhibit ({cmc_count} congruent cells): its surface is shown only for a confirmed match"
        ))),
        PictureOutcome::UnknownExhibit => Err(BallisticsError::NotFound(format!(
            "the holder does not hold exhibit {} (retracted?)",
            other.to_hex()
        ))),
        PictureOutcome::NotComparable(why) => Err(BallisticsError::Conflict(format!(
            "the holder could not compare: {why}"
        ))),
    }
}

/// Largest side of a picture received from a holder that is passed on (ours are under
/// 1,000 pixels); a bigger one could be a decompression bomb for whoever displays it.
const MAX_PICTURE_SIDE: u32 = 4_096;

/// The holder's picture if it is a PNG of sensible size, read only as far as its header.
fn checked_png(png: Vec<u8>) -> Result<Vec<u8>, BallisticsError> {
    let header = png::Decoder::new(std::io::Cursor::new(&png))
        .read_info()
        .map(|reader| (reader.info().width, reader.info().height));
    match header {
        Ok((w, h)) if w <= MAX_PICTURE_SIDE && h <= MAX_PICTURE_SIDE => Ok(png),
        Ok((w, h)) => Err(BallisticsError::Conflict(format!(
            "the holder's picture is {w} x {h} pixels: too large to show"
        ))),
        Err(e) => Err(BallisticsError::Conflict(format!(
            "the holder's picture is not a PNG: {e}"
        ))),
    }
}

/// Sends one signed picture request and checks the signed answer; both are audited.
async fn ask_picture(
    node: &BallisticsNode,
    holder: BureauId,
    case_ref: &str,
    probe: &Surface,
    exhibit: ExhibitRef,
) -> Result<PictureOutcome, BallisticsError> {
    let search_id: [u8; 16] = rand::random();
    let request = PictureRequest {
        search_id,
        requester: node.me,
        issued_at_ms: now_ms(),
        case_ref: case_ref.to_string(),
        probe: probe_from_surface(probe),
        exhibit,
        acting: node.acting_reference(),
    };
    let asking = Asking {
        holder,
        subject: hex::encode(search_id),
        actions: ("picture_request", "picture_response"),
        case_ref,
        details: json!({"exhibit": exhibit.to_hex()}),
    };
    let me = node.me;
    let answer = ask_signed(
        node,
        asking,
        &request,
        SyncRequest::Picture,
        |response| match response {
            SyncResponse::Picture(signed) => Ok(signed),
            other => Err(other),
        },
        |r: PictureResponse| {
            if r.requester != me || r.search_id != search_id || r.exhibit != exhibit {
                return Err(ConfirmError::Misaddressed);
            }
            Ok(r)
        },
        |r| json!({"outcome": outcome_name(&r.outcome)}),
    )
    .await
    .map_err(|e| BallisticsError::Conflict(format!("no picture: {e}")))?;
    Ok(answer.outcome)
}

fn outcome_name(o: &PictureOutcome) -> &'static str {
    match o {
        PictureOutcome::Picture { .. } => "picture",
        PictureOutcome::NotConfirmed { .. } => "not_confirmed",
        PictureOutcome::UnknownExhibit => "unknown_exhibit",
        PictureOutcome::NotComparable(_) => "not_comparable",
    }
}

/// Answers another member's picture request: compares again and draws the picture only for
/// a confirmed match with an exhibit shared with that member.
pub async fn on_picture_request(
    node: &BallisticsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    let request = match message.open_from::<PictureRequest>(&node.network, &from) {
        Ok(r) => r,
        Err(e) => return SyncResponse::Refused(format!("picture request does not verify: {e}")),
    };
    let subject = hex::encode(request.search_id);
    let received = Received {
        from,
        subject: &subject,
        action: "picture_request",
        exhibits: 1,
        acting: &request.acting,
        details: json!({"case_ref": request.case_ref, "exhibit": request.exhibit.to_hex()}),
    };
    let refused = check_probe(node, &request.probe, &request.case_ref)
        .err()
        .map(|e| e.to_string());
    if let Err(refusal) = admit(node, received, refused) {
        return refusal;
    }
    let outcome = match draw_for(node, from, &request).await {
        Ok(o) => o,
        Err(e) => PictureOutcome::NotComparable(e.to_string()),
    };
    let response = PictureResponse {
        search_id: request.search_id,
        responder: node.me,
        requester: from,
        answered_at_ms: now_ms(),
        exhibit: request.exhibit,
        outcome,
    };
    let answering = Answering {
        to: from,
        subject: &subject,
        action: "picture_response",
        details: json!({"case_ref": request.case_ref, "outcome": outcome_name(&response.outcome)}),
    };
    answer_signed(node, answering, &response, SyncResponse::Picture).await
}

async fn draw_for(
    node: &BallisticsNode,
    from: BureauId,
    request: &PictureRequest,
) -> Result<PictureOutcome, BallisticsError> {
    let b = &node.ballistics;
    let id = request.exhibit.to_hex();
    let shared = matches!(b.record(&id)?, Some(r)
        if r.retracted_at_ms.is_none() && r.parsed_digest().is_some()
            && r.share.includes(&from, &r.holder));
    let Some(target) = b.surface(&id)?.filter(|_| shared) else {
        return Ok(PictureOutcome::UnknownExhibit);
    };
    let probe = surface_from_probe(&request.probe);
    let params = b.cmc.clone();
    on_cpu(node, move || {
        let result = CmcReference::new(&probe, &params).compare(&target);
        let (cmc_count, cells_compared) = (
            u32::try_from(result.cmc_count).unwrap_or(u32::MAX),
            u32::try_from(result.cells_compared).unwrap_or(u32::MAX),
        );
        if !result.confirmed() {
            return PictureOutcome::NotConfirmed {
                cmc_count,
                cells_compared,
            };
        }
        match comparison_png(&probe, &target, &result) {
            Ok(png) if png.len() <= MAX_PICTURE_BYTES => PictureOutcome::Picture {
                cmc_count,
                cells_compared,
                png,
            },
            Ok(_) => PictureOutcome::NotComparable("the picture is too large to send".into()),
            Err(e) => PictureOutcome::NotComparable(format!("nothing to draw: {e}")),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_picture_that_is_not_a_sensible_png_is_not_passed_on() {
        assert!(checked_png(b"<html>not a picture</html>".to_vec()).is_err());
        let mut huge = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut huge, 20_000, 1);
            encoder.set_color(png::ColorType::Grayscale);
            let mut writer = encoder.write_header().expect("header");
            writer.write_image_data(&vec![0; 20_000]).expect("data");
        }
        let e = checked_png(huge).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        let mut small = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut small, 2, 2);
            encoder.set_color(png::ColorType::Grayscale);
            let mut writer = encoder.write_header().expect("header");
            writer.write_image_data(&[0; 4]).expect("data");
        }
        assert!(checked_png(small).is_ok());
    }
}
