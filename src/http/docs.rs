//! `GET /docs`: the API reference, rendered on the server from the OpenAPI document that
//! `GET /openapi.json` serves ([`super::openapi`]), with a section per problem type
//! (`/docs#problem-<slug>`, the `type` of every error) and the case rules (`#rule-<name>`).
//!
//! Plain HTML and one style sheet, `/docs/style.css`, both from the binary: no JavaScript, no
//! fonts or images, nothing fetched from anywhere else, and a content security policy that
//! allows exactly that.
//!
//! # How the page is made
//!
//! Once per process ([`page`]): the document is read into plain values (`DocsPage`: tags
//! with their operations, parameters, request bodies, responses; problem types, rules,
//! schemas with their fields or alternatives), which the askama templates
//! `web/templates/docs.html` and `docs-parts.html` lay out, escaping every value. The
//! descriptions' CommonMark (paragraphs, `- ` lists, `code` spans) is read into `Block`s of
//! `Piece`s (text, code, a link within the page) that the templates turn into elements, so a
//! description is text however it is written. Nothing here writes markup and nothing in the
//! templates is marked safe.

use std::sync::OnceLock;

use askama::Template;
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
// What the page shows: plain values that `web/templates/docs.html` lays out

/// The reference page: `web/templates/docs.html`, with the parts of `docs-parts.html`.
#[derive(Template)]
#[template(path = "docs.html")]
struct DocsPage {
    title: String,
    version: String,
    /// The OpenAPI version of the document.
    openapi: String,
    overview: Vec<Block>,
    authentication: Vec<Scheme>,
    tags: Vec<Tag>,
    problems: Vec<Problem>,
    rules: Vec<Rule>,
    schemas: Vec<Schema>,
}

/// A run of text as the reader sees it: words, code, and links to elsewhere on the page.
enum Piece {
    Text(String),
    Code(String),
    /// `target` is an id on this page.
    Link {
        target: String,
        text: String,
    },
}

/// Pieces read in order, on one line.
type Line = Vec<Piece>;

/// A block of a description.
enum Block {
    Paragraph(Line),
    List(Vec<Line>),
}

/// A security scheme, under Authentication.
struct Scheme {
    name: String,
    /// `http`, `apiKey`, ...
    kind: String,
    scheme: String,
    description: Vec<Block>,
}

/// A tag of the document: a section of operations.
struct Tag {
    /// `tag-<name>`
    id: String,
    heading: String,
    description: Vec<Block>,
    operations: Vec<Operation>,
}

struct Operation {
    /// `op-<operationId>`
    anchor: String,
    /// Lower case, as in the document: `get`, `post`, ...
    method: &'static str,
    path: String,
    summary: Option<Line>,
    description: Vec<Block>,
    /// Whether a token is needed.
    secured: bool,
    parameters: Vec<Parameter>,
    body: Option<RequestBody>,
    responses: Vec<ResponseRow>,
}

struct Parameter {
    name: String,
    /// `path`, `query`, `header` or `cookie`.
    location: String,
    required: bool,
    ty: Line,
    description: Line,
    limits: Line,
}

struct RequestBody {
    description: Vec<Block>,
    required: bool,
    contents: Vec<BodyContent>,
}

/// The body in one content type.
struct BodyContent {
    content_type: String,
    ty: Line,
    /// The body's own schema, spelled out rather than only linked.
    schema: Option<BodySchema>,
}

struct BodySchema {
    name: String,
    description: Vec<Block>,
    body: SchemaBody,
    /// The schema itself, pretty-printed.
    json: String,
}

/// A row of an operation's responses.
struct ResponseRow {
    status: String,
    meaning: Vec<Block>,
    /// Each header's name and what it says.
    headers: Vec<(String, Line)>,
    contents: Vec<ResponseContent>,
}

struct ResponseContent {
    content_type: String,
    ty: Line,
    /// Links to the problem types the examples name, separated by commas.
    problems: Line,
}

struct Problem {
    /// `problem-<slug>`
    id: String,
    title: String,
    status: u16,
    uri: String,
    explanation: Line,
    /// The case-rule problem, whose `rule` is one of the rules listed further down.
    names_a_rule: bool,
    /// An example body, pretty-printed.
    example: String,
}

struct Rule {
    /// `rule-<name>`
    id: String,
    name: String,
    meaning: Line,
}

