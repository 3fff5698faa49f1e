//! BagIt (RFC 8493) validation: a bag is checked whole before any of its payload is ingested.
//! Manifests are read strictly (paths may not leave the bag), every payload file must be in
//! every payload manifest, digests and Payload-Oxum must match. `fetch.txt` is refused: arkisto
//! never downloads.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::Digest;

use super::batch::{self, InputFile};
use crate::validate::findings::{Code, Finding};

/// Digest algorithms arkisto can check.
/// Feed `Some(chunk)`; `None` finishes and returns the hex digest.
type DigestFn = Box<dyn FnMut(Option<&[u8]>) -> Option<String>>;

fn hasher(alg: &str) -> Option<DigestFn> {
    fn make<D: Digest + 'static>() -> DigestFn {
        let mut d = Some(D::new());
        Box::new(move |chunk| match chunk {
            Some(c) => {
                if let Some(d) = d.as_mut() {
                    d.update(c);
                }
                None
            }
            None => d.take().map(|d| hex::encode(d.finalize())),
        })
    }
    match alg {
        "sha256" => Some(make::<sha2::Sha256>()),
        "sha512" => Some(make::<sha2::Sha512>()),
        _ => None,
    }
}

fn digest_file(path: &Path, alg: &str) -> io::Result<Option<String>> {
    let Some(mut h) = hasher(alg) else { return Ok(None) };
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h(Some(&buf[..n]));
    }
    Ok(h(None))
}

/// Parse `Label: value` tag lines strictly (no whitespace before the colon).
pub fn tags(text: &str, file: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with([' ', '\t']) {
            // Continuation of the previous value.
            match out.last_mut() {
                Some(last) => last.1.push_str(line.trim()),
                None => return Err(format!("{file} line {}: continuation without a tag", i + 1)),
            }
            continue;
        }
        let Some((label, value)) = line.split_once(':') else {
            return Err(format!("{file} line {}: not a `Label: value` line", i + 1));
        };
        if label.is_empty() || label.ends_with([' ', '\t']) || label.starts_with([' ', '\t']) {
            return Err(format!("{file} line {}: whitespace around the label {label:?}", i + 1));
        }
        out.push((label.to_string(), value.trim().to_string()));
    }
    Ok(out)
}

fn decode_path(p: &str) -> String {
    p.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
}

fn safe_rel(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.contains('\\') && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Parse a manifest file: path → digest. Duplicate paths and unsafe paths refuse the bag.
fn manifest(root: &Path, name: &str, payload: bool) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(root.join(name)).map_err(|e| format!("{name}: {e}"))?;
    parse_manifest(&text, name, payload)
}

/// Parse manifest text (`<digest> <path>` lines) named `name`: path → digest. A path that
/// leaves the bag (or, for a payload manifest, `data/`), or one listed twice, is an error.
pub fn parse_manifest(text: &str, name: &str, payload: bool) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((digest, path)) = line.split_once([' ', '\t']) else {
            return Err(format!("{name} line {}: expected `<digest> <path>`", i + 1));
        };
        let path = decode_path(path.trim_start_matches([' ', '\t']));
        if !safe_rel(&path) || (payload && !path.starts_with("data/")) {
            return Err(format!("{name} line {}: path {path:?} is outside the bag's {}", i + 1, if payload { "payload" } else { "tree" }));
        }
        if m.insert(path.clone(), digest.to_ascii_lowercase()).is_some() {
            return Err(format!("{name}: {path:?} is listed more than once"));
        }
    }
    Ok(m)
}

/// Validate the bag at `root`; returns its payload files (`data/…`), sorted. A bag whose
/// structure is wrong is refused (`Err`). Where only the manifests and the payload disagree
/// (a digest, a file listed or not, Payload-Oxum), `strict` refuses too; otherwise each file
/// concerned carries a V020 finding (quarantined, with a copy kept) and every file whose
/// digests match is still archived: the manifest proves those intact.
pub fn validate(root: &Path, strict: bool) -> Result<Vec<InputFile>, String> {
    let mut problems: BTreeMap<String, Finding> = BTreeMap::new();
    let files = check(root, &mut problems)?;
    if strict && let Some((path, f)) = problems.iter().next() {
        return Err(format!("{path}: {}", f.message));
    }
    let shared: std::sync::Arc<Path> = root.into();
    let mut out: Vec<InputFile> = files
        .into_iter()
        .map(|rel| {
            let p = problems.remove(&rel);
            InputFile::new(&shared, rel, p)
        })
        .collect();
    out.extend(problems.into_iter().map(|(rel, f)| InputFile::new(&shared, rel, Some(f))));
    out.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(out)
}

