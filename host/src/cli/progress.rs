//! Live progress of a run on a terminal: one line per node, redrawn in place;
//! or plain lines when the output is not a terminal.

use llmnode::engine::{EventSink, NodeStatus, RunEvent};
use llmnode::escape::{Escaped, escape};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How progress is shown.
pub enum Progress {
    /// Redraw a table of nodes in place (ANSI), streaming text inline.
    Live(Mutex<LiveTable>),
    /// One line per status change; streamed text written through as it arrives
    /// when exactly one node streams.
    Plain(Mutex<PlainLog>),
}

impl Progress {
    /// Pick the display for `nodes` (in workflow order).
    pub fn new(nodes: &[String], is_terminal: bool) -> Self {
        if is_terminal && nodes.len() > 1 {
            Progress::Live(Mutex::new(LiveTable::new(nodes)))
        } else {
            Progress::Plain(Mutex::new(PlainLog {
                streaming: None,
                started: Instant::now(),
                mid_line: false,
                shown: String::new(),
            }))
        }
    }

    /// The text streamed to the terminal in plain mode, so it is not printed twice.
    pub fn shown_text(&self) -> Option<String> {
        match self {
            Progress::Plain(p) => Some(lock(p).shown.clone()).filter(|s| !s.is_empty()),
            Progress::Live(_) => None,
        }
    }

    /// Draw the final state (live) or end the current line (plain).
    pub fn finish(&self) {
        match self {
            Progress::Live(t) => lock(t).draw(true),
            Progress::Plain(p) => lock(p).end_line(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EventSink for Progress {
    fn emit(&self, event: RunEvent) {
        match self {
            Progress::Live(t) => lock(t).apply(event),
            Progress::Plain(p) => lock(p).apply(event),
        }
    }
}

/// Plain, append-only progress.
pub struct PlainLog {
    streaming: Option<std::sync::Arc<str>>,
    started: Instant,
    mid_line: bool,
    shown: String,
}

impl PlainLog {
    fn end_line(&mut self) {
        if self.mid_line {
            eprintln!();
            self.mid_line = false;
        }
    }

    fn apply(&mut self, event: RunEvent) {
        let secs = self.started.elapsed().as_secs_f64();
        match event {
            RunEvent::Status { node, status, detail } => {
                if status == NodeStatus::Streaming {
                    if self.streaming.is_none() {
                        self.streaming = Some(node.clone());
                        self.end_line();
                        eprintln!("[{secs:6.2}s] {node}: streaming");
                    }
                    return;
                }
                self.end_line();
                if self.streaming.as_deref() == Some(&*node) {
                    self.streaming = None;
                }
                match detail {
                    Some(d) => eprintln!("[{secs:6.2}s] {node}: {} ({})", status.as_str(), Escaped(&d)),
                    None => eprintln!("[{secs:6.2}s] {node}: {}", status.as_str()),
                }
            }
            RunEvent::Text { node, text } => {
                if self.streaming.as_deref() == Some(&*node) {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(text.as_bytes());
                    let _ = err.flush();
                    self.mid_line = !text.ends_with('\n');
                    self.shown.push_str(&text);
                }
            }
            // Progress shows the answer; reasoning is in the node's output.
            RunEvent::Reasoning { .. } => {}
            RunEvent::Failover { node, from, reason } => {
                self.end_line();
                let (from, reason) = (Escaped(&from), Escaped(&reason));
                eprintln!("[{secs:6.2}s] {node}: {from} failed ({reason}); trying the next connection");
            }
        }
    }
}

struct Row {
    id: String,
    status: NodeStatus,
    detail: String,
    tail: String,
    since: Instant,
    took: Option<Duration>,
}

/// The in-place table.
pub struct LiveTable {
    rows: Vec<Row>,
    drawn_lines: usize,
    last_draw: Option<Instant>,
    /// Colours on: `NO_COLOR` (https://no-color.org) is unset or empty.
    color: bool,
}

const TAIL_CHARS: usize = 60;

impl LiveTable {
    fn new(nodes: &[String]) -> Self {
        let rows = nodes
            .iter()
            .map(|id| Row {
                id: id.clone(),
                status: NodeStatus::Waiting,
                detail: String::new(),
                tail: String::new(),
                since: Instant::now(),
                took: None,
            })
            .collect();
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        LiveTable { rows, drawn_lines: 0, last_draw: None, color }
    }

    fn apply(&mut self, event: RunEvent) {
        let node = match &event {
            RunEvent::Status { node, .. }
            | RunEvent::Text { node, .. }
            | RunEvent::Reasoning { node, .. }
            | RunEvent::Failover { node, .. } => node.clone(),
        };
        let Some(row) = self.rows.iter_mut().find(|r| *r.id == *node) else { return };
        let mut force = false;
        match event {
            RunEvent::Status { status, detail, .. } => {
                if status == NodeStatus::Running {
                    row.since = Instant::now();
                }
                if matches!(status, NodeStatus::Done | NodeStatus::Failed) {
                    row.took = Some(row.since.elapsed());
                }
                row.status = status;
                if let Some(d) = detail {
                    row.detail = escape(&d).into_owned();
                }
                force = true;
            }
            RunEvent::Text { text, .. } => {
                row.tail.push_str(&escape(&text.replace('\n', " ")));
                let n = row.tail.chars().count();
                if n > TAIL_CHARS {
                    row.tail = row.tail.chars().skip(n - TAIL_CHARS).collect();
                }
            }
            RunEvent::Reasoning { .. } => {}
            RunEvent::Failover { from, reason, .. } => {
                row.detail = format!("{}: {}; failing over", Escaped(&from), Escaped(&reason));
                force = true;
            }
        }
        // Redraw at most every 40 ms for text, at once for status changes.
        if force || self.last_draw.is_none_or(|t| t.elapsed() >= Duration::from_millis(40)) {
            self.draw(false);
        }
    }

    fn draw(&mut self, last: bool) {
        let width = self.rows.iter().map(|r| r.id.len()).max().unwrap_or(4);
        let mut out = String::new();
        if self.drawn_lines > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn_lines));
        }
        for r in &self.rows {
            let (mark, color) = match r.status {
                NodeStatus::Waiting => ("·", "2"),
                NodeStatus::Running => ("◌", "33"),
                NodeStatus::Streaming => ("◉", "36"),
                NodeStatus::Done => ("✔", "32"),
                NodeStatus::Failed => ("✘", "31"),
                NodeStatus::Skipped => ("-", "2"),
            };
            let time = match (r.status, r.took) {
                (_, Some(d)) => format!("{:5.2}s", d.as_secs_f64()),
                (NodeStatus::Running | NodeStatus::Streaming, None) => {
                    format!("{:5.2}s", r.since.elapsed().as_secs_f64())
                }
                _ => "      ".into(),
            };
            let extra = if r.status == NodeStatus::Streaming { format!("…{}", r.tail) } else { r.detail.clone() };
            let paint = |sgr: &str| if self.color { format!("\x1b[{sgr}m") } else { String::new() };
            let (on, dim, off) = (paint(color), paint("2"), paint("0"));
            out.push_str(&format!(
                "\x1b[2K {on}{mark}{off} {:<width$}  {on}{:<9}{off} {time}  {dim}{}{off}\n",
                r.id,
                r.status.as_str(),
                extra.chars().take(100).collect::<String>(),
            ));
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
        self.drawn_lines = self.rows.len();
        self.last_draw = Some(Instant::now());
        if last {
            self.drawn_lines = 0;
        }
    }
}
