//! Taking a CT in: `POST /api/cases?team=ID&name=NAME&filename=FILE[&kind=lung|cranio]`
//! with the file as the raw body, or `POST /api/cases?team=ID&name=NAME[&kind=...]` with a
//! dropped folder as `multipart/form-data` (one part per file).
//!
//! The stages, all in memory; the first thing written to disk is the decoded volume:
//!
//! 1. a place among the [`Limits::concurrent`](crate::Limits) uploads held in memory at once
//!    (waited for in turn, the body unread, up to `Config::upload_wait_seconds`; then 503),
//!    then the body, refused past `Limits::body_bytes` (413);
//! 2. what it is: a zip archive (by its first bytes), a volume file by its name (`.nrrd`,
//!    `.nii`, `.nii.gz`, `.mha`; detached headers cannot be uploaded), or one DICOM file;
//!    anything else 415;
//! 3. a zip: entries counted, every name checked (`..`, absolute paths and drive letters are
//!    refused: nothing is extracted to disk, but such a name is the mark of a crafted
//!    archive; so are symbolic links), each entry's size and compression ratio bounded (zip
//!    bombs), declared and actual sizes both (the declared ones are the archive's claim, not
//!    a promise); the entry count is bounded from the bytes before the archive is parsed;
//!    entries are numbered from here on, their names dropped (errors name no file);
//!    a form's parts are held to the same limits (at most `Limits::zip_entries` of them,
//!    counted while parsing; sizes by [`admit_file`], as entries), their file names never read;
//! 4. DICOM: every object de-identified from its bytes (`ctplan_dicom::deid::anonymize_bytes`,
//!    the PS3.15 Basic Profile, with a random key per upload so that new UIDs link to
//!    nothing), then grouped and decoded from the de-identified bytes
//!    (`ctplan_dicom::scan_memory`, `ctplan_dicom::load`); a volume file is decoded by
//!    `ctplan_io::read_bytes`;
//! 5. stored: only the volume, as `ct.nrrd` without key/value pairs (no header field of the
//!    upload, no file name, is carried over), in a case folder that appears whole or not at
//!    all (`ctplan_io::publish_dir`); the case row is written after it, and the folder removed
//!    again if that fails.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use ctplan_core::AnyVolume;
use serde::Deserialize;

use crate::auth::Session;
use crate::store::{Role, random_hex};
use crate::{ApiError, Limits, Portal};

/// The query of an upload.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    /// The team the case belongs to (one of the uploader's).
    pub team: String,
    /// The case's name. Shown to the team; must not identify the patient.
    pub name: String,
    /// The file's name (its extension says the format; it is not stored). Not needed for a
    /// `multipart/form-data` folder.
    pub filename: Option<String>,
    /// `lung` (default) or `cranio`.
    pub kind: Option<String>,
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
}

fn unreadable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// 413 for one file (a zip entry, a form part, a STOW-RS instance) over the per-file limit.
fn too_large_file(label: &str, n: u64, limits: &Limits) -> ApiError {
    too_large(format!(
        "{label}: {n} bytes uncompressed, more than the {} allowed per file",
        limits.entry_bytes
    ))
}

/// The one check every file of an upload passes, whatever carried it (a zip entry, a part of
/// a form or of a STOW-RS request): at most [`Limits::entry_bytes`] bytes, and with those
/// before it (`total`, updated) at most [`Limits::unzipped_bytes`]. `label` names the file by
/// its number, never by its name.
pub fn admit_file(label: &str, n: u64, total: &mut u64, limits: &Limits) -> Result<(), ApiError> {
    if n > limits.entry_bytes {
        return Err(too_large_file(label, n, limits));
    }
    *total += n;
    if *total > limits.unzipped_bytes {
        return Err(too_large(format!(
            "the upload holds more than {} bytes of files",
            limits.unzipped_bytes
        )));
    }
    Ok(())
}

/// The number of files of an upload, at most [`Limits::zip_entries`] (the same bound for a zip
/// archive's entries and a multipart body's parts).
/// `what` and `unit` say it in words (`the zip archive`, `entries`).
pub fn admit_count(what: &str, unit: &str, n: usize, limits: &Limits) -> Result<(), ApiError> {
    if n > limits.zip_entries {
        return Err(too_large(format!(
            "{what} has {n} {unit}, more than the {} allowed",
            limits.zip_entries
        )));
    }
    Ok(())
}

/// A zip entry name that could point outside a folder it was extracted into: `..` as a
/// component, an absolute path, a drive letter, a NUL.
pub fn unsafe_entry_name(name: &str) -> bool {
    name.starts_with('/')
        || name.starts_with('\\')
        || name.contains('\0')
        || name.as_bytes().get(1) == Some(&b':')
        || name.split(['/', '\\']).any(|c| c == "..")
}