/// A section of Schemas.
struct Schema {
    /// `schema-<name>`
    id: String,
    name: String,
    description: Vec<Block>,
    body: SchemaBody,
}

/// What a schema holds, as the page spells it out.
enum SchemaBody {
    /// Nothing to add to the description: it lists the values with what each means (or the
    /// `properties` are not an object).
    Nothing,
    /// Another schema, linked.
    Reference(Line),
    Fields(FieldsTable),
    /// The values of an enum.
    Values(Vec<String>),
    /// A `oneOf` with no property naming the alternative: their types.
    OneOf(Vec<Line>),
    Alternatives(Alternatives),
    /// Anything else: its type and limits.
    Type {
        ty: Line,
        limits: Line,
    },
}

/// An object schema's fields: required ones first, then the rest, each in the document's order.
struct FieldsTable {
    caption: String,
    fields: Vec<Field>,
    /// `additionalProperties: false`
    closed: bool,
}

struct Field {
    name: String,
    ty: Line,
    required: bool,
    description: Line,
    limits: Line,
}

/// A `oneOf` named by one property (`key`): a row per alternative, a column per field that
/// differs between them, and the fields they all share in a table of their own.
struct Alternatives {
    key: String,
    /// The schema's name, for the caption.
    name: String,
    varying: Vec<String>,
    rows: Vec<Alternative>,
    shared: Option<FieldsTable>,
}

struct Alternative {
    /// The key's value in this alternative.
    value: Line,
    /// One per varying field: absent in this alternative, or its type.
    cells: Vec<Option<Cell>>,
}

struct Cell {
    ty: Line,
    optional: bool,
}

// ---------------------------------------------------------------------------------------
// Text

/// An id attribute made of letters, digits, `-` and `_` only.
fn id(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

fn text(words: impl Into<String>) -> Piece {
    Piece::Text(words.into())
}

fn code(source: impl Into<String>) -> Piece {
    Piece::Code(source.into())
}

/// Lines joined into one, `joiner` between each two.
fn joined(lines: impl IntoIterator<Item = Line>, joiner: &str) -> Line {
    let mut out = Line::new();
    for (i, line) in lines.into_iter().enumerate() {
        if i > 0 {
            out.push(text(joiner));
        }
        out.extend(line);
    }
    out
}

/// One line of the CommonMark the document uses: `code` spans; everything else is text.
fn inline(source: &str) -> Line {
    let parts: Vec<&str> = source.split('`').collect();
    let mut out = Line::new();
    for (i, part) in parts.iter().enumerate() {
        let odd = i % 2 == 1;
        if odd && i + 1 < parts.len() {
            out.push(code(*part));
        } else if odd {
            // A backtick never closed is a backtick.
            out.push(text(format!("`{part}")));
        } else if !part.is_empty() {
            out.push(text(*part));
        }
    }
    out
}

/// The CommonMark the document uses: paragraphs, `- ` lists, `code` spans.
fn markdown(source: &str) -> Vec<Block> {
    let mut out = Vec::new();
    for block in source.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
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
            out.push(Block::Paragraph(inline(&paragraph.join(" "))));
        }
        if !items.is_empty() {
            out.push(Block::List(items.iter().map(|item| inline(item)).collect()));
        }
    }
    out
}

/// A value's `description`, as blocks.
fn description(value: &Value) -> Vec<Block> {
    markdown(str_of(value, "description"))
}

/// A description that belongs on one line (a table cell).
fn inline_description(schema: &Value) -> Line {
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

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Schemas

const SCHEMA_PREFIX: &str = "#/components/schemas/";

fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(SCHEMA_PREFIX))
}

fn schema_link(name: &str) -> Piece {
    Piece::Link { target: format!("schema-{}", id(name)), text: name.to_owned() }
}

/// A short label for a schema's type: `string (date-time)`, `array of Child`, `Rating | null`.
fn type_label(schema: &Value) -> Line {
    if let Some(name) = ref_name(schema) {
        return vec![schema_link(name)];
    }
    for (key, joiner) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            return joined(parts.iter().map(type_label), joiner);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return joined(values.iter().map(|v| vec![code(literal(v))]), " | ");
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return vec![text("any JSON value")];
    }
    joined(
        types.into_iter().map(|t| match t {
            "array" => {
                let mut label = vec![text("array of ")];
                label.extend(schema.get("items").map(type_label).unwrap_or_else(|| vec![text("anything")]));
                label
            }
            "null" => vec![text("null")],
            other => match schema.get("format").and_then(Value::as_str) {
                Some(format) => vec![text(format!("{other} ({format})"))],
                None => vec![text(other)],
            },
        }),
        " | ",
    )
}

