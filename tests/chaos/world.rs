//! What the chaos suite runs and breaks: the PostgreSQL cluster, Dovecot
//! with two mailboxes, smtp-sink as the relay, three `parley serve`
//! instances on one config, the SMTP load; a round applies one fault and
//! then checks every promise against the store and the relay's dumps.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::common::sink::{Process, dumped, sink};
use super::common::{DESK, SECRET, queues_toml};
use super::dovecot::Dovecot;
use super::load::{self, Load};

const MAILBOXES: [(&str, &str); 2] = [("shop1", "secret-1"), ("shop2", "secret-2")];
const DATABASE: &str = "parley";
/// How long the store may take to show every promise kept after a
/// round: an IMAP lease runs out after 15 s, an outbox lease after 5 s.
/// (The notification throttles are off: the desk's one staff address
/// gets a notification per new ticket, over 200 an hour.)
const SETTLE: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// A random instance.
    Kill,
    /// The instance polling a mailbox (its lease must run out first).
    KillHolder,
    Postgres,
    Dovecot,
    Relay,
}

struct Instance {
    child: Child,
    smtp: u16,
    log: PathBuf,
}

/// What the checks of one round found.
struct Round {
    fault: Fault,
    detail: String,
    settled: Duration,
}

pub struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
    cluster: Cluster,
    dovecot: Dovecot,
    relay_port: u16,
    relay: Option<Process>,
    instances: Vec<Instance>,
    load: Option<Load>,
    /// Message-IDs appended to each mailbox.
    appended: Vec<String>,
    rounds: Vec<Round>,
    started: Instant,
    seed: u64,
}

impl World {
    pub fn start(seed: u64) -> World {
        let dir = tempfile::Builder::new()
            .prefix("parley-chaos")
            .tempdir()
            .unwrap();
        let cluster = Cluster::start();
        cluster.psql("postgres", &format!("CREATE DATABASE {DATABASE}"));
        let dovecot = Dovecot::start(&MAILBOXES);
        let relay_port = super::common::served::free_port();
        let relay = sink(relay_port, &dir.path().join("relay"), &[]);
        let config = dir.path().join("parley.toml");
        let mut imap = String::new();
        for (user, password) in MAILBOXES {
            imap += &format!(
                "[[imap]]\nhost = \"127.0.0.1\"\ntls = \"none\"\nport = {}\nusername = \"{user}\"\n\
                 password = \"{password}\"\npoll_interval_secs = 1\n\n",
                dovecot.port()
            );
        }
        std::fs::write(
            &config,
            format!(
                "[store]\nurl = \"{}\"\nacquire_timeout_secs = 2\n\n[token]\nsecret = \"{SECRET}\"\n\n\
                 [http]\nlisten = []\n\n\
                 [relay]\nhost = \"127.0.0.1\"\nport = {relay_port}\ntimeout_secs = 2\n\n\
                 [outbox]\nbatch = 4\nconcurrency = 4\nlease_secs = 5\npoll_interval_ms = 200\n\
                 first_retry_secs = 1\nmax_retry_secs = 2\n\n\
                 [notify]\nthrottle_ticket_secs = 0\nthrottle_recipient_per_hour = 0\n\n{}{imap}",
                cluster.url(DATABASE),
                queues_toml()
            ),
        )
        .unwrap();
        let mut world = World {
            dir,
            config,
            cluster,
            dovecot,
            relay_port,
            relay: Some(relay),
            instances: Vec::new(),
            load: None,
            appended: Vec::new(),
            rounds: Vec::new(),
            started: Instant::now(),
            seed: seed | 1,
        };
        for i in 0..3 {
            let smtp = super::common::served::free_port();
            let instance = world.spawn(i, smtp);
            world.instances.push(instance);
        }
        for i in 0..3 {
            world.wait_started(i);
        }
        let ports = world.instances.iter().map(|i| i.smtp).collect();
        world.load = Some(Load::start(ports, 3, Duration::from_millis(20)));
        world
    }

