//! Command-line interface: parsing, output (human text or `--json`), exit codes.
//! Exit codes: 0 success; 1 failure; 2 usage/config error; 3 completed with findings.

mod export;
mod output;
mod store;
mod token;
mod trust;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use arkisto::archive::Archive;
use arkisto::config::{Config, ConfigError, Flags};
use arkisto::index::{SearchQuery, Sort};
use arkisto::ingest::{self, IngestOptions};
use arkisto::retrieve::{self, Access};

/// Archive the records of retiring social and health care systems: validate, compress, hash,
/// retain, store and index them; find, retrieve and verify them later.
#[derive(Parser, Debug)]
#[command(name = "arkisto", version, about, long_about = None, after_help = "Exit codes: 0 success, 1 failure, 2 usage or configuration error, 3 completed but inputs were quarantined or checks found problems.\nDocs: README.md (tour), FORMAT.md (pack format).")]
struct Cli {
    /// Configuration file (TOML). Env vars ARKISTO__SECTION__KEY override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory of the embedded default (store, index, quarantine). Default ./arkisto-data.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Who reads personal data and why (logged in the ledger).
#[derive(Args, Debug, Clone)]
struct AccessArgs {
    /// Why you need this data (required; written to the access log).
    #[arg(long, value_name = "TEXT")]
    purpose: String,
    /// Who you are (default: the OS user).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Archive a batch: a folder of CDA documents, a BagIt bag, one file, or a legacy export
    /// (vendor XML, CSV, attachments) read through a source profile (--profile).
    Ingest {
        /// Folder, bag or file.
        path: PathBuf,
        /// Source system name (default: the batch folder's name).
        #[arg(long)]
        source: Option<String>,
        /// Who runs the ingest (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
        /// Source profile: a name (`<data_dir>/profiles/NAME.toml` or a shipped profile:
        /// kanta-cda, legacy-patient-xml, legacy-social-csv) or a path to a .toml file.
        /// Default: the batch's PROFILE file, else every file is read as CDA.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Find records (logged as an access to personal data).
    Search {
        /// Subject id value, e.g. a henkilötunnus (exact).
        #[arg(long)]
        subject: Option<String>,
        /// Version chain id: shows the chain in version order.
        #[arg(long)]
        set_id: Option<String>,
        /// Document type code.
        #[arg(long = "type", value_name = "CODE")]
        doc_type: Option<String>,
        /// Source system.
        #[arg(long)]
        source: Option<String>,
        /// Created on or after (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Created on or before (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Words in the title or text, in any Finnish or Swedish form (all must occur;
        /// `"a b"` for a phrase, `word*` for words that start so).
        #[arg(long)]
        text: Option<String>,
        /// Order: relevance (the default for --text) or date (created, then record id).
        #[arg(long, value_enum)]
        sort: Option<SortArg>,
        /// Records per page [default: 50; with --subject, all of them].
        #[arg(long)]
        limit: Option<u32>,
        /// Page to show (the output says which comes next).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        page: u32,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Who has used or received a subject's data, and why (the client's right to know).
    AccessLog {
        /// Subject id value (e.g. a henkilötunnus).
        #[arg(long)]
        subject: String,
        /// Only entries on or after this date (YYYY-MM-DD), e.g. two years back.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Show a record's metadata (logged).
    Show {
        /// Record id (digest or 8+ character prefix) or document id.
        id: String,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Write a record's original bytes, verified against its digest (logged).
    Get {
        /// Record id (digest or 8+ character prefix) or document id.
        id: String,
        /// Output file (default: stdout). Written only after verification.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Re-read every pack and check every digest, the index and the ledger.
    Verify {
        /// Who runs the check (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
    /// List ingest runs, or show one run's files.
    Runs {
        /// A run id: list its files and their outcomes.
        run: Option<String>,
        /// Maximum runs listed.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Storage per source: records, original and stored bytes, ratio, dictionaries in use.
    Stats,
    /// Check the retention rule sets in force: each rule must be reachable by some record
    /// (exit 3 names the rules none can reach).
    Policies {
        #[command(subcommand)]
        command: PoliciesCommand,
    },
    /// Facts that arrive after ingest (death dates from a population-register extract).
    Facts {
        #[command(subcommand)]
        command: FactsCommand,
    },
    /// Legal holds: nothing held is ever destroyed.
    Hold {
        #[command(subcommand)]
        command: HoldCommand,
    },
    /// Disposal: plan, approve (another person), execute.
    Dispose {
        #[command(subcommand)]
        command: DisposeCommand,
    },
    /// Retention: why a record is kept as long as it is.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Index maintenance.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Synthetic test data.
    Fixtures {
        #[command(subcommand)]
        command: FixturesCommand,
    },
    /// Object store: probe what it really guarantees.
    Store {
        #[command(subcommand)]
        command: store::StoreCommand,
    },
    /// Packages out: a client's records as an E-ARK package (logged as a disclosure).
    Export {
        #[command(subcommand)]
        command: export::ExportCommand,
    },
    /// HTTP API tokens (roles: operator, records-officer, auditor).
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// S3 Object Lock upkeep.
    Lock {
        #[command(subcommand)]
        command: store::LockCommand,
    },
    /// Make index and store agree: remove interrupted writes, adopt packs the index does not
    /// know (when they hold records it lacks) or remove them (when it has every record in
    /// them already). Each action is logged in the ledger.
    Repair {
        /// Who runs it (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Run as a daemon: archival runs over inbox folders, fixity sweeps and lock renewal on
    /// cron schedules (`[serve]` in the config). SIGTERM or Ctrl-C stops it cleanly; a run
    /// in progress commits what is in flight and the next start archives the rest.
    Serve {
        /// Who the daemon acts as in the ledger (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
        /// Run every job once, now, and exit.
        #[arg(long)]
        once: bool,
    },
    /// The checkpoint signing key (Ed25519, C2SP signed-note).
    Key {
        #[command(subcommand)]
        command: trust::KeyCommand,
    },
    /// Signed checkpoints of the ledger's Merkle tree.
    Checkpoint {
        #[command(subcommand)]
        command: trust::CheckpointCommand,
    },
    /// Prove a record's ingestion (and deletion) events are in the ledger a checkpoint signs,
    /// or that a later checkpoint extends an earlier one (RFC 6962 proofs).
    Prove {
        /// Record id (digest or 8+ character prefix) or document id.
        #[arg(required_unless_present = "consistency")]
        record: Option<String>,
        /// Prove checkpoint NEW extends checkpoint OLD (each a size in the store or a note file).
        #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with = "record")]
        consistency: Vec<String>,
        /// Prove against this checkpoint (a size in the store or a note file; default the newest).
        #[arg(long, value_name = "CHECKPOINT")]
        checkpoint: Option<String>,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand, Debug)]
enum FactsCommand {
    /// Import death dates (CSV with header `subject_id,death_date`, dates YYYY-MM-DD) and
    /// re-evaluate the subjects' records. A bad row refuses the whole file.
    Import {
        /// CSV file.
        file: PathBuf,
        /// Who imports (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum HoldCommand {
    /// Hold a subject's records (also future ones), given records, or what a search finds.
    Add {
        /// Subject id value (e.g. a henkilötunnus).
        #[arg(long, conflicts_with_all = ["record", "text"])]
        subject: Option<String>,
        /// Record ids (digest, prefix or document id); repeatable.
        #[arg(long)]
        record: Vec<String>,
        /// Hold every record whose title or text has these words.
        #[arg(long)]
        text: Option<String>,
        /// Why (e.g. the court case or complaint number).
        #[arg(long)]
        reason: String,
        /// Who (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Remove a hold.
    Remove {
        /// Hold id.
        hold_id: String,
        /// Why it ends.
        #[arg(long)]
        reason: String,
        /// Who (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
    /// List holds.
    List {
        /// Include removed holds.
        #[arg(long)]
        all: bool,
    },
}

/// A plan for the person who approves it: each record with its rule and the facts that make
/// it due, and each record kept back with the reason.
fn print_plan(out: &mut impl Write, p: &arkisto::index::retention::Plan) -> Result<()> {
    let packs: std::collections::HashSet<_> = p.items.iter().map(|i| i.pack_id).collect();
    writeln!(out, "{}: {} records due on {} in {} packs, planned by {}", p.plan_id, p.items.len(), p.as_of, packs.len(), p.planned_by)?;
    if let Some(by) = &p.approved_by {
        writeln!(out, "approved by {by}")?;
    }
    for i in &p.items {
        writeln!(out, "  {}  destroyable from {} under {}", i.record_id, i.disposal, i.rule)?;
        for w in &i.why {
            writeln!(out, "      {w}")?;
        }
    }
    for k in &p.kept {
        writeln!(out, "  kept {}: {}", k.record_id, k.why)?;
    }
    Ok(())
}

/// `arkisto policies …`.
#[derive(Subcommand, Debug)]
enum PoliciesCommand {
    /// Every rule of every rule set in force must be reachable by some record.
    Check,
}

#[derive(Subcommand, Debug)]
enum DisposeCommand {
    /// Plan the destruction of everything due on a date (not held, not permanent, not undetermined).
    Plan {
        /// Due on or before this date (YYYY-MM-DD; default today).
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
        /// Who plans (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Show a plan as the ledger records it: per record, the rule and the facts that make it
    /// due, and what was kept back and why. Read it before you approve.
    Show {
        /// Plan id.
        plan_id: String,
    },
    /// Approve a plan (must be another person than the planner).
    Approve {
        /// Plan id.
        plan_id: String,
        /// Who approves (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Carry out an approved plan. Each record is re-judged from its pack's metadata frame,
    /// the ledger's facts and holds and the policies; anything not due is kept back.
    Execute {
        /// Plan id.
        plan_id: String,
        /// Who (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum RetentionCommand {
    /// What could be destroyed on a date, grouped by pack.
    Due {
        /// YYYY-MM-DD (default today).
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
    },
    /// The rule, the facts, the dates, and why (logged: it reveals facts about the subject).
    Explain {
        /// Record id (digest or 8+ character prefix) or document id.
        id: String,
        #[command(flatten)]
        access: AccessArgs,
    },
}

#[derive(Subcommand, Debug)]
enum IndexCommand {
    /// Recreate the index from the store alone.
    Rebuild {
        /// Who runs it (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum FixturesCommand {
    /// Write a synthetic legacy export (test henkilötunnus values only): Kanta-style CDA
    /// documents, a vendor XML dump or CSV tables, the latter two with real attachment files
    /// and a PROFILE file naming the shipped profile that reads them.
    Generate {
        /// Export format.
        #[arg(long, value_enum, default_value_t = FixtureFormat::Cda)]
        format: FixtureFormat,
        /// Number of documents.
        #[arg(long, default_value_t = 100)]
        records: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Random seed (same seed, same batch).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// `--sort`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SortArg {
    /// Created date, then record id.
    Date,
    /// Best text match first (bm25 / ts_rank_cd), ties by date and record id.
    Relevance,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FixtureFormat {
    /// HL7 CDA R2 documents, one per file.
    Cda,
    /// One vendor XML file (ISO-8859-15) with many records and an attachments folder.
    VendorXml,
    /// CSV tables (Windows-1252) joined by client number, with an attachments folder.
    Csv,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the effective configuration (defaults, file, env and flags merged).
    Show,
}

/// Exit code 2 errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn os_user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into())
}

fn date_arg(d: &Option<String>) -> Result<chrono::NaiveDate> {
    match d {
        None => Ok(chrono::Utc::now().date_naive()),
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| UsageError(format!("date {s:?} is not YYYY-MM-DD")).into()),
    }
}

fn access(a: &AccessArgs) -> Result<Access> {
    if a.purpose.trim().is_empty() {
        return Err(UsageError("--purpose must say why you need the data".into()).into());
    }
    Ok(Access { actor: a.actor.clone().unwrap_or_else(os_user), purpose: a.purpose.trim().to_string() })
}

/// Entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = if e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some() { 2 } else { 1 };
            if json {
                let v = serde_json::json!({ "error": format!("{e:#}") });
                println!("{v}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}

async fn open(cli: &Cli) -> Result<Archive> {
    let config = load_config(cli)?;
    Archive::open(config).await.context("cannot open the archive")
}

fn load_config(cli: &Cli) -> Result<Config> {
    Ok(Config::load(cli.config.as_deref(), std::env::vars(), &Flags { data_dir: cli.data_dir.clone() })?)
}

async fn run(cli: Cli) -> Result<u8> {
    let json = cli.json;
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Ingest { path, source, actor, profile } => {
            let a = open(&cli).await?;
            let progress = !json && std::io::stderr().is_terminal();
            let profile = match profile {
                Some(name) => Some(std::sync::Arc::new(arkisto::sources::profile::resolve(name, &a.config.data_dir)?)),
                None => None,
            };
            let opts =
                IngestOptions { source: source.clone(), actor: actor.clone().unwrap_or_else(os_user), progress, cancel: None, profile };
            let report = ingest::run(&a, path, &opts)
                .await
                .with_context(|| format!("ingest of {} stopped; committed packs stay archived, re-run to finish", path.display()))?;
            output::ingest(&mut out, &report, json)?;
            Ok(match report.status.as_str() {
                "completed" => 0,
                "refused" => 1,
                _ => 3,
            })
        }
        Command::Search { subject, set_id, doc_type, source, from, to, text, sort, limit, page, access: acc } => {
            let acc = access(acc)?;
            for d in [from, to].into_iter().flatten() {
                if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                    bail!(UsageError(format!("date {d:?} is not YYYY-MM-DD")));
                }
            }
            let q = SearchQuery {
                subject: subject.clone(),
                set_id: set_id.clone(),
                doc_type: doc_type.clone(),
                source: source.clone(),
                from: from.clone(),
                to: to.clone(),
                text: text.clone(),
                sort: sort.map(|s| match s {
                    SortArg::Date => Sort::Date,
                    SortArg::Relevance => Sort::Relevance,
                }),
                // A person's records are all listed by default: a right-of-access answer
                // must not miss one.
                limit: limit.unwrap_or(if subject.is_some() { u32::MAX } else { 50 }),
                page: *page,
            };
            if q.subject.is_none()
                && q.set_id.is_none()
                && q.doc_type.is_none()
                && q.source.is_none()
                && q.from.is_none()
                && q.to.is_none()
                && q.text.is_none()
            {
                bail!(UsageError("give at least one of --subject, --set-id, --type, --source, --from, --to, --text".into()));
            }
            let a = open(&cli).await?;
            let page = retrieve::search(&a, &q, &acc).await?;
            output::hits(&mut out, &page, json)?;
            Ok(0)
        }
        Command::AccessLog { subject, since, access: acc } => {
            let acc = access(acc)?;
            if let Some(s) = since {
                date_arg(&Some(s.clone()))?;
            }
            let a = open(&cli).await?;
            let entries = retrieve::access_log(&a, subject, since.as_deref(), &acc).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&entries)?)?;
            } else {
                for e in &entries {
                    writeln!(
                        out,
                        "{}  {:<14} {:<18} {:<13} {}  {}",
                        e.time,
                        e.actor,
                        e.action,
                        e.kind,
                        e.purpose.as_deref().unwrap_or("-"),
                        e.records.len()
                    )?;
                }
                writeln!(out, "{} use(s) of the data of {subject}", entries.len())?;
            }
            Ok(0)
        }
        Command::Show { id, access: acc } => {
            let acc = access(acc)?;
            let a = open(&cli).await?;
            let rec = retrieve::show(&a, id, &acc).await?;
            output::show(&mut out, &rec, json)?;
            Ok(0)
        }
        Command::Get { id, output: dest, access: acc } => {
            let acc = access(acc)?;
            let a = open(&cli).await?;
            // Streamed into a file and verified before it is renamed into place (or copied to
            // stdout): a record of any size takes flat memory, and nothing unverified is shown.
            match dest {
                Some(p) => {
                    let (rec, n) = retrieve::get_to_file(&a, id, &acc, p).await?;
                    if json {
                        writeln!(
                            out,
                            "{}",
                            serde_json::json!({ "record_id": rec.meta.record_id, "output": p, "bytes": n, "verified": true })
                        )?;
                    } else {
                        eprintln!("wrote {n} bytes to {} (SHA-256 verified: {})", p.display(), rec.meta.record_id);
                    }
                }
                None => {
                    let dir = a.config.tmp_dir();
                    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                    let tmp = dir.join(format!("get-{}", std::process::id()));
                    let r = retrieve::get_to_file(&a, id, &acc, &tmp).await;
                    let copied = r.as_ref().ok().map(|_| std::fs::File::open(&tmp).and_then(|mut f| std::io::copy(&mut f, &mut out)));
                    let _ = std::fs::remove_file(&tmp);
                    r?;
                    if let Some(c) = copied {
                        c.context("cannot write the record to stdout")?;
                    }
                }
            }
            Ok(0)
        }
        Command::Verify { actor } => {
            let a = open(&cli).await?;
            let r = arkisto::verify::verify(&a, &actor.clone().unwrap_or_else(os_user)).await?;
            output::verify(&mut out, &r, json)?;
            Ok(if r.findings.is_empty() { 0 } else { 3 })
        }
        Command::Runs { run, limit } => {
            let a = open(&cli).await?;
            match run {
                Some(id) => {
                    let rid = id.parse().map_err(|_| UsageError(format!("{id:?} is not a run id")))?;
                    let files = a.index.run_files(rid).await?;
                    output::run_files(&mut out, &files, json)?;
                }
                None => {
                    let runs = a.index.runs(*limit).await?;
                    output::runs(&mut out, &runs, json)?;
                }
            }
            Ok(0)
        }
        Command::Retention { command: RetentionCommand::Explain { id, access: acc } } => {
            let acc = access(acc)?;
            let a = open(&cli).await?;
            let e = retrieve::explain(&a, id, &acc).await?;
            output::explain(&mut out, &e, json)?;
            Ok(0)
        }
        Command::Retention { command: RetentionCommand::Due { as_of } } => {
            let a = open(&cli).await?;
            let packs = arkisto::disposal::due(&a, date_arg(as_of)?).await?;
            output::due(&mut out, &packs, json)?;
            Ok(0)
        }
        Command::Facts { command: FactsCommand::Import { file, actor } } => {
            let a = open(&cli).await?;
            let r = arkisto::disposal::import_facts(&a, file, &actor.clone().unwrap_or_else(os_user)).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&r)?)?;
            } else {
                writeln!(
                    out,
                    "{} rows: {} subjects with a new death date; retention changed for {} records",
                    r.rows, r.subjects, r.records_changed
                )?;
            }
            Ok(0)
        }
        Command::Hold { command } => {
            let a = open(&cli).await?;
            match command {
                HoldCommand::Add { subject, record, text, reason, actor } => {
                    let mut ids = Vec::new();
                    for r in record {
                        ids.push(retrieve::resolve(&a, r).await?);
                    }
                    if let Some(t) = text {
                        let q = SearchQuery { text: Some(t.clone()), ..Default::default() };
                        ids.extend(retrieve::search_all(&a, &q).await?.into_iter().map(|h| h.record_id));
                    }
                    if text.is_some() && ids.is_empty() && subject.is_none() {
                        bail!(UsageError("the search found no records; nothing is held".into()));
                    }
                    let h = arkisto::disposal::add_hold(&a, subject.clone(), ids, reason, &actor.clone().unwrap_or_else(os_user)).await?;
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&h)?)?;
                    } else {
                        writeln!(
                            out,
                            "{} placed on {}",
                            h.hold_id,
                            h.subject.as_deref().map(|s| format!("subject {s}")).unwrap_or_else(|| format!("{} records", h.records.len()))
                        )?;
                    }
                }
                HoldCommand::Remove { hold_id, reason, actor } => {
                    arkisto::disposal::remove_hold(&a, hold_id, reason, &actor.clone().unwrap_or_else(os_user)).await?;
                    if !json {
                        writeln!(out, "{hold_id} removed")?;
                    }
                }
                HoldCommand::List { all } => {
                    let holds = a.index.holds(*all).await?;
                    output::holds(&mut out, &holds, json)?;
                }
            }
            Ok(0)
        }
        Command::Dispose { command } => {
            let a = open(&cli).await?;
            match command {
                DisposeCommand::Plan { as_of, actor } => {
                    let p = arkisto::disposal::plan(&a, date_arg(as_of)?, &actor.clone().unwrap_or_else(os_user)).await?;
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&p)?)?;
                    } else {
                        print_plan(&mut out, &p)?;
                        writeln!(
                            out,
                            "another person reads it (`arkisto dispose show {0}`) and approves with `arkisto dispose approve {0}`",
                            p.plan_id
                        )?;
                    }
                }
                DisposeCommand::Show { plan_id } => {
                    let (state, _) = a.ledger_state().await?;
                    let Some(p) = state.plans.get(plan_id) else {
                        anyhow::bail!("no plan {plan_id} in the ledger");
                    };
                    if json {
                        writeln!(out, "{}", serde_json::to_string(p)?)?;
                    } else {
                        print_plan(&mut out, p)?;
                    }
                }
                DisposeCommand::Approve { plan_id, actor } => {
                    let p = arkisto::disposal::approve(&a, plan_id, &actor.clone().unwrap_or_else(os_user)).await?;
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&p)?)?;
                    } else {
                        writeln!(out, "{} approved by {}", p.plan_id, p.approved_by.as_deref().unwrap_or("-"))?;
                    }
                }
                DisposeCommand::Execute { plan_id, actor } => {
                    let r = arkisto::disposal::execute(&a, plan_id, &actor.clone().unwrap_or_else(os_user)).await?;
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&r)?)?;
                    } else {
                        writeln!(
                            out,
                            "{}: {} records destroyed; {} packs deleted, {} compacted; {} kept back",
                            r.plan_id,
                            r.disposed,
                            r.packs_deleted,
                            r.packs_compacted,
                            r.kept.len()
                        )?;
                        for (rec, why) in &r.kept {
                            writeln!(out, "  kept {rec}: {why}")?;
                        }
                    }
                }
            }
            Ok(0)
        }
        Command::Policies { command: PoliciesCommand::Check } => {
            let cfg = load_config(&cli)?;
            let policies = cfg.retention.policies()?;
            let reach = arkisto::retention::reach::check(&policies, chrono::Utc::now().date_naive());
            let dead = reach.iter().filter(|r| r.example.is_none()).count();
            if json {
                writeln!(out, "{}", serde_json::json!({ "rules": reach, "unreachable": dead }))?;
            } else {
                for r in &reach {
                    match &r.example {
                        Some(e) => writeln!(out, "ok    {} ({}): e.g. {e}", r.rule, r.ruleset)?,
                        None => writeln!(out, "ERROR {} ({}): no record can reach this rule", r.rule, r.ruleset)?,
                    }
                }
                writeln!(out, "{} rules, {} unreachable", reach.len(), dead)?;
            }
            Ok(if dead == 0 { 0 } else { 3 })
        }
        Command::Stats => {
            let a = open(&cli).await?;
            let stats = a.index.stats().await?;
            output::stats(&mut out, &stats, json)?;
            Ok(0)
        }
        Command::Index { command: IndexCommand::Rebuild { actor } } => {
            let a = open(&cli).await?;
            let r = arkisto::maintain::rebuild::rebuild(&a, &actor.clone().unwrap_or_else(os_user)).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&r)?)?;
            } else {
                writeln!(
                    out,
                    "index rebuilt from {}: {} packs, {} records, {} ledger events",
                    a.store.describe(),
                    r.packs,
                    r.records,
                    r.events
                )?;
                if r.duplicates > 0 {
                    writeln!(out, "{} records were found in more than one pack and indexed once", r.duplicates)?;
                }
                for p in &r.problems {
                    writeln!(out, "problem: {p}")?;
                }
            }
            Ok(if r.problems.is_empty() { 0 } else { 3 })
        }
        Command::Fixtures { command: FixturesCommand::Generate { format, records, out: dir, seed } } if *format != FixtureFormat::Cda => {
            let g = match format {
                FixtureFormat::Csv => arkisto::fixtures::legacy::csv(*records, *seed, dir),
                _ => arkisto::fixtures::legacy::vendor_xml(*records, *seed, dir),
            }
            .with_context(|| format!("cannot write fixtures to {}", dir.display()))?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&g)?)?;
            } else {
                writeln!(
                    out,
                    "wrote {} records, {} subjects and {} attachments ({:.1} MB) to {}; ingest with: arkisto ingest {}",
                    g.records,
                    g.subjects,
                    g.attachments,
                    g.bytes as f64 / 1e6,
                    dir.display(),
                    dir.display()
                )?;
            }
            Ok(0)
        }
        Command::Fixtures { command: FixturesCommand::Generate { records, out: dir, seed, .. } } => {
            let g =
                arkisto::fixtures::generate(*records, *seed, dir).with_context(|| format!("cannot write fixtures to {}", dir.display()))?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&g)?)?;
            } else {
                writeln!(
                    out,
                    "wrote {} documents ({:.1} MB, {} subjects, {} later versions, {} with embedded PDF) to {}",
                    g.records,
                    g.bytes as f64 / 1e6,
                    g.subjects,
                    g.versions,
                    g.pdfs,
                    dir.display()
                )?;
            }
            Ok(0)
        }
        Command::Store { command: store::StoreCommand::Check { actor, lock_seconds } } => {
            let config = load_config(&cli)?;
            let a = Archive::open_unchecked(config).await.context("cannot open the archive")?;
            store::check(&a, &actor.clone().unwrap_or_else(os_user), *lock_seconds, json, &mut out).await
        }
        Command::Lock { command: store::LockCommand::Renew { actor, dry_run, as_of } } => {
            let as_of = date_arg(as_of)?;
            let a = open(&cli).await?;
            store::renew(&a, &actor.clone().unwrap_or_else(os_user), *dry_run, as_of, json, &mut out).await
        }
        Command::Key { command } => {
            let a = open(&cli).await?;
            trust::key(&a, command, os_user(), json, &mut out).await
        }
        Command::Checkpoint { command } => {
            let a = open(&cli).await?;
            trust::checkpoint(&a, command, json, &mut out).await
        }
        Command::Prove { record, consistency, checkpoint } => {
            let a = open(&cli).await?;
            trust::prove(&a, record.as_deref(), consistency, checkpoint.as_deref(), json, &mut out).await
        }
        Command::Export { command } => export::run(async || open(&cli).await, command, os_user(), json, &mut out).await,
        Command::Token { command } => {
            let a = open(&cli).await?;
            token::run(&a, command, os_user(), json, &mut out).await
        }
        Command::Repair { actor } => {
            let a = open(&cli).await?;
            let r = arkisto::maintain::repair::repair(&a, &actor.clone().unwrap_or_else(os_user)).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&r)?)?;
            } else {
                writeln!(
                    out,
                    "{} interrupted write(s) removed; {} orphan pack(s) adopted, {} removed",
                    r.pending_removed,
                    r.adopted.len(),
                    r.removed.len()
                )?;
                for (k, n) in &r.adopted {
                    writeln!(out, "  adopted {k} ({n} records)")?;
                }
                for k in &r.removed {
                    writeln!(out, "  removed {k} (its records are indexed from another pack)")?;
                }
                for p in &r.problems {
                    writeln!(out, "  problem: {p}")?;
                }
            }
            Ok(if r.problems.is_empty() { 0 } else { 3 })
        }
        Command::Serve { actor, once } => {
            let a = open(&cli).await?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
                let _ = tx.send(true);
            });
            arkisto::daemon::serve(a, actor.clone().unwrap_or_else(os_user), rx, *once).await?;
            Ok(0)
        }
        Command::Config { command: ConfigCommand::Show } => {
            let c = load_config(&cli)?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&c)?)?;
            } else {
                write!(out, "{}", toml::to_string(&c).unwrap_or_default())?;
            }
            Ok(0)
        }
    }
}
