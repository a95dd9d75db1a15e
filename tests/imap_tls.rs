//! The IMAP poller's TLS modes (`tls`, `starttls`, `none`) against a real
//! Dovecot with TLS (tests/imap/dovecot.rs, `Dovecot::start_tls`), with a
//! throwaway CA and a server certificate for localhost / 127.0.0.1 made by
//! the `openssl` CLI; and the validation of the `[[imap]]` TLS keys.

mod common;
#[path = "imap/dovecot.rs"]
mod dovecot;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use dovecot::Dovecot;
use parley::config::{Config, ImapConfig, ImapTls};
use parley::imap::{ImapError, Strikes, poll_once};

const USER: &str = "seller";
const PASSWORD: &str = "secret-1";

/// A CA and a server certificate signed by it, in a temporary folder.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// `ca.pem` (CA:TRUE, self-signed), `cert.pem` and `key.pem` (the
    /// leaf: CA:FALSE, serverAuth, DNS:localhost and IP:127.0.0.1).
    fn new() -> Pki {
        Pki::for_names("DNS:localhost, IP:127.0.0.1")
    }

    /// [`Pki::new`] with the leaf's subjectAltName `names`.
    fn for_names(names: &str) -> Pki {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let cnf = dir.path().join("openssl.cnf");
        std::fs::write(
            &cnf,
            format!(
                "[req]
distinguished_name = dn
prompt = no
[dn]
CN = parley test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {names}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"
            ),
        )
        .expect("openssl.cnf");
        let p = |name: &str| dir.path().join(name);
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            Command::new("openssl")
                .args(["req", "-x509", "-config"])
                .arg(&cnf)
                .args(["-extensions", "ca", "-nodes", "-days", "2"])
                .args(ec)
                .arg("-keyout")
                .arg(p("ca.key"))
                .arg("-out")
                .arg(p("ca.pem")),
        );
        openssl(
            Command::new("openssl")
                .args(["req", "-new", "-config"])
                .arg(&cnf)
                .args(["-subj", "/CN=localhost", "-nodes"])
                .args(ec)
                .arg("-keyout")
                .arg(p("key.pem"))
                .arg("-out")
                .arg(p("leaf.csr")),
        );
        openssl(
            Command::new("openssl")
                .args(["x509", "-req", "-in"])
                .arg(p("leaf.csr"))
                .arg("-CA")
                .arg(p("ca.pem"))
                .arg("-CAkey")
                .arg(p("ca.key"))
                .args(["-set_serial", "2", "-days", "2", "-extfile"])
                .arg(&cnf)
                .args(["-extensions", "leaf", "-out"])
                .arg(p("cert.pem")),
        );
        Pki { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// A Dovecot serving this certificate.
    fn dovecot(&self) -> Dovecot {
        Dovecot::start_tls(&[(USER, PASSWORD)], &self.cert(), &self.key())
    }
}

