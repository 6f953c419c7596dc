//! OS command injection: a shell separator or substitution followed by a command, shellshock
//! function definitions, server-side includes and code-evaluation calls of scripting languages.
//! English words that are also commands (`cat`, `find`, `type`) count only with shell-shaped
//! arguments.

mod vocab;

use super::{Class, Hit, Needles, Text, trim_start, word_at};
use std::sync::LazyLock;
use vocab::{is_ambiguous, is_command, is_recon, known_subcommand, shell_arg, strong_arg};
fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Cmdi,
            rule,
        });
    }
}

/// A whole value that is one reconnaissance command (`whoami`, `ifconfig`).
pub fn recon_value(text: &str, hits: &mut Vec<Hit>) {
    if is_recon(text.trim()) {
        push(hits, "cmdi.recon-command");
    }
}

/// `s` after a leading terminal control sequence (`ESC [ 2 A`, raw or written as `\033[`,
/// `\x1b[`, `\e[`), which attackers put before a command to move the cursor over it in a
/// log viewer.
fn skip_terminal_escape(s: &str) -> &str {
    let Some(params) = ["\x1b[", "\\033[", "\\x1b[", "\\e["]
        .iter()
        .find_map(|p| s.strip_prefix(p))
    else {
        return s;
    };
    // Parameter bytes, then one final byte in `@`..=`~`.
    let end = params
        .bytes()
        .position(|c| !matches!(c, b'0'..=b'9' | b';' | b'?'))
        .unwrap_or(params.len());
    match params.as_bytes().get(end) {
        Some(c) if (b'@'..=b'~').contains(c) => &params[end + 1..],
        _ => s,
    }
}

