//! `GET /docs`: the API reference, rendered on the server from the OpenAPI document that
//! `GET /openapi.json` serves ([`super::openapi`]), with a section per problem type
//! (`/docs#problem-<slug>`, the `type` of every error) and the case rules (`#rule-<name>`).
//!
//! Plain HTML and one style sheet, `/docs/style.css`, both from the binary: no JavaScript, no
//! fonts or images, nothing fetched from anywhere else, and a content security policy that
//! allows exactly that. Every piece of text is escaped on the way in.

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use axum::Extension;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::ApiDocument;
use super::problem::PROBLEMS;
use super::state::AppState;
use crate::rules::RULES;

/// Only the page's own style sheet may load; nothing may run, frame it, or be posted from it.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The style sheet, served at `/docs/style.css`.
const STYLE: &str = r#":root {
  color-scheme: light dark;
  --fg: #1b1b1b; --bg: #ffffff; --muted: #505a5f; --line: #b1b4b6; --code-bg: #f3f2f1;
  --link: #1d4f91; --focus: #ffdd00; --get: #00703c; --post: #1d4f91; --other: #6f3c96;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #f3f2f1; --bg: #141414; --muted: #b1b4b6; --line: #505a5f; --code-bg: #262626;
    --link: #8ab4f8; --get: #5fd18c; --post: #8ab4f8; --other: #d0a8f0;
  }
}
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; font-size: 100%; line-height: 1.5; }
body { margin: 0; color: var(--fg); background: var(--bg); }
header, nav, main, footer { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 4px solid var(--fg); padding-bottom: .5rem; }
footer { border-top: 1px solid var(--line); color: var(--muted); margin-top: 3rem; }
a { color: var(--link); text-underline-offset: .15em; }
a:focus { outline: 3px solid var(--focus); outline-offset: 0; background: var(--focus); color: #0b0c0c; }
.skip { position: absolute; left: -9999px; }
.skip:focus { position: static; display: inline-block; padding: .5rem; }
h1 { font-size: 2rem; margin: 1rem 0 .25rem; }
h2 { font-size: 1.6rem; margin-top: 2.5rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.25rem; margin-top: 2rem; }
h4 { font-size: 1rem; margin: 1.25rem 0 .5rem; }
nav ul { padding-left: 1.25rem; }
nav li { margin: .15rem 0; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
code { background: var(--code-bg); padding: 0 .2em; border-radius: 2px; overflow-wrap: anywhere; }
pre { background: var(--code-bg); padding: .75rem; overflow-x: auto; max-height: 30rem; }
pre code { padding: 0; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid var(--line); padding: .4rem .5rem .4rem 0; }
thead th { border-bottom: 2px solid var(--fg); }
td p, td ul { margin: 0 0 .25rem; }
.operation { border-left: 4px solid var(--line); padding-left: 1rem; margin: 2rem 0; }
.operation > h3 { margin-top: 0; }
.method { display: inline-block; min-width: 3.5em; font-weight: 700; font-family: ui-monospace, Menlo, Consolas, monospace; }
.method-get { color: var(--get); }
.method-post { color: var(--post); }
.method-put, .method-delete, .method-patch { color: var(--other); }
.summary { font-size: 1.1rem; font-weight: 600; }
.auth, .note, .limits { color: var(--muted); }
.status { color: var(--muted); font-weight: 400; }
.rules dt { margin-top: .75rem; }
.rules dd { margin-left: 1.5rem; }
details { margin: .5rem 0 1rem; }
summary { cursor: pointer; color: var(--link); }
"#;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(docs_page)).routes(routes!(docs_css))
}

/// The page, rendered once from the document (there is one per process).
pub fn page(doc: &ApiDocument) -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| render(&doc.value))
}

/// `GET /docs`
#[utoipa::path(
    get,
    path = "/docs",
    tag = "reference",
    operation_id = "docs",
    summary = "The API reference",
    description = "This API described for people, as one HTML page rendered from the OpenAPI document, with a section per problem type (`/docs#problem-<slug>`, the `type` of every error) and the case rules (`/docs#rule-<name>`). No JavaScript, nothing loaded from elsewhere. No token needed.",
    responses(
        (status = 200, description = "The reference page.", content_type = "text/html; charset=utf-8", body = String,
            headers(("Content-Security-Policy" = String, description = "Only the page's own style sheet may load."))),
    )
)]
pub async fn docs_page(Extension(doc): Extension<&'static ApiDocument>) -> Response {
    let mut response = page(doc).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    hardened(headers);
    response
}