/// Compression above this many bytes of an entry must stay under the ratio limit (a small
/// file of zeros compresses far, and holds nothing).
const RATIO_FROM_BYTES: u64 = 1 << 16;

/// Occurrences of the zip central-directory header and end-of-directory signatures in
/// `bytes`: every entry the zip reader parses starts with the first at its own offset, and it
/// tries every end record it finds, so these bound its work before it starts.
fn zip_signatures(bytes: &[u8]) -> (usize, usize) {
    let (mut headers, mut ends) = (0, 0);
    for w in bytes.windows(4) {
        if w[0] == b'P' && w[1] == b'K' {
            match (w[2], w[3]) {
                (1, 2) => headers += 1,
                (5, 6) => ends += 1,
                _ => {}
            }
        }
    }
    (headers, ends)
}

/// End-of-directory records tolerated in one archive (a real one has one; a few more can occur
/// by chance inside compressed data).
const MAX_END_RECORDS: usize = 16;

/// The entries of a zip archive in memory, within `limits`: the bytes of every file entry, in
/// the archive's order. Entry names are checked but not returned, and errors name an entry by
/// its number: a name can be the patient's (a folder per patient) and must not travel on.
pub fn unzip(bytes: &[u8], limits: &Limits) -> Result<Vec<Vec<u8>>, ApiError> {
    // The zip reader builds its whole entry table before its length can be asked: bound it
    // first, from the bytes (a 2 GiB body could otherwise declare tens of millions of entries).
    let (headers, ends) = zip_signatures(bytes);
    if headers > limits.zip_entries {
        return Err(too_large(format!(
            "the zip archive has {headers} entries or more, more than the {} allowed",
            limits.zip_entries
        )));
    }
    if ends > MAX_END_RECORDS {
        return Err(unreadable(format!(
            "not a readable zip archive: {ends} end-of-directory records"
        )));
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| unreadable(format!("not a readable zip archive: {e}")))?;
    admit_count("the zip archive", "entries", zip.len(), limits)?;
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let entry = format!("zip entry {}", i + 1);
        let mut f = zip
            .by_index(i)
            .map_err(|e| unreadable(format!("{entry}: {e}")))?;
        if unsafe_entry_name(f.name()) || f.enclosed_name().is_none() {
            return Err(ApiError::bad_request(format!(
                "{entry}: a path leading outside the archive is refused"
            )));
        }
        if f.is_symlink() {
            return Err(ApiError::bad_request(format!(
                "{entry}: a symbolic link is refused"
            )));
        }
        if f.is_dir() {
            continue;
        }
        let compressed = f.compressed_size().max(1);
        let ratio_ok = |n: u64| n <= RATIO_FROM_BYTES || n / compressed <= limits.ratio;
        let declared = f.size();
        if declared > limits.entry_bytes {
            return Err(too_large_file(&entry, declared, limits));
        }
        let bomb = || {
            too_large(format!(
                "{entry}: compressed more than {}:1 (a zip bomb?); refused",
                limits.ratio
            ))
        };
        if !ratio_ok(declared) {
            return Err(bomb());
        }
        let mut data = Vec::with_capacity(declared.min(limits.entry_bytes) as usize);
        (&mut f)
            .take(limits.entry_bytes + 1)
            .read_to_end(&mut data)
            .map_err(|e| unreadable(format!("{entry}: {e}")))?;
        let n = data.len() as u64;
        admit_file(&entry, n, &mut total, limits)?;
        if !ratio_ok(n) {
            return Err(bomb());
        }
        out.push(data);
    }
    Ok(out)
}

/// The de-identification settings of one upload: the PS3.15 Basic Profile with a new random
/// UID key, so that the new UIDs link to nothing (not to another upload of the same study).
pub fn deid_options() -> Result<ctplan_dicom::deid::DeidOptions, ApiError> {
    Ok(ctplan_dicom::deid::DeidOptions {
        key: random_hex(32)?.into_bytes(),
        allow_burned_in: false,
    })
}

/// The name an upload's `i`-th file (from 0) goes by from its arrival on: its number
/// (`00000001.dcm`), never the name it came with.
pub fn numbered(i: usize) -> String {
    format!("{:08}.dcm", i + 1)
}

