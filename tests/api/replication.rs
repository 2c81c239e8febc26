//! Beyond one machine: real `frontdoor` nodes on a three-node JetStream cluster of real
//! `nats-server` processes on loopback (free ports, temporary directories). Without
//! `nats-server` these tests say so loudly and skip, unless `CI` is set: then they fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{self, BIN, contact_body, create_token, read};

fn nats_server_present() -> bool {
    Command::new("nats-server").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// `true` when the test must skip (no nats-server, not in CI); panics in CI.
fn skip() -> bool {
    if nats_server_present() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "nats-server is missing: CI must install it (apt-get install -y nats-server)"
    );
    eprintln!(
        "\n!!!! SKIPPED: nats-server is not installed (apt-get install -y nats-server); replication untested !!!!\n"
    );
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Three JetStream nodes, clustered on loopback.
struct Nats {
    dir: tempfile::TempDir,
    ports: [u16; 3],
    routes: [u16; 3],
    nodes: [Option<Child>; 3],
}

impl Nats {
    fn start() -> Nats {
        let mut nats = Nats {
            dir: tempfile::tempdir().unwrap(),
            ports: [free_port(), free_port(), free_port()],
            routes: [free_port(), free_port(), free_port()],
            nodes: [None, None, None],
        };
        for n in 0..3 {
            nats.start_node(n);
        }
        nats
    }

    fn start_node(&mut self, n: usize) {
        let store = self.dir.path().join(format!("n{n}"));
        std::fs::create_dir_all(&store).unwrap();
        let routes: Vec<String> = self.routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect();
        let child = Command::new("nats-server")
            .args(["--server_name", &format!("n{n}"), "-a", "127.0.0.1", "-p", &self.ports[n].to_string(), "-js"])
            .arg("-sd")
            .arg(&store)
            .args(["--cluster_name", "frontdoor-test"])
            .args(["--cluster", &format!("nats://127.0.0.1:{}", self.routes[n])])
            .args(["--routes", &routes.join(",")])
            .arg("-l")
            .arg(self.dir.path().join(format!("n{n}.log")))
            // NATS_TEST_DEBUG=1: the servers' debug and protocol trace in their logs.
            .args(if std::env::var_os("NATS_TEST_DEBUG").is_some() { &["-D"][..] } else { &[][..] })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.nodes[n] = Some(child);
    }

    /// kill -9 one node.
    fn kill(&mut self, n: usize) {
        if let Some(mut child) = self.nodes[n].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn urls(&self) -> String {
        let urls: Vec<String> = self.ports.iter().map(|p| format!("\"nats://127.0.0.1:{p}\"")).collect();
        format!("[{}]", urls.join(", "))
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for n in 0..3 {
            self.kill(n);
        }
        // A failed test (or any, with NATS_TEST_DEBUG) keeps the servers' logs (the temporary
        // directory goes): say where.
        if std::thread::panicking() || std::env::var_os("NATS_TEST_DEBUG").is_some() {
            let kept =
                std::env::temp_dir().join(format!("frontdoor-nats-logs-{}-{}", std::process::id(), self.ports[0]));
            if std::fs::create_dir_all(&kept).is_ok() {
                for n in 0..3 {
                    let _ = std::fs::copy(self.dir.path().join(format!("n{n}.log")), kept.join(format!("n{n}.log")));
                }
                eprintln!("nats-server logs kept in {}", kept.display());
            }
        }
    }
}

/// One frontdoor node: its data directory, its config, its process and its tokens.
struct Node {
    name: &'static str,
    root: PathBuf,
    child: Option<Child>,
    url: String,
    writer: String,
    auditor: String,
    client: reqwest::Client,
}

impl Node {
    fn data(root: &Path) -> PathBuf {
        root.join("data")
    }

    fn new(root: &Path, name: &'static str, nats: &Nats, mode: &str, timeout_ms: u64) -> Node {
        Node::with(root, name, &nats.urls(), mode, timeout_ms, "replicated")
    }

    /// A standby of `primary`: it has no tokens of its own, it takes the primary's.
    fn standby_of(root: &Path, name: &'static str, nats: &Nats, primary: &Node) -> Node {
        let mut node = Node::configure(root, name, &nats.urls(), "standby", 10_000, "replicated");
        node.writer = primary.writer.clone();
        node.auditor = primary.auditor.clone();
        node.start();
        node
    }

    fn with(root: &Path, name: &'static str, urls: &str, mode: &str, timeout_ms: u64, acks: &str) -> Node {
        let mut node = Node::configure(root, name, urls, mode, timeout_ms, acks);
        node.tokens();
        node.start();
        node
    }

    fn configure(root: &Path, name: &'static str, urls: &str, mode: &str, timeout_ms: u64, acks: &str) -> Node {
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(
            root.join("frontdoor.toml"),
            format!(
                "[replication]\nurls = {}\nnode = \"{name}\"\nmode = \"{mode}\"\nacks = \"{acks}\"\npublish_timeout_ms = {timeout_ms}\n",
                urls
            ),
        )
        .unwrap();
        Node {
            name,
            root: root.to_path_buf(),
            child: None,
            url: String::new(),
            writer: String::new(),
            auditor: String::new(),
            client: reqwest::Client::new(),
        }
    }

    fn tokens(&mut self) {
        let data = Node::data(&self.root);
        self.writer = create_token(&data, "practitioner", &format!("worker-{}", self.name), "childrens_social_care");
        self.auditor = create_token(&data, "auditor", &format!("auditor-{}", self.name), "childrens_social_care");
    }

    fn start(&mut self) {
        let config = self.root.join("frontdoor.toml");
        let (child, url) = harness::start(&Node::data(&self.root), &["--config", config.to_str().unwrap()]);
        self.child = Some(child);
        self.url = url;
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn readyz(&self) -> Value {
        let resp = self.client.get(format!("{}/readyz", self.url)).send().await.unwrap();
        resp.json().await.unwrap_or(Value::Null)
    }

    async fn wait_ready(&self) -> Value {
        // A minute: on a busy machine the cluster may take a while to elect the stream's leader.
        for _ in 0..1200 {
            if let Ok(resp) = self.client.get(format!("{}/readyz", self.url)).send().await
                && resp.status() == 200
            {
                return resp.json().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never ready", self.name);
    }

    async fn write(&self) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/v1/contacts", self.url))
            .bearer_auth(&self.writer)
            .json(&contact_body())
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    async fn write_with_key(&self, key: &str) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/v1/contacts", self.url))
            .bearer_auth(&self.writer)
            .header("Idempotency-Key", key)
            .json(&contact_body())
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    /// Every event in the node's log, as the auditor reads it.
    async fn events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let resp = self
                .client
                .get(format!("{}/v1/events?after={after}&limit=1000", self.url))
                .bearer_auth(&self.auditor)
                .send()
                .await
                .unwrap();
            let (status, body) = read(resp).await;
            assert_eq!(status, 200, "{body}");
            let page = body["events"].as_array().unwrap().clone();
            if page.is_empty() {
                return out;
            }
            after = page.last().unwrap()["position"].as_u64().unwrap();
            out.extend(page);
        }
    }

    async fn head(&self) -> u64 {
        self.readyz().await["log_position"].as_u64().unwrap_or(0)
    }

    /// Waits until the node's log reaches `position`.
    async fn wait_head(&self, position: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.head().await >= position {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never reached position {position} (at {})", self.name, self.head().await);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Positions from 1 without a gap or a repeat, each `prev_hash` the hash before it.
fn assert_chain(events: &[Value]) {
    let mut prev = "0".repeat(64);
    for (i, env) in events.iter().enumerate() {
        assert_eq!(env["position"].as_u64().unwrap(), i as u64 + 1, "no gap, no duplicate");
        assert_eq!(env["prev_hash"].as_str().unwrap(), prev, "the chain links at position {}", i + 1);
        prev = env["hash"].as_str().unwrap().to_owned();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_promoted_after_the_primary_dies_has_every_acknowledged_event_and_fences_the_old_one() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let mut a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;
    let b = Node::standby_of(&root.path().join("b"), "node-b", &nats, &a);
    let status = b.wait_ready().await;
    assert_eq!(status["replication"]["role"], "standby", "{status}");

    // A standby answers writes 503, naming the primary.
    a.write().await;
    b.wait_head(1).await;
    let (status, body) = b.write().await;
    assert_eq!(status, 503, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("node-a"), "{body}");

    // Eight writers on the primary; kill -9 it in the middle.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(vec![(1u16, Value::Null)]));
    acknowledged.lock().unwrap().clear();
    let mut writers = Vec::new();
    for _ in 0..8 {
        let url = a.url.clone();
        let token = a.writer.clone();
        let acked = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let sent =
                    client.post(format!("{url}/v1/contacts")).bearer_auth(&token).json(&contact_body()).send().await;
                let Ok(resp) = sent else { return };
                let (status, body) = read(resp).await;
                if status == 201 {
                    acked.lock().unwrap().push((status, body));
                }
            }
        }));
    }
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 150 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill();
    for w in writers {
        let _ = w.await;
    }
    let acked: Vec<String> =
        acknowledged.lock().unwrap().iter().map(|(_, b)| b["contact_id"].as_str().unwrap().to_owned()).collect();
    assert!(acked.len() >= 50, "the load ran: {} acknowledged", acked.len());
    std::fs::remove_dir_all(Node::data(&a.root)).unwrap();

    // Promote the standby with the CLI.
    let out = Command::new(BIN).args(["promote", "--data-dir"]).arg(Node::data(&b.root)).output().unwrap();
    assert!(out.status.success(), "promote: {}", String::from_utf8_lossy(&out.stderr));
    let status = b.readyz().await;
    assert_eq!(status["replication"]["role"], "primary", "{status}");

    let events = b.events().await;
    assert_chain(&events);
    let on_b: std::collections::HashSet<&str> = events.iter().map(|e| e["contact_id"].as_str().unwrap()).collect();
    let lost: Vec<&String> = acked.iter().filter(|c| !on_b.contains(c.as_str())).collect();
    assert!(lost.is_empty(), "acknowledged by the old primary, missing on the new one: {lost:?}");
    eprintln!(
        "failover: {} acknowledged by the killed primary, {} events on the promoted standby, 0 lost",
        acked.len(),
        events.len()
    );

    // New writes continue the chain.
    let head = events.last().unwrap().clone();
    let (status, body) = b.write().await;
    assert_eq!(status, 201, "{body}");
    let after = b.events().await;
    assert_eq!(after.len(), events.len() + 1);
    assert_chain(&after);
    assert_eq!(after.last().unwrap()["prev_hash"], head["hash"]);

    // The old primary, restarted (its data directory gone, its config still "primary"), is
    // refused and follows, with the tokens the new primary has (the old primary's, replicated).
    a.start();
    let status = a.wait_ready().await;
    assert_eq!(status["replication"]["role"], "standby", "{status}");
    assert_eq!(status["replication"]["primary"], "node-b", "{status}");
    let (status, body) = a.write().await;
    assert_eq!(status, 503, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("node-b"), "{body}");
    a.wait_head(after.len() as u64).await;
    let on_a = a.events().await;
    assert_eq!(on_a, after, "the old primary holds the same chain, no divergence");
}

/// `POST /v1/admin/promote` on `node` with `token` (none: no Authorization header).
async fn promote_over_http(node: &Node, token: Option<&str>) -> (u16, Value) {
    let mut req = node.client.post(format!("{}/v1/admin/promote", node.url));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    if resp.status() != 200 {
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("application/problem+json"), "{content_type}");
    }
    read(resp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_promotes_a_standby_over_http_and_its_writes_continue_the_chain() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let mut a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;
    // An admin token made on the primary, which the standby takes with the rest.
    let admin = create_token(&Node::data(&a.root), "admin", "admin-node-a", "childrens_social_care");
    let b = Node::standby_of(&root.path().join("b"), "node-b", &nats, &a);
    b.wait_ready().await;
    for _ in 0..5 {
        let (status, body) = a.write().await;
        assert_eq!(status, 201, "{body}");
    }
    b.wait_head(5).await;
    wait_status(&b, &admin, 200, "the primary's admin token").await;

    // Only an admin promotes; the standby stays a standby.
    let (status, body) = promote_over_http(&b, Some(&b.writer)).await;
    assert_eq!(status, 403, "a practitioner: {body}");
    let (status, body) = promote_over_http(&b, None).await;
    assert_eq!(status, 401, "no token: {body}");
    assert_eq!(b.readyz().await["replication"]["role"], "standby");
    // The primary is not a standby: 409, and it stays the primary.
    let (status, body) = promote_over_http(&a, Some(&admin)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["type"], "/docs#problem-not-a-standby", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("node-a"), "{body}");
    let (status, body) = a.write().await;
    assert_eq!(status, 201, "the primary still takes writes: {body}");
    b.wait_head(6).await;

    a.kill();
    let before = b.events().await;
    let (status, body) = promote_over_http(&b, Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["node"], "node-b", "{body}");
    assert_eq!(body["log_position"], 6, "{body}");
    assert_eq!(body["head_hash"], before.last().unwrap()["hash"], "{body}");
    assert_eq!(b.readyz().await["replication"]["role"], "primary");

    // Its next write continues the chain from the position and hash it answered with.
    let (status, written) = b.write().await;
    assert_eq!(status, 201, "{written}");
    let after = b.events().await;
    assert_eq!(after.len(), 7);
    assert_chain(&after);
    assert_eq!(after[..6], before[..], "nothing before the promotion changed");
    assert_eq!(after[6]["prev_hash"], body["head_hash"]);
    assert_eq!(after[6]["contact_id"], written["contact_id"]);

    // Promoted once: asked again, 409.
    let (status, body) = promote_over_http(&b, Some(&admin)).await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_go_on_with_one_nats_node_down_and_wait_for_a_quorum_without_two() {
    if skip() {
        return;
    }
    let mut nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    // Long enough for the stream to elect a new leader when a node dies, on a busy machine.
    let a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 15_000);
    a.wait_ready().await;
    for _ in 0..5 {
        let (status, body) = a.write().await;
        assert_eq!(status, 201, "{body}");
    }

    nats.kill(0);
    for _ in 0..10 {
        let (status, body) = a.write().await;
        assert_eq!(status, 201, "one NATS node down: {body}");
    }

    nats.kill(1);
    // A 503 leaves the outcome open (the stream may still take a publish that timed out), so
    // the client retries with the same key until it gets its 201: exactly one contact.
    let (status, body) = a.write_with_key("after-the-outage").await;
    assert_eq!(status, 503, "two down, never acknowledged on one copy: {body}");
    assert!(body["detail"].as_str().unwrap().contains("replicated log"), "{body}");
    let events = a.events().await;
    assert_eq!(events.len(), 15, "reads go on, and the refused write is not in the log");
    assert_chain(&events);

    nats.start_node(1);
    // The cluster elects its leaders again and the service, refused until the stream can say who
    // published last, asks at each write: up to 14 s on a loaded 2-core machine
    // (ops/RELIABILITY.md); a minute leaves room for a slower one.
    let returned = Instant::now();
    let deadline = returned + Duration::from_secs(60);
    let mut last = Value::Null;
    let contact = loop {
        let (status, body) = a.write_with_key("after-the-outage").await;
        if status == 201 {
            break body["contact_id"].as_str().unwrap().to_owned();
        }
        assert_eq!(status, 503, "{body}");
        last = body;
        assert!(Instant::now() < deadline, "writes never resumed; the last answer: {last}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("writes resumed {:?} after the NATS node returned (last refusal: {last})", returned.elapsed());
    let events = a.events().await;
    assert_eq!(events.len(), 16, "the retried write is in the log once");
    assert_eq!(events.last().unwrap()["contact_id"], contact.as_str());
    assert_chain(&events);
    let (status, body) = a.write().await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_killed_and_restarted_catches_up_without_a_gap_or_a_duplicate() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;
    let mut b = Node::standby_of(&root.path().join("b"), "node-b", &nats, &a);
    b.wait_ready().await;
    for _ in 0..20 {
        assert_eq!(a.write().await.0, 201);
    }
    b.wait_head(20).await;
    b.kill();
    for _ in 0..30 {
        assert_eq!(a.write().await.0, 201);
    }
    b.start();
    b.wait_ready().await;
    b.wait_head(50).await;
    let on_a = a.events().await;
    let on_b = b.events().await;
    assert_eq!(on_b.len(), 50);
    assert_chain(&on_b);
    assert_eq!(on_b, on_a, "the same events, byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_an_old_primary_holds_beyond_the_stream_are_quarantined_and_it_follows() {
    if skip() {
        return;
    }
    let mut nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    // acks = "local": a 201 once the local fdatasync is done, published in the background.
    // This node reaches NATS through the first node only.
    let only_first = format!("[\"nats://127.0.0.1:{}\"]", nats.ports[0]);
    let mut a = Node::with(&root.path().join("a"), "node-a", &only_first, "primary", 2_000, "local");
    a.wait_ready().await;
    let b = Node::standby_of(&root.path().join("b"), "node-b", &nats, &a);
    b.wait_ready().await;
    for _ in 0..5 {
        assert_eq!(a.write().await.0, 201);
    }
    b.wait_head(5).await;

    // Its NATS node gone: the primary still acknowledges locally; those three never reach
    // the stream (the other two nodes keep the stream's quorum).
    nats.kill(0);
    for _ in 0..3 {
        let (status, body) = a.write().await;
        assert_eq!(status, 201, "local acks: {body}");
    }
    let unpublished: Vec<Value> = a.events().await.split_off(5);
    assert_eq!(unpublished.len(), 3);
    a.kill();
    nats.start_node(0);

    // The standby is promoted and writes on.
    let out = Command::new(BIN).args(["promote", "--data-dir"]).arg(Node::data(&b.root)).output().unwrap();
    assert!(out.status.success(), "promote: {}", String::from_utf8_lossy(&out.stderr));
    for _ in 0..2 {
        let (status, body) = b.write().await;
        assert_eq!(status, 201, "{body}");
    }
    let on_b = b.events().await;
    assert_eq!(on_b.len(), 7);

    // The old primary comes back: its three records are moved aside, named in /readyz, and it
    // follows the new primary's chain.
    a.start();
    let status = a.wait_ready().await;
    assert_eq!(status["replication"]["role"], "standby", "{status}");
    let quarantine = status["replication"]["quarantine"].as_array().cloned().unwrap_or_default();
    assert_eq!(quarantine.len(), 1, "{status}");
    let file = PathBuf::from(quarantine[0].as_str().unwrap());
    assert!(file.starts_with(Node::data(&a.root).join("quarantine")), "{file:?}");
    let bytes = std::fs::read(&file).unwrap();
    for env in &unpublished {
        let hash = env["hash"].as_str().unwrap();
        let hash = hex_bytes(hash);
        assert!(
            bytes.windows(32).any(|w| w == hash.as_slice()),
            "the quarantine file holds position {}",
            env["position"]
        );
    }
    a.wait_head(7).await;
    let on_a = a.events().await;
    assert_eq!(on_a, on_b, "the new primary's chain, not the old one's");
    assert_chain(&on_a);
    let (status, body) = a.write().await;
    assert_eq!(status, 503, "{body}");
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enabling_replication_on_an_existing_log_publishes_what_it_holds_first() {
    if skip() {
        return;
    }
    // One machine, no NATS: twelve contacts.
    let root = tempfile::tempdir().unwrap();
    let a_root = root.path().join("a");
    let data = Node::data(&a_root);
    std::fs::create_dir_all(&a_root).unwrap();
    let writer = create_token(&data, "practitioner", "worker-alone", "childrens_social_care");
    let (mut alone, url) = harness::start(&data, &[]);
    let client = reqwest::Client::new();
    for _ in 0..12 {
        let resp =
            client.post(format!("{url}/v1/contacts")).bearer_auth(&writer).json(&contact_body()).send().await.unwrap();
        assert_eq!(read(resp).await.0, 201);
    }
    alone.kill().unwrap();
    alone.wait().unwrap();

    // The same data directory as a primary: the history goes to the stream before any write.
    let nats = Nats::start();
    let a = Node::new(&a_root, "node-a", &nats, "primary", 10_000);
    let status = a.wait_ready().await;
    assert_eq!(status["replication"]["role"], "primary", "{status}");
    assert!(status["replication"]["stream_sequence"].as_u64().unwrap() >= 1, "{status}");
    let b = Node::standby_of(&root.path().join("b"), "node-b", &nats, &a);
    b.wait_ready().await;
    b.wait_head(12).await;
    assert_eq!(a.write().await.0, 201);
    b.wait_head(13).await;
    let on_a = a.events().await;
    assert_eq!(on_a.len(), 13);
    assert_chain(&on_a);
    assert_eq!(b.events().await, on_a, "the standby holds the history and what came after, the same chain");
}

/// The status a node answers `token` with, reading one page of the log.
async fn status_with(node: &Node, token: &str) -> u16 {
    let resp =
        node.client.get(format!("{}/v1/events?after=0&limit=1", node.url)).bearer_auth(token).send().await.unwrap();
    resp.status().as_u16()
}

/// Waits until `node` answers `token` with `status`.
async fn wait_status(node: &Node, token: &str, status: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = status_with(node, token).await;
        if now == status {
            return;
        }
        assert!(Instant::now() < deadline, "{}: {what}: still {now}, never {status}", node.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn token_id(token: &str) -> &str {
    token.split('_').nth(1).unwrap()
}

/// `frontdoor token revoke` on a data directory, as an operator would, while the node runs.
fn revoke(data: &Path, token: &str) -> std::process::Output {
    Command::new(BIN).args(["token", "revoke", "--data-dir"]).arg(data).arg(token_id(token)).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_created_and_revoked_on_the_primary_are_honoured_on_the_standby_even_after_a_restart() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;
    let mut b = Node::standby_of(&root.path().join("b"), "node-b", &nats, &a);
    b.wait_ready().await;
    assert_eq!(a.write().await.0, 201);
    b.wait_head(1).await;
    // The standby had no tokens of its own: it reads with the primary's.
    assert_eq!(status_with(&b, &a.auditor).await, 200);

    // Created on the running primary with the CLI: accepted on the standby.
    let a_data = Node::data(&a.root);
    let first = create_token(&a_data, "auditor", "auditor-extra-1", "childrens_social_care");
    let second = create_token(&a_data, "auditor", "auditor-extra-2", "childrens_social_care");
    wait_status(&b, &first, 200, "a token created on the primary").await;
    wait_status(&b, &second, 200, "a token created on the primary").await;

    // The standby refuses token commands, naming the primary.
    let out = Command::new(BIN)
        .args(["token", "create", "--data-dir"])
        .arg(Node::data(&b.root))
        .args(["--role", "admin", "--actor", "admin-on-b", "--agency", "childrens_social_care"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a token created on a standby");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("standby") && stderr.contains("node-a"), "{stderr}");
    let out = revoke(&Node::data(&b.root), &first);
    assert!(!out.status.success(), "a token revoked on a standby");
    assert_eq!(status_with(&b, &first).await, 200, "a refused revocation changes nothing");

    // Revoked on the primary: refused there at once, and on the standby within its lag.
    let out = revoke(&a_data, &first);
    assert!(out.status.success(), "revoke: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(status_with(&a, &first).await, 401);
    wait_status(&b, &first, 401, "a token revoked on the primary").await;
    assert_eq!(status_with(&b, &second).await, 200, "only the revoked token is refused");

    // The standby down, a revocation and a new token on the primary: once the standby is
    // back and ready, it refuses the one and accepts the other, from its first request.
    b.kill();
    let out = revoke(&a_data, &second);
    assert!(out.status.success(), "revoke: {}", String::from_utf8_lossy(&out.stderr));
    let third = create_token(&a_data, "auditor", "auditor-extra-3", "childrens_social_care");
    wait_status(&a, &third, 200, "a token created on the primary").await;
    // Long enough for the primary's next look at its tokens file.
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.start();
    b.wait_ready().await;
    assert_eq!(status_with(&b, &second).await, 401, "revoked while the standby was down");
    assert_eq!(status_with(&b, &third).await, 200, "created while the standby was down");
    assert_eq!(status_with(&b, &first).await, 401);

    // The tokens file travelled, never a secret: no token's text is in the standby's data.
    let on_b = std::fs::read_to_string(Node::data(&b.root).join("tokens.json")).unwrap();
    for token in [&first, &second, &third, &a.auditor, &a.writer] {
        assert!(on_b.contains(token_id(token)), "the standby lists {}", token_id(token));
        assert!(!on_b.contains(token.as_str()), "a token's secret reached the standby");
    }
}

impl Node {
    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = self.client.get(format!("{}{path}", self.url)).bearer_auth(token).send().await.unwrap();
        read(resp).await
    }

    /// The contact's audit trail's access entries, as `(actor, action)`, read as the auditor.
    async fn audit(&self, contact: &str) -> Vec<(String, String)> {
        let (status, body) = self.get(&self.auditor, &format!("/v1/contacts/{contact}/audit")).await;
        assert_eq!(status, 200, "{body}");
        body["access"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["actor"]["id"].as_str().unwrap().to_owned(), a["action"].as_str().unwrap().to_owned()))
            .collect()
    }

    /// Waits until the contact's audit trail on this node shows `count` entries of `who`
    /// doing `action` (and then checks it is never more).
    async fn wait_audit(&self, contact: &str, who: &str, action: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.audit(contact).await.iter().filter(|(a, b)| a == who && b == action).count();
            assert!(seen <= count, "{}: {seen} entries of {who} {action}, expected {count}", self.name);
            if seen == count {
                return;
            }
            assert!(Instant::now() < deadline, "{}: {seen} entries of {who} {action}, never {count}", self.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_made_on_one_node_appear_in_every_nodes_audit_trail_even_after_a_restart() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;
    let mut b = Node::standby_of(&root.path().join("b"), "node-b", &nats, &a);
    b.wait_ready().await;
    let (status, body) = a.write().await;
    assert_eq!(status, 201, "{body}");
    let contact = body["contact_id"].as_str().unwrap().to_owned();
    b.wait_head(1).await;

    // A read of the child's record on the primary: the standby's audit trail shows it.
    let (status, body) = a.get(&a.writer, &format!("/v1/contacts/{contact}")).await;
    assert_eq!(status, 200, "{body}");
    b.wait_audit(&contact, "worker-node-a", "read_contact", 1).await;

    // A read on the standby is recorded there, and the primary's audit trail shows it too.
    let (status, body) = b.get(&b.writer, &format!("/v1/contacts/{contact}")).await;
    assert_eq!(status, 200, "{body}");
    b.wait_audit(&contact, "worker-node-a", "read_contact", 2).await;
    a.wait_audit(&contact, "worker-node-a", "read_contact", 2).await;

    // The standby down, two reads on the primary: back, it has them, each once.
    b.kill();
    for _ in 0..2 {
        assert_eq!(a.get(&a.writer, &format!("/v1/contacts/{contact}")).await.0, 200);
    }
    b.start();
    b.wait_ready().await;
    b.wait_audit(&contact, "worker-node-a", "read_contact", 4).await;

    // In the standby's access log, a copied entry names where it was recorded.
    let (status, page) = b.get(&b.auditor, "/v1/access?after=0&limit=1000").await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().unwrap();
    let copied: Vec<&Value> = entries.iter().filter(|e| e["recorded_on"]["node"] == "node-a").collect();
    assert!(!copied.is_empty(), "{page}");
    let own: Vec<&Value> = entries.iter().filter(|e| e.get("recorded_on").is_none()).collect();
    assert!(own.iter().any(|e| e["action"] == "read_contact"), "the standby's own read is its own: {page}");
    let status = b.readyz().await;
    assert!(status["replication"].get("access_stopped").is_none(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_access_entry_that_does_not_continue_its_chain_stops_the_copying_named_and_is_never_copied() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;
    let b = Node::standby_of(&root.path().join("b"), "node-b", &nats, &a);
    b.wait_ready().await;
    let (status, body) = a.write().await;
    assert_eq!(status, 201, "{body}");
    let contact = body["contact_id"].as_str().unwrap().to_owned();
    b.wait_head(1).await;
    assert_eq!(a.get(&a.writer, &format!("/v1/contacts/{contact}")).await.0, 200);
    b.wait_audit(&contact, "worker-node-a", "read_contact", 1).await;

    // Someone with access to NATS publishes a chain of their own: the primary's first entry
    // with its action changed and its hash kept.
    let client = async_nats::connect(format!("nats://127.0.0.1:{}", nats.ports[0])).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("FRONTDOOR_ACCESS").await.unwrap();
    let first = stream.get_raw_message(1).await.unwrap();
    let line = String::from_utf8(first.payload.to_vec()).unwrap().lines().next().unwrap().to_owned();
    assert!(line.contains("\"position\":1,"), "{line}");
    let forged = line.replacen("\"action\":\"", "\"action\":\"forged_", 1);
    assert_ne!(forged, line);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Frontdoor-Node", "node-x");
    js.publish_with_headers("frontdoor.access.ffffffffffffffff", headers, forged.into_bytes().into())
        .await
        .unwrap()
        .await
        .unwrap();

    // Both nodes stop copying, say why on /readyz, and copied nothing of it.
    for node in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(20);
        let detail = loop {
            let resp = node.client.get(format!("{}/readyz", node.url)).send().await.unwrap();
            let (status, body) = read(resp).await;
            if status == 503 {
                break body["detail"].as_str().unwrap_or_default().to_owned();
            }
            assert!(Instant::now() < deadline, "{}: still ready after a forged access entry: {body}", node.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(detail.contains("ffffffffffffffff") && detail.contains("node-x"), "{}: {detail}", node.name);
        assert!(detail.contains("hash"), "{}: {detail}", node.name);
        let trail = node.audit(&contact).await;
        assert!(trail.iter().all(|(_, action)| !action.starts_with("forged_")), "{}: {trail:?}", node.name);
    }
}
