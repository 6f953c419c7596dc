//! Human tables and JSON output for `picketctl`.

use serde_json::Value;

/// Output format chosen with `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub use picket_proto::json::when;

/// Micro-dollars for humans: `$1,234.56`, with more decimals only when they matter.
pub fn money(micros: u64) -> String {
    let dollars = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut int = String::new();
    let digits = dollars.to_string();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            int.push(',');
        }
        int.push(c);
    }
    let mut frac = format!("{frac:06}");
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    format!("${int}.{frac}")
}

/// Rows of a listing: the same data renders as a table or as a JSON array of objects.
pub struct Listing {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub objects: Vec<Value>,
}

impl Listing {
    pub fn new(columns: &[&'static str]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
            objects: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>, object: Value) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
        self.objects.push(object);
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => json(&Value::Array(self.objects.clone())),
            Format::Table => table(&self.columns, &self.rows),
        }
    }
}

pub fn json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
}

/// Left-aligned columns separated by two spaces.
pub fn table(columns: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut first = true;
        let mut s = String::new();
        for (cell, w) in cells.zip(&widths) {
            if !first {
                s.push_str("  ");
            }
            first = false;
            s.push_str(cell);
            s.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(cell.chars().count()),
            ));
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut columns.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// A role's lower-case name.
pub fn role_name(raw: i32) -> &'static str {
    use picket_proto::v1 as pb;
    match pb::Role::try_from(raw) {
        Ok(pb::Role::Sensor) => "sensor",
        Ok(pb::Role::Reader) => "reader",
        Ok(pb::Role::Operator) => "operator",
        Ok(pb::Role::Admin) => "admin",
        _ => "unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_json_is_an_array() {
        let mut l = Listing::new(&["HOST", "CALLS"]);
        l.push(
            vec!["api.example".into(), "12".into()],
            serde_json::json!({"host": "api.example", "calls": 12}),
        );
        l.push(
            vec!["b".into(), "3".into()],
            serde_json::json!({"host": "b", "calls": 3}),
        );
        assert_eq!(
            l.render(Format::Table),
            "HOST         CALLS\napi.example  12\nb            3\n"
        );
        let parsed: Value = serde_json::from_str(&l.render(Format::Json)).unwrap();
        assert_eq!(parsed[1]["calls"], 3);
        assert_eq!(Listing::new(&["A"]).render(Format::Table), "A\n(none)\n");
        assert_eq!(when(0), "-");
        assert_eq!(money(200_000_000), "$200.00");
        assert_eq!(money(1_234_567_890), "$1,234.56789");
        assert_eq!(money(140), "$0.00014");
        assert_eq!(money(0), "$0.00");
    }
}
