//! SQL injection: the value is tokenized as SQL three times — as it stands (a numeric or bare
//! context), and as the continuation of a single- and of a double-quoted string — and each token
//! stream is matched against the shapes injections take: breaking out of the literal and then
//! adding a condition, a comment, a second statement, a `UNION SELECT`, a time delay, or calls
//! only databases know. Prose rarely survives all three readings with such a shape.

use super::{Class, Hit, Text};

/// Tokens examined per reading.
const MAX_TOKENS: usize = 96;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// A string literal; `closed` when its closing quote is in the input.
    Str {
        closed: bool,
    },
    Num,
    /// A bare word (keyword or identifier), lower case.
    Word(&'a str),
    /// A word directly followed by `(`.
    Func(&'a str),
    /// `@name` / `@@name`.
    Var(&'a str),
    /// Comparison and arithmetic operators.
    Op(&'a str),
    /// `&&`, `||`.
    Logic,
    LParen,
    RParen,
    Comma,
    Semi,
    Dot,
    Star,
    /// `--`, `#`, `/*`: a comment that swallows the rest of the query.
    Comment,
    Other,
}

fn is_word_byte(b: u8) -> bool {
    WORD_BYTES[usize::from(b)]
}

/// Bytes of SQL words: ASCII letters and digits, `_`, `$` and every non-ASCII byte.
static WORD_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
        i += 1;
    }
    t
};

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(b.len(), |p| from + p + 1)
}

/// End of a numeric literal: `0x1f`, `0b01`, `12`, `1.5`, `1e0`, `2.e3`.
fn number_end(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    if b[i] == b'0' && matches!(b.get(j), Some(b'x' | b'b')) {
        j += 1;
        while j < b.len() && b[j].is_ascii_hexdigit() {
            j += 1;
        }
        return j;
    }
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    if matches!(b.get(j), Some(b'e')) {
        let mut k = j + 1;
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if b.get(k).is_some_and(u8::is_ascii_digit) {
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    j
}

/// Tokenizes lower-cased `s`; with `quote`, the input continues a string opened by that quote.
fn tokenize<'a>(s: &'a str, quote: Option<u8>, out: &mut Vec<Tok<'a>>) {
    let b = s.as_bytes();
    let mut i = 0;
    out.clear();
    if let Some(q) = quote {
        match b.iter().position(|&c| c == q) {
            Some(end) => {
                out.push(Tok::Str { closed: true });
                i = end + 1;
            }
            None => return,
        }
    }
    while i < b.len() && out.len() < MAX_TOKENS {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0 => i += 1,
            b'\'' | b'"' | b'`' => {
                let mut j = i + 1;
                let mut closed = false;
                while j < b.len() {
                    if b[j] == b'\\' {
                        j += 2;
                        continue;
                    }
                    if b[j] == c {
                        // A doubled quote is an escaped quote inside the literal.
                        if b.get(j + 1) == Some(&c) {
                            j += 2;
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    j += 1;
                }
                if c == b'`' {
                    out.push(Tok::Word("`"));
                } else {
                    out.push(Tok::Str { closed });
                }
                i = (j + 1).min(b.len());
            }
            b'0'..=b'9' => {
                out.push(Tok::Num);
                i = number_end(b, i);
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                out.push(Tok::Num);
                i = j;
            }
            // `name@example.com` is an address, not a variable.
            b'@' if i > 0 && is_word_byte(b[i - 1]) => {
                out.push(Tok::Other);
                i += 1;
            }
            b'@' => {
                let mut j = i + 1;
                while j < b.len() && (is_word_byte(b[j]) || b[j] == b'@') {
                    j += 1;
                }
                out.push(Tok::Var(&s[i..j]));
                i = j;
            }
            // Line comments end at a newline; what follows still runs.
            b'-' if b.get(i + 1) == Some(&b'-') => {
                out.push(Tok::Comment);
                i = line_end(b, i);
            }
            // `#2` is a number sign in prose.
            b'#' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push(Tok::Other);
                i += 1;
            }
            b'#' => {
                out.push(Tok::Comment);
                i = line_end(b, i);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // MySQL executes `/*! ... */`; treat its body as code.
                if b.get(i + 2) == Some(&b'!') {
                    let mut j = i + 3;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                    continue;
                }
                match s[i + 2..].find("*/") {
                    Some(end) => i = i + 2 + end + 2,
                    None => {
                        out.push(Tok::Comment);
                        return;
                    }
                }
            }
            b'*' if b.get(i + 1) == Some(&b'/') => i += 2,
            b'(' | b')' | b',' | b';' | b'.' | b'*' => {
                out.push(match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b',' => Tok::Comma,
                    b';' => Tok::Semi,
                    b'.' => Tok::Dot,
                    _ => Tok::Star,
                });
                i += 1;
            }
            b'&' | b'|' if b.get(i + 1) == Some(&c) => {
                out.push(Tok::Logic);
                i += 2;
            }
            b'=' | b'<' | b'>' | b'!' | b'+' | b'-' | b'/' | b'%' | b'^' | b'&' | b'|' | b'~' => {
                let mut j = i + 1;
                while j < b.len() && j < i + 3 && matches!(b[j], b'=' | b'<' | b'>') {
                    j += 1;
                }
                out.push(Tok::Op(&s[i..j]));
                i = j;
            }
            _ if is_word_byte(c) => {
                let mut j = i + 1;
                while j < b.len() && is_word_byte(b[j]) {
                    j += 1;
                }
                let word = &s[i..j];
                let mut k = j;
                while k < b.len() && b[k] == b' ' && k < j + 1 {
                    k += 1;
                }
                if b.get(j) == Some(&b'(') || (b.get(k) == Some(&b'(') && is_function(word)) {
                    out.push(Tok::Func(word));
                } else {
                    out.push(Tok::Word(word));
                }
                i = j;
            }
            _ => {
                out.push(Tok::Other);
                i += 1;
            }
        }
    }
}

