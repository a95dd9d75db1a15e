//! parley as Postfix meets it: a folder with a config (SQLite store, the
//! key file and the outbox's Maildir in it, LMTP on a free port, no SMTP,
//! no HTTP, no relay), `parley serve` as a real process stopped by its PID,
//! and the command line against the same config, as root or as the pipe's
//! user `nobody`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The domains parley serves: its reply domain and the intake's.
pub const REPLY_DOMAIN: &str = "reply.example.test";
pub const INTAKE_DOMAIN: &str = "intake.example.test";
/// The queue `desk`: its intake and staff addresses.
pub const DESK: &str = "desk@intake.example.test";
pub const AGENT: &str = "agent@intake.example.test";

/// How long `parley serve` may take to start or to stop.
const PATIENCE: Duration = Duration::from_secs(20);

/// Who runs a command: the test (root) or the pipe's user.
#[derive(Clone, Copy)]
pub enum As {
    Root,
    /// uid and gid of `nobody`.
    Nobody(u32, u32),
}

/// parley's folder, its config and, while it runs, `parley serve`.
pub struct Parley {
    dir: tempfile::TempDir,
    pub config: PathBuf,
    /// The binary, where the pipe's user can run it.
    pub binary: PathBuf,
    /// The port of `smtp.lmtp_listen`.
    pub lmtp_port: u16,
    /// Who runs the command line: as the pipe does, so that SQLite's files
    /// stay the pipe user's.
    user: As,
    serve: Option<Child>,
}

impl Parley {
    /// A folder and config (with `extra` TOML at its end); no store, no
    /// key file yet (`parley serve` or `parley migrate` makes them).
    pub fn new(user: As, extra: &str) -> Parley {
        let dir = tempfile::tempdir().expect("a temporary folder");
        // Postfix's pipe runs as nobody: it must reach the config and the
        // binary, and own the data folder `parley migrate` makes.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if let As::Nobody(uid, gid) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        // The build's folder may be closed to nobody: a link (or a copy) here.
        let binary = dir.path().join("parley");
        let built = Path::new(env!("CARGO_BIN_EXE_parley"));
        if std::fs::hard_link(built, &binary).is_err() {
            std::fs::copy(built, &binary).expect("the binary copied");
        }
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let lmtp_port = super::free_port();
        let root = dir.path().display();
        let config = dir.path().join("parley.toml");
        let text = format!(
            r#"[store]
url = "sqlite://{root}/data/parley.db"
acquire_timeout_secs = 2

[token]
secret_file = "{root}/data/token.key"

[mail]
reply_domain = "{REPLY_DOMAIN}"

[smtp]
listen = []
lmtp_listen = ["127.0.0.1:{lmtp_port}"]

[http]
listen = []

[relay]
maildir = "{root}/data/maildir"

[outbox]
poll_interval_ms = 100

[[queues]]
name = "desk"
display_name = "Test desk"
intake = ["{DESK}"]
staff = ["{AGENT}"]

{extra}"#
        );
        std::fs::write(&config, text).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        Parley {
            dir,
            config,
            binary,
            lmtp_port,
            user,
            serve: None,
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// `parley --config CONFIG ARGS` in the folder, as the command line's
    /// user, the environment cleaned of parley settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .current_dir(self.dir.path())
            .env_remove("PARLEY_CONFIG")
            .arg("--config")
            .arg(&self.config)
            .args(args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PARLEY_") {
                command.env_remove(name);
            }
        }
        if let As::Nobody(uid, gid) = self.user {
            // Dropping root, std also clears the supplementary groups.
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Runs `parley ARGS` (stdin empty) and expects exit 0; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out: Output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("parley runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "parley {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.cli(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"))
    }

    /// Every stored message, ticket by ticket: (ticket, message).
    pub fn messages(&self) -> Vec<(i64, Value)> {
        let tickets = self.json(&["tickets", "list", "--include-held", "--json"]);
        let mut all = Vec::new();
        for ticket in tickets.as_array().expect("a JSON array") {
            let number = ticket["number"].as_i64().expect("a ticket number");
            let shown = self.json(&["tickets", "show", &number.to_string(), "--json"]);
            for message in shown["messages"].as_array().expect("messages") {
                all.push((number, message.clone()));
            }
        }
        all
    }

    /// The tickets holding a message with this Message-ID, once per copy.
    pub fn stored(&self, message_id: &str) -> Vec<i64> {
        self.messages()
            .into_iter()
            .filter(|(_, m)| m["message_id"] == message_id)
            .map(|(ticket, _)| ticket)
            .collect()
    }

    /// Starts `parley serve` and waits for "parley serve started".
    pub fn serve(&mut self) {
        assert!(self.serve.is_none(), "parley serve runs already");
        let log = std::fs::File::create(self.path("serve.log")).expect("log");
        let mut command = self.command(&["serve"]);
        command
            .env("PARLEY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = command.spawn().expect("parley serve starts");
        let deadline = Instant::now() + PATIENCE;
        while !self.log().contains("parley serve started") {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("parley serve exited ({status}):\n{}", self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("parley serve did not start:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.serve = Some(child);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("serve.log")).unwrap_or_default()
    }

    /// The notifications the outbox wrote into the Maildir, waiting up to
    /// the patience for at least `count`.
    pub fn wait_notifications(&self, count: usize) -> Vec<String> {
        let new = self.path("data/maildir/new");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            if files.len() >= count {
                files.sort();
                return files
                    .iter()
                    .map(|f| std::fs::read_to_string(f).unwrap())
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "{} notification(s) in {}, not {count}\n{}",
                files.len(),
                new.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops `parley serve` (SIGTERM by its PID) and expects exit 0.
    pub fn stop(&mut self) {
        let status = self.terminate();
        assert!(
            status.is_some_and(|s| s.success()),
            "parley serve on SIGTERM: {status:?}\n{}",
            self.log()
        );
    }

    /// SIGTERM to `parley serve` by its PID, then waits for it (killed
    /// after the patience); its exit status, `None` when it was killed or
    /// did not run.
    fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.serve.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Parley {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The uid and gid of `nobody` (pipe(8) refuses root and Postfix's owner).
pub fn nobody() -> As {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "nobody"])
            .output()
            .expect("id runs");
        assert!(out.status.success(), "no user nobody");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    As::Nobody(id("-u"), id("-g"))
}