fn openssl(command: &mut Command) {
    let out = command
        .output()
        .expect("openssl runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A mailbox entry as an admin writes it: `host`, the user, `extra` lines.
fn mailbox(host: &str, extra: &str) -> ImapConfig {
    let text = format!(
        "host = \"{host}\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\nqueue = \"desk\"\n{extra}"
    );
    toml::from_str(&text).expect("a valid [[imap]] entry")
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: buyer{n}@buyer.example\r\nTo: seller@shop.example\r\nSubject: Question {n}\r\n\
         Message-ID: <imap-tls-{n}@buyer.example>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\n\
         Is lot {n} still available?\r\n"
    )
    .into_bytes()
}

/// Appends two messages, polls with `config`, checks both were taken, and
/// that the poller's login came `over_tls` (or not).
async fn takes_mail(d: &Dovecot, config: &ImapConfig, over_tls: bool) {
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    config_is_valid(&env, config);
    let uids = [
        d.append(USER, PASSWORD, "INBOX", &message(1)),
        d.append(USER, PASSWORD, "INBOX", &message(2)),
    ];
    let pass = poll_once(config, &env.intake, &mut Strikes::default())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", config.key(), d.log()));
    assert_eq!((pass.taken, pass.quarantined), (2, 0));
    assert_eq!(env.ticket_count().await, 2);
    for uid in uids {
        let flags = d.flags(USER, PASSWORD, "INBOX", uid);
        assert!(flags.iter().any(|f| f == "\\Seen"), "{uid}: {flags:?}");
    } // Dovecot logs how each login came: the poller's is the only one over
    // TLS (the harness's own sessions are plain).
    let log = d.log();
    let tls_logins = log
        .lines()
        .filter(|l| l.contains("Login: user=<seller>") && l.contains(", TLS,"))
        .count();
    assert_eq!(tls_logins, usize::from(over_tls), "{log}");
}

/// `config` passes `Config::validate` as the test config's only mailbox.
fn config_is_valid(env: &TestEnv, config: &ImapConfig) {
    with_mailbox(env, config.clone())
        .validate()
        .unwrap_or_else(|e| panic!("{}: {e}", config.key()));
}

fn with_mailbox(env: &TestEnv, config: ImapConfig) -> Config {
    let mut full = env.config.clone();
    full.imap = vec![config];
    full
}

#[tokio::test]
async fn tls_from_the_first_byte_with_a_private_ca() {
    let pki = Pki::new();
    let d = pki.dovecot();
    let config = mailbox(
        "localhost",
        &format!(
            "tls = \"tls\"\nport = {}\ntls_ca_file = \"{}\"\n",
            d.tls_port(),
            pki.ca().display()
        ),
    );
    takes_mail(&d, &config, true).await;
}

#[tokio::test]
async fn tls_is_the_default_mode() {
    let pki = Pki::new();
    let d = pki.dovecot();
    // No `tls` key: TLS from the first byte, here by IP address (the
    // certificate names 127.0.0.1 too).
    let config = mailbox(
        "127.0.0.1",
        &format!(
            "port = {}\ntls_ca_file = \"{}\"\n",
            d.tls_port(),
            pki.ca().display()
        ),
    );
    assert_eq!(config.tls, ImapTls::Tls);
    takes_mail(&d, &config, true).await;
}

#[tokio::test]
async fn starttls_on_the_plain_port() {
    let pki = Pki::new();
    let d = pki.dovecot();
    let config = mailbox(
        "localhost",
        &format!(
            "tls = \"starttls\"\nport = {}\ntls_ca_file = \"{}\"\n",
            d.port(),
            pki.ca().display()
        ),
    );
    takes_mail(&d, &config, true).await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_naming_the_host() {
    let pki = Pki::new();
    let d = pki.dovecot();
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    d.append(USER, PASSWORD, "INBOX", &message(1));
    // The system's roots only: the private CA is not among them.
    for (mode, port) in [("tls", d.tls_port()), ("starttls", d.port())] {
        let config = mailbox("localhost", &format!("tls = \"{mode}\"\nport = {port}\n"));
        config_is_valid(&env, &config);
        let error = poll_once(&config, &env.intake, &mut Strikes::default())
            .await
            .expect_err("an unknown CA must be refused");
        assert!(
            matches!(error, ImapError::Certificate { ref host, .. } if host == "localhost"),
            "{mode}: {error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("certificate"), "{mode}: {text}");
        assert!(text.contains("localhost"), "{mode}: {text}");
        assert!(text.contains("UnknownIssuer"), "{mode}: {text}");
    }
    // Nothing was taken nor flagged.
    assert_eq!(env.ticket_count().await, 0);
    let uids = d.uids(USER, PASSWORD, "INBOX");
    assert_eq!(uids.len(), 1, "{}", d.log());
    assert!(d.flags(USER, PASSWORD, "INBOX", uids[0]).is_empty());
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    // Signed by the trusted CA, but for another host.
    let pki = Pki::for_names("DNS:imap.other.example");
    let d = pki.dovecot();
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let config = mailbox(
        "localhost",
        &format!(
            "port = {}\ntls_ca_file = \"{}\"\n",
            d.tls_port(),
            pki.ca().display()
        ),
    );
    let error = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .expect_err("a certificate for another name must be refused");
    assert!(
        matches!(error, ImapError::Certificate { ref host, .. } if host == "localhost"),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("not valid for name"), "{text}");
}

#[tokio::test]
async fn none_works_on_loopback() {
    let pki = Pki::new();
    let d = pki.dovecot();
    let config = mailbox(
        "localhost",
        &format!("tls = \"none\"\nport = {}\n", d.port()),
    );
    takes_mail(&d, &config, false).await;
}

#[tokio::test]
async fn none_is_refused_for_a_host_that_is_not_loopback() {
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    for host in [
        "imap.example.com",
        "192.0.2.7",
        "2001:db8::1",
        "localhost.example.com",
    ] {
        let config = mailbox(host, "tls = \"none\"\n");
        let e = with_mailbox(&env, config).validate().unwrap_err();
        assert_eq!(e.key, "imap[0].tls", "{host}: {e}");
        assert!(e.message.contains("loopback"), "{host}: {e}");
    }
    for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.9.8.7", "::1"] {
        let config = mailbox(host, "tls = \"none\"\n");
        with_mailbox(&env, config)
            .validate()
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    // TLS and STARTTLS are fine anywhere.
    for mode in ["tls", "starttls"] {
        let config = mailbox("imap.example.com", &format!("tls = \"{mode}\"\n"));
        with_mailbox(&env, config)
            .validate()
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
    }
}

#[tokio::test]
async fn the_port_follows_the_mode_unless_set() {
    let cases = [
        ("", 993),
        ("tls = \"tls\"\n", 993),
        ("tls = \"starttls\"\n", 143),
        ("tls = \"none\"\n", 143),
        ("tls = \"starttls\"\nport = 1143\n", 1143),
        ("port = 143\n", 143),
    ];
    for (extra, port) in cases {
        let config = mailbox("localhost", extra);
        assert_eq!(config.port(), port, "{extra:?}");
        assert_eq!(
            config.key(),
            format!("{USER}@localhost:{port}/INBOX"),
            "{extra:?}"
        );
    }
    // An explicit port equal to the mode's default is the same mailbox.
    assert_eq!(
        mailbox("localhost", "").key(),
        mailbox("localhost", "port = 993\n").key()
    );
    // As `parley check` prints it: an unset port stays unset.
    for extra in ["", "tls = \"none\"\nport = 1143\n"] {
        let config = mailbox("localhost", extra);
        let text = toml::to_string(&config).expect("serializes");
        let back: ImapConfig = toml::from_str(&text).expect("reads back");
        assert_eq!(
            (back.tls, back.port, back.key()),
            (config.tls, config.port, config.key()),
            "{text}"
        );
    }
    // Unknown modes are refused by serde.
    let text =
        format!("host = \"localhost\"\nusername = \"{USER}\"\npassword = \"x\"\ntls = \"ssl\"\n");
    assert!(toml::from_str::<ImapConfig>(&text).is_err());
}

#[tokio::test]
async fn a_bad_tls_ca_file_is_refused_at_validation() {
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for path in [&missing, &empty, &garbage] {
        let config = mailbox(
            "imap.example.com",
            &format!("tls_ca_file = \"{}\"\n", path.display()),
        );
        let e = with_mailbox(&env, config).validate().unwrap_err();
        assert_eq!(e.key, "imap[0].tls_ca_file", "{}: {e}", path.display());
        assert!(
            e.message.contains(&path.display().to_string()),
            "{}: {e}",
            path.display()
        );
    }
    // A good one passes.
    let pki = Pki::new();
    let config = mailbox(
        "imap.example.com",
        &format!("tls_ca_file = \"{}\"\n", pki.ca().display()),
    );
    with_mailbox(&env, config).validate().unwrap();
}

#[tokio::test]
async fn tls_against_a_plain_port_says_so() {
    let d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    // No `tls` key: TLS from the first byte, but the port speaks plain IMAP.
    let config = mailbox("localhost", &format!("port = {}\n", d.port()));
    let error = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .expect_err("a plain server does not do TLS");
    assert!(
        matches!(error, ImapError::Tls { ref host, .. } if host == "localhost"),
        "{error:?}"
    );
    assert!(error.to_string().contains("starttls"), "{error}");
}
