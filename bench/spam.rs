//! bench/spam: the spam model beside SpamAssassin, on the same messages.
//!
//! `cargo bench --bench spam` takes the held-aside part of the SpamAssassin
//! public corpus in `tests/fixtures/spam` (sha256 of the labels.tsv name,
//! first byte mod 5 == 0), trains parley's model on the rest exactly as the
//! shipped one is trained on all (so its figures are on mail it never
//! saw) and, in one run:
//!
//! - parley's model on one core: the fastest of several passes of
//!   `Model::score` over the parsed messages (msg/s, µs per message, and µs
//!   for the messages of 3–6 KB, the intake budget's size), parse + score,
//!   and spam recall / ham flagged at `DEFAULT_HOLD_AT`, per subset;
//! - SpamAssassin: `spamd -L` (local tests only, no network, Bayes and
//!   auto-learning off) on a loopback port with 2 children, fed by 2
//!   concurrent `spamc -c` — recall / ham flagged at its default
//!   required_score 5.0, and msg/s. Set `PARLEY_BENCH_SA=0` to skip it.
//!
//! Under `cargo test` (no `--bench` argument) it scores a few messages with
//! the shipped model and leaves SpamAssassin out: fast, and independent of
//! SpamAssassin being installed.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parley::intake::parse::{Parsed, parse};
use parley::intake::policy::spam::corpus::{self, Labelled};
use parley::intake::policy::spam::{DEFAULT_HOLD_AT, Model};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spam");

struct Message {
    label: Labelled,
    raw: Vec<u8>,
    parsed: Parsed,
}

fn labels_path() -> PathBuf {
    Path::new(CORPUS).join("labels.tsv")
}

