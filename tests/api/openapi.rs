//! `/openapi.json` and `/docs`: the document describes the server that serves it. Every route
//! is documented and every documented route is served, the security the document states is
//! the security the server enforces, and real requests and responses (successes and every
//! kind of error) are checked against the schemas the document gives them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, data_for, read, spawn_app};

/// Every route the server serves, by method. A route added to the router belongs here and in
/// the document.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/contacts"),
    ("get", "/v1/contacts"),
    ("get", "/v1/contacts/{id}"),
    ("post", "/v1/contacts/{id}/events"),
    ("get", "/v1/contacts/{id}/events"),
    ("get", "/v1/contacts/{id}/audit"),
    ("post", "/v1/duty-debriefs"),
    ("get", "/v1/duty-debriefs"),
    ("post", "/v1/consultations"),
    ("get", "/v1/consultations"),
    ("get", "/v1/consultations/{id}"),
    ("get", "/v1/events"),
    ("get", "/v1/events/stream"),
    ("get", "/v1/access"),
    ("get", "/v1/queue"),
    ("get", "/v1/queue/stream"),
    ("get", "/v1/metrics/timeliness"),
    ("get", "/v1/metrics/volumes"),
    ("get", "/v1/metrics/practice"),
    ("get", "/v1/metrics/trends"),
    ("get", "/v1/audit/sample"),
    ("get", "/v1/as-of"),
    ("get", "/v1/children"),
    ("get", "/v1/children/{child_id}"),
    ("get", "/v1/adults"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/v1/admin/promote"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/docs/style.css"),
    // The pages (for people, signed in by cookie). Their form posts, POST /signin and
    // POST /signout, are not part of the API and not documented; tests/browser drives them.
    ("get", "/"),
    ("get", "/signin"),
    ("get", "/qa"),
    ("get", "/qa/contacts/{id}"),
    ("get", "/contacts/{id}"),
    ("get", "/children"),
    ("get", "/children/{child_id}"),
    ("get", "/referrals"),
    ("get", "/referrals/new"),
    ("get", "/referrals/{id}"),
    ("get", "/assets/board.js"),
    ("get", "/assets/qa.js"),
    ("get", "/assets/contact.js"),
    ("get", "/assets/referral.js"),
    ("get", "/assets/children.js"),
    ("get", "/assets/style.css"),
    ("get", "/assets/icon.svg"),
];

const SLUGS: [&str; 13] = [
    "bad-request",
    "unauthenticated",
    "forbidden",
    "not-found",
    "method-not-allowed",
    "version-conflict",
    "payload-too-large",
    "unsupported-media-type",
    "validation",
    "case-rule",
    "idempotency-key-reused",
    "unavailable",
    "internal",
];

async fn fetch_doc(app: &TestApp) -> Value {
    let resp = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    resp.json().await.unwrap()
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    doc["paths"].get(path).and_then(|item| item.get(method)).unwrap_or_else(|| panic!("{method} {path} undocumented"))
}

// ---------------------------------------------------------------------------------------
// A small JSON Schema checker: the keywords the document uses.

