//! A job's progress streamed to the browser: `GET /api/jobs/{job}/events`, Server-Sent Events
//! (`text/event-stream`, the WHATWG HTML standard's `EventSource`; one-way, over plain HTTP,
//! reconnected by the browser by itself, which is all progress needs, unlike a WebSocket).
//!
//! The server reads the job from the database every [`POLL`] and sends an event whenever its
//! state, progress, stage, error or attempts change: the first event at once (the job as it
//! is), `event: progress` while it is queued or running, and a last one, `event: done` or
//! `event: failed`, after which the stream ends. Every event's data is the job as
//! `GET /api/jobs/{job}` answers it (`{id, case_id, kind, state, attempts, progress, stage,
//! error, lease_until}`; `error` is the failure's reason). The database is the one source: a
//! worker in another process (or a later, second worker) is followed as the embedded one is.
//! A stream open longer than [`MAX_OPEN`] ends without a last event (the browser's
//! `EventSource` reconnects and gets the job as it is then), so that an abandoned tab does not
//! poll for ever; a comment line every 15 s keeps proxies from closing a quiet stream.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use crate::auth::Session;
use crate::store::Job;
use crate::{ApiError, Portal};

/// How often the job is read.
pub const POLL: Duration = Duration::from_millis(250);

/// How long one stream stays open at most.
pub const MAX_OPEN: Duration = Duration::from_secs(3600);

/// The event's name for a job's state: `done`, `failed`, or `progress`.
pub fn event_name(state: &str) -> &'static str {
    match state {
        "done" => "done",
        "failed" => "failed",
        _ => "progress",
    }
}

/// What makes a job's event new.
type Seen = (String, f64, Option<String>, Option<String>, i64);

fn seen(j: &Job) -> Seen {
    (
        j.state.clone(),
        j.progress,
        j.stage.clone(),
        j.error.clone(),
        j.attempts,
    )
}

struct Follow {
    portal: Portal,
    id: String,
    last: Option<Seen>,
    ended: bool,
    opened: Instant,
}

/// The next event of the followed job, waiting for a change; `None` at the end.
async fn next(mut f: Follow) -> Option<(Result<Event, Infallible>, Follow)> {
    if f.ended {
        return None;
    }
    loop {
        let job = match f.portal.store().job(&f.id) {
            Ok(Some(j)) => j,
            Ok(None) => return None,
            Err(e) => {
                f.ended = true;
                let ev = Event::default().event("error").data(e.to_string());
                return Some((Ok(ev), f));
            }
        };
        let now = seen(&job);
        if f.last.as_ref() != Some(&now) {
            let name = event_name(&job.state);
            f.ended = name != "progress";
            f.last = Some(now);
            let ev = Event::default()
                .event(name)
                .json_data(&job)
                .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
            return Some((Ok(ev), f));
        }
        if f.opened.elapsed() > MAX_OPEN {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `GET /api/jobs/{job}/events`: the job's progress as Server-Sent Events (see the module).
pub async fn get(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = portal.store().job(&id)?.ok_or_else(ApiError::not_found)?;
    crate::cases::visible(&portal, &session, &job.case_id)?;
    let follow = Follow {
        portal,
        id,
        last: None,
        ended: false,
        opened: Instant::now(),
    };
    let stream = futures_util::stream::unfold(follow, next);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