fn check(root: &Path, problems: &mut BTreeMap<String, Finding>) -> Result<Vec<String>, String> {
    let mut flag = |path: &str, msg: String| {
        problems.entry(path.to_string()).or_insert_with(|| Finding::new(Code::V020, msg));
    };
    let bagit_txt = std::fs::read_to_string(root.join("bagit.txt")).map_err(|e| format!("bagit.txt: {e}"))?;
    let declared = tags(&bagit_txt, "bagit.txt")?;
    let version = declared.iter().find(|(l, _)| l == "BagIt-Version").map(|(_, v)| v.as_str());
    if !matches!(version, Some("1.0" | "0.97" | "0.96")) {
        return Err(format!("bagit.txt: unsupported or missing BagIt-Version {version:?}"));
    }
    if !declared.iter().any(|(l, v)| l == "Tag-File-Character-Encoding" && v.eq_ignore_ascii_case("UTF-8")) {
        return Err("bagit.txt: Tag-File-Character-Encoding must be UTF-8".into());
    }
    if let Ok(f) = std::fs::metadata(root.join("fetch.txt"))
        && f.len() > 0
    {
        return Err("fetch.txt lists remote files; arkisto does not download bag contents".into());
    }
    let data = root.join("data");
    if !data.is_dir() {
        return Err("no data/ payload directory".into());
    }
    let mut payload = Vec::new();
    batch::walk(&root.into(), &data, &mut payload).map_err(|e| format!("data/: {e}"))?;
    if let Some(bad) = payload.iter().find(|f| f.problem.is_some()) {
        return Err(format!("{}: {}", bad.rel_path, bad.problem.as_ref().map(|p| p.message.clone()).unwrap_or_default()));
    }
    let present: BTreeSet<String> = payload.iter().map(|f| f.rel_path.clone()).collect();

    let mut names: Vec<String> = std::fs::read_dir(root)
        .map_err(|e| format!("{}: {e}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let manifests: Vec<&String> = names.iter().filter(|n| n.starts_with("manifest-") && n.ends_with(".txt")).collect();
    if manifests.is_empty() {
        return Err("no payload manifest (manifest-<algorithm>.txt)".into());
    }
    let mut checked = false;
    for name in &manifests {
        let alg = &name["manifest-".len()..name.len() - 4];
        let m = manifest(root, name, true)?;
        for p in present.iter().filter(|p| !m.contains_key(*p)) {
            flag(p, format!("not listed in {name}: its integrity in transit cannot be proven"));
        }
        for p in m.keys().filter(|p| !present.contains(*p)) {
            flag(p, format!("listed in {name} but not in the payload (lost in transit?)"));
        }
        if hasher(alg).is_none() {
            continue;
        }
        checked = true;
        for (path, want) in m.iter().filter(|(p, _)| present.contains(*p)) {
            let got = digest_file(&root.join(path), alg).map_err(|e| format!("{path}: {e}"))?;
            if got.as_deref() != Some(want.as_str()) {
                flag(path, format!("{alg} digest does not match {name}: changed or damaged since the bag was made"));
            }
        }
    }
    if !checked {
        return Err("no payload manifest uses a supported algorithm (sha256, sha512)".into());
    }
    for name in names.iter().filter(|n| n.starts_with("tagmanifest-") && n.ends_with(".txt")) {
        let alg = &name["tagmanifest-".len()..name.len() - 4];
        let m = manifest(root, name, false)?;
        if hasher(alg).is_none() {
            continue;
        }
        for (path, want) in &m {
            if path.starts_with("data/") {
                return Err(format!("{name} lists payload file {path:?}"));
            }
            let got = digest_file(&root.join(path), alg).map_err(|e| format!("{path} (tag file): {e}"))?;
            if got.as_deref() != Some(want.as_str()) {
                return Err(format!("tag file {path}: {alg} digest does not match {name}"));
            }
        }
    }
    if let Ok(info) = std::fs::read_to_string(root.join("bag-info.txt")) {
        let info = tags(&info, "bag-info.txt")?;
        if let Some((_, oxum)) = info.iter().find(|(l, _)| l == "Payload-Oxum") {
            let (octets, count) = oxum.split_once('.').ok_or("bag-info.txt: Payload-Oxum is not `octets.count`")?;
            let total: u64 = payload.iter().map(|f| std::fs::metadata(f.abs_path()).map(|m| m.len()).unwrap_or(0)).sum();
            if octets.parse::<u64>().ok() != Some(total) || count.parse::<usize>().ok() != Some(payload.len()) {
                flag("bag-info.txt", format!("Payload-Oxum {oxum} does not match the payload ({total}.{})", payload.len()));
            }
        }
    }
    Ok(present.into_iter().collect())
}
