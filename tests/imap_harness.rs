//! The Dovecot harness itself (tests/imap/dovecot.rs), against a real
//! Dovecot: appends and UIDs, folders, restart, a recreated folder, two
//! instances side by side, nothing left running. Without Dovecot installed
//! these tests fail (run scripts/test): they never skip.

#[path = "imap/dovecot.rs"]
mod dovecot;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use dovecot::{Dovecot, Session};

const SELLER: (&str, &str) = ("seller", "secret-1");
const DESK: (&str, &str) = ("desk2", "pa\"ss wo\\rd");

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: buyer{n}@buyer.example\r\nTo: seller@shop.example\r\nSubject: Question {n}\r\n\
         Message-ID: <harness-{n}@buyer.example>\r\n\r\nIs lot {n} still available?\r\n"
    )
    .into_bytes()
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

#[test]
fn appended_messages_get_ascending_uids_under_one_uidvalidity() {
    let d = Dovecot::start(&[SELLER, DESK]);
    assert_eq!(d.host(), "127.0.0.1");
    assert!(d.dir().join("dovecot.conf").is_file());
    let (user, password) = SELLER;
    let uids: Vec<u32> = (1..=3)
        .map(|n| d.append(user, password, "INBOX", &message(n)))
        .collect();
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
    assert_eq!(d.uids(user, password, "INBOX"), uids);
    assert_ne!(d.uidvalidity(user, password, "INBOX"), 0);
    assert_eq!(d.uidnext(user, password, "INBOX"), uids[2] + 1);
    assert!(d.flags(user, password, "INBOX", uids[0]).is_empty());
    // The other user has a mailbox of its own (and a password that needs
    // quoting).
    assert!(d.uids(DESK.0, DESK.1, "INBOX").is_empty());

    let seen = d.append_with_flags(
        user,
        password,
        "INBOX",
        &["\\Seen", "\\Flagged"],
        &message(4),
    );
    let mut flags = d.flags(user, password, "INBOX", seen);
    flags.sort();
    assert_eq!(flags, ["\\Flagged", "\\Seen"]);
}

#[test]
fn the_bytes_come_back_as_appended_through_a_literal() {
    let d = Dovecot::start(&[SELLER]);
    let (user, password) = SELLER;
    let mut raw = message(1);
    raw.extend_from_slice(b"A line with \"quotes\", a {7} and a backslash \\.\r\n");
    let uid = d.append(user, password, "INBOX", &raw);
    let mut s: Session = d.session(user, password);
    s.run("EXAMINE INBOX").unwrap();
    let done = s.run(&format!("UID FETCH {uid} BODY.PEEK[]")).unwrap();
    let fetched: Vec<&Vec<u8>> = done.untagged.iter().flat_map(|l| &l.literals).collect();
    assert_eq!(fetched, [&raw]);
    assert!(done.untagged[0].text.contains(&format!("UID {uid}")));
    s.logout();
}

#[test]
fn appending_to_a_new_folder_creates_it() {
    let d = Dovecot::start(&[SELLER]);
    let (user, password) = SELLER;
    assert_eq!(d.folders(user, password), ["INBOX"]);
    let first = d.append(user, password, "Archive", &message(1));
    let second = d.append(user, password, "Archive", &message(2));
    assert_eq!(d.folders(user, password), ["Archive", "INBOX"]);
    assert_eq!(d.uids(user, password, "Archive"), [first, second]);
    assert!(d.uids(user, password, "INBOX").is_empty());
    assert_ne!(
        d.uidvalidity(user, password, "Archive"),
        d.uidvalidity(user, password, "INBOX")
    );
}