/// The model trained on every message but the held-aside ones, pruned as
/// the shipped one is.
fn training_part_model(labels: &Path) -> Model {
    let parsed: Vec<(bool, Parsed)> = corpus::read_labels(labels)
        .expect("labels.tsv")
        .into_iter()
        .filter(|l| !corpus::held_aside(&l.name))
        .filter_map(|l| {
            let raw = std::fs::read(&l.path).expect("corpus file");
            Some((l.is_spam, parse(&raw)?))
        })
        .collect();
    Model::train_as_shipped(parsed.iter().map(|(spam, p)| (*spam, p)))
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let labels = corpus::read_labels(&labels_path()).expect("labels.tsv");
    let messages: Vec<Message> = labels
        .into_iter()
        .filter(|l| corpus::held_aside(&l.name))
        .take(if bench { usize::MAX } else { 40 })
        .filter_map(|label| {
            let raw = std::fs::read(&label.path).expect("corpus file");
            let parsed = parse(&raw)?;
            Some(Message { label, raw, parsed })
        })
        .collect();
    if !bench {
        smoke(&messages);
        return;
    }
    let model = &training_part_model(&labels_path());
    println!(
        "{} held-aside messages ({} spam), {:.1} MB",
        messages.len(),
        messages.iter().filter(|m| m.label.is_spam).count(),
        messages.iter().map(|m| m.raw.len()).sum::<usize>() as f64 / 1e6
    );
    let verdicts: Vec<bool> = messages
        .iter()
        .map(|m| model.score(&m.parsed).probability >= DEFAULT_HOLD_AT)
        .collect();
    let score_time = fastest(5, || {
        for m in &messages {
            black_box(model.score(black_box(&m.parsed)));
        }
    });
    let mid: Vec<&Message> = messages
        .iter()
        .filter(|m| (3_000..6_000).contains(&m.raw.len()))
        .collect();
    let mid_time = fastest(5, || {
        for m in &mid {
            black_box(model.score(black_box(&m.parsed)));
        }
    });
    let full_time = fastest(3, || {
        for m in &messages {
            let parsed = parse(black_box(&m.raw)).expect("parsed before");
            black_box(model.score(&parsed));
        }
    });
    let n = messages.len() as f64;
    let mut rows = vec![
        Row::new("parley: score", &messages, &verdicts, n / score_time),
        Row::new("parley: parse + score", &messages, &verdicts, n / full_time),
    ];
    let sa = (std::env::var("PARLEY_BENCH_SA").as_deref() != Ok("0"))
        .then(|| spamassassin(&messages))
        .flatten();
    if let Some((verdicts, rate)) = &sa {
        rows.push(Row::new(
            "SpamAssassin spamd -L, 2 children",
            &messages,
            verdicts,
            *rate,
        ));
    }
    println!();
    println!(
        "{:<36} {:>9} {:>10} {:>12} {:>12}",
        "engine", "msg/s", "µs/msg", "spam recall", "ham flagged"
    );
    for row in &rows {
        println!(
            "{:<36} {:>9.0} {:>10.1} {:>11.2}% {:>11.2}%",
            row.name,
            row.rate,
            1e6 / row.rate,
            100.0 * row.recall,
            100.0 * row.flagged
        );
    }
    println!(
        "parley: score of the {} messages of 3–6 KB: {:.1} µs each (one core)",
        mid.len(),
        mid_time * 1e6 / mid.len().max(1) as f64
    );
    println!();
    println!("held per subset (parley at {DEFAULT_HOLD_AT} / SpamAssassin at 5.0):");
    let mut subsets: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (i, m) in messages.iter().enumerate() {
        let e = subsets.entry(&m.label.subset).or_default();
        e.0 += 1;
        e.1 += usize::from(verdicts[i]);
        e.2 += sa.as_ref().map_or(0, |(v, _)| usize::from(v[i]));
    }
    for (subset, (n, parley, sa_held)) in subsets {
        let sa_text = if sa.is_some() {
            format!("{sa_held:>4} ({:>5.1}%)", pct(sa_held, n))
        } else {
            "-".into()
        };
        println!(
            "  {subset:<12} {n:>4} messages: parley {parley:>4} ({:>5.1}%)  SpamAssassin {sa_text}",
            pct(parley, n)
        );
    }
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

struct Row {
    name: &'static str,
    rate: f64,
    recall: f64,
    flagged: f64,
}

impl Row {
    fn new(name: &'static str, messages: &[Message], held: &[bool], rate: f64) -> Row {
        let count = |spam: bool| {
            let of: Vec<bool> = messages
                .iter()
                .zip(held)
                .filter(|(m, _)| m.label.is_spam == spam)
                .map(|(_, &h)| h)
                .collect();
            of.iter().filter(|&&h| h).count() as f64 / of.len().max(1) as f64
        };
        Row {
            name,
            rate,
            recall: count(true),
            flagged: count(false),
        }
    }
}

/// The fastest of `runs` runs of `f`, in seconds.
fn fastest(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn smoke(messages: &[Message]) {
    let model = Model::default_model();
    let start = Instant::now();
    let mut right = 0;
    for m in messages {
        let p = model.score(&m.parsed).probability;
        assert!((0.0..=1.0).contains(&p));
        right += usize::from((p >= DEFAULT_HOLD_AT) == m.label.is_spam);
    }
    println!(
        "bench/spam smoke: the shipped model right on {right} of {} corpus messages, {:?} (unoptimized)",
        messages.len(),
        start.elapsed()
    );
    assert!(right * 10 >= messages.len() * 8, "the shipped model is off");
}

/// Runs every message through spamd with 2 concurrent spamc; `None` when
/// SpamAssassin is not installed or spamd does not come up.
fn spamassassin(messages: &[Message]) -> Option<(Vec<bool>, f64)> {
    let dir = tempfile::tempdir().ok()?;
    let Some(mut spamd) = SpamD::start(dir.path()) else {
        println!("SpamAssassin: spamd/spamc not available or did not start; skipped");
        return None;
    };
    let files: Vec<PathBuf> = messages.iter().map(|m| m.label.path.clone()).collect();
    let next = AtomicUsize::new(0);
    let mut held = vec![false; files.len()];
    let start = Instant::now();
    let results: Vec<Vec<(usize, Option<bool>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        out.push((i, spamd.check(file)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    spamd.stop();
    let mut failed = 0;
    for (i, verdict) in results.into_iter().flatten() {
        held[i] = verdict.unwrap_or(false);
        failed += usize::from(verdict.is_none());
    }
    println!("SpamAssassin: {failed} spamc failures (counted as not spam)");
    Some((held, files.len() as f64 / elapsed))
}

/// A spamd on a loopback port, stopped by its PID.
struct SpamD {
    child: Child,
    port: u16,
}

impl SpamD {
    fn start(dir: &Path) -> Option<SpamD> {
        // The system's site config, plus: no Bayes, no auto-learning, no
        // reputation database — only the shipped rules score.
        let site = dir.join("site");
        std::fs::create_dir_all(&site).ok()?;
        for entry in std::fs::read_dir("/etc/spamassassin").ok()?.flatten() {
            if entry.file_type().ok()?.is_file() {
                std::fs::copy(entry.path(), site.join(entry.file_name())).ok()?;
            }
        }
        let mut local = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(site.join("local.cf"))
            .ok()?;
        writeln!(local, "\nuse_bayes 0\nbayes_auto_learn 0\nuse_txrep 0").ok()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("spamd")
            .args([
                "-L",
                "-x",
                "-u",
                "nobody",
                "--max-children",
                "2",
                "--min-children",
                "2",
            ])
            .arg(format!("--siteconfigpath={}", site.display()))
            .arg(format!("--listen=127.0.0.1:{port}"))
            .arg(format!("--pidfile={}", dir.join("spamd.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut spamd = SpamD { child, port };
        // Loading the rules takes seconds.
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || spamd.child.try_wait().ok()?.is_some() {
                spamd.stop();
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(spamd)
    }

    /// `spamc -c`: exit 1 when spam at the configured required_score, 0
    /// when not; anything else (`-x`: no fallback to "not spam" when
    /// spamd fails) is a failure, `None`.
    fn check(&self, file: &Path) -> Option<bool> {
        let input = std::fs::File::open(file).ok()?;
        let port = self.port.to_string();
        let status = Command::new("spamc")
            .args(["-d", "127.0.0.1", "-p", &port, "-c", "-x", "-s", "2000000"])
            .stdin(input)
            .stdout(Stdio::null())
            .status()
            .ok()?;
        match status.code() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        }
    }

    /// SIGTERM to spamd's PID (it stops its children), then reap it.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
