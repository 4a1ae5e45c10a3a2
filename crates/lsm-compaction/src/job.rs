//! Running a flush or a compaction: inputs and options in, new table files
//! and a [`VersionEdit`] out. Nothing here touches the manifest or any lock,
//! so the sync store runs it inline and the async store on a background
//! thread with only the edit's application under its lock.
//!
//! File order: every output table is written and fsynced by
//! `TableBuilder::finish`, then the directory is fsynced once, and only then
//! is the edit returned for the caller to log in the manifest. On error the
//! outputs written so far are removed (best effort; stray files are also
//! removed when a store opens).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsm_core::{
    parse_internal_key, user_key_of, Error as CoreError, InternalIterator, InternalKey, SeqNo,
    SharedFileSystem,
};
use lsm_manifest::{table_file_name, FileMeta, Version, VersionEdit};
use lsm_sstable::{TableBuilder, TableOptions, TableProperties};

use crate::filter::EntryFilter;
use crate::level::{LevelIterator, TableSource};
use crate::merge::{BoxedIterator, MergingIterator};
use crate::picker::CompactionChoice;
use crate::Result;

/// Where and how output tables are written.
pub struct OutputContext<'a> {
    /// The file system.
    pub fs: &'a SharedFileSystem,
    /// The store directory.
    pub dir: &'a Path,
    /// Block size, bloom bits, compression.
    pub table_options: &'a TableOptions,
    /// A compaction output is cut once it reaches this many bytes (at a user
    /// key boundary, so a key's versions never span two tables of a level).
    pub target_file_bytes: u64,
    /// Live snapshots: versions they can see are kept.
    pub snapshots: Vec<SeqNo>,
    /// Allocates a fresh file number for each output table.
    pub new_file_number: &'a mut dyn FnMut() -> u64,
}

/// What a compaction did.
#[derive(Clone, Debug)]
pub struct CompactionOutcome {
    /// Removes the inputs and adds the outputs; the caller logs it.
    pub edit: VersionEdit,
    /// The new tables (empty if everything was dropped or it was a move).
    pub outputs: Vec<FileMeta>,
    /// Bytes of input files read.
    pub bytes_read: u64,
    /// Bytes of output files written.
    pub bytes_written: u64,
    /// True when the input moved down without being rewritten.
    pub trivial_move: bool,
}

/// Turns finished table properties into a catalog entry.
pub fn file_meta_from_properties(number: u64, props: &TableProperties) -> FileMeta {
    FileMeta {
        number,
        file_bytes: props.file_bytes,
        smallest: InternalKey::from_encoded(props.smallest_key.clone()),
        largest: InternalKey::from_encoded(props.largest_key.clone()),
        min_seq: props.min_seq,
        max_seq: props.max_seq,
        entries: props.entries,
        tombstones: props.tombstones,
    }
}

/// An output table is cut once its index reaches this size, half the block
/// limit: the next user key's versions (up to 64 KiB keys each, in blocks
/// of their own) cannot take the index past it.
const INDEX_CUT_BYTES: usize = lsm_sstable::MAX_BLOCK_BYTES / 2;

/// Writes the filtered stream into tables, cutting at the target size.
struct OutputWriter<'a, 'b> {
    ctx: &'b mut OutputContext<'a>,
    split: bool,
    current: Option<(u64, PathBuf, TableBuilder<'a>)>,
    last_user_key: Vec<u8>,
    finished: Vec<FileMeta>,
}

impl<'a, 'b> OutputWriter<'a, 'b> {
    fn new(ctx: &'b mut OutputContext<'a>, split: bool) -> Self {
        OutputWriter {
            ctx,
            split,
            current: None,
            last_user_key: Vec::new(),
            finished: Vec::new(),
        }
    }

    fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let user_key = user_key_of(key);
        // At the target size (compaction outputs), or, for any output, once
        // the index nears the block limit (keys near the key limit: every
        // entry is a block, and the index holds each one's key again).
        let cut = self.current.as_ref().is_some_and(|(_, _, builder)| {
            (self.split && builder.estimated_file_bytes() >= self.ctx.target_file_bytes)
                || builder.estimated_index_bytes() >= INDEX_CUT_BYTES
        }) && self.last_user_key != user_key;
        if cut {
            self.finish_current()?;
        }
        if self.current.is_none() {
            let number = (self.ctx.new_file_number)();
            let path = self.ctx.dir.join(table_file_name(number));
            let builder =
                TableBuilder::create(self.ctx.fs.as_ref(), &path, self.ctx.table_options.clone())?;
            self.current = Some((number, path, builder));
        }
        if let Some((_, _, builder)) = &mut self.current {
            builder.add(key, value)?;
        }
        self.last_user_key.clear();
        self.last_user_key.extend_from_slice(user_key);
        Ok(())
    }

    fn finish_current(&mut self) -> Result<()> {
        if let Some((number, _, builder)) = self.current.take() {
            let props = builder.finish()?;
            self.finished
                .push(file_meta_from_properties(number, &props));
        }
        Ok(())
    }

