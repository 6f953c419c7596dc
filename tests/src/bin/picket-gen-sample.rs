//! Writes the demo's bundled sample traffic from the seeded scenario generator
//! (`picket_tests::traffic::scenario::demo_config`), as two gateways see it
//! (`scenario::demo_gateways`): `tests/data/sample-access.json` (gateway A) and
//! `sample-access-b.json` (gateway B, where the sprayer of A comes back with an injection),
//! nginx JSON lines with event time in `msec`, and `tests/data/sample-truth.json` (what was
//! staged: attack type, endpoint, addresses, time range, request count).
//!
//! Regenerate after changing the generator, from the repository root:
//!
//! ```text
//! cargo run -q -p picket-tests --bin picket-gen-sample [-- OUT_DIR]   # default tests/data
//! ```
//!
//! A unit test (`traffic::scenario::tests::bundled_sample_is_current`) fails when the bundled
//! file differs from what this writes.

use anyhow::Context;
use picket_tests::traffic::scenario::{self, demo_config};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("tests/data"), PathBuf::from);
    let (all, truth) = scenario::nginx_scenario(&demo_config());
    let (lines, b, truth) = scenario::demo_gateways(&all, &truth);
    let mut text = lines.join("\n");
    text.push('\n');
    let access = dir.join("sample-access.json");
    std::fs::write(&access, &text).with_context(|| format!("writing {}", access.display()))?;
    let access_b = dir.join("sample-access-b.json");
    std::fs::write(&access_b, b.join("\n") + "\n")
        .with_context(|| format!("writing {}", access_b.display()))?;
    let mut truth_text = serde_json::to_string_pretty(&scenario::truth_json(&truth))?;
    truth_text.push('\n');
    let truth_path = dir.join("sample-truth.json");
    std::fs::write(&truth_path, truth_text)
        .with_context(|| format!("writing {}", truth_path.display()))?;
    eprintln!(
        "wrote {} ({} lines, {} bytes), {} ({} lines) and {}",
        access.display(),
        lines.len(),
        text.len(),
        access_b.display(),
        b.len(),
        truth_path.display()
    );
    for t in &truth {
        eprintln!(
            "  {:<24} {:<15} {} requests  {} → {}",
            t.attack.type_id(),
            t.clients.first().map(|c| c.to_string()).unwrap_or_default(),
            t.requests,
            picket_shared::time::format_rfc3339_ms(t.start_ms),
            picket_shared::time::format_rfc3339_ms(t.end_ms)
        );
    }
    Ok(())
}