#[test]
fn restart_keeps_the_mail_and_the_port() {
    let mut d = Dovecot::start(&[SELLER]);
    let (user, password) = SELLER;
    let port = d.port();
    let uids: Vec<u32> = (1..=2)
        .map(|n| d.append(user, password, "INBOX", &message(n)))
        .collect();
    let archived = d.append(user, password, "Archive", &message(3));
    let validity = d.uidvalidity(user, password, "INBOX");
    let mut open = d.session(user, password);
    open.run("SELECT INBOX").unwrap();

    d.stop();
    assert!(!d.running());
    assert!(d.processes().is_empty(), "{:?}", d.processes());
    assert!(!accepts(port), "nothing listens while stopped");
    assert!(open.run("NOOP").is_err(), "a connection does not survive");

    d.restart();
    assert!(d.running());
    assert_eq!(d.port(), port);
    assert_eq!(d.uids(user, password, "INBOX"), uids);
    assert_eq!(d.uids(user, password, "Archive"), [archived]);
    assert_eq!(d.uidvalidity(user, password, "INBOX"), validity);
    assert_eq!(d.append(user, password, "INBOX", &message(4)), uids[1] + 1);

    // Restarting a running one works too.
    d.restart();
    assert_eq!(d.uids(user, password, "INBOX").len(), 3);
}

#[test]
fn recreating_a_folder_changes_its_uidvalidity_and_empties_it() {
    let d = Dovecot::start(&[SELLER, DESK]);
    let (user, password) = SELLER;
    for folder in ["Archive", "INBOX"] {
        for n in 1..=3 {
            d.append(user, password, folder, &message(n));
        }
    }
    let kept = d.append(DESK.0, DESK.1, "INBOX", &message(9));

    let archive = d.uidvalidity(user, password, "Archive");
    d.recreate_folder(user, password, "Archive");
    assert_ne!(d.uidvalidity(user, password, "Archive"), archive);
    assert!(d.uids(user, password, "Archive").is_empty());
    assert_eq!(d.append(user, password, "Archive", &message(1)), 1);
    assert_eq!(
        d.uids(user, password, "INBOX"),
        [1, 2, 3],
        "INBOX untouched"
    );

    let port = d.port();
    let inbox = d.uidvalidity(user, password, "INBOX");
    d.recreate_folder(user, password, "INBOX");
    assert_eq!(d.port(), port);
    assert_ne!(d.uidvalidity(user, password, "INBOX"), inbox);
    assert!(d.uids(user, password, "INBOX").is_empty());
    let again: Vec<u32> = (1..=3)
        .map(|n| d.append(user, password, "INBOX", &message(n)))
        .collect();
    assert_eq!(again, [1, 2, 3], "UIDs from 1 again");
    assert_eq!(d.uids(user, password, "Archive"), [1], "Archive untouched");
    assert_eq!(d.folders(user, password), ["Archive", "INBOX"]);
    assert_eq!(
        d.uids(DESK.0, DESK.1, "INBOX"),
        [kept],
        "other users untouched"
    );
}

#[test]
fn two_instances_run_side_by_side() {
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| Dovecot::start(&[SELLER]));
        let b = scope.spawn(|| Dovecot::start(&[SELLER]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (user, password) = SELLER;
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    assert_ne!(a.instance(), b.instance());
    for n in 1..=2 {
        a.append(user, password, "INBOX", &message(n));
    }
    b.append(user, password, "Elsewhere", &message(3));
    assert_eq!(a.uids(user, password, "INBOX"), [1, 2]);
    assert!(b.uids(user, password, "INBOX").is_empty());
    assert_eq!(a.folders(user, password), ["INBOX"]);
    assert_eq!(b.folders(user, password), ["Elsewhere", "INBOX"]);

    let b_port = b.port();
    drop(a);
    assert_eq!(b.uids(user, password, "Elsewhere"), [1], "b outlives a");
    drop(b);
    assert!(!accepts(b_port));
}

#[test]
fn dropping_it_leaves_no_process_behind() {
    let d = Dovecot::start(&[SELLER]);
    let (user, password) = SELLER;
    d.append(user, password, "INBOX", &message(1));
    // An open connection keeps an imap process alive until the end.
    let mut open = d.session(user, password);
    open.run("SELECT INBOX").unwrap();
    let instance = d.instance().to_string();
    let port = d.port();
    let dir = d.dir().to_path_buf();
    assert!(d.processes().len() > 1, "a master and its children");
    drop(d);
    assert!(
        dovecot::instance_processes(&instance).is_empty(),
        "{:?}",
        dovecot::instance_processes(&instance)
    );
    assert!(!accepts(port));
    assert!(!dir.exists(), "the folder is removed");
}
