//! SIGKILL crash test: a child process (this test binary, re-run with the
//! ignored `sigkill_child` test as its entry point) runs a deterministic
//! script of raft storage operations (vote, append, apply, truncate,
//! purge), printing `ack <step>` after each returns (an append once its
//! durable callback fired). The parent kills it mid-script, reopens the
//! store and checks that the vote, the log (no holes, no resurrected
//! truncated entries) and the state machine are exactly the script's model
//! after the acknowledged steps, or after one more (the step in flight).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftStateMachine};

const DIR_ENV: &str = "LSM_RAFT_SIGKILL_DIR";
const START_ENV: &str = "LSM_RAFT_SIGKILL_START";

#[derive(Clone, Copy, Debug)]
enum Op {
    Vote(u64),
    /// Append `n` entries of `term` after the last one.
    Append {
        term: u64,
        n: u64,
    },
    /// Apply the log up to this index.
    Apply(u64),
    /// Keep the log up to this index.
    Truncate(u64),
    /// Purge up to this index.
    Purge(u64),
    Nothing,
}

/// What the store must hold after a prefix of the script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Model {
    vote: u64,
    /// index -> term, above `purged`.
    log: BTreeMap<u64, u64>,
    purged: Option<u64>,
    applied: Option<u64>,
    /// index -> term of the applied entries' keys.
    sm: BTreeMap<u64, u64>,
}

impl Model {
    fn last(&self) -> Option<u64> {
        self.log.keys().next_back().copied().or(self.purged)
    }

    /// Step `step` of the script, given the state before it.
    fn op(&self, step: u64) -> Op {
        let t = step / 5 + 1;
        let last = self.last().unwrap_or(0);
        match step % 5 {
            0 => Op::Vote(t),
            1 => Op::Append { term: t, n: 10 },
            2 => Op::Apply(last.saturating_sub(5).max(self.applied.unwrap_or(0))),
            3 if t.is_multiple_of(3) => Op::Truncate(last - 4),
            4 if t.is_multiple_of(4) => Op::Purge(self.applied.unwrap_or(0)),
            _ => Op::Nothing,
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Vote(t) => self.vote = t,
            Op::Append { term, n } => {
                let from = self.last().map_or(0, |l| l + 1);
                for i in from..from + n {
                    self.log.insert(i, term);
                }
            }
            Op::Apply(upto) => {
                let from = self.applied.map_or(0, |a| a + 1);
                for i in from..=upto {
                    self.sm.insert(i, self.log[&i]);
                }
                self.applied = Some(upto);
            }
            Op::Truncate(keep) => self.log.retain(|&i, _| i <= keep),
            Op::Purge(upto) => {
                self.log.retain(|&i, _| i > upto);
                self.purged = Some(upto);
            }
            Op::Nothing => {}
        }
    }

    fn after(steps: u64) -> Model {
        let mut model = Model::default();
        for step in 0..steps {
            model.apply(model.op(step));
        }
        model
    }

    fn term_of(&self, index: u64) -> u64 {
        // Purged entries' terms are gone from `log`: read them from `sm`
        // (the script only purges applied entries).
        self.log
            .get(&index)
            .or(self.sm.get(&index))
            .copied()
            .unwrap()
    }
}

async fn run(log: &mut Log, sm: &mut Sm, model: &Model, op: Op) {
    match op {
        Op::Vote(t) => log.save_vote(&vote(t)).await.unwrap(),
        Op::Append { term, n } => {
            let from = model.last().map_or(0, |l| l + 1);
            append(log, (from..from + n).map(|i| entry(term, i)).collect()).await;
        }
        Op::Apply(upto) => {
            let from = model.applied.map_or(0, |a| a + 1);
            if from <= upto {
                let entries = log.try_get_log_entries(from..=upto).await.unwrap();
                assert_eq!(entries.len() as u64, upto + 1 - from);
                apply(sm, entries).await;
            }
        }
        Op::Truncate(keep) => log
            .truncate_after(Some(lid(model.term_of(keep), keep)))
            .await
            .unwrap(),
        Op::Purge(upto) => log.purge(lid(model.term_of(upto), upto)).await.unwrap(),
        Op::Nothing => {}
    }
}

