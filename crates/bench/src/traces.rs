//! The editing traces of `shared/data/editing-traces`: loading them, and
//! planning a concurrent trace's replay on one device per author so that
//! every transaction is typed against exactly the document its author saw.

use crate::{BenchError, Result};
use circlekeep_engine::TextEdit;
use flate2::read::GzDecoder;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One author's transaction: its patches, typed together.
#[derive(Clone, Debug)]
pub struct Txn {
    /// Author (0-based).
    pub agent: usize,
    /// Transactions it was typed on top of.
    pub parents: Vec<usize>,
    /// Its splices, in order.
    pub patches: Vec<TextEdit>,
}

/// A trace: transactions in a causal order and the text they end in.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Authors.
    pub agents: usize,
    /// Transactions.
    pub txns: Vec<Txn>,
    /// The text the trace ends with.
    pub end_content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTrace {
    #[serde(default)]
    start_content: String,
    end_content: String,
    #[serde(default)]
    num_agents: Option<usize>,
    txns: Vec<RawTxn>,
}

#[derive(Deserialize)]
struct RawTxn {
    #[serde(default)]
    agent: Option<usize>,
    #[serde(default)]
    parents: Option<Vec<usize>>,
    patches: Vec<(usize, usize, String)>,
}

impl Trace {
    /// Reads a gzipped trace. Positions are code points; the traces used
    /// here stay within the Basic Multilingual Plane, where code points and
    /// UTF-16 units agree (checked).
    pub fn load(path: &Path) -> Result<Trace> {
        let file = std::fs::File::open(path)
            .map_err(|e| BenchError::Check(format!("{}: {e}", path.display())))?;
        let raw: RawTrace = serde_json::from_reader(GzDecoder::new(file))?;
        if !raw.start_content.is_empty() {
            return Err(BenchError::Check(
                "traces with start content are not supported".into(),
            ));
        }
        let bmp = |s: &str| s.chars().all(|c| (c as u32) < 0x1_0000);
        let mut txns = Vec::with_capacity(raw.txns.len());
        for (i, t) in raw.txns.into_iter().enumerate() {
            if !t.patches.iter().all(|p| bmp(&p.2)) {
                return Err(BenchError::Check("trace leaves the BMP".into()));
            }
            let parents = t
                .parents
                .unwrap_or_else(|| i.checked_sub(1).into_iter().collect());
            if parents.iter().any(|&p| p >= i) {
                return Err(BenchError::Check(format!("txn {i} has a later parent")));
            }
            txns.push(Txn {
                agent: t.agent.unwrap_or(0),
                parents,
                patches: t
                    .patches
                    .into_iter()
                    .map(|(position, delete, insert)| TextEdit {
                        position,
                        delete,
                        insert,
                    })
                    .collect(),
            });
        }
        let agents = raw.num_agents.unwrap_or(1);
        if txns.iter().any(|t| t.agent >= agents) {
            return Err(BenchError::Check("txn by an unknown agent".into()));
        }
        Ok(Trace {
            agents,
            txns,
            end_content: raw.end_content,
        })
    }

    /// Every patch of the trace in order (for sequential traces).
    pub fn keystrokes(&self) -> impl Iterator<Item = &TextEdit> {
        self.txns.iter().flat_map(|t| t.patches.iter())
    }
}

/// A run of one author's transactions typed as one change, and what that
/// author must have received first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Author.
    pub agent: usize,
    /// Transactions (indexes) in it.
    pub txns: Vec<usize>,
    /// Per author: how many of that author's steps must be applied on this
    /// author's device before this step is typed.
    pub needs: Vec<usize>,
}

