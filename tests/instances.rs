//! Several `parley serve` instances on one PostgreSQL store (issue 18,
//! docs/scaling.md): each IMAP mailbox is polled by one instance at a
//! time, through a lease in the store; when its holder is killed, another
//! takes the mailbox over within the lease's life, at the cursor the dead
//! one committed, so every message is stored exactly once.

mod common;
#[path = "imap/dovecot.rs"]
mod dovecot;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{EventStream, MODERATOR};
use common::served::{Served, free_port};
use common::smtp::Smtp;
use common::*;

const USER: &str = "desk";
const PASSWORD: &str = "secret-1";

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: buyer{n}@example.net\r\nTo: {DESK}\r\nSubject: Lot {n}\r\n\
         Message-ID: <instances-{n}@example.net>\r\n\r\nIs lot {n} still there?\r\n"
    )
    .into_bytes()
}

/// Another `parley serve` on the same config and store, its log in `log`.
struct Instance {
    child: Child,
    log: std::path::PathBuf,
}

impl Instance {
    fn start(served: &Served, name: &str) -> Instance {
        Instance::with_env(served, name, &[])
    }

    /// With `env` (e.g. `PARLEY__SMTP__LISTEN`: listeners of its own).
    fn with_env(served: &Served, name: &str, env: &[(&str, String)]) -> Instance {
        Instance::spawn(served.dir.path(), &served.config, name, env)
    }

