//! A message's data (DATA and BDAT, the size limit while reading) and its
//! delivery: the `Received:` header, one intake delivery per target, the
//! answers.

use std::io;

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Flow, Greeting, Input, Session, Transaction, printable};
use crate::intake::{Envelope, Outcome};
use crate::smtp::Protocol;
use crate::smtp::recipients::Target;
use crate::store::{Source, StoreError};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// 503/554 when DATA or BDAT cannot start now, else `None`.
    fn cannot_take_data(&self, bdat: bool) -> Option<(u16, &'static str, &'static str)> {
        match &self.tx {
            None => Some((503, "5.5.1", "need MAIL and RCPT first")),
            Some(tx) if tx.recipients.is_empty() => Some((554, "5.5.1", "no valid recipients")),
            Some(tx) if tx.chunked && !bdat => Some((503, "5.5.1", "DATA after BDAT")),
            Some(_) => None,
        }
    }

    pub(super) async fn data(&mut self) -> io::Result<Flow> {
        if let Some((code, esc, text)) = self.cannot_take_data(false) {
            return Ok(self.error(code, esc, text));
        }
        self.reply(354, "", "end data with <CR><LF>.<CR><LF>");
        let limit = self.size_limit();
        let mut receiver = DataReceiver::new();
        let mut discard: Option<DummyDataReceiver> = None;
        let mut data = Vec::with_capacity(8192);
        loop {
            let done = self.consume(|bytes| match &mut discard {
                Some(d) => d.ingest(bytes),
                None => receiver.ingest(bytes, &mut data),
            });
            if discard.is_none() && data.len() > limit {
                discard = Some(DummyDataReceiver::new_data(&receiver));
                data = Vec::new();
            }
            if done {
                break;
            }
            if let Some(end) = self.more_data().await? {
                return Ok(end);
            }
        }
        let Some(tx) = self.tx.take() else {
            return Ok(Flow::Continue);
        };
        if discard.is_some() {
            self.too_big(&tx);
            return Ok(Flow::Continue);
        }
        self.deliver(tx, data).await;
        Ok(Flow::Continue)
    }

    pub(super) async fn bdat(&mut self, size: usize, last: bool) -> io::Result<Flow> {
        let refusal = self.cannot_take_data(true);
        let limit = self.size_limit();
        // The chunk follows the command whatever the answer: read it all.
        let keep = match (&mut self.tx, refusal) {
            (Some(tx), None) => {
                tx.chunked = true;
                if tx.too_big || tx.data.len().saturating_add(size) > limit {
                    tx.too_big = true;
                    tx.data = Vec::new();
                }
                !tx.too_big
            }
            _ => false,
        };
        let mut data = match &mut self.tx {
            Some(tx) if keep => std::mem::take(&mut tx.data),
            _ => Vec::new(),
        };
        let mut keeper = BdatReceiver::new(size, last);
        let mut dropper = DummyDataReceiver::new_bdat(size);
        let mut done = size == 0;
        while !done {
            done = self.consume(|bytes| {
                if keep {
                    keeper.ingest(bytes, &mut data)
                } else {
                    dropper.ingest(bytes)
                }
            });
            if done {
                break;
            }
            if let Some(end) = self.more_data().await? {
                return Ok(end);
            }
        }
        if let Some((code, esc, text)) = refusal {
            return Ok(self.error(code, esc, text));
        }
        let Some(tx) = &mut self.tx else {
            return Ok(Flow::Continue);
        };
        if keep {
            tx.data = data;
        }
        if !last {
            if tx.too_big {
                let text = format!("message size exceeds the limit of {limit} bytes");
                self.reply(552, "5.3.4", &text);
            } else {
                self.reply(250, "2.0.0", &format!("{size} octets received"));
            }
            return Ok(Flow::Continue);
        }
        let Some(mut tx) = self.tx.take() else {
            return Ok(Flow::Continue);
        };
        if tx.too_big {
            self.too_big(&tx);
        } else {
            let data = std::mem::take(&mut tx.data);
            self.deliver(tx, data).await;
        }
        Ok(Flow::Continue)
    }

    /// Hands the unread input to a receiver and marks what it took as
    /// read; `true` when the receiver saw the end of its data.
    fn consume(&mut self, ingest: impl FnOnce(&mut std::slice::Iter<'_, u8>) -> bool) -> bool {
        let pending = &self.input[self.start..];
        let mut bytes = pending.iter();
        let done = ingest(&mut bytes);
        self.start += pending.len() - bytes.as_slice().len();
        done
    }

    /// Waits for more message data; `Some` when the session must end
    /// instead (timeout: 421 answered; the client went away).
    async fn more_data(&mut self) -> io::Result<Option<Flow>> {
        let timeout = self.settings.data_timeout;
        Ok(match self.read_more(timeout, false).await? {
            Input::Data => None,
            Input::Timeout => Some(self.data_timeout()),
            Input::Closed | Input::Shutdown => Some(Flow::Close),
        })
    }

    fn data_timeout(&mut self) -> Flow {
        let host = &self.settings.hostname;
        let text = format!("{host} timeout waiting for data, closing");
        self.reply(421, "4.4.2", &text);
        Flow::Close
    }

    fn too_big(&mut self, tx: &Transaction) {
        let text = format!(
            "message size exceeds the limit of {} bytes",
            self.size_limit()
        );
        self.per_recipient(tx, 552, "5.3.4", &text);
    }

    /// Commits the message and answers: 250 only once it is durable.
    ///
    /// Recipients with the same [`Target`] are one delivery (a part); a
    /// message to several tickets or queues is delivered once per target
    /// (the bytes are stored once). LMTP answers each recipient with its
    /// own part's outcome; SMTP gives one answer ([`Session::smtp_answer`]).
    async fn deliver(&mut self, tx: Transaction, data: Vec<u8>) {
        let trace = self.received(&tx);
        let mut raw = Vec::with_capacity(trace.len() + data.len());
        raw.extend_from_slice(trace.as_bytes());
        raw.extend_from_slice(&data);
        drop(data);
        self.messages += 1;
        let mut groups: Vec<(&Target, Vec<String>)> = Vec::new();
        for (recipient, target) in &tx.recipients {
            match groups.iter_mut().find(|(t, _)| *t == target) {
                Some((_, list)) => list.push(recipient.clone()),
                None => groups.push((target, vec![recipient.clone()])),
            }
        }
        let all: Vec<String> = tx.recipients.iter().map(|(r, _)| r.clone()).collect();
        let count = groups.len();
        // One part takes the bytes; several get a copy each, and the bytes
        // stay for a part SMTP has to keep in quarantine.
        let mut raw = Some(raw);
        let mut parts: Vec<Part<'_>> = Vec::with_capacity(count);
        for (target, recipients) in groups {
            let bytes = if count == 1 {
                raw.take().unwrap_or_default()
            } else {
                raw.clone().unwrap_or_default()
            };
            let envelope = Envelope {
                sender: Some(tx.sender.clone()),
                recipients,
                source: Source::Smtp,
            };
            let whole = (count > 1).then_some(all.as_slice());
            let delivered = self.server.intake.deliver_part(bytes, &envelope, whole);
            let outcome = delivered.await;
            match &outcome {
                Ok(outcome) => {
                    tracing::info!(session = %self.id, outcome = ?outcome, "message taken")
                }
                Err(e) => {
                    tracing::error!(session = %self.id, error = ?e, "store failure; answered 451")
                }
            }
            parts.push(Part {
                target,
                envelope,
                outcome,
            });
        }
        match self.protocol {
            Protocol::Smtp => {
                let (code, esc, text) = self.smtp_answer(&parts, raw, &all).await;
                self.reply(code, esc, &text);
            }
            Protocol::Lmtp => {
                for (recipient, target) in &tx.recipients {
                    if let Some(part) = parts.iter().find(|p| p.target == target) {
                        let (code, esc, text) = answer(part.target, &part.outcome);
                        let text = format!("<{}> {text}", printable(recipient, 254));
                        self.reply(code, esc, &text);
                    }
                }
            }
        }
    }

    /// SMTP's one answer to a message of several parts. "There are no
    /// partial failures": 451 if any part failed (the retry finds the others
    /// stored: duplicates). Else 250 if any part was taken, once each part
    /// that matched nothing (a reply address whose token does not verify,
    /// on a message that names no ticket; a queue removed meanwhile) is
    /// kept in quarantine, so that nothing is dropped silently; if that
    /// fails, 451. Else the first part's refusal (550 when nothing matched:
    /// the sender's own MTA bounces it, parley sends nothing).
    async fn smtp_answer(
        &self,
        parts: &[Part<'_>],
        raw: Option<Vec<u8>>,
        all: &[String],
    ) -> Answer {
        let answers: Vec<Answer> = parts.iter().map(|p| answer(p.target, &p.outcome)).collect();
        if let Some(failed) = answers.iter().find(|a| a.0 / 100 == 4) {
            return failed.clone();
        }
        let Some(taken) = answers.iter().find(|a| a.0 / 100 == 2) else {
            return answers.into_iter().next().unwrap_or_else(store_failed);
        };
        for part in parts {
            if !matches!(part.outcome, Ok(Outcome::NoMatch)) {
                continue;
            }
            let detail = format!(
                "{}: {}; the message was taken for its other recipients",
                part.envelope.recipients.join(", "),
                match part.target {
                    Target::Stale =>
                        "the reply token does not verify and the message names no ticket",
                    _ => "no ticket or queue matched",
                }
            );
            let bytes = raw.clone().unwrap_or_default();
            let kept = self
                .server
                .intake
                .quarantine_part(bytes, &part.envelope, all, "no_match", &detail)
                .await;
            match kept {
                Ok(id) => {
                    tracing::info!(session = %self.id, quarantine = id, %detail, "part kept in quarantine")
                }
                Err(e) => {
                    tracing::error!(session = %self.id, error = ?e, "store failure; answered 451");
                    return store_failed();
                }
            }
        }
        taken.clone()
    }

    /// SMTP answers the data once; LMTP once per accepted recipient.
    fn per_recipient(&mut self, tx: &Transaction, code: u16, esc: &str, text: &str) {
        match self.protocol {
            Protocol::Smtp => self.reply(code, esc, text),
            Protocol::Lmtp => {
                for (rcpt, _) in &tx.recipients {
                    let text = format!("<{}> {text}", printable(rcpt, 254));
                    self.reply(code, esc, &text);
                }
            }
        }
    }

    /// The `Received:` header (RFC 5321 4.4) this hop adds.
    fn received(&self, tx: &Transaction) -> String {
        let helo = match &self.greeting {
            Greeting::Helo(h) | Greeting::Ehlo(h) => printable(h, 100),
            Greeting::None => "unknown".into(),
        };
        let with = match (self.protocol, &self.greeting, self.conn.is_tls()) {
            (Protocol::Lmtp, _, false) => "LMTP",
            (Protocol::Lmtp, _, true) => "LMTPS",
            (Protocol::Smtp, Greeting::Ehlo(_), true) => "ESMTPS",
            (Protocol::Smtp, Greeting::Ehlo(_), false) => "ESMTP",
            (Protocol::Smtp, _, _) => "SMTP",
        };
        let recipient = match tx.recipients.as_slice() {
            [(one, _)] => format!("\r\n\tfor <{}>", printable(one, 200)),
            _ => String::new(),
        };
        let date = jiff::fmt::rfc2822::to_string(
            &jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC),
        )
        .unwrap_or_default();
        format!(
            "Received: from {helo} ([{ip}])\r\n\tby {host} (parley) with {with} id {id}.{n}{recipient};\r\n\t{date}\r\n",
            ip = self.peer.ip(),
            host = self.settings.hostname,
            id = self.id,
            n = self.messages,
        )
    }
}

