//! A real PostgreSQL server for a test: Debian's `postgresql` package, initialised on a
//! temporary data directory, listening on a free loopback port, run as a user that is not
//! root (PostgreSQL refuses root), and stopped when the test drops it.
//!
//! Where the server is not installed the tests that need it say so loudly and pass, unless
//! `WAAKVLAM_POSTGRES_TESTS=required` (set by `.ci/run`, which installs it), when they fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The role the daemons connect as, with a password (the superuser `postgres` needs none on
/// loopback; the daemons' role must give one, as in production).
pub const ROLE: &str = "waakvlam";
pub const PASSWORD: &str = "test-wachtwoord-niet-geheim";

pub struct Postgres {
    child: Child,
    pub port: u16,
    /// The data directory and the socket directory.
    dir: super::TestDir,
    created: std::sync::atomic::AtomicUsize,
}

/// The server's programs (`initdb`, `postgres`): the newest of Debian's versions.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The user the server runs as, when the tests run as root: the package's `postgres`.
fn server_user() -> Option<(u32, u32)> {
    let euid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&euid.stdout).trim() != "0" {
        return None;
    }
    let line = std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find(|l| l.starts_with("postgres:"))?
        .to_string();
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    /// A fresh server, or `None` (said loudly) where PostgreSQL is not installed and the
    /// tests are not required.
    pub fn start() -> Option<Postgres> {
        Postgres::start_as(None)
    }

    /// A fresh server that takes the daemons' role over TLS only, with a certificate for
    /// 127.0.0.1 made for the test; with the file of that certificate, for `PGSSLROOTCERT`.
    pub fn start_with_tls() -> Option<(Postgres, PathBuf)> {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
            .expect("a certificate for 127.0.0.1");
        let server = Postgres::start_as(Some((made.cert.pem(), made.signing_key.serialize_pem())))?;
        let cert = server.dir.join("root.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        Some((server, cert))
    }

    /// `tls`: the server's certificate and key (PEM), and then TLS only for the daemons' role.
    fn start_as(tls: Option<(String, String)>) -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            let required = std::env::var("WAAKVLAM_POSTGRES_TESTS").is_ok_and(|v| v == "required");
            assert!(
                !required,
                "the PostgreSQL tests are required, but no server is installed under /usr/lib/postgresql (Debian's package postgresql)"
            );
            eprintln!();
            eprintln!("=== POSTGRESQL TESTS SKIPPED: no server under /usr/lib/postgresql ===");
            eprintln!("=== .ci/run installs Debian's postgresql and always runs them ===");
            eprintln!();
            return None;
        };
        let dir = super::tempdir();
        let data = dir.join("pgdata");
        let user = server_user();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&*dir, Some(uid), Some(gid)).unwrap();
        }
        let as_server = |program: &str| {
            let mut command = Command::new(bin.join(program));
            if let Some((uid, gid)) = user {
                use std::os::unix::process::CommandExt;
                command.uid(uid).gid(gid);
            }
            command.env("LC_ALL", "C.UTF-8").current_dir(&*dir);
            command
        };
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, "postgres-superuser\n").unwrap();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        let out = as_server("initdb")
            .args(["--no-sync", "--encoding=UTF8", "--username=postgres"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("-D")
            .arg(&data)
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The superuser on loopback without a password (the test's own administration); the
        // daemons' role only with its password, as a production server would ask.
        let role_line = if tls.is_some() { "hostssl" } else { "host" };
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "host all postgres 127.0.0.1/32 trust\n{role_line} all {ROLE} 127.0.0.1/32 scram-sha-256\n"
            ),
        )
        .unwrap();
        let mut tls_settings = Vec::new();
        if let Some((cert, key)) = &tls {
            for (name, text) in [("server.crt", cert), ("server.key", key)] {
                let file = data.join(name);
                std::fs::write(&file, text).unwrap();
                // PostgreSQL refuses a key others can read.
                std::fs::set_permissions(
                    &file,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .unwrap();
                if let Some((uid, gid)) = user {
                    std::os::unix::fs::chown(&file, Some(uid), Some(gid)).unwrap();
                }
            }
            tls_settings = vec!["-c", "ssl=on"];
        }
        let port = free_port();
        let child = as_server("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("port={port}")])
            .args(["-c", &format!("unix_socket_directories={}", dir.display())])
            // A test server: its data is thrown away, so it need not survive a power cut.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200"])
            .args(&tls_settings)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("server.log")).unwrap(),
            ))
            .spawn()
            .expect("postgres starts");
        let server = Postgres {
            child,
            port,
            dir,
            created: Default::default(),
        };
        server.wait_ready();
        server.admin(&format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"));
        Some(server)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if postgres::Client::connect(&self.admin_url("postgres"), postgres::NoTls).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn admin_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs one statement as the superuser.
    pub fn admin(&self, sql: &str) {
        let mut client = postgres::Client::connect(&self.admin_url("postgres"), postgres::NoTls)
            .expect("the superuser connects");
        client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// A new, empty database owned by the daemons' role; its URL (without the password,
    /// which the daemons read from `PGPASSWORD` or a `.pgpass`).
    pub fn database(&self) -> String {
        let n = self
            .created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("waakvlam_{n}");
        self.admin(&format!("CREATE DATABASE {name} OWNER {ROLE}"));
        format!("postgres://{ROLE}@127.0.0.1:{}/{name}", self.port)
    }

    /// Ends every connection of the daemons' role: a cut connection, as a network failure
    /// or a restarted server would make it.
    pub fn cut_connections(&self) {
        self.admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROLE}'"
        ));
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: an immediate shutdown; the data is thrown away with the directory.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
