//! Attachments: the files a message carries besides its text.
//!
//! Pure: [`collect`] reads a parsed [`Message`] and returns what to store
//! (by content hash) and what to tell the policy stage; it writes nothing.
//!
//! - **Which parts.** mail-parser's own attachment list
//!   ([`Message::attachments`]): every part that is not the message's text
//!   or HTML body — files, inline images (also those of a
//!   `multipart/related` HTML body), text parts that are not the body
//!   (`text/calendar`, a `.txt` with `Content-Disposition: attachment`), and
//!   nested messages. Not a `multipart/*` part that mail-parser could not
//!   split (its boundary never comes): that is a broken container, not a
//!   file, and it stays in the raw message.
//! - **Nested messages** (`message/rfc822`, also `message/global` and the
//!   parts of a `multipart/digest`) count as one attachment of type
//!   `message/rfc822` (`message/global` when so declared): its bytes are
//!   the nested message as it arrived, its name the part's file name, else
//!   the nested subject plus `.eml`, else `message.eml`. We do not descend into it: the files
//!   of a forwarded message belong to that message, the whole of which is
//!   kept, and counting them again would store them twice and charge them
//!   twice against the limits. (mail-parser keeps them in the nested
//!   message's own attachment list, never in the outer one.)
//! - **Content.** The transfer-decoded bytes (base64, quoted-printable)
//!   exactly as the sender attached them; a text attachment keeps its own
//!   charset rather than mail-parser's UTF-8 conversion, so the hash is the
//!   hash of the file.
//! - **Limits.** Over `per_attachment`: metadata only, flag `too_large`.
//!   Attachments are kept in message order while their total stays within
//!   `per_message`; the first one that would pass it and every one after
//!   it are flagged `over_message_limit` and not kept (so what is kept is
//!   always a prefix of the list, minus the too-large ones).
//! - **Executables** are flagged `executable`, never dropped: by extension
//!   of the name as sent and as sanitized ([`is_executable`]), by declared
//!   type, and by the content's magic bytes ([`has_executable_magic`]) so a
//!   renamed program is caught too. Disk images (`.iso`, `.img`, `.vhd`,
//!   `.vhdx`, `.dmg`) count as executable: they are a common way to carry a
//!   program past mail filters and "downloaded from the internet" marks,
//!   and Outlook blocks them as well. Archives (`.zip`, `.rar`, `.7z`) do
//!   not: they are ordinary business files and we do not look inside them.

use std::borrow::Cow;
use std::collections::HashSet;

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// Limits from config (`[intake] max_attachment_bytes`,
/// `max_attachments_bytes`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_attachment: usize,
    pub per_message: usize,
}

/// One attachment of a message, with what the policy stage needs to know.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    /// Sanitized ([`sanitize_filename`]); never empty: `attachment` plus an
    /// extension from the content type when there is no usable name.
    pub filename: String,
    /// Lowercase `type/subtype`, e.g. `image/png`.
    pub content_type: String,
    /// The decoded content; empty when not kept (over a limit).
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// The decoded size, also when not kept.
    pub size: usize,
    /// Hex sha256 of `bytes`; empty when not kept.
    pub sha256: String,
    /// Content-ID without angle brackets, for inline CID images.
    pub content_id: Option<String>,
    /// `Content-Disposition: inline`, or referenced as `cid:` from an HTML
    /// part of the message.
    pub inline: bool,
    /// `executable`, `too_large`, `over_message_limit`.
    pub flags: Vec<&'static str>,
}

pub const EXECUTABLE: &str = "executable";
pub const TOO_LARGE: &str = "too_large";
pub const OVER_MESSAGE_LIMIT: &str = "over_message_limit";