/// Groups a concurrent trace into steps: consecutive transactions of one
/// author become one step unless another author's transaction saw only part
/// of them. Fails unless each author's transactions build on all of that
/// author's earlier ones (true of real traces).
pub fn plan(trace: &Trace) -> Result<Vec<Step>> {
    let n = trace.agents;
    // seen[t][a]: how many of a's transactions t was typed on top of (itself
    // included).
    let mut seen: Vec<Vec<usize>> = Vec::with_capacity(trace.txns.len());
    let mut own = vec![0usize; n];
    for (i, t) in trace.txns.iter().enumerate() {
        let mut s = vec![0usize; n];
        for &p in &t.parents {
            for (a, count) in seen[p].iter().enumerate() {
                s[a] = s[a].max(*count);
            }
        }
        if s[t.agent] != own[t.agent] {
            return Err(BenchError::Check(format!(
                "txn {i} does not build on all of its author's earlier txns"
            )));
        }
        own[t.agent] += 1;
        s[t.agent] = own[t.agent];
        seen.push(s);
    }
    // Cut points: (agent, count) some other author's txn saw exactly.
    let mut cuts = BTreeSet::new();
    for (t, s) in trace.txns.iter().zip(&seen) {
        for (a, &count) in s.iter().enumerate() {
            if a != t.agent && count > 0 {
                cuts.insert((a, count));
            }
        }
    }
    // Steps of each author that end exactly at a cut: txn count -> steps.
    let mut steps_at: Vec<BTreeMap<usize, usize>> = vec![BTreeMap::from([(0, 0)]); n];
    let mut steps_of = vec![0usize; n];
    let mut steps: Vec<Step> = Vec::new();
    // The step being extended and what it needs, in txn counts.
    let mut open: Option<Vec<usize>> = None;
    for (i, t) in trace.txns.iter().enumerate() {
        let mut needs_txns = seen[i].clone();
        needs_txns[t.agent] = 0;
        let joins =
            open.as_ref() == Some(&needs_txns) && steps.last().is_some_and(|s| s.agent == t.agent);
        if !joins {
            let mut needs = Vec::with_capacity(n);
            for (a, count) in needs_txns.iter().enumerate() {
                let at = steps_at[a].get(count).copied().ok_or_else(|| {
                    BenchError::Check(format!("txn {i} needs part of a step of author {a}"))
                })?;
                needs.push(at);
            }
            steps.push(Step {
                agent: t.agent,
                txns: Vec::new(),
                needs,
            });
            steps_of[t.agent] += 1;
            open = Some(needs_txns);
        }
        if let Some(step) = steps.last_mut() {
            step.txns.push(i);
        }
        let count = seen[i][t.agent];
        if cuts.contains(&(t.agent, count)) {
            steps_at[t.agent].insert(count, steps_of[t.agent]);
            open = None;
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(agent: usize, parents: &[usize], at: usize, text: &str) -> Txn {
        Txn {
            agent,
            parents: parents.to_vec(),
            patches: vec![TextEdit {
                position: at,
                delete: 0,
                insert: text.into(),
            }],
        }
    }

    #[test]
    fn concurrent_runs_split_where_the_other_author_looked() {
        // A types 0,1,2; B saw only A's first two and types 3; A types 4 on
        // top of everything.
        let trace = Trace {
            agents: 2,
            txns: vec![
                txn(0, &[], 0, "a"),
                txn(0, &[0], 1, "b"),
                txn(0, &[1], 2, "c"),
                txn(1, &[1], 2, "X"),
                txn(0, &[2, 3], 4, "d"),
            ],
            end_content: "abXcd".into(),
        };
        let steps = plan(&trace).expect("plan");
        let shape: Vec<(usize, Vec<usize>, Vec<usize>)> = steps
            .into_iter()
            .map(|s| (s.agent, s.txns, s.needs))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, vec![0, 1], vec![0, 0]),
                (0, vec![2], vec![0, 0]),
                (1, vec![3], vec![1, 0]),
                (0, vec![4], vec![0, 1]),
            ]
        );
    }

    #[test]
    fn an_author_skipping_its_own_history_is_refused() {
        let trace = Trace {
            agents: 1,
            txns: vec![txn(0, &[], 0, "a"), txn(0, &[], 0, "b")],
            end_content: "ba".into(),
        };
        assert!(plan(&trace).is_err());
    }
}
