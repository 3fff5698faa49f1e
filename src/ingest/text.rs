//! The text indexer: adds records' search text to the index while their packs are still being
//! written, on its own thread, so that full-text indexing (the costliest index work) overlaps
//! parsing and compression instead of piling up behind the last pack. Also hands out row ids.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use tokio::runtime::Handle;

use super::pipeline::IngestError;
use crate::index::{Index, TextRow};

/// Row ids reserved from the index in blocks.
pub struct RowIds {
    index: Arc<dyn Index>,
    handle: Handle,
    next: i64,
    end: i64,
}

impl RowIds {
    /// A new allocator (reserves lazily).
    pub fn new(index: Arc<dyn Index>, handle: Handle) -> Self {
        Self { index, handle, next: 0, end: 0 }
    }

    /// The next free row id.
    pub fn next(&mut self) -> Result<i64, IngestError> {
        if self.next >= self.end {
            const BLOCK: u64 = 4096;
            self.next = self.handle.block_on(self.index.reserve_ids(BLOCK))?;
            self.end = self.next + BLOCK as i64;
        }
        self.next += 1;
        Ok(self.next - 1)
    }
}

/// Handle to the text-indexer thread.
pub struct TextIndexer {
    tx: Option<SyncSender<TextRow>>,
    thread: Option<JoinHandle<Result<(), IngestError>>>,
}

impl TextIndexer {
    /// Start the thread.
    pub fn start(index: Arc<dyn Index>, handle: Handle) -> Self {
        let (tx, rx) = sync_channel::<TextRow>(512);
        let thread = std::thread::spawn(move || {
            let mut batch: Vec<TextRow> = Vec::new();
            let mut bytes = 0;
            for row in rx {
                bytes += row.text.body.len();
                batch.push(row);
                if batch.len() >= 256 || bytes >= 8 << 20 {
                    handle.block_on(index.index_text(&batch))?;
                    batch.clear();
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                handle.block_on(index.index_text(&batch))?;
            }
            Ok(())
        });
        Self { tx: Some(tx), thread: Some(thread) }
    }

    /// Queue one record's text. `false` when the indexer has stopped on an error.
    pub fn send(&self, row: TextRow) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(row).is_ok())
    }

    /// The error the thread stopped on (after `send` failed).
    pub fn stopped_error(&mut self) -> IngestError {
        drop(self.tx.take());
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e,
            _ => IngestError::Io {
                what: "text indexer".into(),
                source: std::io::Error::other("stopped without an error (thread panicked?)"),
            },
        }
    }

    /// Index what is queued; the first error, if any.
    pub fn finish(mut self) -> Result<(), IngestError> {
        drop(self.tx.take());
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err(IngestError::Io { what: "text indexer".into(), source: std::io::Error::other("text indexer thread panicked") }),
        }
    }
}
