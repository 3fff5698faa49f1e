//! `arkisto-audit`: the auditor's own tool. Given read-only access to an arkisto store, the
//! verifier key the auditor trusts and, optionally, the checkpoint they saved last time, it
//! checks the store without arkisto's index, configuration or honesty (see `audit.rs` for
//! the checks and their codes).
//!
//! Exit codes: 0 clean; 1 the store could not be read; 2 usage; 3 findings.

mod audit;
mod replay;
mod source;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use arkisto_format::note::Verifier;

const HELP: &str = "arkisto-audit: check an arkisto store against a key you trust, without arkisto.

Usage: arkisto-audit --store DIR|s3://BUCKET/PREFIX --key KEY [--checkpoint FILE]
                     [--save FILE] [--json] [--endpoint URL] [--region R]

  --store STORE      the store, read only: a directory laid out as FORMAT.md says (the
                     embedded default's data_dir/store, or a copy of the bucket), or
                     s3://BUCKET/PREFIX (credentials from AWS_ACCESS_KEY_ID and
                     AWS_SECRET_ACCESS_KEY: give the auditor a read-only key)
  --endpoint URL     S3 endpoint (default: AWS); --region R (default us-east-1)
  --key KEY          the verifier key you trust (name+id+key, as `arkisto key show` prints
                     it), or a file holding it
  --checkpoint FILE  the checkpoint you saved last time: the audit proves the store still
                     holds that history (not rolled back, not rewritten)
  --save FILE        write the newest verified checkpoint to FILE, for next time
  --json             the report as JSON on stdout

Checks: AU01 checkpoint signatures; AU02 the saved checkpoint; AU03 ledger segments
against the checkpoints' Merkle roots; AU04 packs and frames against the digests the
ledger committed to; AU05 every record ever ingested is present or destroyed under an
approved plan; AU06 nothing in the store lacks an ingestion event; AU07 dictionaries.

Exit codes: 0 clean, 1 the store could not be read, 2 usage, 3 findings.
";

struct Args {
    store: String,
    endpoint: Option<String>,
    region: String,
    key: String,
    checkpoint: Option<PathBuf>,
    save: Option<PathBuf>,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut store, mut key, mut checkpoint, mut save, mut json) = (None, None, None, None, false);
    let (mut endpoint, mut region) = (None, "us-east-1".to_string());
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--store" => store = Some(val("--store")?),
            "--endpoint" => endpoint = Some(val("--endpoint")?),
            "--region" => region = val("--region")?,
            "--key" => key = Some(val("--key")?),
            "--checkpoint" => checkpoint = Some(PathBuf::from(val("--checkpoint")?)),
            "--save" => save = Some(PathBuf::from(val("--save")?)),
            "--json" => json = true,
            "-h" | "--help" => return Err(String::new()),
            "-V" | "--version" => {
                println!("arkisto-audit {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args { store: store.ok_or("--store is required")?, endpoint, region, key: key.ok_or("--key is required")?, checkpoint, save, json })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let key_text =
        if std::path::Path::new(&args.key).is_file() { std::fs::read_to_string(&args.key).unwrap_or_default() } else { args.key.clone() };
    let key = match Verifier::parse(key_text.trim()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: --key: {e}");
            return ExitCode::from(2);
        }
    };
    let saved = match &args.checkpoint {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: cannot read --checkpoint {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let report = source::open(&args.store, args.endpoint.as_deref(), &args.region)
        .and_then(|d| audit::run(&*d, &args.store, &key, saved.as_deref()));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read the store {}: {e}", args.store);
            return ExitCode::from(1);
        }
    };
    if let (Some(p), Some(v)) = (&args.save, &report.checkpoint)
        && let Err(e) = std::fs::write(p, &v.note)
    {
        eprintln!("error: cannot write {}: {e}", p.display());
        return ExitCode::from(1);
    }
    let mut out = std::io::stdout().lock();
    let printed = if args.json {
        serde_json::to_writer(&mut out, &report).map_err(std::io::Error::other).and_then(|_| writeln!(out))
    } else {
        print_text(&mut out, &report)
    };
    if printed.is_err() {
        return ExitCode::from(1);
    }
    if report.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) }
}

fn print_text(out: &mut impl Write, r: &audit::Report) -> std::io::Result<()> {
    writeln!(out, "store {}", r.store)?;
    match &r.checkpoint {
        Some(c) => writeln!(out, "verified against checkpoint {} of {} events, root {}, signed by {}", c.origin, c.size, c.root, c.key)?,
        None => writeln!(out, "no checkpoint signed by the trusted key")?,
    }
    writeln!(
        out,
        "read {} events, {} checkpoints, {} packs ({} bytes), {} dictionaries; {} records intact, {} destroyed under approved plans",
        r.events, r.checkpoints, r.packs, r.pack_bytes, r.dicts, r.records, r.destroyed
    )?;
    if r.uncovered_events > 0 {
        writeln!(out, "{} events after the newest signed checkpoint are not yet covered by a signature", r.uncovered_events)?;
    }
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    if r.findings.is_empty() {
        writeln!(out, "clean: no findings")?;
    } else {
        writeln!(out, "{} finding(s):", r.findings.len())?;
        for f in &r.findings {
            writeln!(out, "  {} {}: {}", f.code, f.object, f.message)?;
        }
    }
    Ok(())
}