/// Decode the chosen series of de-identified objects (`ctplan_dicom::load`): the volume and
/// what the reader noticed.
pub fn series_volume(series: &ctplan_dicom::Series) -> Result<(AnyVolume, Vec<String>), ApiError> {
    let loaded = ctplan_dicom::load(series, ctplan_dicom::LoadOptions::default())
        .map_err(|e| unreadable(e.to_string()))?;
    Ok((loaded.volume, loaded.notes))
}

/// De-identify every DICOM object among `files` in memory and decode the one series they
/// form (or the one `select` would choose); the volume and what the reader noticed. The files
/// go by their numbers (`00000001.dcm`, in the order given), never by the names they came
/// with, so that no message or note carries a name that may be the patient's. Every upload of
/// DICOM files (the entries of a zip, the parts of a form) goes through here; any object that
/// cannot be de-identified refuses the whole upload (422).
pub fn dicom_volume(files: Vec<Vec<u8>>) -> Result<(AnyVolume, Vec<String>), ApiError> {
    let opts = deid_options()?;
    let numbered = files
        .into_iter()
        .enumerate()
        .map(|(i, b)| (numbered(i), b))
        .collect();
    let (found, _) = ctplan_dicom::find_memory(numbered);
    let mut clean = Vec::with_capacity(found.len());
    for origin in found {
        let ctplan_dicom::Origin::Memory { name, bytes } = origin else {
            continue;
        };
        let bytes = ctplan_dicom::deid::anonymize_bytes(&name, bytes, &opts)
            .map_err(|e| unreadable(e.to_string()))?;
        clean.push((name, bytes));
    }
    if clean.is_empty() {
        return Err(unreadable("no DICOM files in the upload"));
    }
    let scan = ctplan_dicom::scan_memory("upload", clean);
    let series = scan.select(None).map_err(|e| unreadable(e.to_string()))?;
    series_volume(series)
}

/// The files of a `multipart/form-data` body (a dropped folder: one part per file), within the
/// same limits as a zip archive's entries: at most [`Limits::zip_entries`] parts, each at most
/// [`Limits::entry_bytes`], all together at most [`Limits::unzipped_bytes`]. Every part is
/// taken as a file whatever its field name; its `filename` is never read (it is often the
/// patient's name), and errors name a part by its number.
pub fn form_files(body: &[u8], boundary: &str, limits: &Limits) -> Result<Vec<Vec<u8>>, ApiError> {
    let parts = crate::multipart::parts(body, boundary, limits.zip_entries)
        .map_err(|e| multipart_error(e, "the form", limits))?;
    let mut total = 0;
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        admit_file(
            &format!("part {}", i + 1),
            p.body.len() as u64,
            &mut total,
            limits,
        )?;
        out.push(p.body.to_vec());
    }
    Ok(out)
}

/// A multipart parse error as an answer: too many parts 413, else 400.
pub(crate) fn multipart_error(
    e: crate::multipart::MultipartError,
    what: &str,
    limits: &Limits,
) -> ApiError {
    match e {
        crate::multipart::MultipartError::TooManyParts(_) => too_large(format!(
            "{what} has more than the {} files allowed",
            limits.zip_entries
        )),
        e => ApiError::bad_request(e.to_string()),
    }
}

/// The volume an uploaded file holds (stages 2–4 of the module's list). `filename` gives the
/// format by its extension and is named in no error.
pub fn decode(
    filename: &str,
    bytes: Vec<u8>,
    limits: &Limits,
) -> Result<(AnyVolume, Vec<String>), ApiError> {
    let lower = filename.to_ascii_lowercase();
    if bytes.starts_with(b"PK\x03\x04") || lower.ends_with(".zip") {
        let files = unzip(&bytes, limits)?;
        drop(bytes);
        return dicom_volume(files);
    }
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return dicom_volume(vec![bytes]);
    }
    // The reader is given a name of the format alone: the file's own name (which may be the
    // patient's) is in no message.
    let name = match ctplan_io::Format::from_path(std::path::Path::new(&lower)) {
        Some(ctplan_io::Format::Nrrd { detached: false }) => "upload.nrrd",
        Some(ctplan_io::Format::Nifti { gzip: true }) => "upload.nii.gz",
        Some(ctplan_io::Format::Nifti { gzip: false }) => "upload.nii",
        Some(ctplan_io::Format::MetaImage { detached: false }) => "upload.mha",
        _ => "",
    };
    match name {
        "" => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "upload a zip of DICOM files, one DICOM file, or a .nrrd, .nii, .nii.gz or .mha volume",
        )),
        name => {
            let image =
                ctplan_io::read_bytes(name, bytes).map_err(|e| unreadable(e.to_string()))?;
            Ok((image.volume, Vec::new()))
        }
    }
}

