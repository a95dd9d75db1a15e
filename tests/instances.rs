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

use common::served::Served;
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
        let log = served.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .current_dir(served.dir.path())
            .arg("--config")
            .arg(&served.config)
            .arg("serve")
            .env("PARLEY_LOG", "info")
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
    let Some(Backend::Postgres(admin)) = backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
    else {
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
