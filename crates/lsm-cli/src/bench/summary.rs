//! The summary under the main table: per workload, the better lsm engine
//! against the best peer, and, for the writing workloads, the tails, write
//! amplification and memory of the engines that matter for the comparison.
//!
//! An engine is an *lsm* engine if its name starts with `lsm-` (`lsm-sync`,
//! `lsm-async`) and a *peer* otherwise (`rocksdb`, `fjall`, `sled`, `redb`),
//! so the summary needs no `peers` feature to compute or test.
//!
//! - better lsm: the lsm engine with the highest ops/s on the workload.
//! - best peer: the peer with the highest ops/s on the workload; for the
//!   durable fills (`fillsync1`, `fillsync`) only among the peers whose
//!   synced put survives a power cut ([`survives_power_cut`]). A faster
//!   peer left out is named beside it (`not_durable_peer`).
//! - ratio: better lsm ops/s over best peer ops/s (above 1: lsm is faster);
//!   `None` (n/a) without a peer, without an lsm engine, or when the best
//!   peer measured 0 ops/s.
//! - For writing workloads, rows of `lsm-sync`, `lsm-async`, `rocksdb` (if
//!   it ran) and the best peer (once, if it is not `rocksdb`): puts/s,
//!   p99.9 and max latency, write amplification and peak RSS.
//! - Where the timed operations are not the puts (`readwhilewriting`, whose
//!   ops/s are reads), its writer's own comparison (`writer`): the lsm
//!   engine whose writer put the most per second against the peer whose
//!   writer did, and their ratio.

use std::fmt::Write as _;

use serde::Serialize;

use super::report::Row;
use super::workloads::Workload;

/// True for the engines the summary compares against (any engine whose
/// name does not start with `lsm-`).
pub fn is_peer(engine: &str) -> bool {
    !engine.starts_with("lsm-")
}

/// True unless `engine`'s "synced" put is known not to survive a power
/// cut. sled's `flush()` (0.34) calls `sync_file_range`, which neither
/// flushes the disk's write cache nor commits the file's new size: on a
/// loop-mounted ext4 cut with `EXT4_IOC_SHUTDOWN` (`NOLOGFLUSH`) right
/// after the last `flush()` returned, none of 2,000 or 20,000 flushed
/// inserts was found after remounting (session 26). Its fillsync rates
/// measure a weaker promise than an fdatasync, so the durable fills do not
/// compare against them.
pub fn survives_power_cut(engine: &str) -> bool {
    engine != "sled"
}

/// The engines whose tails the writing-workload summary always shows (if
/// they ran), in this order; the best peer follows if it is not one of them.
const TAIL_ENGINES: [&str; 3] = ["lsm-sync", "lsm-async", "rocksdb"];

/// An engine and its ops/s on one workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pick {
    /// Engine name.
    pub engine: String,
    /// Its ops/s.
    pub ops_per_sec: f64,
}

/// One engine's tail, amplification and memory on a writing workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tail {
    /// Engine name.
    pub engine: String,
    /// True if it is the workload's best peer.
    pub best_peer: bool,
    /// Its puts/s: its ops/s, or its writer's where the timed operations
    /// are not the puts (`readwhilewriting`).
    pub ops_per_sec: f64,
    /// 99.9th percentile latency in microseconds.
    pub p999_us: f64,
    /// Maximum latency in microseconds.
    pub max_us: f64,
    /// Write amplification (`None` if not measured).
    pub write_amp: Option<f64>,
    /// Peak RSS in MiB (`None` if not measured).
    pub peak_rss_mib: Option<f64>,
}

