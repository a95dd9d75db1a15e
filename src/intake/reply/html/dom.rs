//! A small HTML tokenizer and tree builder: start and end tags with the
//! attributes the cut rules read (id, class, style, name), text with
//! character references decoded, comments and raw-text elements skipped.
//! One pass; an end tag without an open element is ignored, an open element
//! count per name keeps implied closes amortised O(1); a tag or quoted
//! attribute that never ends swallows the rest of the input (as browsers
//! do) instead of being rescanned.

use std::borrow::Cow;
use std::collections::HashMap;

use mail_parser::decoders::html::add_html_token;

use super::super::patterns::PLACEHOLDER;

/// Elements whose content is not text.
pub(super) const RAW: &[&str] = &["script", "style", "title", "xml", "template", "noscript"];

pub(super) const VOID: &[&str] = &[
    "br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source", "track",
    "embed", "param", "basefont", "frame",
];

pub(super) const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "body",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "legend",
    "main",
    "menu",
    "nav",
    "ol",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
];

#[derive(Default)]
pub(super) struct Elem {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) class: String,
    pub(super) style: String,
    pub(super) name_attr: String,
    pub(super) parent: Option<usize>,
    pub(super) open: usize,
    pub(super) close: usize,
}

pub(super) enum Ev {
    Open(usize),
    Close(usize),
    Text(String),
}

pub(super) struct Doc {
    pub(super) elems: Vec<Elem>,
    pub(super) events: Vec<Ev>,
}

pub(super) fn parse(html: &str) -> Doc {
    let mut b = Builder::default();
    let bytes = html.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    while let Some(off) = html[i..].find('<') {
        let lt = i + off;
        let next = bytes.get(lt + 1).copied();
        let end = match next {
            Some(b'!') => {
                if html[lt..].starts_with("<!--") {
                    html[lt + 4..]
                        .find("-->")
                        .map_or(html.len(), |p| lt + 4 + p + 3)
                } else {
                    html[lt..].find('>').map_or(html.len(), |p| lt + p + 1)
                }
            }
            Some(b'?') => html[lt..].find('>').map_or(html.len(), |p| lt + p + 1),
            Some(b'/') if bytes.get(lt + 2).is_some_and(u8::is_ascii_alphabetic) => {
                b.text(&html[text_start..lt]);
                let (name, _) = tag_name(&html[lt + 2..]);
                let end = html[lt..].find('>').map_or(html.len(), |p| lt + p + 1);
                b.close(&name);
                i = end;
                text_start = end;
                continue;
            }
            Some(c) if c.is_ascii_alphabetic() => {
                b.text(&html[text_start..lt]);
                let (tag, end) = start_tag(html, lt + 1);
                let raw = RAW.contains(&tag.name.as_str()) && !tag.self_closing;
                let name = tag.name.clone();
                b.open(tag);
                let mut end = end;
                if raw {
                    end = skip_raw(html, end, &name);
                    b.close(&name);
                }
                i = end;
                text_start = end;
                continue;
            }
            _ => {
                // A lone "<" is text.
                i = lt + 1;
                continue;
            }
        };
        b.text(&html[text_start..lt]);
        i = end;
        text_start = end;
    }
    b.text(&html[text_start..]);
    b.finish()
}

struct Tag {
    name: String,
    id: String,
    class: String,
    style: String,
    name_attr: String,
    self_closing: bool,
}

fn tag_name(s: &str) -> (String, usize) {
    let len = s
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'_' | b'-'))
        .count();
    (s[..len].to_ascii_lowercase(), len)
}

