//! The IMAP poller when the store cannot commit, against a real Dovecot
//! (tests/imap/dovecot.rs) on every backend: a message is flagged, moved
//! or expunged only after its commit (docs/flow.md), so a failing commit
//! leaves the mailbox exactly as it was and the cursor where it was; once
//! the store works again, each message is taken exactly once.

mod common;
#[path = "imap/dovecot.rs"]
mod dovecot;

use common::*;
use dovecot::Dovecot;
use parley::config::ImapConfig;
use parley::imap::{ImapError, Strikes, poll_once};
use sqlx::Connection;

const PASSWORD: &str = "secret-1";
const MOVE_TO: &str = "Done";
/// The quarantine folder's default name.
const QUARANTINE: &str = "parley-quarantine";
/// The `after` settings: flag `\Seen`, move, delete and expunge.
const AFTER: [&str; 3] = ["seen", "move", "delete"];

fn mailbox(d: &Dovecot, user: &str, after: &str) -> ImapConfig {
    let text = format!(
        "host = \"127.0.0.1\"\ntls = \"none\"\nport = {}\nusername = \"{user}\"\n\
         password = \"{PASSWORD}\"\nqueue = \"desk\"\nafter = \"{after}\"\nmove_to = \"{MOVE_TO}\"\n",
        d.port()
    );
    toml::from_str(&text).expect("a valid [[imap]] entry")
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: buyer{n}@buyer.example\r\nTo: seller@shop.example\r\nSubject: Question {n}\r\n\
         Message-ID: <commit-fails-{n}@buyer.example>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\n\
         Is the oak sideboard of lot {n} still available?\r\n"
    )
    .into_bytes()
}

/// Every insert into `messages` fails (a full disk, a server gone), as the
/// SMTP dialog tests make it fail, until [`Failure::remove`].
enum Failure {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Failure {
    async fn install(env: &TestEnv) -> Failure {
        let url = &env.config.store.url;
        if env.backend == "sqlite" {
            let mut admin = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(
                "CREATE TRIGGER fail_messages BEFORE INSERT ON messages \
                 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
            )
            .execute(&mut admin)
            .await
            .unwrap();
            Failure::Sqlite(admin)
        } else {
            let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
            for sql in [
                "CREATE FUNCTION fail_messages() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$",
                "CREATE TRIGGER fail_messages BEFORE INSERT ON messages \
                 FOR EACH ROW EXECUTE FUNCTION fail_messages()",
            ] {
                sqlx::query(sql).execute(&mut admin).await.unwrap();
            }
            Failure::Postgres(admin)
        }
    }

    async fn remove(self) {
        match self {
            Failure::Sqlite(mut admin) => {
                sqlx::query("DROP TRIGGER fail_messages")
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
            Failure::Postgres(mut admin) => {
                sqlx::query("DROP TRIGGER fail_messages ON messages")
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let _ = admin.close().await;
            }
        }
    }
}

/// One mailbox with `after`: two messages, a pass whose commits fail, then
/// a pass on a working store and one more.
async fn commit_fails(d: &Dovecot, env: &TestEnv, user: &str, after: &str) {
    let what = format!("{} after = {after}", env.backend);
    let config = mailbox(d, user, after);
    let uids = vec![
        d.append(user, PASSWORD, "INBOX", &message(1)),
        d.append(user, PASSWORD, "INBOX", &message(2)),
    ];

    let failure = Failure::install(env).await;
    let error = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .expect_err("the pass fails with the commit");
    assert!(matches!(error, ImapError::Store(_)), "{what}: {error}");
    assert_eq!(
        d.uids(user, PASSWORD, "INBOX"),
        uids,
        "{what}: nothing expunged or moved away"
    );
    for &uid in &uids {
        let flags = d.flags(user, PASSWORD, "INBOX", uid);
        assert!(
            !flags.iter().any(|f| f == "\\Seen" || f == "\\Deleted"),
            "{what}: {uid} flagged {flags:?}"
        );
    }
    if after == "move" {
        assert!(d.uids(user, PASSWORD, MOVE_TO).is_empty(), "{what}: moved");
    }
    assert!(
        d.uids(user, PASSWORD, QUARANTINE).is_empty(),
        "{what}: a store failure is no reason for quarantine"
    );
    let store = env.store();
    assert!(
        store.imap_cursor(&config.key()).await.unwrap().is_none(),
        "{what}: the cursor advanced"
    );
    assert!(store.quarantined().await.unwrap().is_empty(), "{what}");
    assert_eq!(env.counts().await, Counts::default(), "{what}: half-stored");

    // The store works again: both are taken, once.
    failure.remove().await;
    let pass = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((pass.taken, pass.quarantined), (2, 0), "{what}");
    match after {
        "seen" => {
            for &uid in &uids {
                let flags = d.flags(user, PASSWORD, "INBOX", uid);
                assert!(flags.iter().any(|f| f == "\\Seen"), "{what}: {flags:?}");
            }
        }
        "move" => {
            assert!(d.uids(user, PASSWORD, "INBOX").is_empty(), "{what}");
            assert_eq!(d.uids(user, PASSWORD, MOVE_TO).len(), 2, "{what}");
        }
        _ => assert!(d.uids(user, PASSWORD, "INBOX").is_empty(), "{what}"),
    }
    let cursor = store.imap_cursor(&config.key()).await.unwrap();
    assert_eq!(
        cursor.map(|c| c.last_uid),
        Some(i64::from(uids[1])),
        "{what}"
    );
    let again = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(again.taken, 0, "{what}: taken again");
    let counts = env.counts().await;
    assert_eq!(
        (counts.raws, counts.tickets, counts.messages),
        (2, 2, 2),
        "{what}: each message stored once"
    );
}

#[tokio::test]
async fn a_failing_commit_flags_moves_and_deletes_nothing() {
    let backends = backends();
    let users: Vec<String> = backends
        .iter()
        .flat_map(|b| AFTER.map(|after| format!("{}-{after}", b.name())))
        .collect();
    let logins: Vec<(&str, &str)> = users.iter().map(|u| (u.as_str(), PASSWORD)).collect();
    let d = Dovecot::start(&logins);
    for backend in &backends {
        for after in AFTER {
            let env = TestEnv::new(backend, |_| {}).await;
            commit_fails(&d, &env, &format!("{}-{after}", backend.name()), after).await;
        }
    }
}