/// `GET /docs/style.css`
#[utoipa::path(
    get,
    path = "/docs/style.css",
    tag = "reference",
    operation_id = "docs_style",
    summary = "The reference page's style sheet",
    description = "No token needed.",
    responses((status = 200, description = "CSS.", content_type = "text/css; charset=utf-8", body = String))
)]
pub async fn docs_css() -> Response {
    let mut response = STYLE.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    hardened(headers);
    response
}

fn hardened(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

// ---------------------------------------------------------------------------------------
// Text

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An id attribute made of letters, digits, `-` and `_` only.
fn id(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// One line of the CommonMark the document uses: `code` spans; everything else is text.
fn inline(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        let odd = i % 2 == 1;
        if odd && i + 1 < parts.len() {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            if odd {
                out.push('`');
            }
            out.push_str(&escape(part));
        }
    }
    out
}

/// The CommonMark the document uses: paragraphs, `- ` lists, `code` spans.
fn markdown(text: &str) -> String {
    let mut out = String::new();
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let mut paragraph: Vec<&str> = Vec::new();
        let mut items: Vec<String> = Vec::new();
        for line in block.lines().map(str::trim) {
            if let Some(item) = line.strip_prefix("- ") {
                items.push(item.to_owned());
            } else if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(line);
            } else {
                paragraph.push(line);
            }
        }
        if !paragraph.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", inline(&paragraph.join(" ")));
        }
        if !items.is_empty() {
            out.push_str("<ul>\n");
            for item in items {
                let _ = writeln!(out, "<li>{}</li>", inline(&item));
            }
            out.push_str("</ul>\n");
        }
    }
    out
}

/// A description that belongs on one line (a table cell).
fn inline_description(schema: &Value) -> String {
    schema.get("description").and_then(Value::as_str).map(|d| inline(&d.replace('\n', " "))).unwrap_or_default()
}

/// A JSON value as a reader would write it in a body: strings without their quotes.
fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Schemas

const SCHEMA_PREFIX: &str = "#/components/schemas/";

fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(SCHEMA_PREFIX))
}

fn schema_link(name: &str) -> String {
    format!("<a href=\"#schema-{}\">{}</a>", id(name), escape(name))
}

/// A short label for a schema's type: `string (date-time)`, `array of Child`, `Rating | null`.
fn type_label(schema: &Value) -> String {
    if let Some(name) = ref_name(schema) {
        return schema_link(name);
    }
    for (key, joiner) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " &amp; ")] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            return parts.iter().map(type_label).collect::<Vec<_>>().join(joiner);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(|v| format!("<code>{}</code>", escape(&literal(v)))).collect::<Vec<_>>().join(" | ");
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return "any JSON value".to_owned();
    }
    types
        .iter()
        .map(|t| match t.as_str() {
            "array" => format!("array of {}", schema.get("items").map(type_label).unwrap_or_else(|| "anything".into())),
            "null" => "null".to_owned(),
            other => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("{} ({})", escape(other), escape(format)),
                None => escape(other),
            },
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The limits a schema states, as a sentence.
fn constraints(schema: &Value) -> String {
    let mut said = Vec::new();
    let num = |key: &str| schema.get(key).and_then(Value::as_u64);
    match (num("minLength"), num("maxLength")) {
        (Some(min), Some(max)) => said.push(format!("{min} to {max} characters")),
        (None, Some(max)) => said.push(format!("at most {max} characters")),
        (Some(min), None) => said.push(format!("at least {min} characters")),
        (None, None) => {}
    }
    match (num("minItems"), num("maxItems")) {
        (Some(min), Some(max)) => said.push(format!("{min} to {max} items")),
        (None, Some(max)) => said.push(format!("at most {max} items")),
        (Some(min), None) if min > 0 => said.push(format!("at least {min} items")),
        _ => {}
    }
    let bound = |key: &str| schema.get(key).filter(|v| v.is_number()).map(Value::to_string);
    match (bound("minimum"), bound("maximum")) {
        (Some(min), Some(max)) => said.push(format!("{min} to {max}")),
        (Some(min), None) if min != "0" => said.push(format!("at least {min}")),
        (None, Some(max)) => said.push(format!("at most {max}")),
        _ => {}
    }
    let mut out: Vec<String> = said.into_iter().map(|s| escape(&s)).collect();
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        out.push(format!("matches <code>{}</code>", escape(pattern)));
    }
    if let Some(default) = schema.get("default") {
        out.push(format!("default <code>{}</code>", escape(&literal(default))));
    }
    if out.is_empty() { String::new() } else { format!(" <span class=\"limits\">({})</span>", out.join("; ")) }
}

