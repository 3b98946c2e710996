//! Debian's Chromium, headless, driven the way a person drives it: the
//! DevTools protocol over `--remote-debugging-pipe` (NUL-separated JSON on the
//! browser's fds 3 and 4). No port to race for, no websocket client, nothing
//! to install beyond the `chromium` package the CI already has. A click is a
//! real mouse press and release at an element's centre (refused if something
//! covers it), typing is real text input into the focused field.

use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long one protocol call, or one wait for the page, may take.
const PATIENCE: Duration = Duration::from_secs(30);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A running headless Chromium with a fresh profile; closed when dropped.
pub struct Browser {
    child: Child,
    commands: Mutex<ChildStdin>,
    next_id: AtomicU64,
    pending: Pending,
    /// Every protocol event so far, oldest first.
    events: Arc<Mutex<Vec<Value>>>,
    stderr: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start Chromium as the CI runs it: headless, as root, offline.
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let stderr = profile.path().join("chromium.log");
        // The shell hands our stdin and stdout to Chromium as fds 3 and 4,
        // the pipe the protocol runs on.
        let mut child = Command::new("sh")
            .args(["-c", r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >&2"#, "chromium"])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().join("profile").display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("chromium is needed for this test (Debian package `chromium`)");
        let pending: Pending = Arc::default();
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let replies = BufReader::new(child.stdout.take().unwrap());
        let (to_pending, to_events) = (pending.clone(), events.clone());
        std::thread::spawn(move || read_replies(replies, &to_pending, &to_events));
        Browser {
            commands: Mutex::new(child.stdin.take().unwrap()),
            child,
            next_id: AtomicU64::new(1),
            pending,
            events,
            stderr,
            _profile: profile,
        }
    }

    /// One protocol call (to the browser, or to a page's `session`): its
    /// result, or its error.
    pub async fn try_call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        {
            let mut commands = self.commands.lock().unwrap();
            commands.write_all(&bytes).and_then(|()| commands.flush()).unwrap_or_else(|e| self.died(method, &e));
        }
        let reply = match tokio::time::timeout(PATIENCE, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => self.died(method, &"the pipe closed"),
            Err(_) => panic!("chromium did not answer {method} within {PATIENCE:?}"),
        };
        match reply.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// [`Browser::try_call`] that fails the test on a protocol error.
    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params).await.unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn died(&self, method: &str, why: &dyn std::fmt::Display) -> ! {
        let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let tail: String =
            log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        panic!("chromium went away during {method} ({why}); its log ends:\n{tail}")
    }

    /// A new tab showing `url`, with its network recorded from the start.
    pub async fn open(&self, url: &str) -> Page<'_> {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" })).await;
        let target = target["targetId"].as_str().unwrap().to_string();
        let attached = self.call(None, "Target.attachToTarget", json!({ "targetId": target, "flatten": true })).await;
        let page = Page { browser: self, session: attached["sessionId"].as_str().unwrap().to_string() };
        for domain in ["Page", "Runtime", "Network", "Log"] {
            page.call(&format!("{domain}.enable"), json!({})).await;
        }
        let size = json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false });
        page.call("Emulation.setDeviceMetricsOverride", size).await;
        page.call("Page.navigate", json!({ "url": url })).await;
        page
    }
}

