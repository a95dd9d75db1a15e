//! The `parley` binary as an operator and an MTA run it, in a working
//! folder of its own with a config whose store and key file live in it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::{Backend, PgDatabase, queues_toml, unique};

/// A working folder with a config whose store and key file live in it.
pub struct Cli {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// The PostgreSQL database of [`Cli::on`], dropped after the folder.
    pub pg: Option<PgDatabase>,
}

/// `parley` working in `dir`, stdio piped, the environment cleaned of
/// parley settings (`PARLEY_CONFIG`, `PARLEY__*`).
pub fn parley(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .current_dir(dir)
        .env_remove("PARLEY_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PARLEY__") {
            command.env_remove(name);
        }
    }
    command
}

impl Cli {
    pub fn new() -> Cli {
        Cli::with("")
    }

    /// The test config with `extra` TOML appended, set up as an operator
    /// does before anything else runs: `parley migrate` has created the
    /// store and the key file.
    pub fn with(extra: &str) -> Cli {
        let cli = Cli::unset(extra);
        cli.expect(0, &["migrate"], b"");
        cli
    }

    /// The test config with `extra` TOML appended, and nothing else: no
    /// store, no key file yet.
    pub fn unset(extra: &str) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data/parley.db", dir.path().display());
        let key = dir.path().join("token.key");
        let config = dir.path().join("parley.toml");
        Cli::write(&config, &url, &key, extra);
        Cli {
            dir,
            config,
            pg: None,
        }
    }

    /// The test config on `backend`: SQLite in the folder, or a fresh
    /// PostgreSQL database (dropped with the `Cli`).
    pub fn on(backend: &Backend) -> Cli {
        let mut cli = Cli::new();
        if let Backend::Postgres(admin) = backend {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            let db = runtime.block_on(PgDatabase::create(admin));
            let key = cli.dir.path().join("token.key");
            Cli::write(&cli.config, &db.url, &key, "");
            cli.pg = Some(db);
        }
        cli
    }

    /// Points `intake.policy_file` at a rules file holding `text`.
    pub fn policy(&self, text: &str) {
        let path = self.dir.path().join("policy.toml");
        std::fs::write(&path, text).unwrap();
        let config = std::fs::read_to_string(&self.config).unwrap();
        let config = config.replacen(
            "[token]",
            &format!("[intake]\npolicy_file = \"{}\"\n\n[token]", path.display()),
            1,
        );
        std::fs::write(&self.config, config).unwrap();
    }

    pub fn write(config: &Path, url: &str, key: &Path, extra: &str) {
        let text = format!(
            "[store]\nurl = \"{url}\"\nacquire_timeout_secs = 1\n\n\
             [token]\nsecret_file = \"{}\"\n\n{}\n{extra}",
            key.display(),
            queues_toml(),
        );
        std::fs::write(config, text).unwrap();
    }

    /// `parley --config … ARGS` in the folder (see [`parley`]).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = parley(self.dir.path());
        command.arg("--config").arg(&self.config).args(args);
        command
    }

    /// Runs `parley --config … ARGS` with `stdin`, the environment cleaned
    /// of parley settings.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self.command(args).spawn().expect("parley runs");
        let mut input = child.stdin.take().unwrap();
        // A refused message may be refused before all of it is read.
        let _ = input.write_all(stdin);
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Runs and expects `code`; returns stdout.
    pub fn expect(&self, code: i32, args: &[&str], stdin: &[u8]) -> String {
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

    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.expect(0, args, b"");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"))
    }

    pub fn ticket_numbers(&self, args: &[&str]) -> Vec<i64> {
        let mut all = vec!["tickets", "list", "--json"];
        all.extend_from_slice(args);
        let list = self.json(&all);
        let list = list.as_array().expect("a JSON array");
        list.iter().map(|t| t["number"].as_i64().unwrap()).collect()
    }

    pub fn body_file(&self, text: &str) -> String {
        let path = self.dir.path().join(format!("body-{}.txt", unique()));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}
