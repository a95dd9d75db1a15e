//! The notification templates: a subject, a text and an HTML template per
//! kind of notification, rendered with minijinja.
//!
//! The built-in templates (the repository's `templates/`) are compiled in.
//! An admin's `notify.template_dir` replaces any of them by name, and
//! `QUEUE/NAME` in it replaces `NAME` for one queue only; an `include` or
//! `extends` inside a queue's template also prefers that queue's version.
//! HTML templates (`.html`) are autoescaped: a client's text can never
//! become markup in the seller's mail.
//!
//! Every template is rendered once at start-up with a sample of every
//! variable under strict rules, so a typo or a syntax error is a
//! configuration error, not a lost notification; at run time undefined
//! variables render empty.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};

use super::view::View;
use crate::store::{ACK, AFTER_HOURS, NEW_MESSAGE, OVERDUE, REJECTED_NOTICE, TRANSCRIPT};

/// The kinds of notification, each with `KIND.subject.txt`, `KIND.txt` and
/// `KIND.html`.
pub const KINDS: [&str; 6] = [
    NEW_MESSAGE,
    ACK,
    AFTER_HOURS,
    REJECTED_NOTICE,
    TRANSCRIPT,
    OVERDUE,
];

/// The built-in templates, by name.
const BUILT_IN: [(&str, &str); 20] = [
    ("base.html", include_str!("../../../templates/base.html")),
    ("footer.txt", include_str!("../../../templates/footer.txt")),
    (
        "new_message.subject.txt",
        include_str!("../../../templates/new_message.subject.txt"),
    ),
    (
        "new_message.txt",
        include_str!("../../../templates/new_message.txt"),
    ),
    (
        "new_message.html",
        include_str!("../../../templates/new_message.html"),
    ),
    (
        "ack.subject.txt",
        include_str!("../../../templates/ack.subject.txt"),
    ),
    ("ack.txt", include_str!("../../../templates/ack.txt")),
    ("ack.html", include_str!("../../../templates/ack.html")),
    (
        "after_hours.subject.txt",
        include_str!("../../../templates/after_hours.subject.txt"),
    ),
    (
        "after_hours.txt",
        include_str!("../../../templates/after_hours.txt"),
    ),
    (
        "after_hours.html",
        include_str!("../../../templates/after_hours.html"),
    ),
    (
        "moderation_rejected.subject.txt",
        include_str!("../../../templates/moderation_rejected.subject.txt"),
    ),
    (
        "moderation_rejected.txt",
        include_str!("../../../templates/moderation_rejected.txt"),
    ),
    (
        "moderation_rejected.html",
        include_str!("../../../templates/moderation_rejected.html"),
    ),
    (
        "transcript.subject.txt",
        include_str!("../../../templates/transcript.subject.txt"),
    ),
    (
        "transcript.txt",
        include_str!("../../../templates/transcript.txt"),
    ),
    (
        "transcript.html",
        include_str!("../../../templates/transcript.html"),
    ),
    (
        "overdue.subject.txt",
        include_str!("../../../templates/overdue.subject.txt"),
    ),
    (
        "overdue.txt",
        include_str!("../../../templates/overdue.txt"),
    ),
    (
        "overdue.html",
        include_str!("../../../templates/overdue.html"),
    ),
];

/// A notification's three parts, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why the templates cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template {name}: {source:#}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
}

/// The loaded templates, shared by every send.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// Every template name, for the per-queue lookups.
    names: Arc<BTreeSet<String>>,
}

impl Templates {
    /// The built-in templates only.
    pub fn built_in() -> Self {
        Self::load(None).expect("the built-in templates are valid")
    }

    /// The built-in templates, replaced by those in `dir` (its `*.txt` and
    /// `*.html`, and those of its sub-folders as `QUEUE/NAME`), checked.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut sources: Vec<(String, String)> = BUILT_IN
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        if let Some(dir) = dir {
            read_dir(dir, "", &mut sources)?;
        }
        // A queue with templates of its own gets a copy of every other
        // one, so that the built-in `new_message.txt` rendered for it
        // includes its own `footer.txt`.
        let queues: BTreeSet<String> = sources
            .iter()
            .filter_map(|(n, _)| n.split_once('/').map(|(q, _)| q.to_string()))
            .collect();
        let global: Vec<(String, String)> = sources
            .iter()
            .filter(|(n, _)| !n.contains('/'))
            .cloned()
            .collect();
        for queue in &queues {
            for (name, source) in &global {
                let local = format!("{queue}/{name}");
                if !sources.iter().any(|(n, _)| *n == local) {
                    sources.push((local, source.clone()));
                }
            }
        }
        let mut env = Environment::new();
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        let mut names = BTreeSet::new();
        for (name, source) in sources {
            env.add_template_owned(name.clone(), source)
                .map_err(|source| TemplateError::Template {
                    name: name.clone(),
                    source,
                })?;
            names.insert(name);
        }
        let names = Arc::new(names);
        let known = names.clone();
        // `{% include "footer.txt" %}` inside `desk/new_message.txt` takes
        // `desk/footer.txt` when there is one.
        env.set_path_join_callback(move |name, parent| match parent.split_once('/') {
            Some((queue, _)) if !name.contains('/') => {
                let local = format!("{queue}/{name}");
                if known.contains(&local) {
                    local.into()
                } else {
                    name.into()
                }
            }
            _ => name.into(),
        });
        let templates = Templates { env, names };
        templates.check()?;
        Ok(templates)
    }

    /// Renders `kind` for a ticket of `queue`.
    pub fn render(&self, kind: &str, queue: &str, view: &View) -> Result<Rendered, TemplateError> {
        self.render_in(&self.env, kind, queue, view)
    }

    fn render_in(
        &self,
        env: &Environment<'static>,
        kind: &str,
        queue: &str,
        view: &View,
    ) -> Result<Rendered, TemplateError> {
        let part = |suffix: &str| {
            let name = self.pick(queue, &format!("{kind}.{suffix}"));
            env.get_template(&name)
                .and_then(|t| t.render(Serde(view)))
                .map_err(|source| TemplateError::Template { name, source })
        };
        let subject = part("subject.txt")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject,
            text: part("txt")?,
            html: part("html")?,
        })
    }

    /// `QUEUE/NAME` when there is one, else `NAME`.
    fn pick(&self, queue: &str, name: &str) -> String {
        let local = format!("{queue}/{name}");
        if self.names.contains(&local) {
            local
        } else {
            name.to_string()
        }
    }

    /// Renders every kind, for every queue that has templates of its own,
    /// with every variable set, under strict rules.
    fn check(&self) -> Result<(), TemplateError> {
        let mut strict = self.env.clone();
        strict.set_undefined_behavior(UndefinedBehavior::Strict);
        let queues: BTreeSet<&str> = self
            .names
            .iter()
            .filter_map(|n| n.split_once('/').map(|(q, _)| q))
            .chain([""])
            .collect();
        for queue in queues {
            for kind in KINDS {
                // One announced message, and several (coalesced by a
                // throttle): the templates branch on it.
                let mut one = View::sample(kind);
                one.messages.truncate(1);
                for view in [View::sample(kind), one] {
                    self.render_in(&strict, kind, queue, &view)?;
                }
            }
        }
        Ok(())
    }
}

