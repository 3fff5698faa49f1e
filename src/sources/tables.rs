//! CSV exports: the subject table first (its rows are records too, and the records table
//! joins to them by key), then the records table, each row archived byte-exact.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;

use super::{Ctx, Part, Unit, csv};
use crate::digest::Sha256;
use crate::formats::xml::Encoding;
use crate::ids::RecordId;
use crate::validate::findings::{Code, Finding, Severity};
use crate::validate::mapped::Mapped;

impl Ctx<'_> {
    pub(super) fn csv_tables(&mut self) {
        let Some(cfg) = self.profile.csv.clone() else { return };
        let enc = self.profile.encoding().unwrap_or(Encoding::Utf8);
        let max_row = (cfg.max_row_kib << 10) as usize;
        let delim = cfg.delimiter.as_bytes().first().copied().unwrap_or(b',');
        let quote = cfg.quote.as_bytes().first().copied();
        // Subjects first: their rows are records too, and the records table joins to them.
        let mut subjects: HashMap<String, Mapped> = HashMap::new();
        if let Some(st) = &cfg.subjects {
            let st = st.clone();
            self.table(&st.file, enc, delim, quote, max_row, |header, row, _| {
                let col = |c: &str| {
                    header.iter().position(|h| h == c).and_then(|i| row.get(i)).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
                };
                let m = Mapped {
                    subject_id: col(&st.subject_id),
                    birth_date: st.birth_date.as_deref().and_then(col),
                    title: Some("subject".into()),
                    ..Default::default()
                };
                if let Some(k) = col(&st.key) {
                    subjects.insert(k, m.clone());
                }
                (m, vec![], vec![])
            });
        }
        let fm = self.profile.fields.clone();
        let att = self.profile.attachments.clone();
        let join = cfg.subjects.clone();
        let subjects_file = join.as_ref().map(|j| j.file.clone()).unwrap_or_default();
        self.table(&cfg.records, enc, delim, quote, max_row, |header, row, _| {
            let cell = |c: &str| header.iter().position(|h| h == c).and_then(|i| row.get(i)).cloned();
            let col = |c: &Option<String>| c.as_deref().and_then(cell).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
            let mut m = fm.resolve(cell);
            let mut findings = Vec::new();
            if let Some(j) = &join {
                match col(&Some(j.foreign_key.clone())) {
                    Some(k) => match subjects.get(&k) {
                        Some(s) => {
                            m.subject_id = m.subject_id.or(s.subject_id.clone());
                            m.birth_date = m.birth_date.or(s.birth_date.clone());
                        }
                        None => findings.push(
                            Finding::new(Code::V017, format!("{} {k:?} is not in {subjects_file}", j.foreign_key))
                                .at(j.foreign_key.clone())
                                .with_severity(Severity::Warning),
                        ),
                    },
                    None => findings.push(
                        Finding::new(Code::V017, format!("no {} on this row: the subject cannot be joined", j.foreign_key))
                            .with_severity(Severity::Warning),
                    ),
                }
            }
            let mut refs = Vec::new();
            if let Some(a) = &att {
                let declared = col(&a.declared_type);
                for r in col(&a.file).unwrap_or_default().split(a.separator.as_str()).map(str::trim).filter(|r| !r.is_empty()) {
                    refs.push((r.to_string(), declared.clone()));
                }
            }
            (m, findings, refs)
        });
    }

    /// Read one table: the header row names the columns; each row becomes a Part (and its
    /// attachments); `map` gives the row's values, findings and attachment references.
    fn table(
        &mut self,
        name: &str,
        enc: Encoding,
        delim: u8,
        quote: Option<u8>,
        max_row: usize,
        mut map: impl FnMut(&[String], &[String], u64) -> (Mapped, Vec<Finding>, Vec<(String, Option<String>)>),
    ) {
        let Some(abs) = self.take(name) else { return };
        let file = match File::open(&abs) {
            Ok(f) => f,
            Err(e) => return self.problem(name, None, Finding::new(Code::V013, format!("cannot read: {}", e.kind()))),
        };
        if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            return self.problem(name, Some(abs), Finding::new(Code::V009, "zero-byte table"));
        }
        let mut r = csv::CsvReader::new(BufReader::with_capacity(256 << 10, file), delim, quote, max_row);
        let decode = |b: &[u8]| -> Result<String, usize> { enc.decode(b).map(|c| c.into_owned()) };
        let header: Vec<String> = match r.next_row() {
            Ok(Some(csv::Row::Ok { fields, .. })) => {
                let mut h = Vec::new();
                for f in &fields {
                    match decode(f) {
                        Ok(s) => h.push(s.trim().trim_start_matches('\u{FEFF}').to_string()),
                        Err(_) => {
                            return self.problem(
                                name,
                                Some(abs),
                                Finding::new(Code::V010, format!("header row is not valid {}", enc.label())),
                            );
                        }
                    }
                }
                h
            }
            Ok(_) => return self.problem(name, Some(abs), Finding::new(Code::V019, "no header row (the first row must name the columns)")),
            Err(e) => return self.problem(name, None, Finding::new(Code::V013, format!("cannot read: {}", e.kind()))),
        };
        let media_type = format!("text/csv; charset={}; header=absent", enc.label());
        let mut rows = 0u64;
        loop {
            if self.stopped {
                return;
            }
            let row = match r.next_row() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) => {
                    let f = Finding::new(Code::V013, format!("read failed after {rows} rows: {}", e.kind()));
                    return self.problem(name, Some(abs), f);
                }
            };
            rows += 1;
            let (raw, fields, line) = match row {
                csv::Row::TooLong { line, len } => {
                    let f = Finding::new(Code::V012, format!("row of {len} bytes is over the {max_row}-byte limit (csv.max_row_kib)"))
                        .at(format!("line {line}"));
                    self.problem(&format!("{name}#line={line}"), None, f);
                    continue;
                }
                csv::Row::Malformed { raw, line, why } => {
                    let f = Finding::new(Code::V018, why).at(format!("line {line}"));
                    self.send(Unit::Problem { path: format!("{name}#line={line}"), abs: None, bytes: Some(raw), findings: vec![f] });
                    continue;
                }
                csv::Row::Ok { raw, fields, line } => (raw, fields, line),
            };
            let path = format!("{name}#line={line}");
            if fields.len() != header.len() {
                let f = Finding::new(Code::V018, format!("{} fields where the header has {}", fields.len(), header.len()))
                    .at(format!("line {line}"));
                self.send(Unit::Problem { path, abs: None, bytes: Some(raw), findings: vec![f] });
                continue;
            }
            let mut values = Vec::with_capacity(fields.len());
            let mut bad = None;
            for (i, f) in fields.iter().enumerate() {
                match decode(f) {
                    Ok(s) => values.push(s),
                    Err(off) => {
                        bad = Some(
                            Finding::new(Code::V010, format!("field {} is not valid {} (byte {off})", i + 1, enc.label()))
                                .at(format!("line {line}")),
                        );
                        break;
                    }
                }
            }
            if let Some(f) = bad {
                self.send(Unit::Problem { path, abs: None, bytes: Some(raw), findings: vec![f] });
                continue;
            }
            let (fields_m, findings, refs) = map(&header, &values, line);
            let text_cols = &self.profile.fields.text;
            let text: Vec<&str> = header
                .iter()
                .zip(&values)
                .filter(|(h, _)| text_cols.is_empty() || text_cols.contains(h))
                .map(|(_, v)| v.as_str())
                .collect();
            // The digest is needed here only to link attachments; otherwise a worker takes it.
            let id = (!refs.is_empty()).then(|| RecordId(Sha256::of(&raw)));
            let mut units = vec![Unit::Part(Part {
                path,
                bytes: raw,
                id,
                format: "csv-row",
                media_type: media_type.clone(),
                fields: fields_m.clone(),
                text: text.join(" "),
                findings,
            })];
            if let Some(id) = id {
                for (f, declared) in refs {
                    units.push(self.attachment(&f, declared, id, &fields_m));
                }
            }
            for u in units {
                self.send(u);
            }
        }
        self.send(Unit::Split { path: name.into(), records: rows });
    }
}
