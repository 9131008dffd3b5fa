//! `/v1/backup` and `/v1/firearms/export`: a consistent backup of the node's data taken while
//! it runs, and this node's own records in the import's formats. Both answer a stream, so a
//! large node never holds either in memory.

use axum::{
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tokio_util::io::ReaderStream;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError,
    error::{ApiQuery, NoQuery},
    openapi::{Binary, Text},
};
use crate::{backup, firearms::export::ExportFormat, node::NodeHandle};

/// Chunks of an export in flight between the reading thread and the response.
const EXPORT_CHUNKS: usize = 8;

/// The routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(backup_now))
        .routes(routes!(export))
}

/// `POST /v1/backup`: the node's data as a zip (see `backup`), written to a file in the data
/// dir first (writes pause only while the database is read) and then sent.
#[utoipa::path(
    post,
    path = "/backup",
    tag = "node",
    responses((
        status = 200,
        description = "A zip of the node's data as of one moment: the database, the bureau's key and token, the raw scans kept in a folder, and a manifest (`striae restore` reads it). Admins only",
        body = inline(Binary),
        content_type = "application/zip"
    ))
)]
async fn backup_now(State(node): State<NodeHandle>, _: NoQuery) -> Result<Response, ApiError> {
    let data_dir = node.data_dir.clone();
    let scans = node.ballistics.ballistics.blob_folder();
    let country = node.country.clone();
    let store = node.store.clone();
    let (file, manifest) = tokio::task::spawn_blocking(move || {
        let file = tempfile::Builder::new()
            .prefix(".backup-")
            .suffix(".zip")
            .tempfile_in(&data_dir)
            .map_err(ApiError::internal)?;
        let manifest =
            backup::write_backup(&store, &data_dir, scans.as_deref(), &country, file.path())
                .map_err(ApiError::internal)?;
        // The open file outlives its name: nothing is left behind once it is sent.
        let reopened = file.reopen().map_err(ApiError::internal)?;
        Ok::<_, ApiError>((reopened, manifest))
    })
    .await
    .map_err(ApiError::internal)??;
    tracing::info!(
        pairs = manifest.pairs,
        scans = manifest.blobs,
        "backup taken"
    );
    let name = format!(
        "striae-{}-{}.zip",
        manifest.country,
        manifest.created_at.replace(':', "")
    );
    let stream = ReaderStream::new(tokio::fs::File::from_std(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Parameters of an export.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportParams {
    /// `csv` (default) or `ndjson`.
    #[param(pattern = "^(csv|ndjson)$")]
    format: Option<String>,
}

/// `GET /v1/firearms/export?format=csv|ndjson`: every record this node holds, as entered.
#[utoipa::path(
    get,
    path = "/firearms/export",
    tag = "firearms",
    params(ExportParams),
    responses((
        status = 200,
        description = "Every record this node holds, in the columns (CSV) or fields (NDJSON) `POST /v1/firearms/import` reads, streamed",
        content(
            (Text = "text/csv; charset=utf-8"),
            (Text = "application/x-ndjson"),
        )
    ))
)]
async fn export(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let name = p.format.as_deref().unwrap_or("csv");
    let format = ExportFormat::parse(name)
        .ok_or_else(|| ApiError::field("format", "must be `csv` or `ndjson`"))?;
    let (tx, rx) = tokio::sync::mpsc::channel(EXPORT_CHUNKS);
    let firearms = node.firearms.firearms.clone();
    tokio::task::spawn_blocking(move || firearms.export_blocking(format, &tx));
    let stream = tokio_stream_of(rx);
    let filename = format!(
        "striae-{}-records.{}",
        node.country,
        if format == ExportFormat::Csv {
            "csv"
        } else {
            "ndjson"
        }
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The receiver as a stream of body chunks; a store error ends the body early (the client
/// sees a truncated transfer, never a partial file that looks complete).
fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, crate::store::StoreError>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item.map_err(std::io::Error::other), rx))
    })
}
