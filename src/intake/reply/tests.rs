//! The main rules, one small body each.

use super::*;

fn text(input: &str) -> String {
    extract(input).text
}

fn html(input: &str) -> String {
    extract_html(input).text
}

#[test]
fn our_marker_cuts_exactly() {
    let r = extract(
        "Sure, Friday works.\n\n## Please REPLY ABOVE THIS LINE ##\n\nYou have a new message\n",
    );
    assert_eq!(r.text, "Sure, Friday works.");
    assert!(r.elided.starts_with("## Please REPLY ABOVE THIS LINE ##"));
    // Quoted by the client under an attribution: both go.
    assert_eq!(
        text(
            "Paid.\n\nOn Mon, 9 Mar 2026 at 14:02, Parley <r@parley.example> wrote:\n> -- reply above this line --\n> Lot 4\n"
        ),
        "Paid."
    );
}

#[test]
fn attribution_lines() {
    let cases = [
        "On Mon, 9 Mar 2026 at 14:02, Ana <ana@example.com> wrote:",
        "On 09/03/2026 14:02, Ana wrote:",
        "Am Mo., 9. März 2026 um 14:02 Uhr schrieb Ana <ana@example.com>:",
        "Am 09.03.2026 um 14:02 schrieb Ana:",
        "Le lun. 9 mars 2026 à 14:02, Ana <ana@example.com> a écrit :",
        "El lun, 9 mar 2026 a las 14:02, Ana (<ana@example.com>) escribió:",
        "Il giorno lun 9 mar 2026 alle ore 14:02 Ana <ana@example.com> ha scritto:",
        "Op ma 9 mrt 2026 om 14:02 schreef Ana <ana@example.com>:",
        "Em seg., 9 de mar. de 2026 às 14:02, Ana <ana@example.com> escreveu:",
        "W dniu 9.03.2026 o 14:02, Ana pisze:",
        "pon., 9 mar 2026 o 14:02 Ana <ana@example.com> napisał(a):",
        "Den mån 9 mars 2026 kl 14:02 skrev Ana <ana@example.com>:",
        "man. 9. mar. 2026 kl. 14:02 skrev Ana <ana@example.com>:",
        "2026年3月9日(月) 14:02 Ana <ana@example.com>:",
        "2026/03/09 14:02、Ana <ana@example.com> のメッセージ:",
        "在 2026年3月9日，下午2:02，Ana <ana@example.com> 写道：",
        "пн, 9 мар. 2026 г. в 14:02, Ana <ana@example.com>:",
        "9 березня 2026 р. о 14:02 Ana <ana@example.com> написав:",
        "---- Ana wrote ----",
    ];
    for header in cases {
        let body =
            format!("Yes, still available.\n\n{header}\n\n> Is lot 4 still available?\n> Ana\n");
        assert_eq!(text(&body), "Yes, still available.", "{header}");
        // Also when the history under it is not quoted.
        let body = format!("Yes, still available.\n\n{header}\n\nIs lot 4 still available?\n");
        assert_eq!(
            text(&body),
            "Yes, still available.",
            "unquoted under {header}"
        );
    }
}

#[test]
fn wrapped_attribution_lines() {
    let cases = [
        "On Mon, Mar 9, 2026 at 2:02 PM Ana Lopez <\nana@example.com> wrote:",
        "On Mon, Mar 9, 2026 at 2:02 PM Ana Lopez\n<ana@example.com> wrote:",
        "On Mon, Mar 9, 2026 at 2:02 PM, Ana Lopez\n<ana@example.com>\nwrote:",
        "On Mar 9, 2026,\nat 14:02,\nAna Lopez <ana@example.com> wrote:",
        "W dniu 9 marca 2026 14:02 użytkownik Ana <ana@example.com>\nnapisał:",
        "2026-03-09 14:02 GMT+01:00 Ana <\nana@example.com>:",
    ];
    for header in cases {
        let body = format!("Thanks Ana\n{header}\n\n> Is lot 4 still available?\n");
        assert_eq!(text(&body), "Thanks Ana", "{header:?}");
    }
    // The attribution shares the author's last line.
    assert_eq!(
        text("reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:\n> Hi\n"),
        "reply"
    );
}