/// The child: runs the script from step `START_ENV` until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child of sigkill_mid_operation_keeps_vote_log_and_state_machine"]
async fn sigkill_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let start: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let (mut log, mut sm) = open(Path::new(&dir));
    let mut model = Model::after(start);
    for step in start.. {
        let op = model.op(step);
        run(&mut log, &mut sm, &model, op).await;
        model.apply(op);
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {step}").unwrap();
        out.flush().unwrap();
    }
}

/// Runs the child from `start`, kills it after at least `acks`
/// acknowledged steps, as soon as its next step is one `target` picks;
/// returns the number of steps acknowledged in all.
fn run_child_until_killed(dir: &Path, start: u64, acks: u64, target: fn(Op) -> bool) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(START_ENV, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut done = start;
    let record = |line: &str, done: &mut u64| {
        // libtest's "test sigkill_child ... " may prefix the first line.
        if let Some((_, step)) = line.split_once("ack ") {
            let step: u64 = step.trim().parse().unwrap();
            assert_eq!(step, *done, "steps in order");
            *done = step + 1;
        }
    };
    let mut model = Model::after(start);
    for line in lines.by_ref() {
        let before = done;
        record(&line.unwrap(), &mut done);
        if done > before {
            model.apply(model.op(before));
        }
        if done >= start + acks && target(model.op(done)) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
                           // Steps acknowledged before the child died count too.
    for line in lines.map_while(Result::ok) {
        record(&line, &mut done);
    }
    assert!(!child.wait().unwrap().success(), "the child was killed");
    assert!(
        done >= start + acks,
        "the child stopped early at step {done}"
    );
    done
}

/// What the reopened store holds, as a model.
async fn observe(dir: &Path, model: &Model) -> Model {
    let (mut log, mut sm) = open(dir);
    let vote = log
        .read_vote()
        .await
        .unwrap()
        .map_or(0, |v| v.leader_id.term);
    let (purged, entries) = check_log(&mut log).await;
    let log_map = entries
        .iter()
        .map(|e| (e.log_id.index, entry_term(e)))
        .collect();
    let (applied, _) = sm.applied_state().await.unwrap();
    let applied = applied.map(|id| id.index);
    let max = model.last().unwrap_or(0) + 20;
    let sm_map = (0..=max)
        .filter_map(|i| sm_term(&sm, i).map(|t| (i, t)))
        .collect();
    drop(sm);
    log.close().unwrap();
    Model {
        vote,
        log: log_map,
        purged,
        applied,
        sm: sm_map,
    }
}

#[test]
fn sigkill_mid_operation_keeps_vote_log_and_state_machine() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut start = 0;
    type Target = fn(Op) -> bool;
    let rounds: [(u64, Target); 8] = [
        (157, |op| matches!(op, Op::Append { .. })),
        (233, |op| matches!(op, Op::Truncate(_))),
        (91, |op| matches!(op, Op::Purge(_))),
        (180, |op| matches!(op, Op::Vote(_))),
        (47, |op| matches!(op, Op::Apply(_))),
        (311, |op| matches!(op, Op::Truncate(_))),
        (128, |op| matches!(op, Op::Purge(_))),
        (64, |op| matches!(op, Op::Append { .. })),
    ];
    for (acks, target) in rounds {
        let acked = run_child_until_killed(dir.path(), start, acks, target);
        let model = Model::after(acked);
        let mut next = model.clone();
        next.apply(model.op(acked));
        let seen = rt.block_on(observe(dir.path(), &model));
        start = if seen == model {
            acked
        } else if seen == next {
            acked + 1
        } else {
            panic!(
                "after {acked} acknowledged steps the store holds\n{seen:?}\nnot\n{model:?}\nnor (step {acked} done)\n{next:?}"
            );
        };
        eprintln!(
            "killed after {acked} acknowledged steps, step in flight {:?}; recovered through step {start}",
            model.op(acked)
        );
    }
}
