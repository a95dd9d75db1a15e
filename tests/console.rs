//! The console (`/console`) against `parley serve` over real sockets:
//! its safety over plain HTTP on every backend (login, sessions, form
//! tokens, the limit on failed logins, one seller kept out of another's
//! tickets, the security headers), and a seller's round in headless
//! Chromium: log in, see the buyer's conversation on the dashboard, open
//! it, answer it; the answer is on the conversation for the API too, and
//! the buyer's notification reaches Postfix's smtp-sink as the relay.
//! The operator desk and response times, and a moderator writing as the
//! marketplace, over HTTP on every backend (the desk in Chromium too).
//! Screenshots of each screen go to `$CARGO_TARGET_TMPDIR/screens/` (the
//! current ones are committed under docs/screens/).

mod common;

use std::path::PathBuf;

use common::browser::Browser;
use common::http::{Answer, MODERATOR, PLATFORM};
use common::served::Served;
use common::{AGENT, BOB, Backend, CLERK, DESK, MARIA, backends};

const PASSWORD: &str = "correct horse battery";

/// A buyer's mail to the desk, taken by `parley ingest`: ticket 1.
fn buyer_writes(served: &Served) {
    let mail = format!(
        "From: Maria Rossi <{MARIA}>\r\nTo: {DESK}\r\nSubject: Oak sideboard\r\n\
         Message-ID: <m1@buyer.example>\r\n\r\nIs the oak sideboard still for sale?\r\n"
    );
    served.cli(0, &["ingest", "--recipient", DESK], mail.as_bytes());
}

fn add_user(served: &Served, login: &str, role: &str, name: &str) {
    let line = format!("{PASSWORD}\n");
    served.cli(
        0,
        &["users", "add", login, "--role", role, "--name", name],
        line.as_bytes(),
    );
}

/// `GET path` with the session `cookie` (`name=value`).
fn get(served: &Served, path: &str, cookie: &str) -> Answer {
    served.call("GET", path, &[&format!("Cookie: {cookie}")], b"")
}

/// A form's `POST` to `path` with the session `cookie`.
fn post_form(served: &Served, path: &str, cookie: &str, body: &[u8]) -> Answer {
    served.call(
        "POST",
        path,
        &[
            "Content-Type: application/x-www-form-urlencoded",
            &format!("Cookie: {cookie}"),
        ],
        body,
    )
}

/// `name=value` of the `Set-Cookie` for `name` in `answer`.
fn cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

