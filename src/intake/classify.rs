//! Mail that no person wrote: auto-replies, bounces, list mail and our own
//! mail coming back (`auto` in `inspect`).
//!
//! Pure functions over the top-level headers kept by [`parse`](super::parse)
//! and the envelope sender; no I/O. The other loop rule (an issued
//! Message-ID as the message's own Message-ID) needs the store and is
//! intake's.
//!
//! # Decision order
//!
//! The first rule that matches decides; `reason` names it.
//!
//! 1. **`loop`**: our [`LOOP_HEADER`] naming our reply domain
//!    (`x-parley-loop header`).
//! 2. **`bounce`**, by markers only delivery systems set:
//!    - top-level `Content-Type: multipart/report` with
//!      `report-type=delivery-status` (any case, parameters in any order,
//!      quoted or not, comments ignored) — `multipart/report
//!      delivery-status`;
//!    - Exchange's `X-MS-Exchange-Message-Is-Ndr` — `x-ms-exchange-message-is-ndr`;
//!    - exim's `X-Failed-Recipients` — `x-failed-recipients`;
//!    - a MAILER-DAEMON From, Return-Path or envelope sender (any case;
//!      no person writes as MAILER-DAEMON) — `mailer-daemon sender`;
//!    - a postmaster From with corroboration: a null sender, an
//!      `Auto-Submitted` other than `no`, or a bounce subject —
//!      `postmaster sender`. A postmaster writing by hand (none of those)
//!      is a person: `none`;
//!    - a bounce subject at the start of the subject ("Undelivered Mail
//!      Returned to Sender", "Delivery Status Notification (Failure)",
//!      "Mail delivery failed", "Undeliverable:", "Returned mail:", …)
//!      from a null sender or an Exchange system sender
//!      (`MicrosoftExchange…@`) — `bounce subject`.
//! 3. **`auto_reply`**, by explicit markers:
//!    - any other `multipart/report` (read receipts, feedback reports) —
//!      `multipart/report <type>`;
//!    - RFC 3834 `Auto-Submitted` whose value token (parameters and
//!      comments dropped) is not `no` — `auto-submitted: <token>`;
//!    - `X-Autoreply`, `X-Autorespond`, `X-Autoresponder` (unless the value
//!      is `no`, `false` or `0`) — `<header> header`;
//!    - [`LOOP_HEADER`] naming some other domain (another parley's
//!      notification) — `x-parley-loop header (other domain)`;
//!    - Exchange inbox-rule replies (out-of-office): both
//!      `X-MS-Exchange-Inbox-Rules-Loop` and `X-Auto-Response-Suppress` —
//!      `exchange inbox-rule reply`. Either alone is not enough:
//!      `X-Auto-Response-Suppress` is what senders put on mail asking *not*
//!      to be auto-answered (Outlook, GitHub, Jira, parley itself), and the
//!      rules-loop header is also on messages a rule merely forwarded;
//!    - `Precedence: auto_reply` — `precedence: auto_reply`;
//!    - a localized out-of-office subject at the start of the subject
//!      ("Automatic reply:", "Automatische Antwort:", "Réponse automatique :",
//!      "Out of Office", "Abwesenheitsnotiz", …) — `out-of-office subject`.
//! 4. **`list`**:
//!    - `List-Id` alone — `list-id`;
//!    - `List-Unsubscribe` or `List-Post` with `Precedence: list|bulk|junk`
//!      — `list-unsubscribe with precedence: bulk` (etc.). Without a list
//!      precedence, `List-Unsubscribe` alone is not list mail: many
//!      transactional and person-sent mails carry it;
//!    - `Precedence: list` alone — `precedence: list`.
//! 5. **`auto_reply`**: `Precedence: bulk|junk` without list headers —
//!    `precedence: bulk` / `precedence: junk`.
//! 6. **`bounce`**: a null sender with none of the above — `null envelope
//!    sender` / `null return-path`. Only delivery reports and automatic
//!    responses use the null reverse-path (RFC 5321 §4.5.5, RFC 3834 §3.3),
//!    so a human-looking message from `<>` is a bounce. This rule comes
//!    *after* the auto-reply markers on purpose: out-of-office replies are
//!    sent from `<>` too (Exchange, Sieve vacation), and a bounce marks the
//!    participant's address failing, which an out-of-office must not do.
//! 7. otherwise **`none`** (reason empty).

