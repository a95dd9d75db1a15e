//! `parley check` on a bad configuration: exit 2, and a message that names
//! the key at fault (and the environment variable, when one set it) and,
//! for every enum of the config, the values it takes.

mod common;

use common::cli::Cli;

/// `parley check` with `toml` appended to the test config and `env` set:
/// expects exit 2 and returns stderr.
fn refused(toml: &str, env: &[(&str, &str)]) -> String {
    let cli = Cli::unset(toml);
    let mut command = cli.command(&["check"]);
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().expect("parley runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{toml} {env:?}: {err}");
    err
}

/// Each enum of the config, a bad value in the file, the key named and
/// the values listed, never a Rust type.
#[test]
fn a_bad_enum_value_lists_the_valid_ones() {
    let imap =
        "[[imap]]\nhost = \"localhost\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\n";
    let cases = [
        (
            "[tickets]\non_closed_reply = \"maybe\"\n".to_string(),
            "tickets.on_closed_reply: \"maybe\" is not valid: expected one of: reopen, new_ticket, reject",
        ),
        (
            "[relay]\ntls = \"ssl\"\n".to_string(),
            "relay.tls: \"ssl\" is not valid: expected one of: tls, starttls, none",
        ),
        (
            imap.replace("\"none\"", "\"ssl\""),
            "imap[0].tls: \"ssl\" is not valid: expected one of: tls, starttls, none",
        ),
        (
            format!("{imap}after = \"archive\"\n"),
            "imap[0].after: \"archive\" is not valid: expected one of: seen, move, delete",
        ),
        (
            "[[queues]]\nname = \"x\"\n[queues.hours]\ndays = [\"mon\", \"sunday\"]\n".to_string(),
            "queues[2].hours.days[1]: \"sunday\" is not valid: expected one of: mon, tue, wed, thu, fri, sat, sun",
        ),
        // Not a string at all: still the choices.
        (
            "[relay]\ntls = 465\n".to_string(),
            "relay.tls: \"465\" is not valid: expected one of: tls, starttls, none",
        ),
    ];
    for (toml, expected) in cases {
        let err = refused(&toml, &[]);
        assert!(err.contains(expected), "{toml}: {err}");
        assert!(!err.contains("enum "), "{toml}: {err}");
    }
}

/// A value from the environment: the message names the variable (as
/// written) and the key it sets.
#[test]
fn an_error_from_the_environment_names_the_variable() {
    let cases = [
        (
            ("PARLEY__TICKETS__ON_CLOSED_REPLY", "maybe"),
            "PARLEY__TICKETS__ON_CLOSED_REPLY (tickets.on_closed_reply): \"maybe\" is not valid: expected one of: reopen, new_ticket, reject",
        ),
        (
            ("PARLEY__relay__tls", "ssl"),
            "PARLEY__relay__tls (relay.tls): \"ssl\" is not valid: expected one of: tls, starttls, none",
        ),
        (
            ("PARLEY__STORE__MAX_CONNECTIONS", "many"),
            "PARLEY__STORE__MAX_CONNECTIONS (store.max_connections): invalid type: string \"many\", expected an integer",
        ),
        // Checked after loading (validation), and an item of a list.
        (
            ("PARLEY__MAIL__REPLY_DOMAIN", "not a domain"),
            "PARLEY__MAIL__REPLY_DOMAIN (mail.reply_domain): \"not a domain\" is not a domain name",
        ),
        (
            ("PARLEY__SMTP__LISTEN", "127.0.0.1:2525,localhost:25"),
            "PARLEY__SMTP__LISTEN (smtp.listen[1]): \"localhost:25\" is not IP:PORT",
        ),
        // A misspelt variable: named, not only the table it falls in.
        (
            ("PARLEY__STORE__MAX_CONECTIONS", "4"),
            "PARLEY__STORE__MAX_CONECTIONS (store.max_conections): no such key",
        ),
    ];
    for ((name, value), expected) in cases {
        let err = refused("", &[(name, value)]);
        assert!(err.contains(expected), "{name}={value}: {err}");
    }
    // A key set in the file only: no variable named.
    let err = refused("[intake]\ncommit_batch = 0\n", &[]);
    assert!(
        err.contains("invalid configuration: intake.commit_batch: must be at least 1"),
        "{err}"
    );
}

/// `[[webhooks]]`: a bad URL, a missing or empty secret, an unknown event
/// kind, a name used twice: exit 2 naming the key; a good entry passes
/// and `parley check` prints its secret redacted.
#[test]
fn a_bad_webhook_names_the_key() {
    let hook = |more: &str| {
        format!("[[webhooks]]\nname = \"shop\"\nurl = \"https://shop.example/in\"\n{more}\n")
    };
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.secret");
    std::fs::write(&empty, "  \n").unwrap();
    let cases = [
        (
            hook("secret = \"s\"").replace("https://shop.example/in", "ftp://shop.example/"),
            "webhooks[0].url: \"ftp://shop.example/\": neither http:// nor https://",
        ),
        (
            hook("secret = \"s\"").replace("https://shop.example/in", "shop.example/in"),
            "webhooks[0].url: \"shop.example/in\"",
        ),
        (
            hook(""),
            "webhooks[0].secret: missing: set secret or secret_file",
        ),
        (
            hook(&format!("secret_file = \"{}\"", empty.display())),
            "webhooks[0].secret: empty",
        ),
        (
            hook("secret_file = \"/nonexistent/parley.secret\""),
            "webhooks[0].secret_file: /nonexistent/parley.secret",
        ),
        (
            hook("secret = \"s\"\nevents = [\"message.created\", \"message.sent\"]"),
            "webhooks[0].events[1]: \"message.sent\" is no event kind; one of message.created, ",
        ),
        (
            hook("secret = \"s\"\nevents = []"),
            "webhooks[0].events: empty",
        ),
        (
            hook("secret = \"s\"\ntimeout_ms = 0"),
            "webhooks[0].timeout_ms",
        ),
        (
            hook("secret = \"s\"\ntls_ca_file = \"/nonexistent/ca.pem\""),
            "webhooks[0].tls_ca_file: /nonexistent/ca.pem",
        ),
        (
            hook("secret = \"s\"\ntls_ca_file = \"/etc/hostname\"").replace("https://", "http://"),
            "webhooks[0].tls_ca_file: set, but the URL is not https://",
        ),
        (
            hook("secret = \"s\"") + &hook("secret = \"t\""),
            "webhooks[1].name: webhook \"shop\" is defined twice",
        ),
        (hook("secret = \"s\"\nsecrets = \"x\""), "secrets"),
    ];
    for (toml, expected) in cases {
        let err = refused(&toml, &[]);
        assert!(err.contains(expected), "{toml}: {err}");
    }
    let cli = Cli::unset(&hook("secret = \"very-secret-value\""));
    let out = cli.command(&["check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("<redacted>") && !text.contains("very-secret-value"),
        "{text}"
    );
    assert!(
        text.contains("message.moderated") && text.contains("timeout_ms = 10000"),
        "{text}"
    );
}
