//! Connecting to PostgreSQL as `daemon.database` asks: the URL names server, database and
//! role; the password comes from `PGPASSWORD` or a `.pgpass` file (as libpq reads them), never
//! from the URL, which sits in a configuration file and in process listings; TLS when the URL
//! asks for it (`sslmode=require`), with the server's certificate verified.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{Host, SslMode};

use crate::store::StoreError;

/// A PostgreSQL database as `daemon.database` names it, checked. Its `Debug` leaves out any
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    url: String,
    /// A password given by the program itself (the tests); otherwise the environment's.
    password: Option<String>,
}

impl PgUrl {
    /// The URL, checked: it parses, and carries no password.
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        let config = postgres::Config::from_str(url)
            .map_err(|e| format!("'{}' is not a PostgreSQL URL: {e}", redacted(url)))?;
        if config.get_password().is_some() {
            return Err(format!(
                "'{}' carries a password: give it in the environment variable PGPASSWORD or a .pgpass file instead (a configuration file and a process listing are read by others)",
                redacted(url)
            ));
        }
        if config.get_user().is_none() {
            return Err(format!(
                "'{url}' names no role: write postgres://ROLE@HOST/DATABASE"
            ));
        }
        Ok(PgUrl {
            url: url.to_string(),
            password: None,
        })
    }

    /// The same database with a password the program has from elsewhere (the tests' own
    /// server); a daemon reads it from `PGPASSWORD` or a `.pgpass` file.
    pub fn with_password(self, password: &str) -> PgUrl {
        PgUrl {
            password: Some(password.to_string()),
            ..self
        }
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Whether the URL asks for TLS (`sslmode=require`; `prefer` too, which then verifies).
    fn tls(&self) -> bool {
        self.url.contains("sslmode=") && !self.url.contains("sslmode=disable")
    }

    /// A new connection, with the password looked up and TLS as asked.
    pub fn connect(&self, application: &str) -> Result<postgres::Client, StoreError> {
        let mut config =
            postgres::Config::from_str(&self.url).map_err(|source| StoreError::Postgres {
                doing: "reading the database URL",
                source,
            })?;
        config.application_name(application);
        // A server that does not answer, or a link that went dead, is noticed in seconds: a
        // leader must learn it lost the database before its lease runs out.
        config
            .connect_timeout(Duration::from_secs(5))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(5));
        if let Some(password) = self.password.clone().or_else(|| password_for(&config)) {
            config.password(password);
        }
        let (connected, doing) = if self.tls() {
            (
                config.connect(tls_connector()?),
                "connecting to PostgreSQL over TLS (its certificate verified against the system's roots and those of the file PGSSLROOTCERT names)",
            )
        } else {
            config.ssl_mode(SslMode::Disable);
            (config.connect(postgres::NoTls), "connecting to PostgreSQL")
        };
        connected.map_err(|source| StoreError::Postgres { doing, source })
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUrl")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// A URL with any password in it blanked, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The password for a connection: `PGPASSWORD`, else the first matching line of the
/// `.pgpass` file (`PGPASSFILE`, else `~/.pgpass`), as libpq finds it.
fn password_for(config: &postgres::Config) -> Option<String> {
    if let Ok(password) = std::env::var("PGPASSWORD") {
        return Some(password);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass")))?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().or(config.get_user()).unwrap_or("");
    pgpass_lookup(
        &file,
        &host,
        &port.to_string(),
        database,
        config.get_user().unwrap_or(""),
    )
}

/// The password of the first line of a `.pgpass` file that matches; `*` matches anything,
/// `\:` and `\\` are a colon and a backslash. Like libpq, a file others can read is ignored
/// (with a warning): it would leak the password.
pub fn pgpass_lookup(
    file: &Path,
    host: &str,
    port: &str,
    database: &str,
    user: &str,
) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(file).ok()?;
    if metadata.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            file = %file.display(),
            "the password file can be read by others and is ignored: chmod 600 it"
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .find_map(|line| {
            let fields = pgpass_fields(line);
            let [h, p, d, u, password] = fields.as_slice() else {
                return None;
            };
            let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
            (matches(h, host) && matches(p, port) && matches(d, database) && matches(u, user))
                .then(|| password.clone())
        })
}

/// A `.pgpass` line's fields, unescaped.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().expect("never empty").extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

/// TLS with the server's certificate verified against the system's roots, and the
/// certificate file `PGSSLROOTCERT` names (a private CA, as libpq's `sslrootcert`).
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let failed = |what: String| StoreError::Io {
        doing: "setting up TLS for PostgreSQL",
        source: std::io::Error::other(what),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    if let Some(file) = std::env::var_os("PGSSLROOTCERT") {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(&file)
            .map_err(|e| failed(format!("{}: {e}", Path::new(&file).display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| failed(format!("{}: {e}", Path::new(&file).display())))?;
            roots
                .add(cert)
                .map_err(|e| failed(format!("{}: {e}", Path::new(&file).display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_password_is_refused_and_never_repeated() {
        let err = PgUrl::parse("postgres://waakvlam:geheim@db.example/waakvlam").unwrap_err();
        assert!(err.contains("PGPASSWORD"), "{err}");
        assert!(!err.contains("geheim"), "{err}");
        assert!(PgUrl::parse("postgres://db.example/waakvlam").is_err());
        assert!(PgUrl::parse("postgres://waakvlam@db.example/waakvlam?sslmode=require").is_ok());
    }

    #[test]
    fn pgpass_lines_match_as_libpq_matches_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:waakvlam:wrong\n127.0.0.1:*:waak\\:vlam:waakvlam:pa\\:ss\n*:*:*:*:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let find = |host, db| pgpass_lookup(&file, host, "5433", db, "waakvlam");
        assert_eq!(find("127.0.0.1", "waak:vlam").as_deref(), Some("pa:ss"));
        assert_eq!(find("127.0.0.1", "other").as_deref(), Some("fallback"));
        // Readable by others: ignored, as libpq ignores it.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find("127.0.0.1", "waak:vlam"), None);
    }
}