/// A command at the start of `s` (after optional quotes and spaces, and an optional path);
/// `separated` when a shell separator or substitution comes right before it.
fn command_at(s: &str, separated: bool) -> bool {
    let s = trim_start(s, b" \t'\"({\n\r");
    let s = if separated {
        skip_terminal_escape(s)
    } else {
        s
    };
    let (s, has_path) = match s
        .strip_prefix("/usr/bin/")
        .or_else(|| s.strip_prefix("/bin/"))
        .or_else(|| s.strip_prefix("/usr/sbin/"))
        .or_else(|| s.strip_prefix("/sbin/"))
        .or_else(|| s.strip_prefix("usr/bin/"))
    {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'))
        .unwrap_or(s.len());
    let word = &s[..end];
    if word.is_empty() || !is_command(word) {
        return false;
    }
    let args = &s[end..];
    // `curl/8.5.0`, `ls/x`: a path glued to the word is one shell word, not a command.
    if args.starts_with('/') {
        return false;
    }
    let rest_empty = args.trim().is_empty();
    if has_path || known_subcommand(word, args, separated) {
        return true;
    }
    if separated {
        !is_ambiguous(word) || shell_arg(args)
    } else {
        // A whole value that is a command line.
        strong_arg(args) || (rest_empty && is_recon(word))
    }
}

/// Appends command-injection hits for canonical (decoded, lower-case) `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    let b = text.as_bytes();
    let separators = tx.any(b";|&\n\r\\");
    // Separators: `;`, `|`, `||`, `&`, `&&`, newline (also written as a literal `\n`).
    if separators {
        for (i, &c) in b.iter().enumerate() {
            let after = match c {
                b';' | b'|' | b'&' | b'\n' | b'\r' => &text[i + 1..],
                b'\\' if b.get(i + 1) == Some(&b'n') => &text[i + 2..],
                _ => continue,
            };
            let after = trim_start(after, b"|&");
            // `Sale & more`, `salt & time`: an ampersand between words of prose, followed by a
            // lone word that is also a command, is not a command line.
            let spaced = c == b'&' && i > 0 && b[i - 1] == b' ' && b.get(i + 1) == Some(&b' ');
            let word = after.trim();
            if spaced && !word.contains(char::is_whitespace) && is_ambiguous(word) {
                continue;
            }
            if command_at(after, true) {
                push(hits, "cmdi.separator-command");
                break;
            }
        }
    }
    // Substitution: `$(…)`, backticks, `${IFS}`.
    if let Some(p) = tx.find("$(")
        && command_at(text[p + 2..].trim_start_matches('`'), true)
    {
        push(hits, "cmdi.substitution");
    }
    if tx.byte(b'`') {
        let mut parts = text.split('`');
        parts.next();
        if parts.any(|p| command_at(p, true)) {
            push(hits, "cmdi.substitution");
        }
    }
    if command_at(text, false) {
        push(hits, "cmdi.command-line");
    }
    if tx.has("${ifs") || tx.has("$ifs") {
        push(hits, "cmdi.substitution");
    }
    if tx.has("() {") && tx.has(";};") || tx.has("(){:;};") {
        push(hits, "cmdi.shellshock");
    }
    if tx.has("<!--#exec") || tx.has("<!--#include") {
        push(hits, "cmdi.ssi");
    }
    // Code evaluation in the scripting language behind the API.
    static CODE_FNS: LazyLock<Needles> = LazyLock::new(|| {
        Needles::new(&[
            "system",
            "passthru",
            "shell_exec",
            "exec",
            "popen",
            "proc_open",
            "pcntl_exec",
            "phpinfo",
            "assert",
            "create_function",
            "call_user_func",
            "os.system",
            "os.popen",
            "subprocess",
            "runtime.getruntime",
            "processbuilder",
            "child_process",
            "spawn",
            "include",
            "require",
            "file_get_contents",
            "eval",
            "phpversion",
        ])
    });
    if tx.byte(b'(') {
        let code_call = CODE_FNS.all(tx).any(|(f, p)| {
            let end = p + f.len();
            let rest = text[end..].trim_start();
            word_at(text, p, end)
                && rest.starts_with('(')
                && (rest[1..]
                    .trim_start()
                    .starts_with(['\'', '"', '$', ')', '`'])
                    || matches!(
                        f,
                        "phpinfo" | "phpversion" | "os.system" | "os.popen" | "runtime.getruntime"
                    ))
        });
        if code_call {
            push(hits, "cmdi.code-eval");
        }
    }
    if tx.has("<?php")
        || tx.has("<?=")
        || tx.has("{${")
        || tx.has("${@")
        || [
            "$_get[",
            "$_post[",
            "$_request[",
            "$_server[",
            "$_cookie[",
            "$_files[",
        ]
        .iter()
        .any(|g| tx.has(g))
    {
        push(hits, "cmdi.code-eval");
    }
    if tx.has("/bin/sh")
        || tx.has("/bin/bash")
        || tx.has("cmd.exe")
        || tx.has("cmd /c")
        || tx.has("powershell -")
    {
        push(hits, "cmdi.shell-path");
    }
    // A probe: nothing but one to three quotes, breaking out of a shell or SQL string alike.
    if (1..=3).contains(&text.len()) && text.bytes().all(|c| c == b'\'' || c == b'"') {
        push(hits, "cmdi.quote-probe");
        hits.push(Hit {
            class: Class::Sqli,
            rule: "sqli.quote-probe",
        });
    }
    // A probe: nothing but separators and quotes.
    let probe = if text.len() <= 32 && separators {
        text.replace("\\n", "\n").replace("\\r", "\r")
    } else {
        String::new()
    };
    if !probe.is_empty()
        && probe.bytes().all(|c| {
            matches!(
                c,
                b';' | b'|' | b'&' | b'\n' | b'\r' | b' ' | b'\t' | b'\'' | b'"'
            )
        })
        && probe
            .bytes()
            .any(|c| matches!(c, b';' | b'|' | b'&' | b'\n' | b'\r'))
    {
        push(hits, "cmdi.separator-probe");
    }
}
