//! DICOMweb STOW-RS (DICOM PS3.18 §10.5): `POST /dicomweb/studies` with
//! `Content-Type: multipart/related; type="application/dicom"; boundary=…` (RFC 2387), one
//! DICOM PS3.10 file per part, authorised by an API token of a team ([`crate::tokens`]), so
//! that a PACS (Orthanc's DICOMweb plugin, a modality's gateway) can push a study.
//!
//! The stages are the upload's ([`crate::upload`]), in memory, the same limits and the same
//! de-identification: a place among [`Limits::concurrent`](crate::Limits) (503), the body
//! within `Limits::body_bytes` (413), at most `Limits::zip_entries` parts of at most
//! `Limits::entry_bytes` each (413), every object de-identified from its bytes by the PS3.15
//! Basic Profile with a key new for this request, then grouped. **Each study of the request
//! becomes one new case of the token's team**: its series are chosen as an upload's are (the
//! only series, or the only image series of more than two slices that is no localizer), that
//! series is decoded, and only the volume is stored. A request is one unit: instances of one
//! study pushed in two requests make two cases (a PACS must be set to send a study in one
//! request; Orthanc's plugin splits by `StowMaxInstances` and `StowMaxSize` by default).
//!
//! The answer is the PS3.18 store response as DICOM JSON (`application/dicom+json`):
//! `ReferencedSOPSequence` (0008,1199) lists the instances whose pixels are in a stored volume,
//! `FailedSOPSequence` (0008,1198) the others with a `FailureReason` (0008,1197). Both carry
//! the **de-identified** SOP Instance UIDs (and the SOP Class UID, a standard UID that names
//! no one) — never the UIDs that were sent, which are the patient's study's — and nothing for
//! a part that could not be read as DICOM at all. Each referenced item's `RetrieveURL`
//! (0008,1190) is the case's API path (`/api/cases/{id}`), and so is the response's own when
//! the request made one case. 200 when every instance is in a case, 202 when some are, 409
//! when none is; a malformed body is 400, a media type other than multipart/related of
//! `application/dicom` 415, all with `{"error": "..."}` in words.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::tokens::TokenAuth;
use crate::upload::{self, NewCase, Slot};
use crate::{ApiError, Limits, Portal};

/// `FailureReason` (PS3.4 Annex GG, PS3.18 Table 10.5.3-2) 0xC000: the part cannot be
/// understood (not a DICOM PS3.10 file, not `application/dicom`, cannot be de-identified).
pub const CANNOT_UNDERSTAND: u16 = 0xC000;
/// `FailureReason` 0x0110: processing failure (the instance is DICOM but not in a stored
/// volume: another series of its study was chosen, or its series does not decode to one).
pub const PROCESSING_FAILURE: u16 = 0x0110;

/// One instance's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// SOP Class UID (after de-identification: unchanged, a standard UID), if it was read.
    pub class_uid: Option<String>,
    /// The de-identified SOP Instance UID, if it was read.
    pub instance_uid: Option<String>,
    /// The case its pixels are stored in, or the failure reason.
    pub result: Result<String, u16>,
}

/// What one request did: the cases made and every instance's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The new cases (their identifiers), one per study stored.
    pub cases: Vec<String>,
    /// One per part, in no particular order.
    pub outcomes: Vec<Outcome>,
}

fn ui(v: &str) -> Value {
    json!({ "vr": "UI", "Value": [v] })
}

fn case_url(id: &str) -> Value {
    json!({ "vr": "UR", "Value": [format!("/api/cases/{id}")] })
}

impl Stored {
    /// The PS3.18 store response as DICOM JSON (PS3.18 Annex F).
    pub fn dicom_json(&self) -> Value {
        let item = |o: &Outcome| {
            let mut m = serde_json::Map::new();
            if let Some(c) = &o.class_uid {
                m.insert("00081150".into(), ui(c));
            }
            if let Some(i) = &o.instance_uid {
                m.insert("00081155".into(), ui(i));
            }
            match &o.result {
                Ok(case) => m.insert("00081190".into(), case_url(case)),
                Err(reason) => {
                    m.insert("00081197".into(), json!({ "vr": "US", "Value": [reason] }))
                }
            };
            Value::Object(m)
        };
        let mut out = serde_json::Map::new();
        if let [one] = self.cases.as_slice() {
            out.insert("00081190".into(), case_url(one));
        }
        let (ok, failed): (Vec<&Outcome>, Vec<&Outcome>) =
            self.outcomes.iter().partition(|o| o.result.is_ok());
        if !failed.is_empty() {
            let v: Vec<Value> = failed.into_iter().map(item).collect();
            out.insert("00081198".into(), json!({ "vr": "SQ", "Value": v }));
        }
        if !ok.is_empty() {
            let v: Vec<Value> = ok.into_iter().map(item).collect();
            out.insert("00081199".into(), json!({ "vr": "SQ", "Value": v }));
        }
        Value::Object(out)
    }

    /// 200 every instance stored, 202 some, 409 none (PS3.18 §10.5.3).
    pub fn status(&self) -> StatusCode {
        let stored = self.outcomes.iter().filter(|o| o.result.is_ok()).count();
        if stored == 0 {
            StatusCode::CONFLICT
        } else if stored < self.outcomes.len() {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        }
    }
}

