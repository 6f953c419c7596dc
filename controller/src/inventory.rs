//! The API inventory as users query it: endpoint listings with filters and cursors, and the
//! per-host API roll-up. Works on domain records only.

use crate::error::{Error, Result};
use crate::store::{Db, EndpointRecord};
use picket_shared::{EndpointKey, TenantId};
use std::collections::{BTreeMap, BTreeSet};

/// Filters of an endpoint listing; `None`/0 means "any".
#[derive(Debug, Clone, Default)]
pub struct EndpointFilter {
    pub host: Option<String>,
    /// Upper-case method.
    pub method: Option<String>,
    pub path_prefix: Option<String>,
    pub seen_since_ms: i64,
}

impl EndpointFilter {
    fn matches(&self, key: &EndpointKey, rec: &EndpointRecord) -> bool {
        self.method.as_deref().is_none_or(|m| key.method == m)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| key.template.starts_with(p))
            && rec.summary.last_seen_ms >= self.seen_since_ms
    }
}

/// One page of results and the cursor of the next (None at the end).
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Encodes an endpoint key as an opaque cursor.
pub fn endpoint_cursor(key: &EndpointKey) -> String {
    hex::encode(format!("{}\0{}\0{}", key.host, key.method, key.template))
}

fn parse_endpoint_cursor(cursor: &str) -> Result<EndpointKey> {
    let bad = || {
        Error::InvalidArgument(format!(
            "page_token {cursor:?} is not a cursor this server issued"
        ))
    };
    let raw = hex::decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\0');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(m), Some(t)) => Ok(EndpointKey {
            host: h.into(),
            method: m.into(),
            template: t.into(),
        }),
        _ => Err(bad()),
    }
}

/// Lists endpoints in key order. Examines at most `max_scan` records; when it stops early the
/// page may be short but the cursor continues where it stopped.
pub fn list_endpoints(
    db: &Db,
    tenant: &TenantId,
    filter: &EndpointFilter,
    page_size: usize,
    cursor: Option<&str>,
    max_scan: usize,
) -> Result<Page<(EndpointKey, EndpointRecord)>> {
    const CHUNK: usize = 512;
    let mut after = cursor
        .filter(|c| !c.is_empty())
        .map(parse_endpoint_cursor)
        .transpose()?;
    let mut items = Vec::new();
    let mut scanned = 0;
    loop {
        let rows = db.endpoints(tenant, filter.host.as_deref(), after.as_ref(), CHUNK)?;
        let exhausted = rows.len() < CHUNK;
        for (key, rec) in rows {
            scanned += 1;
            after = Some(key.clone());
            if filter.matches(&key, &rec) {
                items.push((key, rec));
                if items.len() == page_size {
                    return Ok(Page {
                        items,
                        next_cursor: after.as_ref().map(endpoint_cursor),
                    });
                }
            }
            if scanned >= max_scan {
                return Ok(Page {
                    items,
                    next_cursor: after.as_ref().map(endpoint_cursor),
                });
            }
        }
        if exhausted {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
    }
}

/// An API: the endpoints of one host, rolled up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiSummary {
    pub host: String,
    pub endpoints: u64,
    pub calls: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub methods: BTreeSet<String>,
    pub sensors: BTreeSet<String>,
}

