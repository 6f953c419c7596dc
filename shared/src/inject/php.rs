//! PHP code injection, stream wrappers and object injection. Stream wrappers are URLs whose
//! scheme only PHP's file functions understand (`php://filter/…`, `expect://`, `phar://`,
//! `zip://`, `data://`); filter chains are runs of PHP stream filter names
//! (`convert.iconv.UTF8.UTF7|convert.base64-decode`); serialized objects are parsed by PHP's
//! `serialize` grammar (`O:<len>:"<class>":<count>:{…}`, `a:<count>:{i:…`); code is an opening
//! tag, a superglobal, a complex interpolation (`{${…}}`) or a call of a function only PHP has.

use super::{Class, Hit, Needles, Text, word_at};
use std::sync::LazyLock;

fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Php,
            rule,
        });
    }
}

/// Functions no language but PHP calls by these names.
const PHP_FUNCTIONS: &[&str] = &[
    "phpinfo",
    "phpversion",
    "passthru",
    "shell_exec",
    "proc_open",
    "pcntl_exec",
    "create_function",
    "call_user_func",
    "call_user_func_array",
    "base64_decode",
    "file_put_contents",
    "file_get_contents",
    "highlight_file",
    "show_source",
    "__halt_compiler",
    "unserialize",
    "preg_replace",
    "include_once",
    "require_once",
    "str_rot13",
    "gzinflate",
    "var_dump",
    "print_r",
];

/// Appends PHP hits for canonical `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    if tx.has("://") {
        wrappers(text, hits);
    }
    if tx.byte(b'.') && (tx.has("convert.") || tx.has("string.") || tx.has("zlib.")) {
        filter_chain(text, hits);
    }
    if tx.byte(b':') && tx.byte(b'{') {
        serialized(text, hits);
    }
    if tx.has("<?php") || tx.has("<?=") || tx.has("{${") || tx.has("$_") && superglobal(text) {
        push(hits, "php.code-injection");
    }
    if tx.byte(b'(') {
        static CALLS: LazyLock<Needles> = LazyLock::new(|| Needles::new(PHP_FUNCTIONS));
        let called = CALLS.all(tx).any(|(f, p)| {
            let end = p + f.len();
            let Some(args) = text[end..].trim_start().strip_prefix('(') else {
                return false;
            };
            word_at(text, p, end) && php_arguments(f, args.trim_start())
        });
        if called {
            push(hits, "php.code-injection");
        }
    }
}

/// Arguments only an injected call has: a string, a variable or a nested call (`system('id')`,
/// `assert($_GET[…])`, `eval(base64_decode(…))`); the introspection calls need none.
fn php_arguments(f: &str, args: &str) -> bool {
    if matches!(f, "phpinfo" | "phpversion" | "__halt_compiler") {
        return true;
    }
    let word = args
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .count();
    args.starts_with(['\'', '"', '$', '`'])
        || word > 0 && args[word..].trim_start().starts_with('(')
}

fn superglobal(text: &str) -> bool {
    [
        "$_get",
        "$_post",
        "$_request",
        "$_server",
        "$_cookie",
        "$_files",
        "$_env",
        "$_session",
    ]
    .iter()
    .any(|g| {
        text.match_indices(g).any(|(p, _)| {
            text[p + g.len()..]
                .trim_start()
                .starts_with(['[', ')', ';'])
        })
    })
}

/// `php://filter/…`, `php://input`, `expect://id`, `phar://…`, `zip://…#…`, `data://text/…`,
/// `compress.zlib://`, `glob://`.
fn wrappers(text: &str, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    for (p, _) in text.match_indices("://").take(16) {
        let mut s = p;
        while s > 0 && (b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'.' | b'2')) {
            s -= 1;
        }
        let scheme = &text[s..p];
        let rest = &text[p + 3..];
        let wrapper = match scheme {
            "php" => [
                "filter", "input", "fd", "memory", "temp", "stdin", "stdout", "stderr", "output",
            ]
            .iter()
            .any(|w| rest.starts_with(w)),
            "expect" | "phar" | "zip" | "glob" | "rar" | "ogg" | "compress.zlib"
            | "compress.bzip2" | "ssh2.exec" | "ssh2.shell" => !rest.is_empty(),
            "data" => rest.contains(';') || rest.contains(','),
            _ => false,
        };
        if wrapper {
            push(hits, "php.stream-wrapper");
            return;
        }
    }
}

/// A PHP stream filter name as a token: `convert.iconv.<from>.<to>`,
/// `convert.base64-encode`, `convert.quoted-printable-decode`, `string.rot13`, `zlib.deflate`.
fn filter_chain(text: &str, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    for prefix in ["convert.", "string.", "zlib.", "bzip2."] {
        for (p, _) in text.match_indices(prefix).take(8) {
            if p > 0 && (b[p - 1].is_ascii_alphanumeric() || b[p - 1] == b'_') {
                continue;
            }
            let rest = &text[p + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            let known = match prefix {
                "convert." => {
                    name.strip_prefix("iconv.")
                        .is_some_and(|cs| cs.split('.').filter(|x| !x.is_empty()).count() >= 2)
                        || matches!(
                            name,
                            "base64-encode"
                                | "base64-decode"
                                | "quoted-printable-encode"
                                | "quoted-printable-decode"
                        )
                }
                "string." => matches!(name, "rot13" | "toupper" | "tolower" | "strip_tags"),
                _ => matches!(name, "deflate" | "inflate" | "compress" | "decompress"),
            };
            if known {
                push(hits, "php.filter-chain");
                return;
            }
        }
    }
}

/// PHP `serialize` output: an object `o:<n>:"<class>":<count>:{`, a custom object `c:…`, or an
/// array `a:<count>:{` whose first member is `i:<n>;` or `s:<n>:"`.
fn serialized(text: &str, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    for (p, _) in text.match_indices(":{").take(16) {
        // Walk back over `<count>` and the header before it.
        let mut i = p;
        while i > 0 && b[i - 1].is_ascii_digit() {
            i -= 1;
        }
        if i == p || i == 0 || b[i - 1] != b':' {
            continue;
        }
        let head = &text[..i - 1];
        let body = &text[p + 2..];
        let object = head.ends_with('"') && object_header(head);
        let array = head.ends_with('a')
            && boundary(b, head.len() - 1)
            && (body.starts_with("i:") || body.starts_with("s:"))
            && body[2..].starts_with(|c: char| c.is_ascii_digit());
        if object {
            push(hits, "php.object-injection");
            return;
        }
        if array {
            push(hits, "php.serialized-data");
        }
    }
}

/// Whether `head` ends with `o:<n>:"<class>"` (or `c:`), the class name a PHP identifier
/// (namespaces allowed) of length about `<n>`.
fn object_header(head: &str) -> bool {
    let inner = &head[..head.len() - 1];
    let Some(q) = inner.rfind('"') else {
        return false;
    };
    let class = &inner[q + 1..];
    let before = &inner[..q];
    let Some(before) = before.strip_suffix(':') else {
        return false;
    };
    let digits = before.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 4 {
        return false;
    }
    let tag_at = before.len() - digits;
    let tagged = before[..tag_at].ends_with("o:") || before[..tag_at].ends_with("c:");
    let valid = !class.is_empty()
        && class.len() <= 128
        && class
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'\\'));
    tagged && valid && boundary(before.as_bytes(), tag_at - 2)
}

/// Whether the byte at `i` starts a token (nothing word-like before it).
fn boundary(b: &[u8], i: usize) -> bool {
    i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}