/// Words that are logical connectives in SQL.
fn is_logic(t: Tok<'_>) -> bool {
    matches!(t, Tok::Logic | Tok::Word("or" | "and" | "xor" | "div"))
}

/// Comparison operators, symbolic or spelled.
fn is_comparison(t: Tok<'_>) -> bool {
    match t {
        Tok::Op(op) => op.contains(['=', '<', '>']) || op == "!",
        Tok::Word(w) => matches!(
            w,
            "like" | "rlike" | "regexp" | "is" | "in" | "between" | "sounds" | "not" | "glob"
        ),
        Tok::Func(f) => matches!(f, "in"),
        _ => false,
    }
}

/// Operands of a condition.
fn is_value(t: Tok<'_>) -> bool {
    matches!(
        t,
        Tok::Str { .. } | Tok::Num | Tok::Var(_) | Tok::Word(_) | Tok::Func(_) | Tok::LParen
    )
}

/// Functions that only appear in SQL (timing, error-based extraction, metadata).
fn is_function(f: &str) -> bool {
    matches!(
        f,
        "sleep"
            | "benchmark"
            | "pg_sleep"
            | "randomblob"
            | "extractvalue"
            | "updatexml"
            | "load_file"
            | "concat"
            | "concat_ws"
            | "group_concat"
            | "char"
            | "chr"
            | "nchar"
            | "ascii"
            | "substring"
            | "substr"
            | "mid"
            | "version"
            | "database"
            | "user"
            | "current_user"
            | "system_user"
            | "session_user"
            | "schema"
            | "count"
            | "cast"
            | "convert"
            | "unhex"
            | "hex"
            | "ifnull"
            | "nullif"
            | "isnull"
            | "coalesce"
            | "length"
            | "len"
            | "ord"
            | "elt"
            | "make_set"
            | "name_const"
            | "exp"
            | "floor"
            | "rand"
            | "md5"
            | "sha1"
            | "if"
            | "iif"
            | "utl_inaddr"
            | "xp_cmdshell"
            | "db_name"
            | "user_name"
            | "has_dbaccess"
            | "is_srvrolemember"
            | "sqlite_version"
            | "pg_read_file"
            | "lo_import"
            | "to_char"
            | "instr"
            | "json_keys"
            | "gtid_subset"
            | "polygon"
            | "multipoint"
            | "geometrycollection"
            | "linestring"
            | "row"
            | "least"
            | "greatest"
            | "case"
    )
}