    /// Finishes the last table and fsyncs the directory. On error every
    /// table written is removed, the ones finished before it included.
    fn finish(mut self) -> Result<Vec<FileMeta>> {
        let synced = self.finish_current().and_then(|()| {
            if !self.finished.is_empty() {
                self.ctx
                    .fs
                    .sync_dir(self.ctx.dir)
                    .map_err(|e| CoreError::io(self.ctx.dir, e))?;
            }
            Ok(())
        });
        match synced {
            Ok(()) => Ok(std::mem::take(&mut self.finished)),
            Err(err) => {
                self.abandon();
                Err(err)
            }
        }
    }

    /// Removes everything written so far (after an error).
    fn abandon(mut self) {
        if let Some((_, _, builder)) = self.current.take() {
            let _ = builder.abandon();
        }
        for file in &self.finished {
            let _ = self
                .ctx
                .fs
                .remove_file(&self.ctx.dir.join(table_file_name(file.number)));
        }
    }
}

/// Streams `input` through the version filter into `writer`.
fn write_filtered(
    input: &mut dyn InternalIterator,
    filter: &mut EntryFilter,
    bottommost: &dyn Fn(&[u8]) -> bool,
    writer: &mut OutputWriter<'_, '_>,
    path_for_errors: &Path,
) -> Result<()> {
    input.seek_to_first()?;
    while input.valid() {
        let key = input.key();
        let Some(parsed) = parse_internal_key(key) else {
            return Err(CoreError::corruption(
                path_for_errors,
                0,
                "malformed internal key in compaction input",
            )
            .into());
        };
        if filter.keep(&parsed, bottommost) {
            writer.add(key, input.value())?;
        }
        input.next()?;
    }
    Ok(())
}

/// Flushes a memtable (or any sorted stream) into L0: one table, or, for
/// a memtable of keys near the key limit whose table index would pass the
/// block limit, several with disjoint key ranges. Shadowed versions no
/// snapshot needs are dropped; tombstones are kept (L0 is never
/// bottommost). Returns no table when nothing survives: a memtable that
/// holds only range deletes (they go to the manifest, not to tables); a
/// memtable with a point entry always writes a table, since the newest
/// entry of each key is kept.
pub fn flush_to_tables(
    input: &mut dyn InternalIterator,
    mut ctx: OutputContext<'_>,
) -> Result<Vec<FileMeta>> {
    let mut filter = EntryFilter::new(ctx.snapshots.clone());
    let dir = ctx.dir.to_path_buf();
    let mut writer = OutputWriter::new(&mut ctx, false);
    match write_filtered(input, &mut filter, &|_| false, &mut writer, &dir) {
        Ok(()) => writer.finish(),
        Err(err) => {
            writer.abandon();
            Err(err)
        }
    }
}

/// Runs `choice` against `version` (the version it was picked from) and
/// returns the outcome; the caller logs `outcome.edit`.
pub fn run_compaction(
    choice: &CompactionChoice,
    version: &Version,
    source: &Arc<dyn TableSource>,
    mut ctx: OutputContext<'_>,
) -> Result<CompactionOutcome> {
    let mut edit = VersionEdit::default();
    for (level, file) in choice.all_inputs() {
        edit.removed.push((level, file.number));
    }
    if choice.is_trivial_move() {
        for file in &choice.inputs {
            edit.added
                .push((choice.output_level, FileMeta::clone(file)));
        }
        return Ok(CompactionOutcome {
            edit,
            outputs: Vec::new(),
            bytes_read: 0,
            bytes_written: 0,
            trivial_move: true,
        });
    }

    // Children newest first: L0 inputs are already newest first; the output
    // level's files are one sorted run. None fills the block cache: these
    // tables are about to be replaced, and a compaction's one pass would
    // evict the blocks reads use.
    let mut children: Vec<BoxedIterator> = Vec::new();
    if choice.level == 0 {
        for file in &choice.inputs {
            let table = source.table(file)?;
            children.push(Box::new(table.iter_without_cache_fill()));
        }
    } else {
        children.push(Box::new(
            LevelIterator::new(choice.inputs.clone(), Arc::clone(source)).without_cache_fill(),
        ));
    }
    if !choice.overlapping.is_empty() {
        children.push(Box::new(
            LevelIterator::new(choice.overlapping.clone(), Arc::clone(source)).without_cache_fill(),
        ));
    }
    let mut input = MergingIterator::new(children);

    let output_level = choice.output_level;
    let bottommost = |user_key: &[u8]| {
        ((output_level + 1)..version.num_levels()).all(|level| {
            version
                .overlapping_files(level, user_key, user_key)
                .is_empty()
        })
    };
    let mut filter = EntryFilter::new(ctx.snapshots.clone())
        .with_range_tombstones(Arc::clone(version.range_tombstones()));
    let dir = ctx.dir.to_path_buf();
    let mut writer = OutputWriter::new(&mut ctx, true);
    let outputs = match write_filtered(&mut input, &mut filter, &bottommost, &mut writer, &dir) {
        Ok(()) => writer.finish()?,
        Err(err) => {
            writer.abandon();
            return Err(err);
        }
    };
    for file in &outputs {
        edit.added.push((output_level, file.clone()));
    }
    Ok(CompactionOutcome {
        edit,
        bytes_read: choice.input_bytes(),
        bytes_written: outputs.iter().map(|f| f.file_bytes).sum(),
        outputs,
        trivial_move: false,
    })
}
