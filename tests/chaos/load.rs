//! The chaos suite's SMTP load: threads that each send new conversations
//! to the instances, one connection per message as an MX delivers, and
//! behave as an MTA does: a 4xx answer, a refused connection or one cut
//! off before the 250 after the dot means "try again", with the same
//! bytes, at the next instance, until one answers 250. A 5xx answer is
//! recorded (the suite fails on any: a store that is down is never the
//! message's fault). The ledger holds every Message-ID acknowledged.
//! Paused between rounds so that the checks see a still store: a thread
//! finishes its message (retrying until it is taken) before it pauses.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::common::DESK;
use super::common::smtp::Smtp;

#[derive(Default)]
pub struct Ledger {
    /// Message-IDs (without brackets) answered 250.
    pub acked: Vec<String>,
    /// Attempts answered 4xx, or cut off, and retried.
    pub retried: u64,
    /// 5xx answers: (Message-ID, reply).
    pub refused: Vec<(String, String)>,
}

#[derive(Default)]
struct Shared {
    ledger: Mutex<Ledger>,
    pause: AtomicBool,
    stop: AtomicBool,
    /// Threads paused (or stopped) right now.
    idle: AtomicU64,
    next: AtomicU64,
}

pub struct Load {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// The message a sender sends for `id`: a stranger's new conversation at
/// the desk, the same bytes on every attempt.
pub fn message(id: &str, n: u64) -> Vec<u8> {
    format!(
        "From: Buyer {n} <buyer{n}@example.net>\r\nTo: {DESK}\r\nSubject: Lot {n}\r\n\
         Date: Mon, 07 Dec 2026 08:00:00 +0000\r\nMessage-ID: <{id}>\r\n\r\n\
         Is lot {n} still there? I could pick it up on Saturday.\r\n"
    )
    .into_bytes()
}

impl Load {
    /// `threads` senders over the SMTP `ports`, each sending a message
    /// every `pace` at most.
    pub fn start(ports: Vec<u16>, threads: usize, pace: Duration) -> Load {
        let shared = Arc::new(Shared::default());
        let threads = (0..threads)
            .map(|t| {
                let (shared, ports) = (shared.clone(), ports.clone());
                std::thread::spawn(move || sender(t, &ports, &shared, pace))
            })
            .collect();
        Load { shared, threads }
    }

    /// Stops taking new messages once each thread's current one is taken.
    /// Fails after `within` when a message is still not taken.
    pub fn pause(&self, within: Duration) {
        self.shared.pause.store(true, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + within;
        while self.shared.idle.load(Ordering::SeqCst) < self.threads.len() as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "a sender's message was not taken within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn resume(&self) {
        self.shared.pause.store(false, Ordering::SeqCst);
    }

    pub fn ledger<T>(&self, read: impl FnOnce(&Ledger) -> T) -> T {
        read(&self.shared.ledger.lock().unwrap())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.pause.store(false, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn sender(t: usize, ports: &[u16], shared: &Shared, pace: Duration) {
    let mut turn = t;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if shared.pause.load(Ordering::SeqCst) {
            shared.idle.fetch_add(1, Ordering::SeqCst);
            while shared.pause.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            shared.idle.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let n = shared.next.fetch_add(1, Ordering::SeqCst);
        let id = format!("chaos-{n}@load.example");
        let mut data = message(&id, n);
        data.extend_from_slice(b".\r\n");
        loop {
            turn += 1;
            match transaction(ports[turn % ports.len()], n, &data) {
                Ok(reply) if reply.starts_with("250") => {
                    shared.ledger.lock().unwrap().acked.push(id);
                    break;
                }
                Ok(reply) if reply.starts_with('5') => {
                    shared.ledger.lock().unwrap().refused.push((id, reply));
                    break;
                }
                // 4xx, or the connection refused or cut: as an MTA, again
                // a little later (not once the suite stops).
                _ if shared.stop.load(Ordering::SeqCst) => return,
                _ => {
                    shared.ledger.lock().unwrap().retried += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        std::thread::sleep(pace);
    }
}

/// One delivery: the last reply's text (a 4xx or 5xx before DATA's end
/// ends it there), or an I/O error.
pub fn transaction(port: u16, n: u64, data: &[u8]) -> std::io::Result<String> {
    let mut smtp = Smtp::connect(port)?;
    let steps = [
        String::new(),
        "EHLO mx.example.net".to_string(),
        format!("MAIL FROM:<buyer{n}@example.net>"),
        format!("RCPT TO:<{DESK}>"),
        "DATA".to_string(),
    ];
    for (i, step) in steps.iter().enumerate() {
        let reply = match i {
            0 => smtp.reply()?,
            _ => smtp.command(step)?,
        };
        let fine = match i {
            0 => reply.code == 220,
            4 => reply.code == 354,
            _ => reply.code == 250,
        };
        if !fine {
            return Ok(reply.text);
        }
    }
    smtp.send(data)?;
    let reply = smtp.reply()?;
    let _ = smtp.command("QUIT");
    Ok(reply.text)
}