/// The attachments of `message` (not of messages nested in it), in message
/// order, with `limits` applied.
pub fn collect(message: &Message<'_>, limits: Limits) -> Vec<Attachment> {
    let cids = cid_references(message);
    let mut kept_total = 0usize;
    let mut over_message = false;
    let mut list = Vec::new();
    for part in message.attachments() {
        let content_type = content_type(part);
        // A multipart whose boundary never came is left as one part by
        // mail-parser: a broken container, not a file someone attached.
        if content_type.starts_with("multipart/") {
            continue;
        }
        let content = content(message, part);
        let given_name = part.attachment_name().map(str::to_string);
        let name = given_name
            .clone()
            .or_else(|| nested_name(part, &content_type));
        let filename = name
            .as_deref()
            .and_then(clean_filename)
            .unwrap_or_else(|| fallback_name(&content_type));
        let content_id = part
            .content_id()
            .map(|id| {
                id.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .trim()
            })
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        let inline = part.content_disposition().is_some_and(|d| d.is_inline())
            || content_id
                .as_deref()
                .is_some_and(|id| cids.contains(&id.to_lowercase()));

        let mut flags = Vec::new();
        if given_name
            .as_deref()
            .is_some_and(|n| is_executable(n, &content_type))
            || is_executable(&filename, &content_type)
            || has_executable_magic(&content)
        {
            flags.push(EXECUTABLE);
        }
        let size = content.len();
        let mut keep = true;
        if size > limits.per_attachment {
            flags.push(TOO_LARGE);
            keep = false;
        }
        if over_message || keep && kept_total.saturating_add(size) > limits.per_message {
            over_message = true;
            flags.push(OVER_MESSAGE_LIMIT);
            keep = false;
        }
        let (bytes, sha256) = if keep {
            kept_total += size;
            let hash = hex(&Sha256::digest(&content));
            (content.into_owned(), hash)
        } else {
            (Vec::new(), String::new())
        };
        list.push(Attachment {
            filename,
            content_type,
            bytes,
            size,
            sha256,
            content_id,
            inline,
            flags,
        });
    }
    list
}

/// The part's content as the sender attached it: transfer encoding
/// undone, charset untouched (mail-parser's UTF-8 text of a text part only
/// when its transfer encoding cannot be undone again).
fn content<'a>(message: &'a Message<'_>, part: &'a MessagePart<'_>) -> Cow<'a, [u8]> {
    super::charset::part_bytes(message, part).unwrap_or(match &part.body {
        PartType::Text(text) | PartType::Html(text) => Cow::Borrowed(text.as_bytes()),
        _ => Cow::Borrowed(&[]),
    })
}

/// Lowercase `type/subtype` of a part; what the body says when there is
/// no usable Content-Type.
fn content_type(part: &MessagePart<'_>) -> String {
    let declared = part.content_type().and_then(|ct| {
        let ctype = ct.ctype().trim().to_ascii_lowercase();
        let subtype = match ct.subtype().map(|s| s.trim().to_ascii_lowercase()) {
            Some(s) if !s.is_empty() => s,
            _ if ctype == "text" => "plain".to_string(),
            _ => "octet-stream".to_string(),
        };
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        (token(&ctype) && token(&subtype)).then(|| format!("{ctype}/{subtype}"))
    });
    declared.unwrap_or_else(|| {
        match part.body {
            PartType::Text(_) => "text/plain",
            PartType::Html(_) => "text/html",
            PartType::Message(_) => "message/rfc822",
            _ => "application/octet-stream",
        }
        .to_string()
    })
}

/// The name of a nested message without a file name: its subject.
fn nested_name(part: &MessagePart<'_>, content_type: &str) -> Option<String> {
    let nested = part.message();
    if nested.is_none() && !matches!(content_type, "message/rfc822" | "message/global") {
        return None;
    }
    let subject = nested
        .and_then(|m| m.subject())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("message");
    Some(format!("{subject}.eml"))
}

fn fallback_name(content_type: &str) -> String {
    match extension_for(content_type) {
        Some(ext) => format!("attachment.{ext}"),
        None => "attachment".to_string(),
    }
}

