//! A webhook receiver for the tests: a small HTTP/1.1 server on
//! 127.0.0.1 (a thread, one request per connection) that answers each
//! POST with the next status of its script (then 200) and records every
//! request: its headers, its body, what it answered. It can go down (the
//! port then refuses connections) and come back on the same port, and
//! serve HTTPS with a certificate of a throwaway CA ([`pki`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, ServerConnection, StreamOwned};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The status answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer, first first; then 200.
    script: Mutex<Vec<u16>>,
    stop: AtomicBool,
}

/// The receiver; stopped when dropped.
pub struct Receiver {
    pub port: u16,
    /// Serving HTTPS with this.
    tls: Option<Arc<ServerConfig>>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// A receiver on a free port answering `script`, then 200.
    pub fn start(script: &[u16]) -> Receiver {
        Receiver::on(script, None)
    }

    /// [`Receiver::start`] over HTTPS with the PEM certificate chain
    /// `cert` and key `key`.
    pub fn start_tls(script: &[u16], cert: &Path, key: &Path) -> Receiver {
        let chain = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Receiver::on(script, Some(Arc::new(config)))
    }

    fn on(script: &[u16], tls: Option<Arc<ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        *shared.script.lock().unwrap() = script.to_vec();
        let mut receiver = Receiver {
            port,
            tls,
            shared,
            thread: None,
        };
        receiver.serve(listener);
        receiver
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/hooks/parley", self.port)
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        self.shared.stop.store(false, Ordering::SeqCst);
        let shared = self.shared.clone();
        let tls = self.tls.clone();
        self.thread = Some(std::thread::spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = connection(stream, tls.as_ref(), &shared);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return,
                }
            }
        }));
    }

    /// Closes the port: connections are refused until [`Receiver::up`].
    pub fn down(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    /// Listens on the same port again.
    pub fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("the port again");
        self.serve(listener);
    }

    /// Answers the next requests with `statuses` (then 200 again).
    pub fn script(&self, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .extend_from_slice(statuses);
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests received, up to `wait`;
    /// them.
    pub fn wait_for(&self, wait: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + wait;
        loop {
            let now = self.received();
            if done(&now) {
                return now;
            }
            if Instant::now() > deadline {
                panic!("the receiver did not get what was awaited within {wait:?}: {now:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

/// Reads one request from `stream` and answers it by the script.
fn answer(mut stream: impl Read + Write, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    drop(reader);
    let status = {
        let mut script = shared.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    };
    shared.received.lock().unwrap().push(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    write!(
        stream,
        "HTTP/1.1 {status} Status\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    )?;
    stream.flush()
}

/// Serves one connection, over TLS when `tls` is given.
fn connection(
    stream: TcpStream,
    tls: Option<&Arc<ServerConfig>>,
    shared: &Shared,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    match tls {
        None => answer(stream, shared),
        Some(config) => {
            let session = ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
            let mut tls = StreamOwned::new(session, stream);
            answer(&mut tls, shared)?;
            tls.conn.send_close_notify();
            tls.flush()
        }
    }
}

/// A throwaway CA and a server certificate it signed for `localhost` and
/// 127.0.0.1 (`openssl`): (the folder, ca.pem, cert.pem, key.pem).
pub fn pki() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let p = |name: &str| dir.path().join(name);
    std::fs::write(
        p("openssl.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = parley test CA\n\
         [ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n\
         subjectKeyIdentifier = hash\n[leaf]\nbasicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\nsubjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid\n",
    )
    .unwrap();
    let cnf = p("openssl.cnf");
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
    for args in [
        format!(
            "req -x509 -config {} -extensions ca -nodes -days 2 {ec} -keyout {} -out {}",
            cnf.display(),
            p("ca.key").display(),
            p("ca.pem").display()
        ),
        format!(
            "req -new -config {} -subj /CN=localhost -nodes {ec} -keyout {} -out {}",
            cnf.display(),
            p("key.pem").display(),
            p("leaf.csr").display()
        ),
        format!(
            "x509 -req -in {} -CA {} -CAkey {} -set_serial 2 -days 2 -extfile {} -extensions leaf -out {}",
            p("leaf.csr").display(),
            p("ca.pem").display(),
            p("ca.key").display(),
            cnf.display(),
            p("cert.pem").display()
        ),
    ] {
        let out = std::process::Command::new("openssl")
            .args(args.split_whitespace())
            .output()
            .expect("openssl runs (scripts/test installs it)");
        assert!(
            out.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (ca, cert, key) = (p("ca.pem"), p("cert.pem"), p("key.pem"));
    (dir, ca, cert, key)
}
