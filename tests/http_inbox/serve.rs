//! Over real sockets against `parley serve`, on every backend: the
//! seller's answer arriving by SMTP makes the buyer's unread count 1; she
//! reads it, and her event stream carries the `read.marked` (hers alone).

use std::time::Duration;

use common::http::{EventStream, PLATFORM};
use common::served::{Served, free_port};
use common::smtp::Smtp;

use super::*;

const WAIT: Duration = Duration::from_secs(20);

fn bearer(credential: &str) -> String {
    format!("Authorization: Bearer {credential}")
}

/// Delivers `mail` by SMTP; panics unless it is accepted.
fn deliver(port: u16, from: &str, to: &str, mail: &[u8]) {
    let mut smtp = Smtp::connect(port).expect("connects");
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO client.test", 250).unwrap();
    smtp.expect(&format!("MAIL FROM:<{from}>"), 250).unwrap();
    smtp.expect(&format!("RCPT TO:<{to}>"), 250).unwrap();
    smtp.expect("DATA", 354).unwrap();
    let mut data = mail.to_vec();
    data.extend_from_slice(b".\r\n");
    smtp.send(&data).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 250);
}

#[test]
fn mail_by_smtp_is_unread_until_read_and_the_marker_is_an_event() {
    for backend in backends() {
        println!("== on {}", backend.name());
        unread_by_smtp(&backend);
    }
}

fn unread_by_smtp(backend: &Backend) {
    let smtp = free_port();
    let served = Served::on(
        backend,
        &format!("listen = [\"127.0.0.1:{smtp}\"]"),
        "listen = [\"127.0.0.1:{http}\"]",
        "",
    );
    let minted = served.api(
        "POST",
        "/api/v1/tokens",
        PLATFORM.2,
        Some(&json!({ "address": MARIA })),
    );
    assert_eq!(minted.status, 201, "{}", served.log());
    let maria = minted.json()["token"].as_str().unwrap().to_string();
    let unread = |served: &Served| {
        let answer = served.api("GET", "/api/v1/unread", &maria, None);
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()
    };

    // She asks by mail; her own message is nothing unread.
    let ask = Mail::new(MARIA, DESK, "Is the oak sideboard still there?");
    deliver(smtp, MARIA, DESK, &ask.bytes());
    assert_eq!(unread(&served)["total"], 0);
    let list = served.api("GET", "/api/v1/conversations", &maria, None);
    let n = list.json()["items"][0]["number"].as_i64().unwrap();

    // The seller answers by mail (the subject tag threads it).
    let answer =
        Mail::new(AGENT, DESK, &format!("Re: [#{n}] sideboard")).body("Yes, it is still there.\n");
    deliver(smtp, AGENT, DESK, &answer.bytes());
    assert_eq!(
        unread(&served),
        json!({ "total": 1, "conversations": [{ "conversation": n, "unread": 1 }] }),
        "{}",
        served.log()
    );

    // She reads it; her stream hears of it.
    let mut stream = EventStream::open(served.http, "/api/v1/events", &[&bearer(&maria)])
        .unwrap_or_else(|a| panic!("{a:?}"));
    let read = served.api(
        "POST",
        &format!("/api/v1/conversations/{n}/read"),
        &maria,
        None,
    );
    assert_eq!(read.status, 200, "{read:?}");
    let horizon = read.json()["horizon"].as_i64().unwrap();
    assert_eq!(read.json()["unread"], 0);
    assert_eq!(unread(&served)["total"], 0);
    let event = loop {
        let event = stream.next(WAIT).expect("read.marked on the stream");
        if event.event == "read.marked" {
            break event;
        }
    };
    assert_eq!(event.data["ticket"], n);
    assert_eq!(event.data["message"], horizon);
}
