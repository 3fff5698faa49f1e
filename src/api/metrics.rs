//! Prometheus text exposition, computed from the index at each scrape (so every instance
//! sharing an index reports the same figures): records and bytes per source, and per run
//! (the latest 50) files by outcome, bytes and duration, plus the progress of runs going on.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::archive::Archive;
use crate::index::IndexError;

/// How many recent runs get per-run series (older runs live on in the per-source totals).
const RECENT_RUNS: u32 = 50;

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn seconds(from: &str, to: &str) -> Option<f64> {
    let (a, b) = (chrono::DateTime::parse_from_rfc3339(from).ok()?, chrono::DateTime::parse_from_rfc3339(to).ok()?);
    Some((b - a).num_milliseconds() as f64 / 1000.0)
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", esc(v))).collect();
        let _ = writeln!(self.out, "{name}{{{}}} {v}", l.join(","));
    }
}

/// Per-source sums over runs.
#[derive(Default)]
struct SourceTotals {
    files: HashMap<&'static str, f64>,
    bytes: f64,
    seconds: f64,
    runs: f64,
}

/// The metrics page.
pub async fn render(a: &Archive) -> Result<String, IndexError> {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    let stats = a.index.stats().await?;
    f.head("arkisto_records", "gauge", "Records in the archive, by source.");
    for s in &stats {
        f.sample("arkisto_records", &[("source", &s.source)], s.records as f64);
    }
    f.head("arkisto_original_bytes", "gauge", "Original bytes archived, by source.");
    for s in &stats {
        f.sample("arkisto_original_bytes", &[("source", &s.source)], s.original_bytes as f64);
    }
    f.head("arkisto_stored_bytes", "gauge", "Compressed bytes stored, by source.");
    for s in &stats {
        f.sample("arkisto_stored_bytes", &[("source", &s.source)], s.stored_bytes as f64);
    }

    let runs = a.index.runs(u32::MAX).await?;
    // Per source, over every finished run.
    let mut by_source: BTreeMap<&str, SourceTotals> = BTreeMap::new();
    for r in &runs {
        let e = by_source.entry(r.source.as_str()).or_default();
        e.runs += 1.0;
        if let (Some(end), Some(sum)) = (&r.finished_at, &r.summary) {
            e.seconds += seconds(&r.started_at, end).unwrap_or(0.0);
            for o in ["archived", "duplicate", "quarantined", "split"] {
                *e.files.entry(o).or_default() += sum["counts"][o].as_f64().unwrap_or(0.0);
            }
            e.bytes += sum["counts"]["bytes_archived"].as_f64().unwrap_or(0.0);
        }
    }
    f.head("arkisto_source_runs_total", "counter", "Ingest runs, by source.");
    for (s, e) in &by_source {
        f.sample("arkisto_source_runs_total", &[("source", s)], e.runs);
    }
    f.head("arkisto_source_files_total", "counter", "Input files by outcome (quarantined: with findings that stopped them), by source.");
    for (s, e) in &by_source {
        for o in ["archived", "duplicate", "quarantined"] {
            f.sample("arkisto_source_files_total", &[("source", s), ("outcome", o)], e.files.get(o).copied().unwrap_or(0.0));
        }
    }
    f.head("arkisto_source_bytes_total", "counter", "Original bytes archived by runs, by source.");
    for (s, e) in &by_source {
        f.sample("arkisto_source_bytes_total", &[("source", s)], e.bytes);
    }
    f.head("arkisto_source_run_seconds_total", "counter", "Time spent in finished runs, by source.");
    for (s, e) in &by_source {
        f.sample("arkisto_source_run_seconds_total", &[("source", s)], e.seconds);
    }

    // Per run, the latest ones.
    let recent: Vec<_> = runs.iter().take(RECENT_RUNS as usize).collect();
    f.head("arkisto_run_files", "gauge", "Input files of a run by outcome (latest runs).");
    for r in &recent {
        let id = r.run_id.to_string();
        for o in ["archived", "duplicate", "quarantined"] {
            let v = r.summary.as_ref().and_then(|s| s["counts"][o].as_f64()).unwrap_or(0.0);
            f.sample("arkisto_run_files", &[("run", &id), ("source", &r.source), ("status", &r.status), ("outcome", o)], v);
        }
    }
    f.head("arkisto_run_findings", "gauge", "Findings reported by a run (latest runs).");
    for r in &recent {
        let v = r.summary.as_ref().and_then(|s| s["counts"]["findings"].as_f64()).unwrap_or(0.0);
        f.sample("arkisto_run_findings", &[("run", &r.run_id.to_string()), ("source", &r.source)], v);
    }
    f.head("arkisto_run_bytes", "gauge", "Original bytes archived by a run (latest runs).");
    for r in &recent {
        let v = r.summary.as_ref().and_then(|s| s["counts"]["bytes_archived"].as_f64()).unwrap_or(0.0);
        f.sample("arkisto_run_bytes", &[("run", &r.run_id.to_string()), ("source", &r.source)], v);
    }
    f.head("arkisto_run_duration_seconds", "gauge", "Duration of a finished run (latest runs).");
    for r in recent.iter().filter(|r| r.finished_at.is_some()) {
        let v = r.finished_at.as_deref().and_then(|end| seconds(&r.started_at, end)).unwrap_or(0.0);
        f.sample("arkisto_run_duration_seconds", &[("run", &r.run_id.to_string()), ("source", &r.source)], v);
    }

    // Runs going on, anywhere.
    let beats: HashMap<_, _> = a.index.heartbeats().await?.into_iter().map(|h| (h.run_id, h)).collect();
    let running: Vec<_> = runs.iter().filter(|r| r.status == "running").collect();
    f.head("arkisto_runs_running", "gauge", "Runs recorded as running (on any instance).");
    f.sample("arkisto_runs_running", &[], running.len() as f64);
    f.head("arkisto_run_progress_files", "gauge", "Files done and in total of a running run.");
    for r in running {
        if let Some(h) = beats.get(&r.run_id) {
            let id = r.run_id.to_string();
            f.sample("arkisto_run_progress_files", &[("run", &id), ("instance", &h.instance), ("of", "done")], h.files_done as f64);
            f.sample("arkisto_run_progress_files", &[("run", &id), ("instance", &h.instance), ("of", "total")], h.files_total as f64);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
