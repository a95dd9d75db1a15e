//! Text from the tree: block elements break lines, `<br>` adds one, white
//! space collapses outside `<pre>`, list items get "• ", blockquotes "> ".

use super::dom::{BLOCK, Elem, Ev, VOID};
use super::has_token;
use crate::intake::reply::patterns::PLACEHOLDER;

/// How many "> " a line of nested blockquotes gets at most.
const MAX_QUOTE_PREFIX: usize = 8;

/// Builds text from events: block elements break lines, `<br>` adds one,
/// white space collapses outside `<pre>`, blockquotes get "> ".
#[derive(Default)]
pub(super) struct Writer {
    pub(super) out: String,
    pending: usize,
    space: bool,
    quote: usize,
    pre: usize,
}

impl Writer {
    pub(super) fn event(&mut self, ev: &Ev, elems: &[Elem]) {
        match ev {
            Ev::Text(t) => self.text(t),
            Ev::Open(i) => {
                let e = &elems[*i];
                match e.name.as_str() {
                    "br" => self.br(),
                    "p" => self.block(paragraph(e)),
                    "blockquote" => {
                        self.block(1);
                        self.quote += 1;
                    }
                    "pre" => {
                        self.block(1);
                        self.pre += 1;
                    }
                    "li" => {
                        self.block(1);
                        self.word("• ");
                    }
                    "td" | "th" => self.space = true,
                    name if BLOCK.contains(&name) => self.block(1),
                    _ => {}
                }
            }
            Ev::Close(i) => {
                let e = &elems[*i];
                match e.name.as_str() {
                    "p" => self.block(paragraph(e)),
                    "blockquote" => {
                        self.block(1);
                        self.quote = self.quote.saturating_sub(1);
                    }
                    "pre" => {
                        self.block(1);
                        self.pre = self.pre.saturating_sub(1);
                    }
                    "li" => self.block(1),
                    name if BLOCK.contains(&name) && !VOID.contains(&name) => self.block(1),
                    _ => {}
                }
            }
        }
    }

    fn block(&mut self, n: usize) {
        if !self.out.is_empty() {
            self.pending = self.pending.max(n);
        }
    }

    fn br(&mut self) {
        if !self.out.is_empty() {
            self.pending += 1;
        }
    }

    fn start_line(&mut self) {
        let at_start = self.out.is_empty() || self.pending > 0;
        if self.pending > 0 {
            for _ in 0..self.pending {
                self.out.push('\n');
            }
            self.pending = 0;
        }
        if at_start {
            // Deeper levels share one prefix: nesting must not make the
            // text grow with depth × lines.
            for _ in 0..self.quote.min(MAX_QUOTE_PREFIX) {
                self.out.push_str("> ");
            }
        } else if self.space && !self.out.ends_with(['\n', ' ']) {
            self.out.push(' ');
        }
        self.space = false;
    }

    fn word(&mut self, w: &str) {
        self.start_line();
        self.out.push_str(w);
    }

    fn text(&mut self, t: &str) {
        if self.pre > 0 {
            for line in t.split_inclusive('\n') {
                let body = line.trim_end_matches(['\n', '\r']);
                if !body.is_empty() {
                    self.word(&body.replace('\u{a0}', " "));
                }
                if line.ends_with('\n') {
                    self.pending += 1;
                }
            }
            return;
        }
        if t.chars().all(char::is_whitespace) {
            // "&nbsp;" alone in a block (Outlook's empty paragraph) is a
            // blank line.
            if t.contains('\u{a0}') && self.pending > 0 {
                self.pending += 1;
            } else if !t.is_empty() {
                self.space = true;
            }
            return;
        }
        if t.starts_with(char::is_whitespace) {
            self.space = true;
        }
        for (k, w) in t
            .split(char::is_whitespace)
            .filter(|w| !w.is_empty())
            .enumerate()
        {
            if k > 0 {
                self.space = true;
            }
            self.word(w);
        }
        if t.ends_with(char::is_whitespace) {
            self.space = true;
        }
    }

    pub(super) fn placeholder(&mut self, n: usize) {
        self.block(1);
        if !self.out.is_empty() {
            for _ in 0..self.pending.max(1) {
                self.out.push('\n');
            }
        }
        self.out.push(PLACEHOLDER);
        self.out.push_str(&n.to_string());
        self.pending = 1;
        self.space = false;
    }
}

/// Line breaks around a paragraph: Word's MsoNormal paragraphs have no
/// margin; others leave a blank line.
fn paragraph(e: &Elem) -> usize {
    if has_token(&e.class, &["MsoNormal"]) {
        1
    } else {
        2
    }
}