fn is_required(schema: &Value, field: &str) -> bool {
    schema.get("required").and_then(Value::as_array).is_some_and(|r| r.iter().any(|f| f == field))
}

/// A table of an object schema's fields.
fn fields_table(out: &mut String, schema: &Value, caption: &str) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
    let _ = write!(
        out,
        "<table class=\"fields\">\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">Field</th>\
         <th scope=\"col\">Type</th><th scope=\"col\">Required</th><th scope=\"col\">Description</th></tr></thead>\n<tbody>\n",
        escape(caption)
    );
    // Required fields first, then the rest, each in the document's order.
    let (required, optional): (Vec<_>, Vec<_>) = properties.iter().partition(|(name, _)| is_required(schema, name));
    for (name, property) in required.iter().chain(&optional) {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            escape(name),
            type_label(property),
            if is_required(schema, name) { "yes" } else { "no" },
            inline_description(property),
            constraints(property),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        out.push_str("<p class=\"note\">No other fields are accepted.</p>\n");
    }
}

/// The property whose value names the alternative of a `oneOf`: a one-value enum in each.
fn discriminator(alternatives: &[Value]) -> Option<String> {
    let first = alternatives.first()?.get("properties")?.as_object()?;
    first
        .keys()
        .find(|key| {
            alternatives.iter().all(|alt| {
                alt.pointer(&format!("/properties/{key}/enum")).and_then(Value::as_array).is_some_and(|e| e.len() == 1)
            })
        })
        .cloned()
}

/// The body of a schema: its fields, values or alternatives.
fn schema_body(out: &mut String, schema: &Value, name: &str) {
    if let Some(target) = ref_name(schema) {
        let _ = writeln!(out, "<p>{}</p>", schema_link(target));
    } else if schema.get("properties").is_some() {
        fields_table(out, schema, &format!("Fields of {name}"));
    } else if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let description = str_of(schema, "description");
        if values.iter().all(|v| description.contains(&format!("`{}`", literal(v)))) {
            return; // The description lists them, with what each means.
        }
        out.push_str("<p>One of:</p>\n<ul class=\"values\">\n");
        for v in values {
            let _ = writeln!(out, "<li><code>{}</code></li>", escape(&literal(v)));
        }
        out.push_str("</ul>\n");
    } else if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
        alternatives_body(out, alternatives, name);
    } else {
        let _ = writeln!(out, "<p>{}{}</p>", type_label(schema), constraints(schema));
    }
}

