//! The real daemon binary under test: started on a free loopback port with a temporary
//! SQLite file and a virtual clock, driven over HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub const DEVENTER: &str = "ontwikkel-deventer";
pub const APELDOORN: &str = "ontwikkel-apeldoorn";
/// A token of the tests for two gemeenten of two regions together (Deventer and Apeldoorn),
/// added to the shipped configuration by `Daemon::start_configured`.
pub const REGION: &str = "test-regio";
/// Its configuration line.
const REGION_LINE: &str = "    - { name: regio, sha256: f2efd36128d0630293fee798ed12fa734b9d8a20069bae1dc599b06e025d5f72, gemeenten: [GM0150, GM0200] }\n";
pub const READ_ONLY: &str = "ontwikkel-alleen-lezen";
pub const PRIVACY: &str = "ontwikkel-privacy";

/// A daemon under test, with its own directory; killed when dropped.
pub struct Daemon {
    child: Child,
    pub base: String,
    pub dir: super::TestDir,
    /// What the daemon wrote to standard error (its log), line by line.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_in(super::tempdir())
    }

    /// Starts (or restarts) on the data in `dir`, on a free loopback port.
    pub fn start_in(dir: super::TestDir) -> Daemon {
        Daemon::start_configured(dir, |config| config)
    }

    /// Starts with the shipped configuration changed by `edit` (after the test settings).
    pub fn start_configured(dir: super::TestDir, edit: impl FnOnce(String) -> String) -> Daemon {
        Daemon::start_with_env(dir, edit, &[])
    }

    /// Starts on a PostgreSQL database (several daemons may share it), with the password in
    /// the environment as production would give it.
    pub fn start_on_postgres(dir: super::TestDir, url: &str) -> Daemon {
        let url = url.to_string();
        Daemon::start_with_env(
            dir,
            move |config| {
                super::replace_once(
                    &config,
                    "database: data/waakvlam.db",
                    &format!("database: {url}"),
                )
            },
            &[("PGPASSWORD", super::postgres::PASSWORD)],
        )
    }

    /// Starts with the shipped configuration changed by `edit` and these environment
    /// variables set.
    pub fn start_with_env(
        dir: super::TestDir,
        edit: impl FnOnce(String) -> String,
        env: &[(&str, &str)],
    ) -> Daemon {
        super::ensure_plugins();
        let shipped = std::fs::read_to_string(super::root().join("config/waakvlam.yaml")).unwrap();
        let workflows = super::root().join("workflows");
        let mut config = shipped;
        for (from, to) in [
            ("listen: 127.0.0.1:8080", "listen: 127.0.0.1:0".to_string()),
            (
                "database: ../data/waakvlam.db",
                "database: data/waakvlam.db".to_string(),
            ),
            (
                "notifications_log: ../data/notifications.jsonl",
                "notifications_log: data/notifications.jsonl".to_string(),
            ),
            (
                "workflows: ../workflows",
                format!("workflows: {}", workflows.display()),
            ),
            ("clock: system", "clock: virtual".to_string()),
            (
                "inbox: ../data/ijw-inbox",
                "inbox: data/ijw-inbox\n    poll_seconds: 1".to_string(),
            ),
            ("  tokens:\n", format!("  tokens:\n{REGION_LINE}")),
        ] {
            config = super::replace_once(&config, from, &to);
        }
        let config = edit(config);
        std::fs::write(dir.join("waakvlam.yaml"), config).unwrap();
        // A restart keeps the holiday file the test may have changed.
        if !dir.join("feestdagen.yaml").exists() {
            std::fs::copy(
                super::root().join("config/feestdagen.yaml"),
                dir.join("feestdagen.yaml"),
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        for entry in std::fs::read_dir(super::root().join("config/plugins")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join("plugins").join(path.file_name().unwrap())).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_waakvlam"))
            .envs(env.iter().copied())
            .args(["run", "--config"])
            .arg(dir.join("waakvlam.yaml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the daemon starts");
        // A line on stderr says where it listens (after the plugins' lines).
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut early = Vec::new();
        let address = loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "the daemon stopped: {early:?}"
            );
            let parsed: Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("not a log line: {line} after {early:?}"));
            early.push(line.trim_end().to_string());
            if let Some(address) = parsed["address"].as_str() {
                break address.to_string();
            }
        };
        // Keep reading stderr so the daemon never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(early));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Daemon {
            child,
            base: format!("http://{address}"),
            dir,
            log,
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let mut response = match (method, body) {
            ("GET", _) => {
                let mut request = agent.get(&url);
                if let Some(token) = token {
                    request = request.header("Authorization", &format!("Bearer {token}"));
                }
                request.call()
            }
            (_, body) => {
                let mut request = agent.post(&url).header("Content-Type", "application/json");
                if let Some(token) = token {
                    request = request.header("Authorization", &format!("Bearer {token}"));
                }
                request.send(body.unwrap_or(""))
            }
        }
        .expect("the daemon answers");
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `POST /v1/ijw` with an XML body.
    pub fn post_ijw(&self, token: &str, xml: &str) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&format!("{}/v1/ijw", self.base))
            .header("Content-Type", "application/xml")
            .header("Authorization", &format!("Bearer {token}"))
            .send(xml)
            .expect("the daemon answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The daemon's raw log lines so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn post_events(&self, token: &str, body: &str) -> (u16, Value) {
        self.request("POST", "/v1/events", Some(token), Some(body))
    }

    pub fn advance(&self, to: &str) {
        let (status, answer) = self.request(
            "POST",
            "/v1/clock",
            Some(DEVENTER),
            Some(&json!({ "now": to }).to_string()),
        );
        assert_eq!(status, 200, "{answer}");
    }

    /// The notifications the log channel delivered, in order.
    pub fn delivered(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("data/notifications.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The daemon's log lines so far, parsed.
    pub fn log(&self) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn signal(&self, signal: &str) {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
    }

    pub fn stop(mut self) -> super::TestDir {
        // SIGTERM: a graceful shutdown.
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the daemon exits cleanly on SIGTERM: {status}"
        );
        self.dir.clone()
    }

    /// The daemon's process id (to pause it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill_hard(mut self) -> super::TestDir {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
        self.dir.clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (in real time, at most `seconds`) until `done` holds; the daemon's workers run on
/// their own. Panics with `what` when it never does.
pub fn wait_for(seconds: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited {seconds} s for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