#[test]
fn not_attributions() {
    for body in [
        "On Thursday, I will ship the lot.\n\nRegards to the team",
        "Something wrote:\nthe lot is fine",
        "My friend wrote: it is fine\nand more",
        "On my way to the depot.\nSee you",
    ] {
        assert_eq!(text(body), body, "{body:?}");
    }
}

#[test]
fn original_message_and_header_blocks() {
    let cases = [
        "-----Original Message-----\nFrom: Ana\nSent: Monday\n\nOld text",
        "----- Ursprüngliche Nachricht -----\nVon: Ana\n\nAlt",
        // Decorated in other ways.
        "~~~~~ Original Message ~~~~~\nFrom: Ana\n\nOld text",
        "———— Original  Message ————\nFrom: Ana\n\nOld text",
        "<<<< Original Message >>>>\nFrom: Ana\n\nOld text",
        "### Mensaje original ###\nDe: Ana\n\nViejo",
        "*** Original Message ***\nFrom: Ana\n\nOld text",
        "From: Ana Lopez <ana@example.com>\nSent: Monday, March 9, 2026 2:02 PM\nTo: Parley\nSubject: Lot 4\n\nOld",
        "________________________________\nFrom: Ana Lopez <ana@example.com>\nSent: Monday, March 9, 2026 2:02 PM\nTo: Parley\nSubject: Lot 4\n\nOld",
        "*From:* Ana [mailto:\nana@example.com]\n*Sent:* Monday\n*To:* Parley\n*Subject:* Lot 4\n\nOld",
        "Von: Ana <ana@example.com>\nGesendet: Montag, 9. März 2026 14:02\nAn: Parley\nBetreff: Los 4\n\nAlt",
        "De : Ana <ana@example.com>\nEnvoyé : lundi 9 mars 2026 14:02\nÀ : Parley\nObjet : Lot 4\n\nAncien",
        "Da: Ana\nInviato: lunedì 9 marzo 2026 14:02\nA: Parley\nOggetto: Lotto 4\n\nVecchio",
        "Van: Ana\nVerzonden: maandag 9 maart 2026 14:02\nAan: Parley\nOnderwerp: Kavel 4\n\nOud",
        "De: Ana\nEnviado: lunes, 9 de marzo de 2026 14:02\nPara: Parley\nAsunto: Lote 4\n\nViejo",
        "Od: Ana\nWysłano: poniedziałek, 9 marca 2026 14:02\nDo: Parley\nTemat: Los 4\n\nStary",
        "Från: Ana\nSkickat: den 9 mars 2026 14:02\nTill: Parley\nÄmne: Lot 4\n\nGammal",
        "发件人: Ana <ana@example.com>\n发送时间: 2026年3月9日 14:02\n收件人: Parley\n主题: Lot 4\n\n旧",
        "差出人: Ana <ana@example.com>\n送信日時: 2026年3月9日 14:02\n宛先: Parley\n件名: Lot 4\n\n古い",
    ];
    for history in cases {
        let r = extract(&format!("Done, see you Friday.\n\n{history}\n"));
        assert_eq!(r.text, "Done, see you Friday.", "{history:?}");
        assert!(
            r.elided.ends_with(history.rsplit('\n').next().unwrap()),
            "{history:?}: {:?}",
            r.elided
        );
    }
    // Without an address, a header block needs a subject and a date.
    let body = "Done.\n\nFrom: Sofie De Smet\nSent: Monday, March 9, 2026 2:02 PM\nTo: Peter\nSubject: RE: Lot 4\n\nOld";
    assert_eq!(text(body), "Done.");
    let body = "Pick-up details:\nFrom: Ghent depot\nTo: Lyon\nDate: Saturday 14 March 2026\n\nCall me before.";
    assert_eq!(text(body), body);
    // One "From:" line alone is not a header block.
    assert_eq!(
        text("Sure.\n\nFrom: the seller's side it looks fine"),
        "Sure.\n\nFrom: the seller's side it looks fine"
    );
}

