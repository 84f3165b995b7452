//! Printing results: plain text for people, JSON (`--json`) for scripts.
//! Errors carry the engine's stable `code` in JSON mode. Output goes to the
//! terminal, or into buffers when a running `serve` executes a forwarded
//! command on another process's behalf.

use circlekeep_engine::views::*;
use circlekeep_engine::ErrorCode;
use circlekeep_engine::{DeviceIdentity, EngineError, MemberCard};
use circlekeep_sync::status::{MemberStatus, NodeStatus};
use circlekeep_sync::{DeviceTicket, KeeperTicket, SyncReport, Ticket};
use serde::Serialize;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Where results go, and in which form.
pub struct Output {
    json: bool,
    stdout: Mutex<Box<dyn Write + Send>>,
    stderr: Mutex<Box<dyn Write + Send>>,
}

/// Shorthand: `say!(out, "...")` writes a line to the output's stdout.
macro_rules! say {
    ($out:expr) => { $out.line(String::new()) };
    ($out:expr, $($arg:tt)*) => { $out.line(format!($($arg)*)) };
}

/// What to do next, in this CLI's terms, for errors a command fixes (the
/// engine's messages say what is wrong, never which command to run).
fn advice(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::NotInitialized => Some("run `circlekeep init` first"),
        ErrorCode::NoGathering => Some("start one with `circlekeep gathering new`"),
        ErrorCode::NotAccepted => Some("accept it first with `circlekeep circle accept CIRCLE`"),
        ErrorCode::NoCadence => Some(
            "set one with `circlekeep circle setup CIRCLE --every-weeks … --weekday … --time …`",
        ),
        _ => None,
    }
}

impl Output {
    /// Output to this process's terminal.
    pub fn terminal(json: bool) -> Self {
        Self::to(
            json,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )
    }

    /// Output into the given writers.
    pub fn to(json: bool, stdout: Box<dyn Write + Send>, stderr: Box<dyn Write + Send>) -> Self {
        Self {
            json,
            stdout: Mutex::new(stdout),
            stderr: Mutex::new(stderr),
        }
    }

    pub(crate) fn line(&self, text: String) {
        let mut out = self.stdout.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{text}");
    }

    fn warn_line(&self, text: String) {
        let mut err = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(err, "{text}");
    }