/// A file extension for the common types.
fn extension_for(content_type: &str) -> Option<&'static str> {
    Some(match content_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/bmp" => "bmp",
        "image/tiff" => "tiff",
        "image/svg+xml" => "svg",
        "image/heic" => "heic",
        "text/plain" | "text/rfc822-headers" | "message/delivery-status" => "txt",
        "text/html" => "html",
        "text/csv" => "csv",
        "text/calendar" => "ics",
        "text/vcard" | "text/x-vcard" => "vcf",
        "application/json" => "json",
        "application/xml" | "text/xml" => "xml",
        "message/rfc822" | "message/global" => "eml",
        "application/zip" | "application/x-zip-compressed" => "zip",
        "application/gzip" | "application/x-gzip" => "gz",
        "application/x-7z-compressed" => "7z",
        "application/vnd.rar" | "application/x-rar-compressed" => "rar",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.ms-powerpoint" => "ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/vnd.oasis.opendocument.text" => "odt",
        "application/vnd.oasis.opendocument.spreadsheet" => "ods",
        "application/rtf" | "text/rtf" => "rtf",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "application/x-msdownload" | "application/x-dosexec" => "exe",
        _ => return None,
    })
}

/// Collects the `cid:` references of the message's HTML parts, lowercased.
fn cid_references(message: &Message<'_>) -> HashSet<String> {
    let mut cids = HashSet::new();
    for part in &message.parts {
        let PartType::Html(html) = &part.body else {
            continue;
        };
        let bytes = html.as_bytes();
        let mut at = 0;
        while let Some(found) = find_ascii_ci(&bytes[at..], b"cid:") {
            let start = at + found + 4;
            let end = bytes[start..]
                .iter()
                .position(|b| b"\"'<>() \t\r\n".contains(b))
                .map_or(bytes.len(), |p| start + p);
            if end > start {
                let id = percent_decode(&html[start..end]);
                cids.insert(id.trim().to_lowercase());
            }
            at = end.max(start);
        }
    }
    cids
}

fn find_ascii_ci(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// `%xx` escapes of a `cid:` URL (RFC 2392) undone.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_at = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex_at(i + 1), hex_at(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The longest file name kept, in bytes.
pub const MAX_FILENAME_BYTES: usize = 200;

/// A file name safe to show, store and offer for download: the last path
/// component only, without control or invisible (bidi, zero-width)
/// characters, with `<>:"|?*` replaced by `_`, white space collapsed,
/// without leading dots or spaces and trailing dots or spaces, a Windows
/// device name (`CON`, `NUL`, `COM1`, …) prefixed with `_`, and at most
/// [`MAX_FILENAME_BYTES`] bytes (cut on a character boundary, keeping the
/// extension). `attachment` when nothing usable is left.
pub fn sanitize_filename(name: &str) -> String {
    clean_filename(name).unwrap_or_else(|| "attachment".to_string())
}

fn clean_filename(name: &str) -> Option<String> {
    // Clean first, so that separators hidden behind control characters are
    // seen, then take the last component that is more than dots.
    let mut cleaned = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\t' | '\n' | '\r' => cleaned.push(' '),
            c if c.is_control() || is_invisible(c) => {}
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => cleaned.push('_'),
            c => cleaned.push(c),
        }
    }
    let base = cleaned
        .rsplit(['/', '\\'])
        .map(str::trim)
        .find(|s| s.chars().any(|c| c != '.' && !c.is_whitespace()))?;
    let mut out = String::with_capacity(base.len());
    let mut space = false;
    for c in base.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    let trim = |s: &str| {
        s.trim_start_matches(|c: char| c == '.' || c.is_whitespace())
            .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
            .to_string()
    };
    let mut out = trim(&out);
    if out.is_empty() {
        return None;
    }
    if is_reserved_device(&out) {
        out.insert(0, '_');
    }
    if out.len() > MAX_FILENAME_BYTES {
        out = truncate_keeping_extension(&out, MAX_FILENAME_BYTES);
        out = trim(&out);
    }
    (!out.is_empty()).then_some(out)
}

