//! SQL injection shapes over a token stream: a breakout followed by a condition, comment,
//! stacked statement, `UNION SELECT`, delay or SQL-only call, and whole values that read as an
//! SQL fragment.

use super::Tok;
use super::lex::MAX_TOKENS;
use super::vocab::{is_comparison, is_function, is_internal, is_keyword, is_logic, is_value};
use crate::inject::{Class, Hit};

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

pub(super) fn check(t: &[Tok<'_>], quoted: bool, tight: bool, markup: bool, hits: &mut Vec<Hit>) {
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
