//! `arkisto export`: packages out.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use arkisto::archive::Archive;
use arkisto::export::{self, ExportError, Lang, PersonRequest};

use super::{AccessArgs, UsageError, access};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum ExportCommand {
    /// Every record of one person from every retired system, as one E-ARK DIP (CSIP 2.2.0):
    /// the original bytes, readable renderings, each record's retention, what is not
    /// included and why, and the person's access report (who used the data, when, why).
    /// For a client's right-of-access request. Logged as a disclosure.
    Person {
        /// The person's identifier (a henkilötunnus or a local client number).
        #[arg(long)]
        subject: String,
        /// Only records created on or after this date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Only records created on or before this date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Only records of this source system.
        #[arg(long)]
        source: Option<String>,
        /// The cover page's language: fi, sv or en.
        #[arg(long, default_value = "fi", value_parser = parse_lang)]
        lang: Lang,
        /// The client's request id (BagIt External-Identifier; default: the package id).
        #[arg(long, value_name = "ID")]
        request: Option<String>,
        /// Hold back the records under this legal hold (repeatable); the cover page lists
        /// them as not included, with the hold's reason.
        #[arg(long, value_name = "HOLD_ID")]
        hold_back: Vec<String>,
        /// List records that fail their digest check on the cover page instead of stopping.
        #[arg(long)]
        skip_damaged: bool,
        /// Wrap the package as a BagIt 1.0 bag (SHA-256 and SHA-512 manifests).
        #[arg(long)]
        bag: bool,
        /// A folder to create, or a FILE.tar (streamed).
        #[arg(long, value_name = "DIR|FILE.tar")]
        out: PathBuf,
        /// Replace an earlier export at --out.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Hand records over to long-term preservation as E-ARK SIPs (CSIP 2.2.0 + SIP 2.2.0),
    /// one package per subject (or per source and year), with PREMIS (ingest events, fixity,
    /// retention) and descriptive metadata. The handover is recorded in the ledger; from
    /// its date the records may be destroyed here through a disposal plan, as
    /// "transferred to preservation".
    Transfer {
        /// Every record kept under this retention rule (e.g. fi-birthday-sample).
        #[arg(long, required_unless_present = "records", conflicts_with = "records")]
        rule: Option<String>,
        /// A file of record ids, one per line (as the National Archives selected them).
        #[arg(long, value_name = "FILE")]
        records: Option<PathBuf>,
        /// One package per subject, or per source system and year.
        #[arg(long, value_enum, default_value = "subject")]
        group: GroupArg,
        /// A folder to create: one folder per package, and transfer.json listing them.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace an earlier transfer's folder at --out.
        #[arg(long)]
        force: bool,
        /// List records that fail their digest check instead of stopping.
        #[arg(long)]
        skip_damaged: bool,
        /// Who hands the records over (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum GroupArg {
    /// One package per subject.
    Subject,
    /// One package per source system and year.
    SourceYear,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    s.parse()
}

pub(crate) async fn run(
    open: impl AsyncFnOnce() -> Result<Archive>,
    cmd: &ExportCommand,
    actor_default: String,
    json: bool,
    out: &mut impl Write,
) -> Result<u8> {
    match cmd {
        ExportCommand::Transfer { rule, records, group, out: dest, force, skip_damaged, actor } => {
            let selection = match (rule, records) {
                (Some(r), _) => export::Selection::Rule(r.clone()),
                (None, Some(f)) => export::Selection::Records(f.clone()),
                (None, None) => return Err(UsageError("give --rule RULE or --records FILE".into()).into()),
            };
            let a = open().await?;
            let req = export::TransferRequest {
                selection,
                group: match group {
                    GroupArg::Subject => export::Grouping::Subject,
                    GroupArg::SourceYear => export::Grouping::SourceYear,
                },
                out: dest.clone(),
                force: *force,
                skip_damaged: *skip_damaged,
            };
            match export::export_transfer(&a, &req, &actor.clone().unwrap_or(actor_default)).await {
                Ok(r) => {
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&r)?)?;
                    } else {
                        writeln!(out, "wrote {} ({} E-ARK SIP(s), transfer {})", r.output.display(), r.packages.len(), r.transfer_id)?;
                        writeln!(out, "  {} record(s) handed over, {} bytes of originals", r.records, r.bytes)?;
                        if !r.already_transferred.is_empty() {
                            writeln!(out, "  {} record(s) left out: handed over by an earlier transfer", r.already_transferred.len())?;
                        }
                        for x in &r.not_included {
                            writeln!(out, "  not included: {} ({})", x.record(), x.why())?;
                        }
                        writeln!(
                            out,
                            "  recorded in the ledger; from {} these records may be destroyed here through `arkisto dispose plan`",
                            r.date
                        )?;
                    }
                    Ok(if r.not_included.is_empty() { 0 } else { 3 })
                }
                Err(e) => failed(e, json, out),
            }
        }
        ExportCommand::Person { subject, from, to, source, lang, request, hold_back, skip_damaged, bag, out: dest, force, access: acc } => {
            let acc = access(acc)?;
            for d in [from, to].into_iter().flatten() {
                if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                    return Err(UsageError(format!("date {d:?} is not YYYY-MM-DD")).into());
                }
            }
            if subject.trim().is_empty() {
                return Err(UsageError("--subject is empty: give the person's identifier".into()).into());
            }
            let a = open().await?;
            let req = PersonRequest {
                subject: subject.trim().to_string(),
                from: from.clone(),
                to: to.clone(),
                source: source.clone(),
                lang: *lang,
                request_id: request.clone(),
                hold_back: hold_back.clone(),
                skip_damaged: *skip_damaged,
                bag: *bag,
                out: dest.clone(),
                force: *force,
            };
            match export::export_person(&a, &req, &acc).await {
                Ok(r) => {
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&r)?)?;
                    } else {
                        writeln!(
                            out,
                            "wrote {} ({} {}, package {})",
                            r.output.display(),
                            if r.bag { "bagged" } else { "E-ARK DIP" },
                            r.container,
                            r.package_id
                        )?;
                        writeln!(
                            out,
                            "  {} record(s), {} bytes of originals; {} access log entries",
                            r.records, r.bytes, r.access_entries
                        )?;
                        if r.not_included.is_empty() {
                            writeln!(out, "  every record found is included")?;
                        } else {
                            writeln!(out, "  not included ({}), listed on the cover page:", r.not_included.len())?;
                            for x in &r.not_included {
                                writeln!(out, "    {}: {}", x.record(), x.why())?;
                            }
                        }
                        writeln!(out, "  SHA-256 {} (of {}); logged as a disclosure", r.sha256, r.sha256_of)?;
                    }
                    Ok(
                        if r.not_included.iter().any(|x| matches!(x, export::Excluded::Damaged { .. } | export::Excluded::Mismatch { .. }))
                        {
                            3
                        } else {
                            0
                        },
                    )
                }
                Err(e) => failed(e, json, out),
            }
        }
    }
}

/// An export that did not happen: a usage error (exit 2), a damaged or contradicted record
/// (exit 3, said on stderr or as JSON), or a failure (exit 1).
fn failed(e: ExportError, json: bool, out: &mut impl Write) -> Result<u8> {
    match e {
        ExportError::Usage(m) => Err(UsageError(m).into()),
        e @ ExportError::Damaged { .. } => {
            if json {
                writeln!(out, "{}", serde_json::json!({ "error": e.to_string(), "code": e.code() }))?;
            } else {
                eprintln!("error: {e}");
            }
            Ok(3)
        }
        e => Err(e.into()),
    }
}
