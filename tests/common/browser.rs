//! Headless Chromium for the console's tests, driven over the W3C
//! WebDriver protocol by Debian's `chromedriver` (installed by
//! scripts/test), which each test starts on a free loopback port and
//! stops by its PID. The protocol is JSON over HTTP: [`super::http::request`]
//! speaks it, so no WebDriver crate is needed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::http::request;
use super::served::free_port;

/// The element reference key of the W3C protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session in it; both end on
/// drop.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (a phone's
    /// width when `width` is small).
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test installs chromium-driver)");
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while request(port, "GET", "/status", &[], b"").is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let binary = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromium is installed (scripts/test installs it)");
        let created = browser.call(
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "goog:chromeOptions": {
                    "binary": binary,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             format!("--window-size={width},{height}")],
                },
                "goog:loggingPrefs": {"browser": "ALL"},
            }}})),
        );
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        let headers: &[&str] = match body.is_empty() {
            true => &[],
            false => &["Content-Type: application/json"],
        };
        let answer = request(self.port, method, path, headers, &body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let value: Value = serde_json::from_slice(&answer.body).unwrap_or_else(|e| {
            panic!(
                "webdriver {method} {path}: {e}: {}",
                String::from_utf8_lossy(&answer.body)
            )
        });
        assert!(
            answer.status.is_success(),
            "webdriver {method} {path}: {} {value}",
            answer.status
        );
        value["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.session_call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element `css` selects, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(id) = self.try_find(css) {
                return id;
            }
            let late = Instant::now() >= deadline;
            assert!(
                !late,
                "no element {css:?} on {}:\n{}",
                self.url(),
                self.execute("return document.documentElement.outerHTML"),
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits up to 10 s until no element matches `css` (a page replaced
    /// after a click: the old page's elements stay until the new one
    /// arrives).
    pub fn wait_gone(&self, css: &str, why: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.try_find(css).is_some() {
            assert!(Instant::now() < deadline, "{why}: {css:?} still there");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first element `css` selects, if there is one now.
    pub fn try_find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/elements", self.session);
        let body = serde_json::to_vec(&json!({"using": "css selector", "value": css})).unwrap();
        let answer = request(
            self.port,
            "POST",
            &path,
            &["Content-Type: application/json"],
            &body,
        )
        .ok()?;
        let value: Value = serde_json::from_slice(&answer.body).ok()?;
        value["value"].as_array()?.first()?[ELEMENT]
            .as_str()
            .map(str::to_string)
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// The rendered text of the first element `css` selects; empty when
    /// there is none (or the page changed under it: a caller waiting for
    /// a text asks again).
    pub fn text(&self, css: &str) -> String {
        let Some(id) = self.try_find(css) else {
            return String::new();
        };
        let path = format!("/session/{}/element/{id}/text", self.session);
        request(self.port, "GET", &path, &[], b"")
            .ok()
            .filter(|answer| answer.status.is_success())
            .and_then(|answer| serde_json::from_slice::<Value>(&answer.body).ok())
            .and_then(|value| value["value"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Runs `script` in the page; what it returns.
    pub fn execute(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Runs `script` as an asynchronous script (it calls its last
    /// argument with the result); what it passes.
    pub fn execute_async(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// The serious and critical accessibility violations axe-core
    /// (tests/fixtures/axe, injected into the page) finds on the page:
    /// (rule, impact, the elements).
    pub fn accessibility(&self) -> Vec<(String, String, String)> {
        let axe = std::fs::read_to_string(super::fixtures::folder("axe").join("axe.min.js"))
            .expect("tests/fixtures/axe/axe.min.js");
        let loaded = self.execute(&format!("{axe};\nreturn typeof axe;"));
        assert_eq!(loaded, json!("object"), "axe-core did not load");
        let found = self.execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations\
             .filter(v => v.impact === 'serious' || v.impact === 'critical')\
             .map(v => [v.id, v.impact, v.nodes.map(n => n.target.join(' ')).join(', ')])));",
        );
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|v| {
                        (
                            v[0].as_str().unwrap_or_default().to_string(),
                            v[1].as_str().unwrap_or_default().to_string(),
                            v[2].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a JavaScript dialog (alert, confirm, prompt) is open.
    pub fn dialog_open(&self) -> bool {
        let path = format!("/session/{}/alert/text", self.session);
        request(self.port, "GET", &path, &[], b"")
            .map(|answer| answer.status.is_success())
            .unwrap_or(false)
    }

    /// A PNG of the viewport, written to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        let data = self.session_call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshots' folder");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// The browser's console messages since the last call (reading empties
    /// it): (level, message).
    pub fn console(&self) -> Vec<(String, String)> {
        let log = self.session_call("POST", "/se/log", Some(json!({"type": "browser"})));
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_string(),
                            e["message"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                b"",
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