/// The limits a schema states, separated by semicolons; empty if it states none.
fn constraints(schema: &Value) -> Line {
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
    let mut out: Vec<Line> = said.into_iter().map(|s| vec![text(s)]).collect();
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        out.push(vec![text("matches "), code(pattern)]);
    }
    if let Some(default) = schema.get("default") {
        out.push(vec![text("default "), code(literal(default))]);
    }
    joined(out, "; ")
}

fn is_required(schema: &Value, field: &str) -> bool {
    schema.get("required").and_then(Value::as_array).is_some_and(|r| r.iter().any(|f| f == field))
}

/// An object schema's fields, if it has any.
fn fields_table(schema: &Value, caption: String) -> Option<FieldsTable> {
    let properties = schema.get("properties").and_then(Value::as_object)?;
    // Required fields first, then the rest, each in the document's order.
    let (required, optional): (Vec<_>, Vec<_>) = properties.iter().partition(|(name, _)| is_required(schema, name));
    let fields = required
        .iter()
        .chain(&optional)
        .map(|(name, property)| Field {
            name: (*name).clone(),
            ty: type_label(property),
            required: is_required(schema, name),
            description: inline_description(property),
            limits: constraints(property),
        })
        .collect();
    Some(FieldsTable { caption, fields, closed: schema.get("additionalProperties") == Some(&Value::Bool(false)) })
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
fn schema_body(schema: &Value, name: &str) -> SchemaBody {
    if let Some(target) = ref_name(schema) {
        SchemaBody::Reference(vec![schema_link(target)])
    } else if schema.get("properties").is_some() {
        fields_table(schema, format!("Fields of {name}")).map_or(SchemaBody::Nothing, SchemaBody::Fields)
    } else if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let description = str_of(schema, "description");
        if values.iter().all(|v| description.contains(&format!("`{}`", literal(v)))) {
            return SchemaBody::Nothing;
        }
        SchemaBody::Values(values.iter().map(literal).collect())
    } else if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
        match discriminator(alternatives) {
            Some(key) => SchemaBody::Alternatives(alternatives_by(alternatives, key, name)),
            None => SchemaBody::OneOf(alternatives.iter().map(type_label).collect()),
        }
    } else {
        SchemaBody::Type { ty: type_label(schema), limits: constraints(schema) }
    }
}

/// A `oneOf` whose alternatives `key` names: the fields every alternative has alike are listed
/// once; the others by alternative.
fn alternatives_by(alternatives: &[Value], key: String, name: &str) -> Alternatives {
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
    let rows = alternatives
        .iter()
        .map(|alt| {
            let p = props(alt);
            Alternative {
                value: p.get(&key).map(type_label).unwrap_or_default(),
                cells: varying
                    .iter()
                    .map(|k| p.get(k).map(|schema| Cell { ty: type_label(schema), optional: !is_required(alt, k) }))
                    .collect(),
            }
        })
        .collect();
    let shared = (!shared.is_empty())
        .then(|| {
            let required: Vec<Value> =
                shared.keys().filter(|k| is_required(&alternatives[0], k)).map(|k| Value::String(k.clone())).collect();
            let mut common = serde_json::json!({"properties": shared, "required": required});
            if alternatives[0].get("additionalProperties") == Some(&Value::Bool(false)) {
                common["additionalProperties"] = Value::Bool(false);
            }
            fields_table(&common, format!("Fields every {name} has"))
        })
        .flatten();
    Alternatives { key, name: name.to_owned(), varying, rows, shared }
}

// ---------------------------------------------------------------------------------------
// Operations

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// An operation as the document has it.
struct Op<'a> {
    method: &'static str,
    path: &'a str,
    op: &'a Value,
}

impl Op<'_> {
    fn anchor(&self) -> String {
        format!("op-{}", id(str_of(self.op, "operationId")))
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

fn operation(doc: &Value, op: &Op<'_>) -> Operation {
    Operation {
        anchor: op.anchor(),
        method: op.method,
        path: op.path.to_owned(),
        summary: op.op.get("summary").and_then(Value::as_str).map(inline),
        description: description(op.op),
        secured: op.op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty()),
        parameters: parameters(op.op),
        body: request_body(doc, op.op),
        responses: responses(op.op),
    }
}