use serde::Serialize;

use super::parse::Parsed;

/// What kind of machine wrote a message, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Auto {
    None,
    AutoReply,
    Bounce,
    List,
    Loop,
}

impl Auto {
    pub fn as_str(self) -> &'static str {
        match self {
            Auto::None => "none",
            Auto::AutoReply => "auto_reply",
            Auto::Bounce => "bounce",
            Auto::List => "list",
            Auto::Loop => "loop",
        }
    }
}

impl std::fmt::Display for Auto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Our own loop-detection header, put on every mail parley sends with the
/// reply domain as its value (`X-Parley-Loop: <reply domain>`).
pub const LOOP_HEADER: &str = "X-Parley-Loop";

/// The verdict and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub auto: Auto,
    /// Which rule matched, e.g. `auto-submitted: auto-replied`,
    /// `precedence: bulk`, `multipart/report delivery-status`,
    /// `null return-path`, `mailer-daemon sender`, `list-id`,
    /// `x-parley-loop header`; empty for [`Auto::None`].
    pub reason: String,
}

impl Classification {
    fn new(auto: Auto, reason: impl Into<String>) -> Self {
        Classification {
            auto,
            reason: reason.into(),
        }
    }

    /// Whether a machine wrote the message (anything but [`Auto::None`]).
    pub fn is_auto(&self) -> bool {
        self.auto != Auto::None
    }
}

/// Classifies a parsed message.
///
/// `envelope_sender` is the SMTP reverse-path: `Some("")` (or `Some("<>")`)
/// for a null sender (`MAIL FROM:<>`), `Some(address)` when known, `None`
/// when unknown (then the Return-Path header stands in for it).
/// `reply_domain` is ours, compared without case.
pub fn classify(
    parsed: &Parsed,
    envelope_sender: Option<&str>,
    reply_domain: &str,
) -> Classification {
    let facts = Facts::gather(parsed, envelope_sender);
    loop_rule(parsed, reply_domain)
        .or_else(|| bounce_rule(parsed, &facts))
        .or_else(|| auto_reply_rule(parsed, &facts, reply_domain))
        .or_else(|| list_rule(parsed, &facts))
        .or_else(|| bulk_rule(&facts))
        .or_else(|| null_sender_rule(&facts))
        .unwrap_or_else(|| Classification::new(Auto::None, ""))
}

/// What several rules look at, read once.
struct Facts {
    /// Lowercase local part of the From address.
    from_local: String,
    /// Why the sender is null, when it is.
    null_sender: Option<&'static str>,
    /// Whether the envelope sender or Return-Path is a MAILER-DAEMON.
    daemon_return_path: bool,
    /// The trimmed, lowercased subject.
    subject: String,
    /// The first `Precedence` token, lowercased.
    precedence: Option<String>,
    /// The `report-type` of a top-level multipart/report ("" if missing).
    report_type: Option<String>,
    /// The first `Auto-Submitted` token other than `no`, lowercased.
    auto_submitted: Option<String>,
}

impl Facts {
    fn gather(parsed: &Parsed, envelope_sender: Option<&str>) -> Facts {
        let from_local = parsed
            .from
            .as_ref()
            .map(|f| local_part(&f.address))
            .unwrap_or_default();
        let return_path = parsed.header("Return-Path");
        let null_sender = match envelope_sender {
            Some(s) if is_null_path(s) => Some("null envelope sender"),
            _ if return_path.is_some_and(is_null_path_header) => Some("null return-path"),
            _ => None,
        };
        let daemon_return_path = [envelope_sender, return_path]
            .into_iter()
            .flatten()
            .any(|path| {
                let path = strip_comments(path);
                is_daemon(&local_part(path.trim().trim_matches(['<', '>'])))
            });
        let subject = parsed
            .subject
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_lowercase();
        let precedence = parsed.header("Precedence").map(first_token);
        let report_type = values(parsed, "Content-Type").find_map(report_type);
        let auto_submitted = values(parsed, "Auto-Submitted")
            .map(first_token)
            .find(|t| !t.is_empty() && t != "no");
        Facts {
            from_local,
            null_sender,
            daemon_return_path,
            subject,
            precedence,
            report_type,
            auto_submitted,
        }
    }

