//! A store in an S3 bucket, read directly (GET and LIST only). Credentials come from
//! `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; give the auditor a read-only key.

use std::io::{self, Read};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};

use super::{Object, Source};

/// A bucket and prefix.
pub struct Bucket {
    rt: tokio::runtime::Runtime,
    client: Client,
    bucket: String,
    prefix: String,
}

fn err(what: &str, key: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("S3 {what} {key}: {e}"))
}

impl Bucket {
    /// `spec` is `bucket/prefix` (the prefix as arkisto's `store.prefix`, e.g. `county-a/`).
    pub fn open(spec: &str, endpoint: Option<&str>, region: &str) -> io::Result<Self> {
        let (bucket, prefix) = spec.split_once('/').unwrap_or((spec, ""));
        if bucket.is_empty() {
            return Err(io::Error::other("s3://BUCKET/PREFIX: the bucket is missing"));
        }
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) else {
            return Err(io::Error::other("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a read-only key) to read a bucket"));
        };
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .credentials_provider(Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "arkisto-audit"));
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(Self { rt, client: Client::from_conf(b.build()), bucket: bucket.to_string(), prefix: prefix.to_string() })
    }

    fn get(&self, key: &str, range: Option<String>) -> io::Result<aws_sdk_s3::primitives::ByteStream> {
        let full = format!("{}{key}", self.prefix);
        let out = self.rt.block_on(self.client.get_object().bucket(&self.bucket).key(&full).set_range(range).send());
        out.map(|o| o.body).map_err(|e| err("get", &full, aws_sdk_s3::error::DisplayErrorContext(e)))
    }
}

impl Source for Bucket {
    fn list(&self, prefix: &str) -> io::Result<Vec<Object>> {
        let full = format!("{}{prefix}", self.prefix);
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .rt
                .block_on(self.client.list_objects_v2().bucket(&self.bucket).prefix(&full).set_continuation_token(token.take()).send())
                .map_err(|e| err("list", &full, aws_sdk_s3::error::DisplayErrorContext(e)))?;
            for o in page.contents() {
                if let Some(k) = o.key().and_then(|k| k.strip_prefix(self.prefix.as_str())) {
                    out.push(Object { key: k.to_string(), size: o.size().unwrap_or(0).max(0) as u64 });
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn read_all(&self, key: &str) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open_read(key)?.read_to_end(&mut v)?;
        Ok(v)
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut v = Vec::new();
        Body { rt: &self.rt, body: self.get(key, Some(format!("bytes={offset}-{}", offset + len - 1)))?, buf: Vec::new(), pos: 0 }
            .read_to_end(&mut v)?;
        if v.len() as u64 != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{key}: short read")));
        }
        Ok(v)
    }

    fn open_read(&self, key: &str) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(Body { rt: &self.rt, body: self.get(key, None)?, buf: Vec::new(), pos: 0 }))
    }
}

/// An object's body as a blocking reader, one chunk at a time (flat memory).
struct Body<'a> {
    rt: &'a tokio::runtime::Runtime,
    body: aws_sdk_s3::primitives::ByteStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rt.block_on(self.body.next()) {
                Some(Ok(b)) => {
                    self.buf.clear();
                    self.buf.extend_from_slice(&b);
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(io::Error::other(format!("S3 body: {e}"))),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