fn parameters(op: &Value) -> Vec<Parameter> {
    let params = op.get("parameters").and_then(Value::as_array).into_iter().flatten();
    params
        .map(|p| {
            let schema = p.get("schema").cloned().unwrap_or(Value::Null);
            Parameter {
                name: str_of(p, "name").to_owned(),
                location: str_of(p, "in").to_owned(),
                required: p.get("required") == Some(&Value::Bool(true)),
                ty: type_label(&schema),
                description: inline_description(p),
                limits: constraints(&schema),
            }
        })
        .collect()
}

fn request_body(doc: &Value, op: &Value) -> Option<RequestBody> {
    let body = op.get("requestBody")?;
    let contents = body.get("content").and_then(Value::as_object).into_iter().flatten();
    let contents = contents
        .map(|(content_type, media)| {
            let schema = media.get("schema").cloned().unwrap_or(Value::Null);
            let (name, resolved) = match ref_name(&schema) {
                Some(name) => (name.to_owned(), doc.pointer(&format!("/components/schemas/{name}"))),
                None => ("the body".to_owned(), Some(&schema)),
            };
            let schema_shown = resolved.map(|resolved| BodySchema {
                description: description(resolved),
                body: schema_body(resolved, &name),
                json: pretty(resolved),
                name,
            });
            BodyContent { content_type: content_type.clone(), ty: type_label(&schema), schema: schema_shown }
        })
        .collect();
    Some(RequestBody {
        description: description(body),
        required: body.get("required") == Some(&Value::Bool(true)),
        contents,
    })
}