/// The summary of one workload; as JSON, one line
/// `{"summary":"<workload>", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadSummary {
    /// Workload name.
    #[serde(rename = "summary")]
    pub workload: &'static str,
    /// True if the workload puts (so `engines` lists tails).
    pub writes: bool,
    /// The faster lsm engine.
    pub best_lsm: Option<Pick>,
    /// The fastest peer (on a durable fill, whose synced put survives a
    /// power cut).
    pub best_peer: Option<Pick>,
    /// On a durable fill, the fastest peer left out of `best_peer` because
    /// its synced put does not survive a power cut, if it was faster.
    pub not_durable_peer: Option<Pick>,
    /// `best_lsm` ops/s over `best_peer` ops/s.
    pub lsm_over_peer: Option<f64>,
    /// Tails of `lsm-sync`, `lsm-async`, `rocksdb` and the best peer
    /// (writing workloads only; empty otherwise).
    pub engines: Vec<Tail>,
    /// Where the timed operations are not the puts (`readwhilewriting`):
    /// the writers compared by puts/s.
    pub writer: Option<WriterSummary>,
}

/// The writers of a workload whose timed operations are not its puts
/// (`readwhilewriting`), compared by puts/s.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WriterSummary {
    /// The lsm engine whose writer put the most per second, and that rate.
    pub best_lsm: Option<Pick>,
    /// The peer whose writer put the most per second, and that rate.
    pub best_peer: Option<Pick>,
    /// `best_lsm` puts/s over `best_peer` puts/s.
    pub lsm_over_peer: Option<f64>,
}

impl WorkloadSummary {
    /// The summary as one JSON object on one line.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

/// The fastest of `rows` (by ops/s; the first of equals).
fn fastest<'a>(rows: impl Iterator<Item = &'a Row>) -> Option<&'a Row> {
    rows.fold(None, |best: Option<&Row>, row| match best {
        Some(b) if b.ops_per_sec() >= row.ops_per_sec() => Some(b),
        _ => Some(row),
    })
}

fn pick(row: &Row) -> Pick {
    Pick {
        engine: row.engine.clone(),
        ops_per_sec: row.ops_per_sec(),
    }
}

fn tail(row: &Row, best_peer: bool) -> Tail {
    Tail {
        engine: row.engine.clone(),
        best_peer,
        // Puts and their latency: the writer's where the timed operations
        // are reads.
        ops_per_sec: row.put_ops_per_sec.unwrap_or(row.ops_per_sec()),
        p999_us: row.put_p999_us.unwrap_or(row.p999_us),
        max_us: row.put_max_us.unwrap_or(row.max_us),
        write_amp: row.write_amp().filter(|v| v.is_finite()),
        peak_rss_mib: row.peak_rss_mib(),
    }
}

/// One summary per workload, in the order the workloads first appear in
/// `rows`. A workload listed twice is summarised once, over all its rows
/// (each engine represented by its fastest one).
pub fn summarize(rows: &[Row]) -> Vec<WorkloadSummary> {
    let mut workloads: Vec<&'static str> = Vec::new();
    for row in rows {
        if !workloads.contains(&row.workload) {
            workloads.push(row.workload);
        }
    }
    workloads
        .into_iter()
        .map(|workload| {
            let of_workload = || rows.iter().filter(move |r| r.workload == workload);
            let best_lsm = fastest(of_workload().filter(|r| !is_peer(&r.engine)));
            let durable = Workload::from_name(workload).is_some_and(Workload::durable);
            let comparable = |r: &&Row| !durable || survives_power_cut(&r.engine);
            let best_peer = fastest(
                of_workload()
                    .filter(|r| is_peer(&r.engine))
                    .filter(comparable),
            );
            let not_durable_peer = fastest(
                of_workload().filter(|r| is_peer(&r.engine) && !comparable(r)),
            )
            .filter(|left_out| {
                best_peer.is_none_or(|peer| left_out.ops_per_sec() > peer.ops_per_sec())
            });
            let lsm_over_peer = match (best_lsm, best_peer) {
                (Some(lsm), Some(peer)) => ratio(lsm.ops_per_sec(), peer.ops_per_sec()),
                _ => None,
            };
            let writes = Workload::from_name(workload).is_some_and(Workload::writes);
            let mut engines = Vec::new();
            if writes {
                let best_peer_name = best_peer.map(|r| r.engine.as_str());
                for name in TAIL_ENGINES {
                    if let Some(row) = fastest(of_workload().filter(|r| r.engine == name)) {
                        engines.push(tail(row, best_peer_name == Some(name)));
                    }
                }
                if let Some(peer) = best_peer {
                    if !TAIL_ENGINES.contains(&peer.engine.as_str()) {
                        engines.push(tail(peer, true));
                    }
                }
            }
            WorkloadSummary {
                workload,
                writes,
                best_lsm: best_lsm.map(pick),
                best_peer: best_peer.map(pick),
                not_durable_peer: not_durable_peer.map(pick),
                lsm_over_peer,
                engines,
                writer: writer_summary(of_workload()),
            }
        })
        .collect()
}