/// Route each NUL-terminated message: a reply to its waiting call, an event
/// to the log.
fn read_replies(mut from: impl BufRead, pending: &Pending, events: &Mutex<Vec<Value>>) {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match from.read_until(0, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.last() == Some(&0) {
            buf.pop();
        }
        let Ok(message) = serde_json::from_slice::<Value>(&buf) else { continue };
        match message.get("id").and_then(Value::as_u64) {
            Some(id) => {
                if let Some(waiting) = pending.lock().unwrap().remove(&id) {
                    let _ = waiting.send(message);
                }
            }
            None => events.lock().unwrap().push(message),
        }
    }
    // Chromium is gone: every call still waiting learns it now.
    pending.lock().unwrap().clear();
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely (renderers exit with it), then make sure.
        if let Ok(mut commands) = self.commands.lock() {
            let _ = commands.write_all(b"{\"id\":0,\"method\":\"Browser.close\",\"params\":{}}\0");
            let _ = commands.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests a page made and what came back, for checks and leak scans.
#[derive(Default)]
pub struct Network {
    /// `METHOD URL` and the request body, in order.
    pub requests: Vec<(String, Option<String>)>,
    /// Every response body of the daemon's API.
    pub api_bodies: Vec<String>,
}

/// One tab, attached through its own protocol session.
pub struct Page<'b> {
    browser: &'b Browser,
    session: String,
}

impl Page<'_> {
    /// A protocol call within this tab.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.browser.call(Some(&self.session), method, params).await
    }

    /// The value of a JavaScript expression (promises awaited); fails the
    /// test if it throws.
    pub async fn eval(&self, expression: &str) -> Value {
        let params = json!({ "expression": expression, "returnByValue": true, "awaitPromise": true });
        let out = self.call("Runtime.evaluate", params).await;
        if let Some(e) = out.get("exceptionDetails") {
            panic!("{expression} threw: {}", e["exception"]["description"].as_str().unwrap_or(&e.to_string()));
        }
        out["result"].get("value").cloned().unwrap_or(Value::Null)
    }

    /// Wait until `condition` (a JavaScript expression) is truthy; `what`
    /// names it when it never is.
    pub async fn wait_for(&self, condition: &str, what: &str) {
        let deadline = Instant::now() + PATIENCE;
        let expression = format!("Boolean({condition})");
        loop {
            let ready = self.try_eval(&expression).await;
            if ready == Some(Value::Bool(true)) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.try_eval("document.body && document.body.innerText").await;
                panic!("waited {PATIENCE:?} for {what} ({condition}); the page shows:\n{}", text.unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Like [`Page::eval`], but `None` while the page is between documents.
    async fn try_eval(&self, expression: &str) -> Option<Value> {
        let params = json!({ "expression": expression, "returnByValue": true });
        let out = self.browser.try_call(Some(&self.session), "Runtime.evaluate", params).await.ok()?;
        if out.get("exceptionDetails").is_some() {
            return None;
        }
        out["result"].get("value").cloned()
    }

    /// Click the element `selector` names with the mouse, once it is shown,
    /// enabled and not covered by anything else.
    pub async fn click(&self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let locate = format!(
            "(() => {{ const el = document.querySelector({sel}); if (!el) return null; \
             el.scrollIntoView({{ block: 'center', inline: 'center' }}); const r = el.getBoundingClientRect(); \
             const x = r.left + r.width / 2, y = r.top + r.height / 2, hit = document.elementFromPoint(x, y); \
             return {{ x, y, ok: r.width > 0 && r.height > 0 && !el.disabled && !!hit && (hit === el || el.contains(hit)) }}; }})()"
        );
        let deadline = Instant::now() + PATIENCE;
        let (x, y) = loop {
            let at = self.eval(&locate).await;
            if at["ok"] == true {
                break (at["x"].as_f64().unwrap(), at["y"].as_f64().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "{selector} is not there to click (missing, hidden, disabled or covered)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.call("Input.dispatchMouseEvent", json!({ "type": "mouseMoved", "x": x, "y": y })).await;
        for kind in ["mousePressed", "mouseReleased"] {
            let event = json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1 });
            self.call("Input.dispatchMouseEvent", event).await;
        }
    }

    /// Click into the field `selector`, select what it holds and type `text`
    /// over it (an empty `text` deletes it).
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.click(selector).await;
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("document.querySelector({sel}).select()")).await;
        if text.is_empty() {
            for kind in ["keyDown", "keyUp"] {
                let key = json!({ "type": kind, "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8 });
                self.call("Input.dispatchKeyEvent", key).await;
            }
        } else {
            self.call("Input.insertText", json!({ "text": text })).await;
        }
        let value = self.eval(&format!("document.querySelector({sel}).value")).await;
        assert_eq!(value, json!(text), "typing into {selector}");
    }

    /// Pick `value` in the `<select>` `selector`. A headless native popup
    /// cannot be clicked, so this sets it and fires the events a pick fires.
    pub async fn choose(&self, selector: &str, value: &str) {
        let (sel, val) = (serde_json::to_string(selector).unwrap(), serde_json::to_string(value).unwrap());
        let js = format!(
            "(() => {{ const s = document.querySelector({sel}); s.focus(); s.value = {val}; \
             s.dispatchEvent(new Event('input', {{ bubbles: true }})); s.dispatchEvent(new Event('change', {{ bubbles: true }})); \
             return s.value; }})()"
        );
        assert_eq!(self.eval(&js).await, json!(value), "{value} is not an option of {selector}");
    }

    /// What a person can read on the page now.
    pub async fn text(&self) -> String {
        self.eval("document.body.innerText").await.as_str().unwrap_or_default().to_string()
    }

    /// Everything the page holds that a key could hide in: its markup, its
    /// visible text, every field's current value and the tab's storage.
    pub async fn everything(&self) -> String {
        let js = "[document.documentElement.outerHTML, document.body.innerText, \
                  ...[...document.querySelectorAll('input, select, textarea')].map((f) => f.value), \
                  JSON.stringify(Object.entries(sessionStorage)), JSON.stringify(Object.entries(localStorage))].join('\\n')";
        self.eval(js).await.as_str().unwrap_or_default().to_string()
    }

    /// This tab's protocol events so far.
    fn events(&self) -> Vec<Value> {
        let all = self.browser.events.lock().unwrap();
        all.iter().filter(|e| e["sessionId"] == self.session.as_str()).cloned().collect()
    }

    /// What went wrong in the page: uncaught exceptions (rejected promises
    /// included) and what the browser refused, such as a Content-Security-
    /// Policy violation.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for e in self.events() {
            let p = &e["params"];
            match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => {
                    let details = &p["exceptionDetails"];
                    let text = details["exception"]["description"].as_str().or(details["text"].as_str());
                    problems.push(format!("exception: {}", text.unwrap_or_default()));
                }
                Some("Log.entryAdded") if matches!(p["entry"]["source"].as_str(), Some("security" | "javascript")) => {
                    let (source, text) = (p["entry"]["source"].as_str(), p["entry"]["text"].as_str());
                    problems.push(format!("{}: {}", source.unwrap_or_default(), text.unwrap_or_default()));
                }
                _ => {}
            }
        }
        problems
    }

    /// The requests this tab made, and the daemon's answers to its API calls.
    pub async fn network(&self) -> Network {
        let events = self.events();
        let mut net = Network::default();
        // The API's requests, less those answered with no body at all.
        let mut api = HashSet::new();
        for e in &events {
            let p = &e["params"];
            let id = p["requestId"].as_str().unwrap_or_default();
            match e["method"].as_str() {
                Some("Network.requestWillBeSent") => {
                    let (method, url) =
                        (p["request"]["method"].as_str().unwrap(), p["request"]["url"].as_str().unwrap());
                    if url.contains("/api/") {
                        api.insert(id.to_string());
                    }
                    let body = p["request"]["postData"].as_str().map(str::to_string);
                    net.requests.push((format!("{method} {url}"), body));
                }
                Some("Network.responseReceived") if p["response"]["status"] == 204 => {
                    api.remove(id);
                }
                Some("Network.loadingFinished") if api.contains(id) => {
                    let body = self.call("Network.getResponseBody", json!({ "requestId": id })).await;
                    net.api_bodies.push(body["body"].as_str().unwrap_or_default().to_string());
                }
                _ => {}
            }
        }
        net
    }

    /// A PNG of the whole page, written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let clip = json!({ "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 });
        let params = json!({ "format": "png", "captureBeyondViewport": true, "clip": clip });
        let shot = self.call("Page.captureScreenshot", params).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}