/// A reply: code, enhanced status code, text.
type Answer = (u16, &'static str, String);

/// One delivery of a message: the recipients with the same target.
struct Part<'a> {
    target: &'a Target,
    envelope: Envelope,
    outcome: Result<Outcome, StoreError>,
}

fn store_failed() -> Answer {
    (
        451,
        "4.3.0",
        "temporary failure storing the message; try again later".to_string(),
    )
}

/// The reply for what intake did with the part for `target`.
fn answer(target: &Target, outcome: &Result<Outcome, StoreError>) -> Answer {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(_) => return store_failed(),
    };
    match outcome {
        Outcome::Stored {
            ticket, message, ..
        } => (
            250,
            "2.0.0",
            format!("stored as message {message} on ticket {ticket}"),
        ),
        Outcome::Duplicate { .. } => (250, "2.0.0", "already stored".into()),
        Outcome::Quarantined { .. } => (250, "2.0.0", "stored for review".into()),
        Outcome::Bounced(_) => (250, "2.0.0", "delivery report recorded".into()),
        Outcome::NoMatch if *target == Target::Stale => (
            550,
            "5.1.1",
            "reply address not valid (its token does not verify), and the message \
             names no ticket by References or subject tag"
                .into(),
        ),
        Outcome::NoMatch => (
            550,
            "5.1.1",
            "no recipient of this message is known here".into(),
        ),
        Outcome::Rejected { reason } => (554, "5.7.1", printable(reason, 200)),
    }
}