/// Requests that may wait for an upload place at once; one more is answered 503 at once. A
/// waiting request holds its connection and a task, not its body (not read yet).
pub const MAX_WAITING: usize = 256;

/// The upload places of a portal: [`Limits::concurrent`](crate::Limits) permits handed out
/// first come, first served (a fair semaphore), and the count of requests waiting for one.
pub struct Places {
    permits: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
}

impl Places {
    /// `n` places, nobody waiting.
    pub fn new(n: usize) -> Places {
        Places {
            permits: Arc::new(tokio::sync::Semaphore::new(n)),
            waiting: AtomicUsize::new(0),
        }
    }
}

/// One of the upload places, given back when dropped (also when the request is cancelled or
/// the decoding panics).
pub struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Counts a waiting request while it lives (also when the request is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slot {
    /// A place for one upload now, or `None` while all are taken.
    pub fn take(portal: &Portal) -> Option<Slot> {
        let p = portal.uploads().permits.clone().try_acquire_owned().ok()?;
        Some(Slot { _permit: p })
    }

    /// A place for one upload, waiting in turn for at most
    /// [`Config::upload_wait_seconds`](crate::Config) while all are taken (503 after that, at
    /// once when it is 0, and at once when [`MAX_WAITING`] requests wait already). Queuing
    /// rather than refusing: a refused client sends its whole body again, and retrying
    /// clients leave places idle between their attempts.
    pub async fn wait(portal: &Portal) -> Result<Slot, ApiError> {
        if let Some(s) = Slot::take(portal) {
            return Ok(s);
        }
        let limits = portal.config().limits;
        let seconds = portal.config().upload_wait_seconds;
        let places = portal.uploads();
        if seconds == 0 || places.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            if seconds != 0 {
                places.waiting.fetch_sub(1, Ordering::SeqCst);
            }
            return Err(busy(&limits));
        }
        let _waiting = Waiting(&places.waiting);
        let acquire = places.permits.clone().acquire_owned();
        match tokio::time::timeout(std::time::Duration::from_secs(seconds), acquire).await {
            Ok(Ok(p)) => Ok(Slot { _permit: p }),
            _ => Err(busy(&limits)),
        }
    }
}

/// 503 while all [`Limits::concurrent`](crate::Limits) upload places are taken.
pub(crate) fn busy(limits: &Limits) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "{} uploads are being taken in and more wait; try again in a moment",
            limits.concurrent
        ),
    )
}

/// The whole body of an upload in memory, at most [`Limits::body_bytes`] (413; a declared
/// `Content-Length` over it is refused before a byte is read); a body cut off before its
/// declared length is 400, an empty one 400, and one that stops arriving for
/// [`Limits::idle_seconds`] 408.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limits: &Limits,
) -> Result<axum::body::Bytes, ApiError> {
    let too_big = || {
        too_large(format!(
            "the upload is larger than the {} bytes allowed",
            limits.body_bytes
        ))
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes) {
        return Err(too_big());
    }
    // Read chunk by chunk, so that a client that stops sending (a broken link, or one holding
    // a place on purpose) is answered 408 after `idle_seconds` instead of holding one of the
    // upload places for ever.
    use futures_util::StreamExt;
    let idle = std::time::Duration::from_secs(limits.idle_seconds.max(1));
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the upload stalled: no data for {} s (nothing was stored)",
                        idle.as_secs()
                    ),
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(ApiError::bad_request(
                    "the upload was cut off before its end",
                ));
            }
            Ok(Some(Ok(chunk))) => {
                if (buf.len() + chunk.len()) as u64 > limits.body_bytes {
                    return Err(too_big());
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
    if declared.is_some_and(|n| n != buf.len() as u64) {
        return Err(ApiError::bad_request(
            "the upload was cut off before its end",
        ));
    }
    let bytes = axum::body::Bytes::from(buf);
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the upload is empty"));
    }
    Ok(bytes)
}

/// The grid of a volume in words, as the audit row and the answer give it (never a name).
pub fn describe(volume: &AnyVolume) -> String {
    let d = volume.dims();
    let s = volume.geometry().spacing;
    format!(
        "{}×{}×{} voxels of {:.2}×{:.2}×{:.2} mm",
        d[0], d[1], d[2], s[0], s[1], s[2]
    )
}

