//! A real SMTP server on loopback, written for the tests: it speaks ESMTP, offers STARTTLS
//! with a certificate made for the test (rcgen), refuses mail before the upgrade, and keeps
//! every message it receives. Nothing outside the Rust toolchain is needed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::ServerConnection;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct SmtpServer {
    pub port: u16,
    /// The certificate's PEM file, for the daemon's `ca_file`.
    pub cert: PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpServer {
    /// Listens on a free loopback port; the certificate goes into `dir`.
    pub fn start(dir: &Path) -> SmtpServer {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
            .expect("a certificate for 127.0.0.1");
        let cert = dir.join("smtp-cert.pem");
        std::fs::write(&cert, made.cert.pem()).expect("the certificate is written");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(made.cert.der().to_vec())], key)
            .expect("a TLS configuration");
        let tls = Arc::new(tls);
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (tls, kept) = (tls.clone(), kept.clone());
                std::thread::spawn(move || {
                    // A session that breaks off (a client's time-out) is simply over.
                    let _ = session(stream, tls, kept);
                });
            }
        });
        SmtpServer {
            port,
            cert,
            messages,
        }
    }

    /// The messages received so far, with plain line feeds.
    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

/// A connection before or after STARTTLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<ServerConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

fn reply(reader: &mut BufReader<Conn>, text: &str) -> std::io::Result<()> {
    let conn = reader.get_mut();
    conn.write_all(text.as_bytes())?;
    conn.write_all(b"\r\n")?;
    conn.flush()
}

fn session(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    kept: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(Conn::Plain(stream));
    let mut secure = false;
    // The envelope of the message being sent: kept with it as X-MailFrom and X-RcptTo
    // headers, so that a test can see where it went.
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    reply(&mut reader, "220 waakvlam-test ESMTP")?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let verb = command.split_whitespace().next().unwrap_or_default();
        match verb {
            "EHLO" if secure => reply(&mut reader, "250-waakvlam-test\r\n250 8BITMIME")?,
            "EHLO" => reply(
                &mut reader,
                "250-waakvlam-test\r\n250-STARTTLS\r\n250 8BITMIME",
            )?,
            "HELO" => reply(&mut reader, "250 waakvlam-test")?,
            "STARTTLS" if !secure => {
                reply(&mut reader, "220 ready to start TLS")?;
                let Conn::Plain(tcp) = reader.into_inner() else {
                    unreachable!("only a plain connection upgrades")
                };
                let server = ServerConnection::new(tls.clone()).map_err(std::io::Error::other)?;
                reader = BufReader::new(Conn::Tls(Box::new(rustls::StreamOwned::new(server, tcp))));
                secure = true;
            }
            "MAIL" | "RCPT" | "DATA" if !secure => {
                reply(&mut reader, "530 must issue a STARTTLS command first")?
            }
            "MAIL" => {
                from = address(&line);
                to.clear();
                reply(&mut reader, "250 ok")?
            }
            "RCPT" => {
                to.push(address(&line));
                reply(&mut reader, "250 ok")?
            }
            "RSET" | "NOOP" => reply(&mut reader, "250 ok")?,
            "DATA" => {
                reply(&mut reader, "354 end with <CRLF>.<CRLF>")?;
                let mut message = format!("X-MailFrom: {from}\nX-RcptTo: {}\n", to.join(", "));
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    let line = line.trim_end_matches(['\r', '\n']);
                    if line == "." {
                        break;
                    }
                    // Dot-stuffing: a line that starts with a dot was sent with one more.
                    message.push_str(line.strip_prefix('.').unwrap_or(line));
                    message.push('\n');
                }
                kept.lock().unwrap().push(message);
                reply(&mut reader, "250 accepted")?;
            }
            "QUIT" => {
                reply(&mut reader, "221 bye")?;
                return Ok(());
            }
            _ => reply(&mut reader, "502 not implemented")?,
        }
    }
}

/// The address in `MAIL FROM:<a>` or `RCPT TO:<a>`.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or_else(String::new, |(address, _)| address.to_string())
}