/// Identifiers that name database internals.
fn is_internal(w: &str) -> bool {
    matches!(
        w,
        "information_schema"
            | "sysobjects"
            | "syscolumns"
            | "sysdatabases"
            | "sysusers"
            | "sys"
            | "pg_catalog"
            | "pg_shadow"
            | "pg_user"
            | "sqlite_master"
            | "sqlite_schema"
            | "all_tables"
            | "user_tables"
            | "all_users"
            | "dba_users"
            | "v$version"
            | "mysql"
            | "master"
            | "msysobjects"
            | "xp_cmdshell"
            | "sp_executesql"
            | "sp_password"
            | "dual"
    )
}

/// Statements that may follow a `;`, each with what must come next for it to be SQL.
fn statement_follows(toks: &[Tok<'_>]) -> bool {
    let next = toks.get(1).copied();
    let Some(Tok::Word(w) | Tok::Func(w)) = toks.first().copied() else {
        return false;
    };
    match w {
        "select" => select_list(&toks[1..]),
        "insert" | "replace" => matches!(next, Some(Tok::Word("into"))),
        "update" => toks.iter().take(6).any(|t| matches!(t, Tok::Word("set"))),
        "delete" => matches!(next, Some(Tok::Word("from"))),
        "drop" | "create" | "alter" | "truncate" => matches!(
            next,
            Some(Tok::Word(
                "table"
                    | "database"
                    | "user"
                    | "procedure"
                    | "function"
                    | "view"
                    | "index"
                    | "login"
            ))
        ),
        "exec" | "execute" => match next {
            Some(Tok::Word(w) | Tok::Func(w)) => {
                w.starts_with("xp_") || w.starts_with("sp_") || w == "master" || w == "immediate"
            }
            Some(Tok::Var(_) | Tok::LParen | Tok::Str { .. }) => true,
            _ => false,
        },
        "declare" => matches!(next, Some(Tok::Var(_))),
        "set" => matches!(next, Some(Tok::Var(_))),
        "waitfor" => matches!(next, Some(Tok::Word("delay" | "time"))),
        "shutdown" => matches!(
            next,
            None | Some(Tok::Comment | Tok::Semi | Tok::Word("with"))
        ),
        "begin" => matches!(next, Some(Tok::Word("declare"))),
        "if" => true,
        "union" => true,
        "load_file" | "sleep" | "benchmark" | "pg_sleep" => true,
        _ => false,
    }
}

/// Whether what follows `select` reads as a select list rather than prose.
fn select_list(t: &[Tok<'_>]) -> bool {
    match t.first().copied() {
        Some(Tok::Star | Tok::Num | Tok::Func(_) | Tok::Var(_) | Tok::LParen | Tok::Str { .. }) => {
            true
        }
        Some(Tok::Word("distinct" | "top" | "all" | "null" | "case" | "unhex" | "char")) => true,
        Some(Tok::Word(_)) => matches!(
            t.get(1).copied(),
            Some(Tok::Comma | Tok::Dot | Tok::Word("from") | Tok::Op("||"))
        ),
        _ => false,
    }
}

/// A breakout: the token stream starts with a value that ends the original literal or number.
fn breakout_len(t: &[Tok<'_>], quoted: bool) -> Option<usize> {
    let first = t.first().copied()?;
    let ok = if quoted {
        matches!(first, Tok::Str { closed: true })
    } else {
        matches!(first, Tok::Num)
    };
    if !ok {
        return None;
    }
    let mut n = 1;
    while matches!(t.get(n), Some(Tok::RParen)) {
        n += 1;
    }
    Some(n)
}

/// A condition after a logical connective: `1=1`, `'a'='a`, `ascii(...)>`, `sleep(5)`, `1--`.
fn condition(t: &[Tok<'_>]) -> bool {
    let mut i = 0;
    while matches!(t.get(i), Some(Tok::LParen | Tok::Word("not"))) {
        i += 1;
    }
    let Some(first) = t.get(i).copied() else {
        return false;
    };
    match first {
        Tok::Func(f) if is_function(f) => return true,
        Tok::Word("select" | "exists") => return true,
        _ => {}
    }
    if !is_value(first) {
        return false;
    }
    let next = t.get(i + 1).copied();
    match next {
        Some(n) if is_comparison(n) => t
            .get(i + 2)
            .is_some_and(|v| is_value(*v) || matches!(v, Tok::Op(_))),
        // `or 1`, `or true` ending the input or cut by a comment.
        // `or 1--`, `or true#`, `or 'a'--`: a constant condition, the rest cut off.
        Some(Tok::Comment | Tok::Semi) => matches!(
            first,
            Tok::Num | Tok::Word("true" | "false") | Tok::Str { closed: true }
        ),
        None => matches!(first, Tok::Word("true")),
        Some(Tok::Op("+" | "-" | "*" | "/")) => {
            matches!(first, Tok::Num)
                && matches!(t.get(i + 2), Some(Tok::Num))
                && t.get(i + 3)
                    .is_some_and(|x| is_comparison(*x) || matches!(x, Tok::Comment))
        }
        Some(Tok::RParen) => {
            matches!(first, Tok::Num | Tok::Str { closed: true })
                && matches!(t.get(i + 2), None | Some(Tok::Comment))
        }
        _ => false,
    }
}

fn check(t: &[Tok<'_>], quoted: bool, tight: bool, markup: bool, hits: &mut Vec<Hit>) {
    let mut push = |rule| {
        if !hits.iter().any(|h: &Hit| h.rule == rule) {
            hits.push(Hit {
                class: Class::Sqli,
                rule,
            });
        }
    };
    if let Some(n) = breakout_len(t, quoted) {
        let rest = &t[n..];
        match rest.first().copied() {
            Some(l) if is_logic(l) && condition(&rest[1..]) => {
                push("sqli.tautology");
            }
            // `admin'--`, `admin')#`, `';--`: the rest of the query commented away.
            Some(Tok::Comment) if quoted && tight => push("sqli.comment-breakout"),
            Some(Tok::Semi) if quoted && tight && matches!(rest.get(1), Some(Tok::Comment)) => {
                push("sqli.comment-breakout");
            }
            _ => {}
        }
    }
    if (!quoted || tight) && !markup {
        fragment(t, quoted, &mut push);
    }
    for (i, tok) in t.iter().enumerate() {
        match *tok {
            Tok::Word("union") => {
                let mut j = i + 1;
                while matches!(t.get(j), Some(Tok::Word("all" | "distinct") | Tok::LParen)) {
                    j += 1;
                }
                if matches!(t.get(j), Some(Tok::Word("select") | Tok::Func("select"))) {
                    push("sqli.union-select");
                }
            }
            Tok::Semi if statement_follows(&t[i + 1..]) => push("sqli.stacked-query"),
            Tok::Func(f) => match f {
                "sleep" | "benchmark" | "pg_sleep" | "randomblob"
                    if delay_call(t, i) => {
                        push("sqli.time-delay");
                    }
                "extractvalue" | "updatexml" | "load_file" | "xp_cmdshell" | "name_const"
                | "utl_inaddr" | "pg_read_file" | "lo_import" | "gtid_subset" | "json_keys" => {
                    push("sqli.function");
                }
                "version" | "database" | "user" | "current_user" | "system_user" | "db_name"
                | "schema" | "sqlite_version"
                    if matches!(t.get(i + 1), Some(Tok::LParen))
                        && matches!(t.get(i + 2), Some(Tok::RParen))
                    => {
                        push("sqli.function");
                    }
                "char" | "chr" | "concat" | "concat_ws" | "group_concat" | "ascii"
                | "substring" | "substr" | "mid" | "unhex" | "cast" | "convert"
                    // Only with SQL-specific arguments: numbers, hex literals, nested calls,
                    // selects.
                    if matches!(
                        t.get(i + 2),
                        Some(Tok::Num | Tok::Word("select") | Tok::Func(_) | Tok::Var(_))
                    ) && matches!(
                        t.get(i + 3),
                        Some(Tok::Comma | Tok::RParen | Tok::LParen | Tok::Word("as" | "using"))
                    ) => {
                        push("sqli.function");
                    }
                _ => {}
            },
            Tok::Word("waitfor") if matches!(t.get(i + 1), Some(Tok::Word("delay" | "time"))) => {
                push("sqli.time-delay");
            }
            Tok::Word("into")
                if matches!(t.get(i + 1), Some(Tok::Word("outfile" | "dumpfile"))) =>
            {
                push("sqli.file-write");
            }
            Tok::Var(v) if v.starts_with("@@") && v.len() > 2 => push("sqli.system-variable"),
            Tok::Word(w) if is_internal(w) && matches!(t.get(i + 1), Some(Tok::Dot)) => {
                push("sqli.catalog");
            }
            Tok::Word("from") if matches!(t.get(i + 1), Some(Tok::Word(w)) if is_internal(w)) => {
                push("sqli.catalog");
            }
            Tok::Word("select") if select_list(&t[i + 1..]) => {
                // `select … from`, with the select list SQL-shaped and a FROM soon after.
                let from = t[i + 1..]
                    .iter()
                    .take(24)
                    .position(|x| matches!(x, Tok::Word("from")));
                if let Some(p) = from {
                    let after = &t[i + 1 + p + 1..];
                    let sqlish_list = !matches!(t.get(i + 1), Some(Tok::Word(_)))
                        || matches!(t.get(i + 2), Some(Tok::Comma | Tok::Dot));
                    let sqlish_tail = after.iter().take(4).any(|x| {
                        matches!(
                            x,
                            Tok::Word("where" | "limit" | "order" | "group" | "union" | "join")
                                | Tok::Comment
                                | Tok::Semi
                                | Tok::Dot
                                | Tok::RParen
                        )
                    });
                    if matches!(after.first(), Some(Tok::Word(_) | Tok::LParen))
                        && (sqlish_list || sqlish_tail)
                    {
                        push("sqli.select-from");
                    }
                } else if i > 0
                    && matches!(t[i - 1], Tok::LParen)
                    && matches!(
                        t.get(i + 1),
                        Some(Tok::Func(_) | Tok::Num | Tok::Var(_) | Tok::Star)
                    )
                {
                    push("sqli.subquery");
                }
            }
            _ => {}
        }
    }
}

/// SQL keywords and operators spelled as words.
fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "select"
            | "union"
            | "all"
            | "distinct"
            | "from"
            | "where"
            | "and"
            | "or"
            | "xor"
            | "not"
            | "null"
            | "is"
            | "in"
            | "like"
            | "rlike"
            | "regexp"
            | "sounds"
            | "between"
            | "order"
            | "group"
            | "by"
            | "having"
            | "limit"
            | "offset"
            | "as"
            | "on"
            | "join"
            | "inner"
            | "outer"
            | "left"
            | "right"
            | "cross"
            | "into"
            | "values"
            | "insert"
            | "update"
            | "delete"
            | "drop"
            | "table"
            | "exec"
            | "execute"
            | "declare"
            | "set"
            | "case"
            | "when"
            | "then"
            | "else"
            | "end"
            | "if"
            | "exists"
            | "true"
            | "false"
            | "binary"
            | "collate"
            | "div"
            | "mod"
            | "asc"
            | "desc"
            | "top"
            | "procedure"
            | "analyse"
            | "outfile"
            | "dumpfile"
            | "load"
            | "infile"
            | "varchar"
            | "nvarchar"
            | "int"
            | "waitfor"
            | "delay"
            | "escape"
            | "any"
            | "some"
            | "unknown"
            | "glob"
            | "match"
            | "against"
            | "using"
            | "eqv"
            | "imp"
            | "elseif"
            | "returns"
            | "char"
            | "user"
            | "current_user"
            | "session_user"
            | "system_user"
            | "version"
            | "database"
            | "sysdate"
            | "current_timestamp"
            | "localtime"
            | "utc_time"
            | "bar"
            | "foo"
    ) || is_function(w)
        || is_internal(w)
}

/// Words (identifiers) may sit where SQL puts names: after `from`, `by`, `.`, an operator, a
/// parenthesis or comma, or before `.`, `,` or a comparison.
fn name_position(t: &[Tok<'_>], i: usize) -> bool {
    let prev = if i == 0 { None } else { t.get(i - 1).copied() };
    let next = t.get(i + 1).copied();
    matches!(
        prev,
        Some(
            Tok::Dot
                | Tok::LParen
                | Tok::Comma
                | Tok::Op(_)
                | Tok::Word(
                    "from"
                        | "join"
                        | "into"
                        | "table"
                        | "by"
                        | "as"
                        | "update"
                        | "select"
                        | "exec"
                        | "execute"
                        | "procedure"
                        | "database"
                        | "where"
                        | "when"
                        | "then"
                        | "else"
                )
        )
    ) || matches!(next, Some(Tok::Dot | Tok::Comma | Tok::RParen))
        || next.is_some_and(is_comparison)
}

/// A whole value that reads as an SQL fragment: every token is SQL vocabulary or a name in a
/// name position, the fragment starts the way an appended condition starts, and it carries SQL
/// structure (a comment ending it, a variable, a SQL function, a clause keyword, or a logical
/// connective with a comparison).
fn fragment(t: &[Tok<'_>], quoted: bool, push: &mut impl FnMut(&'static str)) {
    let body = if quoted { &t[1.min(t.len())..] } else { t };
    if body.is_empty() || t.len() >= MAX_TOKENS {
        return;
    }
    if !quoted {
        let starts_ok = match body[0] {
            Tok::Word(w) => is_keyword(w),
            Tok::Other | Tok::Comma | Tok::Dot | Tok::Star => false,
            _ => true,
        };
        if !starts_ok || body.len() < 3 {
            return;
        }
    }
    let (mut strong, mut weak, mut logic, mut comment) = (0, 0, 0, false);
    let (mut literal_cmp, mut name_cmp) = (0, 0);
    let mut compare = |t: &[Tok<'_>], i: usize| match comparison_at(t, i) {
        Some(true) => literal_cmp += 1,
        Some(false) => name_cmp += 1,
        None => {}
    };
    for (i, tok) in t.iter().enumerate() {
        // Operators need an operand after them (`=||`, `or or` are not SQL).
        if matches!(tok, Tok::Op(_) | Tok::Logic) || is_logic(*tok) {
            let operand = match t.get(i + 1).copied() {
                None => quoted,
                Some(n) => {
                    is_value(n)
                        || matches!(
                            n,
                            Tok::Op("-" | "!" | "~" | "+") | Tok::Word("not") | Tok::Comment
                        )
                }
            };
            if !operand {
                return;
            }
        }
        match *tok {
            Tok::Word("order" | "group") if matches!(t.get(i + 1), Some(Tok::Word("by"))) => {
                strong += 1;
            }
            Tok::Word("select") if select_list(&t[i + 1..]) => strong += 1,
            Tok::Word(w) if is_keyword(w) => {
                if is_logic(*tok) {
                    logic += 1;
                } else if is_comparison(*tok) {
                    compare(t, i);
                } else if matches!(w, "union" | "having" | "waitfor" | "procedure" | "declare") {
                    strong += 1;
                } else if matches!(
                    w,
                    "binary" | "collate" | "case" | "where" | "limit" | "exec" | "select" | "from"
                ) {
                    weak += 1;
                }
            }
            Tok::Word(_) if !name_position(t, i) => {
                return;
            }
            Tok::Func(f) => {
                if strong_function(t, i, f) {
                    strong += 1;
                } else if is_function(f) {
                    weak += 1;
                } else if !name_position(t, i) && !quoted {
                    return;
                }
            }
            Tok::Var(_) => strong += 1,
            Tok::Comment => comment = true,
            Tok::Logic => logic += 1,
            Tok::Op(_) if is_comparison(*tok) => compare(t, i),
            Tok::Other => return,
            Tok::Str { closed: false } if i + 1 != t.len() => return,
            _ => {}
        }
    }
    let structure = logic + literal_cmp + weak + usize::from(comment);
    if strong > 0
        || logic > 0 && literal_cmp + name_cmp > 0
        || (weak > 0 || comment) && structure >= 2
        || quoted && literal_cmp > 0
    {
        push("sqli.sql-fragment");
    }
}

/// A comparison with a value on both sides: `Some(true)` when the right side is a literal
/// (`1=1`, `'a'='a`), `Some(false)` for names (`x=y`), `None` when a side is missing.
fn comparison_at(t: &[Tok<'_>], i: usize) -> Option<bool> {
    let left = i > 0
        && matches!(
            t[i - 1],
            Tok::Str { .. } | Tok::Num | Tok::Var(_) | Tok::Word(_) | Tok::RParen
        );
    let mut j = i + 1;
    while matches!(t.get(j), Some(Tok::Op("-" | "!" | "~" | "+"))) {
        j += 1;
    }
    match t.get(j)? {
        _ if !left => None,
        Tok::Str { .. } | Tok::Num | Tok::Var(_) | Tok::Func(_) | Tok::LParen => Some(true),
        Tok::Word("true" | "false" | "null") => Some(true),
        Tok::Word(_) => Some(false),
        _ => None,
    }
}

/// `sleep(5)`, `benchmark(1e7,md5(1))`, `pg_sleep((select 5))`: a delay with a computed or
/// numeric argument, not `sleep (8 hours)`.
fn delay_call(t: &[Tok<'_>], i: usize) -> bool {
    if !matches!(t.get(i + 1), Some(Tok::LParen)) {
        return false;
    }
    let mut j = i + 2;
    while matches!(t.get(j), Some(Tok::LParen | Tok::Op("-"))) {
        j += 1;
    }
    match t.get(j) {
        Some(Tok::Num) => matches!(t.get(j + 1), Some(Tok::RParen | Tok::Comma | Tok::Op(_))),
        Some(Tok::Func(_) | Tok::Word("select") | Tok::Var(_)) => true,
        _ => false,
    }
}

/// Calls only SQL makes: timing, extraction, catalog and string-building functions, and
/// argument-less identity calls (`version()`, `user()`).
fn strong_function(t: &[Tok<'_>], i: usize, f: &str) -> bool {
    match f {
        "sleep" | "benchmark" | "pg_sleep" | "randomblob" => delay_call(t, i),
        "extractvalue" | "updatexml" | "load_file" | "concat" | "concat_ws" | "group_concat"
        | "char" | "chr" | "substring" | "substr" | "unhex" | "ifnull" | "name_const"
        | "utl_inaddr" | "xp_cmdshell" | "user_name" | "pg_read_file" | "lo_import"
        | "gtid_subset" | "json_keys" | "make_set" | "elt" | "is_srvrolemember"
        | "has_dbaccess" | "ascii" | "nullif" | "iif" | "instr" => true,
        "version" | "database" | "user" | "current_user" | "system_user" | "session_user"
        | "schema" | "db_name" | "sqlite_version" => {
            matches!(t.get(i + 1), Some(Tok::LParen)) && matches!(t.get(i + 2), Some(Tok::RParen))
        }
        _ => false,
    }
}

/// Appends SQL-injection hits for canonical (decoded, lower-case) `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    let mut toks = Vec::with_capacity(32);
    tokenize(text, None, &mut toks);
    // Markup (`"><img`, `</a>`) has `=`, quotes and `<>` but is not SQL.
    let markup = tx.has("</") || tx.has("><");
    check(&toks, false, false, markup, hits);
    for q in [b'\'', b'"'] {
        if let Some(p) = text.bytes().position(|c| c == q) {
            // A tight prefix (`admin'`, `1'`, `'`) is a value being broken out of; prose
            // with an apostrophe has words and spaces before it.
            let prefix = &text[..p];
            let tight = prefix.len() <= 32
                && prefix.bytes().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, b'_' | b'-' | b'.' | b'@' | b'(' | b')')
                });
            // `"like" stamp`: a value that opens with a quoted phrase is a search phrase, not a
            // breakout, unless more quotes follow.
            let phrase = p == 0 && text.bytes().filter(|&c| c == q).count() == 2;
            tokenize(text, Some(q), &mut toks);
            check(&toks, true, tight && !phrase, markup, hits);
        }
    }
}
