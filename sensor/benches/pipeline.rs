//! Sensor hot path on one core: nginx JSON line → parse → normalize → aggregate, sealing a
//! batch every 10,000 lines. No file or network I/O. Prints the median of several runs, first
//! metadata only, then with injection scanning of path and query (sensitive-data classes are
//! judged in both: they are part of parameter shaping). One line in a hundred carries an attack.
//!
//! With `PICKET_BENCH_OTLP=URL` it then installs OTLP export to that collector (a dead
//! address works too: export failures stay on the exporter's thread) and runs again, giving
//! each sealed batch the sensor's span lifecycle (seal, number, send, ack) and histograms:
//! telemetry's cost on the hot path, back to back with the runs above.
//!
//!   cargo bench -p picket-sensor --bench pipeline [-- LINES RUNS]
//!   PICKET_BENCH_OTLP=http://127.0.0.1:4317 cargo bench -p picket-sensor --bench pipeline

use picket_sensor::aggregate::{AggregateLimits, Aggregator};
use picket_sensor::identity::{Identifier, PrincipalKey};
use picket_sensor::sources::Chunk;
use picket_sensor::sources::nginx::{LineContext, LogFormat, parse_line};
use picket_sensor::telemetry::BatchTraces;
use std::time::Instant;

fn lines(n: usize) -> Vec<String> {
    let paths = [
        "/api/v1/users/{}",
        "/api/v1/users/{}/orders",
        "/api/v1/products/{}",
        "/api/v1/search",
        "/api/v1/orders/{}/items",
    ];
    (0..n)
        .map(|i| {
            let path = paths[i % paths.len()].replace("{}", &(i * 7919 % 100_000).to_string());
            let q = match i % 100 {
                0 => "1%27%20union%20select%20password%20from%20users--".to_owned(),
                50 => "%3Cscript%3Ealert(1)%3C/script%3E".to_owned(),
                _ => (i % 10).to_string(),
            };
            format!(
                r#"{{"msec":"{}.{:03}","time_iso8601":"2026-11-21T00:00:00+00:00","remote_addr":"81.2.{}.{}","host":"api{}.example.com","scheme":"https","request_method":"GET","request_uri":"{path}?page={q}&limit=20&q=red+shoes","status":"200","body_bytes_sent":"{}","request_length":"412","request_time":"0.012","upstream_response_time":"0.010","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36","http_x_forwarded_for":"-","http_authorization":"Bearer abc.def.ghi","http_x_api_key":""}}"#,
                1_795_219_200 + i / 1000,
                i % 1000,
                (i / 256) % 256,
                i % 256,
                i % 4,
                100 + i % 5000
            )
        })
        .collect()
}

/// What the sensor does per sealed batch besides spooling it: with telemetry on, the batch's
/// span from seal to ack and its histograms (nothing when off).
struct Sealer {
    traces: BatchTraces,
    seq: u64,
}

impl Sealer {
    fn seal(&mut self, agg: &mut Aggregator) -> u64 {
        let sealed = agg.seal();
        self.seq += 1;
        if let Some(span) = self.traces.sealed(1, &sealed) {
            self.traces.track(self.seq, span);
        }
        std::hint::black_box(self.traces.on_send(self.seq));
        self.traces.on_ack(self.seq, &[self.seq]);
        sealed.requests
    }
}

fn run(input: &[String], classify_injections: bool) -> f64 {
    let mut agg = Aggregator::new(AggregateLimits {
        classify_injections,
        ..Default::default()
    });
    let ident = Identifier::new(PrincipalKey::from_bytes([9; 32]), Vec::new())
        .with_injection_scanning(classify_injections);
    let ctx = LineContext {
        default_host: "default",
        now_ms: 0,
        ident: &ident,
    };
    let mut records = Vec::with_capacity(1024);
    let mut sealed_requests = 0u64;
    let mut sealer = Sealer {
        traces: BatchTraces::default(),
        seq: 0,
    };
    let start = Instant::now();
    for (i, line) in input.iter().enumerate() {
        if let Ok(r) = parse_line(LogFormat::Json, line.as_bytes(), &ctx) {
            records.push(r);
        }
        if records.len() == 1024 {
            let mut chunk = Chunk {
                can_wait: true,
                source: "bench".into(),
                records: std::mem::take(&mut records),
                position: None,
                record_ends: Vec::new(),
            };
            // As the sensor's aggregator task does: seal whenever the batch reaches its bounds.
            while agg.fill(&mut chunk) {
                sealed_requests += sealer.seal(&mut agg);
            }
        }
        if i % 10_000 == 9_999 {
            sealed_requests += sealer.seal(&mut agg);
        }
    }
    let mut chunk = Chunk {
        can_wait: true,
        source: "bench".into(),
        records,
        position: None,
        record_ends: Vec::new(),
    };
    while agg.fill(&mut chunk) {
        sealed_requests += sealer.seal(&mut agg);
    }
    sealed_requests += sealer.seal(&mut agg);
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        sealed_requests,
        input.len() as u64,
        "every line must be aggregated"
    );
    input.len() as f64 / secs
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(100_000);
    let runs = args.get(1).copied().unwrap_or(7);
    let input = lines(n);
    let bytes: usize = input.iter().map(|l| l.len() + 1).sum();
    println!("sensor pipeline (parse + normalize + aggregate, nginx JSON, 1 core)");
    println!(
        "lines        {n}  ({:.1} MiB, {:.0} bytes/line)",
        bytes as f64 / 1048576.0,
        bytes as f64 / n as f64
    );
    println!("runs         {runs}");
    report(&input, runs, "");
    if let Ok(url) = std::env::var("PICKET_BENCH_OTLP") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the exporter");
        let _guard = rt.enter();
        let cfg = picket_runtime::otel::OtlpConfig::default();
        let who = picket_runtime::otel::ServiceIdentity {
            name: "picket-sensor-bench",
            version: env!("CARGO_PKG_VERSION"),
            sensor_id: Some("bench".into()),
        };
        let telemetry = picket_runtime::otel::init(Some(&url), &cfg, &who).expect("telemetry");
        picket_sensor::telemetry::register_histograms();
        println!("telemetry on: OTLP to {url}");
        report(&input, runs, ", telemetry on");
        if let Some(t) = telemetry {
            rt.block_on(t.shutdown());
        }
    }
}

fn report(input: &[String], runs: usize, suffix: &str) {
    for (label, classify) in [("metadata only", false), ("with injection scanning", true)] {
        run(input, classify); // warm-up
        let mut rates: Vec<f64> = (0..runs).map(|_| run(input, classify)).collect();
        rates.sort_by(f64::total_cmp);
        println!(
            "{:<38} median {:.0} lines/s  (min {:.0} / max {:.0})",
            format!("{label}{suffix}"),
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
}