/// Lists APIs (hosts) in name order after the cursor.
pub fn list_apis(
    db: &Db,
    tenant: &TenantId,
    page_size: usize,
    cursor: Option<&str>,
    max_scan: usize,
) -> Result<Page<ApiSummary>> {
    let after_host = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => Some(
            hex::decode(c)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "page_token {c:?} is not a cursor this server issued"
                    ))
                })?,
        ),
        None => None,
    };
    let mut apis: BTreeMap<String, ApiSummary> = BTreeMap::new();
    // Start the scan just past the cursor's host: `host 0 0x7f` sorts after every method.
    let mut cursor: Option<String> = after_host.as_ref().map(|h| {
        endpoint_cursor(&EndpointKey {
            host: h.clone(),
            method: "\u{7f}".into(),
            template: String::new(),
        })
    });
    let mut truncated = false;
    loop {
        let page = list_endpoints(
            db,
            tenant,
            &EndpointFilter::default(),
            max_scan,
            cursor.as_deref(),
            max_scan,
        )?;
        for (key, rec) in page.items {
            if after_host
                .as_deref()
                .is_some_and(|h| key.host.as_str() <= h)
            {
                continue;
            }
            let api = apis.entry(key.host.clone()).or_insert_with(|| ApiSummary {
                host: key.host.clone(),
                first_seen_ms: rec.summary.first_seen_ms,
                last_seen_ms: rec.summary.last_seen_ms,
                ..Default::default()
            });
            api.endpoints += 1;
            api.calls = api.calls.saturating_add(rec.summary.requests);
            api.first_seen_ms = api.first_seen_ms.min(rec.summary.first_seen_ms);
            api.last_seen_ms = api.last_seen_ms.max(rec.summary.last_seen_ms);
            api.methods.insert(key.method);
            api.sensors.extend(rec.sensors);
        }
        // Enough hosts for a page plus one proves the page is complete.
        if apis.len() > page_size {
            truncated = true;
            break;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let items: Vec<ApiSummary> = apis.into_values().take(page_size).collect();
    let next_cursor = if truncated {
        items.last().map(|a| hex::encode(&a.host))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use picket_shared::{BatchSummary, EndpointSummary, SensorId};
    use std::sync::Arc;

    fn seeded() -> (Db, TenantId) {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("t").unwrap();
        let mut endpoints = Vec::new();
        for host in ["a.example", "b.example", "c.example"] {
            for (i, m) in ["GET", "POST"].iter().enumerate() {
                for p in ["/users/{id}", "/orders", "/health"] {
                    endpoints.push((
                        EndpointKey {
                            host: host.into(),
                            method: (*m).into(),
                            template: p.into(),
                        },
                        EndpointSummary {
                            requests: 1 + i as u64,
                            first_seen_ms: 10,
                            last_seen_ms: 20 + i as i64,
                            ..Default::default()
                        },
                    ));
                }
            }
        }
        let batch = BatchSummary {
            stream_epoch: 1,
            seq: 1,
            endpoints,
            ..Default::default()
        };
        db.apply_batch(
            &t,
            &SensorId::new("s").unwrap(),
            &batch,
            0,
            &Default::default(),
        )
        .unwrap();
        (db, t)
    }

    #[test]
    fn pagination_visits_everything_once() {
        let (db, t) = seeded();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = list_endpoints(
                &db,
                &t,
                &EndpointFilter::default(),
                4,
                cursor.as_deref(),
                1000,
            )
            .unwrap();
            seen.extend(page.items.into_iter().map(|(k, _)| k));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 18);
        let mut dedup = seen.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), 18);
    }

    #[test]
    fn filters_and_bounded_scans() {
        let (db, t) = seeded();
        let f = EndpointFilter {
            host: Some("b.example".into()),
            method: Some("POST".into()),
            path_prefix: Some("/users".into()),
            seen_since_ms: 0,
        };
        let page = list_endpoints(&db, &t, &f, 100, None, 1000).unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].0.template, "/users/{id}");
        let recent = EndpointFilter {
            seen_since_ms: 21,
            ..Default::default()
        };
        assert_eq!(
            list_endpoints(&db, &t, &recent, 100, None, 1000)
                .unwrap()
                .items
                .len(),
            9
        );
        let short = list_endpoints(&db, &t, &EndpointFilter::default(), 100, None, 5).unwrap();
        assert_eq!(short.items.len(), 5);
        assert!(short.next_cursor.is_some());
        assert!(list_endpoints(&db, &t, &f, 1, Some("zz"), 10).is_err());
    }

    #[test]
    fn apis_roll_up_by_host_with_pages() {
        let (db, t) = seeded();
        let first = list_apis(&db, &t, 2, None, 1000).unwrap();
        assert_eq!(
            first
                .items
                .iter()
                .map(|a| a.host.as_str())
                .collect::<Vec<_>>(),
            ["a.example", "b.example"]
        );
        assert_eq!((first.items[0].endpoints, first.items[0].calls), (6, 9));
        let second = list_apis(&db, &t, 2, first.next_cursor.as_deref(), 1000).unwrap();
        assert_eq!(second.items.len(), 1);
        assert!(second.next_cursor.is_none());
    }
}