    fn precedence_is(&self, values: &[&str]) -> Option<&str> {
        self.precedence.as_deref().filter(|p| values.contains(p))
    }
}

fn loop_rule(parsed: &Parsed, reply_domain: &str) -> Option<Classification> {
    values(parsed, LOOP_HEADER)
        .any(|v| names_domain(v, reply_domain))
        .then(|| Classification::new(Auto::Loop, "x-parley-loop header"))
}

fn bounce_rule(parsed: &Parsed, facts: &Facts) -> Option<Classification> {
    let bounce = |reason| Some(Classification::new(Auto::Bounce, reason));
    if facts.report_type.as_deref() == Some("delivery-status") {
        return bounce("multipart/report delivery-status");
    }
    if parsed.header("X-MS-Exchange-Message-Is-Ndr").is_some() {
        return bounce("x-ms-exchange-message-is-ndr");
    }
    if parsed.header("X-Failed-Recipients").is_some() {
        return bounce("x-failed-recipients");
    }
    if is_daemon(&facts.from_local) || facts.daemon_return_path {
        return bounce("mailer-daemon sender");
    }
    let bounce_subject = starts_with_phrase(&facts.subject, BOUNCE_SUBJECTS, AFTER_BOUNCE);
    if facts.from_local == "postmaster"
        && (facts.null_sender.is_some() || facts.auto_submitted.is_some() || bounce_subject)
    {
        return bounce("postmaster sender");
    }
    if bounce_subject
        && (facts.null_sender.is_some() || facts.from_local.starts_with("microsoftexchange"))
    {
        return bounce("bounce subject");
    }
    None
}

fn auto_reply_rule(parsed: &Parsed, facts: &Facts, reply_domain: &str) -> Option<Classification> {
    let auto = |reason: String| Some(Classification::new(Auto::AutoReply, reason));
    if let Some(kind) = &facts.report_type {
        let kind = if kind.is_empty() {
            "without type"
        } else {
            kind
        };
        return auto(format!("multipart/report {}", clip(kind)));
    }
    if let Some(token) = &facts.auto_submitted {
        return auto(format!("auto-submitted: {}", clip(token)));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if values(parsed, name).any(|v| !matches!(first_token(v).as_str(), "no" | "false" | "0")) {
            return auto(format!("{} header", name.to_ascii_lowercase()));
        }
    }
    if values(parsed, LOOP_HEADER).any(|v| !names_domain(v, reply_domain)) {
        return auto("x-parley-loop header (other domain)".into());
    }
    if parsed.header("X-MS-Exchange-Inbox-Rules-Loop").is_some()
        && parsed.header("X-Auto-Response-Suppress").is_some()
    {
        return auto("exchange inbox-rule reply".into());
    }
    if facts.precedence_is(&["auto_reply"]).is_some() {
        return auto("precedence: auto_reply".into());
    }
    if starts_with_phrase(&facts.subject, OUT_OF_OFFICE_SUBJECTS, AFTER_OUT_OF_OFFICE) {
        return auto("out-of-office subject".into());
    }
    None
}

fn list_rule(parsed: &Parsed, facts: &Facts) -> Option<Classification> {
    let list = |reason: String| Some(Classification::new(Auto::List, reason));
    if parsed.header("List-Id").is_some() {
        return list("list-id".into());
    }
    if let Some(precedence) = facts.precedence_is(&["list", "bulk", "junk"]) {
        for name in ["List-Unsubscribe", "List-Post"] {
            if parsed.header(name).is_some() {
                return list(format!(
                    "{} with precedence: {precedence}",
                    name.to_ascii_lowercase()
                ));
            }
        }
    }
    if facts.precedence_is(&["list"]).is_some() {
        return list("precedence: list".into());
    }
    None
}