/// The boundary of a STOW-RS request's `Content-Type`: `multipart/related` (415 otherwise)
/// whose `type`, when given, is `application/dicom` (415 otherwise: the metadata-and-bulk-data
/// form is not taken).
pub fn stow_boundary(headers: &HeaderMap) -> Result<String, ApiError> {
    let unsupported = || {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send multipart/related; type=\"application/dicom\"; boundary=… (one DICOM file per part)",
        )
    };
    let mt = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::multipart::media_type)
        .ok_or_else(unsupported)?;
    if mt.essence != "multipart/related"
        || mt
            .params
            .get("type")
            .is_some_and(|t| !t.eq_ignore_ascii_case("application/dicom"))
    {
        return Err(unsupported());
    }
    crate::multipart::boundary(&mt)
        .map(str::to_string)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Take the instances of one STOW-RS body in: parse, bound, de-identify, group by study,
/// decode and store one case per study (stages of the module's list). The cases are recorded
/// for `token`'s team in its creator's name.
pub fn store_request(
    portal: &Portal,
    token: &crate::tokens::Token,
    body: &[u8],
    boundary: &str,
    limits: &Limits,
) -> Result<Stored, ApiError> {
    let parts = crate::multipart::parts(body, boundary, limits.zip_entries)
        .map_err(|e| upload::multipart_error(e, "the request", limits))?;
    if parts.is_empty() {
        return Err(ApiError::bad_request("the request holds no instances"));
    }
    let mut total = 0;
    let mut stored = Stored::default();
    let failed = |reason| Outcome {
        class_uid: None,
        instance_uid: None,
        result: Err(reason),
    };
    let mut files = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        upload::admit_file(
            &format!("instance {}", i + 1),
            p.body.len() as u64,
            &mut total,
            limits,
        )?;
        match p.content_type() {
            Some(t) if t != "application/dicom" => stored.outcomes.push(failed(CANNOT_UNDERSTAND)),
            _ => files.push((upload::numbered(i), p.body.to_vec())),
        }
    }
    drop(parts);
    let opts = upload::deid_options()?;
    let (found, skipped) = ctplan_dicom::find_memory(files);
    stored
        .outcomes
        .extend(skipped.iter().map(|_| failed(CANNOT_UNDERSTAND)));
    let mut clean = Vec::with_capacity(found.len());
    for origin in found {
        let ctplan_dicom::Origin::Memory { name, bytes } = origin else {
            continue;
        };
        match ctplan_dicom::deid::anonymize_bytes(&name, bytes, &opts) {
            Ok(b) => clean.push((name, b)),
            Err(_) => stored.outcomes.push(failed(CANNOT_UNDERSTAND)),
        }
    }
    let scan = ctplan_dicom::scan_memory("request", clean);
    stored
        .outcomes
        .extend(scan.skipped.iter().map(|_| failed(CANNOT_UNDERSTAND)));
    let mut studies: Vec<&str> = scan.series.iter().map(|s| s.study_uid.as_str()).collect();
    studies.dedup();
    for (k, study) in studies.iter().enumerate() {
        let one = ctplan_dicom::Scan {
            root: scan.root.clone(),
            series: scan
                .series
                .iter()
                .filter(|s| s.study_uid == *study)
                .cloned()
                .collect(),
            skipped: Vec::new(),
        };
        let case = one
            .select(None)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
            .and_then(|series| {
                let (volume, _) = upload::series_volume(series)?;
                let detail = format!(
                    "{}, by DICOMweb STOW-RS (token {})",
                    upload::describe(&volume),
                    token.id
                );
                let folder = upload::store_volume(portal, &volume)?;
                drop(volume);
                let name = if studies.len() > 1 {
                    format!("{} (study {} of {})", token.name, k + 1, studies.len())
                } else {
                    token.name.clone()
                };
                let new = NewCase {
                    team: &token.team_id,
                    kind: "lung",
                    name: &name,
                    by: &token.created_by,
                    detail: &detail,
                };
                let (case, _) = upload::record_case(portal, &new, &folder)?;
                Ok((series.series_uid.clone(), case.id))
            });
        match &case {
            Ok((_, id)) => stored.cases.push(id.clone()),
            // The server failed (the disk, the database), not the study: say so, not 0x0110.
            Err(e) if e.status.is_server_error() => return Err(e.clone()),
            Err(_) => {}
        }
        for s in &one.series {
            for inst in &s.instances {
                let result = match &case {
                    Ok((uid, id)) if *uid == s.series_uid => Ok(id.clone()),
                    _ => Err(PROCESSING_FAILURE),
                };
                stored.outcomes.push(Outcome {
                    class_uid: Some(inst.sop_class_uid.clone()),
                    instance_uid: Some(inst.sop_instance_uid.clone()),
                    result,
                });
            }
        }
    }
    Ok(stored)
}

/// `POST /dicomweb/studies` (an API token): the instances of the body stored as one new case
/// per study of the token's team, answered with the PS3.18 store response in DICOM JSON.
pub async fn post(
    State(portal): State<Portal>,
    axum::Extension(auth): axum::Extension<TokenAuth>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let boundary = stow_boundary(&headers)?;
    let limits = portal.config().limits;
    let slot = Slot::wait(&portal).await?;
    let bytes = upload::read_body(&headers, body, &limits).await?;
    let p = portal.clone();
    let token = auth.token;
    let stored = tokio::task::spawn_blocking(move || {
        let r = store_request(&p, &token, &bytes, &boundary, &limits);
        drop(slot);
        r
    })
    .await
    .map_err(ApiError::internal)??;
    let mut resp = (stored.status(), axum::Json(stored.dicom_json())).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/dicom+json"),
    );
    Ok(resp)
}
