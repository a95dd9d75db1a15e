//! One pass over the HTML of a message for the spam model: tag names as
//! tokens, link targets, and the tricks spam uses to show a reader one
//! thing and a filter another (hidden text, tiny fonts, a picture instead
//! of words, link text naming another site than the link goes to).
//!
//! This is not a parser and does not need to be: it looks at `<tag …>`
//! spans and counts the words between them. Malformed markup only makes it
//! see fewer tags; it never fails.

use super::features::{self, Sink, WordStats};

/// What the scan found.
#[derive(Debug, Default)]
pub(crate) struct HtmlStats {
    pub links: usize,
    pub shortener: bool,
    pub images: usize,
    /// Words outside tags, `<style>` and `<script>`.
    pub words: usize,
    pub hidden_text: bool,
    pub tiny_font: bool,
    pub link_mismatch: bool,
}

pub(crate) fn scan(html: &str, sink: &mut impl Sink) -> HtmlStats {
    let mut out = HtmlStats::default();
    let mut links = WordStats::default();
    // The target site of the `<a>` we are inside, to compare with its text.
    let mut anchor: Option<&str> = None;
    let mut invisible = false;
    let mut rest = html;
    while !rest.is_empty() {
        let (text, after) = match rest.find('<') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if !invisible {
            out.words += text.split_whitespace().count();
            if let Some(target) = anchor
                && mismatched(text.trim(), target)
            {
                out.link_mismatch = true;
            }
        }
        let Some(close) = after.find('>') else {
            break;
        };
        let tag = &after[..close];
        rest = &after[close + 1..];
        let end_tag = tag.starts_with('/');
        let body = tag.trim_start_matches('/');
        let name_len = body
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(body.len());
        let name = &body[..name_len];
        if name.is_empty() || name.len() > 10 {
            continue;
        }
        let attrs = &body[name_len..];
        if name.eq_ignore_ascii_case("style") || name.eq_ignore_ascii_case("script") {
            invisible = !end_tag;
            continue;
        }
        if end_tag {
            if name.eq_ignore_ascii_case("a") {
                anchor = None;
            }
            continue;
        }
        sink.token(&["html:", name]);
        if name.eq_ignore_ascii_case("a") {
            anchor = attr(attrs, "href").and_then(url_host).map(|host| {
                features::link(host, &mut links, sink);
                features::site(host)
            });
        } else if name.eq_ignore_ascii_case("img") {
            out.images += 1;
        } else if name.eq_ignore_ascii_case("font")
            && attr(attrs, "size").is_some_and(|s| matches!(s.trim(), "0" | "-3" | "-4"))
        {
            out.tiny_font = true;
        }
        if let Some(style) = attr(attrs, "style") {
            if contains_ci(style, "display:none")
                || contains_ci(style, "display: none")
                || contains_ci(style, "visibility:hidden")
                || contains_ci(style, "visibility: hidden")
            {
                out.hidden_text = true;
            }
            if tiny_font_size(style) {
                out.tiny_font = true;
            }
        }
    }
    out.links = links.links;
    out.shortener = links.shortener;
    out
}

/// The value of attribute `name` in the attribute text of a tag.
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let bytes = attrs.as_bytes();
    let mut from = 0;
    while let Some(i) = find_ci(&attrs[from..], name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let rest = attrs[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value = rest[1..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &value[1..];
                &inner[..inner.find(q).unwrap_or(inner.len())]
            }
            _ => &value[..value.find(char::is_whitespace).unwrap_or(value.len())],
        });
    }
    None
}

/// The host of an absolute http(s) URL.
fn url_host(url: &str) -> Option<&str> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    Some(features::host_at(rest)).filter(|h| !h.is_empty())
}

/// Link text that itself names a site (`http://…`, `www.…`) other than
/// `target`: the reader trusts the text, the click goes elsewhere.
fn mismatched(text: &str, target: &str) -> bool {
    let shown = if let Some((_, rest)) = text.split_once("://") {
        features::host_at(rest)
    } else if features::starts_with_ci(text, "www.") {
        features::host_at(text)
    } else {
        return false;
    };
    !shown.is_empty() && !features::site(shown).eq_ignore_ascii_case(target)
}

/// `font-size` of at most 2 px or pt, or 0 in any unit.
fn tiny_font_size(style: &str) -> bool {
    let Some(i) = find_ci(style, "font-size") else {
        return false;
    };
    let value = style[i + "font-size".len()..]
        .trim_start_matches([' ', ':'])
        .trim_start();
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let Ok(size) = value[..digits].parse::<u32>() else {
        return false;
    };
    let unit = &value[digits..];
    size == 0 && !unit.starts_with('.')
        || size <= 2 && (unit.starts_with("px") || unit.starts_with("pt"))
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    find_ci(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<String>);
    impl Sink for Collect {
        fn token(&mut self, parts: &[&str]) {
            self.0.push(parts.concat().to_ascii_lowercase());
        }
    }

    fn run(html: &str) -> (HtmlStats, Vec<String>) {
        let mut sink = Collect(Vec::new());
        let stats = scan(html, &mut sink);
        (stats, sink.0)
    }

    #[test]
    fn links_and_mismatch() {
        let (s, tokens) = run(
            r#"<p>Log in at <A HREF="http://evil.example.ru/x">http://www.paypal.com/login</a></p>"#,
        );
        assert_eq!(s.links, 1);
        assert!(s.link_mismatch);
        assert!(tokens.contains(&"url:evil.example.ru".to_string()));
        assert!(tokens.contains(&"html:a".to_string()));
        let (s, _) = run(r#"<a href="https://www.example.com/a">www.example.com</a>"#);
        assert!(!s.link_mismatch);
        let (s, _) = run(r#"<a href='http://bit.ly/x'>here</a>"#);
        assert!(s.shortener && !s.link_mismatch);
    }

    #[test]
    fn tricks() {
        let (s, _) =
            run(r#"<div style="display: none">buy</div><span style="FONT-SIZE:1px">x</span>"#);
        assert!(s.hidden_text && s.tiny_font);
        let (s, _) = run(r#"<font size="1">footer</font><span style="font-size: 12px">x</span>"#);
        assert!(!s.hidden_text && !s.tiny_font);
        let (s, _) = run(r#"<html><style>p { color: red }</style><img src="a.gif"></html>"#);
        assert_eq!((s.images, s.words), (1, 0));
    }

    #[test]
    fn garbage_does_not_fail() {
        for html in [
            "<",
            "<<<>>>",
            "<a href=",
            "<a href=\"http://",
            "<img",
            "é<ü>ß</",
            "<a>www.</a>",
        ] {
            run(html);
        }
    }
}