fn bulk_rule(facts: &Facts) -> Option<Classification> {
    facts
        .precedence_is(&["bulk", "junk"])
        .map(|p| Classification::new(Auto::AutoReply, format!("precedence: {p}")))
}

fn null_sender_rule(facts: &Facts) -> Option<Classification> {
    facts
        .null_sender
        .map(|reason| Classification::new(Auto::Bounce, reason))
}

/// Subjects delivery systems give their reports, lowercase, matched at the
/// start of the subject. Only trusted together with a null or system sender.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail returned to sender",
    "undeliverable:",
    "undeliverable mail",
    "undeliverable message",
    "delivery status notification (failure)",
    "mail delivery failed",
    "mail delivery failure",
    "delivery failure",
    "delivery has failed",
    "returned mail:",
    "failure notice",
    "mail system error",
    "non-delivery report",
    "nondeliverable mail",
    "message not delivered",
    "unzustellbar:",
    "non remis :",
    "non remis:",
    "no se puede entregar:",
    "non recapitabile:",
    "onbestelbaar:",
];

/// Out-of-office and automatic-reply subjects as mail systems write them in
/// many languages, lowercase. Each counts only at the start of the subject
/// and followed by a colon or nothing else, so "Out of office next week?"
/// from a person stays a person's.
const OUT_OF_OFFICE_SUBJECTS: &[&str] = &[
    // English (Exchange/Outlook, Lotus Notes, others)
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "automatic response",
    "auto response",
    "auto-response",
    "out of office",
    "out of office reply",
    "out of office autoreply",
    "out of the office",
    "out-of-office",
    // German
    "automatische antwort",
    "abwesenheitsnotiz",
    "abwesenheit",
    // French
    "réponse automatique",
    "reponse automatique",
    "absence du bureau",
    // Spanish
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    // Italian
    "risposta automatica",
    "fuori sede",
    "fuori ufficio",
    // Dutch
    "automatisch antwoord",
    "afwezigheidsbericht",
    "afwezig",
    // Portuguese
    "resposta automática",
    "resposta automatica",
    "ausente do escritório",
    // Scandinavian
    "autosvar",
    "automatiskt svar",
    "automatisk svar",
    "frånvaro",
    "fravær",
    // Finnish
    "automaattinen vastaus",
    // Polish
    "odpowiedź automatyczna",
    "automatyczna odpowiedź",
    // Czech, Slovak
    "automatická odpověď",
    "automatická odpoveď",
    // Hungarian
    "automatikus válasz",
    // Turkish
    "otomatik yanıt",
    "otomatik cevap",
    // Russian, Ukrainian
    "автоматический ответ",
    "автоматична відповідь",
    // Greek
    "αυτόματη απάντηση",
    // Japanese, Chinese, Korean
    "自動応答",
    "自動返信",
    "自动回复",
    "自動回覆",
    "자동 회신",
    "자동 응답",
];

/// What may follow a subject phrase: the end, a colon (ASCII or full
/// width, a space before it allowed), or for bounces also a dash, a comma
/// or a parenthesis ("Mail System Error - Returned Mail").
const AFTER_OUT_OF_OFFICE: &[char] = &[':', '：'];
const AFTER_BOUNCE: &[char] = &[':', '：', '-', '(', ','];

/// Whether `subject` (lowercase) starts with one of `phrases` followed by
/// the end or one of `after`; a phrase ending in a colon may be followed
/// by anything.
fn starts_with_phrase(subject: &str, phrases: &[&str], after: &[char]) -> bool {
    phrases.iter().any(|phrase| {
        let Some(rest) = subject.strip_prefix(phrase) else {
            return false;
        };
        let rest = rest.trim_start();
        phrase.ends_with(':') || rest.is_empty() || rest.starts_with(after)
    })
}

