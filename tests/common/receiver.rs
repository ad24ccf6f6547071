//! A webhook receiver: a real HTTP server on a loopback port that answers as a script says
//! and checks every signature.

use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What the receiver does with the n-th request.
#[derive(Clone, Copy)]
pub enum Answer {
    Fail,
    Hang,
    Ok,
    /// 307 to another path of this receiver, which counts what reaches it.
    Redirect,
}

#[derive(Default)]
pub struct Received {
    pub requests: usize,
    /// Bodies that arrived with a valid signature and were answered 200.
    pub accepted: Vec<Value>,
    pub bad_signatures: usize,
    /// Requests that followed a redirect to the other path.
    pub redirected: usize,
}

/// A real HTTP server on a loopback port (axum), answering by `script` and checking every
/// signature with `secret`.
pub fn receiver(script: Vec<Answer>, secret: &'static str) -> (String, Arc<Mutex<Received>>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let received = Arc::new(Mutex::new(Received::default()));
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/waakvlam", listener.local_addr().unwrap());
    let state = received.clone();
    let state_for_redirect = received.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/waakvlam",
                axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                    let state = state.clone();
                    let script = script.clone();
                    async move {
                        let n = {
                            let mut s = state.lock().unwrap();
                            s.requests += 1;
                            s.requests - 1
                        };
                        match script.get(n).copied().unwrap_or(Answer::Ok) {
                            Answer::Redirect => {
                                return (
                                    StatusCode::TEMPORARY_REDIRECT,
                                    [(axum::http::header::LOCATION, "/elders")],
                                )
                                    .into_response();
                            }
                            Answer::Fail => StatusCode::INTERNAL_SERVER_ERROR,
                            Answer::Hang => {
                                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                                StatusCode::OK
                            }
                            Answer::Ok => {
                                let signature = headers
                                    .get("x-waakvlam-signature")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("");
                                let mut s = state.lock().unwrap();
                                if signature == waakvlam::delivery::signature(secret, &body) {
                                    s.accepted.push(serde_json::from_slice(&body).unwrap());
                                    StatusCode::OK
                                } else {
                                    s.bad_signatures += 1;
                                    StatusCode::UNAUTHORIZED
                                }
                            }
                        }
                        .into_response()
                    }
                }),
            );
            let elsewhere = state_for_redirect.clone();
            let app = app.route(
                "/elders",
                axum::routing::post(move || {
                    let elsewhere = elsewhere.clone();
                    async move {
                        elsewhere.lock().unwrap().redirected += 1;
                        StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (url, received)
}