    /// A pseudo-random number below `n` (xorshift64; the seed replays).
    pub fn random(&mut self, n: u64) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed % n.max(1)
    }

    fn spawn(&self, i: usize, smtp: u16) -> Instance {
        let log = self.dir.path().join(format!("instance{i}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .env("PARLEY_LOG", "info")
            .env("PARLEY__SMTP__LISTEN", format!("127.0.0.1:{smtp}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Instance { child, smtp, log }
    }

    /// Waits until instance `i` answers SMTP (its log is appended to by
    /// every start, so the greeting is what tells).
    fn wait_started(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let port = self.instances[i].smtp;
            if let Ok(mut smtp) = super::common::smtp::Smtp::connect(port)
                && smtp.reply().is_ok_and(|r| r.code == 220)
            {
                return;
            }
            if let Some(status) = self.instances[i].child.try_wait().unwrap() {
                panic!("instance {i} exited ({status}):\n{}", self.logs());
            }
            assert!(Instant::now() < deadline, "instance {i}:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for (i, instance) in self.instances.iter().enumerate() {
            let log = std::fs::read_to_string(&instance.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            out += &format!("---- instance {i} (last 40 lines)\n");
            for line in tail.into_iter().rev() {
                out += line;
                out.push('\n');
            }
        }
        let pg = self.cluster.log();
        let tail: Vec<&str> = pg.lines().rev().take(20).collect();
        out += "---- postgres (last 20 lines)\n";
        for line in tail.into_iter().rev() {
            out += line;
            out.push('\n');
        }
        out
    }

    fn load(&self) -> &Load {
        self.load.as_ref().expect("the load runs")
    }

    /// New mail in both mailboxes: `per` messages each.
    fn append(&mut self, per: usize) {
        for (user, password) in MAILBOXES {
            for _ in 0..per {
                let n = self.appended.len();
                let id = format!("imap-{n}@{user}.example");
                let raw = format!(
                    "From: Reader {n} <reader{n}@example.org>\r\nTo: {DESK}\r\n\
                     Subject: Question {n}\r\nDate: Mon, 07 Dec 2026 08:00:00 +0000\r\n\
                     Message-ID: <{id}>\r\n\r\nDoes item {n} ship abroad?\r\n"
                );
                self.dovecot.append(user, password, "INBOX", raw.as_bytes());
                self.appended.push(id);
            }
        }
    }

    /// One round: `fault` at a random instant under load, then the checks.
    pub fn round(&mut self, fault: Fault) {
        let started = Instant::now();
        self.append(3);
        std::thread::sleep(Duration::from_millis(200 + self.random(1500)));
        let detail = match fault {
            Fault::Kill => {
                let i = self.random(3) as usize;
                self.kill(i)
            }
            Fault::KillHolder => {
                // New mail just before (the holder may be fetching it) and
                // after: the round settles only once another instance has
                // taken the mailbox over.
                let i = self.holder();
                self.append(2);
                let killed = self.kill(i);
                self.append(2);
                killed
            }
            Fault::Postgres => self.postgres_down(),
            Fault::Dovecot => {
                self.append(5);
                std::thread::sleep(Duration::from_millis(self.random(300)));
                self.dovecot.restart();
                "Dovecot restarted after 10 new messages".to_string()
            }
            Fault::Relay => {
                drop(self.relay.take());
                let down = Duration::from_millis(1500 + self.random(2000));
                std::thread::sleep(down);
                self.relay = Some(sink(self.relay_port, &self.dir.path().join("relay"), &[]));
                format!("relay down for {down:?}")
            }
        };
        std::thread::sleep(Duration::from_millis(500 + self.random(1000)));
        self.load().pause(Duration::from_secs(60));
        let settled = Instant::now();
        self.settle();
        let settled = settled.elapsed();
        self.load().resume();
        println!(
            "round {} ({fault:?}, {detail}): promises kept {settled:?} after the pause, \
             round {:?}",
            self.rounds.len() + 1,
            started.elapsed()
        );
        self.rounds.push(Round {
            fault,
            detail,
            settled,
        });
    }

    /// The instance holding a mailbox's lease (a random one of them);
    /// waits for one while none does (after an outage of the store, each
    /// poller takes its lease again after its backoff).
    fn holder(&mut self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let holders: Vec<usize> = self
                .cluster
                .psql(
                    DATABASE,
                    "SELECT holder FROM leases WHERE expires_at > \
                     (extract(epoch FROM now()) * 1000)::bigint ORDER BY name",
                )
                .lines()
                .filter_map(|holder| {
                    let pid: u32 = holder.split('-').next()?.parse().ok()?;
                    self.instances.iter().position(|i| i.child.id() == pid)
                })
                .collect();
            if !holders.is_empty() {
                return holders[self.random(holders.len() as u64) as usize];
            }
            assert!(
                Instant::now() < deadline,
                "nobody holds a mailbox for 40 s\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn kill(&mut self, i: usize) -> String {
        let pid = self.instances[i].child.id();
        let killed = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let _ = self.instances[i].child.wait();
        let wait = Duration::from_millis(self.random(1000));
        std::thread::sleep(wait);
        let smtp = self.instances[i].smtp;
        self.instances[i] = self.spawn(i, smtp);
        self.wait_started(i);
        format!("instance {i} killed, started again after {wait:?}")
    }

    /// The database down: SMTP answers 451 and the pipe 75 meanwhile.
    fn postgres_down(&mut self) -> String {
        self.cluster.down();
        let down = Instant::now();
        let n = 1_000_000 + self.random(1_000_000);
        let id = format!("outage-{n}@load.example");
        let mut data = load::message(&id, n);
        data.extend_from_slice(b".\r\n");
        for instance in &self.instances {
            let reply = load::transaction(instance.smtp, n, &data)
                .unwrap_or_else(|e| panic!("port {}: {e}\n{}", instance.smtp, self.logs()));
            assert!(
                reply.starts_with("451"),
                "with the database down, port {} answered {reply}\n{}",
                instance.smtp,
                self.logs()
            );
        }
        let pipe = Command::new(env!("CARGO_BIN_EXE_parley"))
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config)
            .args(["ingest", "--recipient", DESK])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = write_and_wait(pipe, &load::message(&format!("pipe-{n}@load.example"), n));
        assert_eq!(
            out.status.code(),
            Some(75),
            "parley ingest with the database down: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(1000 + self.random(2000)));
        let outage = down.elapsed();
        self.cluster.up();
        format!("database down for {outage:?}; SMTP answered 451, the pipe 75")
    }

    /// Waits until every promise holds, or fails naming the ones that do
    /// not.
    fn settle(&self) {
        let deadline = Instant::now() + SETTLE;
        loop {
            let broken = self.broken();
            if broken.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "after {SETTLE:?}, promises broken:\n{}\n{}",
                    broken.join("\n"),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The promises that do not hold now (empty: all hold).
    fn broken(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let (acked, refused) = self.load().ledger(|l| (l.acked.clone(), l.refused.clone()));
        if !refused.is_empty() {
            broken.push(format!("5xx answered: {refused:?}"));
        }
        let stored = self.counts(
            "SELECT message_id, count(*) FROM messages WHERE direction = 'inbound' GROUP BY 1",
        );
        for (id, n) in &stored {
            if *n > 1 {
                broken.push(format!("<{id}> stored {n} times"));
            }
        }
        for id in acked.iter().chain(&self.appended) {
            if !stored.contains_key(id) {
                broken.push(format!("<{id}> not stored"));
            }
        }
        let expected = acked.len() + self.appended.len();
        if stored.len() != expected {
            broken.push(format!(
                "{} messages stored, {expected} acknowledged or appended",
                stored.len()
            ));
        }
        let tickets: usize = self
            .cluster
            .psql(DATABASE, "SELECT count(DISTINCT number) FROM tickets")
            .trim()
            .parse()
            .unwrap();
        if tickets != expected {
            broken.push(format!("{tickets} tickets for {expected} conversations"));
        }
        let outbox = self
            .cluster
            .psql(DATABASE, "SELECT message_id, state FROM outbox ORDER BY id");
        let sent = relayed(&self.dir.path().join("relay"));
        for line in outbox.lines() {
            let Some((id, state)) = line.split_once('|') else {
                continue;
            };
            let times = sent.get(id.trim_matches(['<', '>'])).copied().unwrap_or(0);
            if state != "sent" || times == 0 {
                broken.push(format!("notification {id}: {state}, relayed {times} times"));
            } else if times > 2 {
                broken.push(format!("notification {id} relayed {times} times"));
            }
        }
        broken.truncate(20);
        broken
    }

    /// `(first column, second as a number)` of `sql`'s rows, brackets
    /// taken off the first.
    fn counts(&self, sql: &str) -> HashMap<String, u64> {
        self.cluster
            .psql(DATABASE, sql)
            .lines()
            .filter_map(|line| {
                let (key, n) = line.split_once('|')?;
                Some((key.trim_matches(['<', '>']).to_string(), n.parse().ok()?))
            })
            .collect()
    }

    /// Prints what the run did and found.
    pub fn report(&self) {
        let (acked, retried) = self.load().ledger(|l| (l.acked.len(), l.retried));
        let sent = relayed(&self.dir.path().join("relay"));
        let twice = sent.values().filter(|&&n| n == 2).count();
        let mut by_fault: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
        for round in &self.rounds {
            let entry = by_fault.entry(format!("{:?}", round.fault)).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(round.settled);
        }
        println!(
            "chaos: {} rounds in {:?}; {acked} messages acknowledged over SMTP ({retried} \
             attempts retried after a 4xx or a cut connection), {} over IMAP, each stored \
             once; {} notifications relayed, {twice} of them twice; rounds by fault (count, \
             longest settle): {by_fault:?}",
            self.rounds.len(),
            self.started.elapsed(),
            self.appended.len(),
            sent.len(),
        );
        for round in &self.rounds {
            println!(
                "  {:?}: {} (settled in {:?})",
                round.fault, round.detail, round.settled
            );
        }
    }

    /// Keeps the folder (logs, dumps) for a look: `PARLEY_CHAOS_KEEP=1`.
    fn keep(&mut self) -> Option<&Path> {
        std::env::var_os("PARLEY_CHAOS_KEEP").map(|_| {
            self.dir.disable_cleanup(true);
            self.dir.path()
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // The load first (it would retry against stopped instances), then
        // the instances, by their PIDs; the cluster, Dovecot and the relay
        // with their own guards.
        drop(self.load.take());
        for instance in &mut self.instances {
            let _ = instance.child.kill();
            let _ = instance.child.wait();
        }
        if let Some(dir) = self.keep() {
            eprintln!("chaos: kept {}", dir.display());
        }
    }
}

/// How many times the relay took each Message-ID (its dumps' headers).
fn relayed(dir: &Path) -> HashMap<String, u64> {
    let mut seen = HashMap::new();
    for mail in dumped(dir) {
        let id = mail.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().trim_matches(['<', '>']).to_string())
        });
        if let Some(id) = id {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

fn write_and_wait(mut child: Child, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}