/// The value of hidden input `csrf` in a page.
fn form_token(answer: &Answer) -> String {
    let html = String::from_utf8_lossy(&answer.body);
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

/// Logs `login` in over HTTP; the session cookie (`name=value`), or the
/// answer that refused it.
fn log_in(served: &Served, login: &str, password: &str) -> Result<String, Answer> {
    let form = served.call("GET", "/console/login", &[], b"");
    let login_cookie = cookie(&form, "parley_login").expect("the login form's cookie");
    let body = format!(
        "login={}&password={}&csrf={}",
        login.replace('@', "%40"),
        password.replace(' ', "+"),
        form_token(&form)
    );
    let answer = served.call(
        "POST",
        "/console/login",
        &[
            "Content-Type: application/x-www-form-urlencoded",
            &format!("Cookie: {login_cookie}"),
        ],
        body.as_bytes(),
    );
    match cookie(&answer, "parley_session") {
        Some(session) if answer.status.as_u16() == 303 => Ok(session),
        _ => Err(answer),
    }
}

#[test]
fn the_console_keeps_sessions_and_sellers_apart() {
    for backend in backends() {
        println!("== on {}", backend.name());
        safety(&backend);
    }
}

fn safety(backend: &Backend) {
    let served = Served::on(
        backend,
        "listen = []",
        "listen = [\"127.0.0.1:{http}\"]",
        "",
    );
    buyer_writes(&served);
    add_user(&served, AGENT, "seller", "Shop Agent");
    add_user(&served, CLERK, "seller", "Book Clerk");

    // Not logged in: to the login page. Every answer carries the CSP,
    // without inline script or style.
    let answer = served.call("GET", "/console/tickets/1", &[], b"");
    assert_eq!(answer.status.as_u16(), 303);
    assert_eq!(answer.header("location"), Some("/console/login"));
    let form = served.call("GET", "/console/login", &[], b"");
    assert_eq!(form.status.as_u16(), 200);
    let csp = form.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(form.header("x-frame-options"), Some("DENY"));
    let set = form.header("set-cookie").expect("the login form's cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );

    // A login without the form's token is refused before the password
    // is looked at.
    let answer = served.call(
        "POST",
        "/console/login",
        &["Content-Type: application/x-www-form-urlencoded"],
        format!("login={AGENT}&password={PASSWORD}").as_bytes(),
    );
    assert_eq!(answer.status.as_u16(), 403);
    assert!(cookie(&answer, "parley_session").is_none());

    // The agent logs in; the session cookie is HttpOnly and Strict.
    let agent = log_in(&served, AGENT, PASSWORD).expect("the agent logs in");
    let page = get(&served, "/console/tickets", &agent);
    assert_eq!(page.status.as_u16(), 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("id=\"ticket-1\""), "{html}");
    assert!(html.contains("Maria Rossi"), "{html}");

    // The clerk of the books queue sees none of the desk's tickets: not
    // in the list, not by URL, not by the API as the same person.
    let clerk = log_in(&served, CLERK, PASSWORD).expect("the clerk logs in");
    let page = get(&served, "/console/tickets", &clerk);
    assert!(!String::from_utf8_lossy(&page.body).contains("ticket-1"));
    let page = get(&served, "/console/tickets/1", &clerk);
    assert_eq!(page.status.as_u16(), 404);
    let api = served.api(
        "GET",
        &format!("/api/v1/conversations/1?as={}", CLERK.replace('@', "%40")),
        PLATFORM.2,
        None,
    );
    assert_eq!(api.status.as_u16(), 404);
    // Nor can the clerk write into it.
    let page = get(&served, "/console/tickets", &clerk);
    let token = form_token(&page);
    let answer = post_form(
        &served,
        "/console/tickets/1/reply",
        &clerk,
        format!("csrf={token}&text=hello").as_bytes(),
    );
    assert_eq!(answer.status.as_u16(), 404);

    // The moderation panel is not a seller's.
    let page = get(&served, "/console/moderation", &clerk);
    assert_eq!(page.status.as_u16(), 403);

    // A form without the session's token is refused (403), with the
    // session's cookie or not.
    let answer = post_form(&served, "/console/tickets/1/reply", &agent, b"text=hello");
    assert_eq!(answer.status.as_u16(), 403);
    let answer = post_form(&served, "/console/logout", &agent, b"csrf=forged");
    assert_eq!(answer.status.as_u16(), 403);
    let messages = served
        .api("GET", "/api/v1/conversations/1", PLATFORM.2, None)
        .json();
    assert_eq!(messages["messages"].as_array().unwrap().len(), 1);

    // Logout ends the session for good.
    let page = get(&served, "/console/tickets", &agent);
    let token = form_token(&page);
    let answer = post_form(
        &served,
        "/console/logout",
        &agent,
        format!("csrf={token}").as_bytes(),
    );
    assert_eq!(answer.status.as_u16(), 303);
    let page = get(&served, "/console/tickets", &agent);
    assert_eq!(page.status.as_u16(), 303);

    // A new password ends the sessions of the old one.
    let agent = log_in(&served, AGENT, PASSWORD).expect("the agent logs in again");
    served.cli(0, &["users", "passwd", AGENT], b"a new passphrase\n");
    let page = get(&served, "/console/tickets", &agent);
    assert_eq!(page.status.as_u16(), 303);
    assert_eq!(
        log_in(&served, AGENT, PASSWORD)
            .unwrap_err()
            .status
            .as_u16(),
        401
    );
    log_in(&served, AGENT, "a new passphrase").expect("the new password works");

    // Wrong passwords: 401 each, then 429 for the account, even with the
    // right one.
    for _ in 0..5 {
        let refused = log_in(&served, AGENT, "wrong password!").expect_err("refused");
        assert_eq!(refused.status.as_u16(), 401);
    }
    let refused = log_in(&served, AGENT, "a new passphrase").expect_err("locked");
    assert_eq!(refused.status.as_u16(), 429);
    assert!(refused.header("retry-after").is_some());
    // A disabled account cannot log in, and its sessions end.
    let clerk_page = get(&served, "/console/tickets", &clerk);
    assert_eq!(clerk_page.status.as_u16(), 200);
    served.cli(0, &["users", "disable", CLERK], b"");
    let clerk_page = get(&served, "/console/tickets", &clerk);
    assert_eq!(clerk_page.status.as_u16(), 303);
    assert_eq!(
        log_in(&served, CLERK, PASSWORD)
            .unwrap_err()
            .status
            .as_u16(),
        401
    );
    let listed = served.cli(0, &["users", "list"], b"");
    assert!(
        listed.contains("clerk@shop.example") && listed.contains("(disabled)"),
        "{listed}"
    );
}

/// The notification to `to` in the served Maildir that holds `text`,
/// waiting for the outbox worker to write it.
fn wait_for_mail(served: &Served, to: &str, text: &str) -> String {
    wait_for_mail_in(
        &served.dir.path().join("data/maildir/new"),
        served,
        to,
        text,
    )
}

/// The mail to `to` holding `text` among the files of `dir` (a Maildir's
/// `new`, or what `smtp-sink` dumped), waiting for the outbox worker.
fn wait_for_mail_in(dir: &std::path::Path, served: &Served, to: &str, text: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let found = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .find(|mail| {
                mail.lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
                    && mail.contains(text)
            });
        if let Some(mail) = found {
            return mail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notification to {to} with {text:?} in {}\n{}",
            dir.display(),
            served.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Fails on serious or critical accessibility violations of the page.
fn accessible(browser: &Browser, screen: &str) {
    let violations = browser.accessibility();
    assert!(violations.is_empty(), "{screen}: {violations:#?}");
}

/// Waits until the text of `css` holds `text`.
fn wait_for(browser: &Browser, css: &str, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !browser.text(css).contains(text) {
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never said {text:?}: {}",
            browser.text("body")
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_seller_answers_from_the_dashboard_in_a_browser() {
    // The outbox worker on, its relay Postfix's smtp-sink on loopback.
    let relay = common::served::free_port();
    let dumps = tempfile::tempdir().expect("a folder");
    let sunk = dumps.path().join("sink");
    let _sink = common::sink::sink(relay, &sunk, &[]);
    let served = Served::start_with(
        "listen = []",
        "listen = [\"127.0.0.1:{http}\"]",
        &format!(
            "[outbox]\nenabled = true\npoll_interval_ms = 100\n\n\
             [relay]\nhost = \"127.0.0.1\"\nport = {relay}\ntimeout_secs = 5\n"
        ),
    );
    buyer_writes(&served);
    // The desk's staff address, as an operator: a seller's work and the
    // pool's.
    add_user(&served, AGENT, "operator", "Shop Agent");
    let screens = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screens");
    let base = format!("http://127.0.0.1:{}", served.http);
    let browser = Browser::start(1280, 900);

    browser.goto(&format!("{base}/console/tickets"));
    // Sent to the login page.
    browser.find("form.login");
    browser.screenshot(&screens.join("login.png"));
    accessible(&browser, "login");
    browser.type_into("#login", AGENT);
    browser.type_into("#password", PASSWORD);
    browser.click("form.login button");
    browser.find("#ticket-1");
    assert!(
        browser.url().ends_with("/console/tickets"),
        "{}",
        browser.url()
    );
    let row = browser.text("#ticket-1");
    assert!(
        row.contains("Maria Rossi") && row.contains("Oak sideboard") && row.contains("open"),
        "{row}"
    );
    assert_eq!(browser.text("#ticket-1 .badge"), "1", "one unread message");
    browser.screenshot(&screens.join("dashboard.png"));
    accessible(&browser, "dashboard");

    // Live: another buyer writes by mail while the dashboard is open; the
    // row appears with its badge, without a reload (the page's own
    // marker survives).
    browser.execute("window.parleyMarker = 'still here'; return null");
    let mail = format!(
        "From: Bob Brown <{BOB}>\r\nTo: {DESK}\r\nSubject: Walnut chair\r\n\
         Message-ID: <b1@buyer.example>\r\n\r\nDo you ship the walnut chair to Oslo?\r\n"
    );
    served.cli(0, &["ingest", "--recipient", DESK], mail.as_bytes());
    browser.find("#ticket-2");
    assert_eq!(browser.text("#ticket-2 .badge"), "1");
    assert_eq!(
        browser.execute("return window.parleyMarker"),
        serde_json::json!("still here"),
        "the page was not reloaded"
    );

    // R: the conversation and its reply box.
    browser.click("#ticket-1 a");
    browser.find("form.reply");
    assert!(
        browser
            .text("ol.messages")
            .contains("Is the oak sideboard still for sale?")
    );
    browser.type_into("#text", "Yes, it is. Pick-up on Saturday works.");
    browser.click("form.reply button");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !browser.text("ol.messages").contains("Pick-up on Saturday") {
        assert!(
            std::time::Instant::now() < deadline,
            "the answer did not appear"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    browser.screenshot(&screens.join("conversation.png"));
    // The buyer is told by mail, through the relay: the notification
    // carries the answer.
    let to_maria = wait_for_mail_in(&sunk, &served, MARIA, "Pick-up on Saturday works.");
    assert!(to_maria.contains("Oak sideboard"), "{to_maria}");
    accessible(&browser, "conversation");

    // Read: back on the dashboard, the first conversation has no badge.
    browser.click("main p a");
    browser.find("#ticket-1");
    assert_eq!(browser.text("#ticket-1 .badge"), "");

    // Take it on me, then F: forward it to an employee with a note.
    browser.goto(&format!("{base}/console/tickets/1"));
    browser.click("section.actions form:nth-of-type(2) button");
    wait_for(&browser, "#facts", AGENT);
    browser.click("details.forward summary");
    browser.type_into("#forward-to", "helper@shop.example");
    browser.type_into("#forward-note", "Can you check the drawers?");
    browser.click("details.forward button");
    browser.find("#facts");
    browser.screenshot(&screens.join("actions.png"));
    // Its history on the page (folded): the forward, by the agent.
    let history = browser.execute("return document.querySelector('#history ol').textContent");
    let history = history.as_str().unwrap_or_default();
    assert!(
        history.contains("ticket forwarded") && history.contains(AGENT),
        "{history}"
    );
    accessible(&browser, "actions");
    let shown = served
        .api("GET", "/api/v1/conversations/1", PLATFORM.2, None)
        .json();
    assert_eq!(shown["assignee"], AGENT, "{shown}");
    let helper = shown["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == "helper@shop.example")
        .unwrap_or_else(|| panic!("the employee joined: {shown}"));
    assert_eq!(helper["role"], "staff");

    // D: delete it (to the trash), then restore it from there.
    browser.click("button.danger");
    browser.find("#list");
    assert!(
        browser.try_find("#ticket-1").is_none(),
        "deleted, off the list"
    );
    browser.goto(&format!("{base}/console/tickets?view=trash"));
    browser.click("#ticket-1 a");
    browser.click("button.restore");
    browser.find("button.danger");
    let shown = served
        .api("GET", "/api/v1/conversations/1", PLATFORM.2, None)
        .json();
    assert_eq!(shown["deleted"], false, "{shown}");

    // The pool: Bob's conversation waits; the operator takes it.
    browser.goto(&format!("{base}/console/pool"));
    browser.find("#ticket-2");
    assert!(
        browser.try_find("#ticket-1").is_none(),
        "taken: not in the pool"
    );
    browser.screenshot(&screens.join("pool.png"));
    accessible(&browser, "pool");
    browser.click("#ticket-2 button");
    wait_for(&browser, "#facts", AGENT);
    let shown = served
        .api("GET", "/api/v1/conversations/2", PLATFORM.2, None)
        .json();
    assert_eq!(shown["assignee"], AGENT, "{shown}");

    // My messages: Bob writes on the conversation the agent took; the
    // count in the corner of the open page rises, live.
    browser.goto(&format!("{base}/console/pool"));
    browser.find("#mine");
    assert!(
        browser.try_find("#mine .badge").is_none(),
        "nothing unread yet"
    );
    let posted = served.api(
        "POST",
        &format!(
            "/api/v1/conversations/2/messages?as={}",
            BOB.replace('@', "%40")
        ),
        PLATFORM.2,
        Some(&serde_json::json!({"text": "Thanks! When can I pick it up?"})),
    );
    assert_eq!(
        posted.status.as_u16(),
        201,
        "{}",
        String::from_utf8_lossy(&posted.body)
    );
    wait_for(&browser, "#mine", "My messages 1");
    browser.click("#mine");
    browser.find("#ticket-2");
    assert_eq!(browser.text("main h1"), "My messages");
    // Both are the agent's (the first was taken on the conversation's
    // page); only the second has an unread message.
    assert!(
        browser.try_find("#ticket-1").is_some(),
        "the first is the agent's too"
    );
    assert_eq!(browser.text("#ticket-1 .badge"), "");
    assert_eq!(browser.text("#ticket-2 .badge"), "1");

    // Clients: write to Maria afresh ("Email customer").
    browser.click("nav.sections a[href='/console/clients']");
    browser.click("a[href^='/console/clients/new?to=maria']");
    assert_eq!(
        browser.execute("return document.getElementById('to').value"),
        serde_json::json!(MARIA)
    );
    browser.type_into("#subject", "Your sideboard is ready");
    browser.type_into("#text", "It is packed and ready for pick-up.");
    browser.click("form.compose button");
    wait_for(&browser, "h1", "Your sideboard is ready");
    let number: i64 = browser.url().rsplit('/').next().unwrap().parse().unwrap();
    let shown = served
        .api(
            "GET",
            &format!("/api/v1/conversations/{number}"),
            PLATFORM.2,
            None,
        )
        .json();
    assert_eq!(shown["client"]["address"], MARIA, "{shown}");
    assert_eq!(shown["status"], "awaiting_client", "{shown}");
    assert_eq!(shown["messages"][0]["author"], AGENT, "{shown}");
    assert_eq!(
        shown["messages"][0]["text"],
        "It is packed and ready for pick-up."
    );

    // The answer is on the conversation, written by the agent.
    let shown = served
        .api("GET", "/api/v1/conversations/1", PLATFORM.2, None)
        .json();
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{shown}");
    assert_eq!(messages[1]["author"], AGENT);
    assert_eq!(
        messages[1]["text"],
        "Yes, it is. Pick-up on Saturday works."
    );

    // The page of a phone: no horizontal scroll of the page itself.
    let phone = Browser::start(390, 844);
    phone.goto(&format!("{base}/console/login"));
    phone.find("form.login");
    let overflow = phone.execute("return document.documentElement.scrollWidth > window.innerWidth");
    assert_eq!(overflow, serde_json::json!(false));
    phone.screenshot(&screens.join("login-phone.png"));
    accessible(&phone, "login on a phone");

    // Nothing the CSP blocked, no script error.
    let severe: Vec<_> = browser
        .console()
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "{severe:#?}");
}

#[test]
fn a_moderator_decides_held_messages_in_a_browser() {
    let served = Served::start("listen = []", "listen = [\"127.0.0.1:{http}\"]");
    // Two buyers' mails the payment rules hold; the first also has a
    // phone number (a span to redact).
    for (from, subject, text) in [
        (
            MARIA,
            "Oak sideboard",
            "Can I pay with Zelle? Call me on 0612 345 678.",
        ),
        (
            BOB,
            "Walnut chair",
            "I will send a wire transfer to your bank directly.",
        ),
    ] {
        let mail = format!(
            "From: <{from}>\r\nTo: {DESK}\r\nSubject: {subject}\r\n\
             Message-ID: <{subject}@buyer.example>\r\n\r\n{text}\r\n"
        );
        served.cli(0, &["ingest", "--recipient", DESK], mail.as_bytes());
    }
    let held = served
        .api("GET", "/api/v1/moderation", MODERATOR.2, None)
        .json();
    let ids: Vec<i64> = held["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "both held: {held}");
    add_user(&served, "mod@shop.example", "moderator", "Mo Derator");

    let screens = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screens");
    let base = format!("http://127.0.0.1:{}", served.http);
    let browser = Browser::start(1280, 900);
    browser.goto(&format!("{base}/console/login"));
    browser.type_into("#login", "mod@shop.example");
    browser.type_into("#password", PASSWORD);
    browser.click("form.login button");
    browser.click("nav.sections a[href='/console/moderation']");
    let first = format!("#held-{}", ids[0]);
    let second = format!("#held-{}", ids[1]);
    browser.find(&first);
    // The policy's spans are marked in the text as written.
    let marked = browser.text(&format!("{first} mark"));
    assert!(!marked.is_empty(), "a span is marked");
    browser.screenshot(&screens.join("moderation.png"));
    accessible(&browser, "moderation");

    // Approve the first redacted, reject the second with a reason.
    browser.click(&format!("{first} button.approve-redacted"));
    browser.wait_gone(&first, "decided: off the queue");
    browser.find(&second);
    browser.type_into(
        &format!("#reason-{}", ids[1]),
        "Pay through the marketplace, please.",
    );
    browser.click(&format!("{second} button.danger"));
    wait_for(&browser, "#list", "Nothing is held.");

    let first_now = served
        .api(
            "GET",
            &format!("/api/v1/moderation/{}", ids[0]),
            MODERATOR.2,
            None,
        )
        .json();
    assert_eq!(first_now["moderation"], "approved_redacted", "{first_now}");
    let shown = first_now["shown_text"].as_str().unwrap_or_default();
    assert!(
        !shown.contains("0612"),
        "the phone number stays masked: {shown}"
    );
    let second_now = served
        .api(
            "GET",
            &format!("/api/v1/moderation/{}", ids[1]),
            MODERATOR.2,
            None,
        )
        .json();
    assert_eq!(second_now["moderation"], "rejected", "{second_now}");
    let audit = second_now["audit"].to_string();
    assert!(audit.contains("console:mod@shop.example"), "{audit}");
    assert!(audit.contains("Pay through the marketplace"), "{audit}");
}

/// The OWASP XSS filter-evasion vectors, sent as an HTML mail and in its
/// subject, never run in the console: shown as text, and the CSP would
/// stop an inline script anyway. Each vector would set `parleyXss`.
#[test]
fn hostile_html_mail_never_runs_in_the_console() {
    let served = Served::start("listen = []", "listen = [\"127.0.0.1:{http}\"]");
    let vectors = [
        "<script>window.parleyXss=1</script>",
        "<img src=x onerror=\"window.parleyXss=2\">",
        "<svg/onload=window.parleyXss=3>",
        "<a href=\"javascript:window.parleyXss=4\">click me</a>",
        "<iframe src=\"javascript:parent.parleyXss=5\"></iframe>",
        "<body onload=window.parleyXss=6>",
        "\"><script>window.parleyXss=7</script>",
        "<IMG SRC=\"jav&#x09;ascript:window.parleyXss=8\">",
        "<div style=\"background:url(javascript:window.parleyXss=9)\">x</div>",
        "<object data=\"javascript:window.parleyXss=10\"></object>",
        "<details open ontoggle=window.parleyXss=11>",
        "<math><mtext><table><mglyph><style><img src=x onerror=window.parleyXss=12>",
        "<<SCRIPT>window.parleyXss=13;//<</SCRIPT>",
        "<input autofocus onfocus=window.parleyXss=14>",
    ];
    let html = format!(
        "<html><body><p>Is it still for sale?</p>{}</body></html>",
        vectors.join("\n")
    );
    let mail = format!(
        "From: Mallory <{MARIA}>\r\nTo: {DESK}\r\n\
         Subject: <script>window.parleyXss=99</script> sideboard\r\n\
         Message-ID: <xss@buyer.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    );
    served.cli(0, &["ingest", "--recipient", DESK], mail.as_bytes());
    // A moderator sees it all: the conversation, and the text as written
    // in the panel when the policy held it.
    add_user(&served, "mod@shop.example", "moderator", "Mo Derator");

    let base = format!("http://127.0.0.1:{}", served.http);
    let browser = Browser::start(1280, 900);
    browser.goto(&format!("{base}/console/login"));
    browser.type_into("#login", "mod@shop.example");
    browser.type_into("#password", PASSWORD);
    browser.click("form.login button");
    browser.find("#ticket-1");
    browser.goto(&format!("{base}/console/tickets/1"));
    browser.find("ol.messages");
    // Shown as text: the subject's markup is readable in the heading.
    let heading = browser.text("h1");
    assert!(
        heading.contains("<script>window.parleyXss=99</script>"),
        "{heading}"
    );
    for (page, next) in [
        ("conversation", "/console/moderation"),
        ("moderation", "/console/tickets"),
        ("dashboard", "/console/tickets"),
    ] {
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(!browser.dialog_open(), "{page}: a dialog opened");
        assert_eq!(
            browser.execute("return typeof window.parleyXss"),
            serde_json::json!("undefined"),
            "{page}: a vector ran"
        );
        assert!(
            browser
                .try_find("main script, main img, main svg, main iframe, main object, main input[autofocus]")
                .is_none(),
            "{page}: markup from the mail is in the page"
        );
        browser.goto(&format!("{base}{next}"));
        browser.find("main h1");
    }
}

/// The operator desk over HTTP, on every backend: an operator's
/// availability switch and a queue's greeting and offline answer edited
/// in the console, audited; while the queue's only operator is away a
/// client's new conversation gets the edited offline answer instead of
/// the acknowledgement, and once they are back the edited greeting.
#[test]
fn an_operator_away_sends_the_queues_offline_answer() {
    const HELP: &str = "help@shop.example";
    for backend in backends() {
        println!("== on {}", backend.name());
        let served = Served::on(
            &backend,
            "listen = []",
            "listen = [\"127.0.0.1:{http}\"]",
            &format!(
                "[outbox]\nenabled = true\npoll_interval_ms = 100\n\n\
                 [notify]\noverdue_check_secs = 1\n\n\
                 [[queues]]\nname = \"help\"\nintake = [\"{HELP}\"]\nstaff = [\"{AGENT}\"]\n\
                 greeting = \"Thank you, we read every message.\"\n"
            ),
        );
        add_user(&served, AGENT, "operator", "Shop Agent");
        add_user(&served, CLERK, "seller", "Book Clerk");
        let agent = log_in(&served, AGENT, PASSWORD).expect("the operator logs in");
        let clerk = log_in(&served, CLERK, PASSWORD).expect("the seller logs in");

        let desk = get(&served, "/console/desk", &agent);
        assert_eq!(desk.status.as_u16(), 200);
        let html = desk.text();
        assert!(
            html.contains("You are <strong>available</strong>"),
            "{html}"
        );
        assert!(html.contains("Shop Agent (available)"), "{html}");
        assert!(html.contains("Thank you, we read every message."), "{html}");
        let csrf = form_token(&desk);

        // No form token, no change; a seller of another queue may not edit.
        let texts = "greeting=Hello+from+the+help+desk.&offline=We+are+all+away%2C+back+soon.";
        let refused = post_form(
            &served,
            "/console/desk/queues/help",
            &agent,
            texts.as_bytes(),
        );
        assert_eq!(refused.status.as_u16(), 403, "{}", served.log());
        let clerk_csrf = form_token(&get(&served, "/console/desk", &clerk));
        let body = format!("{texts}&csrf={clerk_csrf}");
        let refused = post_form(
            &served,
            "/console/desk/queues/help",
            &clerk,
            body.as_bytes(),
        );
        assert_eq!(refused.status.as_u16(), 403);
        let body = format!("available=0&csrf={clerk_csrf}");
        let refused = post_form(
            &served,
            "/console/desk/availability",
            &clerk,
            body.as_bytes(),
        );
        assert_eq!(refused.status.as_u16(), 403, "only operators switch");

        // The operator edits both texts: audited, shown with the change.
        let body = format!("{texts}&csrf={csrf}");
        let saved = post_form(
            &served,
            "/console/desk/queues/help",
            &agent,
            body.as_bytes(),
        );
        assert_eq!(saved.status.as_u16(), 303, "{}", saved.text());
        let html = get(&served, "/console/desk", &agent).text();
        assert!(html.contains("We are all away, back soon."), "{html}");
        assert!(
            html.contains(&format!(
                "console:{AGENT} changed the greeting and offline answer"
            )),
            "{html}"
        );

        // Away: the queue is offline; a client's new conversation gets the
        // offline answer, not the acknowledgement.
        let body = format!("available=0&csrf={csrf}");
        let away = post_form(
            &served,
            "/console/desk/availability",
            &agent,
            body.as_bytes(),
        );
        assert_eq!(away.status.as_u16(), 303);
        let html = get(&served, "/console/desk", &agent).text();
        assert!(html.contains("You are <strong>away</strong>"), "{html}");
        assert!(
            html.contains("Offline: clients get the offline answer"),
            "{html}"
        );
        let mail = format!(
            "From: Maria Rossi <{MARIA}>\r\nTo: {HELP}\r\nSubject: Lost parcel\r\n\
             Message-ID: <away@buyer.example>\r\n\r\nWhere is my parcel?\r\n"
        );
        served.cli(0, &["ingest", "--recipient", HELP], mail.as_bytes());
        let answer = wait_for_mail(&served, MARIA, "We are all away, back soon.");
        assert!(!answer.contains("Hello from the help desk."), "{answer}");

        // Back: the next new conversation is acknowledged with the greeting.
        let body = format!("available=1&csrf={csrf}");
        let back = post_form(
            &served,
            "/console/desk/availability",
            &agent,
            body.as_bytes(),
        );
        assert_eq!(back.status.as_u16(), 303);
        let mail = format!(
            "From: Bob Stone <{BOB}>\r\nTo: {HELP}\r\nSubject: Invoice\r\n\
             Message-ID: <back@buyer.example>\r\n\r\nCould I have an invoice?\r\n"
        );
        served.cli(0, &["ingest", "--recipient", HELP], mail.as_bytes());
        let answer = wait_for_mail(&served, BOB, "Hello from the help desk.");
        assert!(!answer.contains("We are all away"), "{answer}");

        // Maria's conversation waits: not overdue yet (the target is a
        // day). Made to wait two days, it is marked on the dashboard,
        // counted, and its seller side is reminded by mail, once.
        let html = get(&served, "/console/tickets", &agent).text();
        assert!(
            html.contains("Waiting for an answer: <strong>2</strong>"),
            "{html}"
        );
        assert!(!html.contains(">overdue<"), "{html}");
        let maria_ticket = served.json(&["tickets", "list", "--json"]);
        let number = maria_ticket
            .as_array()
            .and_then(|all| all.iter().find(|t| t["subject"] == "Lost parcel"))
            .and_then(|t| t["number"].as_i64())
            .expect("Maria's ticket");
        backdate(&served, number, 2 * 86_400_000);
        let html = get(&served, "/console/tickets", &agent).text();
        assert!(
            html.contains("<strong class=\"overdue\">1 overdue</strong>"),
            "{html}"
        );
        let row = &html[html.find(&format!("id=\"ticket-{number}\"")).expect(&html)..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("overdue"), "{row}");
        let reminder = wait_for_mail(&served, AGENT, "waits for an answer");
        assert!(reminder.contains("Lost parcel"), "{reminder}");

        // Both switches are in the queue's history, newest first.
        let html = get(&served, "/console/desk", &agent).text();
        let back = html
            .find(&format!("console:{AGENT} {AGENT} set available"))
            .expect(&html);
        let away = html
            .find(&format!("console:{AGENT} {AGENT} set away"))
            .expect(&html);
        assert!(back < away, "{html}");

        // In the browser (once): the desk and the overdue dashboard, seen,
        // accessible, the switch working by a click.
        if let Backend::Sqlite = backend {
            let screens = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screens");
            let base = format!("http://127.0.0.1:{}", served.http);
            let browser = Browser::start(1280, 900);
            browser.goto(&format!("{base}/console/login"));
            browser.type_into("#login", AGENT);
            browser.type_into("#password", PASSWORD);
            browser.click("form.login button");
            browser.find("#list");
            browser.screenshot(&screens.join("overdue.png"));
            accessible(&browser, "dashboard with an overdue conversation");
            browser.goto(&format!("{base}/console/desk"));
            wait_for(&browser, "#availability", "available");
            browser.screenshot(&screens.join("desk.png"));
            accessible(&browser, "desk");
            browser.click("#switch");
            wait_for(&browser, "#availability", "away");
        }
    }
}

/// Moves ticket `number`'s waiting back by `ms`, in the served store (as
/// if it had waited that long).
fn backdate(served: &Served, number: i64, ms: i64) {
    use sqlx::Connection;
    let config = std::fs::read_to_string(&served.config).expect("the config");
    let url = config
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the store's url")
        .to_string();
    let sql = "UPDATE tickets SET waiting_since = waiting_since - $1 WHERE number = $2";
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql)
                .bind(ms)
                .bind(number)
                .execute(&mut conn)
                .await
                .unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(sql)
                .bind(ms)
                .bind(number)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
}

/// A moderator writes into a conversation as the marketplace, on every
/// backend: the message is the marketplace's (no participant's), shown
/// under its name, and both parties are notified by mail; a seller may
/// not.
#[test]
fn a_moderator_writes_as_the_marketplace() {
    const MEDIATOR: &str = "mediator@market.example";
    const TEXT: &str = "Please settle the shipping cost here, the marketplace is watching.";
    for backend in backends() {
        println!("== on {}", backend.name());
        let served = Served::on(
            &backend,
            "listen = []",
            "listen = [\"127.0.0.1:{http}\"]",
            // No throttle: the agent was told of the buyer's mail a moment ago.
            "[outbox]\nenabled = true\npoll_interval_ms = 100\n\n[notify]\nthrottle_ticket_secs = 0\n",
        );
        buyer_writes(&served);
        add_user(&served, MEDIATOR, "moderator", "Mo Derator");
        add_user(&served, AGENT, "seller", "Shop Agent");
        let moderator = log_in(&served, MEDIATOR, PASSWORD).expect("the moderator logs in");
        let agent = log_in(&served, AGENT, PASSWORD).expect("the seller logs in");

        // A seller sees no such box and may not post to it.
        let page = get(&served, "/console/tickets/1", &agent);
        assert!(!page.text().contains("id=\"mediate\""), "{}", page.text());
        let body = format!("text=Hello&csrf={}", form_token(&page));
        let refused = post_form(
            &served,
            "/console/tickets/1/mediate",
            &agent,
            body.as_bytes(),
        );
        assert_eq!(refused.status.as_u16(), 403);

        let page = get(&served, "/console/tickets/1", &moderator);
        assert!(
            page.text().contains("Write as The marketplace"),
            "{}",
            page.text()
        );
        let body = format!(
            "text={}&csrf={}",
            TEXT.replace(' ', "+").replace(',', "%2C"),
            form_token(&page)
        );
        let sent = post_form(
            &served,
            "/console/tickets/1/mediate",
            &moderator,
            body.as_bytes(),
        );
        assert_eq!(sent.status.as_u16(), 303, "{}", sent.text());
        let html = get(&served, "/console/tickets/1", &moderator).text();
        let at = html.find(TEXT).expect(&html);
        let before = &html[..at];
        let meta = &before[before.rfind("class=\"meta\"").expect(&html)..];
        assert!(meta.contains("The marketplace"), "{meta}");

        // Both parties are told, by mail, under the marketplace's name.
        let to_buyer = wait_for_mail(&served, MARIA, TEXT);
        assert!(to_buyer.contains("The marketplace"), "{to_buyer}");
        wait_for_mail(&served, AGENT, TEXT);
        // The API says whose it is.
        let shown = served
            .api(
                "GET",
                &format!("/api/v1/conversations/1?as={}", MARIA.replace('@', "%40")),
                PLATFORM.2,
                None,
            )
            .json();
        let last = shown["messages"].as_array().and_then(|m| m.last()).cloned();
        let last = last.expect("messages");
        assert_eq!(last["marketplace"], true, "{shown}");
        assert_eq!(last["author"], serde_json::Value::Null, "{shown}");
    }
}