#[test]
fn quoted_blocks() {
    // A trailing block goes, a single ">" line stays.
    assert_eq!(text("Fine.\n\n> a\n> b\n"), "Fine.");
    assert_eq!(text("Fine.\n> maybe\n"), "Fine.\n> maybe");
    // Inline answers are kept with the questions they answer.
    let inline = "On Mon, 9 Mar 2026 at 14:02, Ana <ana@example.com> wrote:\n> Is it oak?\n\nYes, oak.\n\n> And the price?\n\n120 euros.\n\n> Thanks\n> Ana\n";
    assert_eq!(
        text(inline),
        "On Mon, 9 Mar 2026 at 14:02, Ana <ana@example.com> wrote:\n> Is it oak?\n\nYes, oak.\n\n> And the price?\n\n120 euros."
    );
    // Bottom-posting: the answer under one quoted block.
    assert_eq!(
        text(
            "On Mon, 9 Mar 2026 at 14:02, Ana <ana@example.com> wrote:\n> Is it oak?\n\nYes, oak.\n"
        ),
        "Yes, oak."
    );
    // Unprefixed wrapped lines inside the quote do not make it an answer.
    assert_eq!(
        text(
            "Ok.\n\nOn Mon, 9 Mar 2026 at 14:02, Ana <ana@example.com> wrote:\n> a long quoted line that the client wrapped without a prefix for the\nrest of it\n> end\n"
        ),
        "Ok."
    );
}

#[test]
fn forwards_are_kept() {
    let body = "FYI\n\n---------- Forwarded message ---------\nFrom: Ana <ana@example.com>\nDate: Mon, 9 Mar 2026\nSubject: Lot 4\n\nThe buyer's question";
    assert_eq!(text(body), body);
}

#[test]
fn signatures() {
    // Cut: a delimited signature and a client's sign-off.
    let cut = [
        (
            "Fine.\n-- \nMaria\nAntiques Lopez",
            "--\nMaria\nAntiques Lopez",
        ),
        ("Fine.\n\n--\nMaria", "--\nMaria"),
        ("Fine.\n\nSent from my iPhone", "Sent from my iPhone"),
        (
            "Fine.\n\nSent from my Samsung Galaxy smartphone.",
            "Sent from my Samsung Galaxy smartphone.",
        ),
        (
            "Fine.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
        ),
        (
            "Fine.\n\nGet Outlook for Android",
            "Get Outlook for Android",
        ),
        (
            "Fine.\n\nSent from Yahoo Mail on Android",
            "Sent from Yahoo Mail on Android",
        ),
        (
            "Gut.\n\nVon meinem iPhone gesendet",
            "Von meinem iPhone gesendet",
        ),
        ("Bien.\n\nEnvoyé de mon iPhone", "Envoyé de mon iPhone"),
        (
            "Bien.\n\nEnviado desde mi iPhone",
            "Enviado desde mi iPhone",
        ),
        ("Bene.\n\nInviato da iPhone", "Inviato da iPhone"),
        (
            "Goed.\n\nVerzonden vanaf mijn iPhone",
            "Verzonden vanaf mijn iPhone",
        ),
        ("Bom.\n\nEnviado do meu iPhone", "Enviado do meu iPhone"),
        ("Dobrze.\n\nWysłane z iPhone'a", "Wysłane z iPhone'a"),
        ("Bra.\n\nSkickat från min iPhone", "Skickat från min iPhone"),
        ("はい。\n\niPhoneから送信", "iPhoneから送信"),
        ("好的。\n\n发自我的iPhone", "发自我的iPhone"),
    ];
    for (input, signature) in cut {
        let r = extract(input);
        assert_eq!(r.signature, signature, "{input:?}");
        assert!(!r.text.contains(signature), "{input:?}");
        assert_eq!(r.without_signature(), r.text, "{input:?}");
        assert!(r.elided.contains(signature), "{input:?}");
    }
    // Kept: a closing the author wrote, marked as the signature.
    let kept = [
        (
            "Fine.\n\nThanks,\nMaria Lopez\nLopez Antiques\n+34 600 000 000",
            "Thanks,\nMaria Lopez\nLopez Antiques\n+34 600 000 000",
        ),
        (
            "Fine.\n\nMit freundlichen Grüßen\nMaria Lopez",
            "Mit freundlichen Grüßen\nMaria Lopez",
        ),
        ("Fine.\n\n-Maria", "-Maria"),
        ("Fine.\n\nBest regards,\n\nMaria", "Best regards,\n\nMaria"),
    ];
    for (input, signature) in kept {
        let r = extract(input);
        assert_eq!(r.text, input, "{input:?}");
        assert_eq!(r.signature, signature, "{input:?}");
        assert_eq!(r.without_signature(), "Fine.", "{input:?}");
        assert_eq!(r.elided, "", "{input:?}");
    }
}