/// A `oneOf`: a table from the naming property to the rest, and the fields they share.
fn alternatives_body(out: &mut String, alternatives: &[Value], name: &str) {
    let Some(key) = discriminator(alternatives) else {
        out.push_str("<p>One of:</p>\n<ul>\n");
        for alt in alternatives {
            let _ = writeln!(out, "<li>{}</li>", type_label(alt));
        }
        out.push_str("</ul>\n");
        return;
    };
    // Fields every alternative has alike are listed once; the others by alternative.
    let props = |alt: &Value| alt.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let first = props(&alternatives[0]);
    let shared: Map<String, Value> = first
        .iter()
        .filter(|(k, v)| {
            **k != key
                && alternatives
                    .iter()
                    .all(|alt| props(alt).get(*k) == Some(v) && is_required(alt, k) == is_required(&alternatives[0], k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut varying: Vec<String> = Vec::new();
    for alt in alternatives {
        for k in props(alt).keys() {
            if *k != key && !shared.contains_key(k) && !varying.contains(k) {
                varying.push(k.clone());
            }
        }
    }
    let _ = write!(
        out,
        "<p>One of the following, by <code>{}</code>.</p>\n<table class=\"alternatives\">\n<caption>{} by {}</caption>\n<thead><tr><th scope=\"col\"><code>{}</code></th>",
        escape(&key),
        escape(name),
        escape(&key),
        escape(&key)
    );
    for k in &varying {
        let _ = write!(out, "<th scope=\"col\"><code>{}</code></th>", escape(k));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for alt in alternatives {
        let p = props(alt);
        let value = p.get(&key).map(type_label).unwrap_or_default();
        let _ = write!(out, "<tr><th scope=\"row\">{value}</th>");
        for k in &varying {
            let cell = match p.get(k) {
                Some(schema) => {
                    format!("{}{}", type_label(schema), if is_required(alt, k) { "" } else { " (optional)" })
                }
                None => "–".to_owned(),
            };
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    if !shared.is_empty() {
        let mut common = serde_json::json!({"properties": shared});
        let required: Vec<Value> =
            shared.keys().filter(|k| is_required(&alternatives[0], k)).map(|k| Value::String(k.clone())).collect();
        common["required"] = Value::Array(required);
        if alternatives[0].get("additionalProperties") == Some(&Value::Bool(false)) {
            common["additionalProperties"] = Value::Bool(false);
        }
        out.push_str("<p>And, whichever it is:</p>\n");
        fields_table(out, &common, &format!("Fields every {name} has"));
    }
}

// ---------------------------------------------------------------------------------------
// Operations

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

struct Op<'a> {
    method: &'a str,
    path: &'a str,
    op: &'a Value,
}

impl Op<'_> {
    fn anchor(&self) -> String {
        format!("op-{}", id(str_of(self.op, "operationId")))
    }

    fn heading(&self) -> String {
        format!(
            "<span class=\"method method-{}\">{}</span> <code class=\"path\">{}</code>",
            self.method,
            self.method.to_ascii_uppercase(),
            escape(self.path)
        )
    }
}

fn operations(doc: &Value) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push(Op { method, path, op });
            }
        }
    }
    ops
}

fn tag_of<'a>(op: &Op<'a>) -> &'a str {
    op.op.pointer("/tags/0").and_then(Value::as_str).unwrap_or("other")
}

fn operation(out: &mut String, doc: &Value, op: &Op<'_>) {
    let anchor = op.anchor();
    let _ = write!(
        out,
        "<section class=\"operation\" id=\"{anchor}\" aria-labelledby=\"{anchor}-h\">\n<h3 id=\"{anchor}-h\">{}</h3>\n",
        op.heading()
    );
    if let Some(summary) = op.op.get("summary").and_then(Value::as_str) {
        let _ = writeln!(out, "<p class=\"summary\">{}</p>", inline(summary));
    }
    if let Some(description) = op.op.get("description").and_then(Value::as_str) {
        out.push_str(&markdown(description));
    }
    let secured = op.op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    if secured {
        out.push_str("<p class=\"auth\">Token: required (<a href=\"#authentication\">bearer</a>).</p>\n");
    } else {
        out.push_str("<p class=\"auth\">Token: not needed.</p>\n");
    }
    parameters(out, op, &anchor);
    request_body(out, doc, op, &anchor);
    responses(out, op, &anchor);
    out.push_str("</section>\n");
}

