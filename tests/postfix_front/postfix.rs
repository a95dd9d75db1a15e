//! A throwaway Debian Postfix in front of parley: its own config folder,
//! queue and log in a temporary folder, SMTP on a free loopback port,
//! stopped when dropped (`postfix stop`, else SIGTERM to its master).
//! No /etc/postfix, syslog or postmap is needed, and instances run side
//! by side. `postfix start` reports a fatal error only in the maillog
//! (stderr is not a terminal): a failed start shows it.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::free_port;

/// The binaries the test drives; the test fails, never skips, without them.
const POSTFIX: &str = "/usr/sbin/postfix";
const POSTQUEUE: &str = "/usr/sbin/postqueue";
const MASTER: &str = "/usr/lib/postfix/sbin/master";

/// The statuses after which Postfix tries no more.
const FINAL: [&str; 2] = [" status=sent ", " status=bounced "];

/// How long an outcome may take to show in the log or the queue.
const PATIENCE: Duration = Duration::from_secs(30);

/// One running Postfix instance.
pub struct Postfix {
    /// etc/ (main.cf, master.cf, transport), queue/, data/, maillog.
    dir: tempfile::TempDir,
    /// Where its smtpd listens (127.0.0.1).
    pub smtp_port: u16,
}

impl Postfix {
    /// Starts Postfix relaying each domain of `routes` to its transport
    /// (`lmtp:inet:127.0.0.1:PORT` or `parley:`), with `services` appended
    /// to master.cf (the `parley` pipe). Another port when the one picked
    /// was taken meanwhile (Postfix then fails after ~5 s: "Address
    /// already in use").
    pub fn start(routes: &[(&str, String)], services: &str) -> Postfix {
        assert!(
            Path::new(POSTFIX).exists(),
            "{POSTFIX} is missing: install Debian's postfix package (scripts/test does)"
        );
        for attempt in 1..=3 {
            let dir = tempfile::tempdir().expect("a temporary folder");
            // Users postfix and nobody must traverse it (a 0700 folder:
            // "open lock file …/data/master.lock: Permission denied").
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let postfix = Postfix {
                dir,
                smtp_port: free_port(),
            };
            postfix.write_config(routes, services);
            let out = postfix.postfix(&["start"]);
            if out.status.success() {
                return postfix;
            }
            let log = postfix.maillog();
            if attempt < 3 && log.contains("Address already in use") {
                continue;
            }
            panic!(
                "postfix start failed ({}): {}\nmaillog:\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        unreachable!("the third attempt returns or panics")
    }

    fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    fn write_config(&self, routes: &[(&str, String)], services: &str) {
        let dir = self.dir.path().display();
        let etc = self.etc();
        // Not data/: `postfix start` makes it, owned by postfix (one made
        // by root fails the start).
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(self.dir.path().join("queue")).unwrap();
        let domains: Vec<&str> = routes.iter().map(|(domain, _)| *domain).collect();
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {dir}/queue\n\
             data_directory = {dir}/data\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             myhostname = mx.example.test\n\
             mydestination =\n\
             local_recipient_maps =\n\
             local_transport = error:5.1.1 local delivery disabled\n\
             # Bounces to the test's senders end here: nothing leaves the machine.\n\
             default_transport = error:5.4.4 no outbound mail in tests\n\
             alias_maps =\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             mynetworks = 127.0.0.0/8\n\
             relay_domains = {}\n\
             transport_maps = texthash:{dir}/etc/transport\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
             smtpd_peername_lookup = no\n\
             maillog_file = {dir}/maillog\n\
             maillog_file_prefixes = {dir}\n\
             queue_run_delay = 1s\n\
             minimal_backoff_time = 1s\n\
             maximal_backoff_time = 2s\n\
             transport_retry_time = 1s\n\
             parley_destination_recipient_limit = 1\n",
            domains.join(", ")
        );
        let transport: String = routes
            .iter()
            .map(|(domain, to)| format!("{domain} {to}\n"))
            .collect();
        // chroot `n` everywhere: Debian's stock master.cf chroots.
        let master_cf = format!(
            "127.0.0.1:{} inet n - n - - smtpd\n\
             pickup    unix  n - n 60    1 pickup\n\
             cleanup   unix  n - n -     0 cleanup\n\
             qmgr      unix  n - n 300   1 qmgr\n\
             rewrite   unix  - - n -     - trivial-rewrite\n\
             bounce    unix  - - n -     0 bounce\n\
             defer     unix  - - n -     0 bounce\n\
             trace     unix  - - n -     0 bounce\n\
             verify    unix  - - n -     1 verify\n\
             flush     unix  n - n 1000? 0 flush\n\
             proxymap  unix  - - n -     - proxymap\n\
             showq     unix  n - n -     - showq\n\
             error     unix  - - n -     - error\n\
             retry     unix  - - n -     - error\n\
             discard   unix  - - n -     - discard\n\
             lmtp      unix  - - n -     - lmtp\n\
             smtp      unix  - - n -     - smtp\n\
             anvil     unix  - - n -     1 anvil\n\
             scache    unix  - - n -     1 scache\n\
             postlog   unix-dgram n - n - 1 postlogd\n\
             {services}",
            self.smtp_port
        );
        std::fs::write(etc.join("main.cf"), main_cf).unwrap();
        std::fs::write(etc.join("master.cf"), master_cf).unwrap();
        std::fs::write(etc.join("transport"), transport).unwrap();
        // A main.cf younger than ~2 s makes `postfix` wait for it to age
        // (a start took 2 s instead of 0.25).
        let status = Command::new("touch")
            .args(["-d", "-1 min"])
            .arg(etc.join("main.cf"))
            .arg(etc.join("master.cf"))
            .arg(etc.join("transport"))
            .status()
            .expect("touch runs");
        assert!(status.success());
    }

    /// `postfix -c ETC ARGS`.
    fn postfix(&self, args: &[&str]) -> Output {
        Command::new(POSTFIX)
            .arg("-c")
            .arg(self.etc())
            .args(args)
            .output()
            .expect("postfix runs")
    }

    /// `postqueue -c ETC ARGS`, expected to succeed; its stdout.
    fn postqueue(&self, args: &[&str]) -> String {
        let out = Command::new(POSTQUEUE)
            .arg("-c")
            .arg(self.etc())
            .args(args)
            .output()
            .expect("postqueue runs");
        assert!(
            out.status.success(),
            "postqueue {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The queue, one JSON object a line (`postqueue -j`); empty when
    /// every message has left.
    pub fn queue(&self) -> String {
        self.postqueue(&["-j"])
    }

    /// Retries the deferred mail now (`postqueue -f`).
    pub fn flush(&self) {
        self.postqueue(&["-f"]);
    }

    /// Waits until the queue is empty.
    pub fn wait_queue_empty(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let queue = self.queue();
            if queue.trim().is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the queue did not empty:\n{queue}\nmaillog:\n{}",
                self.maillog()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// The delivery attempts of message `qid` (a queue id [`Postfix::send`]
    /// returned) logged so far: its lines with a `status=`.
    pub fn attempts(&self, qid: &str) -> Vec<String> {
        let id = format!(" {qid}: to=<");
        self.maillog()
            .lines()
            .filter(|line| line.contains(&id) && line.contains(" status="))
            .map(str::to_string)
            .collect()
    }

    /// Waits for an attempt of message `qid` with `status=STATUS` (`sent`,
    /// `deferred`, `bounced`) and returns its log line; fails at once when
    /// the message ended otherwise.
    pub fn wait_status(&self, qid: &str, status: &str) -> String {
        let wanted = format!(" status={status} ");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let attempts = self.attempts(qid);
            if let Some(line) = attempts.iter().find(|l| l.contains(&wanted)) {
                return line.clone();
            }
            // A final outcome other than the one awaited will not change.
            if let Some(last) = attempts
                .last()
                .filter(|l| FINAL.iter().any(|f| l.contains(f)))
            {
                panic!("waiting for status={status}, got: {last}");
            }
            assert!(
                Instant::now() < deadline,
                "no status={status} for {qid} within {PATIENCE:?}\nqueue:\n{}\nmaillog:\n{}",
                self.queue(),
                self.maillog()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one message over SMTP; the queue id Postfix gave it.
    pub fn send(&self, from: &str, to: &str, message: &str) -> String {
        let stream = connect(self.smtp_port);
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut step = |line: Option<&str>, code: &str| -> String {
            if let Some(line) = line {
                writer.write_all(line.as_bytes()).unwrap();
                writer.write_all(b"\r\n").unwrap();
            }
            let reply = read_reply(&mut reader);
            assert!(
                reply.starts_with(code),
                "{line:?}: expected {code}, got {reply:?}"
            );
            reply
        };
        step(None, "220");
        step(Some("EHLO client.example.test"), "250");
        step(Some(&format!("MAIL FROM:<{from}>")), "250");
        step(Some(&format!("RCPT TO:<{to}>")), "250");
        step(Some("DATA"), "354");
        // Dot-stuffing: the test messages have no line starting with a dot.
        let body = message.replace("\r\n", "\n").replace('\n', "\r\n");
        let done = step(Some(&format!("{body}\r\n.")), "250");
        step(Some("QUIT"), "221");
        // "250 2.0.0 Ok: queued as QID"
        let qid = done.rsplit(' ').next().unwrap_or_default();
        assert!(!qid.is_empty() && done.contains("queued as"), "{done}");
        qid.to_string()
    }
}

/// Connects to 127.0.0.1:PORT; `postfix start` returns once smtpd listens,
/// but a few tries cost nothing.
fn connect(port: u16) -> TcpStream {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(stream) => {
                stream.set_read_timeout(Some(PATIENCE)).unwrap();
                return stream;
            }
            Err(e) if Instant::now() > deadline => panic!("connect to {addr}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// One whole SMTP reply: lines until one whose fourth character is not `-`.
fn read_reply(reader: &mut impl BufRead) -> String {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("an SMTP reply");
        assert!(n > 0, "connection closed; reply so far: {text:?}");
        let last = line.as_bytes().get(3) != Some(&b'-');
        text.push_str(line.trim_end());
        if last {
            return text;
        }
        text.push('\n');
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if self.postfix(&["stop"]).status.success() {
            return;
        }
        // `postfix stop` failed: SIGTERM to the master (its pid file is
        // space-padded), then wait until `master -t` says none runs.
        let pid_file = self.dir.path().join("queue/pid/master.pid");
        let Ok(pid) = std::fs::read_to_string(pid_file) else {
            return;
        };
        let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let stopped = Command::new(MASTER)
                .arg("-c")
                .arg(self.etc())
                .arg("-t")
                .status()
                .is_ok_and(|s| s.success());
            if stopped {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
