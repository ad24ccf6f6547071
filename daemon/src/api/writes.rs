//! The calls that write: events, iJw messages, a dead letter sent again, and the what-if
//! (which writes nothing but its audit lines, and is bounded like a write).

use super::*;

/// `POST /v1/ijw`: one JW305 or JW307 (DESIGN.md, "iJw intake"). The BSN is made a pseudonym
/// before anything else happens and is never written, logged or answered.
pub(super) async fn post_ijw(
    State(api): State<Api>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let action = "ijw.write";
    api.writer(&caller, action)?;
    let token = &caller.token;
    let Some(ijw) = api.ijw.clone() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "the iJw intake is not set up: add 'daemon.ijw' with 'pseudonym_secret_env' to the configuration",
        ));
    };
    let xml = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/xml" || v == "text/xml");
    if !xml {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the message as 'Content-Type: application/xml'",
        ));
    }
    if body.len() > waakvlam_core::ijw::MAX_BYTES {
        api.metrics
            .ijw_messages_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the message is {} bytes; an iJw message is at most {} bytes (1 MiB), so it was not read",
                body.len(),
                waakvlam_core::ijw::MAX_BYTES
            ),
        ));
    }
    let received = match crate::ijw::receive(&body, &ijw.secret) {
        Ok(received) => received,
        Err(problems) => {
            api.metrics
                .ijw_messages_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(problems = problems.len(), "iJw message refused");
            return Ok((
                StatusCode::BAD_REQUEST,
                Json(crate::ijw::refusal(&problems)),
            )
                .into_response());
        }
    };
    let gemeente = received.message.gemeente.clone();
    if !token.gemeenten.contains(&gemeente) {
        api.metrics
            .ijw_messages_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let err = error(
            StatusCode::FORBIDDEN,
            format!(
                "token '{}' may not write for {gemeente}; nothing was taken",
                token.name
            ),
        );
        return Err(api.refused(caller.line(action, Some(&gemeente), None), err));
    }
    let audit = caller.line(action, Some(&gemeente), Some(&received.case));
    let answers = api
        .ask(|reply| Command::Ijw {
            messages: vec![crate::scheduler::intake::IjwMessage {
                message: received.message.clone(),
                case: received.case.clone(),
                audit,
            }],
            reply,
        })
        .await?
        .map_err(refusal)?
        .pop()
        .unwrap_or_default();
    crate::ijw::count(&api.metrics, &answers);
    Ok((
        StatusCode::OK,
        Json(crate::ijw::answer(&received, &answers)),
    )
        .into_response())
}

pub(super) async fn post_events(
    State(api): State<Api>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let action = "events.write";
    api.writer(&caller, action)?;
    let token = &caller.token;
    let value: Value = serde_json::from_slice(&body).map_err(|err| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {err}"),
        )
    })?;
    let items = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    // Too many events is a request that does not fit the contract (400, as the document's
    // maxItems says); 413 is for a body over the byte limit only.
    if items.len() > MAX_EVENTS_PER_REQUEST {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "at most {MAX_EVENTS_PER_REQUEST} events per request, not {}",
                items.len()
            ),
        ));
    }
    if items.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the array holds no events; send one event or an array of 1 to 10000",
        ));
    }
    let mut results: Vec<ItemResult> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    let mut positions = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        // An id that may hold a BSN (or a control character) is refused and not repeated.
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !event::has_bsn_like_number(id) && !id.chars().any(char::is_control))
            .map(str::to_string);
        match event::validate(item) {
            Ok(event) if !token.gemeenten.contains(&event.gemeente) => {
                let err = error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "token '{}' may not write for {}; nothing was accepted",
                        token.name, event.gemeente
                    ),
                );
                let attempt = caller.line(action, Some(&event.gemeente), None);
                return Err(api.refused(attempt, err));
            }
            Ok(event) => {
                positions.push(index);
                valid.push(event);
                results.push(ItemResult {
                    index,
                    id,
                    status: ItemStatus::Accepted,
                    problems: Vec::new(),
                });
            }
            Err(err) => results.push(ItemResult {
                index,
                id,
                status: ItemStatus::Refused,
                problems: err.problems,
            }),
        }
    }
    if !valid.is_empty() {
        // One audit line per case the request wrote for, with its gemeente: each answers
        // for its own, and a privacy officer can follow a case.
        let touched: std::collections::BTreeSet<(&str, &str)> = valid
            .iter()
            .map(|e| (e.gemeente.as_str(), e.case.as_str()))
            .collect();
        let entries = touched
            .into_iter()
            .map(|(gemeente, case)| caller.line(action, Some(gemeente), Some(case)))
            .collect();
        let outcomes = api
            .ask(|reply| Command::Ingest {
                events: valid,
                audit: entries,
                reply,
            })
            .await?
            .map_err(refusal)?;
        for (position, outcome) in positions.into_iter().zip(outcomes) {
            let result = &mut results[position];
            match outcome {
                Outcome::Accepted => {}
                Outcome::Duplicate => result.status = ItemStatus::Duplicate,
                Outcome::Refused(why) => {
                    result.status = ItemStatus::Refused;
                    result.problems = vec![why];
                }
            }
        }
    }
    let count = |status| results.iter().filter(|r| r.status == status).count() as u64;
    let refused = count(ItemStatus::Refused);
    use std::sync::atomic::Ordering::Relaxed;
    api.metrics
        .events_accepted
        .fetch_add(count(ItemStatus::Accepted), Relaxed);
    api.metrics
        .events_duplicate
        .fetch_add(count(ItemStatus::Duplicate), Relaxed);
    api.metrics.events_refused.fetch_add(refused, Relaxed);
    let refused = refused as usize;
    let status = if refused == results.len() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "results": results }))).into_response())
}