/// Adds the templates in `dir` (and, at the top, its sub-folders) to
/// `sources`, replacing built-in ones of the same name.
fn read_dir(
    dir: &Path,
    prefix: &str,
    sources: &mut Vec<(String, String)>,
) -> Result<(), TemplateError> {
    let read_error = |source| TemplateError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if file.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if prefix.is_empty() {
                read_dir(&path, &format!("{file}/"), sources)?;
            }
            continue;
        }
        if !(file.ends_with(".txt") || file.ends_with(".html")) {
            continue;
        }
        let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
            path: path.clone(),
            source,
        })?;
        let name = format!("{prefix}{file}");
        sources.retain(|(n, _)| *n != name);
        sources.push((name, source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn every_built_in_kind_renders_all_three_parts() {
        let t = Templates::built_in();
        for kind in KINDS {
            let r = t.render(kind, "desk", &View::sample(kind)).unwrap();
            assert!(r.subject.contains("[#42]"), "{kind}: {}", r.subject);
            assert!(!r.subject.contains('\n'), "{kind}");
            assert!(
                r.text.starts_with("## Please reply above this line ##"),
                "{kind}: {}",
                r.text
            );
            assert!(r.html.contains("<html>"), "{kind}");
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = Templates::built_in();
        let mut v = View::sample("new_message");
        v.messages.truncate(1);
        v.message.as_mut().unwrap().text = "<b>5 < 6</b> & \"so\"".into();
        let r = t.render("new_message", "desk", &v).unwrap();
        assert!(r.text.contains("<b>5 < 6</b> & \"so\""), "{}", r.text);
        assert!(
            r.html
                .contains("&lt;b&gt;5 &lt; 6&lt;&#x2f;b&gt; &amp; &quot;so&quot;"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>5"), "{}", r.html);
    }

    #[test]
    fn an_admins_folder_replaces_by_name_and_per_queue() {
        let dir = dir_with(&[
            ("new_message.subject.txt", "News on {{ ticket.tag }}"),
            ("shop/new_message.subject.txt", "Shop: {{ ticket.subject }}"),
            ("shop/footer.txt", "-- \nThe shop footer"),
            ("notes.md", "not a template"),
        ]);
        let t = Templates::load(Some(dir.path())).unwrap();
        let v = View::sample("new_message");
        assert_eq!(
            t.render("new_message", "desk", &v).unwrap().subject,
            "News on [#42]"
        );
        let shop = t.render("new_message", "shop", &v).unwrap();
        assert_eq!(shop.subject, "Shop: Oak sideboard");
        // The built-in text includes the queue's own footer.
        assert!(shop.text.contains("The shop footer"), "{}", shop.text);
        let desk = t.render("new_message", "desk", &v).unwrap();
        assert!(!desk.text.contains("The shop footer"), "{}", desk.text);
        // Other kinds stay built in.
        assert!(t.render("ack", "shop", &v).unwrap().text.contains("[#42]"));
    }

    #[test]
    fn a_broken_or_misspelt_template_is_refused_at_load() {
        for (file, text) in [
            ("ack.txt", "{% if greeting %}unclosed"),
            ("ack.txt", "{{ greting }}"),
            ("desk/transcript.html", "{{ ticket.numbr }}"),
        ] {
            let dir = dir_with(&[(file, text)]);
            let e = Templates::load(Some(dir.path())).unwrap_err();
            let TemplateError::Template { name, .. } = &e else {
                panic!("{file}: {e}")
            };
            assert!(name.ends_with(file.rsplit('/').next().unwrap()), "{e}");
        }
        let e = Templates::load(Some(Path::new("/nonexistent/templates"))).unwrap_err();
        assert!(matches!(e, TemplateError::Read { .. }), "{e}");
    }
}