fn parameters(out: &mut String, op: &Op<'_>, anchor: &str) {
    let Some(params) = op.op.get("parameters").and_then(Value::as_array).filter(|p| !p.is_empty()) else { return };
    let _ = write!(
        out,
        "<h4 id=\"{anchor}-params\">Parameters</h4>\n<table class=\"params\" aria-labelledby=\"{anchor}-params\">\n\
         <thead><tr><th scope=\"col\">Name</th><th scope=\"col\">In</th><th scope=\"col\">Required</th>\
         <th scope=\"col\">Type</th><th scope=\"col\">Description</th></tr></thead>\n<tbody>\n"
    );
    for p in params {
        let schema = p.get("schema").cloned().unwrap_or(Value::Null);
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            escape(str_of(p, "name")),
            escape(str_of(p, "in")),
            if p.get("required") == Some(&Value::Bool(true)) { "yes" } else { "no" },
            type_label(&schema),
            inline_description(p),
            constraints(&schema),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn request_body(out: &mut String, doc: &Value, op: &Op<'_>, anchor: &str) {
    let Some(body) = op.op.get("requestBody") else { return };
    let _ = writeln!(out, "<h4 id=\"{anchor}-body\">Request body</h4>");
    if let Some(description) = body.get("description").and_then(Value::as_str) {
        out.push_str(&markdown(description));
    }
    for (content_type, media) in body.get("content").and_then(Value::as_object).into_iter().flatten() {
        let schema = media.get("schema").cloned().unwrap_or(Value::Null);
        let _ = writeln!(
            out,
            "<p>{}, <code>Content-Type: {}</code>: {}.</p>",
            if body.get("required") == Some(&Value::Bool(true)) { "Required" } else { "Optional" },
            escape(content_type),
            type_label(&schema)
        );
        // The body's own schema, spelled out here rather than only linked.
        let (name, resolved) = match ref_name(&schema) {
            Some(name) => (name.to_owned(), doc.pointer(&format!("/components/schemas/{name}")).cloned()),
            None => ("the body".to_owned(), Some(schema.clone())),
        };
        if let Some(resolved) = resolved {
            if let Some(description) = resolved.get("description").and_then(Value::as_str) {
                out.push_str(&markdown(description));
            }
            schema_body(out, &resolved, &name);
            let pretty = serde_json::to_string_pretty(&resolved).unwrap_or_default();
            let _ = write!(
                out,
                "<details>\n<summary>JSON Schema of {}</summary>\n<pre>{}</pre>\n</details>\n",
                escape(&name),
                escape(&pretty)
            );
        }
    }
}

fn responses(out: &mut String, op: &Op<'_>, anchor: &str) {
    let Some(responses) = op.op.get("responses").and_then(Value::as_object) else { return };
    let _ = write!(
        out,
        "<h4 id=\"{anchor}-responses\">Responses</h4>\n<table class=\"responses\" aria-labelledby=\"{anchor}-responses\">\n\
         <thead><tr><th scope=\"col\">Status</th><th scope=\"col\">Meaning</th><th scope=\"col\">Body</th></tr></thead>\n<tbody>\n"
    );
    for (status, response) in responses {
        let mut meaning = markdown(str_of(response, "description"));
        if let Some(headers) = response.get("headers").and_then(Value::as_object) {
            meaning.push_str("<p>Headers:</p>\n<ul>\n");
            for (name, h) in headers {
                let _ = writeln!(meaning, "<li><code>{}</code>: {}</li>", escape(name), inline_description(h));
            }
            meaning.push_str("</ul>\n");
        }
        let mut body = String::new();
        for (content_type, media) in response.get("content").and_then(Value::as_object).into_iter().flatten() {
            let _ = writeln!(
                body,
                "<p><code>{}</code>: {}</p>",
                escape(content_type),
                media.get("schema").map(type_label).unwrap_or_default()
            );
            if let Some(examples) = media.get("examples").and_then(Value::as_object) {
                let links: Vec<String> = examples
                    .keys()
                    .map(|slug| format!("<a href=\"#problem-{}\">{}</a>", id(slug), escape(slug)))
                    .collect();
                let _ = writeln!(body, "<p>Problem types: {}</p>", links.join(", "));
            }
        }
        if body.is_empty() {
            body.push_str("<p>None.</p>\n");
        }
        let _ = writeln!(out, "<tr><th scope=\"row\">{}</th><td>{meaning}</td><td>{body}</td></tr>", escape(status));
    }
    out.push_str("</tbody>\n</table>\n");
}

// ---------------------------------------------------------------------------------------
// The page

/// Renders the reference page from an OpenAPI document.
pub fn render(doc: &Value) -> String {
    let info = doc.get("info").cloned().unwrap_or(Value::Null);
    let title = str_of(&info, "title");
    let ops = operations(doc);
    let tags: Vec<(String, String)> = doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| (str_of(t, "name").to_owned(), str_of(t, "description").to_owned()))
        .chain(ops.iter().map(|op| (tag_of(op).to_owned(), String::new())))
        .fold(Vec::new(), |mut tags, (name, description)| {
            if !tags.iter().any(|(n, _): &(String, String)| *n == name) {
                tags.push((name, description));
            }
            tags
        });
    let schemas = doc.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();

    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{title} API reference</title>\n\
         <link rel=\"stylesheet\" href=\"/docs/style.css\">\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to the reference</a>\n\
         <header>\n<h1>{title} API reference</h1>\n<p>Version {version}. The same, as an OpenAPI {openapi} document: \
         <a href=\"/openapi.json\">/openapi.json</a>.</p>\n</header>\n",
        title = escape(title),
        version = escape(str_of(&info, "version")),
        openapi = escape(str_of(doc, "openapi")),
    );

    // Contents.
    out.push_str("<nav aria-labelledby=\"contents-h\">\n<h2 id=\"contents-h\">Contents</h2>\n<ul>\n");
    out.push_str(
        "<li><a href=\"#overview\">Overview</a></li>\n<li><a href=\"#authentication\">Authentication</a></li>\n",
    );
    for (tag, _) in &tags {
        let _ = write!(out, "<li><a href=\"#tag-{}\">{}</a>\n<ul>\n", id(tag), escape(&capitalise(tag)));
        for op in ops.iter().filter(|op| tag_of(op) == tag) {
            let _ = writeln!(out, "<li><a href=\"#{}\">{}</a></li>", op.anchor(), op.heading());
        }
        out.push_str("</ul>\n</li>\n");
    }
    out.push_str(
        "<li><a href=\"#problems\">Problem types</a></li>\n<li><a href=\"#rules\">Case rules</a></li>\n\
         <li><a href=\"#schemas\">Schemas</a></li>\n</ul>\n</nav>\n",
    );

    out.push_str("<main id=\"main\">\n");
    let _ = write!(
        out,
        "<section id=\"overview\" aria-labelledby=\"overview-h\">\n<h2 id=\"overview-h\">Overview</h2>\n{}</section>\n",
        markdown(str_of(&info, "description"))
    );

    out.push_str(
        "<section id=\"authentication\" aria-labelledby=\"authentication-h\">\n<h2 id=\"authentication-h\">Authentication</h2>\n",
    );
    for (name, scheme) in doc.pointer("/components/securitySchemes").and_then(Value::as_object).into_iter().flatten() {
        let _ = write!(
            out,
            "<p><code>{}</code>: {} {}.</p>\n{}",
            escape(name),
            escape(str_of(scheme, "type")),
            escape(str_of(scheme, "scheme")),
            markdown(str_of(scheme, "description"))
        );
    }
    out.push_str("</section>\n");

    for (tag, description) in &tags {
        let _ = write!(
            out,
            "<section class=\"tag\" id=\"tag-{tid}\" aria-labelledby=\"tag-{tid}-h\">\n<h2 id=\"tag-{tid}-h\">{}</h2>\n{}",
            escape(&capitalise(tag)),
            markdown(description),
            tid = id(tag),
        );
        for op in ops.iter().filter(|op| tag_of(op) == tag) {
            operation(&mut out, doc, op);
        }
        out.push_str("</section>\n");
    }

    problems(&mut out);
    rules(&mut out);

    out.push_str("<section id=\"schemas\" aria-labelledby=\"schemas-h\">\n<h2 id=\"schemas-h\">Schemas</h2>\n");
    for (name, schema) in &schemas {
        let sid = id(name);
        let _ = write!(
            out,
            "<section class=\"schema\" id=\"schema-{sid}\" aria-labelledby=\"schema-{sid}-h\">\n<h3 id=\"schema-{sid}-h\">{}</h3>\n",
            escape(name)
        );
        if let Some(description) = schema.get("description").and_then(Value::as_str) {
            out.push_str(&markdown(description));
        }
        schema_body(&mut out, schema, name);
        out.push_str("</section>\n");
    }
    out.push_str("</section>\n</main>\n");
    out.push_str(
        "<footer>\n<p>Generated by the service from its own code: the handlers, the event schema, the error \
         type, the permission table and the case rules.</p>\n</footer>\n</body>\n</html>\n",
    );
    out
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn problems(out: &mut String) {
    out.push_str(
        "<section id=\"problems\" aria-labelledby=\"problems-h\">\n<h2 id=\"problems-h\">Problem types</h2>\n\
         <p>Every error is <code>application/problem+json</code> (RFC 9457). Its <code>type</code> is \
         <code>/docs#problem-&lt;slug&gt;</code>, one of the sections below; <code>title</code> is the same for \
         every problem of the type, <code>detail</code> says what went wrong this time.</p>\n",
    );
    for p in PROBLEMS {
        let pid = format!("problem-{}", id(p.slug));
        let example = serde_json::to_string_pretty(&p.example_body()).unwrap_or_default();
        let _ = write!(
            out,
            "<section class=\"problem\" id=\"{pid}\" aria-labelledby=\"{pid}-h\">\n\
             <h3 id=\"{pid}-h\">{title} <span class=\"status\">{status}</span></h3>\n\
             <p><code>type</code>: <code>{uri}</code></p>\n<p>{explanation}</p>\n",
            title = escape(p.title()),
            status = p.status(),
            uri = escape(&p.type_uri()),
            explanation = inline(p.explanation),
        );
        if p.slug == "case-rule" {
            out.push_str("<p>The rules are listed under <a href=\"#rules\">Case rules</a>.</p>\n");
        }
        let _ = write!(out, "<p>For example:</p>\n<pre>{}</pre>\n</section>\n", escape(&example));
    }
    out.push_str("</section>\n");
}

fn rules(out: &mut String) {
    out.push_str(
        "<section id=\"rules\" aria-labelledby=\"rules-h\">\n<h2 id=\"rules-h\">Case rules</h2>\n\
         <p>An event the case flow does not allow now is refused with a \
         <a href=\"#problem-case-rule\">case-rule</a> problem (422) whose <code>rule</code> is one of these.</p>\n<dl class=\"rules\">\n",
    );
    for (name, meaning) in RULES {
        let _ = write!(
            out,
            "<dt id=\"rule-{}\"><code>{}</code></dt>\n<dd>{}</dd>\n",
            id(name),
            escape(name),
            inline(&capitalise(meaning))
        );
    }
    out.push_str("</dl>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(inline("a `<b>` c"), "a <code>&lt;b&gt;</code> c");
        assert_eq!(inline("an odd ` <i>"), "an odd ` &lt;i&gt;");
        assert_eq!(id("a b\"<c>"), "a-b--c-");
    }

    #[test]
    fn markdown_has_paragraphs_and_lists() {
        let html = markdown("One\ntwo.\n\nList:\n\n- `a`: x\n- b <c>\n  more");
        assert_eq!(
            html,
            "<p>One two.</p>\n<p>List:</p>\n<ul>\n<li><code>a</code>: x</li>\n<li>b &lt;c&gt; more</li>\n</ul>\n"
        );
    }

    #[test]
    fn hostile_text_in_the_document_is_escaped() {
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "<script>alert(1)</script>", "version": "1\"><script>", "description": "<img src=x onerror=alert(1)>"},
            "tags": [{"name": "t<b>", "description": "<script>"}],
            "paths": {"/x/<script>": {"get": {"operationId": "x\"onload=\"y", "tags": ["t<b>"], "summary": "<script>",
                "parameters": [{"name": "<p>", "in": "query", "schema": {"type": "string", "pattern": "<script>"}}],
                "responses": {"200": {"description": "<script>", "content": {"text/<x>": {"schema": {"enum": ["<script>"]}}}}}}}},
            "components": {"schemas": {"<script>": {"type": "object", "properties": {"<b>": {"type": "string", "description": "<script>"}}}}}
        });
        let html = render(&doc);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(!html.contains("<p>\"") && !html.contains("onload=\""), "{html}");
    }

    /// Every element is closed, in order: text is escaped, so every `<` starts a tag.
    #[test]
    fn the_page_is_well_formed() {
        const VOID: [&str; 3] = ["meta", "link", "br"];
        let html = page(crate::http::document());
        let mut open: Vec<&str> = Vec::new();
        for tag in html.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap();
            if tag.starts_with('!') {
                continue;
            }
            let name = tag.trim_start_matches('/').split([' ', '>']).next().unwrap();
            if let Some(closing) = tag.strip_prefix('/') {
                let closing = closing.trim();
                assert_eq!(open.pop(), Some(closing), "</{closing}> closes the wrong element");
            } else if !VOID.contains(&name) {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "never closed: {open:?}");
        assert_eq!(html.matches("<h1").count(), 1);
        assert_eq!(html.matches("<main").count(), 1);
    }

    #[test]
    fn the_page_has_every_operation_problem_and_rule() {
        let html = page(crate::http::document());
        assert!(!html.contains("<script"));
        assert!(!html.contains("style="), "inline styles would need 'unsafe-inline'");
        for op in operations(&crate::http::document().value) {
            assert!(html.contains(&format!("id=\"{}\"", op.anchor())), "{} {}", op.method, op.path);
        }
        for p in PROBLEMS {
            assert!(html.contains(&format!("id=\"problem-{}\"", p.slug)), "{}", p.slug);
        }
        for (name, _) in RULES {
            assert!(html.contains(&format!("id=\"rule-{name}\"")), "{name}");
        }
        // Every in-page link lands on an id.
        for target in html.split("href=\"#").skip(1).filter_map(|rest| rest.split('"').next()) {
            assert!(html.contains(&format!("id=\"{target}\"")), "a link to #{target} goes nowhere");
        }
        // And ids are unique.
        let mut ids: Vec<&str> = html.split(" id=\"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate ids");
    }
}
