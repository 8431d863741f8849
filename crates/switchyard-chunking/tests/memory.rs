//! The chunker's memory bound, measured: chunking and publishing a ~200 MB document holds
//! at most `max_bytes_in_flight` (plus a small slack) beyond the document itself. Its own
//! test binary, because it installs a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchyard_bus::{
    Broker, BusError, BusErrorKind, Delivery, DeliveryTag, Message, SubscriptionConfig,
    SubscriptionStats, TopicStats,
};
use switchyard_chunking::{Chunker, ChunkingConfig};
use switchyard_contracts::{
    Document, DocumentBody, DocumentEvent, DocumentKind, Operation, Registry, SyncType, WordBlock,
};
use switchyard_runtime::{Handler, Incoming, Outcome, Publisher};
use switchyard_state::{StateError, StateStore};

/// Counts the bytes currently allocated and the highest count since the last reset.
struct CountingAllocator;

static CURRENT_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

fn note_growth(bytes: usize) {
    let now = CURRENT_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            note_growth(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            note_growth(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(pointer, layout) };
        CURRENT_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                note_growth(new_size - layout.size());
            } else {
                CURRENT_BYTES.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// A broker that takes messages and drops them, counting: the memory under test is the
/// chunker's, not a storage engine's page cache.
#[derive(Default)]
struct CountingBroker {
    messages: AtomicU64,
    payload_bytes: AtomicU64,
}

fn unsupported() -> BusError {
    BusError::new(
        BusErrorKind::InvalidArgument,
        "not supported by the test broker",
    )
}

#[async_trait]
impl Broker for CountingBroker {
    async fn publish(&self, _: &str, messages: Vec<Message>) -> Result<(), BusError> {
        let bytes: usize = messages.iter().map(|message| message.payload.len()).sum();
        self.messages
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        self.payload_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn ensure_subscription(&self, _: &SubscriptionConfig) -> Result<(), BusError> {
        Ok(())
    }
    async fn fetch(&self, _: &str, _: usize, _: Duration) -> Result<Vec<Delivery>, BusError> {
        Err(unsupported())
    }
    async fn ack(&self, _: &str, _: &[DeliveryTag]) -> Result<(), BusError> {
        Err(unsupported())
    }
    async fn nack(&self, _: &str, _: &[DeliveryTag], _: Duration) -> Result<(), BusError> {
        Err(unsupported())
    }
    async fn release(&self, _: &str, _: &[DeliveryTag]) -> Result<(), BusError> {
        Err(unsupported())
    }
    async fn browse(&self, _: &str, _: u64, _: usize) -> Result<Vec<(u64, Message)>, BusError> {
        Err(unsupported())
    }
    async fn remove(&self, _: &str, _: &[u64]) -> Result<u64, BusError> {
        Err(unsupported())
    }
    async fn topics(&self) -> Result<Vec<TopicStats>, BusError> {
        Ok(Vec::new())
    }
    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
    async fn stats(&self) -> Result<Vec<SubscriptionStats>, BusError> {
        Ok(Vec::new())
    }
}

/// A state store in a map, for the same reason.
#[derive(Default)]
struct MapState(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait]
impl StateStore for MapState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.lock().expect("state lock").get(key).cloned())
    }
    async fn put_many(
        &self,
        keys: &[String],
        value: &[u8],
        _: Option<Duration>,
    ) -> Result<(), StateError> {
        let mut map = self.0.lock().expect("state lock");
        for key in keys {
            map.insert(key.clone(), value.to_vec());
        }
        Ok(())
    }
    async fn contains_many(&self, keys: &[String]) -> Result<Vec<bool>, StateError> {
        let map = self.0.lock().expect("state lock");
        Ok(keys.iter().map(|key| map.contains_key(key)).collect())
    }
    async fn delete_many(&self, keys: &[String]) -> Result<u64, StateError> {
        let mut map = self.0.lock().expect("state lock");
        Ok(keys.iter().filter(|key| map.remove(*key).is_some()).count() as u64)
    }
    async fn ping(&self) -> Result<(), StateError> {
        Ok(())
    }
    async fn purge_expired(&self) -> Result<u64, StateError> {
        Ok(0)
    }
}

const SECTIONS: usize = 2_000;
const PARAGRAPHS_PER_SECTION: usize = 100;
/// One paragraph without any blank line, so that it goes through the windowed sentence
/// splitter.
const HUGE_PARAGRAPH_BYTES: usize = 4 * 1024 * 1024;