#[test]
fn a_closing_stays_while_what_is_under_a_delimiter_goes() {
    let r = extract(
        "Fine.\n\nThanks,\nMaria\n-- \nLopez Antiques\n+34 600 000 000\n\nSent from my iPhone",
    );
    assert_eq!(r.text, "Fine.\n\nThanks,\nMaria");
    assert_eq!(
        r.signature,
        "Thanks,\nMaria\n--\nLopez Antiques\n+34 600 000 000\n\nSent from my iPhone"
    );
    assert_eq!(r.without_signature(), "Fine.");
    assert_eq!(
        r.elided,
        "--\nLopez Antiques\n+34 600 000 000\n\nSent from my iPhone"
    );
    // A closing above quoted history: the history goes, the closing stays.
    let r = extract(
        "Yes, Saturday.\n\nCheers,\nAna\n\nOn Mon, 9 Mar 2026 at 10:00, Shop <s@example.com> wrote:\n> Saturday?",
    );
    assert_eq!(r.text, "Yes, Saturday.\n\nCheers,\nAna");
    assert_eq!(r.signature, "Cheers,\nAna");
    assert!(r.elided.starts_with("On Mon"), "{:?}", r.elided);
}

#[test]
fn sign_off_lines_count_what_the_text_ends_with() {
    assert_eq!(
        sign_off_lines("Fine.\n\nThanks,\nMaria", "Thanks,\nMaria\n-- \nShop"),
        2
    );
    assert_eq!(
        sign_off_lines("Fine.\n\nThanks,\n\nMaria", "Thanks,\n\nMaria"),
        3
    );
    assert_eq!(sign_off_lines("Fine.", "-- \nShop"), 0);
    assert_eq!(sign_off_lines("Fine.", ""), 0);
    // A masked text with the same lines.
    assert_eq!(
        before_sign_off("Call me.\nThanks,\nMaria", "Thanks,\nMaria"),
        "Call me."
    );
    assert_eq!(before_sign_off("Thanks,\nMaria", "Thanks,\nMaria"), "");
}

#[test]
fn not_signatures() {
    for body in [
        "Thanks, will do!",
        "Here is another email\n\nSent from my desk, is much easier then my mobile phone.",
        "Sent from the depot yesterday.\nIt should arrive Monday.",
        "Items:\n- the lamp",
        "Two things:\n- the lamp\n- the desk",
        "And here is a fix -- this is not a signature.\n\nkthxbai",
        "Hi,\nThanks!\nI will pay tomorrow via bank transfer, is that fine with you?",
    ] {
        assert_eq!(text(body), body, "{body:?}");
    }
}

#[test]
fn all_history_keeps_everything() {
    let body = "> quoted only\n> nothing else";
    let r = extract(body);
    assert_eq!(r.text, body);
    assert_eq!(r.elided, "");
    assert_eq!(extract("").text, "");
    assert_eq!(extract("-- \nMaria").text, "--\nMaria");
}

#[test]
fn placeholder_character_in_plain_text_is_text() {
    assert_eq!(text("a\n\u{E000}0\nb"), "a\n\u{FFFD}0\nb");
}

