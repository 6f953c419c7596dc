//! CRLF and header injection: a line break in a value (raw, percent-encoded or written `\r\n`,
//! or a character whose low byte is CR or LF, which some servers truncate to it: `嘊`, `嘍`)
//! followed by a header line in that header's own grammar (`Set-Cookie: name=…`,
//! `Location: http…`, `Content-Length: 0`), or by a second HTTP message (`HTTP/1.1 200`,
//! `GET / HTTP/1.1`). A header name alone after a line break is prose (`Location: Berlin`).

use super::{Class, Hit, Text};

fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Crlf,
            rule,
        });
    }
}

/// Appends CRLF-injection hits for canonical `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let literal = tx.has("\\n") || tx.has("\\r");
    if !(tx.any(b"\r\n") || literal || tx.any(&[0x85, 0x8a, 0x8d, 0xa8, 0xa9])) {
        return;
    }
    let text = tx.s;
    // A value that is itself a request with headers (a smuggled request in a body).
    if matches!(message_start(text), Some(Message::Request)) && line_break_in(text) {
        hits_push_protocol(hits);
    }
    let mut budget = 64;
    let mut i = 0;
    while i < text.len() && budget > 0 {
        let Some((len, next)) = line_break(&text[i..]) else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        };
        budget -= 1;
        let mut j = i + len;
        // CR LF pairs and doubled breaks.
        while let Some((l, _)) = line_break(&text[j..]) {
            j += l;
        }
        let line = &text[j..];
        if next && header_line(line) {
            push(hits, "crlf.header-injection");
        }
        match message_start(line) {
            Some(Message::Response) => push(hits, "crlf.message-split"),
            Some(Message::Request) => hits_push_protocol(hits),
            None => {}
        }
        i = j.max(i + 1);
    }
}

/// The length of a line break at the start of `s`, and whether it can start a header line.
fn line_break(s: &str) -> Option<(usize, bool)> {
    let b = s.as_bytes();
    match b.first()? {
        b'\r' | b'\n' => Some((1, true)),
        b'\\' if matches!(b.get(1), Some(b'r' | b'n')) => Some((2, true)),
        _ => {
            let c = s.chars().next()?;
            let u = c as u32;
            let wide = u > 0xff && matches!(u & 0xff, 0x0a | 0x0d);
            let separator = matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}');
            (wide || separator).then(|| (c.len_utf8(), true))
        }
    }
}

/// A header line in its header's grammar.
fn header_line(line: &str) -> bool {
    let n = line
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'-')
        .count();
    let name = &line[..n];
    let Some(value) = line[n..].trim_start_matches([' ', '\t']).strip_prefix(':') else {
        return false;
    };
    let value = value.trim_start_matches([' ', '\t']);
    let token = |s: &str| {
        s.bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    };
    match name {
        "set-cookie" | "cookie" => {
            value.split(['=', ';']).next().is_some_and(token) && value.contains('=')
        }
        "location" | "content-location" | "refresh" => {
            value.starts_with("http")
                || value.starts_with("//")
                || value.starts_with('/')
                || value.starts_with(|c: char| c.is_ascii_digit()) && value.contains("url=")
                || value.starts_with("javascript:")
        }
        "content-type" => value
            .split(';')
            .next()
            .is_some_and(|t| t.split_once('/').is_some_and(|(a, b)| token(a) && token(b))),
        "content-length" => {
            !value.is_empty() && value.bytes().take_while(u8::is_ascii_digit).count() > 0
        }
        "transfer-encoding" | "connection" | "upgrade" | "host" => token(value),
        "x-xss-protection"
        | "content-security-policy"
        | "x-frame-options"
        | "cache-control"
        | "content-disposition"
        | "x-forwarded-for"
        | "x-forwarded-host"
        | "link"
        | "status" => !value.is_empty(),
        _ => {
            (name.starts_with("x-") || name.starts_with("access-control-")) && n > 2 && token(value)
        }
    }
}

fn line_break_in(text: &str) -> bool {
    text.contains(['\r', '\n']) || text.contains("\\r") || text.contains("\\n")
}

enum Message {
    Response,
    Request,
}

/// A second request after a line break is smuggled past the front end.
fn hits_push_protocol(hits: &mut Vec<Hit>) {
    let hit = Hit {
        class: Class::Protocol,
        rule: "protocol.embedded-request",
    };
    if !hits.contains(&hit) {
        hits.push(hit);
    }
}

/// A second message: a status line (response splitting) or a request line (smuggling).
fn message_start(line: &str) -> Option<Message> {
    if let Some(r) = line.strip_prefix("http/1.") {
        let status = r.starts_with(['0', '1'])
            && r[1..]
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit());
        return status.then_some(Message::Response);
    }
    let method = line.bytes().take_while(u8::is_ascii_alphabetic).count();
    let first = line.split(['\r', '\n']).next().unwrap_or("");
    let first = first.split("\\r").next().unwrap_or("");
    let first = first.split("\\n").next().unwrap_or("");
    let request = (3..=7).contains(&method)
        && matches!(
            &line[..method],
            "get" | "post" | "put" | "head" | "delete" | "options" | "patch" | "trace" | "connect"
        )
        && first[method..].starts_with(' ')
        && (first.ends_with(" http/1.1") || first.ends_with(" http/1.0"));
    request.then_some(Message::Request)
}