    /// `parley --config CONFIG serve` in `dir`, logging into `dir/NAME.log`.
    fn spawn(
        dir: &std::path::Path,
        config: &std::path::Path,
        name: &str,
        env: &[(&str, String)],
    ) -> Instance {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .current_dir(dir)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("PARLEY_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Instance { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tickets(served: &Served) -> usize {
    served
        .json(&["tickets", "list", "--json"])
        .as_array()
        .map_or(0, Vec::len)
}

fn wait_until(
    what: &str,
    within: Duration,
    mut done: impl FnMut() -> bool,
    logs: &dyn Fn() -> String,
) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}:\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn one_instance_polls_a_mailbox_and_another_takes_over_when_it_dies() {
    let Some(admin) = postgres_admin() else {
        return;
    };
    let d = dovecot::Dovecot::start(&[(USER, PASSWORD)]);
    let imap = format!(
        "[[imap]]\nhost = \"127.0.0.1\"\ntls = \"none\"\nport = {}\nusername = \"{USER}\"\n\
         password = \"{PASSWORD}\"\npoll_interval_secs = 1\n",
        d.port()
    );
    // The first instance (no listeners: the mailbox is all it serves).
    let first = Served::on(
        &Backend::Postgres(admin),
        "listen = []",
        "listen = []",
        &imap,
    );
    let second = Instance::start(&first, "second");
    let logs = || format!("first:\n{}\nsecond:\n{}", first.log(), second.log());
    wait_until(
        "the second instance waits for the first's lease",
        Duration::from_secs(20),
        || second.log().contains("another instance polls this mailbox"),
        &logs,
    );
    for n in 1..=5 {
        d.append(USER, PASSWORD, "INBOX", &mail(n));
    }
    wait_until(
        "five tickets",
        Duration::from_secs(20),
        || tickets(&first) == 5,
        &logs,
    );
    assert!(
        !first.log().contains("another instance polls this mailbox"),
        "{}",
        logs()
    );

    // The holder dies without a word; the other takes over once the
    // lease runs out (15 s) and takes what came meanwhile, once.
    let killed = Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let died = Instant::now();
    for n in 6..=10 {
        d.append(USER, PASSWORD, "INBOX", &mail(n));
    }
    wait_until(
        "ten tickets",
        Duration::from_secs(40),
        || tickets(&first) == 10,
        &logs,
    );
    let took = died.elapsed();
    println!("the second instance had the ten messages {took:?} after the kill");
    assert!(
        second.log().contains("this instance polls the mailbox now"),
        "{}",
        logs()
    );
    assert!(took < Duration::from_secs(30), "took over after {took:?}");
    // Nothing twice: ten messages, ten tickets, a little later too.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tickets(&first), 10, "{}", logs());
}

/// A browser connected to one instance sees a message another instance
/// took within a second: each instance reads the store's event log.
#[test]
fn an_event_reaches_a_stream_on_another_instance_within_a_second() {
    let Some(admin) = postgres_admin() else {
        return;
    };
    let a = Served::on(
        &Backend::Postgres(admin),
        "listen = []",
        "listen = [\"127.0.0.1:{http}\"]",
        "",
    );
    let smtp_b = free_port();
    let b = Instance::with_env(
        &a,
        "b",
        &[
            ("PARLEY__SMTP__LISTEN", format!("127.0.0.1:{smtp_b}")),
            ("PARLEY__HTTP__LISTEN", format!("127.0.0.1:{}", free_port())),
        ],
    );
    let logs = || format!("a:\n{}\nb:\n{}", a.log(), b.log());
    wait_until(
        "b starts",
        Duration::from_secs(20),
        || b.log().contains("parley serve started"),
        &logs,
    );
    let mut stream = EventStream::open(
        a.http,
        "/api/v1/events?after=0",
        &[&format!("Authorization: Bearer {}", MODERATOR.2)],
    )
    .unwrap_or_else(|answer| panic!("{answer:?}"));

    let mut smtp = Smtp::connect(smtp_b).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO client.example", 250).unwrap();
    smtp.expect("MAIL FROM:<buyer@example.net>", 250).unwrap();
    smtp.expect(&format!("RCPT TO:<{DESK}>"), 250).unwrap();
    smtp.expect("DATA", 354).unwrap();
    let mut data = mail(1);
    data.extend_from_slice(b".\r\n");
    smtp.send(&data).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 250);
    let committed = Instant::now();
    let event = stream
        .next(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no event on instance a\n{}", logs()));
    let after = event.at.saturating_duration_since(committed);
    println!("{} on instance a {after:?} after b's 250", event.event);
    assert!(after < Duration::from_secs(1), "{after:?}");
}

/// Three instances started at the same moment on a new PostgreSQL
/// database: the migrations run once (the others wait on the advisory
/// lock), all three serve, and the tickets the three open at once have
/// unique numbers.
#[test]
fn three_instances_start_together_and_number_tickets_uniquely() {
    let Some(admin) = postgres_admin() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(PgDatabase::create(&admin));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("parley.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{}\"\n\n[token]\nsecret = \"{SECRET}\"\n\n[outbox]\nenabled = false\n\n\
             [http]\nlisten = []\n\n{}",
            db.url,
            queues_toml()
        ),
    )
    .unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut instances: Vec<Instance> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let listen = [("PARLEY__SMTP__LISTEN", format!("127.0.0.1:{port}"))];
            Instance::spawn(dir.path(), &config, &i.to_string(), &listen)
        })
        .collect();
    let logs = |instances: &[Instance]| {
        instances
            .iter()
            .map(Instance::log)
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !instances
        .iter()
        .all(|i| i.log().contains("parley serve started"))
    {
        for instance in instances.iter_mut() {
            assert!(
                instance.child.try_wait().unwrap().is_none(),
                "an instance exited:\n{}",
                logs(&instances)
            );
        }
        assert!(Instant::now() < deadline, "{}", logs(&instances));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Ten new conversations through each instance, all at once.
    let senders: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            std::thread::spawn(move || {
                let mut smtp = Smtp::connect(port).unwrap();
                assert_eq!(smtp.reply().unwrap().code, 220);
                smtp.expect("EHLO client.example", 250).unwrap();
                for n in 0..10 {
                    smtp.expect(&format!("MAIL FROM:<b{i}@example.net>"), 250)
                        .unwrap();
                    smtp.expect(&format!("RCPT TO:<{DESK}>"), 250).unwrap();
                    smtp.expect("DATA", 354).unwrap();
                    let mut data = mail(100 * i as u32 + n);
                    data.extend_from_slice(b".\r\n");
                    smtp.send(&data).unwrap();
                    assert_eq!(smtp.reply().unwrap().code, 250);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().expect("a sender");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_parley"))
        .current_dir(dir.path())
        .args(["--config"])
        .arg(&config)
        .args(["tickets", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut numbers: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 30, "{list}");
    // The instances go (killed by their guards) before the database.
    drop(instances);
    drop(db);
}
