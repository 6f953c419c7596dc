//! A webhook receiver for the tests: raw HTTP/1.1 over tokio sockets (one request per
//! connection, as the controller sends them), recording each request and the status it
//! answered; the first N requests can be made to fail with 500.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request a receiver got, with the status it answered.
#[derive(Debug, Clone)]
pub struct Hit {
    pub status: u16,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Hit {
    /// The body as JSON.
    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    /// The event's `id`.
    pub fn id(&self) -> String {
        self.event()["id"].as_str().unwrap().to_owned()
    }
}

/// A webhook receiver on a real socket that records every request.
pub struct Receiver {
    pub addr: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on `bind`; the first `fail_first` requests are answered 500.
    pub async fn start(bind: &str, fail_first: u32) -> Receiver {
        let l = TcpListener::bind(bind).await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let fails = Arc::new(AtomicU32::new(fail_first));
        let h = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                tokio::spawn(serve(s, h.clone(), fails.clone()));
            }
        });
        Receiver { addr, hits, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The requests answered 2xx.
    pub fn delivered(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.status == 200)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut s: TcpStream, hits: Arc<Mutex<Vec<Hit>>>, fails: Arc<AtomicU32>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        assert!(buf.len() < 1 << 20, "request head too large");
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    assert!(lines.next().unwrap().starts_with("POST /hook "), "{head}");
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers["content-length"].parse().unwrap();
    while buf.len() < head_end + len {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end..head_end + len].to_vec();
    let failing = fails
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing { 500 } else { 200 };
    hits.lock().unwrap().push(Hit {
        status,
        headers,
        body,
    });
    let answer =
        format!("HTTP/1.1 {status} X\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndone");
    let _ = s.write_all(answer.as_bytes()).await;
}