/// `lsm` over `peer`; `None` when the peer measured 0 (or the ratio is
/// not finite).
fn ratio(lsm: f64, peer: f64) -> Option<f64> {
    Some(lsm / peer).filter(|r| peer > 0.0 && r.is_finite())
}

/// The writers of `rows` compared by puts/s, if their rows carry a
/// writer's rate (`readwhilewriting`); `None` otherwise.
fn writer_summary<'a>(rows: impl Iterator<Item = &'a Row> + Clone) -> Option<WriterSummary> {
    let fastest_writer = |lsm: bool| {
        rows.clone()
            .filter(|r| is_peer(&r.engine) != lsm)
            .filter_map(|r| r.put_ops_per_sec.map(|rate| (r, rate)))
            .fold(None, |best: Option<(&Row, f64)>, (r, rate)| match best {
                Some((_, b)) if b >= rate => best,
                _ => Some((r, rate)),
            })
            .map(|(r, rate)| Pick {
                engine: r.engine.clone(),
                ops_per_sec: rate,
            })
    };
    let best_lsm = fastest_writer(true);
    let best_peer = fastest_writer(false);
    if best_lsm.is_none() && best_peer.is_none() {
        return None;
    }
    let lsm_over_peer = match (&best_lsm, &best_peer) {
        (Some(lsm), Some(peer)) => ratio(lsm.ops_per_sec, peer.ops_per_sec),
        _ => None,
    };
    Some(WriterSummary {
        best_lsm,
        best_peer,
        lsm_over_peer,
    })
}

fn na(value: Option<String>) -> String {
    value.unwrap_or_else(|| "n/a".to_string())
}

/// The summaries as two Markdown tables, each under a one-line caption:
/// throughput for every workload, then the writing workloads' tails.
pub fn markdown(summaries: &[WorkloadSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Summary: the better lsm engine against the best peer, by ops/s.\n"
    );
    let _ = writeln!(
        out,
        "| workload | better lsm | ops/s | best peer | ops/s | lsm/peer |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | --- | ---: | ---: |");
    for s in summaries {
        let engine = |p: &Option<Pick>| na(p.as_ref().map(|p| p.engine.clone()));
        let rate = |p: &Option<Pick>| na(p.as_ref().map(|p| format!("{:.0}", p.ops_per_sec)));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.workload,
            engine(&s.best_lsm),
            rate(&s.best_lsm),
            engine(&s.best_peer),
            rate(&s.best_peer),
            na(s.lsm_over_peer.map(|r| format!("{r:.2}"))),
        );
    }
    for s in summaries {
        if let Some(w) = &s.writer {
            let side = |p: &Option<Pick>| {
                na(p.as_ref()
                    .map(|p| format!("{} ({:.0} puts/s)", p.engine, p.ops_per_sec)))
            };
            let _ = writeln!(
                out,
                "\n{}, its one writer: better lsm {}, best peer {}, lsm/peer {}.",
                s.workload,
                side(&w.best_lsm),
                side(&w.best_peer),
                na(w.lsm_over_peer.map(|r| format!("{r:.2}"))),
            );
        }
    }
    for s in summaries {
        if let Some(left_out) = &s.not_durable_peer {
            let _ = writeln!(
                out,
                "\n{}: {} ({:.0} ops/s) is not the best peer: its synced put does not \
                 survive a power cut (docs/cli.md, \"Peers\").",
                s.workload, left_out.engine, left_out.ops_per_sec
            );
        }
    }
    let writing: Vec<&WorkloadSummary> = summaries.iter().filter(|s| s.writes).collect();
    if writing.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\nWriting workloads: puts/s (for readwhilewriting its writer's), tail latency, \
         write amplification and peak RSS.\n"
    );
    let _ = writeln!(
        out,
        "| workload | engine | puts/s | p99.9 µs | max µs | w-amp | peak RSS MiB |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for s in writing {
        for t in &s.engines {
            let engine = if t.best_peer {
                format!("{} (best peer)", t.engine)
            } else {
                t.engine.clone()
            };
            let _ = writeln!(
                out,
                "| {} | {engine} | {:.0} | {} | {} | {} | {} |",
                s.workload,
                t.ops_per_sec,
                micros(t.p999_us),
                micros(t.max_us),
                na(t.write_amp.map(|v| format!("{v:.2}"))),
                na(t.peak_rss_mib.map(|v| format!("{v:.1}"))),
            );
        }
    }
    out
}

