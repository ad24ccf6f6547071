//! A visitor of the web pages over real HTTP: keeps its cookies as a browser does, follows no
//! redirect by itself (the tests look at them), and sends forms as a browser sends them.

use std::collections::BTreeMap;

use super::daemon::Daemon;

pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the first hidden form field of this name.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_string())
    }
}

pub struct Visitor {
    base: String,
    agent: ureq::Agent,
    pub cookies: BTreeMap<String, String>,
    /// The `Path` of each cookie that has one: it goes only to addresses under it.
    paths: BTreeMap<String, String>,
    /// Sent as `X-On-Behalf-Of`, as a proxy in front would.
    pub on_behalf_of: Option<String>,
}

impl Visitor {
    pub fn new(daemon: &Daemon) -> Visitor {
        Visitor {
            base: daemon.base.clone(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
            cookies: BTreeMap::new(),
            paths: BTreeMap::new(),
            on_behalf_of: None,
        }
    }

    /// Signs in with a token through the form, as a person does.
    pub fn signed_in(daemon: &Daemon, token: &str) -> Visitor {
        let mut visitor = Visitor::new(daemon);
        let answer = visitor.sign_in(token);
        assert_eq!(answer.status, 303, "{}", answer.body);
        visitor
    }

    pub fn sign_in(&mut self, token: &str) -> Page {
        let form = self.get("/inloggen");
        let csrf = form
            .field("csrf")
            .expect("the sign-in form has a CSRF token");
        self.post(
            "/inloggen",
            &[("token", token), ("csrf", &csrf), ("naar", "/")],
        )
    }

    pub fn get(&mut self, path: &str) -> Page {
        let url = format!("{}{path}", self.base);
        self.fetch(&url)
    }

    /// A GET of a whole address, of the daemon or of another server on loopback (an identity
    /// provider): the cookies go along as a browser sends them, by host and not by port.
    pub fn fetch(&mut self, url: &str) -> Page {
        let mut request = self.agent.get(url);
        if let Some(cookie) = self.cookie_header(url) {
            request = request.header("Cookie", &cookie);
        }
        if let Some(person) = &self.on_behalf_of {
            request = request.header("X-On-Behalf-Of", person);
        }
        self.keep(
            request
                .call()
                .unwrap_or_else(|e| panic!("{url} answers: {e}")),
        )
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let url = format!("{}{path}", self.base);
        self.submit(&url, form)
    }

    /// A form sent to a whole address (see [`Visitor::fetch`]).
    pub fn submit(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(cookie) = self.cookie_header(url) {
            request = request.header("Cookie", &cookie);
        }
        self.keep(
            request
                .send(&body)
                .unwrap_or_else(|e| panic!("{url} answers: {e}")),
        )
    }

    /// The CSRF token of this session, from a page's forms.
    pub fn csrf(&mut self) -> String {
        self.get("/")
            .field("csrf")
            .expect("a signed-in page carries the CSRF token")
    }

    /// The cookies a browser sends to `url`: those whose `Path` holds its path.
    fn cookie_header(&self, url: &str) -> Option<String> {
        let path = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("/");
        let sent: Vec<String> = self
            .cookies
            .iter()
            .filter(|(k, _)| {
                self.paths
                    .get(*k)
                    .is_none_or(|p| path.starts_with(p.as_str()))
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        (!sent.is_empty()).then(|| sent.join("; "))
    }

    fn keep(&mut self, mut response: ureq::http::Response<ureq::Body>) -> Page {
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        for (name, value) in &headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.split(';').next().unwrap_or_default();
            let path = value.split(';').skip(1).find_map(|a| {
                let (key, v) = a.trim().split_once('=')?;
                key.eq_ignore_ascii_case("path").then(|| v.to_string())
            });
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(k);
                    self.paths.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                    match path {
                        Some(path) => self.paths.insert(k.to_string(), path),
                        None => self.paths.remove(k),
                    };
                }
            }
        }
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }
}

/// The example events of Deventer and Apeldoorn (`examples/events.jsonl`) up to `until`,
/// posted in time order with the clock moved to each, then the clock moved on to `until`.
pub fn seed(daemon: &Daemon, until: &str) {
    let moment = |text: &str| waakvlam_core::calendar::parse_timestamp(text).unwrap();
    let text = std::fs::read_to_string(super::root().join("examples/events.jsonl")).unwrap();
    let mut events: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| {
            matches!(e["gemeente"].as_str(), Some("GM0150" | "GM0200"))
                && moment(e["at"].as_str().unwrap()) <= moment(until)
        })
        .collect();
    events.sort_by_key(|e| moment(e["at"].as_str().unwrap()));
    daemon.advance("2026-01-01T00:00:00+01:00");
    for event in &events {
        daemon.advance(event["at"].as_str().unwrap());
        let (status, answer) = daemon.post_events(super::daemon::REGION, &event.to_string());
        assert_eq!(status, 200, "{answer}");
    }
    daemon.advance(until);
}
