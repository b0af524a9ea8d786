//! gatebot's counters read back from the Prometheus text `/metrics` serves:
//! for the economy report (in process) and the load benchmark
//! (`benches/load.rs`, which includes this file), which both count what a
//! delivery cost from gatebot's own metrics.

use std::collections::BTreeMap;

/// Every sample of `text` summed by metric name, and by `name|op` for the
/// samples with an `op` label.
pub fn totals(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (metric, labels) = name.split_once('{').unwrap_or((name, ""));
        *out.entry(metric.to_string()).or_default() += value;
        if let Some(op) = labels
            .split(',')
            .find_map(|l| l.strip_prefix("op=\""))
            .and_then(|l| l.split('"').next())
        {
            *out.entry(format!("{metric}|{op}")).or_default() += value;
        }
    }
    out
}
