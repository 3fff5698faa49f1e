//! `arkisto key`, `arkisto checkpoint` and `arkisto prove`: the signing key, the signed
//! checkpoints of the ledger, and proofs an auditor can check with any RFC 6962 verifier.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use arkisto::archive::Archive;
use arkisto::checkpoints;
use arkisto::ledger;
use arkisto_format::checkpoint::Checkpoint;
use arkisto_format::merkle;
use arkisto_format::note::{Note, Signer};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum KeyCommand {
    /// Make the checkpoint signing key (the file `[ledger] signing_key` names, default
    /// `<data_dir>/checkpoint.key`). The key is written there, readable by you only, and never
    /// printed; its verifier key, for auditors, is. Its creation is a ledger event.
    Generate {
        /// The key's name, which is also the origin line of every checkpoint (default
        /// `arkisto/<instance>`), e.g. `arkisto.example-county.fi`.
        #[arg(long)]
        name: Option<String>,
        /// Who (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Print the verifier key (`name+id+key`, as Go's sumdb/note and C2SP signed-note read it).
    Show,
    /// Replace the signing key: a new key is made and announced by a ledger event signed
    /// with the old one, so that an auditor's tool follows the chain from the key it trusts.
    /// The old key file is kept beside it as `<file>.retired-<id>`.
    Rotate {
        /// Who (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum CheckpointCommand {
    /// Write the store's newest checkpoint (after flushing the ledger), for an auditor to
    /// keep: the next audit against it shows whether history was rewritten or rolled back.
    Export {
        /// Write to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List the checkpoints in the store.
    List,
}

pub(crate) async fn key(a: &Archive, cmd: &KeyCommand, actor_default: String, json: bool, out: &mut impl Write) -> Result<u8> {
    let path = a.config.signing_key_path();
    match cmd {
        KeyCommand::Generate { name, actor } => {
            if path.exists() {
                bail!("a signing key exists already at {}: use `arkisto key rotate` to replace it", path.display());
            }
            let name = name.clone().unwrap_or_else(|| a.origin(None));
            let signer = checkpoints::generate_key(&path, &name).with_context(|| format!("cannot make a key at {}", path.display()))?;
            announce(a, &signer, &actor.clone().unwrap_or(actor_default)).await?;
            print_key(out, &signer, &path, json, "written")?;
        }
        KeyCommand::Show => {
            let Some(signer) = a.signer().await? else {
                bail!("no signing key at {}: make one with `arkisto key generate`", path.display());
            };
            if json {
                writeln!(out, "{}", serde_json::json!({ "verifier_key": signer.verifier().to_string(), "file": path }))?;
            } else {
                writeln!(out, "{}", signer.verifier())?;
            }
        }
        KeyCommand::Rotate { actor } => {
            let Some(old) = a.signer().await? else {
                bail!("no signing key at {} to rotate: make one with `arkisto key generate`", path.display());
            };
            // The new key waits beside the old until its announcement (signed by the old) is
            // in the ledger; then it takes the old one's place. A rotation that stops half-way
            // is settled by the next command that signs (Archive::signer).
            let next = checkpoints::next_path(&path);
            let new = checkpoints::generate_key(&next, old.name()).with_context(|| format!("cannot make a key at {}", next.display()))?;
            let e = checkpoints::announcement(&new, Some(&old), &actor.clone().unwrap_or(actor_default))?;
            a.index.append_events(vec![e], &arkisto::archive::now()).await?;
            checkpoints::finish_rotation(&path)?;
            a.flush_ledger().await?;
            print_key(out, &new, &path, json, "rotated")?;
        }
    }
    Ok(0)
}

/// Log the key's creation and checkpoint under it.
async fn announce(a: &Archive, new: &Signer, actor: &str) -> Result<()> {
    let e = checkpoints::announcement(new, None, actor)?;
    a.index.append_events(vec![e], &arkisto::archive::now()).await?;
    a.flush_ledger().await?;
    Ok(())
}

fn print_key(out: &mut impl Write, signer: &Signer, path: &std::path::Path, json: bool, what: &str) -> Result<()> {
    let v = signer.verifier().to_string();
    if json {
        writeln!(out, "{}", serde_json::json!({ "verifier_key": v, "file": path, "state": what }))?;
    } else {
        writeln!(out, "signing key {what}: {} (readable by you only; back it up, it is not shown)", path.display())?;
        writeln!(out, "verifier key, for auditors (`arkisto-audit --key`):\n\n  {v}\n")?;
    }
    Ok(())
}

pub(crate) async fn checkpoint(a: &Archive, cmd: &CheckpointCommand, json: bool, out: &mut impl Write) -> Result<u8> {
    a.flush_ledger().await?;
    a.checkpoint().await?;
    match cmd {
        CheckpointCommand::Export { output } => {
            let Some(c) = checkpoints::latest(&*a.store).await? else {
                bail!("the store holds no checkpoint yet: nothing has been logged");
            };
            let unsigned = c.signed_by.is_empty();
            if unsigned {
                eprintln!(
                    "warning: this is an unsigned tree head: anyone with the store can forge one. Make a key (`arkisto key generate`)."
                );
            }
            match output {
                Some(p) => std::fs::write(p, &c.note).with_context(|| format!("cannot write {}", p.display()))?,
                None if json => {
                    let j = serde_json::json!({ "note": c.note, "origin": c.checkpoint.origin, "size": c.checkpoint.size, "root": B64.encode(c.checkpoint.root.0), "signed_by": c.signed_by });
                    writeln!(out, "{j}")?
                }
                None => write!(out, "{}", c.note)?,
            }
            Ok(if unsigned { 3 } else { 0 })
        }
        CheckpointCommand::List => {
            let mut rows = Vec::new();
            for s in checkpoints::sizes(&*a.store).await? {
                if let Some(c) = checkpoints::read(&*a.store, s).await? {
                    rows.push(c);
                }
            }
            if json {
                let j: Vec<_> = rows.iter().map(|c| serde_json::json!({ "size": c.checkpoint.size, "root": B64.encode(c.checkpoint.root.0), "signed_by": c.signed_by })).collect();
                writeln!(out, "{}", serde_json::Value::Array(j))?;
            } else {
                for c in &rows {
                    let by = if c.signed_by.is_empty() { "unsigned".to_string() } else { format!("signed by {}", c.signed_by.join(", ")) };
                    writeln!(out, "{:>8} events  {}  {by}", c.checkpoint.size, B64.encode(c.checkpoint.root.0))?;
                }
            }
            Ok(0)
        }
    }
}

/// A checkpoint named on the command line: a size in the store, or a note file.
async fn named_checkpoint(a: &Archive, arg: &str) -> Result<(Checkpoint, String)> {
    if let Ok(size) = arg.parse::<u64>() {
        let c = checkpoints::read(&*a.store, size).await?.with_context(|| format!("the store holds no checkpoint of {size} events"))?;
        return Ok((c.checkpoint, c.note));
    }
    let text = std::fs::read_to_string(arg).with_context(|| format!("cannot read checkpoint {arg}"))?;
    let n = Note::parse(&text).with_context(|| format!("{arg} is not a signed note"))?;
    Ok((Checkpoint::parse(&n.text).with_context(|| format!("{arg} is not a checkpoint"))?, text))
}

fn b64s(hs: &[arkisto::digest::Sha256]) -> Vec<String> {
    hs.iter().map(|h| B64.encode(h.0)).collect()
}

/// `arkisto prove RECORD` and `arkisto prove --consistency OLD NEW`.
pub(crate) async fn prove(
    a: &Archive,
    record: Option<&str>,
    consistency: &[String],
    against: Option<&str>,
    json: bool,
    out: &mut impl Write,
) -> Result<u8> {
    let (_, stored) = a.ledger_state().await?;
    a.checkpoint().await?;
    if let Some((seq, why)) = &stored.chain {
        bail!("the store's ledger is broken at event {seq} ({why}): run `arkisto verify`; nothing can be proven against it");
    }
    let leaves = &stored.leaves;
    if let [old, new] = consistency {
        let (oc, _) = named_checkpoint(a, old).await?;
        let (nc, _) = named_checkpoint(a, new).await?;
        if oc.size > nc.size {
            bail!("the first checkpoint ({} events) is newer than the second ({})", oc.size, nc.size);
        }
        for c in [&oc, &nc] {
            c.matches(leaves).map_err(|e| anyhow::anyhow!("checkpoint of {} events: {e}", c.size))?;
        }
        let proof = merkle::consistency_proof(&leaves[..nc.size as usize], oc.size)?;
        merkle::verify_consistency(oc.size, nc.size, &oc.root, &nc.root, &proof)?;
        if json {
            let j = serde_json::json!({ "old": {"size": oc.size, "root": B64.encode(oc.root.0)}, "new": {"size": nc.size, "root": B64.encode(nc.root.0)}, "proof": b64s(&proof), "verified": true });
            writeln!(out, "{j}")?;
        } else {
            writeln!(
                out,
                "checkpoint of {} events ({}) extends checkpoint of {} events ({})",
                nc.size,
                B64.encode(nc.root.0),
                oc.size,
                B64.encode(oc.root.0)
            )?;
            writeln!(out, "consistency proof (RFC 6962, base64, {} hashes):", proof.len())?;
            for h in b64s(&proof) {
                writeln!(out, "  {h}")?;
            }
        }
        return Ok(0);
    }
    let Some(record) = record else { bail!("name a record, or --consistency OLD NEW") };
    // A full digest needs no index; a prefix or a document id is resolved by it, destroyed
    // records included (their history stays provable).
    let id = match record.parse::<arkisto::digest::Sha256>() {
        Ok(d) => arkisto::ids::RecordId(d),
        Err(_) => match arkisto::retrieve::resolve(a, record).await {
            Ok(id) => id,
            Err(arkisto::retrieve::RetrieveError::Disposed { record, .. }) => record,
            Err(e) => return Err(e.into()),
        },
    };
    let (cp, note) = match against {
        Some(arg) => named_checkpoint(a, arg).await?,
        None => {
            let c = checkpoints::latest(&*a.store).await?.context("the store holds no checkpoint yet")?;
            (c.checkpoint, c.note)
        }
    };
    cp.matches(leaves).map_err(|e| anyhow::anyhow!("checkpoint of {} events: {e}", cp.size))?;
    let tree = &leaves[..cp.size as usize];
    let mut proofs = Vec::new();
    let mut pack = None;
    for (i, e) in stored.events.iter().enumerate().take(tree.len()) {
        let role = match e.event_type.as_str() {
            t if (t == ledger::INGESTION || t == ledger::COMPACTION || t == ledger::REPAIR) && commits(e, &id) => {
                pack = Some((e.detail.get("key").cloned(), e.detail.get("pack_sha256").cloned()));
                if proofs.is_empty() { "ingestion" } else { t }
            }
            ledger::DELETION if e.object == id.to_string() => "deletion",
            _ => continue,
        };
        let p = merkle::inclusion_proof(tree, i as u64)?;
        merkle::verify_inclusion(i as u64, cp.size, &tree[i], &p, &cp.root)?;
        proofs.push((role, e, tree[i], p));
    }
    if proofs.is_empty() {
        bail!("no event of the first {} commits record {id}: it may be newer than the checkpoint", cp.size);
    }
    let (key, sha) = pack.unwrap_or_default();
    if json {
        let events: Vec<_> = proofs
            .iter()
            .map(|(role, e, leaf, p)| serde_json::json!({ "role": role, "seq": e.seq, "leaf_index": e.seq - 1, "line": e.line().unwrap_or_default(), "leaf_hash": B64.encode(leaf.0), "proof": b64s(p) }))
            .collect();
        let j = serde_json::json!({ "record": id, "pack": {"key": key, "sha256": sha}, "checkpoint": {"origin": cp.origin, "size": cp.size, "root": B64.encode(cp.root.0), "note": note}, "events": events, "verified": true });
        writeln!(out, "{j}")?;
    } else {
        writeln!(out, "record {id}")?;
        writeln!(
            out,
            "pack {} sha256 {}",
            key.and_then(|k| k.as_str().map(String::from)).unwrap_or_default(),
            sha.and_then(|s| s.as_str().map(String::from)).unwrap_or_default()
        )?;
        writeln!(out, "checkpoint: {} events, root {} ({})\n", cp.size, B64.encode(cp.root.0), cp.origin)?;
        for (role, e, leaf, p) in &proofs {
            writeln!(out, "{role} event {} (leaf index {}), leaf hash {}", e.seq, e.seq - 1, B64.encode(leaf.0))?;
            writeln!(out, "  event bytes: {}", e.line().unwrap_or_default())?;
            writeln!(out, "  inclusion proof (RFC 6962, base64, {} hashes):", p.len())?;
            for h in b64s(p) {
                writeln!(out, "    {h}")?;
            }
        }
        writeln!(out, "\nverified: each leaf hash is SHA-256(0x00 ‖ event bytes) and its proof leads to the checkpoint's root")?;
    }
    Ok(0)
}

/// Whether a pack event lists the record.
fn commits(e: &ledger::Event, id: &arkisto::ids::RecordId) -> bool {
    let s = id.to_string();
    e.detail.get("records").and_then(|r| r.as_array()).is_some_and(|r| r.iter().any(|v| v.as_str() == Some(&s)))
}
