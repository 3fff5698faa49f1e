//! A streaming CSV reader that keeps each row's original bytes (they are what is archived)
//! next to its fields (which are decoded for the index). RFC 4180 quoting with a configurable
//! delimiter and quote; CRLF or LF line ends; a row longer than the limit is skipped to its end
//! and reported, never held in memory.

use std::io::{self, BufRead};

/// One row as read.
#[derive(Debug, PartialEq, Eq)]
pub enum Row {
    /// A complete row.
    Ok {
        /// The row's bytes exactly as in the file, line end included.
        raw: Vec<u8>,
        /// Unquoted field bytes (still in the file's encoding).
        fields: Vec<Vec<u8>>,
        /// 1-based line number where the row starts.
        line: u64,
    },
    /// A row that is not valid CSV (the reason says why); `raw` holds its bytes.
    Malformed {
        /// The row's bytes.
        raw: Vec<u8>,
        /// Line where it starts.
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// A row longer than the limit: skipped, only its length is known.
    TooLong {
        /// Line where it starts.
        line: u64,
        /// Its length in bytes.
        len: u64,
    },
}

/// Reads rows one at a time.
pub struct CsvReader<R> {
    r: R,
    delim: u8,
    quote: Option<u8>,
    max_row: usize,
    line: u64,
}

impl<R: BufRead> CsvReader<R> {
    /// A reader with the given delimiter, quote (None: no quoting) and longest row in bytes.
    pub fn new(r: R, delim: u8, quote: Option<u8>, max_row: usize) -> Self {
        Self { r, delim, quote, max_row, line: 1 }
    }