    pub(crate) fn emit<T: Serialize + ?Sized>(&self, value: &T, human: impl FnOnce()) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => self.line(text),
                Err(e) => self.warn_line(format!("error: cannot print JSON: {e}")),
            }
        } else {
            human();
        }
    }

    pub fn error(&self, error: &anyhow::Error) {
        let code = error
            .downcast_ref::<EngineError>()
            .map(EngineError::code)
            .or_else(|| error.downcast_ref::<crate::Failure>().map(|f| f.code))
            .unwrap_or(ErrorCode::Other);
        let message = match advice(code) {
            Some(advice) => format!("{error:#}: {advice}"),
            None => format!("{error:#}"),
        };
        if self.json {
            self.line(json!({"error": {"code": code, "message": message}}).to_string());
        } else {
            self.warn_line(format!("error: {message}"));
        }
    }

    pub fn done(&self, message: &str) {
        self.emit(&json!({"ok": true}), || say!(self, "{message}"));
    }

    pub fn id(&self, kind: &str, id: &str, message: &str) {
        self.emit(&json!({ kind: id }), || say!(self, "{message}\n{id}"));
    }

    /// This device and its member's card (none for a device linked by an
    /// older version, which cannot show that it is its member's).
    pub fn identity(&self, me: &DeviceIdentity, card: Option<&MemberCard>, heading: &str) {
        let value = json!({
            "name": me.name(),
            "member": me.member_id().to_hex(),
            "device": me.device_id().to_hex(),
            "fingerprint": card.map(MemberCard::fingerprint),
            "card": card.map(MemberCard::as_line),
        });
        self.emit(&value, || {
            let Some(card) = card else {
                say!(
                    self,
                    "This device is linked to member {} (device {}) by an older version and has no card: remove it and link it again.",
                    me.member_id().short(),
                    me.device_id().short()
                );
                return;
            };
            say!(self, "{heading}\n{}", card.as_line());
            say!(
                self,
                "Fingerprint (compare it with whoever adds you): {}",
                card.fingerprint()
            );
        });
    }

    pub fn circles(&self, circles: &[CircleSummary]) {
        self.emit(circles, || {
            if circles.is_empty() {
                say!(self, "No circles yet: `circlekeep circle create NAME`.");
            }
            for c in circles {
                let name = c.name.as_deref().unwrap_or("(unreadable)");
                let status = if !c.member {
                    "  [no longer a member]"
                } else if c.invitation {
                    "  [invitation: `circlekeep circle accept` to take part]"
                } else {
                    ""
                };
                say!(self, "{}  {name}  ({} members){status}", c.short, c.members);
            }
        });
    }

    pub fn circle(&self, c: &CircleView) {
        self.emit(c, || {
            say!(self, "{}  ({})", c.name, c.short);
            if !c.purpose.is_empty() {
                say!(self, "Purpose: {}", c.purpose);
            }
            say!(self, "History: {}", c.history);
            if c.invitation {
                say!(self, "This circle added you: accept it with `circlekeep circle accept {}` to take part.", c.short);
            }
            if !c.member {
                say!(self, "You are no longer a member of this circle.");
            }
            for fork in &c.forks {
                say!(self, "Warning: {}", fork_warning(fork));
            }
            say!(self, "\nCharter:\n{}", c.charter);
            say!(self, "\nMembers:");
            self.print_members(&c.members);
            say!(self, "\nGatherings:");
            self.print_gatherings(&c.gatherings);
            if !c.goals.is_empty() {
                say!(self, "\nGoals:");
                self.print_goals(&c.goals);
            }
            if !c.contracts.is_empty() {
                say!(self, "\nContracts:");
                self.print_contracts(&c.contracts);
            }
            if c.sealed_entries > 0 {
                say!(
                    self,
                    "\n{} entries are sealed under keys you do not hold.",
                    c.sealed_entries
                );
            }
            if c.rejected_entries > 0 {
                say!(self, "{} stored entries were refused.", c.rejected_entries);
            }
        });
    }

    pub fn members(&self, members: &[MemberView]) {
        self.emit(members, || self.print_members(members));
    }

    pub fn member_added(&self, m: &MemberView) {
        self.emit(m, || {
            say!(self, "Added {} ({}).", m.name, m.short);
            say!(
                self,
                "Fingerprint: {}  (it should match what they see)",
                m.fingerprint
            );
        });
    }

    pub fn gatherings(&self, gatherings: &[GatheringView]) {
        self.emit(gatherings, || self.print_gatherings(gatherings));
    }

    pub fn notes(&self, notes: &[GatheringNotes]) {
        self.emit(notes, || {
            for g in notes {
                say!(
                    self,
                    "Gathering of {} ({})",
                    g.gathering.date,
                    g.gathering.short
                );
                if !g.gathering.readable {
                    say!(self, "  (sealed: written before you joined)");
                }
                for n in &g.notes {
                    say!(self, "  - {}: {}", n.author_name, n.text);
                }
            }
        });
    }

    pub fn goals(&self, goals: &[GoalView]) {
        self.emit(goals, || self.print_goals(goals));
    }

    pub fn contracts(&self, contracts: &[ContractView]) {
        self.emit(contracts, || self.print_contracts(contracts));
    }

    pub fn exported(&self, file: &Path, bytes: usize) {
        let value = json!({"file": file.display().to_string(), "bytes": bytes});
        self.emit(&value, || {
            say!(self, "Wrote {} ({bytes} bytes).", file.display())
        });
    }

    pub fn imported(&self, r: &ImportReport) {
        self.emit(r, || {
            if r.joined {
                say!(self, "You are now holding this circle.");
            }
            say!(
                self,
                "Imported {} operations and {} entries ({} already held).",
                r.ops_accepted,
                r.entries_accepted,
                r.duplicates
            );
            self.print_rejections(r.rejected.iter().map(|v| (None, v, 1)));
            if r.refused > r.rejected.len() {
                say!(
                    self,
                    "  … and {} more refused.",
                    r.refused - r.rejected.len()
                );
            }
        });
    }

    pub fn rejections(&self, rows: &[RejectionSummary]) {
        let value: Vec<_> = rows
            .iter()
            .map(|r| json!({"at": r.last, "first": r.first, "count": r.count, "rejection": r.rejection}))
            .collect();
        self.emit(&value, || {
            if rows.is_empty() {
                say!(self, "Nothing was refused.");
            }
            self.print_rejections(
                rows.iter()
                    .map(|r| (Some(r.last.as_str()), &r.rejection, r.count)),
            );
        });
    }

    pub fn ticket(&self, ticket: &Ticket, circle: &str, expires_at: u64, serving: bool) {
        let link = ticket.link();
        let value = json!({"ticket": ticket.to_string(), "link": link, "circle": circle, "expires_at": expires_at});
        self.emit(&value, || {
            say!(
                self,
                "Give this invite to one newcomer (it works once); the link opens Circlekeep:\n{link}\nOr, for `circlekeep join`:\n{ticket}"
            );
            if !serving {
                say!(
                    self,
                    "Keep `circlekeep serve` running so they can reach you when they join."
                );
            }
        });
    }

    /// A line for the person at the terminal that is not the command's
    /// answer (on stderr, so `--json` output stays one value).
    pub fn info(&self, text: &str) {
        self.warn_line(text.to_owned());
    }

    pub fn device_ticket(&self, ticket: &DeviceTicket, expires_at: u64, serving: bool) {
        let value =
            json!({"ticket": ticket.to_string(), "link": ticket.link(), "expires_at": expires_at});
        self.emit(&value, || {
            say!(
                self,
                "On your new device run `circlekeep device join` with this ticket (it works once):\n{ticket}"
            );
            if !serving {
                say!(self, "Waiting here for the new device…");
            }
        });
    }

    pub fn device_linked(&self, device: &str, code: &str, circles: usize) {
        let value = json!({"device": device, "code": code, "circles": circles});
        self.emit(&value, || {
            say!(
                self,
                "This device is linked ({}), in {circles} circle(s). Code: {code}",
                &device[..8.min(device.len())]
            );
        });
    }

    pub fn devices(&self, devices: &[DeviceView]) {
        self.emit(devices, || {
            for d in devices {
                let this = if d.this { "  (this device)" } else { "" };
                say!(self, "{}  in {} circle(s){this}", d.short, d.circles);
            }
        });
    }

    pub fn joined(&self, circle: &str, name: Option<&str>) {
        let value = json!({"circle": circle, "name": name});
        self.emit(&value, || {
            say!(
                self,
                "Joined {} ({}).",
                name.unwrap_or("the circle"),
                &circle[..8.min(circle.len())]
            );
        });
    }

    pub fn diagnostics(&self, diagnostics: &circlekeep_engine::diagnostics::Diagnostics) {
        self.emit(diagnostics, || {
            say!(self, "{}", diagnostics.to_string().trim_end())
        });
    }

    pub fn status(&self, status: &NodeStatus, online: bool) {
        let value = json!({"online": online, "status": status});
        self.emit(&value, || {
            say!(self, "Endpoint id: {}", status.endpoint_id);
            if online {
                say!(self, "Listening on: {}", status.direct_addresses.join(", "));
                if let Some(relay) = &status.relay {
                    say!(self, "Relay: {relay}");
                }
            } else {
                say!(
                    self,
                    "Not serving (start `circlekeep serve` to sync continuously)."
                );
            }
            for c in &status.circles {
                say!(self, "Circle {}:", &c.circle[..8]);
                for m in &c.members {
                    say!(self, "  {}  {}", &m.member[..8], peer_state(m));
                }
                for k in &c.keepers {
                    say!(self, "  keeper {}  {}", &k.member[..8], peer_state(k));
                }
            }
        });
    }

    /// A keeper's ticket, to give a member for `circle keeper add`.
    pub fn keeper_ticket(&self, ticket: &KeeperTicket) {
        self.emit(&json!({ "ticket": ticket.to_string() }), || {
            say!(
                self,
                "Keeper ticket (a member enrols this keeper with `circlekeep circle keeper add CIRCLE TICKET`):\n{ticket}"
            );
        });
    }

    /// The keepers of a circle, with what the running node knows of each.
    pub fn keepers(&self, keepers: &[KeeperView], status: &[MemberStatus]) {
        let value: Vec<_> = keepers
            .iter()
            .map(|k| {
                let known = status.iter().find(|s| s.member == k.id);
                json!({ "keeper": k, "status": known })
            })
            .collect();
        self.emit(&value, || {
            if keepers.is_empty() {
                say!(
                    self,
                    "No keeper. Enrol one with `circlekeep circle keeper add CIRCLE TICKET`."
                );
            }
            for k in keepers {
                let state = status.iter().find(|s| s.member == k.id).map_or_else(
                    || "not serving here: run `circlekeep serve` to reach it".into(),
                    peer_state,
                );
                say!(self, "{}  {}  {state}", k.short, k.addresses.join(", "));
            }
        });
    }

    pub fn synced(&self, report: &SyncReport) {
        self.emit(report, || {
            say!(
                self,
                "Synced with {} member(s); {} unreachable.",
                report.synced.len(),
                report.unreachable.len()
            );
        });
    }

    pub fn settings(&self, relay: &str, local_discovery: bool) {
        let value = json!({"relay": relay, "local_discovery": local_discovery});
        self.emit(&value, || {
            say!(self, "relay: {relay}");
            say!(
                self,
                "local-discovery: {}",
                if local_discovery { "on" } else { "off" }
            );
        });
    }

    fn print_members(&self, members: &[MemberView]) {
        for m in members {
            let me = if m.me { "  (you)" } else { "" };
            say!(self, "  {}  {}  {}{me}", m.short, m.name, m.fingerprint);
        }
    }

    fn print_gatherings(&self, gatherings: &[GatheringView]) {
        if gatherings.is_empty() {
            say!(self, "  none yet");
        }
        for g in gatherings {
            let sealed = if g.readable { "" } else { "  (sealed)" };
            let series = match (&g.report_on, &g.follows) {
                (Some(day), _) => format!("  (short series: reports back on {day})"),
                (None, Some(_)) => "  (short series: the report back)".to_owned(),
                (None, None) => String::new(),
            };
            say!(self, "  {}  {}{sealed}{series}", g.short, g.date);
        }
    }

    fn print_goals(&self, goals: &[GoalView]) {
        for g in goals {
            say!(
                self,
                "  {}  {}: {} [{}]",
                g.id,
                g.owner_name,
                g.text,
                g.status
            );
        }
    }

    fn print_contracts(&self, contracts: &[ContractView]) {
        for k in contracts {
            say!(self, "{}", contract_line(k));
        }
    }

    fn print_rejections<'a>(
        &self,
        rows: impl Iterator<Item = (Option<&'a str>, &'a RejectionView, u64)>,
    ) {
        for (at, v, count) in rows {
            let who = v
                .author
                .as_deref()
                .map(|a| format!(" from {}", &a[..a.len().min(8)]))
                .unwrap_or_default();
            let seq = v.seq.map(|s| format!(" #{s}")).unwrap_or_default();
            let at = at.map(|a| format!("{a}  ")).unwrap_or_default();
            let times = if count > 1 {
                format!(" ×{count}")
            } else {
                String::new()
            };
            say!(
                self,
                "  {at}refused {}{who}{seq}{times}: {} [{}]",
                v.kind,
                v.message,
                v.code
            );
        }
    }
}