fn micros(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of `engine` on `workload` at `ops_per_sec`, its other numbers
    /// derived from the rate so each engine's row is recognisable.
    fn row(engine: &str, workload: &'static str, ops_per_sec: f64) -> Row {
        let writes = Workload::from_name(workload).is_some_and(Workload::writes);
        Row {
            p999_us: ops_per_sec / 10.0,
            max_us: ops_per_sec,
            user_bytes: if writes { 1000 } else { 0 },
            disk_bytes: writes.then_some((3000, "write_bytes")),
            peak_rss_bytes: Some(64 << 20),
            ..Row::for_test(engine, workload, ops_per_sec)
        }
    }

    fn engines(s: &WorkloadSummary) -> Vec<(&str, bool)> {
        s.engines
            .iter()
            .map(|t| (t.engine.as_str(), t.best_peer))
            .collect()
    }

    #[test]
    fn peers_are_every_engine_not_named_lsm() {
        assert!(!is_peer("lsm-sync") && !is_peer("lsm-async"));
        assert!(is_peer("rocksdb") && is_peer("fjall") && is_peer("redb"));
    }

    #[test]
    fn picks_the_faster_lsm_and_the_fastest_peer_and_divides() {
        let rows = [
            row("lsm-sync", "readrandom", 1000.0),
            row("lsm-async", "readrandom", 1500.0),
            row("rocksdb", "readrandom", 500.0),
            row("redb", "readrandom", 3000.0),
            row("sled", "readrandom", 100.0),
        ];
        let summaries = summarize(&rows);
        assert_eq!(summaries.len(), 1);
        let s = &summaries[0];
        assert_eq!(s.workload, "readrandom");
        assert!(!s.writes);
        let lsm = s.best_lsm.as_ref().unwrap();
        assert_eq!(lsm.engine, "lsm-async");
        assert!((lsm.ops_per_sec - 1500.0).abs() < 1e-6);
        assert_eq!(s.best_peer.as_ref().unwrap().engine, "redb");
        assert!((s.lsm_over_peer.unwrap() - 0.5).abs() < 1e-9);
        assert!(s.engines.is_empty(), "no tails for a read workload");
    }

    #[test]
    fn writing_workloads_list_both_lsm_engines_rocksdb_and_the_best_peer() {
        let rows = [
            row("lsm-sync", "fillseq", 1000.0),
            row("lsm-async", "fillseq", 2000.0),
            row("rocksdb", "fillseq", 800.0),
            row("fjall", "fillseq", 1600.0),
            row("sled", "fillseq", 400.0),
        ];
        let s = &summarize(&rows)[0];
        assert!(s.writes);
        assert_eq!(
            engines(s),
            [
                ("lsm-sync", false),
                ("lsm-async", false),
                ("rocksdb", false),
                ("fjall", true)
            ]
        );
        assert!((s.lsm_over_peer.unwrap() - 1.25).abs() < 1e-9);
        let fjall = &s.engines[3];
        assert!((fjall.p999_us - 160.0).abs() < 1e-6);
        assert!((fjall.max_us - 1600.0).abs() < 1e-6);
        assert_eq!(fjall.write_amp, Some(3.0));
        assert_eq!(fjall.peak_rss_mib, Some(64.0));
    }

    /// On the durable fills sled (whose `flush()` does not survive a power
    /// cut) is no one's best peer, and is named when it was faster; on
    /// other workloads it competes as any peer.
    #[test]
    fn durable_fills_leave_out_peers_whose_synced_put_does_not_survive_a_power_cut() {
        let rows = [
            row("lsm-async", "fillsync", 1400.0),
            row("rocksdb", "fillsync", 700.0),
            row("sled", "fillsync", 1300.0),
            row("fjall", "fillsync", 600.0),
            row("lsm-async", "fillsync1", 700.0),
            row("sled", "fillsync1", 650.0),
            row("fjall", "fillsync1", 680.0),
            row("lsm-async", "fillseq", 1000.0),
            row("sled", "fillseq", 2000.0),
            row("fjall", "fillseq", 500.0),
        ];
        let summaries = summarize(&rows);
        let fillsync = &summaries[0];
        assert_eq!(fillsync.best_peer.as_ref().unwrap().engine, "rocksdb");
        assert_eq!(fillsync.not_durable_peer.as_ref().unwrap().engine, "sled");
        assert!((fillsync.lsm_over_peer.unwrap() - 2.0).abs() < 1e-9);
        assert!(engines(fillsync).iter().all(|(name, _)| *name != "sled"));
        // Slower than the best durable peer: not named.
        let fillsync1 = &summaries[1];
        assert_eq!(fillsync1.best_peer.as_ref().unwrap().engine, "fjall");
        assert_eq!(fillsync1.not_durable_peer, None);
        let fillseq = &summaries[2];
        assert_eq!(fillseq.best_peer.as_ref().unwrap().engine, "sled");
        assert_eq!(fillseq.not_durable_peer, None);
        let text = markdown(&summaries);
        assert!(text.contains("fillsync: sled (1300 ops/s) is not the best peer"));
        assert!(!text.contains("fillsync1: sled"));
        assert!(!survives_power_cut("sled") && survives_power_cut("fjall"));
    }

    /// `readwhilewriting` times reads; its tail columns are the writer's
    /// puts/s and put latencies, which the row carries separately.
    #[test]
    fn tail_columns_use_the_writers_puts_when_the_row_has_them() {
        let mut rww = row("lsm-async", "readwhilewriting", 1000.0);
        rww.put_p999_us = Some(12.5);
        rww.put_max_us = Some(900.0);
        rww.put_ops_per_sec = Some(250.0);
        let rows = [rww, row("lsm-sync", "readwhilewriting", 500.0)];
        let s = &summarize(&rows)[0];
        assert!(s.writes);
        let tails: Vec<(&str, f64, f64, f64)> = s
            .engines
            .iter()
            .map(|t| (t.engine.as_str(), t.ops_per_sec, t.p999_us, t.max_us))
            .collect();
        assert_eq!(
            tails,
            [
                ("lsm-sync", 500.0, 50.0, 500.0),
                ("lsm-async", 250.0, 12.5, 900.0)
            ]
        );
    }

    /// The writers of `readwhilewriting` are compared on their own: the
    /// fastest lsm writer against the fastest peer writer, whatever the
    /// readers did.
    #[test]
    fn readwhilewriting_compares_its_writers_by_puts_per_second() {
        let with_writer = |engine: &str, reads: f64, puts: f64| {
            let mut r = row(engine, "readwhilewriting", reads);
            r.put_ops_per_sec = Some(puts);
            r
        };
        let rows = [
            with_writer("lsm-sync", 3000.0, 150.0),
            with_writer("lsm-async", 2800.0, 180.0),
            with_writer("redb", 2000.0, 2.0),
            with_writer("fjall", 1200.0, 120.0),
        ];
        let s = &summarize(&rows)[0];
        assert_eq!(s.best_peer.as_ref().unwrap().engine, "redb", "by reads");
        let w = s.writer.as_ref().unwrap();
        assert_eq!(w.best_lsm.as_ref().unwrap().engine, "lsm-async");
        assert_eq!(w.best_peer.as_ref().unwrap().engine, "fjall");
        assert!((w.lsm_over_peer.unwrap() - 1.5).abs() < 1e-9);
        let table = markdown(&summarize(&rows));
        assert!(
            table.contains(
                "readwhilewriting, its one writer: better lsm lsm-async (180 puts/s), \
                 best peer fjall (120 puts/s), lsm/peer 1.50."
            ),
            "{table}"
        );
        // Workloads that time their puts have no writer summary.
        assert!(summarize(&[row("lsm-sync", "fillseq", 10.0)])[0]
            .writer
            .is_none());
    }

    #[test]
    fn rocksdb_as_best_peer_is_listed_once() {
        let rows = [
            row("lsm-sync", "overwrite", 1000.0),
            row("rocksdb", "overwrite", 3000.0),
            row("fjall", "overwrite", 1000.0),
        ];
        let s = &summarize(&rows)[0];
        assert_eq!(engines(s), [("lsm-sync", false), ("rocksdb", true)]);
        let table = markdown(&summarize(&rows));
        assert!(
            table.contains("| overwrite | rocksdb (best peer) | 3000 |"),
            "{table}"
        );
    }

    #[test]
    fn without_peers_the_ratio_is_na() {
        let rows = [
            row("lsm-sync", "fillsync1", 100.0),
            row("lsm-async", "fillsync1", 90.0),
            row("lsm-sync", "readseq", 1e6),
        ];
        let summaries = summarize(&rows);
        assert_eq!(summaries.len(), 2);
        let s = &summaries[0];
        assert_eq!(s.best_lsm.as_ref().unwrap().engine, "lsm-sync");
        assert_eq!(s.best_peer, None);
        assert_eq!(s.lsm_over_peer, None);
        assert_eq!(engines(s), [("lsm-sync", false), ("lsm-async", false)]);
        let table = markdown(&summaries);
        assert!(
            table.contains("| fillsync1 | lsm-sync | 100 | n/a | n/a | n/a |"),
            "{table}"
        );
        assert!(
            table.contains("| readseq | lsm-sync | 1000000 | n/a | n/a | n/a |"),
            "{table}"
        );
        assert!(
            table.contains("| fillsync1 | lsm-async | 90 | 9.00 | 90.00 | 3.00 | 64.0 |"),
            "{table}"
        );
    }

    #[test]
    fn only_peers_or_a_stalled_peer_give_na_too() {
        let only_peers = summarize(&[row("sled", "fillseq", 10.0)]);
        assert_eq!(only_peers[0].best_lsm, None);
        assert_eq!(only_peers[0].best_peer.as_ref().unwrap().engine, "sled");
        assert_eq!(only_peers[0].lsm_over_peer, None);
        assert_eq!(engines(&only_peers[0]), [("sled", true)]);

        let mut stalled = row("fjall", "readrandom", 1.0);
        stalled.seconds = 0.0; // 0 ops/s
        let s = &summarize(&[row("lsm-sync", "readrandom", 10.0), stalled])[0];
        assert_eq!(s.best_peer.as_ref().unwrap().ops_per_sec, 0.0);
        assert_eq!(s.lsm_over_peer, None);
    }

    #[test]
    fn summaries_follow_the_workload_order_and_are_json_lines() {
        let rows = [
            row("lsm-sync", "fillseq", 10.0),
            row("lsm-sync", "readrandom", 10.0),
            row("lsm-async", "fillseq", 20.0),
            row("lsm-async", "readrandom", 5.0),
        ];
        let summaries = summarize(&rows);
        let names: Vec<&str> = summaries.iter().map(|s| s.workload).collect();
        assert_eq!(names, ["fillseq", "readrandom"]);
        let line = summaries[0].to_json().unwrap();
        assert!(line.starts_with("{\"summary\":\"fillseq\","), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["best_lsm"]["engine"], "lsm-async");
        assert!(value["best_peer"].is_null() && value["lsm_over_peer"].is_null());
        assert_eq!(value["engines"].as_array().unwrap().len(), 2);
        assert_eq!(value["engines"][1]["write_amp"], 3.0);
    }
}
