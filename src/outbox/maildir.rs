//! The local Maildir notifications go into when no relay is configured
//! (`relay.host` empty, the default): on a fresh set-up what parley sends
//! can be read at once (`mutt -f data/maildir`, Python's `mailbox.Maildir`,
//! any Maildir reader) instead of retrying against a relay that is not
//! there.
//!
//! Written as the Maildir format asks (<https://cr.yp.to/proto/maildir.html>)
//! and as qmail-local, Postfix's local(8) and Dovecot write it: the mail
//! goes under a name unique to this host, process and delivery into
//! `tmp/`, is flushed to disk, then linked into `new/` (a link, unlike a
//! rename, never replaces a file of the same name) and `new/` is flushed;
//! the `tmp/` name is removed last. A reader never sees half a mail, and
//! the worker records the row as sent only after all of it.
//!
//! Lines end in LF in the file, as local delivery agents store them (mutt
//! and Dovecot expect it); on top go the `Return-Path` (RFC 5321 §4.4, the
//! envelope sender) and `Delivered-To` (the envelope recipient) that a
//! final delivery adds.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::address::Envelope;

/// The Maildir of `relay.maildir`: where, and the host part of the names.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    /// The host name as a file name may carry it (`/` and `:` escaped).
    host: String,
}

impl Maildir {
    /// The Maildir at `root` (nothing is touched: `parley serve` creates it
    /// with [`Maildir::create`]).
    pub fn new(root: &Path) -> Maildir {
        Maildir {
            root: root.to_path_buf(),
            host: crate::smtp::system_hostname()
                .replace('/', "\\057")
                .replace(':', "\\072"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Creates the Maildir and its `tmp/`, `new/` and `cur/` (mode 0700:
    /// notifications are private) where missing.
    pub fn create(&self) -> io::Result<()> {
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for sub in ["tmp", "new", "cur"] {
            builder
                .create(self.root.join(sub))
                .map_err(|e| self.error(sub, e))?;
        }
        File::open(&self.root)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| self.error("", e))
    }

    /// Writes one mail into `new/`, durably (see the module); the path of
    /// the file. Blocking: call it off the runtime's threads.
    pub fn deliver(&self, envelope: &Envelope, mail: &[u8]) -> io::Result<PathBuf> {
        let name = self.unique_name();
        let tmp = self.root.join("tmp").join(&name);
        let new = self.root.join("new").join(&name);
        // create_new: a name taken (it cannot be, see `unique_name`) fails
        // rather than overwrites.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| self.error("tmp", e))?;
        let written = file
            .write_all(&stored(envelope, mail))
            .and_then(|()| file.sync_all());
        drop(file);
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, &new));
        if let Err(e) = linked {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.error("new", e));
        }
        File::open(self.root.join("new"))
            .and_then(|dir| dir.sync_all())
            .map_err(|e| self.error("new", e))?;
        // The mail is in new/ for good; a tmp/ name left over by a failure
        // here is what readers clean up after 36 hours.
        let _ = std::fs::remove_file(&tmp);
        Ok(new)
    }

    /// `SECONDS.M<microseconds>P<pid>Q<delivery>.HOST`: the Maildir
    /// convention, unique across processes (PID), deliveries of one
    /// process (the counter) and hosts sharing the folder.
    fn unique_name(&self) -> String {
        static DELIVERIES: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            DELIVERIES.fetch_add(1, Ordering::Relaxed),
            self.host
        )
    }

    fn error(&self, sub: &str, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("Maildir {}: {e}", self.root.join(sub).display()),
        )
    }
}

/// The file's bytes: `Return-Path` and `Delivered-To` from the envelope,
/// then the mail with CRLF line ends turned into LF.
fn stored(envelope: &Envelope, mail: &[u8]) -> Vec<u8> {
    let sender = envelope.from().map(|a| a.to_string()).unwrap_or_default();
    let mut out = format!("Return-Path: <{sender}>\n").into_bytes();
    for rcpt in envelope.to() {
        out.extend_from_slice(format!("Delivered-To: {rcpt}\n").as_bytes());
    }
    out.reserve(mail.len());
    let mut rest = mail;
    while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
        out.extend_from_slice(&rest[..at]);
        out.push(b'\n');
        rest = &rest[at + 2..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope::new(
            Some("bounce+b1@reply.example".parse().unwrap()),
            vec!["agent@seller.example".parse().unwrap()],
        )
        .unwrap()
    }

    #[test]
    fn a_mail_lands_in_new_whole_with_lf_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::new(&dir.path().join("maildir"));
        maildir.create().unwrap();
        maildir.create().unwrap();
        let mail = b"Subject: Hi\r\nMessage-ID: <a@b>\r\n\r\nLine one\r\nLine two\r\n";
        let a = maildir.deliver(&envelope(), mail).unwrap();
        let b = maildir.deliver(&envelope(), mail).unwrap();
        assert_ne!(a, b, "unique names");
        for path in [&a, &b] {
            assert_eq!(
                path.parent(),
                Some(dir.path().join("maildir/new").as_path())
            );
            assert_eq!(
                std::fs::read_to_string(path).unwrap(),
                "Return-Path: <bounce+b1@reply.example>\n\
                 Delivered-To: agent@seller.example\n\
                 Subject: Hi\nMessage-ID: <a@b>\n\nLine one\nLine two\n"
            );
        }
        let tmp = std::fs::read_dir(dir.path().join("maildir/tmp")).unwrap();
        assert_eq!(tmp.count(), 0, "nothing left in tmp/");
        assert!(dir.path().join("maildir/cur").is_dir());
    }

    #[test]
    fn a_missing_maildir_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::new(&dir.path().join("absent"));
        let e = maildir.deliver(&envelope(), b"\r\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("absent/tmp"), "{e}");
    }
}
