//! A strict parser of the Prometheus text exposition format 0.0.4, for checking what the
//! admin listeners serve: `# HELP`/`# TYPE` at most once per family and before its samples,
//! a family's samples contiguous, metric and label names by the format's grammar, label values
//! with only the three escapes (`\\`, `\"`, `\n`), no duplicate series, counters never
//! negative, and histograms with `le` buckets that rise to a `+Inf` bucket equal to `_count`.
//! Small on purpose: the crates that parse this format are lenient or unmaintained.

use std::collections::{BTreeMap, BTreeSet};

/// A parsed family.
#[derive(Debug, Clone)]
pub struct PromFamily {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<PromSample>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses a whole exposition; `Err` names the first violation and its line.
pub fn parse_prometheus(text: &str) -> Result<Vec<PromFamily>, String> {
    let mut fams: Vec<PromFamily> = Vec::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut series: BTreeSet<String> = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let err = |m: &str| format!("line {}: {m}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if kw != "HELP" && kw != "TYPE" {
                continue; // a plain comment
            }
            check_name(name).map_err(|e| err(&e))?;
            let fam = open_family(&mut fams, &mut finished, name).map_err(|e| err(&e))?;
            let arg = parts.next().unwrap_or("");
            if kw == "HELP" {
                if fam.help.replace(arg.to_owned()).is_some() {
                    return Err(err("second HELP"));
                }
            } else {
                if !fam.samples.is_empty() || !fam.kind.is_empty() {
                    return Err(err("TYPE after samples or twice"));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg) {
                    return Err(err("unknown type"));
                }
                fam.kind = arg.to_owned();
            }
            continue;
        }
        let s = sample(line).map_err(|e| err(&e))?;
        let family = family_of(&fams, &s.name);
        let fam = open_family(&mut fams, &mut finished, &family).map_err(|e| err(&e))?;
        if fam.kind == "counter" && s.value < 0.0 {
            return Err(err("negative counter"));
        }
        if !series.insert(format!("{}{:?}", s.name, s.labels)) {
            return Err(err("duplicate series"));
        }
        fam.samples.push(s);
    }
    for f in &fams {
        if f.kind == "histogram" {
            check_histogram(f)?;
        }
    }
    Ok(fams)
}

/// The family a sample belongs to: the current histogram's when the name carries one of its
/// suffixes, else its own name.
fn family_of(fams: &[PromFamily], sample: &str) -> String {
    if let Some(last) = fams.last()
        && last.kind == "histogram"
        && ["_bucket", "_sum", "_count"]
            .iter()
            .any(|sfx| sample.strip_suffix(sfx) == Some(last.name.as_str()))
    {
        return last.name.clone();
    }
    sample.to_owned()
}

/// The family being written, or a new one; a family that was left may not come back.
fn open_family<'a>(
    fams: &'a mut Vec<PromFamily>,
    finished: &mut BTreeSet<String>,
    name: &str,
) -> Result<&'a mut PromFamily, String> {
    if fams.last().is_none_or(|f| f.name != name) {
        if let Some(last) = fams.last() {
            finished.insert(last.name.clone());
        }
        if finished.contains(name) {
            return Err(format!("family {name} is not contiguous"));
        }
        fams.push(PromFamily {
            name: name.to_owned(),
            kind: String::new(),
            help: None,
            samples: Vec::new(),
        });
    }
    Ok(fams.last_mut().expect("just pushed"))
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn sample(line: &str) -> Result<PromSample, String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample needs a value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = label_set(r, &mut labels)?;
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or("expected a space before the value")?;
    let mut fields = rest.split(' ');
    let value = match fields.next().unwrap_or("") {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(PromSample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `k="v",…}` and returns what follows the closing brace.
fn label_set<'a>(mut s: &'a str, out: &mut BTreeMap<String, String>) -> Result<&'a str, String> {
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = s.find('=').ok_or("label without =")?;
        let key = &s[..eq];
        let mut kc = key.chars();
        let key_ok = kc
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && kc.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_ok {
            return Err(format!("bad label name {key:?}"));
        }
        let mut chars = s[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err("label value must be quoted".into());
        }
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err("bad escape in a label value".into()),
                },
                Some((j, '"')) => break eq + 1 + j + 1,
                Some((_, '\n')) | None => return Err("unterminated label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if out.insert(key.to_owned(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        s = &s[end..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

fn check_histogram(f: &PromFamily) -> Result<(), String> {
    // Group buckets by their labels without `le`.
    let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for s in &f.samples {
        let mut labels = s.labels.clone();
        let le = labels.remove("le");
        let key = format!("{labels:?}");
        if s.name.ends_with("_bucket") {
            let le = le.ok_or(format!("{}: bucket without le", f.name))?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse()
                    .map_err(|_| format!("{}: bad le {le:?}", f.name))?
            };
            groups.entry(key).or_default().push((bound, s.value));
        } else if s.name.ends_with("_count") {
            counts.insert(key, s.value);
        }
    }
    for (key, buckets) in groups {
        let rising = buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        let last = buckets.last().copied().unwrap_or((0.0, 0.0));
        if !rising || last.0 != f64::INFINITY || counts.get(&key) != Some(&last.1) {
            return Err(format!(
                "{}: buckets do not rise to a +Inf equal to _count",
                f.name
            ));
        }
    }
    Ok(())
}

/// The value of the one sample named `name` whose labels include `labels`.
pub fn prom_value(fams: &[PromFamily], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = fams
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .collect();
    match found.as_slice() {
        [v] => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_format_and_rejects_violations() {
        let good = "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"q\\\"\\\\\\n\"} 1\n\
                    # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
        let f = parse_prometheus(good).unwrap();
        assert_eq!(f[0].samples[0].labels["k"], "q\"\\\n");
        assert_eq!(f[1].samples.len(), 4);
        for bad in [
            "# TYPE a counter\na 1\n# TYPE a counter\n",
            "a{k=\"v\\t\"} 1\n",
            "a{k=v} 1\n",
            "a 1\nb 1\na 2\n",
            "a 1\na 1\n",
            "# TYPE c counter\nc -1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
            "9a 1\n",
        ] {
            assert!(parse_prometheus(bad).is_err(), "{bad:?}");
        }
    }
}
