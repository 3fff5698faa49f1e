//! A daemon with its HTTP API on a free loopback port, and a tiny HTTP/1.1 client (the
//! tests need nothing more than GET with a header).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `arkisto serve` and the address of its API.
pub struct Daemon {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `arkisto serve` on `data` with the API on 127.0.0.1:0; waits for the address.
pub fn serve(data: &Path, log: PathBuf, env: &[(&str, &str)]) -> Daemon {
    let mut c = Command::new(env!("CARGO_BIN_EXE_arkisto"));
    c.arg("--data-dir").arg(data).arg("serve").env("USER", "daemon");
    c.env("ARKISTO__SERVE__LISTEN", "127.0.0.1:0");
    c.env("ARKISTO__SERVE__FIXITY_SCHEDULE", "off");
    for (k, v) in env {
        c.env(k, v);
    }
    let f = std::fs::File::create(&log).expect("log file");
    let child = c.stdout(Stdio::null()).stderr(f).spawn().expect("start serve");
    let mut d = Daemon { child, addr: String::new(), log };
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(&d.log).unwrap_or_default();
        if let Some(rest) = text.split("api listening on http://").nth(1) {
            d.addr = rest.lines().next().unwrap_or_default().trim().to_string();
            return d;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "serve did not start its API: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// GET `path` with an optional bearer token.
pub fn get(addr: &str, path: &str, token: Option<&str>) -> Resp {
    request(addr, "GET", path, token, None)
}

/// POST a JSON body to `path` with an optional bearer token.
#[allow(dead_code)]
pub fn post(addr: &str, path: &str, token: Option<&str>, body: &serde_json::Value) -> Resp {
    request(addr, "POST", path, token, Some(body))
}

fn request(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&serde_json::Value>) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let typed =
        if body.is_empty() { String::new() } else { format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()) };
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{typed}Connection: close\r\n\r\n{body}").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("status line");
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Resp { status, headers, body: raw[split + 4..].to_vec() }
}
