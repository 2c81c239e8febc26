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

/// The password of the NATS user frontdoor nodes sign in as (synthetic, test only).
const NODE_PASSWORD: &str = "node-test-password";
/// The downstream reader frontdoor's config names, and its password.
const READER: &str = "warehouse";
const READER_PASSWORD: &str = "warehouse-test-password";
/// A NATS user nobody gave any permission to the streams.
const STRANGER: &str = "stranger";
const STRANGER_PASSWORD: &str = "stranger-test-password";

/// Runs `openssl` with these arguments in `dir`, and panics with its stderr if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A throwaway CA, a certificate for the NATS servers (127.0.0.1, for clients and routes) and
/// one for clients (frontdoor nodes and the downstream reader: the servers ask for one), made
/// with the openssl CLI in the test's temporary directory: no key is ever committed.
fn make_certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=frontdoor test CA"]);
    openssl(dir, &ca);
    for (name, usage) in [("server", "serverAuth,clientAuth"), ("client", "clientAuth")] {
        let mut req = vec!["req"];
        req.extend(ec);
        let (key, csr, pem, ext) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        let subject = format!("/CN=frontdoor test {name}");
        req.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(dir, &req);
        std::fs::write(
            dir.join(&ext),
            format!("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// The NATS users and what each may do. `frontdoor` (the nodes): the stream subjects under
/// `frontdoor.`, the JetStream API, and its own inboxes. The downstream reader: the downstream
/// stream's info and its messages by sequence, and its own inboxes; nothing of the full
/// stream. The stranger: its own inboxes only.
fn authorization() -> String {
    format!(
        r#"authorization {{
  users: [
    {{ user: frontdoor, password: "{NODE_PASSWORD}", permissions: {{
        publish: {{ allow: ["frontdoor.>", "$JS.API.>", "_FRONTDOOR_INBOX.>"] }},
        subscribe: {{ allow: ["frontdoor.>", "_FRONTDOOR_INBOX.>"] }} }} }}
    {{ user: {READER}, password: "{READER_PASSWORD}", permissions: {{
        publish: {{ allow: ["$JS.API.STREAM.INFO.FRONTDOOR_DOWNSTREAM", "$JS.API.STREAM.MSG.GET.FRONTDOOR_DOWNSTREAM"] }},
        subscribe: {{ allow: ["_INBOX_{READER}.>"] }} }} }}
    {{ user: {STRANGER}, password: "{STRANGER_PASSWORD}", permissions: {{
        publish: {{ deny: [">"] }},
        subscribe: {{ allow: ["_INBOX_{STRANGER}.>"] }} }} }}
  ]
}}
"#
    )
}

/// Three JetStream nodes, clustered on loopback, TLS for clients and routes (client
/// certificates required), users with permissions.
struct Nats {
    dir: tempfile::TempDir,
    ports: [u16; 3],
    routes: [u16; 3],
    nodes: [Option<Child>; 3],
    /// More lines of each server's configuration.
    extra: String,
}

impl Nats {
    fn start() -> Nats {
        Nats::start_with("")
    }

    /// The cluster, each server's configuration with `extra` added.
    fn start_with(extra: &str) -> Nats {
        let mut nats = Nats {
            dir: tempfile::tempdir().unwrap(),
            ports: [free_port(), free_port(), free_port()],
            routes: [free_port(), free_port(), free_port()],
            nodes: [None, None, None],
            extra: extra.to_owned(),
        };
        make_certificates(nats.dir.path());
        for n in 0..3 {
            nats.start_node(n);
        }
        nats
    }

    fn cert(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start_node(&mut self, n: usize) {
        let store = self.dir.path().join(format!("n{n}"));
        std::fs::create_dir_all(&store).unwrap();
        let routes: Vec<String> = self.routes.iter().map(|p| format!("\"nats://127.0.0.1:{p}\"")).collect();
        let tls = format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: true, timeout: 5 }}",
            self.cert("server.pem").display(),
            self.cert("server.key").display(),
            self.cert("ca.pem").display()
        );
        let conf = format!(
            "server_name: n{n}\nlisten: \"127.0.0.1:{port}\"\njetstream {{ store_dir: \"{store}\" }}\n{tls}\n\
             cluster {{\n  name: frontdoor-test\n  listen: \"127.0.0.1:{route}\"\n  routes: [{routes}]\n  {tls}\n}}\n{auth}\n{extra}",
            extra = self.extra,
            port = self.ports[n],
            store = store.display(),
            route = self.routes[n],
            routes = routes.join(", "),
            auth = authorization(),
        );
        let conf_path = store.join("nats.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(store.join("server.log")).unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&conf_path)
            .arg("-l")
            .arg(self.dir.path().join(format!("n{n}.log")))
            // NATS_TEST_DEBUG=1: the servers' debug and protocol trace in their logs.
            .args(if std::env::var_os("NATS_TEST_DEBUG").is_some() { &["-D"][..] } else { &[][..] })
            .stdout(Stdio::null())
            .stderr(log)
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
        let urls: Vec<String> = self.ports.iter().map(|p| format!("\"tls://127.0.0.1:{p}\"")).collect();
        format!("[{}]", urls.join(", "))
    }

    /// The `[replication]` lines a frontdoor node signs in and speaks TLS with.
    fn node_settings(&self) -> String {
        format!(
            "user = \"frontdoor\"\npassword = \"{NODE_PASSWORD}\"\ntls_ca_file = \"{}\"\ntls_cert_file = \"{}\"\n\
             tls_key_file = \"{}\"\ndownstream_users = [\"{READER}\"]\n",
            self.cert("ca.pem").display(),
            self.cert("client.pem").display(),
            self.cert("client.key").display()
        )
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
    decider: String,
    client: reqwest::Client,
}

impl Node {
    fn data(root: &Path) -> PathBuf {
        root.join("data")
    }

    fn new(root: &Path, name: &'static str, nats: &Nats, mode: &str, timeout_ms: u64) -> Node {
        Node::with(root, name, nats, &nats.urls(), mode, timeout_ms, "replicated")
    }

    /// A primary `node-a` with `acks = "local"` (a 201 once the local fdatasync is done,
    /// published in the background) that reaches NATS through the first NATS node only.
    fn local_acks_via_first(root: &Path, nats: &Nats) -> Node {
        let only_first = format!("[\"tls://127.0.0.1:{}\"]", nats.ports[0]);
        Node::with(root, "node-a", nats, &only_first, "primary", 2_000, "local")
    }

    /// A standby of `primary`: it has no tokens of its own, it takes the primary's.
    fn standby_of(root: &Path, name: &'static str, nats: &Nats, primary: &Node) -> Node {
        let mut node = Node::configure(root, name, nats, &nats.urls(), "standby", 10_000, "replicated");
        node.writer = primary.writer.clone();
        node.auditor = primary.auditor.clone();
        node.decider = primary.decider.clone();
        node.start();
        node
    }

    fn with(root: &Path, name: &'static str, nats: &Nats, urls: &str, mode: &str, timeout_ms: u64, acks: &str) -> Node {
        let mut node = Node::configure(root, name, nats, urls, mode, timeout_ms, acks);
        node.tokens();
        node.start();
        node
    }

    fn configure(
        root: &Path,
        name: &'static str,
        nats: &Nats,
        urls: &str,
        mode: &str,
        timeout_ms: u64,
        acks: &str,
    ) -> Node {
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(
            root.join("frontdoor.toml"),
            format!(
                "[replication]\nurls = {}\nnode = \"{name}\"\nmode = \"{mode}\"\nacks = \"{acks}\"\npublish_timeout_ms = {timeout_ms}\n{}",
                urls,
                nats.node_settings()
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
            decider: String::new(),
            client: reqwest::Client::new(),
        }
    }

    fn tokens(&mut self) {
        let data = Node::data(&self.root);
        self.writer = create_token(&data, "practitioner", &format!("worker-{}", self.name), "childrens_social_care");
        self.auditor = create_token(&data, "auditor", &format!("auditor-{}", self.name), "childrens_social_care");
        self.decider =
            create_token(&data, "decision_maker", &format!("manager-{}", self.name), "childrens_social_care");
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
        post_with_key(self.client.clone(), self.url.clone(), self.writer.clone(), key.to_owned()).await
    }

    /// Appends an event to a contact as the decision maker.
    async fn append(&self, contact: &str, event_type: &str, data: Value) -> Value {
        let resp = self
            .client
            .post(format!("{}/v1/contacts/{contact}/events", self.url))
            .bearer_auth(&self.decider)
            .json(&serde_json::json!({"type": event_type, "data": data}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(resp).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// The access log's entries with this action, as the auditor reads them.
    async fn access_entries(&self, action: &str) -> Vec<Value> {
        let (status, body) = self.get(&self.auditor, "/v1/access?after=0&limit=1000").await;
        assert_eq!(status, 200, "{body}");
        body["entries"].as_array().unwrap().iter().filter(|e| e["action"] == action).cloned().collect()
    }

    /// Waits until the access log holds `count` entries with this action, and returns them.
    async fn wait_access_entries(&self, action: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let entries = self.access_entries(action).await;
            if entries.len() >= count || Instant::now() > deadline {
                return entries;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every event in the node's log, as the auditor reads it.
    async fn events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let (status, body) = self.get(&self.auditor, &format!("/v1/events?after={after}&limit=1000")).await;
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

    // The promoted standby carries on the downstream stream where it ends: every position, its
    // last the new write.
    let (reader, _) = watched_client(&nats, READER, READER_PASSWORD).await;
    let last = after.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let message = loop {
        if let Ok(message) = get_message(&reader, "FRONTDOOR_DOWNSTREAM", last).await {
            break message;
        }
        assert!(Instant::now() < deadline, "the downstream stream never reached {last} after the promotion");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let doc: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(&doc, after.last().unwrap(), "the new primary's write, downstream");
    assert_eq!(message.headers.get("Frontdoor-Node").unwrap().as_str(), "node-b");

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
    let (a, mut b) = primary_and_standby(&nats, root.path()).await;
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
    let mut a = Node::local_acks_via_first(&root.path().join("a"), &nats);
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

/// `acks = "local"`: a publish the stream took whose acknowledgement never came back (here the
/// same append reaches the stream another way while the node cannot reach NATS, under another
/// message id, as when a retry comes after the de-duplication window) is recognised as the
/// node's own when the retry is refused: publishing goes on after it, writes keep their 201,
/// and the stream holds every append once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_local_acks_a_publish_the_stream_already_took_is_not_published_again_and_publishing_goes_on() {
    if skip() {
        return;
    }
    let mut nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let a = Node::local_acks_via_first(&root.path().join("a"), &nats);
    a.wait_ready().await;
    for _ in 0..3 {
        assert_eq!(a.write().await.0, 201);
    }
    wait_stream_sequence(&a, 3).await;

    // Its NATS node gone: the fourth append is acknowledged locally and waits to be published.
    nats.kill(0);
    let (status, body) = a.write().await;
    assert_eq!(status, 201, "local acks: {body}");
    let fourth = a.events().await.pop().unwrap();
    assert_eq!(fourth["position"], 4);
    // The stream takes that append as the node's own message 4, under another message id.
    let client = async_nats::ConnectOptions::with_user_and_password("frontdoor".into(), NODE_PASSWORD.into())
        .require_tls(true)
        .add_root_certificates(nats.cert("ca.pem"))
        .add_client_certificate(nats.cert("client.pem"), nats.cert("client.key"))
        .custom_inbox_prefix("_FRONTDOOR_INBOX")
        .connect(format!("tls://127.0.0.1:{}", nats.ports[1]))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let mut payload = serde_json::to_vec(&fourth).unwrap();
    payload.push(b'\n');
    let hash = fourth["hash"].as_str().unwrap();
    let message = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .message_id("taken-before-the-window-ended")
        .expected_last_sequence(3)
        .header("Frontdoor-Node", "node-a")
        .header("Frontdoor-First-Position", "4")
        .header("Frontdoor-Last-Position", "4")
        .header("Frontdoor-Last-Hash", hash);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ack = loop {
        // The two remaining nodes may still be electing the stream's leader.
        match js.send_publish("frontdoor.events", message.clone()).await {
            Ok(ack) => match ack.await {
                Ok(ack) => break ack,
                Err(e) => assert!(Instant::now() < deadline, "the stream never took message 4: {e}"),
            },
            Err(e) => assert!(Instant::now() < deadline, "the stream never took message 4: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ack.sequence, 4);

    // The node's NATS node returns: its retry of message 4 is refused as out of sequence, and
    // it goes on publishing after it. Every write meanwhile is acknowledged.
    nats.start_node(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut written = 4;
    loop {
        let (status, body) = a.write().await;
        assert_eq!(status, 201, "writes go on with local acks: {body}");
        written += 1;
        let seq = a.readyz().await["replication"]["stream_sequence"].as_u64().unwrap_or(0);
        if seq == written {
            break;
        }
        assert!(Instant::now() < deadline, "publishing never caught up: stream sequence {seq}, {written} written");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // One write at a time, so one append a message: message n carries position n (the fourth
    // once, not twice).
    for seq in 1..=written {
        let message = get_message(&client, "FRONTDOOR", seq).await.unwrap();
        assert_eq!(message.headers.get("Frontdoor-Last-Position").unwrap().as_str(), seq.to_string(), "message {seq}");
    }
    assert!(get_message(&client, "FRONTDOOR", written + 1).await.is_err(), "no message beyond the log's head");
    let events = a.events().await;
    assert_eq!(events.len() as u64, written);
    assert_chain(&events);
}

/// Waits until the node's replication status says the stream holds `seq` of its messages.
async fn wait_stream_sequence(node: &Node, seq: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = node.readyz().await;
        if status["replication"]["stream_sequence"].as_u64() == Some(seq) {
            return;
        }
        assert!(Instant::now() < deadline, "the stream sequence never reached {seq}: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// What a user of NATS gets when it asks for message `seq` of `stream`: the message, or why not.
async fn get_message(
    client: &async_nats::Client,
    stream: &str,
    seq: u64,
) -> Result<async_nats::jetstream::message::StreamMessage, String> {
    let js = async_nats::jetstream::new(client.clone());
    let stream = js.get_stream_no_info(stream).await.map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(3), stream.get_raw_message(seq)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("no answer".into()),
    }
}

/// Waits (up to a minute) until the downstream stream holds message `seq`, as `client` reads
/// it; fails with `what` if it never does.
async fn wait_downstream(client: &async_nats::Client, seq: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while get_message(client, "FRONTDOOR_DOWNSTREAM", seq).await.is_err() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client signed in as the frontdoor nodes are (TLS, the nodes' user and reply inbox): what
/// someone who holds a node's credentials can do.
async fn node_client(nats: &Nats) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password("frontdoor".into(), NODE_PASSWORD.into())
        .require_tls(true)
        .add_root_certificates(nats.cert("ca.pem"))
        .add_client_certificate(nats.cert("client.pem"), nats.cert("client.key"))
        .custom_inbox_prefix("_FRONTDOOR_INBOX")
        .connect(format!("tls://127.0.0.1:{}", nats.ports[0]))
        .await
        .unwrap()
}

/// A client that connects with TLS and collects the errors the server reports to it.
async fn watched_client(
    nats: &Nats,
    user: &str,
    password: &str,
) -> (async_nats::Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
        .require_tls(true)
        .add_root_certificates(nats.cert("ca.pem"))
        .add_client_certificate(nats.cert("client.pem"), nats.cert("client.key"))
        .custom_inbox_prefix(format!("_INBOX_{user}"))
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(format!("tls://127.0.0.1:{}", nats.ports[0]))
        .await
        .unwrap();
    (client, rx)
}

/// A plaintext NATS client on a raw socket: the server's greeting, then what it answers to
/// `CONNECT` and `PING` without TLS.
fn plaintext_attempt(port: u16) -> (String, String) {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    let mut writer = stream;
    let connect = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"user\":\"frontdoor\",\"pass\":\"{NODE_PASSWORD}\"}}\r\nPING\r\n"
    );
    let _ = writer.write_all(connect.as_bytes());
    let mut answer = String::new();
    let _ = reader.read_line(&mut answer);
    (info, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_frontdoor_nodes_read_the_full_stream_and_downstream_readers_get_no_restricted_check() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;

    // A contact with a restricted police check, a check restricted later by a correction, and
    // an ordinary note.
    const SECRET: &str = "SECRET-INTEL-7731 about the household";
    const LATER: &str = "LATER-RESTRICTED-4410 about the stepfather";
    let (status, contact) = a.write().await;
    assert_eq!(status, 201, "{contact}");
    let contact = contact["contact_id"].as_str().unwrap().to_owned();
    a.append(
        &contact,
        "checks_returned",
        serde_json::json!({"agency": "police", "summary": SECRET, "restricted": true}),
    )
    .await;
    let later = a
        .append(
            &contact,
            "checks_returned",
            serde_json::json!({"agency": "police", "summary": LATER, "restricted": false}),
        )
        .await;
    let later_id = later["event_id"].as_str().unwrap();
    a.append(
        &contact,
        "correction_recorded",
        serde_json::json!({"corrects_event_id": later_id, "field": "restricted", "value": true, "reason": "police asked"}),
    )
    .await;
    a.append(&contact, "note_added", serde_json::json!({"text": "Called the school back."})).await;
    let full = a.events().await;
    assert_eq!(full.len(), 5);

    // The downstream reader reads the downstream stream: one message per position.
    let (reader, mut reader_errors) = watched_client(&nats, READER, READER_PASSWORD).await;
    wait_downstream(&reader, 5, "the downstream stream never reached position 5").await;
    let mut prev = "0".repeat(64);
    let mut kinds = Vec::new();
    for (seq, env) in (1u64..).zip(&full) {
        let message = get_message(&reader, "FRONTDOOR_DOWNSTREAM", seq).await.unwrap();
        let text = std::str::from_utf8(&message.payload).unwrap();
        assert!(!text.contains("SECRET-INTEL"), "a restricted check went downstream: {text}");
        let doc: Value = serde_json::from_str(text).unwrap();
        assert_eq!(doc["position"], seq, "the stream's sequence is the log position");
        assert_eq!(doc["prev_hash"], prev.as_str(), "the chain links at {seq}");
        assert_eq!(doc["hash"], env["hash"], "the full log's hash at {seq}");
        let kind = message.headers.get("Frontdoor-Kind").unwrap().as_str().to_owned();
        if kind == "event" {
            let parsed: eventlog::Envelope = serde_json::from_str(text).unwrap();
            assert_eq!(
                parsed.compute_hash().to_string(),
                env["hash"].as_str().unwrap(),
                "the reader recomputes the hash"
            );
            assert_eq!(&doc, env, "the event as the export gives it");
        } else {
            assert_eq!(
                doc,
                serde_json::json!({"position": seq, "withheld": true, "prev_hash": prev, "hash": env["hash"]})
            );
        }
        let withdraw = message.headers.get("Frontdoor-Withdraw").map(|v| v.as_str().to_owned());
        kinds.push((env["type"].as_str().unwrap().to_owned(), kind, withdraw));
        prev = env["hash"].as_str().unwrap().to_owned();
    }
    let kinds: Vec<(&str, &str, Option<&str>)> =
        kinds.iter().map(|(t, k, w)| (t.as_str(), k.as_str(), w.as_deref())).collect();
    assert_eq!(
        kinds,
        [
            ("contact_received", "event", None),
            ("checks_returned", "withheld", None),
            // Unrestricted when it was written: sent whole, then withdrawn by the correction.
            ("checks_returned", "event", None),
            ("correction_recorded", "withheld", Some("3")),
            ("note_added", "event", None),
        ]
    );

    // Neither the downstream reader nor a user without permissions reads the full stream;
    // a frontdoor node does.
    let refused = get_message(&reader, "FRONTDOOR", 2).await.unwrap_err();
    let (stranger, mut stranger_errors) = watched_client(&nats, STRANGER, STRANGER_PASSWORD).await;
    let also_refused = get_message(&stranger, "FRONTDOOR", 2).await.unwrap_err();
    let js = async_nats::jetstream::new(reader.clone());
    let consumer = tokio::time::timeout(
        Duration::from_secs(3),
        js.create_consumer_on_stream(async_nats::jetstream::consumer::pull::Config::default(), "FRONTDOOR"),
    )
    .await;
    assert!(!matches!(consumer, Ok(Ok(_))), "the downstream reader made a consumer on the full stream");
    let mut listening = reader.subscribe("frontdoor.events").await.unwrap();
    reader.flush().await.unwrap();
    let (status, _) = a.write().await;
    assert_eq!(status, 201);
    let overheard = tokio::time::timeout(Duration::from_secs(2), tokio_stream::StreamExt::next(&mut listening)).await;
    assert!(!matches!(overheard, Ok(Some(_))), "the downstream reader overheard the full stream");
    for (who, errors) in [(READER, &mut reader_errors), (STRANGER, &mut stranger_errors)] {
        let first = tokio::time::timeout(Duration::from_secs(5), errors.recv()).await.ok().flatten();
        assert!(
            first.as_deref().is_some_and(|e| e.to_lowercase().contains("permissions violation")),
            "{who}: the server says why it refused: {first:?}"
        );
    }
    eprintln!("refused: reader {refused}; stranger {also_refused}");
    let node = node_client(&nats).await;
    let message = get_message(&node, "FRONTDOOR", 1).await.unwrap();
    assert!(!message.payload.is_empty(), "a frontdoor node reads the full stream");

    // A plaintext client is refused.
    let (info, answer) = plaintext_attempt(nats.ports[0]);
    assert!(info.contains("\"tls_required\":true"), "{info}");
    assert!(!answer.starts_with("PONG"), "a plaintext client was let in: {answer}");

    // The access log says who may read the downstream stream: at the first start, and again
    // only when the configured list changes.
    let entries = a.wait_access_entries("downstream_readers", 1).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["query"], READER, "{}", entries[0]);
    assert_eq!(entries[0]["endpoint"], "nats:FRONTDOOR_DOWNSTREAM", "{}", entries[0]);
    assert_eq!(entries[0]["actor"]["id"], "node-a", "{}", entries[0]);
    let mut a = a;
    let config = a.root.join("frontdoor.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("downstream_users = [\"warehouse\"]", "downstream_users = [\"warehouse\", \"casework\"]"),
    )
    .unwrap();
    a.kill();
    a.start();
    a.wait_ready().await;
    let entries = a.wait_access_entries("downstream_readers", 2).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1]["query"], "casework,warehouse", "{}", entries[1]);
    // Restarted with the same list: no new entry (the publisher has run past its check once
    // the downstream stream holds the next write).
    a.kill();
    a.start();
    a.wait_ready().await;
    let (status, body) = a.write().await;
    assert_eq!(status, 201, "{body}");
    let head = a.head().await;
    wait_downstream(&reader, head, &format!("the downstream stream never reached {head}")).await;
    assert_eq!(a.access_entries("downstream_readers").await.len(), 2, "the same list is not recorded twice");
}

/// The python with nats-py for `ops/nats-consumer.py` (`ops/nats-py-install.sh` prints it; CI
/// sets `FRONTDOOR_NATS_PYTHON`), or `None`: skipped loudly, failed in CI.
fn nats_python() -> Option<PathBuf> {
    let python = std::env::var_os("FRONTDOOR_NATS_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/nats-py-venv/bin/python")))
        .filter(|p| p.exists());
    if python.is_none() {
        assert!(std::env::var_os("CI").is_none(), "nats-py is missing: CI must run ops/nats-py-install.sh");
        eprintln!(
            "\n!!!! SKIPPED: nats-py is not installed (ops/nats-py-install.sh); the Python reader untested !!!!\n"
        );
    }
    python
}

/// Runs the Python reader as `user` on `stream`: its exit status and its one line of JSON.
fn python_reader(python: &Path, nats: &Nats, user: &str, password: &str, stream: &str, inbox: &str) -> (bool, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/nats-consumer.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--server", &format!("tls://127.0.0.1:{}", nats.ports[0]), "--user", user])
        .args(["--password-env", "READER_PASSWORD", "--stream", stream, "--inbox-prefix", inbox])
        .arg("--ca")
        .arg(nats.cert("ca.pem"))
        .arg("--cert")
        .arg(nats.cert("client.pem"))
        .arg("--key")
        .arg(nats.cert("client.key"))
        .env("READER_PASSWORD", password)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let summary = serde_json::from_str(line)
        .unwrap_or_else(|_| panic!("the reader said {stdout:?}, {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_reader_verifies_the_downstream_chain_and_names_a_forged_event() {
    if skip() {
        return;
    }
    let Some(python) = nats_python() else { return };
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;
    let mut contacts = Vec::new();
    for _ in 0..3 {
        let (status, body) = a.write().await;
        assert_eq!(status, 201, "{body}");
        contacts.push(body["contact_id"].as_str().unwrap().to_owned());
    }
    let check = a
        .append(
            &contacts[0],
            "checks_returned",
            serde_json::json!({"agency": "police", "summary": "Open investigation.", "restricted": false}),
        )
        .await;
    a.append(
        &contacts[1],
        "checks_returned",
        serde_json::json!({"agency": "police", "summary": "Known to CID.", "restricted": true}),
    )
    .await;
    a.append(
        &contacts[0],
        "correction_recorded",
        serde_json::json!({"corrects_event_id": check["event_id"], "field": "restricted", "value": true, "reason": "police asked"}),
    )
    .await;
    a.append(&contacts[2], "note_added", serde_json::json!({"text": "Called the school back."})).await;
    let full = a.events().await;
    let head = full.last().unwrap().clone();
    let (reader, _) = watched_client(&nats, READER, READER_PASSWORD).await;
    wait_downstream(&reader, full.len() as u64, "the downstream stream never caught up").await;

    let (ok, summary) =
        python_reader(&python, &nats, READER, READER_PASSWORD, "FRONTDOOR_DOWNSTREAM", "_INBOX_warehouse");
    assert!(ok, "{summary}");
    assert_eq!(
        summary,
        serde_json::json!({
            "verified": 7, "shown": 4, "withheld": 3, "withdrawn": 1,
            "head": {"position": head["position"], "hash": head["hash"]},
        }),
        "three contacts and a note shown; a restricted check, a check restricted later and its correction withheld; \
         the head is the service's"
    );

    // The same messages, one event altered, in a stream only a frontdoor node could write:
    // the reader names the position.
    let node = node_client(&nats).await;
    let js = async_nats::jetstream::new(node.clone());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "FORGED".into(),
        subjects: vec!["frontdoor.forged".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    for seq in 1..=full.len() as u64 {
        let message = get_message(&node, "FRONTDOOR_DOWNSTREAM", seq).await.unwrap();
        let text = String::from_utf8(message.payload.to_vec())
            .unwrap()
            .replace("Called the school back.", "Called the school twice.");
        js.publish_with_headers("frontdoor.forged", message.headers.clone(), text.into_bytes().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let (ok, summary) = python_reader(&python, &nats, "frontdoor", NODE_PASSWORD, "FORGED", "_FRONTDOOR_INBOX");
    assert!(!ok, "a forged event verified: {summary}");
    assert!(summary["error"].as_str().unwrap().starts_with("position 7: the event's hash"), "{summary}");
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

/// A primary `node-a` under `root/a` and its standby `node-b` under `root/b`, both ready.
async fn primary_and_standby(nats: &Nats, root: &Path) -> (Node, Node) {
    let a = Node::new(&root.join("a"), "node-a", nats, "primary", 10_000);
    a.wait_ready().await;
    let b = Node::standby_of(&root.join("b"), "node-b", nats, &a);
    b.wait_ready().await;
    (a, b)
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
    let (a, mut b) = primary_and_standby(&nats, root.path()).await;
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
    let (a, mut b) = primary_and_standby(&nats, root.path()).await;
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
    let (a, b) = primary_and_standby(&nats, root.path()).await;
    let (status, body) = a.write().await;
    assert_eq!(status, 201, "{body}");
    let contact = body["contact_id"].as_str().unwrap().to_owned();
    b.wait_head(1).await;
    assert_eq!(a.get(&a.writer, &format!("/v1/contacts/{contact}")).await.0, 200);
    b.wait_audit(&contact, "worker-node-a", "read_contact", 1).await;

    // Someone with access to NATS publishes a chain of their own: the primary's first entry
    // with its action changed and its hash kept.
    let client = node_client(&nats).await;
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

/// Posts a new contact with `key` as its idempotency key, as the writer.
async fn post_with_key(client: reqwest::Client, url: String, token: String, key: String) -> (u16, Value) {
    let resp = client
        .post(format!("{url}/v1/contacts"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&contact_body())
        .send()
        .await
        .unwrap();
    read(resp).await
}

/// [`post_with_key`] to `node`, from a task of its own.
fn spawn_write(node: &Node, key: String) -> tokio::task::JoinHandle<(u16, Value)> {
    tokio::spawn(post_with_key(node.client.clone(), node.url.clone(), node.writer.clone(), key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_committed_together_share_one_message_each_whole_and_a_promoted_standby_replays_their_keys() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let (a, mut b) = primary_and_standby(&nats, root.path()).await;
    let client = node_client(&nats).await;

    // 64 writers at once, until one group commit carried more than one append (the first
    // round nearly always does: the appends queue behind one another's fdatasync).
    let mut written: Vec<(String, String)> = Vec::new();
    let mut messages = Vec::new();
    for round in 0..5 {
        let keys: Vec<String> = (0..64).map(|n| format!("round-{round}-writer-{n}")).collect();
        let tasks: Vec<_> = keys.iter().map(|key| spawn_write(&a, key.clone())).collect();
        for (key, task) in keys.into_iter().zip(tasks) {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, 201, "{body}");
            written.push((key, body["contact_id"].as_str().unwrap().to_owned()));
        }
        let head = a.head().await;
        messages.clear();
        let mut seq = 1;
        while let Ok(message) = get_message(&client, "FRONTDOOR", seq).await {
            messages.push(message);
            seq += 1;
        }
        let last = messages.last().unwrap().headers.get("Frontdoor-Last-Position").unwrap().as_str().to_owned();
        assert_eq!(last, head.to_string(), "the stream holds every acknowledged event");
        if messages.iter().any(|m| m.headers.get("Frontdoor-Appends").is_some()) {
            break;
        }
    }
    assert!(
        messages.len() < written.len(),
        "{} messages for {} appends: no group carried two",
        messages.len(),
        written.len()
    );

    // Every message: the positions it names, its events as JSON lines continuing the one
    // before, and whole appends (one contact each, as many as it says).
    let mut next = 1u64;
    let mut appends = 0;
    for message in &messages {
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
        let events: Vec<Value> = message
            .payload
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(header("Frontdoor-First-Position").unwrap(), next.to_string());
        assert_eq!(events[0]["position"], next);
        next += events.len() as u64;
        assert_eq!(header("Frontdoor-Last-Position").unwrap(), (next - 1).to_string());
        let counts: Vec<usize> = header("Frontdoor-Appends")
            .map_or_else(|| vec![events.len()], |list| list.split(',').map(|n| n.parse().unwrap()).collect());
        assert_eq!(counts.iter().sum::<usize>(), events.len());
        let keys = header("Frontdoor-Idempotency").unwrap();
        assert_eq!(keys.split(',').count(), counts.len(), "one key for each append: {keys}");
        let mut at = 0;
        for count in counts {
            let contacts: std::collections::HashSet<&str> =
                events[at..at + count].iter().map(|e| e["contact_id"].as_str().unwrap()).collect();
            assert_eq!(contacts.len(), 1, "an append is one contact's events");
            at += count;
            appends += 1;
        }
    }
    assert_eq!(appends, written.len(), "one append in the stream for each 201");

    // The standby holds the same log; promoted, it replays every key the primary took.
    let head = a.head().await;
    b.wait_head(head).await;
    assert_eq!(b.events().await, a.events().await, "the same events, byte for byte");

    // A standby that crashed while it wrote a message's appends holds the first of them whole
    // (cut there, as a crash leaves it): restarted, it follows on from them, with nothing
    // moved aside and nothing written twice.
    let (first, count) = messages
        .iter()
        .find_map(|m| {
            let first: u64 = m.headers.get("Frontdoor-First-Position")?.as_str().parse().ok()?;
            let count: u64 = m.headers.get("Frontdoor-Appends")?.as_str().split(',').next()?.parse().ok()?;
            Some((first, count))
        })
        .unwrap();
    b.kill();
    let data = Node::data(&b.root);
    eventlog::replicate::quarantine_after(&data, first - 1 + count).unwrap().expect("records cut");
    std::fs::remove_dir_all(data.join("quarantine")).unwrap();
    b.start();
    b.wait_ready().await;
    b.wait_head(head).await;
    assert_eq!(b.events().await, a.events().await, "the same events, byte for byte, after the restart");
    assert!(!data.join("quarantine").exists(), "nothing moved aside: the stream holds what the log held");

    drop(a);
    let out = Command::new(BIN).args(["promote", "--data-dir"]).arg(Node::data(&b.root)).output().unwrap();
    assert!(out.status.success(), "promote: {}", String::from_utf8_lossy(&out.stderr));
    for (key, contact) in &written {
        let (status, body) = b.write_with_key(key).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["contact_id"], contact.as_str(), "the first answer, replayed: {body}");
    }
    assert_eq!(b.head().await, head, "a replay writes nothing");
}

/// A NATS server that takes smaller messages than a node may publish is refused at start-up,
/// naming the setting, before anything is written: publishing would otherwise fail on the first
/// large append, after the node had written it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_server_whose_max_payload_is_too_small_for_the_body_limit_is_refused_at_start() {
    if skip() {
        return;
    }
    let nats = Nats::start_with("max_payload: 65536");
    let root = tempfile::tempdir().unwrap();
    let node = Node::configure(root.path(), "node-a", &nats, &nats.urls(), "primary", 2_000, "replicated");
    let config = root.path().join("frontdoor.toml");
    let data = Node::data(root.path());
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node started against a NATS server that cannot take its messages");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started against a NATS server that cannot take its messages: {stderr}");
    assert!(
        stderr.contains("takes messages of at most 65536 bytes (its max_payload)")
            && stderr.contains("raise max_payload"),
        "{stderr}"
    );
    assert!(!Node::data(&node.root).join("segments").exists(), "nothing written before the refusal");
}

/// A downstream stream deleted while the primary runs is made again and filled from the first
/// event, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_downstream_stream_is_made_again_and_filled_from_the_first_event() {
    if skip() {
        return;
    }
    let nats = Nats::start();
    let root = tempfile::tempdir().unwrap();
    let a = Node::new(&root.path().join("a"), "node-a", &nats, "primary", 10_000);
    a.wait_ready().await;
    let (status, first) = a.write().await;
    assert_eq!(status, 201, "{first}");
    let node = node_client(&nats).await;
    wait_downstream(&node, 1, "the downstream stream never held the first event").await;

    async_nats::jetstream::new(node.clone()).delete_stream("FRONTDOOR_DOWNSTREAM").await.unwrap();
    let (status, second) = a.write().await;
    assert_eq!(status, 201, "{second}");
    let head = a.events().await.len() as u64;
    wait_downstream(&node, head, "the deleted downstream stream was never made again with every event").await;
    for (seq, env) in (1u64..).zip(&a.events().await) {
        let message = get_message(&node, "FRONTDOOR_DOWNSTREAM", seq).await.unwrap();
        let doc: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!((&doc["position"], &doc["hash"]), (&Value::from(seq), &env["hash"]), "message {seq}");
    }
}