fn responses(op: &Value) -> Vec<ResponseRow> {
    let responses = op.get("responses").and_then(Value::as_object).into_iter().flatten();
    responses
        .map(|(status, response)| {
            let headers = response.get("headers").and_then(Value::as_object).into_iter().flatten();
            let contents = response.get("content").and_then(Value::as_object).into_iter().flatten();
            ResponseRow {
                status: status.clone(),
                meaning: description(response),
                headers: headers.map(|(name, h)| (name.clone(), inline_description(h))).collect(),
                contents: contents
                    .map(|(content_type, media)| ResponseContent {
                        content_type: content_type.clone(),
                        ty: media.get("schema").map(type_label).unwrap_or_default(),
                        problems: joined(
                            media.get("examples").and_then(Value::as_object).into_iter().flatten().map(|(slug, _)| {
                                vec![Piece::Link { target: format!("problem-{}", id(slug)), text: slug.clone() }]
                            }),
                            ", ",
                        ),
                    })
                    .collect(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The page

/// Renders the reference page from an OpenAPI document.
pub fn render(doc: &Value) -> String {
    reference(doc).render().expect("the reference page holds only strings and numbers, which always render")
}

/// What the page shows of an OpenAPI document.
fn reference(doc: &Value) -> DocsPage {
    let info = doc.get("info").unwrap_or(&Value::Null);
    let ops = operations(doc);
    let tags: Vec<(&str, &str)> = doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| (str_of(t, "name"), str_of(t, "description")))
        .chain(ops.iter().map(|op| (tag_of(op), "")))
        .fold(Vec::new(), |mut tags, (name, description)| {
            if !tags.iter().any(|(n, _)| *n == name) {
                tags.push((name, description));
            }
            tags
        });
    let tags = tags
        .into_iter()
        .map(|(name, description)| Tag {
            id: format!("tag-{}", id(name)),
            heading: capitalise(name),
            description: markdown(description),
            operations: ops.iter().filter(|op| tag_of(op) == name).map(|op| operation(doc, op)).collect(),
        })
        .collect();
    let schemes = doc.pointer("/components/securitySchemes").and_then(Value::as_object).into_iter().flatten();
    let schemas = doc.pointer("/components/schemas").and_then(Value::as_object).into_iter().flatten();
    DocsPage {
        title: str_of(info, "title").to_owned(),
        version: str_of(info, "version").to_owned(),
        openapi: str_of(doc, "openapi").to_owned(),
        overview: description(info),
        authentication: schemes
            .map(|(name, scheme)| Scheme {
                name: name.clone(),
                kind: str_of(scheme, "type").to_owned(),
                scheme: str_of(scheme, "scheme").to_owned(),
                description: description(scheme),
            })
            .collect(),
        tags,
        problems: problems(),
        rules: rules(),
        schemas: schemas
            .map(|(name, schema)| Schema {
                id: format!("schema-{}", id(name)),
                name: name.clone(),
                description: description(schema),
                body: schema_body(schema, name),
            })
            .collect(),
    }
}

fn problems() -> Vec<Problem> {
    PROBLEMS
        .iter()
        .map(|p| Problem {
            id: format!("problem-{}", id(p.slug)),
            title: p.title().to_owned(),
            status: p.status(),
            uri: p.type_uri(),
            explanation: inline(p.explanation),
            names_a_rule: p.slug == "case-rule",
            example: pretty(&p.example_body()),
        })
        .collect()
}

fn rules() -> Vec<Rule> {
    RULES
        .iter()
        .map(|(name, meaning)| Rule {
            id: format!("rule-{}", id(name)),
            name: (*name).to_owned(),
            meaning: inline(&capitalise(meaning)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The descriptions' parts, alone, through the page's own macros.
    #[derive(Template)]
    #[template(source = r#"{% import "docs-parts.html" as parts %}{% call parts::markdown(blocks) %}"#, ext = "html")]
    struct Blocks {
        blocks: Vec<Block>,
    }

    #[derive(Template)]
    #[template(source = r#"{% import "docs-parts.html" as parts %}{% call parts::line(pieces) %}"#, ext = "html")]
    struct Pieces {
        pieces: Line,
    }

    fn markdown_html(source: &str) -> String {
        Blocks { blocks: markdown(source) }.render().unwrap()
    }

    fn inline_html(source: &str) -> String {
        Pieces { pieces: inline(source) }.render().unwrap()
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(inline_html(r#"<a href="x">'&'</a>"#), "&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;");
        assert_eq!(inline_html("a `<b>` c"), "a <code>&#60;b&#62;</code> c");
        assert_eq!(inline_html("an odd ` <i>"), "an odd ` &#60;i&#62;");
        assert_eq!(id("a b\"<c>"), "a-b--c-");
    }

    #[test]
    fn markdown_has_paragraphs_and_lists() {
        let html = markdown_html("One\ntwo.\n\nList:\n\n- `a`: x\n- b <c>\n  more");
        assert_eq!(
            html,
            "<p>One two.</p>\n<p>List:</p>\n<ul>\n<li><code>a</code>: x</li>\n<li>b &#60;c&#62; more</li>\n</ul>\n"
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

    /// A description with a script and quotes, wherever the page shows one (paragraphs, list
    /// items, code spans, table cells, the body's JSON Schema), is text on the page.
    #[test]
    fn a_description_with_a_script_and_quotes_comes_out_escaped() {
        let said = r#"Say "hi" <script>alert("x")</script> and `<b class="x">`"#;
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "T", "version": "1", "description": format!("{said}\n\n- {said}")},
            "paths": {"/x": {"post": {"operationId": "x", "description": said,
                "parameters": [{"name": "q", "in": "query", "description": said, "schema": {"type": "string", "default": said}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/X"}}}},
                "responses": {"200": {"description": said, "headers": {"H": {"description": said}}}}}}},
            "components": {"schemas": {"X": {"type": "object", "description": said,
                "properties": {"f": {"type": "string", "description": said}}}}}
        });
        let html = render(&doc);
        assert!(!html.contains("<script") && !html.contains("<b class"), "{html}");
        let text = "Say &#34;hi&#34; &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; and <code>&#60;b class=&#34;x&#34;&#62;</code>";
        assert!(html.contains(&format!("<p>{text}</p>")), "a paragraph: {html}");
        assert!(html.contains(&format!("<li>{text}</li>")), "a list item: {html}");
        assert!(html.contains(&format!("<td>{text}</td>")), "a field's description: {html}");
        assert!(html.contains(&format!("<li><code>H</code>: {text}</li>")), "a header's description: {html}");
        assert!(
            html.contains(&format!(
                "<td>{text} <span class=\"limits\">(default <code>Say &#34;hi&#34; &#60;script&#62;"
            )),
            "{html}"
        );
        assert!(html.contains(r#"&#34;description&#34;: &#34;Say \&#34;hi"#), "the JSON Schema: {html}");
        assert!(!html.contains("&amp;#"), "escaped once, not twice: {html}");
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
