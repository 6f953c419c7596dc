//! The shell's vocabulary: commands no prose uses, commands that are also English words,
//! reconnaissance commands, and what shell-shaped arguments and known subcommands look like.

use super::super::trim_start;
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

pub(super) fn is_command(word: &str) -> bool {
    static SET: LazyLock<std::collections::HashSet<&'static str>> =
        LazyLock::new(|| DISTINCT.iter().copied().collect());
    word.len() <= 16 && SET.contains(word)
}

/// Commands that are also ordinary words: they need a shell-shaped argument.
pub(super) fn is_ambiguous(cmd: &str) -> bool {
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

/// Whether `arg` (what follows a command) looks like shell arguments.
pub(super) fn shell_arg(arg: &str) -> bool {
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
pub(super) fn is_recon(cmd: &str) -> bool {
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

/// Arguments no prose has: options, paths, variables, redirections, drive letters, URLs, IPs.
pub(super) fn strong_arg(arg: &str) -> bool {
    let a = trim_start(arg, b" \t");
    !a.is_empty() && !a.starts_with(['*', '|', ';', '&', '>', '<', '`', '\n']) && shell_arg(a)
}

/// Subcommands that make an ambiguous command unambiguous (`net user`, `reg add`).
pub(super) fn known_subcommand(cmd: &str, arg: &str, separated: bool) -> bool {
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
