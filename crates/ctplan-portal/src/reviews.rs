//! Clinician review of a designed implant: a score from 1 to 5 and a comment per implant and
//! reviewer, as the clinical evaluation of the AutoImplant 2021 challenge had neurosurgeons
//! rate the implants (Li et al. 2023, Medical Image Analysis 88:102865), stored with the case.
//!
//! An implant is the result of one done `implant` job of the case: a review names the case's
//! newest one (reviewing an older design again is not possible; its reviews stay). A reviewer
//! has one review per implant: posting again replaces the score and comment. Who may review:
//! the members of the case's own team who are surgeons or viewers (the clinicians of the team;
//! an administrator manages accounts, not cases). Everyone who sees the case (a team it is
//! shared with too) reads the reviews; a case shared for a second opinion is read, not rated.
//! Each review appends an audit row (`review`, with the score, not the comment).

use crate::params;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::{Session, json_body};
use crate::store::{Role, Store, new_id, now};
use crate::{ApiError, Portal, PortalError};

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// One review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// The implant job reviewed.
    pub job_id: String,
    /// The reviewer's name.
    pub user: String,
    /// 1 (unusable) to 5 (usable as it is).
    pub score: i64,
    /// In words; may be empty.
    pub comment: String,
    /// When it was given (or last changed), Unix seconds.
    pub at: i64,
}

impl Store {
    /// The newest done implant job of a case: the implant a review is about.
    pub fn reviewed_implant(&self, case: &str) -> Result<Option<String>, PortalError> {
        self.conn().query_opt(
            "SELECT id FROM jobs WHERE case_id = ?1 AND kind = ?2 AND state = 'done'
             ORDER BY created DESC, seq DESC LIMIT 1",
            params![case, crate::implant::KIND],
            |r| r.get(0),
        )
    }

    /// Record `user`'s review of the implant of `job` (replacing the user's earlier one).
    pub fn put_review(
        &self,
        case: &str,
        job: &str,
        user: &str,
        score: i64,
        comment: &str,
    ) -> Result<(), PortalError> {
        self.conn().execute(
            "INSERT INTO reviews (id, case_id, job_id, user_id, score, comment, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (job_id, user_id) DO UPDATE
             SET score = excluded.score, comment = excluded.comment, created = excluded.created",
            params![new_id()?, case, job, user, score, comment, now()],
        )?;
        Ok(())
    }

    /// The reviews of a case, oldest first.
    pub fn reviews_of(&self, case: &str) -> Result<Vec<Review>, PortalError> {
        self.conn().query_map(
            "SELECT r.job_id, u.name, r.score, r.comment, r.created FROM reviews r
             JOIN users u ON u.id = r.user_id WHERE r.case_id = ?1 ORDER BY r.created, u.name",
            params![case],
            |r| {
                Ok(Review {
                    job_id: r.get(0)?,
                    user: r.get(1)?,
                    score: r.get(2)?,
                    comment: r.get(3)?,
                    at: r.get(4)?,
                })
            },
        )
    }
}

/// The body of `POST /api/cases/{case}/reviews`.
#[derive(Deserialize)]
struct Posted {
    score: serde_json::Value,
    #[serde(default)]
    comment: String,
}

/// A score: an integer from 1 to 5.
fn checked_score(v: &serde_json::Value) -> Result<i64, ApiError> {
    v.as_i64()
        .filter(|s| (1..=5).contains(s))
        .ok_or_else(|| ApiError::bad_request("score is an integer from 1 to 5"))
}

/// A comment: at most [`MAX_COMMENT_CHARS`] characters, no control characters but line
/// breaks and tabs; trimmed.
fn checked_comment(c: &str) -> Result<&str, ApiError> {
    let c = c.trim();
    if c.chars().count() > MAX_COMMENT_CHARS
        || c.chars()
            .any(|x| x.is_control() && !matches!(x, '\n' | '\t'))
    {
        return Err(ApiError::bad_request(format!(
            "a comment is at most {MAX_COMMENT_CHARS} characters, without control characters but line breaks and tabs"
        )));
    }
    Ok(c)
}

