//! Human and JSON renderings of command results.

use std::io::Write;

use anyhow::Result;

use arkisto::index::{RunFile, RunRow, SearchPage, SourceStats};
use arkisto::ingest::{FileOutcome, RunReport};
use arkisto::retrieve::Record;
use arkisto::verify::VerifyReport;

pub fn ingest(out: &mut impl Write, r: &RunReport, json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
        return Ok(());
    }
    if let Some(reason) = &r.refused {
        writeln!(out, "run {}: REFUSED {}: {reason}", r.run_id, r.input)?;
        writeln!(out, "nothing was archived; fix the bag (or re-create it) and ingest again")?;
        return Ok(());
    }
    let c = &r.counts;
    let ratio = if c.bytes_stored > 0 { c.bytes_archived as f64 / c.bytes_stored as f64 } else { 0.0 };
    writeln!(
        out,
        "run {} ({}): {} files: {} archived, {} already archived, {} quarantined; {:.1} MB in {} packs ({ratio:.1}x compression)",
        r.run_id,
        r.source,
        c.files,
        c.archived,
        c.duplicate,
        c.quarantined,
        c.bytes_archived as f64 / 1e6,
        r.packs.len()
    )?;
    if r.recovered_packs > 0 {
        writeln!(out, "cleaned up {} pack(s) left by an interrupted run", r.recovered_packs)?;
    }
    if r.store_retries > 0 {
        writeln!(out, "the store failed {} request(s) that succeeded when tried again", r.store_retries)?;
    }
    for f in r.files.iter().filter(|f| f.outcome == FileOutcome::Quarantined) {
        for x in &f.findings {
            writeln!(out, "  quarantined {}: {x}", f.path)?;
        }
    }
    for f in r.files.iter().filter(|f| f.outcome == FileOutcome::Archived && !f.findings.is_empty()) {
        for x in &f.findings {
            writeln!(out, "  warning {}: {x}", f.path)?;
        }
    }
    if c.quarantined > 0 {
        writeln!(out, "quarantined files and their findings are kept under the data dir: quarantine/{}/", r.run_id)?;
    }
    Ok(())
}

/// A page of hits, and how many there are in all: "50 of 308 records (next: --page 2)".
pub fn hits(out: &mut impl Write, page: &SearchPage, json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(page)?)?;
        return Ok(());
    }
    for h in &page.hits {
        writeln!(
            out,
            "{}  {:<25} v{:<3} {:<13} {}  [{}]",
            &h.record_id.to_string()[..16],
            h.created.as_deref().unwrap_or("-").get(..19.min(h.created.as_deref().unwrap_or("-").len())).unwrap_or("-"),
            h.version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            h.subject.as_deref().unwrap_or("-"),
            h.title.as_deref().unwrap_or("(no title)"),
            h.document_id.as_deref().unwrap_or("-"),
        )?;
    }
    writeln!(out, "{}", page_summary(page))?;
    Ok(())
}

pub fn show(out: &mut impl Write, r: &Record, json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
        return Ok(());
    }
    let m = &r.meta;
    let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    writeln!(out, "record       {}", m.record_id)?;
    writeln!(out, "document id  {}", m.document_id.as_ref().map(|d| d.0.clone()).unwrap_or_else(|| "-".into()))?;
    writeln!(out, "set / ver    {} / {}", o(&m.set_id), m.version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()))?;
    writeln!(out, "title        {}", o(&m.title))?;
    writeln!(out, "type         {} {}", o(&m.doc_type), o(&m.doc_type_name))?;
    writeln!(out, "subject      {}", m.subject.as_ref().map(|s| format!("{} ({})", s.value, s.root)).unwrap_or_else(|| "-".into()))?;
    writeln!(out, "created      {}", o(&m.created))?;
    writeln!(out, "service      {}", o(&m.service_time))?;
    writeln!(out, "custodian    {}", o(&m.custodian))?;
    writeln!(out, "source       {} (run {}, file {})", m.source, m.run_id, m.input_path)?;
    writeln!(out, "archived     {}", m.ingested_at)?;
    writeln!(out, "size         {} bytes original, {} stored", m.original_size, r.at.location.data_len)?;
    writeln!(
        out,
        "retention    {} under {} ({} {}); lock horizon {}",
        m.retention.disposal_text(),
        m.retention.rule_id,
        m.retention.ruleset,
        m.retention.ruleset_version,
        m.retention.lock_horizon
    )?;
    writeln!(out, "pack         {} at {}+{}", r.at.pack_key, r.at.location.data_offset, r.at.location.data_len)?;
    writeln!(out, "media type   {} ({})", m.media_type, m.format)?;
    if let Some(p) = &m.parent {
        writeln!(out, "attached to  {p}")?;
    }
    for a in &r.attachments {
        writeln!(out, "attachment   {} {}", a.record_id, a.title.as_deref().unwrap_or("-"))?;
    }
    for f in &m.findings {
        writeln!(out, "finding      {f}")?;
    }
    Ok(())
}

pub fn verify(out: &mut impl Write, r: &VerifyReport, json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "checked {} packs, {} records, {:.1} MB, {} ledger events",
        r.packs,
        r.records,
        r.bytes_read as f64 / 1e6,
        r.ledger_events
    )?;
    if r.findings.is_empty() {
        writeln!(out, "all digests match; the ledger chain is intact; the index agrees with the packs and the ledger")?;
    }
    for f in &r.findings {
        writeln!(out, "{:?} {}: {} [{}]", f.code, f.code.title(), f.message, f.object.as_deref().unwrap_or("-"))?;
        for rec in &f.records {
            writeln!(out, "    affects record {rec}")?;
        }
    }
    Ok(())
}

