//! `parley serve` as a real process for the HTTP tests: a folder of its
//! own with a config (the test keys of [`super::http`], HTTP on a free
//! port, SMTP as given, the outbox worker off unless the extra TOML has
//! an `[outbox]`), a store on SQLite or a
//! fresh PostgreSQL database, and a log. The command line runs against the
//! same config ([`Served::cli`]). Killed by its PID and reaped when
//! dropped, also when the test panics; its log is shown on failures.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{Answer, keys_toml, request};
use super::{Backend, PgDatabase, SECRET, queues_toml};

/// How long a server may take to start.
const STARTUP: Duration = Duration::from_secs(20);

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener =
        std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// A running `parley serve`, killed and reaped on drop.
pub struct Served {
    child: Child,
    /// The folder of the config, store (SQLite) and log; removed on drop.
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    log: PathBuf,
    /// The HTTP port.
    pub http: u16,
    /// The PostgreSQL database, dropped after the process is gone.
    _pg: Option<PgDatabase>,
    /// Environment variables the process gets (besides the test's own).
    env: Vec<(String, String)>,
}

impl Served {
    /// `parley serve` on SQLite with `[smtp]` and `[http]` as given (`{http}`
    /// in `http` is replaced by a free port); waits for "parley serve
    /// started".
    pub fn start(smtp: &str, http: &str) -> Served {
        Served::start_with(smtp, http, "")
    }

    /// As [`Served::start`], with `extra` TOML at the end of the config.
    pub fn start_with(smtp: &str, http: &str, extra: &str) -> Served {
        Served::on(&Backend::Sqlite, smtp, http, extra)
    }

    /// As [`Served::start_with`], on `backend`. Another port when the one
    /// picked was taken meanwhile.
    pub fn on(backend: &Backend, smtp: &str, http: &str, extra: &str) -> Served {
        Served::with_env(backend, smtp, http, extra, &[])
    }

    /// As [`Served::on`], with `env` in the process's environment.
    pub fn with_env(
        backend: &Backend,
        smtp: &str,
        http: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Served {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for attempt in 1..=3 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("a temporary folder");
            let pg = match backend {
                Backend::Sqlite => None,
                Backend::Postgres(admin) => {
                    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
                    Some(runtime.block_on(PgDatabase::create(admin)))
                }
            };
            let url = match &pg {
                Some(db) => db.url.clone(),
                None => format!("sqlite://{}/parley.db", dir.path().display()),
            };
            let config = dir.path().join("parley.toml");
            // `extra` may bring its own [outbox] (the webhooks' tests: a
            // quick retry schedule; writing tests: the local Maildir); else
            // the worker is off.
            let outbox = match extra.contains("[outbox]") {
                true => "",
                false => "[outbox]\nenabled = false\n\n",
            };
            let text = format!(
                "[store]\nurl = \"{url}\"\n\n[token]\nsecret = \"{SECRET}\"\n\n\
                 {outbox}[smtp]\n{smtp}\n\n[http]\n{}\n\n{}{}{extra}",
                http.replace("{http}", &port.to_string()),
                queues_toml(),
                keys_toml(),
            );
            std::fs::write(&config, text).expect("config written");
            let log = dir.path().join("serve.log");
            let child = spawn(dir.path(), &config, &log, &env);
            let mut served = Served {
                child,
                dir,
                config,
                log,
                http: port,
                _pg: pg,
                env: env.clone(),
            };
            match served.started() {
                Ok(()) => return served,
                Err(log) if attempt < 3 && log.contains("in use") => continue,
                Err(log) => panic!("{log}"),
            }
        }
        unreachable!("the third attempt returns or panics")
    }

    /// Starts `parley serve` again on the same config and store, once the
    /// one before exited (after [`Served::sigterm`] and
    /// [`Served::wait_exit`]); its log starts over.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.dir.path(), &self.config, &self.log, &self.env);
        if let Err(log) = self.started() {
            panic!("{log}");
        }
    }

    /// Waits for "parley serve started"; the log when it exits first.
    fn started(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if self.log().contains("parley serve started") {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(format!("parley serve exited ({status}):\n{}", self.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("parley serve did not start:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request over a fresh connection; `headers` are `Name: value`.
    pub fn call(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Answer {
        request(self.http, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    /// A request with `Authorization: Bearer CREDENTIAL` and, when given,
    /// a JSON body.
    pub fn api(&self, method: &str, path: &str, credential: &str, body: Option<&Value>) -> Answer {
        let auth = format!("Authorization: Bearer {credential}");
        match body {
            Some(body) => self.call(
                method,
                path,
                &[&auth, "Content-Type: application/json"],
                &serde_json::to_vec(body).unwrap(),
            ),
            None => self.call(method, path, &[&auth], b""),
        }
    }

    /// `parley --config … ARGS` against this server's config, with `stdin`.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut command = super::cli::parley(self.dir.path());
        command.arg("--config").arg(&self.config).args(args);
        let mut child = command.spawn().expect("parley runs");
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin);
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Runs the CLI, expects exit `code`; its stdout.
    pub fn cli(&self, code: i32, args: &[&str], stdin: &[u8]) -> String {
        let out = self.run(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "parley {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the CLI (exit 0) and reads its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.cli(0, args, b"");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"))
    }

    /// The process's id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `parley --config CONFIG serve` in `dir`, logging into `log` (emptied).
fn spawn(
    dir: &std::path::Path,
    config: &std::path::Path,
    log: &std::path::Path,
    env: &[(String, String)],
) -> Child {
    let file = std::fs::File::create(log).expect("log");
    let mut command = super::cli::parley(dir);
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("PARLEY_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file);
    command.spawn().expect("parley serve starts")
}
