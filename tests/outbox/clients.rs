//! The whole round over SMTP, with real processes: a client mails the
//! intake address of a running `parley serve` (swaks), the seller's
//! notification arrives at Postfix's `smtp-sink`, the seller answers it as
//! Gmail does and the client answers that as Outlook does (their reply
//! headers, their quoted history, multipart text + HTML), each through
//! parley's SMTP listener; every answer lands on the same ticket with the
//! right status, and the other side is notified in turn. A ticket forwarded
//! to a staff address is answered from Gmail as the seller side.

use std::process::{Command, Stdio};

use mail_parser::{HeaderValue, MessageParser};
use serde_json::Value;

use super::common::{AGENT, DESK, MARIA, REPLY_DOMAIN, unique};
use super::wire::{Site, all_in, text};

/// A notification as a mail client shows it to the one answering.
struct Notice {
    message_id: String,
    references: Vec<String>,
    subject: String,
    /// The From header as shown: `"Name" <address>`.
    from: String,
    reply_to: String,
    text: String,
    html: String,
}

impl Notice {
    fn parse(bytes: &[u8]) -> Notice {
        let mail = MessageParser::default().parse(bytes).expect("a mail");
        let ids = |v: &HeaderValue| match v {
            HeaderValue::Text(id) => vec![id.to_string()],
            HeaderValue::TextList(ids) => ids.iter().map(|i| i.to_string()).collect(),
            _ => Vec::new(),
        };
        let from = mail.from().and_then(|a| a.first()).expect("From");
        Notice {
            message_id: mail.message_id().expect("Message-ID").to_string(),
            references: ids(mail.references()),
            subject: mail.subject().unwrap_or_default().to_string(),
            from: format!(
                "\"{}\" <{}>",
                from.name().unwrap_or_default(),
                from.address().unwrap_or_default()
            ),
            reply_to: mail
                .reply_to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .expect("Reply-To")
                .to_string(),
            text: mail
                .body_text(0)
                .expect("a text part")
                .replace("\r\n", "\n"),
            html: mail.body_html(0).expect("an HTML part").to_string(),
        }
    }

