//! The *agent product* of a request: the first product token of its `User-Agent`
//! (`curl/8.5.0`, `Mozilla/5.0`, `python-requests/2.31`), the one part of the header that
//! travels (in actor summaries). Held inline and fixed-size, so taking it costs a short scan
//! and a copy per request, never an allocation; the rest of the header is never kept.

use picket_shared::limits::MAX_AGENT_PRODUCT_BYTES;

/// The first product token of a user agent, at most [`MAX_AGENT_PRODUCT_BYTES`] bytes of RFC
/// 9110 token characters and `/`; empty when the header has none.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AgentProduct {
    len: u8,
    bytes: [u8; MAX_AGENT_PRODUCT_BYTES],
}

const _: () = assert!(MAX_AGENT_PRODUCT_BYTES <= u8::MAX as usize);

impl Default for AgentProduct {
    fn default() -> Self {
        AgentProduct {
            len: 0,
            bytes: [0; MAX_AGENT_PRODUCT_BYTES],
        }
    }
}

impl std::fmt::Debug for AgentProduct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentProduct({:?})", self.as_str())
    }
}

/// The bytes of a product token: RFC 9110 `tchar`, and `/` (between name and version).
const PRODUCT: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
                    | b'/'
            );
        c += 1;
    }
    t
};

/// RFC 9110 `tchar`: the characters of a token.
fn tchar(c: u8) -> bool {
    c != b'/' && PRODUCT[usize::from(c)]
}

impl AgentProduct {
    /// The first product token of `user_agent` (`product[/version]`, leading whitespace
    /// skipped), cut to [`MAX_AGENT_PRODUCT_BYTES`]. Nothing when the header does not start
    /// with a token (only comments, a payload) or the token runs into a character that is
    /// neither a token character, `/`, whitespace nor the `(` of a comment: a header that is
    /// not a product list names no product.
    pub fn of(user_agent: &str) -> AgentProduct {
        let b = user_agent
            .as_bytes()
            .trim_ascii_start()
            .get(..MAX_AGENT_PRODUCT_BYTES + 1);
        let b = b.unwrap_or(user_agent.as_bytes().trim_ascii_start());
        let run = b.iter().take_while(|c| PRODUCT[usize::from(**c)]).count();
        let ends_well = matches!(b.get(run), None | Some(b' ' | b'\t' | b'('));
        // A long token is cut, however it continues past the cut.
        let long = run > MAX_AGENT_PRODUCT_BYTES;
        if run == 0 || !b.first().is_some_and(|c| tchar(*c)) || !(ends_well || long) {
            return AgentProduct::default();
        }
        let n = run.min(MAX_AGENT_PRODUCT_BYTES);
        let mut out = AgentProduct::default();
        out.bytes[..n].copy_from_slice(&b[..n]);
        // At most MAX_AGENT_PRODUCT_BYTES (asserted ≤ 255 above).
        out.len = n as u8;
        out
    }

    /// The product, or `""` when there is none. Only ASCII token characters are ever stored,
    /// so any cut is a character boundary.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ua: &str, want: &str) {
        assert_eq!(AgentProduct::of(ua).as_str(), want, "{ua:?}");
    }

    #[test]
    fn first_product_token_only() {
        check("curl/8.5.0", "curl/8.5.0");
        check(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
            "Mozilla/5.0",
        );
        check("python-requests/2.31", "python-requests/2.31");
        check("  Go-http-client/1.1", "Go-http-client/1.1");
        check(
            "sqlmap/1.7#stable (https://sqlmap.org)",
            "sqlmap/1.7#stable",
        );
        check("okhttp/4.9(extra)", "okhttp/4.9");
        check("Wget", "Wget");
    }

    #[test]
    fn hostile_agents() {
        // Only comments, no product token, payloads.
        check("(compatible; MSIE 6.0)", "");
        check("", "");
        check("   ", "");
        check("/bin/sh", "");
        check("() { :;}; /bin/bash -c 'id'", "");
        check("${jndi:ldap://x.example/a}", "");
        check("<script>alert(1)</script>", "");
        check("abc\"def", "");
        check("abc;rm -rf", "");
        // Control characters end nothing: the token must end at a space or a comment.
        check("curl/8\u{0}", "");
        check("curl/8\r\nX-Injected: 1", "");
        check("curl/8\x1b[31m", "");
        check("é/1.0", "");
        check("curl/é", "");
        // Very long: cut to the limit, at a character boundary, token characters only.
        let long = format!("{}/1.0 (x)", "A".repeat(10_000));
        check(&long, &"A".repeat(MAX_AGENT_PRODUCT_BYTES));
        let long_then_garbage = format!("{}\u{0}é", "b".repeat(200));
        check(&long_then_garbage, &"b".repeat(MAX_AGENT_PRODUCT_BYTES));
        let exact = "c".repeat(MAX_AGENT_PRODUCT_BYTES);
        check(&format!("{exact}\u{0}"), "");
        check(&exact, &exact);
    }

    proptest::proptest! {
        #[test]
        fn always_travels(ua in ".{0,200}") {
            let p = AgentProduct::of(&ua);
            let s = p.as_str();
            proptest::prop_assert!(s.is_empty() || picket_shared::limits::valid_text(
                s, MAX_AGENT_PRODUCT_BYTES));
            proptest::prop_assert!(s.bytes().all(|c| tchar(c) || c == b'/'));
            proptest::prop_assert!(ua.trim_start().starts_with(s));
        }
    }
}
