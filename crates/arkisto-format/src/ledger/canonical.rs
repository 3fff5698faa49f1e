//! The canonical JSON encoding of ledger events (FORMAT.md section 5): RFC 8785 (JCS)
//! restricted to values without floating-point numbers. Keys are sorted by their UTF-16 code
//! units, there is no whitespace, strings use JSON's shortest escapes, integers are written
//! in decimal. A float is refused: its text form does not survive every parser's round trip,
//! which once made `verify` report tampering on untouched archives. Ratios go in integer
//! parts per million instead.
//!
//! Verification never re-encodes: an event's hash covers the bytes as stored. The canonical
//! form only makes those bytes the same whoever writes them.

use serde_json::Value;

/// A value that has no canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger event field {path} holds a floating-point number ({value}); events carry integers only (e.g. parts per million)")]
pub struct FloatInEvent {
    /// Where the float sits, e.g. `detail.trained_ratio`.
    pub path: String,
    /// Its text.
    pub value: String,
}

/// Encode `v` canonically, or say where it holds a float.
pub fn encode(v: &Value) -> Result<String, FloatInEvent> {
    let mut out = String::with_capacity(256);
    write(v, &mut out, &mut String::new())?;
    Ok(out)
}

fn write(v: &Value, out: &mut String, path: &mut String) -> Result<(), FloatInEvent> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(FloatInEvent { path: if path.is_empty() { "(top)".into() } else { path.clone() }, value: n.to_string() });
            }
            out.push_str(&n.to_string());
        }
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                write(item, out, path)?;
                path.truncate(len);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                write(&map[k], out, path)?;
                path.truncate(len);
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A JSON string as RFC 8785 writes it: `"` and `\` escaped, the C0 controls as `\b \t \n
/// \f \r` or `\u00xx` (lower-case hex), everything else as UTF-8.
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_escapes_like_rfc_8785() {
        let v = json!({"b": [1, -2, null, true], "a": "x\"\\\n\u{1}ä€😀", "\u{e000}": 0, "\u{1f600}": 1});
        // U+1F600 is the surrogate pair D83D DE00, which sorts before U+E000 in UTF-16.
        assert_eq!(encode(&v).unwrap(), "{\"a\":\"x\\\"\\\\\\n\\u0001ä€😀\",\"b\":[1,-2,null,true],\"😀\":1,\"\u{e000}\":0}");
    }

    #[test]
    fn refuses_floats_and_names_where() {
        let e = encode(&json!({"detail": {"ratios": [1, 2.5]}})).unwrap_err();
        assert_eq!(e.path, "detail.ratios[1]");
    }

    #[test]
    fn large_integers_are_exact() {
        assert_eq!(encode(&json!([u64::MAX, i64::MIN])).unwrap(), format!("[{},{}]", u64::MAX, i64::MIN));
    }
}
