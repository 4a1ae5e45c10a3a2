//! The structured events (`tracing`): open reports the torn tail it cut,
//! flush and compaction report start and end, a freeze reports the WAL
//! rotation, poisoning and close report themselves, and reads and writes
//! that need no maintenance emit nothing at all.
//!
//! Events are captured by a `tracing-subscriber` layer over `Registry`,
//! installed once as the global default, which keeps each thread's events
//! apart (tests run in parallel). Not a per-test `with_default`: a callsite
//! registered by one test's thread while another test installs its
//! subscriber can keep a stale "never" interest, and its event is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;
use std::sync::{Arc, Once};

use lsm_core::WriteBatch;
use lsm_engine::{Engine, LsmConfig};
use lsm_wal::SyncMode;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::Registry;

/// One captured event: its name, level and fields (as text).
#[derive(Clone, Debug)]
struct Captured {
    name: &'static str,
    level: Level,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("{} has no field {name}: {self:?}", self.name))
    }
    fn u64(&self, name: &str) -> u64 {
        self.field(name).parse().unwrap()
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

thread_local! {
    /// This thread's captured events while a `Capture::run` is on.
    static CAPTURED: RefCell<Option<Vec<Captured>>> = const { RefCell::new(None) };
}

/// The global layer: hands each event to its thread's capture, if on.
struct ThreadCapture;

impl<S: Subscriber> Layer<S> for ThreadCapture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        CAPTURED.with(|captured| {
            if let Some(events) = captured.borrow_mut().as_mut() {
                let mut fields = Fields::default();
                event.record(&mut fields);
                events.push(Captured {
                    name: event.metadata().name(),
                    level: *event.metadata().level(),
                    fields: fields.0,
                });
            }
        });
    }
}

#[derive(Default)]
struct Capture(RefCell<Vec<Captured>>);

impl Capture {
    /// Runs `f` with every event of this thread captured (all levels).
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            tracing::subscriber::set_global_default(Registry::default().with(ThreadCapture))
                .unwrap();
        });
        CAPTURED.with(|captured| *captured.borrow_mut() = Some(Vec::new()));
        let result = f();
        let events = CAPTURED.with(|captured| captured.borrow_mut().take());
        self.0.borrow_mut().extend(events.unwrap_or_default());
        result
    }
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// The one event called `name`.
fn one<'a>(events: &'a [Captured], name: &str) -> &'a Captured {
    let found: Vec<&Captured> = events.iter().filter(|e| e.name == name).collect();
    assert_eq!(found.len(), 1, "{name} in {events:#?}");
    found[0]
}

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 << 10)
        .wal_sync(SyncMode::Never)
        .num_levels(4)
        .l0_trigger(64)
        .block_cache_bytes(0)
        .build()
        .unwrap()
}

fn put(engine: &Engine, key: &str, value: &str) {
    let mut batch = WriteBatch::new();
    batch.put(key.as_bytes(), value.as_bytes());
    engine.write(&batch).unwrap();
}

fn files_with(dir: &Path, extension: &str) -> Vec<u64> {
    let mut numbers: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .map(|path| path.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Reopening after a torn append: `lsm.recovery.torn_tail` (warn) names
/// the segment, the offset the good records end at and the bytes cut, and
/// `lsm.open` (info) reports what was replayed.
#[test]
fn open_reports_the_torn_tail_it_cut_and_what_it_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    for i in 0..5 {
        put(&engine, &format!("k{i}"), "v");
    }
    engine.close().unwrap();
    drop(engine);
    let segment = *files_with(dir.path(), "wal").last().unwrap();
    let path = lsm_wal::segment_path(dir.path(), segment);
    let good_bytes = std::fs::metadata(&path).unwrap().len();
    // A record frame cut short: fewer bytes than a record header.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0x5a; 5]);
    std::fs::write(&path, bytes).unwrap();

    let capture = Capture::default();
    let engine = capture.run(|| Engine::open(config(dir.path())).unwrap());
    let events = capture.take();

    let torn = one(&events, "lsm.recovery.torn_tail");
    assert_eq!(torn.level, Level::WARN);
    assert_eq!(torn.u64("segment"), segment);
    assert_eq!(torn.u64("offset"), good_bytes);
    assert_eq!(torn.u64("bytes"), 5);
    assert_eq!(torn.field("path"), path.display().to_string());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_bytes, "cut");

    let open = one(&events, "lsm.open");
    assert_eq!(open.level, Level::INFO);
    assert_eq!(open.u64("last_seq"), 5);
    assert_eq!(open.u64("flushed_seq"), 0);
    assert_eq!(open.u64("replayed_records"), 5);
    assert_eq!(open.u64("replayed_last_seq"), 5);
    assert_eq!(open.u64("replayed_entries"), 5);
    assert_eq!(open.u64("last_replayed_segment"), segment);
    assert_eq!(open.field("repaired_damage"), "true");
    assert_eq!(open.field("options_written"), "false");
    assert!(open.u64("wal_segment") > segment);
    assert_eq!(engine.last_seq(), 5);

    // Nothing to repair the next time: no warning.
    engine.close().unwrap();
    drop(engine);
    let engine = capture.run(|| Engine::open(config(dir.path())).unwrap());
    let events = capture.take();
    assert!(
        events
            .iter()
            .all(|e| !matches!(e.level, Level::WARN | Level::ERROR)),
        "{events:#?}"
    );
    assert_eq!(one(&events, "lsm.open").field("repaired_damage"), "false");
    drop(engine);
}

