//! Printing results: plain text for people, JSON (`--json`) for scripts.
//! Errors carry the engine's stable `code` in JSON mode.

use circlekeep_engine::views::*;
use circlekeep_engine::{EngineError, MemberCard};
use serde::Serialize;
use serde_json::json;
use std::path::Path;

/// Where results go, and in which form.
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    fn emit<T: Serialize + ?Sized>(&self, value: &T, human: impl FnOnce()) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("error: cannot print JSON: {e}"),
            }
        } else {
            human();
        }
    }

    pub fn error(&self, error: &anyhow::Error) {
        let code = error
            .downcast_ref::<EngineError>()
            .map_or("error", EngineError::code);
        if self.json {
            println!(
                "{}",
                json!({"error": {"code": code, "message": format!("{error:#}")}})
            );
        } else {
            eprintln!("error: {error:#}");
        }
    }

    pub fn done(&self, message: &str) {
        self.emit(&json!({"ok": true}), || println!("{message}"));
    }

    pub fn id(&self, kind: &str, id: &str, message: &str) {
        self.emit(&json!({ kind: id }), || println!("{message}\n{id}"));
    }

    pub fn card(&self, card: &MemberCard, heading: &str) {
        let value = json!({
            "name": card.name,
            "member": card.member.to_hex(),
            "fingerprint": card.fingerprint(),
            "card": card.as_line(),
        });
        self.emit(&value, || {
            println!("{heading}\n{}", card.as_line());
            println!(
                "Fingerprint (compare it with whoever adds you): {}",
                card.fingerprint()
            );
        });
    }

    pub fn circles(&self, circles: &[CircleSummary]) {
        self.emit(circles, || {
            if circles.is_empty() {
                println!("No circles yet: `circlekeep circle create NAME`.");
            }
            for c in circles {
                let name = c.name.as_deref().unwrap_or("(unreadable)");
                let status = if c.member {
                    ""
                } else {
                    "  [no longer a member]"
                };
                println!("{}  {name}  ({} members){status}", c.short, c.members);
            }
        });
    }

    pub fn circle(&self, c: &CircleView) {
        self.emit(c, || {
            println!("{}  ({})", c.name, c.short);
            if !c.purpose.is_empty() {
                println!("Purpose: {}", c.purpose);
            }
            println!("History: {}", c.history);
            if !c.member {
                println!("You are no longer a member of this circle.");
            }
            println!("\nCharter:\n{}", c.charter);
            println!("\nMembers:");
            print_members(&c.members);
            println!("\nGatherings:");
            print_gatherings(&c.gatherings);
            if !c.goals.is_empty() {
                println!("\nGoals:");
                print_goals(&c.goals);
            }
            if !c.contracts.is_empty() {
                println!("\nContracts:");
                print_contracts(&c.contracts);
            }
            if c.sealed_entries > 0 {
                println!(
                    "\n{} entries are sealed under keys you do not hold.",
                    c.sealed_entries
                );
            }
            if c.rejected_entries > 0 {
                println!("{} stored entries were refused.", c.rejected_entries);
            }
        });
    }

    pub fn members(&self, members: &[MemberView]) {
        self.emit(members, || print_members(members));
    }

    pub fn member_added(&self, m: &MemberView) {
        self.emit(m, || {
            println!("Added {} ({}).", m.name, m.short);
            println!(
                "Fingerprint: {}  (it should match what they see)",
                m.fingerprint
            );
        });
    }

    pub fn gatherings(&self, gatherings: &[GatheringView]) {
        self.emit(gatherings, || print_gatherings(gatherings));
    }

    pub fn notes(&self, notes: &[GatheringNotes]) {
        self.emit(notes, || {
            for g in notes {
                println!("Gathering of {} ({})", g.gathering.date, g.gathering.short);
                if !g.gathering.readable {
                    println!("  (sealed: written before you joined)");
                }
                for n in &g.notes {
                    println!("  - {}: {}", n.author_name, n.text);
                }
            }
        });
    }

    pub fn goals(&self, goals: &[GoalView]) {
        self.emit(goals, || print_goals(goals));
    }

    pub fn contracts(&self, contracts: &[ContractView]) {
        self.emit(contracts, || print_contracts(contracts));
    }

    pub fn exported(&self, file: &Path, bytes: usize) {
        let value = json!({"file": file.display().to_string(), "bytes": bytes});
        self.emit(&value, || {
            println!("Wrote {} ({bytes} bytes).", file.display())
        });
    }

    pub fn imported(&self, r: &ImportReport) {
        self.emit(r, || {
            if r.joined {
                println!("You are now holding this circle.");
            }
            println!(
                "Imported {} operations and {} entries ({} already held).",
                r.ops_accepted, r.entries_accepted, r.duplicates
            );
            print_rejections(r.rejected.iter().map(|v| (None, v)));
        });
    }

    pub fn rejections(&self, rows: &[(String, RejectionView)]) {
        let value: Vec<_> = rows
            .iter()
            .map(|(at, v)| json!({"at": at, "rejection": v}))
            .collect();
        self.emit(&value, || {
            if rows.is_empty() {
                println!("Nothing was refused.");
            }
            print_rejections(rows.iter().map(|(at, v)| (Some(at.as_str()), v)));
        });
    }
}

fn print_members(members: &[MemberView]) {
    for m in members {
        let me = if m.me { "  (you)" } else { "" };
        println!("  {}  {}  {}{me}", m.short, m.name, m.fingerprint);
    }
}

fn print_gatherings(gatherings: &[GatheringView]) {
    if gatherings.is_empty() {
        println!("  none yet");
    }
    for g in gatherings {
        let sealed = if g.readable { "" } else { "  (sealed)" };
        println!("  {}  {}{sealed}", g.short, g.date);
    }
}

fn print_goals(goals: &[GoalView]) {
    for g in goals {
        println!("  {}  {}: {} [{}]", g.id, g.owner_name, g.text, g.status);
    }
}

fn print_contracts(contracts: &[ContractView]) {
    for k in contracts {
        println!("  {}  {}: {}", k.id, k.owner_name, k.text);
    }
}

fn print_rejections<'a>(rows: impl Iterator<Item = (Option<&'a str>, &'a RejectionView)>) {
    for (at, v) in rows {
        let who = v
            .author
            .as_deref()
            .map(|a| format!(" from {}", &a[..a.len().min(8)]))
            .unwrap_or_default();
        let seq = v.seq.map(|s| format!(" #{s}")).unwrap_or_default();
        let at = at.map(|a| format!("{a}  ")).unwrap_or_default();
        println!(
            "  {at}refused {}{who}{seq}: {} [{}]",
            v.kind, v.message, v.code
        );
    }
}