/// What became of one event of a `POST /v1/events` (DESIGN.md, "Events").
#[derive(serde::Serialize)]
struct ItemResult {
    index: usize,
    /// Left out (null) when it may hold a BSN: a refusal never repeats one.
    id: Option<String>,
    status: ItemStatus,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum ItemStatus {
    Accepted,
    Duplicate,
    Refused,
}

/// `POST /v1/notifications/{id}/retry`: a dead letter back into the outbox of its channels,
/// with its attempts reset (what the Meldingen page's "opnieuw versturen" does).
pub(super) async fn retry_notification(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let action = "notifications.retry";
    api.writer(&caller, action)?;
    let well_formed = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "a notification id is 32 hexadecimal characters",
        ));
    }
    let scope = caller.token.gemeenten.clone();
    // The action names the notification, so the line says what was sent again.
    let audit = caller.lines_for(&format!("{action} {id}"), &scope, None);
    let channels = api
        .ask(|reply| {
            Command::Page(crate::scheduler::pages::PageCommand::SendAgain {
                id: id.clone(),
                scope,
                audit,
                reply,
            })
        })
        .await?
        .map_err(refusal)?;
    if channels.is_empty() {
        return Err(error(
            StatusCode::CONFLICT,
            format!(
                "notification {id} is not a dead letter of this token's gemeenten; nothing was sent again"
            ),
        ));
    }
    tracing::info!(notification = %id, channels = %channels.join(","), token = %caller.token.name, "dead letter sent again");
    Ok(Json(json!({ "id": id, "channels": channels })).into_response())
}

/// `POST /v1/what-if`: what a change of terms or workflow files would do, computed beside the
/// core and written nowhere (see the `whatif` module).
pub(super) async fn post_what_if(
    State(api): State<Api>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let action = "what-if";
    caller.no_bsn(None)?;
    let request: crate::whatif::Request = serde_json::from_slice(&body).map_err(|err| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "the body is not a what-if ({err}); send {{\"gemeente\": \"GM0150\", \"params\": {{\"<workflow>\": {{\"<parameter>\": \"<term>\"}}}}}} or {{\"workflows\": {{\"<file>.yaml\": \"<text>\"}}}}"
            ),
        )
    })?;
    let Ok(_running) = crate::whatif::RUNNING.try_acquire() else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "another what-if is being computed; try again when it is done (within a minute)",
        ));
    };
    let catalog = api.shelf.get();
    let changed = match crate::whatif::changed(&catalog, &request, &caller.token.gemeenten) {
        Ok(changed) => changed,
        Err(crate::whatif::Refusal::Bad(message)) => {
            return Err(error(StatusCode::BAD_REQUEST, message));
        }
        Err(crate::whatif::Refusal::Forbidden(message)) => {
            let err = error(StatusCode::FORBIDDEN, message);
            return Err(api.refused_each(caller.lines(action), err));
        }
        Err(crate::whatif::Refusal::Problems(problems)) => {
            let n = problems.len();
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": format!("the change has {n} problem{}; nothing was computed", if n == 1 { "" } else { "s" }),
                    "problems": problems,
                })),
            )
                .into_response());
        }
    };
    let audit = caller.lines_for(action, &changed.scope, None);
    let now = api
        .ask(|reply| Command::Page(crate::scheduler::pages::PageCommand::Audited { audit, reply }))
        .await?
        .map_err(refusal)?;
    let readers = api.readers.clone();
    let answer =
        tokio::task::spawn_blocking(move || crate::whatif::run(&catalog, &readers, changed, now))
            .await
            .map_err(|err| {
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the what-if failed: {err}"),
                )
            })?
            .map_err(|err| match err {
                crate::whatif::Failed::Store(err) => refusal(SchedulerError::Store(err)),
                too_long @ crate::whatif::Failed::TooLong => {
                    error(StatusCode::SERVICE_UNAVAILABLE, too_long.to_string())
                }
            })?;
    Ok(Json(answer).into_response())
}