    /// `References` of an answer: the notice's own, then the notice.
    fn references(&self) -> String {
        self.references
            .iter()
            .chain([&self.message_id])
            .map(|id| format!("<{id}>"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Gmail's answer: multipart/alternative, the text part quoted with "> "
/// under "On …, NAME <ADDR> wrote:", the HTML part in a gmail_quote.
fn gmail_reply(name: &str, from: &str, notice: &Notice, answer: &str) -> (String, String) {
    let id = format!("CAHx{}+kq=w@mail.gmail.com", unique());
    let quoted: String = notice
        .text
        .lines()
        .map(|l| {
            if l.is_empty() {
                ">\r\n".into()
            } else {
                format!("> {l}\r\n")
            }
        })
        .collect();
    let attribution = format!(
        "On Sat, Nov 21, 2026 at 2:16 PM {} wrote:",
        notice.from.replace('"', "")
    );
    let boundary = "000000000000a1b2c3d4e5f60718";
    let mail = format!(
        "MIME-Version: 1.0\r\n\
         References: {references}\r\n\
         In-Reply-To: <{parent}>\r\n\
         From: {name} <{from}>\r\n\
         Date: Sat, 21 Nov 2026 14:17:03 +0100\r\n\
         Message-ID: <{id}>\r\n\
         Subject: Re: {subject}\r\n\
         To: {to}\r\n\
         Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=\"UTF-8\"\r\n\
         \r\n\
         {answer}\r\n\
         \r\n\
         {attribution}\r\n\
         \r\n\
         {quoted}\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/html; charset=\"UTF-8\"\r\n\
         \r\n\
         <div dir=\"ltr\">{answer}</div><br><div class=\"gmail_quote gmail_quote_container\">\
         <div dir=\"ltr\" class=\"gmail_attr\">{attribution_html}<br></div>\
         <blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;\
         border-left:1px solid rgb(204,204,204);padding-left:1ex\">{html}</blockquote></div>\r\n\
         --{boundary}--\r\n",
        references = notice.references(),
        parent = notice.message_id,
        subject = notice.subject,
        to = notice
            .from
            .replace(&address_of(&notice.from), &notice.reply_to),
        attribution_html = attribution.replace('<', "&lt;").replace('>', "&gt;"),
        html = body_of(&notice.html),
    );
    (id, mail)
}

/// Outlook's answer: "RE:", Thread-Topic and Thread-Index, the text part
/// with the history unquoted under a line and a From/Sent/To/Subject
/// block, quoted-printable, the HTML part with divRplyFwdMsg.
fn outlook_reply(name: &str, from: &str, notice: &Notice, answer: &str) -> (String, String) {
    let id = format!(
        "AM9PR07MB{}.EURPRD07.PROD.OUTLOOK.COM@AM9PR07MB7{}.eurprd07.prod.outlook.com",
        unique(),
        unique()
    );
    let header_block = format!(
        "From: {}\nSent: Saturday, November 21, 2026 2:18 PM\nTo: {from}\nSubject: {}",
        notice.from.replace('"', ""),
        notice.subject
    );
    let plain = format!(
        "{answer}\n\n________________________________\n{header_block}\n\n{}",
        notice.text
    );
    let html = format!(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=us-ascii\">\
         </head><body><div style=\"font-family: Aptos, sans-serif; font-size: 12pt;\">{answer}\
         </div><div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\" \
         tabindex=\"-1\"><div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\" \
         style=\"font-size:11pt\" color=\"#000000\">{}</font><div>&nbsp;</div></div>{}</body></html>",
        header_block
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\n', "<br>"),
        body_of(&notice.html)
    );
    let boundary = "_000_AM9PR07MB7123ABCDEFeurprd07prodoutlookcom_";
    let mail = format!(
        "From: {name} <{from}>\r\n\
         To: {to}\r\n\
         Subject: RE: {subject}\r\n\
         Thread-Topic: {subject}\r\n\
         Thread-Index: AQHbO2f5c3VwcG9ydEBleGFtcGxlLmNvbQ==\r\n\
         Date: Sat, 21 Nov 2026 13:18:44 +0000\r\n\
         Message-ID: <{id}>\r\n\
         References: {references}\r\n\
         In-Reply-To: <{parent}>\r\n\
         Accept-Language: en-GB, en-US\r\n\
         Content-Language: en-GB\r\n\
         X-MS-Has-Attach:\r\n\
         X-MS-TNEF-Correlator:\r\n\
         Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\
         MIME-Version: 1.0\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=\"us-ascii\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         {plain}\r\n\
         --{boundary}\r\n\
         Content-Type: text/html; charset=\"us-ascii\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         {html}\r\n\
         --{boundary}--\r\n",
        to = notice
            .from
            .replace(&address_of(&notice.from), &notice.reply_to),
        subject = notice.subject,
        references = notice.references(),
        parent = notice.message_id,
        plain = quoted_printable(&plain),
        html = quoted_printable(&html),
    );
    (id, mail)
}

/// The address inside `"Name" <address>`.
fn address_of(shown: &str) -> String {
    shown
        .rsplit_once('<')
        .and_then(|(_, a)| a.strip_suffix('>'))
        .expect("an address in angle brackets")
        .to_string()
}

/// What is between `<body…>` and `</body>` (the whole text without them).
fn body_of(html: &str) -> &str {
    let start = html
        .find("<body")
        .and_then(|i| html[i..].find('>').map(|j| i + j + 1))
        .unwrap_or(0);
    let end = html.rfind("</body>").unwrap_or(html.len());
    &html[start..end.max(start)]
}

/// Quoted-printable as Outlook writes it: `=` and non-ASCII escaped, lines
/// soft-broken before 76 characters, CRLF line ends.
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for line in text.split('\n') {
        let mut width = 0;
        for byte in line.bytes() {
            let piece = if byte == b'=' || !(0x20..0x7f).contains(&byte) {
                format!("={byte:02X}")
            } else {
                (byte as char).to_string()
            };
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out
}

/// Sends `mail` from `from` to `to` through parley's SMTP listener with
/// swaks; fails the test unless it is accepted.
fn smtp(port: u16, from: &str, to: &str, mail: &str) {
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("mail.eml");
    std::fs::write(&path, mail).expect("mail written");
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{port}")])
        .args(["--from", from, "--to", to])
        .args(["--data", &format!("@{}", path.display())])
        .stdin(Stdio::null())
        .output()
        .expect("swaks runs (Debian package swaks; scripts/test installs it)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("<-  250 2.0.0"),
        "swaks to {to}: {}\n{said}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails unless no header of `mail` names any of `names` (the other
/// side's Message-IDs and mail hosts).
fn assert_names_none(mail: &[u8], names: &[&str]) {
    let text = String::from_utf8_lossy(mail);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    for name in names {
        assert!(!head.contains(name), "{name} named:\n{head}");
    }
}

/// The ticket as `parley tickets show --json` prints it.
fn ticket(site: &Site, number: i64) -> Value {
    site.cli
        .json(&["tickets", "show", &number.to_string(), "--json"])
}

fn last_text(shown: &Value) -> String {
    let messages = shown["messages"].as_array().expect("messages");
    text(&messages.last().expect("a message")["reply_text"])
        .trim()
        .to_string()
}

#[test]
fn gmail_and_outlook_answers_thread_back_through_smtp() {
    let site = Site::new();
    let _sink = site.sink(&[]);
    let _serve = site.serve();
    let port = site.smtp_port;

    // Maria writes to the desk's intake address.
    let first = format!("{}@buyer.example", unique());
    smtp(
        port,
        MARIA,
        DESK,
        &format!(
            "From: Maria Lopez <{MARIA}>\r\nTo: {DESK}\r\nSubject: Oak lamp\r\n\
             Message-ID: <{first}>\r\nDate: Sat, 21 Nov 2026 14:02:11 +0100\r\n\r\n\
             Is the lamp still for sale?\r\n"
        ),
    );
    let (rows, seen, mail) = site.sent(1, "the seller side is told");
    let number = rows[0]["ticket"].as_i64().expect("a ticket");
    assert_eq!(seen.to, AGENT);
    // Nothing earlier is the agent's: the notice starts the agent's thread
    // and names no Message-ID of Maria's (it would name her mail host).
    assert_eq!(seen.in_reply_to, "");
    assert_names_none(&mail, &[&first, "buyer.example"]);
    let to_agent = rows[0]["message_id"].as_str().expect("an id").to_string();
    let notice = Notice::parse(&mail);
    assert!(
        notice.from.starts_with("\"Maria Lopez via "),
        "{}",
        notice.from
    );
    assert!(!notice.from.contains(MARIA), "{}", notice.from);
    assert!(
        notice.html.contains("Is the lamp still for sale?"),
        "{}",
        notice.html
    );
    assert!(
        notice.text.contains("Is the lamp still for sale?"),
        "{}",
        notice.text
    );

    // The agent answers from Gmail.
    let (gmail_id, gmail) = gmail_reply(
        "Anna Agent",
        AGENT,
        &notice,
        "Yes, it is. You can pick it up on Saturday.",
    );
    smtp(port, AGENT, &notice.reply_to, &gmail);
    let (rows, seen, mail) = site.sent(2, "the client is told");
    assert_eq!(rows[1]["ticket"].as_i64(), Some(number), "same ticket");
    assert_eq!(text(&rows[1]["recipient"]), MARIA);
    let shown = ticket(&site, number);
    assert_eq!(shown["ticket"]["status"], "awaiting_client", "{shown}");
    assert_eq!(
        last_text(&shown),
        "Yes, it is. You can pick it up on Saturday."
    );
    assert_eq!(seen.to, MARIA);
    // Under Maria's own first mail, which her client keeps: her client
    // threads the notice with what she wrote, and no Message-ID of the
    // agent's (mail.gmail.com) reaches her.
    assert_eq!(seen.in_reply_to, first);
    assert_names_none(&mail, &[&gmail_id, "gmail.com", &to_agent]);
    let notice = Notice::parse(&mail);
    assert_eq!(notice.references, std::slice::from_ref(&first));
    assert!(
        notice.text.contains("You can pick it up on Saturday.")
            && !notice.text.contains("Is the lamp still for sale?"),
        "the answer alone, not the quoted history: {}",
        notice.text
    );

    // Maria answers that from Outlook.
    let (outlook_id, outlook) = outlook_reply(
        "Maria Lopez",
        MARIA,
        &notice,
        "Saturday works, thank you. See you at 10 = opening time.",
    );
    smtp(port, MARIA, &notice.reply_to, &outlook);
    let (rows, seen, mail) = site.sent(3, "the seller side is told again");
    assert_eq!(rows[2]["ticket"].as_i64(), Some(number), "same ticket");
    assert_eq!(text(&rows[2]["recipient"]), AGENT);
    let shown = ticket(&site, number);
    assert_eq!(shown["ticket"]["status"], "awaiting_seller", "{shown}");
    assert_eq!(
        last_text(&shown),
        "Saturday works, thank you. See you at 10 = opening time."
    );
    assert_eq!(shown["messages"].as_array().map(Vec::len), Some(3));
    assert_eq!(seen.to, AGENT);
    // Under the agent's own Gmail answer, after the notice issued to the
    // agent: the agent's Gmail threads it; Outlook's host stays unnamed.
    assert_eq!(seen.in_reply_to, gmail_id);
    assert_eq!(Notice::parse(&mail).references, [to_agent, gmail_id]);
    assert_names_none(&mail, &[&outlook_id, "outlook.com", &first]);
    assert!(seen.body.contains("Saturday works"), "{}", seen.body);
    assert!(
        seen.subject.starts_with(&format!("[#{number}] ")),
        "{}",
        seen.subject
    );
    assert!(seen.reply_to.ends_with(&format!("@{REPLY_DOMAIN}")));
}

#[test]
fn a_forwarded_ticket_is_answered_by_staff_from_gmail() {
    const BOSS: &str = "boss@shop.example";
    let site = Site::new();
    let _sink = site.sink(&[]);
    let _serve = site.serve();
    let first = site.ingest(MARIA, DESK, "Oak lamp", "Is the lamp still for sale?");
    let rows = site.wait_outbox("the desk is told", |r| all_in(r, "sent"));
    let number = rows[0]["ticket"].as_i64().expect("a ticket");

    site.cli.expect(
        0,
        &[
            "tickets",
            "forward",
            &number.to_string(),
            "--to",
            BOSS,
            "--note",
            "Can you answer this one? <urgent>",
        ],
        b"",
    );
    let (rows, seen, transcript) = site.sent(2, "the transcript is sent");
    assert_eq!(text(&rows[1]["kind"]), "transcript");
    assert_eq!(text(&rows[1]["recipient"]), BOSS);
    assert_eq!(seen.to, BOSS);
    assert!(seen.subject.contains("Fwd: Oak lamp"), "{}", seen.subject);
    let notice = Notice::parse(&transcript);
    for part in [&notice.text, &notice.html] {
        assert!(part.contains("Is the lamp still for sale?"), "{part}");
    }
    assert!(
        notice.text.contains("Can you answer this one? <urgent>"),
        "{}",
        notice.text
    );
    assert!(
        notice
            .html
            .contains("Can you answer this one? &lt;urgent&gt;"),
        "the note is escaped in HTML: {}",
        notice.html
    );
    assert!(!notice.text.contains(MARIA) && !notice.html.contains(MARIA));

    // The boss answers from Gmail: the answer is the seller side's.
    let (id, mail) = gmail_reply("The Boss", BOSS, &notice, "Yes, it is still for sale.");
    smtp(site.smtp_port, BOSS, &notice.reply_to, &mail);
    let (rows, seen, answer) = site.sent(3, "Maria is told");
    assert_eq!(rows[2]["ticket"].as_i64(), Some(number), "same ticket");
    assert_eq!(text(&rows[2]["recipient"]), MARIA);
    let shown = ticket(&site, number);
    assert_eq!(shown["ticket"]["status"], "awaiting_client", "{shown}");
    assert_eq!(last_text(&shown), "Yes, it is still for sale.");
    assert_eq!(seen.to, MARIA);
    assert_eq!(seen.in_reply_to, first, "under Maria's own mail");
    assert_names_none(&answer, &[&id, "gmail.com"]);
    assert!(
        seen.body.contains("Yes, it is still for sale."),
        "{}",
        seen.body
    );
    let to_maria = Notice::parse(&answer);
    assert!(!to_maria.text.contains(BOSS), "{}", to_maria.text);
}