/// Whether a loop header value names `domain`: one of its tokens (split on
/// white space, commas and semicolons; comments and angle brackets dropped)
/// is the domain, without case and a trailing dot.
fn names_domain(value: &str, domain: &str) -> bool {
    let domain = domain.trim().trim_end_matches('.');
    !domain.is_empty()
        && strip_comments(value)
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .map(|t| t.trim_matches(['<', '>', '"']).trim_end_matches('.'))
            .any(|t| t.eq_ignore_ascii_case(domain))
}

/// All values of header `name` (any letter case), in order.
fn values<'a>(parsed: &'a Parsed, name: &'a str) -> impl Iterator<Item = &'a str> {
    parsed
        .headers
        .iter()
        .filter(move |(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The `report-type` of a `multipart/report` Content-Type value (`""` when
/// the parameter is missing); `None` for any other type.
fn report_type(content_type: &str) -> Option<String> {
    let cleaned = strip_comments(content_type);
    let mut parts = split_unquoted(&cleaned, ';').into_iter();
    let media = parts.next()?.trim();
    if !media.eq_ignore_ascii_case("multipart/report") {
        return None;
    }
    let mut kind = String::new();
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = match name.as_str() {
            "report-type" => unquote(value.trim()),
            // RFC 2231: charset'language'value
            "report-type*" => {
                let value = unquote(value.trim());
                value.rsplit('\'').next().unwrap_or("").to_string()
            }
            _ => continue,
        };
        kind = value.trim().to_ascii_lowercase();
        break;
    }
    Some(kind)
}

/// The first token of a structured header value, lowercased: comments
/// dropped, parameters (after `;`) dropped, surrounding quotes removed.
fn first_token(value: &str) -> String {
    let cleaned = strip_comments(value);
    let head = split_unquoted(&cleaned, ';')
        .into_iter()
        .next()
        .unwrap_or_default();
    let token = unquote(head.trim());
    token.split_whitespace().next().unwrap_or("").to_lowercase()
}

/// Removes RFC 5322 comments (nested parentheses), leaving quoted strings
/// and escaped characters alone. An unclosed comment runs to the end.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => {
                depth += 1;
                if depth == 1 {
                    out.push(' ');
                }
            }
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Splits on `sep` outside quoted strings.
fn split_unquoted(value: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&value[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&value[start..]);
    parts
}

/// A quoted string's content (escapes resolved); other text as it is.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"') else {
        return value.to_string();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

/// `<>` in a Return-Path header, allowing white space and comments.
fn is_null_path_header(value: &str) -> bool {
    strip_comments(value)
        .chars()
        .filter(|c| !c.is_whitespace())
        .eq("<>".chars())
}

/// A null reverse-path as an adapter may pass it: empty or `<>`.
fn is_null_path(path: &str) -> bool {
    let path = path.trim();
    path.is_empty() || is_null_path_header(path)
}

/// The lowercase local part of an address (all of it without an `@`).
fn local_part(address: &str) -> String {
    let address = address.trim();
    address
        .rsplit_once('@')
        .map_or(address, |(local, _)| local)
        .trim_matches('"')
        .to_lowercase()
}

fn is_daemon(local: &str) -> bool {
    matches!(
        local,
        "mailer-daemon" | "mailer_daemon" | "mailerdaemon" | "mail-daemon"
    )
}

/// A reason part cut to a sane length (header values can be anything).
fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// Whether a bounce reports a failed delivery. A delivery status
/// notification (RFC 3464) says so per recipient with `Action: failed`; one
/// that only reports `delayed`, `delivered`, `relayed` or `expanded` is not
/// a failure. A bounce without any Action field (a non-standard one) counts
/// as a failure.
pub fn reports_failure(raw: &[u8]) -> bool {
    let mut actions = raw
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = line.trim_ascii();
            let (name, value) = line.split_at_checked(7)?;
            name.eq_ignore_ascii_case(b"action:")
                .then(|| value.trim_ascii())
        })
        .peekable();
    if actions.peek().is_none() {
        return true;
    }
    actions.any(|value| value.eq_ignore_ascii_case(b"failed"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn failure_reports() {
        assert!(reports_failure(
            b"Final-Recipient: rfc822; a@b\r\nAction: failed\r\n"
        ));
        assert!(reports_failure(b"action: delayed\naction: FAILED\n"));
        assert!(!reports_failure(b"Action: delayed\r\nStatus: 4.4.7\r\n"));
        assert!(!reports_failure(b"Action: delivered\n"));
        assert!(reports_failure(b"Your message could not be delivered.\n"));
    }

    use super::*;

    #[test]
    fn tokens_and_comments() {
        assert_eq!(
            first_token("auto-generated (warning-timeout)"),
            "auto-generated"
        );
        assert_eq!(
            first_token("(note) Auto-Replied; owner-email=\"a@b\""),
            "auto-replied"
        );
        assert_eq!(first_token("\"bulk\""), "bulk");
        assert_eq!(first_token("  "), "");
        assert_eq!(strip_comments("a (b (c) d) e"), "a   e");
        assert_eq!(
            strip_comments("\"(not a comment)\" x"),
            "\"(not a comment)\" x"
        );
        assert_eq!(strip_comments("a (unclosed"), "a  ");
    }

    #[test]
    fn report_types() {
        let rt = |v: &str| report_type(v);
        assert_eq!(
            rt("multipart/report; report-type=delivery-status; boundary=\"x\"").as_deref(),
            Some("delivery-status")
        );
        assert_eq!(
            rt("Multipart/Report; boundary=\"a;report-type=x\"; Report-Type=\"Delivery-Status\"")
                .as_deref(),
            Some("delivery-status")
        );
        assert_eq!(
            rt("multipart/report (dsn); report-type*=us-ascii''delivery-status").as_deref(),
            Some("delivery-status")
        );
        assert_eq!(
            rt("multipart/report; report-type=disposition-notification").as_deref(),
            Some("disposition-notification")
        );
        assert_eq!(rt("multipart/report").as_deref(), Some(""));
        assert_eq!(rt("multipart/mixed; report-type=delivery-status"), None);
        assert_eq!(rt(""), None);
    }

    #[test]
    fn null_paths_and_domains() {
        assert!(is_null_path(""));
        assert!(is_null_path(" <> "));
        assert!(is_null_path_header("< > (null)"));
        assert!(!is_null_path_header(""));
        assert!(!is_null_path("<a@b>"));
        assert!(names_domain("Reply.Example.com.", "reply.example.com"));
        assert!(names_domain(
            "other.org, <reply.example.com>",
            "reply.example.com"
        ));
        assert!(!names_domain("example.com", "reply.example.com"));
        assert!(!names_domain("x", ""));
    }

    #[test]
    fn subject_phrases() {
        let oof = |s: &str| {
            starts_with_phrase(
                &s.to_lowercase(),
                OUT_OF_OFFICE_SUBJECTS,
                AFTER_OUT_OF_OFFICE,
            )
        };
        assert!(oof("Automatic reply: Lot 12"));
        assert!(oof("Réponse automatique : Lot 12"));
        assert!(oof("自動応答：ロット12"));
        assert!(oof("Out of Office"));
        assert!(!oof(
            "Out of office next week - can I pick up lot 12 later?"
        ));
        assert!(!oof("Re: Automatic reply: Lot 12"));
        assert!(!oof("Automatically charged?"));
        let bounce = |s: &str| starts_with_phrase(&s.to_lowercase(), BOUNCE_SUBJECTS, AFTER_BOUNCE);
        assert!(bounce("Undelivered Mail Returned to Sender"));
        assert!(bounce("Mail delivery failed: returning message to sender"));
        assert!(bounce("Delivery Status Notification (Failure)"));
        assert!(bounce("failure notice"));
        assert!(!bounce("Delivery failures in your region?"));
    }
}