/// One contract as a line: id, owner, text, its outcome once reported, and
/// who recorded it if not its owner.
pub fn contract_line(k: &ContractView) -> String {
    let outcome = if k.outcome.is_empty() {
        String::new()
    } else {
        format!(" [{}]", k.outcome)
    };
    let by = k
        .recorded_by
        .as_ref()
        .map(|r| format!(" (recorded by {})", r.name))
        .unwrap_or_default();
    format!("  {}  {}: {}{outcome}{by}", k.id, k.owner_name, k.text)
}

/// What a forked log means and what to do, in the member's words.
fn fork_warning(fork: &ForkView) -> String {
    if fork.this_device {
        format!(
            "this device's key signed two different records at place {} of its log: it is in \
             use on another computer too (a restored backup?). Use it on one computer only: on \
             the other, start over with an empty data folder and link it as another of your \
             devices (`circlekeep device add` here, `circlekeep device join` there).",
            fork.at
        )
    } else {
        format!(
            "{}'s device {} signed two different records at place {} of its log (a copied key, \
             or a modified app): members may see different versions of what it wrote. Ask {} \
             to retire that device, or remove the member and add them again with a new key.",
            fork.member.name, fork.device_short, fork.at, fork.member.name
        )
    }
}

/// Whether a peer (member or keeper) is connected and how far apart.
fn peer_state(m: &MemberStatus) -> String {
    let state = match (m.connected, m.in_sync) {
        (true, true) => "connected, in sync",
        (true, false) => "connected",
        (false, _) => "not connected",
    };
    let behind = m
        .entries_behind
        .map(|b| format!(", {b} entries to receive"))
        .unwrap_or_default();
    let ahead = m
        .entries_ahead
        .map(|a| format!(", {a} entries to send"))
        .unwrap_or_default();
    format!("{state}{behind}{ahead}")
}
