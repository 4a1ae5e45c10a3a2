//! `fsync-probe`: the power cut without the store. Threads append
//! fixed-size records to their own files on the ext4 image, each followed
//! by an `fdatasync`, and note when each `fdatasync` returned `Ok`. After the
//! cut and the remount, every record whose `fdatasync` returned `Ok` before
//! the cut began must be in the file. Records whose call was in flight
//! during the cut are counted apart: if they are lost after an `Ok`, the
//! file system acknowledged a sync the cut then undid, which no store code
//! can prevent (the store's own harness classifies its lost writes the
//! same way).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::disk::{Cutter, Disk};
use crate::workload::{now_ns, Rng};

const RECORD: usize = 128;

/// One acknowledged record: its index and when its sync call began and
/// returned `Ok`.
struct Ack {
    index: u64,
    start: u64,
    end: u64,
}

/// Counts over all cycles.
#[derive(Default, Debug)]
struct Tally {
    acked: u64,
    ended_before_cut: u64,
    lost_ended_before_cut: u64,
    straddling: u64,
    lost_straddling: u64,
    acked_after_cut: u64,
    lost_acked_after_cut: u64,
}

/// Runs `cycles` cut cycles with `threads` writer threads; returns false if
/// a record whose sync returned before the cut began was lost.
pub fn run(cycles: u32, threads: usize, seed: u64) -> Result<bool> {
    let cutter = Cutter::detect().context("neither xfs_io nor python3 is available")?;
    let mut disk = Disk::create(cutter)?;
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    for cycle in 0..cycles {
        let dir = disk.mnt().join(format!("probe-{cycle:04}"));
        std::fs::create_dir(&dir)?;
        std::fs::File::open(disk.mnt())?.sync_all()?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for t in 0..threads {
            let path = dir.join(format!("t{t}"));
            let stop = Arc::clone(&stop);
            handles.push(std::thread::spawn(move || writer(&path, t as u64, &stop)));
        }
        std::fs::File::open(&dir)?.sync_all()?;
        std::thread::sleep(Duration::from_millis(rng.range(50, 600)));
        let cut_start = now_ns();
        disk.cut()?;
        let cut_end = now_ns();
        stop.store(true, Ordering::Relaxed);
        let acks: Vec<Vec<Ack>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect();
        disk.reboot(&disk.work().join("probe.img"))?;
        for (t, acks) in acks.iter().enumerate() {
            let path = dir.join(format!("t{t}"));
            let durable = std::fs::read(&path).unwrap_or_default();
            let whole = (durable.len() / RECORD) as u64;
            for ack in acks {
                let kept = ack.index < whole && record_ok(&durable, t as u64, ack.index);
                tally.acked += 1;
                if ack.end < cut_start {
                    tally.ended_before_cut += 1;
                    tally.lost_ended_before_cut += u64::from(!kept);
                } else if ack.start > cut_end {
                    tally.acked_after_cut += 1;
                    tally.lost_acked_after_cut += u64::from(!kept);
                } else {
                    tally.straddling += 1;
                    tally.lost_straddling += u64::from(!kept);
                    if !kept {
                        println!(
                            "  cycle {cycle} t{t} record {}: sync began {:+.3} ms and returned Ok \
                             {:+.3} ms from the cut start (cut took {:.3} ms), lost",
                            ack.index,
                            (ack.start as f64 - cut_start as f64) / 1e6,
                            (ack.end as f64 - cut_start as f64) / 1e6,
                            (cut_end as f64 - cut_start as f64) / 1e6
                        );
                    }
                }
            }
        }
    }
    println!(
        "fsync-probe cycles={cycles} threads={threads} acked={} ended_before_cut={} \
         lost_ended_before_cut={} straddling={} lost_straddling={} acked_after_cut={} \
         lost_acked_after_cut={}",
        tally.acked,
        tally.ended_before_cut,
        tally.lost_ended_before_cut,
        tally.straddling,
        tally.lost_straddling,
        tally.acked_after_cut,
        tally.lost_acked_after_cut
    );
    Ok(tally.lost_ended_before_cut == 0 && tally.acked_after_cut == 0)
}

fn record(thread: u64, index: u64) -> [u8; RECORD] {
    let mut buf = [0xA5u8; RECORD];
    buf[..8].copy_from_slice(&thread.to_le_bytes());
    buf[8..16].copy_from_slice(&index.to_le_bytes());
    buf
}

fn record_ok(file: &[u8], thread: u64, index: u64) -> bool {
    let at = index as usize * RECORD;
    file.get(at..at + RECORD) == Some(&record(thread, index)[..])
}

/// Appends and fdatasyncs records until a call fails or `stop` is set.
fn writer(path: &std::path::Path, thread: u64, stop: &AtomicBool) -> Vec<Ack> {
    let mut acks = Vec::new();
    let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
    else {
        return acks;
    };
    for index in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let start = now_ns();
        if file.write_all(&record(thread, index)).is_err() || file.sync_data().is_err() {
            break;
        }
        acks.push(Ack {
            index,
            start,
            end: now_ns(),
        });
    }
    acks
}
