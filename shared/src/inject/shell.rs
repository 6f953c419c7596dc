//! OS command injection: a shell separator or substitution followed by a command, shellshock
//! function definitions, server-side includes and code-evaluation calls of scripting languages.
//! English words that are also commands (`cat`, `find`, `type`) count only with shell-shaped
//! arguments.

use super::{Class, Hit, Needles, Text, trim_start, word_at};
use std::sync::LazyLock;

/// Commands no prose uses after a separator.
const DISTINCT: &[&str] = &[
    "id",
    "whoami",
    "uname",
    "ifconfig",
    "ipconfig",
    "netstat",
    "nslookup",
    "wget",
    "curl",
    "nc",
    "ncat",
    "netcat",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "csh",
    "tcsh",
    "dash",
    "cmd",
    "cmd.exe",
    "powershell",
    "pwsh",
    "systeminfo",
    "sysinfo",
    "tasklist",
    "taskkill",
    "wmic",
    "certutil",
    "bitsadmin",
    "phpinfo",
    "ls",
    "pwd",
    "chmod",
    "chown",
    "rm",
    "nmap",
    "telnet",
    "perl",
    "python",
    "python2",
    "python3",
    "ruby",
    "php",
    "node",
    "lua",
    "netsh",
    "reg",
    "regedit",
    "uname",
    "hostname",
    "xterm",
    "busybox",
    "socat",
    "tftp",
    "ftp",
    "ssh",
    "scp",
    "getent",
    "passwd",
    "crontab",
    "nohup",
    "env",
    "printenv",
    "gcc",
    "base64",
    "xxd",
    "od",
    "awk",
    "sed",
    "grep",
    "egrep",
    "ping",
    "sleep",
    "dir",
    "whois",
    "dig",
    "traceroute",
    "tracert",
    "arp",
    "route",
    "systemctl",
    "useradd",
    "adduser",
    "mkfifo",
    "mknod",
    "timeout",
    "which",
    "ver",
    "vol",
    "net",
    "type",
    "echo",
    "cat",
    "head",
    "tail",
    "more",
    "less",
    "find",
    "touch",
    "kill",
    "killall",
    "ps",
    "set",
    "export",
    "cp",
    "mv",
    "mkdir",
    "sort",
    "uniq",
    "wc",
    "cut",
    "tr",
    "xargs",
    "exec",
    "eval",
    "whereis",
    "locate",
    "time",
    "date",
    "start",
    "call",
    "del",
    "copy",
    "move",
    "ren",
    "attrib",
    "shutdown",
    "reboot",
    "halt",
    "system",
    "print",
    "expr",
    "test",
];

fn is_command(word: &str) -> bool {
    static SET: LazyLock<std::collections::HashSet<&'static str>> =
        LazyLock::new(|| DISTINCT.iter().copied().collect());
    word.len() <= 16 && SET.contains(word)
}

/// Commands that are also ordinary words: they need a shell-shaped argument.
fn is_ambiguous(cmd: &str) -> bool {
    matches!(
        cmd,
        "ping"
            | "sleep"
            | "dir"
            | "dig"
            | "route"
            | "timeout"
            | "which"
            | "ver"
            | "vol"
            | "net"
            | "type"
            | "echo"
            | "cat"
            | "head"
            | "tail"
            | "more"
            | "less"
            | "find"
            | "touch"
            | "kill"
            | "set"
            | "export"
            | "cp"
            | "mv"
            | "sort"
            | "uniq"
            | "wc"
            | "cut"
            | "tr"
            | "time"
            | "date"
            | "true"
            | "false"
            | "yes"
            | "start"
            | "call"
            | "del"
            | "copy"
            | "move"
            | "ren"
            | "shutdown"
            | "reboot"
            | "halt"
            | "system"
            | "print"
            | "expr"
            | "test"
            | "env"
            | "id"
            | "ps"
            | "sh"
            | "od"
            | "reg"
            | "nc"
            | "rm"
            | "arp"
            | "exec"
            | "eval"
            | "php"
            | "node"
            | "ruby"
            | "python"
            | "perl"
            | "locate"
            | "whereis"
    )
}

fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Cmdi,
            rule,
        });
    }
}

/// Whether `arg` (what follows a command) looks like shell arguments.
fn shell_arg(arg: &str) -> bool {
    let a = trim_start(arg, b" \t");
    let Some(c) = a.chars().next() else {
        return true; // the command ends the value: `;id`
    };
    if matches!(
        c,
        '-' | '/' | '\\' | '~' | '$' | '%' | '|' | ';' | '&' | '`' | '>' | '<' | '\n' | '*'
    ) {
        return true;
    }
    if a.starts_with("..")
        || a.starts_with("./")
        || a.starts_with("http://")
        || a.starts_with("https://")
    {
        return true;
    }
    if a.starts_with(['"', '\'']) && a.len() > 1 {
        let inner = &a[1..];
        return inner.starts_with(['/', '<', '$', '-', '\\']) || inner.starts_with("http");
    }
    // `c:\`, an address, a file name with an extension.
    let word_end = a
        .find([' ', '\t', ';', '|', '&', '`', '\'', '"'])
        .unwrap_or(a.len());
    let word = &a[..word_end];
    (word.len() >= 2 && word.as_bytes()[1] == b':' && word.as_bytes()[0].is_ascii_alphabetic())
        || word.split('.').count() == 4 && word.split('.').all(|p| p.parse::<u8>().is_ok())
        || word == "127.0.0.1"
}

/// Commands that take no arguments and exist only to look around a host.
fn is_recon(cmd: &str) -> bool {
    matches!(
        cmd,
        "whoami"
            | "uname"
            | "ifconfig"
            | "ipconfig"
            | "netstat"
            | "systeminfo"
            | "sysinfo"
            | "tasklist"
            | "phpinfo"
            | "hostname"
            | "printenv"
    )
}

/// A whole value that is one reconnaissance command (`whoami`, `ifconfig`).
pub fn recon_value(text: &str, hits: &mut Vec<Hit>) {
    if is_recon(text.trim()) {
        push(hits, "cmdi.recon-command");
    }
}

/// Arguments no prose has: options, paths, variables, redirections, drive letters, URLs, IPs.
fn strong_arg(arg: &str) -> bool {
    let a = trim_start(arg, b" \t");
    !a.is_empty() && !a.starts_with(['*', '|', ';', '&', '>', '<', '`', '\n']) && shell_arg(a)
}

/// Subcommands that make an ambiguous command unambiguous (`net user`, `reg add`).
fn known_subcommand(cmd: &str, arg: &str, separated: bool) -> bool {
    let sub = arg.split_whitespace().next().unwrap_or("");
    match cmd {
        "net" => matches!(
            sub,
            "user"
                | "view"
                | "localgroup"
                | "share"
                | "use"
                | "group"
                | "start"
                | "stop"
                | "accounts"
        ),
        "reg" => matches!(sub, "add" | "query" | "delete" | "save" | "export"),
        "which" | "whereis" => {
            is_command(sub)
                && (separated
                    || !is_ambiguous(sub)
                    || sub == "nc"
                    || sub == "perl"
                    || sub == "python")
        }
        "sleep" | "ping" | "timeout" => {
            // The rest of the line (a newline may be written as a literal `\n`).
            let all = arg.split("\\n").next().unwrap_or("").trim();
            !all.is_empty() && all.bytes().all(|c| c.is_ascii_digit())
        }
        "netsh" | "wmic" | "certutil" | "bitsadmin" | "powershell" | "pwsh" | "tasklist"
        | "taskkill" | "ncat" | "netcat" | "socat" | "busybox" | "nmap" | "netstat" | "uname"
        | "ifconfig" | "ipconfig" | "whoami" => !sub.is_empty(),
        _ => false,
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
