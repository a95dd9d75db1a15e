//! `intake::classify` on small messages: every rule, its reason, the order
//! between rules, and the look-alikes that must stay `none`.

use parley::intake::classify::{Auto, Classification, LOOP_HEADER, classify};
use parley::intake::parse::parse;

const DOMAIN: &str = "reply.example.com";

/// A message with `headers` (CRLF or LF lines), a default From and Subject
/// when `headers` has none, and a short body.
fn message(headers: &str) -> Vec<u8> {
    let has = |name: &str| {
        headers
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
    };
    let mut out = String::new();
    if !has("from") {
        out.push_str("From: Maria Lopez <maria@example.com>\r\n");
    }
    if !has("subject") {
        out.push_str("Subject: Lot 12\r\n");
    }
    out.push_str("To: desk@example.com\r\nMessage-ID: <m1@example.com>\r\n");
    for line in headers.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\nIs lot 12 still available?\r\n");
    out.into_bytes()
}

fn run(headers: &str, envelope: Option<&str>) -> Classification {
    let raw = message(headers);
    let parsed = parse(&raw).unwrap_or_else(|| panic!("does not parse:\n{headers}"));
    classify(&parsed, envelope, DOMAIN)
}

/// (headers, envelope sender, expected kind, expected reason)
type Case = (&'static str, Option<&'static str>, Auto, &'static str);

fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for &(headers, envelope, auto, reason) in cases {
        let got = run(headers, envelope);
        if got.auto != auto || got.reason != reason {
            failures.push(format!(
                "headers {headers:?}, envelope {envelope:?}: want {auto:?} {reason:?}, got {:?} {:?}",
                got.auto, got.reason
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn names_and_serialization() {
    for (auto, name) in [
        (Auto::None, "none"),
        (Auto::AutoReply, "auto_reply"),
        (Auto::Bounce, "bounce"),
        (Auto::List, "list"),
        (Auto::Loop, "loop"),
    ] {
        assert_eq!(auto.as_str(), name);
        assert_eq!(auto.to_string(), name);
        assert_eq!(serde_json::to_string(&auto).unwrap(), format!("\"{name}\""));
    }
    assert_eq!(LOOP_HEADER, "X-Parley-Loop");
}

#[test]
fn ordinary_mail_is_none() {
    check(&[
        ("", None, Auto::None, ""),
        (
            "In-Reply-To: <n1@reply.example.com>",
            Some("maria@example.com"),
            Auto::None,
            "",
        ),
        ("Precedence: normal", None, Auto::None, ""),
        ("Precedence: first-class", None, Auto::None, ""),
        ("Auto-Submitted: no", None, Auto::None, ""),
        (
            "Auto-Submitted: No (sent by a person)",
            None,
            Auto::None,
            "",
        ),
        ("Auto-Submitted:", None, Auto::None, ""),
        ("X-Autoreply: no", None, Auto::None, ""),
        ("Return-Path: <maria@example.com>", None, Auto::None, ""),
        // Only what senders put on mail asking not to be auto-answered.
        ("X-Auto-Response-Suppress: All", None, Auto::None, ""),
        (
            "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply",
            None,
            Auto::None,
            "",
        ),
        // A message an Exchange inbox rule merely forwarded.
        (
            "X-MS-Exchange-Inbox-Rules-Loop: seller@example.com",
            None,
            Auto::None,
            "",
        ),
        // Marketing or transactional mail with only an unsubscribe link.
        (
            "List-Unsubscribe: <mailto:unsub@shop.example>",
            None,
            Auto::None,
            "",
        ),
        (
            "List-Unsubscribe: <https://shop.example/u>\nList-Unsubscribe-Post: List-Unsubscribe=One-Click",
            None,
            Auto::None,
            "",
        ),
    ]);
}

#[test]
fn loop_header() {
    check(&[
        (
            "X-Parley-Loop: reply.example.com\nAuto-Submitted: auto-generated",
            None,
            Auto::Loop,
            "x-parley-loop header",
        ),
        (
            "X-PARLEY-LOOP: Reply.Example.COM.",
            None,
            Auto::Loop,
            "x-parley-loop header",
        ),
        (
            "X-Parley-Loop: <reply.example.com> (parley)",
            None,
            Auto::Loop,
            "x-parley-loop header",
        ),
        (
            "X-Parley-Loop: other.example.org\nX-Parley-Loop: reply.example.com",
            None,
            Auto::Loop,
            "x-parley-loop header",
        ),
        // Loop is checked before everything else.
        (
            "X-Parley-Loop: reply.example.com\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\nFrom: MAILER-DAEMON@mx.example.com",
            Some(""),
            Auto::Loop,
            "x-parley-loop header",
        ),
        // Another parley installation's notification.
        (
            "X-Parley-Loop: helpdesk.other.example",
            None,
            Auto::AutoReply,
            "x-parley-loop header (other domain)",
        ),
    ]);
}

#[test]
fn delivery_reports() {
    const DSN: &str = "multipart/report delivery-status";
    check(&[
        (
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"",
            None,
            Auto::Bounce,
            DSN,
        ),
        (
            "Content-Type: multipart/report; boundary=\"b\"; report-type=delivery-status",
            None,
            Auto::Bounce,
            DSN,
        ),
        (
            "Content-Type: Multipart/Report; Boundary=\"b\"; REPORT-TYPE=\"Delivery-Status\"",
            None,
            Auto::Bounce,
            DSN,
        ),
        (
            "Content-Type: multipart/report;\n\treport-type=delivery-status;\n\tboundary=\"b\"",
            None,
            Auto::Bounce,
            DSN,
        ),
        (
            "Content-Type: multipart/report (dsn) ; report-type = delivery-status ; boundary=b",
            None,
            Auto::Bounce,
            DSN,
        ),
        (
            "Content-Type: multipart/report; boundary=\"x; report-type=other\"; report-type=delivery-status",
            None,
            Auto::Bounce,
            DSN,
        ),
        // A DSN from a person-looking sender with a person-looking subject
        // is still a DSN.
        (
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\nSubject: Lot 12",
            Some("bob@example.com"),
            Auto::Bounce,
            DSN,
        ),
        // DSNs also carry Auto-Submitted: the report decides.
        (
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\nAuto-Submitted: auto-replied",
            None,
            Auto::Bounce,
            DSN,
        ),
        // Other reports are machine mail, but not bounces.
        (
            "Content-Type: multipart/report; report-type=disposition-notification; boundary=b",
            None,
            Auto::AutoReply,
            "multipart/report disposition-notification",
        ),
        (
            "Content-Type: multipart/report; report-type=feedback-report; boundary=b",
            None,
            Auto::AutoReply,
            "multipart/report feedback-report",
        ),
        (
            "Content-Type: multipart/report; boundary=b",
            None,
            Auto::AutoReply,
            "multipart/report without type",
        ),
        // Not a report at all.
        (
            "Content-Type: multipart/mixed; report-type=delivery-status; boundary=b",
            None,
            Auto::None,
            "",
        ),
        // Vendor markers.
        (
            "X-MS-Exchange-Message-Is-Ndr:",
            None,
            Auto::Bounce,
            "x-ms-exchange-message-is-ndr",
        ),
        (
            "X-Failed-Recipients: gone@example.net",
            None,
            Auto::Bounce,
            "x-failed-recipients",
        ),
    ]);
}

#[test]
fn system_senders() {
    check(&[
        (
            "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\nSubject: failure notice",
            None,
            Auto::Bounce,
            "mailer-daemon sender",
        ),
        (
            "From: Mail Delivery Subsystem <Mailer-Daemon@mx.example.com>\nSubject: Lot 12",
            None,
            Auto::Bounce,
            "mailer-daemon sender",
        ),
        (
            "Return-Path: <MAILER-DAEMON@mx.example.com>",
            None,
            Auto::Bounce,
            "mailer-daemon sender",
        ),
        (
            "",
            Some("MAILER-DAEMON@mx.example.com"),
            Auto::Bounce,
            "mailer-daemon sender",
        ),
        // postmaster needs a second sign.
        (
            "From: Mail Administrator <Postmaster@example.net>\nSubject: Returned mail: see transcript for details",
            None,
            Auto::Bounce,
            "postmaster sender",
        ),
        (
            "From: postmaster@example.net\nReturn-Path: <>",
            None,
            Auto::Bounce,
            "postmaster sender",
        ),
        (
            "From: postmaster@example.net",
            Some(""),
            Auto::Bounce,
            "postmaster sender",
        ),
        (
            "From: postmaster@example.net\nAuto-Submitted: auto-generated",
            None,
            Auto::Bounce,
            "postmaster sender",
        ),
        // A postmaster writing by hand is a person.
        (
            "From: Postmaster <postmaster@example.net>\nSubject: Your question about lot 12\nReturn-Path: <postmaster@example.net>",
            Some("postmaster@example.net"),
            Auto::None,
            "",
        ),
        // Non-standard bounces: a bounce subject from a null or system sender.
        (
            "From: Mail Delivery <noreply@mx.example.com>\nSubject: Undelivered Mail Returned to Sender",
            Some(""),
            Auto::Bounce,
            "bounce subject",
        ),
        (
            "From: delivery@mx.example.com\nSubject: Delivery Status Notification (Failure)\nReturn-Path: <>",
            None,
            Auto::Bounce,
            "bounce subject",
        ),
        (
            "From: Mail System <system@mx.example.com>\nSubject: Mail delivery failed: returning message to sender",
            Some("<>"),
            Auto::Bounce,
            "bounce subject",
        ),
        (
            "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.onmicrosoft.com>\nSubject: Undeliverable: Lot 12",
            None,
            Auto::Bounce,
            "bounce subject",
        ),
        // The same subject from a person is a person's.
        (
            "From: Bob <bob@example.com>\nSubject: Returned mail: the lot 12 box came back",
            Some("bob@example.com"),
            Auto::None,
            "",
        ),
        (
            "From: Bob <bob@example.com>\nSubject: Fwd: Undelivered Mail Returned to Sender",
            None,
            Auto::None,
            "",
        ),
    ]);
}

#[test]
fn null_sender() {
    check(&[
        // Human-looking mail from the null sender: only delivery systems and
        // automatic responders use <>, so it is a bounce.
        ("Return-Path: <>", None, Auto::Bounce, "null return-path"),
        ("Return-Path: < >", None, Auto::Bounce, "null return-path"),
        ("", Some(""), Auto::Bounce, "null envelope sender"),
        ("", Some("<>"), Auto::Bounce, "null envelope sender"),
        (
            "Return-Path: <>",
            Some(""),
            Auto::Bounce,
            "null envelope sender",
        ),
        (
            "Return-Path: <>",
            Some("bob@example.com"),
            Auto::Bounce,
            "null return-path",
        ),
        // An empty Return-Path header says nothing.
        ("Return-Path:", None, Auto::None, ""),
        // Out-of-office replies come from <> too (RFC 3834 §3.3, Exchange):
        // they are auto-replies, never bounces that would mark the address
        // failing.
        (
            "Return-Path: <>\nAuto-Submitted: auto-replied",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-replied",
        ),
        (
            "Subject: Automatic reply: Lot 12",
            Some(""),
            Auto::AutoReply,
            "out-of-office subject",
        ),
        (
            "Return-Path: <>\nPrecedence: bulk",
            None,
            Auto::AutoReply,
            "precedence: bulk",
        ),
    ]);
}

#[test]
fn auto_reply_headers() {
    check(&[
        (
            "Auto-Submitted: auto-replied",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-replied",
        ),
        (
            "Auto-Submitted: Auto-Replied; owner-email=\"maria@example.com\"",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-replied",
        ),
        (
            "Auto-Submitted: auto-generated (vacation)",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-generated",
        ),
        (
            "Auto-Submitted: auto-notified",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-notified",
        ),
        (
            "Auto-Submitted: (comment first) auto-generated",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-generated",
        ),
        (
            "Auto-Submitted: no\nAuto-Submitted: auto-replied",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-replied",
        ),
        (
            "X-Autoreply: yes",
            None,
            Auto::AutoReply,
            "x-autoreply header",
        ),
        (
            "X-AutoReply: YES",
            None,
            Auto::AutoReply,
            "x-autoreply header",
        ),
        (
            "X-Autorespond: Out of office",
            None,
            Auto::AutoReply,
            "x-autorespond header",
        ),
        (
            "X-Autoresponder: true",
            None,
            Auto::AutoReply,
            "x-autoresponder header",
        ),
        (
            "Precedence: auto_reply",
            None,
            Auto::AutoReply,
            "precedence: auto_reply",
        ),
        (
            "Precedence: bulk",
            None,
            Auto::AutoReply,
            "precedence: bulk",
        ),
        (
            "Precedence: junk",
            None,
            Auto::AutoReply,
            "precedence: junk",
        ),
        (
            "Precedence: BULK (newsletter)",
            None,
            Auto::AutoReply,
            "precedence: bulk",
        ),
        // Exchange out-of-office: both markers together.
        (
            "X-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: seller@example.com",
            None,
            Auto::AutoReply,
            "exchange inbox-rule reply",
        ),
        // The real thing also says Auto-Submitted, which is checked first.
        (
            "Subject: Automatic reply: Lot 12\nX-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: seller@example.com\nAuto-Submitted: auto-generated\nX-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\nReturn-Path: <>",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-generated",
        ),
    ]);
}

#[test]
fn out_of_office_subjects() {
    const OOF: &str = "out-of-office subject";
    let subjects = [
        "Automatic reply: Lot 12",
        "AUTOMATIC REPLY: Lot 12",
        "Auto-Reply: I'm out of office.",
        "Autoreply: Lot 12",
        "Out of Office",
        "Out of Office: Lot 12",
        "Out of Office AutoReply: Lot 12",
        "Automatische Antwort: Los 12",
        "Abwesenheitsnotiz: Los 12",
        "Réponse automatique : Lot 12",
        "Absence du bureau : Lot 12",
        "Respuesta automática: Lote 12",
        "Risposta automatica: Lotto 12",
        "Automatisch antwoord: Kavel 12",
        "Resposta automática: Lote 12",
        "Autosvar: Lot 12",
        "Automatisk svar: Lot 12",
        "Automaattinen vastaus: Erä 12",
        "Odpowiedź automatyczna: Partia 12",
        "Automatická odpověď: Položka 12",
        "Автоматический ответ: Лот 12",
        "自動応答: ロット12",
        "自动回复：拍品12",
        "自動回覆: 拍品12",
        "자동 회신: 로트 12",
        "Otomatik yanıt: Lot 12",
        "Automatikus válasz: Tétel 12",
    ];
    let mut cases: Vec<Case> = Vec::new();
    let headers: Vec<String> = subjects.iter().map(|s| format!("Subject: {s}")).collect();
    for h in &headers {
        cases.push((h.clone().leak(), None, Auto::AutoReply, OOF));
    }
    cases.extend_from_slice(&[
        // Encoded words are decoded before matching.
        (
            "Subject: =?UTF-8?Q?R=C3=A9ponse_automatique_:_Lot_12?=",
            None,
            Auto::AutoReply,
            OOF,
        ),
        (
            "Subject: =?ISO-8859-1?Q?Respuesta_autom=E1tica:?= Lote 12",
            None,
            Auto::AutoReply,
            OOF,
        ),
        (
            "Subject: =?UTF-8?B?6Ieq5YuV5b+c562UOiBMb3QgMTI=?=",
            None,
            Auto::AutoReply,
            OOF,
        ),
        // People's subjects that merely start alike.
        (
            "Subject: Out of office next week - can I collect lot 12 later?",
            None,
            Auto::None,
            "",
        ),
        ("Subject: Re: Automatic reply: Lot 12", None, Auto::None, ""),
        (
            "Subject: Automatically charged twice for lot 12?",
            None,
            Auto::None,
            "",
        ),
        ("Subject: Auto: Frage zum Los 12", None, Auto::None, ""),
        ("Subject: Lot 12 - automatic reply?", None, Auto::None, ""),
    ]);
    check(&cases);
}

#[test]
fn list_mail() {
    check(&[
        (
            "List-Id: Auction news <news.lists.example.com>",
            None,
            Auto::List,
            "list-id",
        ),
        (
            "List-ID: <news.lists.example.com>\nPrecedence: bulk",
            None,
            Auto::List,
            "list-id",
        ),
        (
            "List-Id: <news.lists.example.com>\nPrecedence: junk",
            Some("bounces@lists.example.com"),
            Auto::List,
            "list-id",
        ),
        (
            "List-Unsubscribe: <mailto:u@lists.example.com>\nPrecedence: bulk",
            None,
            Auto::List,
            "list-unsubscribe with precedence: bulk",
        ),
        (
            "List-Unsubscribe: <https://lists.example.com/u>\nPrecedence: list",
            None,
            Auto::List,
            "list-unsubscribe with precedence: list",
        ),
        (
            "List-Post: <mailto:news@lists.example.com>\nPrecedence: List",
            None,
            Auto::List,
            "list-post with precedence: list",
        ),
        ("Precedence: list", None, Auto::List, "precedence: list"),
        // Explicit auto-reply markers come before list headers.
        (
            "List-Id: <news.lists.example.com>\nAuto-Submitted: auto-replied",
            None,
            Auto::AutoReply,
            "auto-submitted: auto-replied",
        ),
        // A list-distributed bounce is a bounce.
        (
            "List-Id: <news.lists.example.com>\nFrom: MAILER-DAEMON@lists.example.com",
            None,
            Auto::Bounce,
            "mailer-daemon sender",
        ),
    ]);
}