/// Bidi controls, zero-width characters and the BOM: they make a name read
/// differently than it is ("invoice\u{202e}fdp.exe" shows as
/// "invoiceexe.pdf").
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
    )
}

/// Windows device names, which it treats as such with any extension.
fn is_reserved_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" | "CLOCK$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.len() > 3
        && upper[3..]
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '¹' | '²' | '³'))
        && upper[3..].chars().count() == 1)
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    let ext = name
        .rsplit_once('.')
        .map(|(_, ext)| ext)
        .filter(|ext| !ext.is_empty() && ext.len() <= 16 && !ext.contains(' '));
    match ext {
        Some(ext) => {
            let stem = &name[..name.len() - ext.len() - 1];
            format!("{}.{ext}", cut(stem, max - ext.len() - 1))
        }
        None => cut(name, max).to_string(),
    }
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// File extensions of programs, scripts, installers, shortcuts, disk
/// images and macro-enabled Office files.
const EXECUTABLE_EXTENSIONS: &[&str] = &[
    // Windows programs, libraries, installers
    "exe",
    "com",
    "scr",
    "pif",
    "cpl",
    "dll",
    "ocx",
    "sys",
    "msi",
    "msp",
    "mst",
    "msu",
    "msix",
    "msixbundle",
    "appx",
    "appxbundle",
    "application",
    "appref-ms",
    "gadget",
    "xbap",
    "xll",
    // Windows scripts and script hosts
    "bat",
    "cmd",
    "js",
    "jse",
    "vb",
    "vbs",
    "vbe",
    "wsf",
    "wsh",
    "wsc",
    "ws",
    "ps1",
    "ps1xml",
    "ps2",
    "ps2xml",
    "psc1",
    "psc2",
    "psd1",
    "psm1",
    "hta",
    "sct",
    "msc",
    "msh",
    "jar",
    "jnlp",
    // Shortcuts, settings, help files that run code
    "lnk",
    "url",
    "scf",
    "inf",
    "reg",
    "chm",
    "hlp",
    "settingcontent-ms",
    // Unix and macOS scripts, programs and packages
    "sh",
    "bash",
    "csh",
    "ksh",
    "zsh",
    "command",
    "run",
    "py",
    "pyw",
    "pyz",
    "pyc",
    "pl",
    "app",
    "pkg",
    "mpkg",
    "deb",
    "rpm",
    "appimage",
    "apk",
    "xapk",
    // Disk images
    "iso",
    "img",
    "vhd",
    "vhdx",
    "dmg",
    // Macro-enabled Office documents, templates and add-ins
    "docm",
    "dotm",
    "xlsm",
    "xltm",
    "xlam",
    "xla",
    "pptm",
    "potm",
    "ppam",
    "ppsm",
    "sldm",
];

/// Declared types of programs, scripts, installers and disk images (and
/// every macro-enabled Office type, matched by name).
const EXECUTABLE_TYPES: &[&str] = &[
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-ms-dos-executable",
    "application/x-dosexec",
    "application/x-executable",
    "application/x-winexe",
    "application/vnd.microsoft.portable-executable",
    "application/x-ms-installer",
    "application/x-msi",
    "application/x-ms-shortcut",
    "application/x-ms-application",
    "application/x-sh",
    "application/x-shellscript",
    "application/x-csh",
    "text/x-sh",
    "text/x-shellscript",
    "text/x-csh",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "text/javascript",
    "text/ecmascript",
    "application/x-vbscript",
    "text/vbscript",
    "text/x-vbscript",
    "application/hta",
    "application/x-bat",
    "application/x-powershell",
    "application/java-archive",
    "application/x-java-archive",
    "application/x-java-jnlp-file",
    "application/x-elf",
    "application/x-sharedlib",
    "application/x-mach-binary",
    "application/x-python",
    "application/x-python-code",
    "text/x-python",
    "application/x-perl",
    "text/x-perl",
    "application/vnd.android.package-archive",
    "application/x-debian-package",
    "application/vnd.debian.binary-package",
    "application/x-rpm",
    "application/x-redhat-package-manager",
    "application/x-apple-diskimage",
    "application/x-iso9660-image",
    "application/x-cd-image",
    "application/x-raw-disk-image",
];