pub fn runs(out: &mut impl Write, runs: &[RunRow], json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(runs)?)?;
        return Ok(());
    }
    for r in runs {
        let c = r.summary.as_ref().and_then(|s| s.get("counts")).cloned().unwrap_or_default();
        writeln!(
            out,
            "{}  {}  {:<24} {:<12} archived {} dup {} quarantined {}  {}",
            r.run_id,
            r.started_at,
            r.status,
            r.source,
            c.get("archived").unwrap_or(&0.into()),
            c.get("duplicate").unwrap_or(&0.into()),
            c.get("quarantined").unwrap_or(&0.into()),
            r.input
        )?;
    }
    Ok(())
}

pub fn run_files(out: &mut impl Write, files: &[RunFile], json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(files)?)?;
        return Ok(());
    }
    for f in files {
        let codes: Vec<String> = f
            .findings
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.get("code").and_then(|c| c.as_str()).map(String::from)).collect())
            .unwrap_or_default();
        writeln!(out, "{:<12} {} {}", f.outcome, f.path, codes.join(","))?;
    }
    Ok(())
}

pub fn stats(out: &mut impl Write, stats: &[SourceStats], json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(stats)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:>9} {:>12} {:>12} {:>7} {:>9}  dictionaries",
        "source", "records", "original MB", "stored MB", "ratio", "with dict"
    )?;
    for s in stats {
        let ratio = s.original_bytes as f64 / s.stored_bytes.max(1) as f64;
        let dicts = if s.dicts.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{} ({:.0} KiB): {}",
                s.dicts.len(),
                s.dict_bytes as f64 / 1024.0,
                s.dicts.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            )
        };
        writeln!(
            out,
            "{:<24} {:>9} {:>12.1} {:>12.1} {:>6.1}x {:>9}  {dicts}",
            s.source,
            s.records,
            s.original_bytes as f64 / 1e6,
            s.stored_bytes as f64 / 1e6,
            ratio,
            s.records_with_dict
        )?;
    }
    Ok(())
}

pub fn explain(out: &mut impl Write, e: &arkisto::retrieve::Explanation, json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(e)?)?;
        return Ok(());
    }
    let line = |r: &arkisto::retention::Retention| {
        format!(
            "{} under {} ({} {}), class {}; lock horizon {}",
            r.disposal_text(),
            r.rule_id,
            r.ruleset,
            r.ruleset_version,
            r.class.as_deref().unwrap_or("-"),
            r.lock_horizon
        )
    };
    writeln!(out, "record    {}", e.record_id)?;
    writeln!(out, "stored    {}", line(&e.stored))?;
    writeln!(out, "today     {}{}", line(&e.now), if e.changed { "   (differs: a rule or a fact changed since ingest)" } else { "" })?;
    writeln!(out, "why:")?;
    for w in &e.why {
        writeln!(out, "  - {w}")?;
    }
    Ok(())
}

pub fn due(out: &mut impl Write, packs: &[arkisto::disposal::DuePack], json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(packs)?)?;
        return Ok(());
    }
    let n: usize = packs.iter().map(|p| p.due.len()).sum();
    writeln!(out, "{n} records due in {} packs", packs.len())?;
    for p in packs {
        writeln!(
            out,
            "pack {}: {} of {} records due{}",
            p.pack_id,
            p.due.len(),
            p.records,
            if p.whole { " (whole pack)" } else { " (compaction needed)" }
        )?;
        for d in &p.due {
            writeln!(out, "  {}  {}  {}", d.record_id, d.disposal, d.rule)?;
        }
    }
    Ok(())
}

pub fn holds(out: &mut impl Write, holds: &[arkisto::index::retention::Hold], json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(holds)?)?;
        return Ok(());
    }
    for h in holds {
        let what = h.subject.as_deref().map(|s| format!("subject {s}")).unwrap_or_else(|| format!("{} records", h.records.len()));
        let removed =
            h.removed_at.as_deref().map(|r| format!(" — removed {r} by {}", h.removed_by.as_deref().unwrap_or("-"))).unwrap_or_default();
        writeln!(out, "{}  {}  {}  by {}: {}{}", h.hold_id, h.created_at, what, h.actor, h.reason, removed)?;
    }
    writeln!(out, "{} hold(s)", holds.len())?;
    Ok(())
}

/// "308 records", "50 of 308 records (next: --page 2)", "records 301–308 of 308".
fn page_summary(p: &SearchPage) -> String {
    let n = p.hits.len() as u64;
    let noun = if p.total == 1 { "record" } else { "records" };
    let next = p.next.map(|n| format!(" (next: --page {n})")).unwrap_or_default();
    if p.page <= 1 && n == p.total {
        format!("{} {noun}", p.total)
    } else if p.page <= 1 {
        format!("{n} of {} {noun}{next}", p.total)
    } else if n == 0 {
        format!("page {} is past the last of {} {noun}", p.page, p.total)
    } else {
        let first = u64::from(p.page - 1) * u64::from(p.limit) + 1;
        format!("{noun} {first}–{} of {}{next}", first + n - 1, p.total)
    }
}