    /// The next row, or None at the end. Blank lines are skipped.
    pub fn next_row(&mut self) -> io::Result<Option<Row>> {
        loop {
            let start_line = self.line;
            let mut raw: Vec<u8> = Vec::new();
            let mut fields: Vec<Vec<u8>> = Vec::new();
            let mut field: Vec<u8> = Vec::new();
            // 0 = field start, 1 = unquoted, 2 = in quotes, 3 = quote seen inside quotes
            let mut state = 0u8;
            let mut len: u64 = 0;
            let mut too_long = false;
            let mut bad: Option<String> = None;
            let mut ended = false;
            loop {
                let buf = self.r.fill_buf()?;
                if buf.is_empty() {
                    break;
                }
                let mut used = 0;
                for &b in buf {
                    used += 1;
                    len += 1;
                    if !too_long {
                        if raw.len() >= self.max_row {
                            too_long = true;
                            raw = Vec::new();
                            fields = Vec::new();
                            field = Vec::new();
                        } else {
                            raw.push(b);
                        }
                    }
                    if b == b'\n' {
                        self.line += 1;
                    }
                    let q = self.quote == Some(b);
                    match state {
                        2 => {
                            if q {
                                state = 3;
                            } else if !too_long {
                                field.push(b);
                            }
                        }
                        3 if q => {
                            if !too_long {
                                field.push(b);
                            }
                            state = 2;
                        }
                        _ => {
                            if b == b'\n' {
                                ended = true;
                                break;
                            } else if b == self.delim {
                                fields.push(std::mem::take(&mut field));
                                state = 0;
                            } else if b == b'\r' {
                                // part of CRLF; a lone CR inside a field is kept below
                                if state == 1 && !too_long {
                                    field.push(b);
                                }
                            } else if q && state == 0 {
                                state = 2;
                            } else {
                                if (q || state == 3) && bad.is_none() {
                                    bad = Some(format!("stray quote character in field {}", fields.len() + 1));
                                }
                                state = 1;
                                if !too_long {
                                    field.push(b);
                                }
                            }
                        }
                    }
                }
                self.r.consume(used);
                if ended {
                    break;
                }
            }
            if len == 0 {
                return Ok(None);
            }
            if too_long {
                return Ok(Some(Row::TooLong { line: start_line, len }));
            }
            if state == 2 {
                return Ok(Some(Row::Malformed { raw, line: start_line, why: "quoted field never closed (truncated file?)".into() }));
            }
            // A CR right before the line end belongs to the line end.
            if field.last() == Some(&b'\r') {
                field.pop();
            }
            fields.push(field);
            if fields.len() == 1 && fields[0].iter().all(|&c| c == b' ' || c == b'\t') && raw.iter().all(|c| c.is_ascii_whitespace()) {
                continue; // blank line
            }
            if let Some(why) = bad {
                return Ok(Some(Row::Malformed { raw, line: start_line, why }));
            }
            return Ok(Some(Row::Ok { raw, fields, line: start_line }));
        }
    }
}

/// Every row of `bytes` (for tests and fuzzing).
pub fn read_all(bytes: &[u8], delim: u8, quote: Option<u8>, max_row: usize) -> Vec<Row> {
    let mut r = CsvReader::new(bytes, delim, quote, max_row);
    let mut out = Vec::new();
    while let Ok(Some(row)) = r.next_row() {
        out.push(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(r: &Row) -> Vec<String> {
        match r {
            Row::Ok { fields, .. } => fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quoting_delimiters_and_line_ends() {
        let rows = read_all(b"a;b;c\r\n1;\"x;y\";\"say \"\"hi\"\"\"\n\n2;\"multi\nline\";3", b';', Some(b'"'), 1 << 20);
        assert_eq!(rows.len(), 3);
        assert_eq!(fields(&rows[0]), ["a", "b", "c"]);
        assert_eq!(fields(&rows[1]), ["1", "x;y", "say \"hi\""]);
        assert_eq!(fields(&rows[2]), ["2", "multi\nline", "3"]);
        match &rows[2] {
            Row::Ok { raw, line, .. } => {
                assert_eq!(raw, b"2;\"multi\nline\";3");
                assert_eq!(*line, 4);
            }
            _ => unreachable!(),
        }
        match &rows[1] {
            Row::Ok { raw, .. } => assert_eq!(raw, b"1;\"x;y\";\"say \"\"hi\"\"\"\n"),
            _ => unreachable!(),
        }
    }

    #[test]
    fn long_rows_and_broken_quotes_are_reported() {
        let mut data = b"a,b\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 5000));
        data.extend(b"\nc,d\n\"open,e\n");
        let rows = read_all(&data, b',', Some(b'"'), 1000);
        assert_eq!(fields(&rows[0]), ["a", "b"]);
        assert_eq!(rows[1], Row::TooLong { line: 2, len: 5001 });
        assert_eq!(fields(&rows[2]), ["c", "d"]);
        assert!(matches!(&rows[3], Row::Malformed { line: 4, .. }), "{:?}", rows[3]);
        let rows = read_all(b"a\"b,c\n", b',', Some(b'"'), 1000);
        assert!(matches!(&rows[0], Row::Malformed { .. }));
    }

    proptest! {
        /// Rows' raw bytes put back together are the input (nothing dropped but blank lines),
        /// and quoting a field round-trips it.
        #[test]
        fn raw_rows_cover_the_input(cells in proptest::collection::vec(proptest::collection::vec("[a-z;\" \n]{0,8}", 1..5), 1..20)) {
            let mut data = Vec::new();
            for row in &cells {
                let line: Vec<String> = row.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
                data.extend(line.join(";").as_bytes());
                data.push(b'\n');
            }
            let rows = read_all(&data, b';', Some(b'"'), 1 << 20);
            let mut joined: Vec<u8> = Vec::new();
            for (r, want) in rows.iter().zip(&cells) {
                prop_assert_eq!(fields(r), want.clone());
                if let Row::Ok { raw, .. } = r { joined.extend(raw); }
            }
            prop_assert_eq!(rows.len(), cells.len());
            prop_assert_eq!(joined, data);
        }
    }
}