/// Store a decoded volume as a new case folder `cases/<random>/ct.nrrd`, whole or not at all;
/// returns the folder's name.
pub(crate) fn store_volume(portal: &Portal, volume: &AnyVolume) -> Result<String, ApiError> {
    let folder = random_hex(16)?;
    let dir = portal.store().dir().join("cases").join(&folder);
    let opts = ctplan_io::WriteOptions {
        compress: true,
        level: 6,
        key_values: Vec::new(),
    };
    ctplan_io::publish_dir(&dir, "ctplan serve", false, |d| {
        ctplan_io::write(&d.join("ct.nrrd"), volume, &opts)
    })
    .map_err(ApiError::internal)?;
    Ok(folder)
}

/// Who a new case is recorded for and how it came.
pub(crate) struct NewCase<'a> {
    /// Its team.
    pub team: &'a str,
    /// `lung` or `cranio`.
    pub kind: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The user it is created by (and the audit row's user).
    pub by: &'a str,
    /// The audit row's detail (the grid, and how it came).
    pub detail: &'a str,
}

/// Record a case whose folder is stored (the folder is removed again if that fails), audit
/// it as `upload`, and queue a lung case's job: the case and the job.
pub(crate) fn record_case(
    portal: &Portal,
    new: &NewCase<'_>,
    folder: &str,
) -> Result<(crate::store::Case, Option<crate::store::Job>), ApiError> {
    let store = portal.store();
    let case = match store.create_case(new.team, new.kind, new.name, new.by, folder) {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(store.dir().join("cases").join(folder));
            return Err(e.into());
        }
    };
    store.audit(Some(new.by), "upload", Some(&case.id), new.detail)?;
    let job = match crate::jobs::job_kind(new.kind) {
        Some(job) => store.enqueue(&case.id, job)?,
        None => None,
    };
    Ok((case, job))
}

/// `POST /api/cases?team=&name=[&filename=][&kind=]` (a surgeon of the team): either one file
/// as the raw body (`filename` gives its format), or a dropped folder as
/// `multipart/form-data` (one part per file; DICOM only; no `filename` needed). The new case,
/// its queued job (the lung model and plan of a `lung` case; the implant design of a `cranio`
/// case, whose upload is a defective skull mask or a head CT), and the reader's notes.
pub async fn post(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    session.require(&[Role::Surgeon])?;
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(format!("{e} (expected ?team=ID&name=NAME&filename=FILE)"))
    })?;
    let kind = q.kind.as_deref().unwrap_or("lung");
    if !matches!(kind, "lung" | "cranio") {
        return Err(ApiError::bad_request("kind is lung or cranio"));
    }
    let name = crate::cases::checked_name(&q.name)?.to_string();
    // A folder: `multipart/form-data` with its boundary; anything else is one file.
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::multipart::media_type)
        .filter(|m| m.essence == "multipart/form-data");
    let boundary = match &form {
        Some(m) => Some(
            crate::multipart::boundary(m)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
                .to_string(),
        ),
        None => None,
    };
    let filename = match (&boundary, q.filename) {
        (Some(_), _) => String::new(),
        (None, Some(f)) => f,
        (None, None) => {
            return Err(ApiError::bad_request(
                "give ?filename=FILE (its extension says the format), or send a folder as multipart/form-data",
            ));
        }
    };
    if !portal.store().is_member(&q.team, &session.user.id)? {
        return Err(ApiError::forbidden("you are not a member of that team"));
    }
    let limits = portal.config().limits;
    let slot = Slot::wait(&portal).await?;
    let bytes = read_body(&headers, body, &limits).await?;
    let p = portal.clone();
    let (folder, detail, notes) = tokio::task::spawn_blocking(move || {
        let (volume, notes) = match boundary {
            Some(b) => {
                let files = form_files(&bytes, &b, &limits)?;
                drop(bytes);
                dicom_volume(files)?
            }
            None => decode(&filename, Vec::from(bytes), &limits)?,
        };
        let detail = describe(&volume);
        let folder = store_volume(&p, &volume)?;
        drop(slot);
        Ok::<_, ApiError>((folder, detail, notes))
    })
    .await
    .map_err(ApiError::internal)??;
    let new = NewCase {
        team: &q.team,
        kind,
        name: &name,
        by: &session.user.id,
        detail: &detail,
    };
    let (case, job) = record_case(&portal, &new, &folder)?;
    let case = portal
        .store()
        .visible_case(&case.id, &session.user.id)?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(serde_json::json!({
        "case": case,
        "job": job,
        "volume": detail,
        "notes": notes,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_leaving_the_archive_are_recognised() {
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "\\x",
            "C:\\x",
            "a\\..\\x",
            "a\0b",
        ] {
            assert!(unsafe_entry_name(bad), "{bad}");
        }
        for good in ["a/b.dcm", "IM0001", "dir/..hidden", "x..y"] {
            assert!(!unsafe_entry_name(good), "{good}");
        }
    }
}