/// What both review routes answer: the implant reviewed now, and every review of the case.
fn listed(portal: &Portal, case: &str) -> Result<serde_json::Value, ApiError> {
    let store = portal.store();
    Ok(serde_json::json!({
        "implant_job": store.reviewed_implant(case)?,
        "reviews": store.reviews_of(case)?,
    }))
}

/// `POST /api/cases/{case}/reviews` `{score: 1–5, comment}`: review the case's newest implant
/// (a surgeon or viewer of its team; 409 while it has none). Audited as `review`.
pub async fn post(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let case = crate::cases::visible(&portal, &session, &id)?;
    session.require(&[Role::Surgeon, Role::Viewer])?;
    let store = portal.store();
    if !store.is_member(&case.team_id, &session.user.id)? {
        return Err(ApiError::forbidden(
            "only the case's own team reviews its implant",
        ));
    }
    let p: Posted = json_body(&headers, &body)?;
    let score = checked_score(&p.score)?;
    let comment = checked_comment(&p.comment)?;
    let Some(job) = store.reviewed_implant(&case.id)? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the case has no designed implant to review yet",
        ));
    };
    store.put_review(&case.id, &job, &session.user.id, score, comment)?;
    store.audit(
        Some(&session.user.id),
        "review",
        Some(&case.id),
        &format!("score {score} for the implant of job {job}"),
    )?;
    Ok(Json(listed(&portal, &case.id)?))
}

/// `GET /api/cases/{case}/reviews`: `{implant_job, reviews: [{job_id, user, score, comment,
/// at}]}` (anyone who sees the case).
pub async fn get(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let case = crate::cases::visible(&portal, &session, &id)?;
    Ok(Json(listed(&portal, &case.id)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_comments_are_checked() {
        for ok in [1, 3, 5] {
            assert_eq!(checked_score(&serde_json::json!(ok)).unwrap(), ok);
        }
        for bad in [
            serde_json::json!(0),
            serde_json::json!(6),
            serde_json::json!(-1),
            serde_json::json!(3.5),
            serde_json::json!("4"),
            serde_json::Value::Null,
        ] {
            assert_eq!(
                checked_score(&bad).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        assert_eq!(
            checked_comment("  fits well\n\tgood\n").unwrap(),
            "fits well\n\tgood"
        );
        assert!(checked_comment("a\u{7}b").is_err());
        assert!(checked_comment(&"x".repeat(MAX_COMMENT_CHARS + 1)).is_err());
        assert!(checked_comment(&"é".repeat(MAX_COMMENT_CHARS)).is_ok());
    }

    #[test]
    fn a_reviewer_has_one_review_per_implant() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let team = s.create_team("t").unwrap();
        let u = s.create_user("u", "h", Role::Surgeon).unwrap();
        let v = s.create_user("v", "h", Role::Viewer).unwrap();
        let case = s.create_case(&team, "cranio", "c", &u.id, "f").unwrap();
        assert_eq!(s.reviewed_implant(&case.id).unwrap(), None);
        let job = s.enqueue(&case.id, crate::implant::KIND).unwrap().unwrap();
        // Queued, then running: not yet an implant.
        assert_eq!(s.reviewed_implant(&case.id).unwrap(), None);
        s.claim("w", now(), 60).unwrap().unwrap();
        assert!(s.finish(&job.id, "w", None).unwrap());
        assert_eq!(s.reviewed_implant(&case.id).unwrap(), Some(job.id.clone()));
        s.put_review(&case.id, &job.id, &u.id, 2, "too thin")
            .unwrap();
        s.put_review(&case.id, &job.id, &v.id, 4, "").unwrap();
        s.put_review(&case.id, &job.id, &u.id, 5, "fine after all")
            .unwrap();
        let r = s.reviews_of(&case.id).unwrap();
        assert_eq!(r.len(), 2);
        let by_u = r.iter().find(|r| r.user == "u").unwrap();
        assert_eq!((by_u.score, by_u.comment.as_str()), (5, "fine after all"));
        // The database refuses a score out of range even past the route.
        assert!(s.put_review(&case.id, &job.id, &v.id, 6, "").is_err());
    }
}