#[test]
fn html_quote_containers() {
    let reply = "<div>Yes, still available.</div>";
    let containers = [
        "<div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, 9 Mar 2026 at 14:02, Ana &lt;ana@example.com&gt; wrote:<br></div><blockquote class=\"gmail_quote\">Is it?</blockquote></div>",
        "<div class=\"gmail_quote gmail_quote_container\">On Mon wrote:<blockquote>Is it?</blockquote></div>",
        "<div><br><blockquote type=\"cite\"><div>On 9 Mar 2026, at 14:02, Ana &lt;ana@example.com&gt; wrote:</div><div>Is it?</div></blockquote></div>",
        "<div class=\"moz-cite-prefix\">On 09.03.26 14:02, Ana wrote:<br></div><blockquote type=\"cite\" cite=\"mid:x\">Is it?</blockquote>",
        "<div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\"><div id=\"divRplyFwdMsg\"><b>From:</b> Ana<br><b>Sent:</b> Monday</div><div>Is it?</div>",
        "<div id=\"x_divRplyFwdMsg\"><b>Von:</b> Ana</div><div>Ist es?</div>",
        "<div class=\"yahoo_quoted\" id=\"yahoo_quoted_123\"><div>On Monday, March 9, 2026, 14:02, Ana wrote:</div><div>Is it?</div></div>",
        "<div class=\"protonmail_quote\">On Monday, March 9th, 2026 at 14:02, Ana &lt;ana@example.com&gt; wrote:<br><blockquote class=\"protonmail_quote\" type=\"cite\">Is it?</blockquote></div>",
        "<span id=\"OLK_SRC_BODY_SECTION\"><div><b>From: </b>Ana<br><b>Date: </b>Monday<br></div><div>Is it?</div></span>",
        "<div style=\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\"><p class=\"MsoNormal\"><b>Von:</b> Ana<br><b>Gesendet:</b> Montag</p></div><p class=\"MsoNormal\">Ist es?</p>",
        "<div id=\"parley-reply-above\">Reply above this line</div><p>Lot 4: Ana asked a question</p>",
        "<div><div id=\"yiv0123456789parley-reply-above\">Reply above this line</div><p>Lot 4: Ana asked</p></div>",
        "<div name=\"quote\"><div><b>Gesendet:</b>&nbsp;Montag<br><b>Von:</b>&nbsp;Ana</div><div name=\"quoted-content\">Ist es?</div></div>",
    ];
    for quote in containers {
        let body = format!("<html><body>{reply}{quote}</body></html>");
        let r = extract_html(&body);
        assert_eq!(r.text, "Yes, still available.", "{quote}");
        assert!(
            r.elided.contains("Is") || r.elided.contains("Ist") || r.elided.contains("Lot 4"),
            "{quote}: {:?}",
            r.elided
        );
    }
}

#[test]
fn html_own_blockquote_stays_when_the_client_marked_the_history() {
    let body = "<div>About this:</div><blockquote>Is the lamp included?</blockquote><div>Yes, it is.</div>\
        <div class=\"gmail_quote\">On Mon, 9 Mar 2026 at 14:02, Ana wrote:<blockquote class=\"gmail_quote\">old</blockquote></div>";
    assert_eq!(
        html(body),
        "About this:\n> Is the lamp included?\nYes, it is."
    );
    // Yahoo prefixes the classes of quoted HTML.
    let body = "<div>Fine.</div><div id=\"ydp5f1yahoo_quoted_77\" class=\"ydp5f1yahoo_quoted\"><div>Ana said</div><div>old</div></div>";
    assert_eq!(html(body), "Fine.");
}

#[test]
fn html_forward_in_gmail_quote_is_kept() {
    let body = "<div>FYI</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">---------- Forwarded message ---------<br>From: Ana<br></div>The buyer's question</div>";
    assert_eq!(
        html(body),
        "FYI\n---------- Forwarded message ---------\nFrom: Ana\nThe buyer's question"
    );
}

#[test]
fn html_interleaved_blockquotes_stay() {
    let body = "<div>Answers inline:</div><blockquote type=\"cite\">Is it oak?</blockquote><div>Yes.</div><blockquote type=\"cite\">Price?</blockquote><div>120 euros.</div>";
    assert_eq!(
        html(body),
        "Answers inline:\n> Is it oak?\nYes.\n> Price?\n120 euros."
    );
    // The last one goes when nothing follows it.
    let body = "<div>Yes.</div><blockquote>a</blockquote><div>b</div><blockquote>old</blockquote>";
    assert_eq!(html(body), "Yes.\n> a\nb");
}

#[test]
fn html_to_text_rendering() {
    let body = "<html><head><title>t</title><style>p{}</style><script>x()</script></head><body>\
        <p>One&nbsp;&amp; two</p><p class=MsoNormal>a</p><p class=MsoNormal>b</p>\
        <div>c<br>d<br><br>e</div><ul><li>x</li><li>y</li></ul><pre>  keep\n  this</pre>&#x41;&lt;</body></html>";
    assert_eq!(
        html_to_text(body),
        "One & two\n\na\nb\nc\nd\n\ne\n• x\n• y\n  keep\n  this\nA<"
    );
    // Broken markup does not lose text or panic.
    assert_eq!(
        html_to_text("a < b and <b>bold</i> <span id='x"),
        "a < b and bold"
    );
    assert_eq!(html_to_text("<div><div><blockquote>q"), "> q");
}