/// Parses the start tag whose name begins at `at`; returns it and the index
/// after its ">" (the end of input when the tag never closes).
fn start_tag(html: &str, at: usize) -> (Tag, usize) {
    let bytes = html.as_bytes();
    let (name, len) = tag_name(&html[at..]);
    let mut tag = Tag {
        name,
        id: String::new(),
        class: String::new(),
        style: String::new(),
        name_attr: String::new(),
        self_closing: false,
    };
    let mut i = at + len;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            tag.self_closing = bytes[i] == b'/';
            i += 1;
        }
        if i >= bytes.len() {
            return (tag, bytes.len());
        }
        if bytes[i] == b'>' {
            return (tag, i + 1);
        }
        tag.self_closing = false;
        let start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let attr = &html[start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                let q = bytes[i] as char;
                match html[i + 1..].find(q) {
                    Some(p) => {
                        value = &html[i + 1..i + 1 + p];
                        i += p + 2;
                    }
                    None => return (tag, bytes.len()),
                }
            } else {
                let s = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                value = &html[s..i];
            }
        }
        let slot = match attr.to_ascii_lowercase().as_str() {
            "id" => &mut tag.id,
            "class" => &mut tag.class,
            "style" => &mut tag.style,
            "name" => &mut tag.name_attr,
            _ => continue,
        };
        if slot.is_empty() {
            *slot = decode(value).into_owned();
        }
    }
}

/// Index after the "</name …>" that ends a raw text element.
fn skip_raw(html: &str, from: usize, name: &str) -> usize {
    let bytes = html.as_bytes();
    let mut i = from;
    while let Some(p) = html[i..].find("</") {
        let at = i + p + 2;
        if bytes.len() >= at + name.len()
            && bytes[at..at + name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            return html[at..].find('>').map_or(html.len(), |q| at + q + 1);
        }
        i = at;
    }
    html.len()
}

/// Decodes character references ("&amp;", "&#160;", "&nbsp;").
pub(super) fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let semi = rest.as_bytes().iter().take(33).position(|&c| c == b';');
        match semi {
            Some(q)
                if q > 1
                    && rest[1..q]
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'#') =>
            {
                add_html_token(&mut out, &rest.as_bytes()[..=q], false);
                rest = &rest[q + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[derive(Default)]
struct Builder {
    elems: Vec<Elem>,
    events: Vec<Ev>,
    stack: Vec<usize>,
    open_count: HashMap<String, usize>,
}

impl Builder {
    fn text(&mut self, raw: &str) {
        if !raw.is_empty() {
            let mut text = decode(raw).into_owned();
            if text.contains(PLACEHOLDER) {
                text = text.replace(PLACEHOLDER, "\u{FFFD}");
            }
            self.events.push(Ev::Text(text));
        }
    }

    fn open(&mut self, tag: Tag) {
        // A block closes an open paragraph; a list item the previous one.
        if let Some(&top) = self.stack.last() {
            let top = self.elems[top].name.as_str();
            if (top == "p"
                && (BLOCK.contains(&tag.name.as_str())
                    || tag.name == "p"
                    || tag.name == "blockquote"))
                || (top == "li" && tag.name == "li")
            {
                let name = top.to_string();
                self.close(&name);
            }
        }
        let idx = self.elems.len();
        let void = tag.self_closing || VOID.contains(&tag.name.as_str());
        self.elems.push(Elem {
            parent: self.stack.last().copied(),
            open: self.events.len(),
            close: self.events.len(),
            id: tag.id,
            class: tag.class,
            style: tag.style,
            name_attr: tag.name_attr,
            name: tag.name,
        });
        self.events.push(Ev::Open(idx));
        if void {
            self.elems[idx].close = self.events.len();
            self.events.push(Ev::Close(idx));
        } else {
            *self
                .open_count
                .entry(self.elems[idx].name.clone())
                .or_default() += 1;
            self.stack.push(idx);
        }
    }

    fn close(&mut self, name: &str) {
        if self.open_count.get(name).is_none_or(|&c| c == 0) {
            return;
        }
        while let Some(top) = self.stack.pop() {
            if let Some(c) = self.open_count.get_mut(self.elems[top].name.as_str()) {
                *c -= 1;
            }
            self.elems[top].close = self.events.len();
            self.events.push(Ev::Close(top));
            if self.elems[top].name == name {
                break;
            }
        }
    }

    fn finish(mut self) -> Doc {
        while let Some(top) = self.stack.pop() {
            self.elems[top].close = self.events.len();
            self.events.push(Ev::Close(top));
        }
        Doc {
            elems: self.elems,
            events: self.events,
        }
    }
}