/// Checks `value` against `schema`; `closed` also refuses object members the schema does not
/// name (for responses: a field the server sends must be documented).
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, closed: bool, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("{r} does not resolve"));
        check(doc, target, value, at, closed, errors);
        return;
    }
    let passes = |s: &Value| {
        let mut e = Vec::new();
        check(doc, s, value, at, closed, &mut e);
        e
    };
    if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
        let results: Vec<Vec<String>> = alternatives.iter().map(passes).collect();
        let matching = results.iter().filter(|e| e.is_empty()).count();
        if matching != 1 {
            // Report the nearest miss.
            let nearest = results.iter().filter(|e| !e.is_empty()).min_by_key(|e| e.len());
            errors
                .push(format!("{at}: matches {matching} of {} alternatives; nearest: {nearest:?}", alternatives.len()));
        }
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            check(doc, part, value, at, false, errors);
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let kind_ok = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            other => panic!("unknown type {other}"),
        });
        if !kind_ok {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            errors.push(format!("{at}: {value} is not one of {values:?}"));
        }
    }
    if let Some(s) = value.as_str() {
        let chars = s.chars().count() as u64;
        if schema.get("minLength").and_then(Value::as_u64).is_some_and(|min| chars < min) {
            errors.push(format!("{at}: shorter than minLength"));
        }
        if schema.get("maxLength").and_then(Value::as_u64).is_some_and(|max| chars > max) {
            errors.push(format!("{at}: longer than maxLength"));
        }
        let format_ok = match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'),
            Some("date") => s.parse::<chrono::NaiveDate>().is_ok(),
            Some("ulid") => s.len() == 26 && s.parse::<ulid::Ulid>().is_ok(),
            Some("email") => s.contains('@'),
            _ => true,
        };
        if !format_ok {
            errors.push(format!("{at}: {s:?} is not a {}", schema["format"]));
        }
    }
    if let Some(n) = value.as_f64() {
        if schema.get("minimum").and_then(Value::as_f64).is_some_and(|min| n < min) {
            errors.push(format!("{at}: {n} below minimum"));
        }
        if schema.get("maximum").and_then(Value::as_f64).is_some_and(|max| n > max) {
            errors.push(format!("{at}: {n} above maximum"));
        }
    }
    if let Some(items) = value.as_array() {
        if schema.get("minItems").and_then(Value::as_u64).is_some_and(|min| (items.len() as u64) < min) {
            errors.push(format!("{at}: fewer than minItems"));
        }
        if schema.get("maxItems").and_then(Value::as_u64).is_some_and(|max| items.len() as u64 > max) {
            errors.push(format!("{at}: more than maxItems"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(doc, item_schema, item, &format!("{at}[{i}]"), closed, errors);
            }
        }
    }
    if let Some(object) = value.as_object() {
        for field in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !object.contains_key(field.as_str().unwrap()) {
                errors.push(format!("{at}: missing {field}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(properties) = properties {
            for (name, member) in object {
                match properties.get(name) {
                    Some(property) => check(doc, property, member, &format!("{at}.{name}"), closed, errors),
                    None if closed || schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        errors.push(format!("{at}: {name} is not in the schema"));
                    }
                    None => {}
                }
            }
        }
    }
}

fn errors_of(doc: &Value, schema: &Value, value: &Value, closed: bool) -> Vec<String> {
    let mut errors = Vec::new();
    check(doc, schema, value, "$", closed, &mut errors);
    errors
}

fn component(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Checks a request body against the operation's documented request schema.
fn check_request(doc: &Value, method: &str, path: &str, body: &Value) {
    let schema = &operation(doc, method, path)["requestBody"]["content"]["application/json"]["schema"];
    let errors = errors_of(doc, schema, body, false);
    assert!(errors.is_empty(), "{method} {path} request {body}: {errors:#?}");
}

/// Checks that `status` is documented for the operation and that `body` fits its schema; for
/// a problem, that its `type` is one the document names for that status.
fn check_response(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let response = operation(doc, method, path)["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path} answered {status}, which is not documented: {body}"));
    let content = response["content"].as_object().unwrap();
    let (content_type, media) = content.iter().next().unwrap();
    let errors = errors_of(doc, &media["schema"], body, true);
    assert!(errors.is_empty(), "{method} {path} {status} {body}: {errors:#?}");
    if let Some(examples) = media.get("examples").and_then(Value::as_object) {
        assert_eq!(content_type, "application/problem+json");
        let slug = body["type"].as_str().unwrap().strip_prefix("/docs#problem-").unwrap();
        let named: Vec<&String> = examples.keys().collect();
        assert!(named.iter().any(|n| *n == slug), "{method} {path} {status}: {slug} is not among {named:?}");
    }
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_document_is_openapi_3_1_and_needs_no_token() {
    let app = spawn_app();
    let doc = fetch_doc(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "frontdoor");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(!doc["info"]["description"].as_str().unwrap().is_empty());
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    for schema in ["Problem", "FieldError", "Envelope", "Event", "EventType", "NewContact", "NewEvent", "Contact"] {
        assert!(doc["components"]["schemas"].get(schema).is_some(), "no {schema} schema");
    }
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    for field in ["type", "title", "status", "detail", "errors", "current_version", "rule"] {
        assert!(problem.get(field).is_some(), "Problem has no {field}");
    }
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app();
    let doc = fetch_doc(&app).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, served);

    let id = app.new_contact("referrer").await;
    let consultation = json!({"agency": "health", "source": "3A", "advice": "Call back if it recurs"});
    let (status, consultation) = app.post("admin", "/v1/consultations", &consultation).await;
    assert_eq!(status, 201, "{consultation}");
    let consultation = consultation["consultation_id"].as_str().unwrap().to_owned();
    for (method, path) in ROUTES {
        // Each path's `{id}` is a stream of its kind.
        let stream = if path.starts_with("/v1/consultations/") { &consultation } else { &id };
        let url = format!("{}{}", app.url, path.replace("{id}", stream));
        let req = match *method {
            "get" => app.client.get(&url),
            "post" => app.client.post(&url).json(&json!({})),
            other => panic!("{other}"),
        };
        let resp = req.bearer_auth(app.token("admin")).send().await.unwrap();
        let status = resp.status().as_u16();
        assert!(status != 404 && status != 405, "{method} {path} is documented but answered {status}");
        let documented: Vec<&String> = operation(&doc, method, path)["responses"].as_object().unwrap().keys().collect();
        assert!(documented.iter().any(|s| **s == status.to_string()), "{method} {path}: {status} undocumented");
    }
    // The document's paths are the server's routes, not merely similar ones.
    let (status, _) = app.get("admin", &format!("/v1/contacts/{id}/nothing")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_security_documented_is_the_security_enforced() {
    let app = spawn_app();
    let doc = fetch_doc(&app).await;
    let id = app.new_contact("referrer").await;
    for (method, path) in ROUTES {
        let op = operation(&doc, method, path);
        let needs_token = op.get("security").is_some_and(|s| s == &json!([{"bearer": []}]));
        let url = format!("{}{}", app.url, path.replace("{id}", &id));
        let req = match *method {
            "get" => app.client.get(&url),
            _ => app.client.post(&url).json(&contact_body()),
        };
        let resp = req.send().await.unwrap();
        if needs_token {
            assert_eq!(resp.headers()["www-authenticate"], "Bearer", "{method} {path}");
            let (status, body) = read(resp).await;
            assert_eq!(status, 401, "{method} {path} is documented as needing a token");
            check_response(&doc, method, path, status, &body);
        } else {
            assert!(resp.status().is_success(), "{method} {path} is documented as public: {}", resp.status());
        }
    }
}

/// A contact through its whole life, every request and response checked against the
/// document, and every stored event against the event schema.
#[tokio::test]
async fn requests_and_responses_fit_their_schemas() {
    let app = spawn_app();
    let doc = fetch_doc(&app).await;

    let mut body = contact_body();
    body["occurred_at"] = json!("2026-01-05T09:30:00Z");
    body["late_entry_reason"] = json!("entered from the paper log");
    body["immediate_risk"] = json!(true);
    check_request(&doc, "post", "/v1/contacts", &body);
    let resp = app
        .client
        .post(format!("{}/v1/contacts", app.url))
        .bearer_auth(app.token("referrer"))
        .header("idempotency-key", "openapi-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["location"].to_str().unwrap().starts_with("/v1/contacts/"));
    let (status, created) = read(resp).await;
    assert_eq!(status, 201, "{created}");
    check_response(&doc, "post", "/v1/contacts", status, &created);
    let id = created["contact_id"].as_str().unwrap().to_owned();
    let first_event = created["event"]["event_id"].clone();

    let events = format!("/v1/contacts/{id}/events");
    let templated = "/v1/contacts/{id}/events";
    let mut correction = data_for("correction_recorded");
    correction["corrects_event_id"] = first_event;
    let steps: Vec<(&str, &str, Value)> = vec![
        ("practitioner", "triage_rated", data_for("triage_rated")),
        ("practitioner", "call_logged", data_for("call_logged")),
        ("practitioner", "checks_requested", data_for("checks_requested")),
        (
            "partner_police",
            "checks_returned",
            json!({"agency": "police", "summary": "Known to police.", "restricted": true}),
        ),
        ("practitioner", "duty_discussion_held", data_for("duty_discussion_held")),
        ("practitioner", "consent_recorded", data_for("consent_recorded")),
        ("practitioner", "contact_allocated", data_for("contact_allocated")),
        ("decision_maker", "decision_made", data_for("decision_made")),
        ("practitioner", "action_plan_agreed", data_for("action_plan_agreed")),
        ("practitioner", "referrer_informed", data_for("referrer_informed")),
        ("practitioner", "handover_sent", data_for("handover_sent")),
        ("receiving_team", "handover_returned", data_for("handover_returned")),
        ("practitioner", "handover_sent", data_for("handover_sent")),
        ("receiving_team", "handover_accepted", data_for("handover_accepted")),
        ("partner_health", "note_added", data_for("note_added")),
        ("practitioner", "correction_recorded", correction),
        ("practitioner", "contact_closed", data_for("contact_closed")),
        ("auditor", "audit_finding_recorded", data_for("audit_finding_recorded")),
        ("receiving_team", "contact_allocated", json!({"worker": "eh-kim"})),
        ("referrer", "referrer_feedback_given", data_for("referrer_feedback_given")),
        ("decision_maker", "strategy_discussion_held", data_for("strategy_discussion_held")),
        ("practitioner", "action_completed", data_for("action_completed")),
    ];
    let appended: BTreeSet<&str> = steps.iter().map(|(_, t, _)| *t).collect();
    assert_eq!(appended.len(), 20, "every type but contact_received");
    let mut plan_event_id = Value::Null;
    for (i, (who, event_type, data)) in steps.into_iter().enumerate() {
        let mut request = json!({"type": event_type, "data": data});
        if i % 2 == 0 {
            request["expected_version"] = json!(i + 1);
        }
        if event_type == "action_completed" {
            request["data"]["plan_event_id"] = plan_event_id.clone();
        }
        check_request(&doc, "post", templated, &request);
        let (status, env) = app.post(who, &events, &request).await;
        assert_eq!(status, 201, "{event_type}: {env}");
        check_response(&doc, "post", templated, status, &env);
        if event_type == "action_plan_agreed" {
            plan_event_id = env["event_id"].clone();
        }
    }

    // The reads, by the roles that see the most.
    let (status, contact) = app.get("decision_maker", &format!("/v1/contacts/{id}")).await;
    assert_eq!(status, 200, "{contact}");
    check_response(&doc, "get", "/v1/contacts/{id}", status, &contact);
    assert!(!contact["decision"].is_null() && !contact["handover"].is_null() && !contact["closure"].is_null());
    assert_eq!(contact["checks"].as_array().unwrap().len(), 1);

    // A referrer's view of the contact it made, alone and in its list.
    let (status, seen) = app.get("referrer", &format!("/v1/contacts/{id}")).await;
    assert_eq!(status, 200, "{seen}");
    check_response(&doc, "get", "/v1/contacts/{id}", status, &seen);
    assert_eq!(seen["feedback_given"], true, "{seen}");
    let (status, list) = app.get("referrer", "/v1/contacts?made_by=me").await;
    assert_eq!(status, 200, "{list}");
    check_response(&doc, "get", "/v1/contacts", status, &list);
    let (status, queue) = app.get("practitioner", "/v1/queue").await;
    assert_eq!(status, 200, "{queue}");
    check_response(&doc, "get", "/v1/queue", status, &queue);

    let (status, stream) = app.get("auditor", &events).await;
    assert_eq!(status, 200);
    check_response(&doc, "get", templated, status, &stream);
    // Every stored event's data fits the schema its type names.
    for env in stream.as_array().unwrap() {
        let event = json!({"type": env["type"], "data": env["data"]});
        let errors = errors_of(&doc, &component("Event"), &event, true);
        assert!(errors.is_empty(), "{event}: {errors:#?}");
    }

    let (status, audit) = app.get("auditor", &format!("/v1/contacts/{id}/audit")).await;
    assert_eq!(status, 200);
    check_response(&doc, "get", "/v1/contacts/{id}/audit", status, &audit);
    assert!(audit["trail"].as_array().unwrap().iter().any(|t| t["kind"] == "access"));

    let (status, page) = app.get("auditor", "/v1/events?after=0&limit=5").await;
    assert_eq!(status, 200);
    check_response(&doc, "get", "/v1/events", status, &page);

    // The access log, with single-contact and bulk entries in it by now.
    let (status, access) = app.get("auditor", "/v1/access?after=0&limit=1000").await;
    assert_eq!(status, 200);
    assert!(access["entries"].as_array().unwrap().iter().any(|e| e["range"].is_object()), "{access}");
    check_response(&doc, "get", "/v1/access", status, &access);

    for path in ["/healthz", "/readyz"] {
        let resp = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
        let (status, body) = read(resp).await;
        check_response(&doc, "get", path, status, &body);
    }
}

/// Every kind of error the API gives, checked against the operation's documented responses.
#[tokio::test]
async fn errors_are_documented_where_they_happen() {
    let mut app = spawn_app();
    let monitor = crate::harness::create_token_for(app.dir.path(), "monitor", "monitor", "other", None);
    app.tokens.insert("monitor", monitor);
    let doc = fetch_doc(&app).await;
    let id = app.new_contact("referrer").await;
    let events = format!("/v1/contacts/{id}/events");
    let templated = "/v1/contacts/{id}/events";
    let json_ct = [("content-type", "application/json")];
    let mut seen = BTreeSet::new();
    let mut expect = |method: &str, path: &str, (status, body): (u16, Value), want: u16| {
        assert_eq!(status, want, "{method} {path}: {body}");
        check_response(&doc, method, path, status, &body);
        seen.insert(body["type"].as_str().unwrap().to_owned());
    };

    let note = json!({"type": "note_added", "data": {"text": "x"}});
    expect("post", templated, app.post_raw(Some("practitioner"), &events, b"{\"type\":".to_vec(), &json_ct).await, 400);
    expect("post", templated, app.post_raw(None, &events, serde_json::to_vec(&note).unwrap(), &json_ct).await, 401);
    let triage = json!({"type": "triage_rated", "data": {"rating": "red"}});
    expect("post", templated, app.post("referrer", &events, &triage).await, 403);
    expect("post", "/v1/contacts", app.post("partner_police", "/v1/contacts", &contact_body()).await, 403);
    expect(
        "post",
        templated,
        app.post("practitioner", "/v1/contacts/01J00000000000000000000000/events", &note).await,
        404,
    );
    let stale = json!({"type": "note_added", "data": {"text": "x"}, "expected_version": 9});
    expect("post", templated, app.post("practitioner", &events, &stale).await, 409);
    let mut big = contact_body();
    big["concerns"] = json!("x".repeat(70 * 1024));
    expect(
        "post",
        "/v1/contacts",
        app.post_raw(Some("referrer"), "/v1/contacts", serde_json::to_vec(&big).unwrap(), &json_ct).await,
        413,
    );
    let text = [("content-type", "text/plain")];
    expect("post", "/v1/contacts", app.post_raw(Some("referrer"), "/v1/contacts", b"{}".to_vec(), &text).await, 415);
    let mut unknown = contact_body();
    unknown["colour"] = json!("blue");
    let schema_errors = errors_of(&doc, &component("NewContact"), &unknown, false);
    assert!(!schema_errors.is_empty(), "the schema refuses an unknown field too");
    expect("post", "/v1/contacts", app.post("referrer", "/v1/contacts", &unknown).await, 422);
    let unknown_event = json!({"type": "note_added", "data": {"text": "x"}, "colour": "blue"});
    assert!(!errors_of(&doc, &component("NewEvent"), &unknown_event, false).is_empty());
    expect("post", templated, app.post("practitioner", &events, &unknown_event).await, 422);
    let handover = json!({"type": "handover_sent", "data": data_for("handover_sent")});
    expect("post", templated, app.post("practitioner", &events, &handover).await, 422);
    let key = [("content-type", "application/json"), ("idempotency-key", "k-1")];
    let (status, _) =
        app.post_raw(Some("referrer"), "/v1/contacts", serde_json::to_vec(&contact_body()).unwrap(), &key).await;
    assert_eq!(status, 201);
    let mut other = contact_body();
    other["concerns"] = json!("another concern");
    expect(
        "post",
        "/v1/contacts",
        app.post_raw(Some("referrer"), "/v1/contacts", serde_json::to_vec(&other).unwrap(), &key).await,
        422,
    );

    expect("get", "/v1/contacts/{id}", app.get("monitor", &format!("/v1/contacts/{id}")).await, 403);
    expect("get", "/v1/contacts", app.get("practitioner", "/v1/contacts?made_by=me").await, 403);
    expect("get", "/v1/contacts", app.get("referrer", "/v1/contacts?made_by=you").await, 400);
    expect("get", "/v1/contacts/{id}", app.get("practitioner", "/v1/contacts/not-a-ulid").await, 404);
    expect("get", "/v1/contacts/{id}/audit", app.get("practitioner", &format!("/v1/contacts/{id}/audit")).await, 403);
    expect("get", "/v1/events", app.get("auditor", "/v1/events?limit=0").await, 400);
    expect("get", "/v1/events", app.get("auditor", "/v1/events?after=-1").await, 400);
    expect("get", "/v1/events", app.get("practitioner", "/v1/events").await, 403);
    expect("get", "/v1/access", app.get("auditor", "/v1/access?limit=0").await, 400);
    expect("get", "/v1/access", app.get("practitioner", "/v1/access").await, 403);

    let expected: BTreeSet<String> = [
        "bad-request",
        "unauthenticated",
        "forbidden",
        "not-found",
        "version-conflict",
        "payload-too-large",
        "unsupported-media-type",
        "validation",
        "case-rule",
        "idempotency-key-reused",
    ]
    .iter()
    .map(|s| format!("/docs#problem-{s}"))
    .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn the_reference_page_is_plain_html_with_a_strict_policy() {
    let app = spawn_app();
    let resp = app.client.get(format!("{}/docs", app.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("style-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("script-src") && !csp.contains('*'), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let html = resp.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    let lower = html.to_ascii_lowercase();
    for banned in
        ["<script", "javascript:", " onload=", " onclick=", " onerror=", "style=\"", "<iframe", "http://", "https://"]
    {
        assert!(!lower.contains(banned), "the page contains {banned}");
    }
    for landmark in ["<main", "<nav", "<header", "<footer", "<html lang=\"en-gb\"", "scope=\"col\"", "scope=\"row\""] {
        assert!(lower.contains(landmark), "no {landmark}");
    }
    for slug in SLUGS {
        assert!(html.contains(&format!("id=\"problem-{slug}\"")), "no anchor for problem {slug}");
    }
    for (name, _) in frontdoor::rules::RULES {
        assert!(html.contains(&format!("id=\"rule-{name}\"")), "no anchor for rule {name}");
    }
    let doc = fetch_doc(&app).await;
    for (method, path) in ROUTES {
        let id = operation(&doc, method, path)["operationId"].as_str().unwrap();
        assert!(html.contains(&format!("id=\"op-{id}\"")), "no section for {method} {path}");
        assert!(html.contains(&format!("<code class=\"path\">{path}</code>")), "{path}");
    }
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/docs/style.css\">"));

    let css = app.client.get(format!("{}/docs/style.css", app.url)).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    let css = css.text().await.unwrap();
    assert!(!css.contains("@import") && !css.contains("url("), "the style sheet loads nothing");
}

/// The problem `type` of a real error is a section of the page it names.
#[tokio::test]
async fn problem_types_link_to_their_section() {
    let app = spawn_app();
    let html = app.client.get(format!("{}/docs", app.url)).send().await.unwrap().text().await.unwrap();
    let (status, problem) = app.get("practitioner", "/v1/contacts/01J00000000000000000000000").await;
    assert_eq!(status, 404);
    let fragment = problem["type"].as_str().unwrap().strip_prefix("/docs#").unwrap();
    assert!(html.contains(&format!("id=\"{fragment}\"")), "{fragment}");
    let resp = app.client.delete(format!("{}/docs", app.url)).send().await.unwrap();
    let (status, problem) = read(resp).await;
    assert_eq!(status, 405);
    let fragment = problem["type"].as_str().unwrap().strip_prefix("/docs#").unwrap();
    assert!(html.contains(&format!("id=\"{fragment}\"")), "{fragment}");
}

/// The checker above finds what it should, or the tests that use it prove nothing.
#[tokio::test]
async fn the_schema_checker_catches_mismatches() {
    let app = spawn_app();
    let doc = fetch_doc(&app).await;
    let id = app.new_contact("referrer").await;
    let (_, contact) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
    assert!(errors_of(&doc, &component("Contact"), &contact, true).is_empty());
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut c = contact.clone();
        edit(&mut c);
        errors_of(&doc, &component("Contact"), &c, true)
    };
    assert!(!broken(&|c| c["stage"] = json!("pondering")).is_empty(), "an unknown enum value");
    assert!(!broken(&|c| c["channel"] = json!("Phone")).is_empty(), "a Rust variant name");
    assert!(!broken(&|c| _ = c.as_object_mut().unwrap().remove("due_by")).is_empty(), "a missing field");
    assert!(!broken(&|c| c["surprise"] = json!(1)).is_empty(), "an undocumented field");
    assert!(!broken(&|c| c["received_at"] = json!("yesterday")).is_empty(), "a bad timestamp");
    assert!(!broken(&|c| c["children"][0]["sex"] = json!("X")).is_empty(), "a bad nested enum in a oneOf");
    assert!(!broken(&|c| c["version"] = json!(-1)).is_empty(), "below the minimum");
    assert!(!broken(&|c| c["rating"] = json!(3)).is_empty(), "a wrong type");
    let mut event = json!({"type": "decision_made", "data": {"outcome": "assessment", "rationale": "r", "primary_need": "N1", "level_of_need": 5}});
    assert!(!errors_of(&doc, &component("NewEvent"), &event, false).is_empty(), "level_of_need 5");
    event["data"]["level_of_need"] = json!(4);
    assert!(errors_of(&doc, &component("NewEvent"), &event, false).is_empty());
    event["type"] = json!("note_added");
    assert!(!errors_of(&doc, &component("NewEvent"), &event, false).is_empty(), "data of another type");
    event["type"] = json!("contact_received");
    assert!(!errors_of(&doc, &component("NewEvent"), &event, false).is_empty(), "contact_received is not appended");
}

/// Issue 12, points 6 to 8: the figures' new fields (`undecided_past_due`, `recorded_late`,
/// `judged_at`, `threshold_met_share`, `level_3_or_4_share`, the sample's `recorded_late`)
/// are in the document, and the figures fit it exactly.
#[tokio::test]
async fn the_figures_fit_their_documented_schemas() {
    let app = spawn_app();
    let doc = fetch_doc(&app).await;
    for _ in 0..200 {
        if app.client.get(format!("{}/readyz", app.url)).send().await.unwrap().status() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let decided = app.new_contact("practitioner").await;
    let (s, b) = app.append("decision_maker", &decided, "decision_made", data_for("decision_made")).await;
    assert_eq!(s, 201, "{b}");
    let mut with_adult = contact_body();
    with_adult["adults"] = json!([{"name": "Alex Example", "date_of_birth": "1990-01-02", "relationship": "parent"}]);
    let (s, b) = app.post("practitioner", "/v1/contacts", &with_adult).await;
    assert_eq!(s, 201, "{b}");
    for (who, path, templated) in [
        ("practitioner", "/v1/metrics/timeliness", "/v1/metrics/timeliness"),
        ("practitioner", "/v1/metrics/volumes", "/v1/metrics/volumes"),
        ("auditor", "/v1/audit/sample?seed=1", "/v1/audit/sample"),
        ("auditor", "/v1/audit/sample?seed=1&recorded_late=true", "/v1/audit/sample"),
        ("practitioner", "/v1/children?name=Sam%20Example", "/v1/children"),
        ("practitioner", "/v1/adults?name=Alex%20Example", "/v1/adults"),
    ] {
        let (status, body) = app.get(who, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        check_response(&doc, "get", templated, status, &body);
    }
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("Timeliness", "undecided_past_due"),
        ("Timeliness", "recorded_late"),
        ("Timeliness", "judged_at"),
        ("TimelinessWeek", "undecided_past_due"),
        ("UndecidedPastDue", "one_working_day"),
        ("RecordedLate", "acceptances"),
        ("VolumeCounts", "threshold_met_share"),
        ("VolumeCounts", "level_3_or_4_share"),
        ("AuditSample", "recorded_late"),
    ] {
        assert!(schemas[schema]["properties"].get(field).is_some(), "{schema}.{field} is not documented");
    }
    // A response missing a documented field does not fit.
    let (_, mut t) = app.get("practitioner", "/v1/metrics/timeliness").await;
    t.as_object_mut().unwrap().remove("undecided_past_due");
    let schema =
        &operation(&doc, "get", "/v1/metrics/timeliness")["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(!errors_of(&doc, schema, &t, true).is_empty());
    let param = |path: &str, name: &str| {
        operation(&doc, "get", path)["parameters"].as_array().unwrap().iter().any(|p| p["name"] == name)
    };
    assert!(param("/v1/audit/sample", "recorded_late"));
    assert!(param("/qa", "recorded_late"));
}