/// A Word document of ~200 MB of text: 2,000 sections of 100 paragraphs of ~1 KB, and
/// one 4 MB paragraph. Returns it with its text size.
fn big_document() -> (Document, usize) {
    let sentence = "The travel budget of the team was reviewed, amended and approved again. ";
    let paragraph_sentences = 1_000 / sentence.len() + 1;
    let mut blocks = Vec::with_capacity(SECTIONS * (PARAGRAPHS_PER_SECTION + 1) + 2);
    let mut text_bytes = 0;
    for section in 0..SECTIONS {
        let heading = format!("Section {section}");
        text_bytes += heading.len();
        blocks.push(WordBlock::Heading {
            level: 1,
            text: heading,
        });
        for _ in 0..PARAGRAPHS_PER_SECTION {
            let text = sentence.repeat(paragraph_sentences);
            text_bytes += text.len();
            blocks.push(WordBlock::Paragraph { text });
        }
    }
    let huge = sentence.repeat(HUGE_PARAGRAPH_BYTES / sentence.len());
    text_bytes += huge.len();
    blocks.push(WordBlock::Heading {
        level: 1,
        text: "Appendix".into(),
    });
    blocks.push(WordBlock::Paragraph { text: huge });
    let document = Document {
        id: "big-doc".into(),
        kind: DocumentKind::Word,
        title: "A very long report".into(),
        size_bytes: text_bytes as u64,
        body: Some(DocumentBody::Word { blocks }),
        ..Document::default()
    };
    (document, text_bytes)
}

/// Chunks and publishes a ~200 MB Word document through `Chunker::handle` and checks that
/// the process never held more than `max_bytes_in_flight` plus 2 MiB of slack beyond what
/// it held before, the document included.
///
/// How it is measured: this binary's global allocator counts the bytes currently
/// allocated and the peak since a reset. The document is built, wrapped in the batch and
/// the tokio runtime started first; then the baseline is read (everything live, the
/// document among it) and the peak is reset to it. After `handle` returns, `peak -
/// baseline` is the most the chunker held at any moment on top of the document: fragment
/// texts, envelopes, serialized payloads and messages of the groups in flight, the
/// splitter's window, the state record. The document is freed during `handle`, which can
/// only lower the figure. The broker and the state store are in-memory stand-ins that drop
/// what they get, so that a storage engine's page cache does not count against the
/// chunker; allocations by the runtime's other threads count against it, which makes the
/// bound conservative. Memory the allocator never sees (thread stacks) is not counted.
#[test]
fn chunking_a_200_mb_document_holds_at_most_the_cap_beyond_the_document() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let config = ChunkingConfig {
        max_fragment_chars: 32_000,
        rows_per_fragment: 50,
        max_bytes_in_flight: 8 * 1024 * 1024,
    };
    let broker = Arc::new(CountingBroker::default());
    let publisher = Publisher::new(broker.clone(), Arc::new(Registry::standard()));
    let chunker = Chunker::new(publisher, Arc::new(MapState::default()), config.clone())
        .expect("valid config");

    let (document, document_bytes) = big_document();
    assert!(document_bytes > 200_000_000, "{document_bytes}");
    let event = DocumentEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "test",
        "alice",
        "b1",
        document,
    );
    let batch = vec![Incoming::new(event, "e1")];
    // Warm the blocking pool so that its first thread's setup is not counted.
    runtime
        .block_on(runtime.spawn_blocking(|| ()))
        .expect("blocking pool");

    let baseline = CURRENT_BYTES.load(Ordering::SeqCst);
    PEAK_BYTES.store(baseline, Ordering::SeqCst);
    let started = Instant::now();
    let outcomes = runtime.block_on(chunker.handle(batch));
    let elapsed = started.elapsed();
    let peak = PEAK_BYTES.load(Ordering::SeqCst);
    let held = peak.saturating_sub(baseline);

    assert_eq!(outcomes, [Outcome::Done]);
    let messages = broker.messages.load(Ordering::SeqCst);
    let published = broker.payload_bytes.load(Ordering::SeqCst);
    let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
    println!(
        "document {:.1} MiB; published {messages} fragment events, {:.1} MiB of payloads, in {elapsed:?}; \
         baseline {:.1} MiB, peak {:.1} MiB, held beyond the document {:.2} MiB (cap {:.1} MiB)",
        mib(document_bytes as f64),
        mib(published as f64),
        mib(baseline as f64),
        mib(peak as f64),
        mib(held as f64),
        mib(config.max_bytes_in_flight as f64),
    );
    // Sanity: everything went out, far more than the cap.
    assert!(published as usize > document_bytes, "{published}");
    let slack = 2 * 1024 * 1024;
    assert!(
        held <= config.max_bytes_in_flight + slack,
        "held {held} bytes beyond the document, cap {} + slack {slack}",
        config.max_bytes_in_flight
    );
}