/// Whether a file name or a declared content type says "program or
/// script" (the lists `EXECUTABLE_EXTENSIONS` and `EXECUTABLE_TYPES`, and
/// every macro-enabled Office type). Only the last extension counts, as on
/// Windows, so `invoice.pdf.exe` is one and `setup.exe.pdf` is not;
/// trailing dots, spaces and invisible characters are ignored.
pub fn is_executable(filename: &str, content_type: &str) -> bool {
    let name: String = filename
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .collect();
    let name = name.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let by_name = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.trim().to_ascii_lowercase())
        .is_some_and(|ext| EXECUTABLE_EXTENSIONS.contains(&ext.as_str()));
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    by_name
        || EXECUTABLE_TYPES.contains(&content_type.as_str())
        || content_type.starts_with("application/") && content_type.contains("macroenabled")
}

/// Whether the content starts like a program whatever its name: a DOS/PE
/// header (`MZ`), ELF, Mach-O (also a Java class), a Windows shortcut, a
/// `#!` script, an ISO 9660 or VHDX/VHD disk image.
pub fn has_executable_magic(bytes: &[u8]) -> bool {
    let mz = bytes.starts_with(b"MZ") && bytes.len() >= 64 && {
        let e_lfanew = u32::from_le_bytes([bytes[60], bytes[61], bytes[62], bytes[63]]) as usize;
        let pe = bytes
            .get(e_lfanew..e_lfanew.saturating_add(4))
            .is_some_and(|sig| sig == b"PE\0\0");
        // A text that happens to begin with "MZ" has no NUL bytes in what
        // would be the DOS header.
        pe || bytes[..64].contains(&0)
    };
    let shebang = bytes.strip_prefix(b"#!").is_some_and(|rest| {
        let rest = rest.trim_ascii_start();
        rest.starts_with(b"/")
    });
    mz || shebang
        || bytes.starts_with(b"\x7fELF")
        || [
            &b"\xfe\xed\xfa\xce"[..],
            b"\xfe\xed\xfa\xcf",
            b"\xce\xfa\xed\xfe",
            b"\xcf\xfa\xed\xfe",
            b"\xca\xfe\xba\xbe",
        ]
        .iter()
        .any(|m| bytes.starts_with(m))
        || bytes.starts_with(b"L\0\0\0\x01\x14\x02\0")
        || bytes.starts_with(b"vhdxfile")
        || bytes.starts_with(b"conectix")
        || bytes.get(0x8001..0x8006) == Some(b"CD001")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize() {
        for (input, want) in [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..\\..\\Windows\\system32\\evil.dll", "evil.dll"),
            ("C:\\Users\\me\\Desktop\\a.txt", "a.txt"),
            ("dir/", "dir"),
            ("/", "attachment"),
            ("..", "attachment"),
            ("", "attachment"),
            ("   ", "attachment"),
            (".bashrc", "bashrc"),
            ("...hidden. . ", "hidden"),
            ("a\u{0}b\u{7}c.txt", "abc.txt"),
            ("line\r\nbreak.txt", "line break.txt"),
            ("tab\t\t here.txt", "tab here.txt"),
            ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
            ("zero\u{200b}width.txt", "zerowidth.txt"),
            ("what?<is>this*.txt", "what__is_this_.txt"),
            ("file.txt:stream", "file.txt_stream"),
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("Nul.tar.gz", "_Nul.tar.gz"),
            ("COM1.log", "_COM1.log"),
            ("lpt9", "_lpt9"),
            ("COM10.txt", "COM10.txt"),
            ("console.txt", "console.txt"),
            ("Größe – résumé 日本.pdf", "Größe – résumé 日本.pdf"),
        ] {
            assert_eq!(sanitize_filename(input), want, "{input:?}");
        }
    }

    #[test]
    fn sanitize_truncates_on_char_boundary_keeping_extension() {
        let long = format!("{}.pdf", "é".repeat(150)); // 300 bytes + 4
        let out = sanitize_filename(&long);
        assert!(out.len() <= MAX_FILENAME_BYTES, "{}", out.len());
        assert!(out.ends_with(".pdf"), "{out}");
        assert_eq!(out, format!("{}.pdf", "é".repeat(98)));
        let no_ext = "日".repeat(100); // 300 bytes
        let out = sanitize_filename(&no_ext);
        assert_eq!(out, "日".repeat(66));
        let exe = format!("{}.exe", "a".repeat(500));
        assert!(is_executable(&sanitize_filename(&exe), ""));
    }

    #[test]
    fn executable_by_name_and_type() {
        for name in [
            "setup.exe",
            "SETUP.EXE",
            "invoice.pdf.exe",
            "invoice.pdf.exe.",
            "invoice.pdf.exe  ",
            "run.bat",
            "x.ps1",
            "x.vbs",
            "x.js",
            "x.jar",
            "x.lnk",
            "x.hta",
            "install.sh",
            "App.dmg",
            "disk.iso",
            "disk.img",
            "budget.xlsm",
            "letter.docm",
            "deck.pptm",
            "app.apk",
            "invoice\u{202e}fdp.exe",
        ] {
            assert!(is_executable(name, "application/octet-stream"), "{name}");
        }
        for name in [
            "report.pdf",
            "setup.exe.pdf",
            "photo.jpg",
            "archive.zip",
            "exe",
            "notes.txt",
            "book.xlsx",
            "",
        ] {
            assert!(!is_executable(name, "application/octet-stream"), "{name}");
        }
        for ct in [
            "application/x-msdownload",
            "application/x-dosexec",
            "Application/X-SH",
            "application/javascript; charset=utf-8",
            "application/vnd.microsoft.portable-executable",
            "application/java-archive",
            "application/x-msdos-program",
            "application/vnd.ms-excel.sheet.macroEnabled.12",
            "application/x-iso9660-image",
        ] {
            assert!(is_executable("file", ct), "{ct}");
        }
        for ct in [
            "application/pdf",
            "image/png",
            "text/plain",
            "application/zip",
        ] {
            assert!(!is_executable("file", ct), "{ct}");
        }
    }

    #[test]
    fn executable_magic() {
        let mut pe = vec![0u8; 0x80];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert!(has_executable_magic(&pe));
        assert!(has_executable_magic(b"\x7fELF\x02\x01\x01"));
        assert!(has_executable_magic(b"#!/bin/sh\necho hi\n"));
        assert!(has_executable_magic(b"#! /usr/bin/env python\n"));
        assert!(has_executable_magic(b"\xcf\xfa\xed\xfe\x07\x00"));
        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert!(has_executable_magic(&iso));

        assert!(!has_executable_magic(b""));
        assert!(!has_executable_magic(b"MZ"));
        assert!(!has_executable_magic(
            b"MZ Motors, invoice 2024-117, total due 1,200.00 EUR, payable within 30 days."
        ));
        assert!(!has_executable_magic(b"#!important note"));
        assert!(!has_executable_magic(b"%PDF-1.7\n"));
        assert!(!has_executable_magic(b"\x89PNG\r\n\x1a\n"));
    }

    #[test]
    fn cid_urls() {
        assert_eq!(
            percent_decode("part1.abc%40example.com"),
            "part1.abc@example.com"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
