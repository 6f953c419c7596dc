//! SQL vocabulary: what a token means (connective, comparison, operand, function only SQL has,
//! catalog name, keyword).

use super::Tok;

/// Words that are logical connectives in SQL.
pub(super) fn is_logic(t: Tok<'_>) -> bool {
    matches!(t, Tok::Logic | Tok::Word("or" | "and" | "xor" | "div"))
}

/// Comparison operators, symbolic or spelled.
pub(super) fn is_comparison(t: Tok<'_>) -> bool {
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
pub(super) fn is_value(t: Tok<'_>) -> bool {
    matches!(
        t,
        Tok::Str { .. } | Tok::Num | Tok::Var(_) | Tok::Word(_) | Tok::Func(_) | Tok::LParen
    )
}

/// Functions that only appear in SQL (timing, error-based extraction, metadata).
pub(super) fn is_function(f: &str) -> bool {
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
pub(super) fn is_internal(w: &str) -> bool {
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

/// SQL keywords and operators spelled as words.
pub(super) fn is_keyword(w: &str) -> bool {
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
