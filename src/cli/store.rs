//! `arkisto store check` and `arkisto lock renew`: what the store guarantees, and keeping
//! Object Lock in step with retention.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Subcommand;

use arkisto::archive::{Archive, now};
use arkisto::ledger::{self, NewEvent};
use arkisto::store::probe::{self, CheckReport};

#[derive(Subcommand, Debug)]
pub(crate) enum StoreCommand {
    /// Probe the store: write, read, ranged read, list, no-overwrite, delete, the checksum
    /// algorithms the server accepts, and whether it really enforces Object Lock (a locked
    /// version is written and its deletion attempted). The result goes to the ledger;
    /// `store.require_worm = true` needs a recent check that proved the lock.
    Check {
        /// Who runs the check (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
        /// Retention of the lock probe object, in seconds (it stays that long).
        #[arg(long, default_value_t = 10, value_name = "SECONDS")]
        lock_seconds: u64,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum LockCommand {
    /// Extend every pack's Object Lock to its records' lock horizon as judged today (never
    /// shortening one), and switch S3 legal holds to match arkisto's holds. Run it on a
    /// schedule (the daemon does); logged in the ledger.
    Renew {
        /// Who runs it (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
        /// Only report what would change.
        #[arg(long)]
        dry_run: bool,
        /// Judge lock horizons as of this date (YYYY-MM-DD; default today), e.g. to renew
        /// ahead of a long maintenance window.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
    },
}

pub(crate) async fn check(a: &Archive, actor: &str, lock_seconds: u64, json: bool, out: &mut impl Write) -> Result<u8> {
    let s3 = a.s3().await?;
    let report = probe::check(&*a.store, s3.as_ref(), lock_seconds.max(1)).await;
    let event = NewEvent {
        event_type: ledger::STORE_CHECK.into(),
        actor: actor.into(),
        purpose: None,
        object: a.store.describe(),
        outcome: if report.operations_ok() { "success" } else { "failure" }.into(),
        detail: serde_json::to_value(&report)?,
    };
    a.index.append_events(vec![event], &now()).await.context("record the check in the ledger")?;
    // The ledger segment goes to the store too; a store that cannot take it has said so above.
    let flushed = a.flush_ledger().await;
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        human(&report, out)?;
    }
    if let Err(e) = flushed {
        eprintln!("warning: the check is recorded in the index but not yet in the store's ledger ({e})");
    }
    let worm_missing = a.config.store.require_worm && !report.object_lock_enforced;
    if worm_missing {
        eprintln!("store.require_worm is set and this store does not enforce Object Lock: arkisto will refuse to run on it");
    }
    Ok(if !report.operations_ok() {
        1
    } else if worm_missing {
        3
    } else {
        0
    })
}

fn human(r: &CheckReport, out: &mut impl Write) -> Result<()> {
    writeln!(out, "store: {}", r.store)?;
    for c in &r.operations {
        writeln!(out, "  {:<13} {}  {}", c.name, if c.ok { "ok  " } else { "FAIL" }, c.detail)?;
    }
    if !r.checksums_accepted.is_empty() || r.sha256_verified.is_some() {
        writeln!(
            out,
            "  checksums     accepted: {}",
            if r.checksums_accepted.is_empty() { "none".into() } else { r.checksums_accepted.join(", ") }
        )?;
        match r.sha256_verified {
            Some(true) => writeln!(out, "                a wrong SHA-256 was refused: the server checks what it stores")?,
            Some(false) => writeln!(out, "                a wrong SHA-256 was accepted: the server does not check it")?,
            None => {}
        }
    }
    match r.conditional_write {
        Some(true) => writeln!(out, "  conditional   the server refuses If-None-Match writes onto an existing key")?,
        Some(false) => writeln!(out, "  conditional   the server ignores If-None-Match (arkisto checks with HEAD before every write)")?,
        None => {}
    }
    writeln!(out, "  object lock   {}  {}", if r.object_lock_enforced { "ENFORCED" } else { "not enforced" }, r.object_lock_detail)?;
    if let Some(h) = r.legal_hold {
        writeln!(out, "  legal hold    {}", if h { "set and read back" } else { "not available" })?;
    }
    Ok(())
}

pub(crate) async fn renew(
    a: &Archive,
    actor: &str,
    dry_run: bool,
    as_of: chrono::NaiveDate,
    json: bool,
    out: &mut impl Write,
) -> Result<u8> {
    let r = arkisto::lock::renew(a, actor, dry_run, as_of).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&r)?)?;
    } else {
        let verb = if dry_run { "would extend" } else { "extended" };
        writeln!(
            out,
            "{} packs: {verb} {}, {} already locked long enough; legal hold on {}, off {}",
            r.packs, r.extended, r.unchanged, r.holds_on, r.holds_off
        )?;
        if !r.unlocked.is_empty() {
            writeln!(
                out,
                "{} packs carry no lock on the server (does the bucket have Object Lock? run `arkisto store check`)",
                r.unlocked.len()
            )?;
        }
        for f in &r.failures {
            writeln!(out, "failed: {f}")?;
        }
    }
    Ok(if r.failures.is_empty() { 0 } else { 3 })
}