/// A new store writes OPTIONS and says so.
#[test]
fn open_of_a_new_store_reports_options_written() {
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::default();
    let engine = capture.run(|| Engine::open(config(dir.path())).unwrap());
    let events = capture.take();
    let open = one(&events, "lsm.open");
    assert_eq!(open.field("options_written"), "true");
    assert_eq!(open.u64("replayed_records"), 0);
    assert_eq!(open.u64("num_levels"), 4);
    assert_eq!(
        one(&events, "lsm.recovery.options_written").u64("num_levels"),
        4
    );
    drop(engine);
}

/// A freeze rotates the WAL (`lsm.wal.rotate`), a flush reports start
/// and end with the table it wrote, a compaction reports start and end,
/// and close reports itself. All debug level but open/close (info).
#[test]
fn maintenance_emits_start_and_end_events() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(config(dir.path())).unwrap());
    let mut freezer = engine.freezer().unwrap();
    let capture = Capture::default();

    for round in 0..2 {
        for i in 0..10 {
            put(&engine, &format!("k{i:02}"), &format!("v{round}"));
        }
        let segment_before = *files_with(dir.path(), "wal").last().unwrap();
        let tables_before = files_with(dir.path(), "sst");
        capture.run(|| {
            assert!(freezer.freeze(true, |_, _| {}).unwrap());
            assert!(engine.flush_oldest_immutable().unwrap());
        });
        let events = capture.take();

        let rotate = one(&events, "lsm.wal.rotate");
        assert_eq!(rotate.level, Level::DEBUG);
        assert_eq!(rotate.u64("old_segment"), segment_before);
        assert_eq!(rotate.u64("new_segment"), segment_before + 1);
        assert_eq!(rotate.field("reason"), "requested");

        let start = one(&events, "lsm.flush.start");
        assert_eq!(start.level, Level::DEBUG);
        assert_eq!(start.u64("entries"), 10);
        assert!(start.u64("memtable_bytes") > 0);
        let end = one(&events, "lsm.flush.end");
        assert_eq!(end.level, Level::DEBUG);
        let new_tables: Vec<u64> = files_with(dir.path(), "sst")
            .into_iter()
            .filter(|n| !tables_before.contains(n))
            .collect();
        assert_eq!(new_tables.len(), 1);
        assert_eq!(end.u64("table"), new_tables[0]);
        let table_path = dir
            .path()
            .join(lsm_manifest::table_file_name(new_tables[0]));
        assert_eq!(
            end.u64("table_bytes"),
            std::fs::metadata(table_path).unwrap().len()
        );
        assert_eq!(end.u64("wal_segment"), segment_before + 1);
        let start_at = events.iter().position(|e| e.name == "lsm.flush.start");
        let end_at = events.iter().position(|e| e.name == "lsm.flush.end");
        assert!(start_at < end_at, "{events:#?}");
    }

    let reservation = engine.reserve_compaction(Some(0)).unwrap();
    let report = capture.run(|| engine.run_reserved_compaction(reservation).unwrap());
    let events = capture.take();
    let start = one(&events, "lsm.compaction.start");
    assert_eq!(start.level, Level::DEBUG);
    assert_eq!((start.u64("level"), start.u64("output_level")), (0, 1));
    assert_eq!(start.u64("inputs"), 2);
    assert_eq!(start.field("trivial_move"), "false");
    let end = one(&events, "lsm.compaction.end");
    assert_eq!(end.u64("bytes_read"), report.bytes_read);
    assert_eq!(end.u64("bytes_written"), report.bytes_written);
    assert_eq!(end.u64("outputs"), 1);
    assert_eq!(end.field("trivial_move"), "false");

    drop(freezer);
    capture.run(|| engine.close().unwrap());
    let events = capture.take();
    let close = one(&events, "lsm.close");
    assert_eq!(close.level, Level::INFO);
    assert_eq!(close.u64("last_seq"), 20);
    assert!(!close.fields.contains_key("error"), "{close:?}");
}

/// The first poisoning is reported with its reason; a later one is not.
#[test]
fn poisoning_is_reported_once_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    let capture = Capture::default();
    capture.run(|| {
        engine.poison("disk on fire".to_string());
        engine.poison("second".to_string());
    });
    let events = capture.take();
    let poisoned = one(&events, "lsm.poisoned");
    assert_eq!(poisoned.level, Level::INFO);
    assert_eq!(poisoned.field("reason"), "disk on fire");
}

/// Writes that do not fill the memtable and reads emit nothing, at any
/// level: the per-operation path has no events.
#[test]
fn reads_and_writes_emit_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    let capture = Capture::default();
    capture.run(|| {
        for i in 0..100 {
            put(&engine, &format!("k{i:03}"), "v");
        }
        for i in 0..100 {
            assert!(engine.get(format!("k{i:03}").as_bytes()).unwrap().is_some());
        }
        assert!(engine.get(b"missing").unwrap().is_none());
        engine.stats().unwrap();
    });
    let events = capture.take();
    assert!(events.is_empty(), "{events:#?}");
}