#[test]
fn html_signatures_go_in_full_extraction() {
    let body = "<div>Yes.</div><div><br></div>-- <br><div class=\"gmail_signature\">Ana Lopez<br>Lopez Antiques</div>";
    assert_eq!(html(body), "Yes.");
    assert_eq!(
        extract_html(body).signature,
        "--\nAna Lopez\nLopez Antiques"
    );
    // The block alone, without a delimiter line: still the signature.
    let r = extract_html(
        "<div>Yes.</div><div class=\"gmail_signature\">Ana Lopez<br>Lopez Antiques</div>",
    );
    assert_eq!(
        (r.text.as_str(), r.signature.as_str()),
        ("Yes.", "Ana Lopez\nLopez Antiques")
    );
    assert_eq!(
        strip_quotes_html(body).text,
        "Yes.\n\n--\nAna Lopez\nLopez Antiques"
    );
}

#[test]
fn sanitizing() {
    let clean = sanitize_html(
        "<p onclick=\"x()\">Hi<script>alert(1)</script><img src=\"cid:logo@x\"><a href=\"javascript:x()\">a</a>\
         <img src=\"data:image/png;base64,AAAA\"><style>body{}</style></p>",
    );
    assert!(
        !clean.contains("script") && !clean.contains("onclick") && !clean.contains("javascript"),
        "{clean}"
    );
    assert!(
        !clean.contains("data:") && !clean.contains("style"),
        "{clean}"
    );
    assert!(clean.contains("src=\"cid:logo@x\""), "{clean}");
}

#[test]
fn for_message_prefers_the_text_part() {
    let both = b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
From text.\r\n\r\nOn Mon, 9 Mar 2026 at 14:02, P <p@example.com> wrote:\r\n> old\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<div>From html.</div>\r\n--b--\r\n";
    let parsed = crate::intake::parse::parse(both).unwrap();
    assert_eq!(for_message(&parsed).text, "From text.");
    let html_only = b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n\
<div>From html.</div><blockquote type=\"cite\">old</blockquote>\r\n";
    let parsed = crate::intake::parse::parse(html_only).unwrap();
    let r = for_message(&parsed);
    assert_eq!(r.text, "From html.");
    assert_eq!(r.elided, "> old");
}

/// Arbitrary mixtures of the syntax the stages look at never panic and
/// never return more text than came in.
#[test]
fn arbitrary_input() {
    const PIECES: &[&str] = &[
        "<",
        ">",
        "> ",
        "On ",
        "wrote:",
        "\n",
        "\r\n",
        "é",
        "年",
        "：",
        "-- ",
        "--",
        "From: ",
        "Sent: ",
        "&",
        "&nbsp;",
        ";",
        "<div",
        "</div>",
        "<blockquote type=cite>",
        "</blockquote>",
        "\u{E000}",
        "@",
        "2026",
        "14:02",
        " ",
        "Thanks,",
        "Sent from my iPhone",
        "reply above this line",
        "<br>",
        "'",
        "\"",
        "id=",
        "class=gmail_quote",
        "=",
        "<!--",
        "-->",
        "<script>",
        "</p>",
        "<p>",
        "x",
        "________",
        "\t",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let len = (next() % 40) as usize;
        let input: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let r = extract(&input);
        assert!(r.text.len() <= input.len() + 8, "{input:?}");
        let _ = extract_html(&input);
        let _ = html_to_text(&input);
    }
}

#[test]
fn invisible_characters_at_the_end_go() {
    // Zero-width spaces and joiners, a byte-order mark, Unicode tags a
    // tracker appended: nothing a reader sees, so nothing kept.
    assert_eq!(text("Still available?\u{200b}\u{200d}"), "Still available?");
    assert_eq!(
        text("Still available?\n\u{feff}\n\u{e0041}\u{e0042}\u{e007f}\n"),
        "Still available?"
    );
    assert_eq!(text("Paid.\u{2060} \nThanks\u{200c}"), "Paid.\nThanks");
    // Inside the text they stay: a joiner in an emoji, a word joiner.
    assert_eq!(text("ok 👩\u{200d}💻 done"), "ok 👩\u{200d}💻 done");
    assert_eq!(
        html("<p>Deal.</p><p>\u{200b}\u{200b}</p><div>\u{feff}</div>"),
        "Deal."
    );
}
