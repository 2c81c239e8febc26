//! Request bodies into typed events: every field checked at the edge, so the core never sees
//! raw input.
//!
//! # How a body is read
//!
//! 1. **Bytes to JSON.** The body must be UTF-8 and one JSON value with nothing after it.
//!    Anything else (a syntax error, an empty body, serde_json's nesting limit of 128) is
//!    [`Invalid::Malformed`]: HTTP 400. The reader is strict in one way serde_json is not: a key
//!    given twice in one object is refused (422 naming the key), rather than the last silently
//!    winning, so that no two readers of the same bytes can disagree about what was sent.
//! 2. **A JSON object.** Both bodies must be objects; an array, a string, a number or `null` at
//!    the top level is [`Invalid::Malformed`] ("body must be a JSON object"): HTTP 400.
//! 3. **JSON to typed values.** A walk over the schema's own shapes ([`crate::shape`], declared
//!    with each `data` struct) first collects *every*
//!    shape error (unknown field, missing field, wrong type, unknown enum value) with its path,
//!    rather than only the first one serde would meet: [`Invalid::Fields`], HTTP 422. The walk
//!    is a little stricter than serde's derives: an object must be a JSON object (serde would
//!    also take an array of its fields in order) and an enumeration value a JSON string (serde
//!    would also take `{"red": null}`). A body the walk passes is then deserialised with the
//!    schema's own serde implementation (through `serde_path_to_error`), so the typed value is
//!    exactly what the log decodes; should serde still refuse it, its error names the field.
//! 4. **Normalise, then the rules.** Strings are trimmed ([`normalise`]) and then every rule in
//!    [`check_event`] is applied; all broken rules are reported together (422).
//!
//! Shape errors come before rule errors: the rules need typed values, so a body with both gets
//! its shape errors first and, once those are fixed, its rule errors. At most [`MAX_ERRORS`]
//! errors are reported for one body.
//!
//! # Field paths
//!
//! Paths are written as in the contract: `children[0].date_of_birth`, `referrer.name`. For
//! `POST /v1/contacts` the body *is* the data, so paths have no prefix; for
//! `POST /v1/contacts/{id}/events` fields inside `data` are prefixed `data.`
//! (`data.rationale`) and the envelope's own fields are `type`, `data`, `occurred_at` and
//! `expected_version`. [`check_event`] itself returns paths relative to the data. A key
//! that is not a plain name (empty, or with white space, a control character, `.`, `[`, `]`
//! or `"`) is written in brackets as a JSON string: `[""]`, `data["a.b"]`.
//!
//! # Strings
//!
//! Lengths are counted in characters (Unicode scalar values). Short strings (names, roles,
//! organisation, team, worker, field, child_ref, ethnicity, referrer_role, needs) hold at most
//! [`SHORT_MAX`] characters and no control characters at all; long free text (concerns,
//! summary, rationale, findings, text, request, reason, notes, description) at most
//! [`LONG_MAX`], with no control characters but line feed, carriage return and tab. "Control
//! character" means Unicode category Cc (C0, DEL, C1). An optional string that is empty after
//! trimming is taken as absent (`None`); a required one is refused. Names (a child's, the
//! referrer's, a discussion participant's) also may not hold a bidirectional override or
//! isolate (U+202A–U+202E, U+2066–U+2069) and must have a visible character.

use std::fmt;

use crate::schema::{
    Address, Channel, Child, Consent, ConsultationRecorded, ContactReceived, CorrectionRecorded, DataVisitor,
    DutyDebriefRecorded, EventData, Outcome, Sex, StreamKind,
};
use crate::shape::{Presence, Shape, Shaped};
use crate::{Event, EventType};
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeDelta, Utc};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

/// One problem with one field of a request body, named by its path (`children[0].name`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field's path: `children[0].date_of_birth`, `data.rationale`, `Idempotency-Key`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

pub use crate::shape::{
    CHILD_ID_MAX, EMAIL_MAX, LONG_MAX, MAX_CALL_SECONDS, MAX_CHILDREN, MAX_ITEMS, MAX_STAFF, SHORT_MAX,
};
/// Most bytes in a correction's `value`, serialised as compact JSON.
pub const MAX_VALUE_BYTES: usize = 10_000;
/// How far in the future a timestamp may be, for clock skew between client and server.
pub const CLOCK_SKEW_MINUTES: i64 = 5;
/// How far in the future an unborn baby's expected date of birth may be (40 weeks).
pub const DOB_MAX_FUTURE_DAYS: u64 = 280;
/// How long ago an expected date of birth may be (the baby born, the record not yet updated).
pub const EXPECTED_DOB_MAX_PAST_DAYS: u64 = 366;
/// How far in the past a date of birth may be (care leavers are supported up to 25).
pub const DOB_MAX_PAST_YEARS: u32 = 25;
/// No timestamp or date in the log is before 1 January of this year.
pub const EARLIEST_YEAR: i32 = 2000;
/// The message for an ethnicity that is not a DfE code.
pub const ETHNICITY: &str = "must be a DfE ethnicity code: WBRI, WIRI, WIRT, WOTH, WROM, MWBC, MWBA, MWAS, MOTH, AIND, \
     APKN, ABAN, AOTH, BCRB, BAFR, BOTH, CHNE, OOTH, REFU (refused) or NOBT (not yet obtained)";
/// Most field errors reported for one body; the rest are left off.
pub const MAX_ERRORS: usize = 100;

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Not JSON at all (syntax error, EOF, wrong top-level): HTTP 400.
    ///
    /// Also: a body that is not UTF-8, anything after the first JSON value, nesting deeper
    /// than serde_json's limit (128), a number too large for an `f64` (`1e400`), and a top
    /// level that is not an object ("body must be a JSON object").
    Malformed(String),
    /// JSON, but fields are wrong/missing/unknown: HTTP 422 with every field error found.
    ///
    /// Never empty.
    Fields(Vec<FieldError>),
}

impl Invalid {
    /// The HTTP status for the refusal: 400 or 422.
    pub fn status(&self) -> u16 {
        match self {
            Invalid::Malformed(_) => 400,
            Invalid::Fields(_) => 422,
        }
    }

    /// The field errors (empty for [`Invalid::Malformed`]).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Invalid::Malformed(_) => &[],
            Invalid::Fields(errors) => errors,
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Malformed(message) => write!(f, "malformed JSON: {message}"),
            Invalid::Fields(errors) => {
                f.write_str("invalid fields: ")?;
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{}: {}", e.field, e.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Invalid {}

/// A validated `POST /v1/contacts` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// The `contact_received` data, normalised.
    pub data: ContactReceived,
    /// When the contact happened, if the body said (the caller defaults it to now).
    pub occurred_at: Option<DateTime<Utc>>,
    /// Why it is recorded late (see the case rule `late-entry-needs-reason`).
    pub late_entry_reason: Option<String>,
}

/// A validated `POST /v1/contacts/{id}/events` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// The event, normalised; never a `contact_received`.
    pub event: Event,
    /// When it happened, if the body said (the caller defaults it to now).
    pub occurred_at: Option<DateTime<Utc>>,
    /// The version the client expects the contact to be at (optimistic concurrency).
    pub expected_version: Option<u32>,
    /// Why it is recorded late (see the case rule `late-entry-needs-reason`).
    pub late_entry_reason: Option<String>,
}

/// POST /v1/contacts body: the contact_received data plus optional occurred_at.
///
/// The body must be a JSON object; any other top level (array, string, number, `null`) is
/// [`Invalid::Malformed`] (400), as is anything that is not JSON. `occurred_at: null` is the
/// same as leaving it out.
pub fn parse_new_contact(body: &[u8], now: DateTime<Utc>) -> Result<NewContact, Invalid> {
    let mut map = parse_object(body)?;
    let mut errors = Vec::new();
    let occurred_at = map.remove("occurred_at").and_then(|v| read_occurred_at(&v, &mut errors));
    let late_entry_reason = map.remove("late_entry_reason").and_then(|v| read_late_entry_reason(&v, &mut errors));
    let value = Value::Object(map);
    if let Some(mut data) = typed::<ContactReceived>(&value, "", &mut errors) {
        normalise_contact(&mut data);
        let mut checker = Checker::new(now);
        check_contact(&mut checker, &data);
        errors.extend(checker.errors);
        if errors.is_empty() {
            return Ok(NewContact { data, occurred_at, late_entry_reason });
        }
    }
    Err(fields(errors))
}

/// A validated body of an endpoint that opens a stream of its own (`POST /v1/duty-debriefs`,
/// `POST /v1/consultations`): the first event's data plus the envelope's times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStream<T> {
    /// The first event's data, normalised.
    pub data: T,
    /// When it happened, if the body said (the caller defaults it to now).
    pub occurred_at: Option<DateTime<Utc>>,
    /// Why it is recorded late (see the case rule `late-entry-needs-reason`).
    pub late_entry_reason: Option<String>,
}

/// A validated `POST /v1/duty-debriefs` body.
pub type NewDutyDebrief = NewStream<DutyDebriefRecorded>;
/// A validated `POST /v1/consultations` body.
pub type NewConsultation = NewStream<ConsultationRecorded>;

/// POST /v1/duty-debriefs body: the `duty_debrief_recorded` data plus optional `occurred_at`
/// and `late_entry_reason`, read as a contact's body is.
pub fn parse_new_duty_debrief(body: &[u8], now: DateTime<Utc>) -> Result<NewDutyDebrief, Invalid> {
    parse_new_stream(body, now, |event| match event {
        Event::DutyDebriefRecorded(data) => Some(data),
        _ => None,
    })
}

/// POST /v1/consultations body: the `consultation_recorded` data plus optional `occurred_at`
/// and `late_entry_reason`; its children are checked as a contact's are, and may be none.
pub fn parse_new_consultation(body: &[u8], now: DateTime<Utc>) -> Result<NewConsultation, Invalid> {
    parse_new_stream(body, now, |event| match event {
        Event::ConsultationRecorded(data) => Some(data),
        _ => None,
    })
}

/// A stream's first event from a body: its times removed, the rest read as `T`, normalised
/// and checked as the event, then taken back out of the event by `take`.
fn parse_new_stream<T>(body: &[u8], now: DateTime<Utc>, take: fn(Event) -> Option<T>) -> Result<NewStream<T>, Invalid>
where
    T: EventData,
    Event: From<T>,
{
    let mut map = parse_object(body)?;
    let mut errors = Vec::new();
    let occurred_at = map.remove("occurred_at").and_then(|v| read_occurred_at(&v, &mut errors));
    let late_entry_reason = map.remove("late_entry_reason").and_then(|v| read_late_entry_reason(&v, &mut errors));
    let value = Value::Object(map);
    if let Some(data) = typed::<T>(&value, "", &mut errors) {
        let mut event = Event::from(data);
        normalise(&mut event);
        errors.extend(check_event(&event, now));
        if errors.is_empty()
            && let Some(data) = take(event)
        {
            return Ok(NewStream { data, occurred_at, late_entry_reason });
        }
    }
    Err(fields(errors))
}

/// The keys of an event request body.
const ENVELOPE_KEYS: [&str; 5] = ["type", "data", "occurred_at", "late_entry_reason", "expected_version"];

/// POST /v1/contacts/{id}/events body: {"type","data","occurred_at"?,"expected_version"?}.
///
/// The body must be a JSON object; any other top level is [`Invalid::Malformed`] (400).
/// `type` must name an event type other than `contact_received` (contacts are created with
/// `POST /v1/contacts`); `data` must be an object. `occurred_at: null` and
/// `expected_version: null` are the same as leaving them out.
pub fn parse_event_request(body: &[u8], now: DateTime<Utc>) -> Result<EventRequest, Invalid> {
    let map = parse_object(body)?;
    let mut errors = Vec::new();
    for key in map.keys() {
        if !ENVELOPE_KEYS.contains(&key.as_str()) {
            errors.push(FieldError::new(join_key("", key), UNKNOWN_FIELD));
        }
    }
    let event_type = match map.get("type") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("type", REQUIRED));
            None
        }
        Some(Value::String(name)) => match name.parse::<EventType>() {
            Ok(t) if !t.is_appendable() => {
                let how = StreamKind::opened_by(t).map_or("not appendable", StreamKind::how_opened);
                errors.push(FieldError::new("type", how));
                None
            }
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(FieldError::new("type", unknown_type_message()));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("type", unknown_type_message()));
            None
        }
    };
    let data = match map.get("data") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("data", REQUIRED));
            None
        }
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => {
            errors.push(FieldError::new("data", MUST_BE_OBJECT));
            None
        }
    };
    let occurred_at = map.get("occurred_at").and_then(|v| read_occurred_at(v, &mut errors));
    let late_entry_reason = map.get("late_entry_reason").and_then(|v| read_late_entry_reason(v, &mut errors));
    let expected_version = match map.get("expected_version") {
        None | Some(Value::Null) => None,
        Some(v) => match u32::deserialize(v) {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(FieldError::new(
                    "expected_version",
                    format!("must be a whole number from 0 to {}", u32::MAX),
                ));
                None
            }
        },
    };
    let event = match (event_type, data) {
        (Some(t), Some(data)) => typed_event(t, data, &mut errors).map(|mut event| {
            normalise(&mut event);
            errors.extend(
                check_event(&event, now).into_iter().map(|e| FieldError::new(join("data", &e.field), e.message)),
            );
            event
        }),
        _ => None,
    };
    match event {
        Some(event) if errors.is_empty() => {
            Ok(EventRequest { event, occurred_at, expected_version, late_entry_reason })
        }
        _ => Err(fields(errors)),
    }
}

fn fields(mut errors: Vec<FieldError>) -> Invalid {
    debug_assert!(!errors.is_empty(), "a refusal names at least one field");
    errors.truncate(MAX_ERRORS);
    Invalid::Fields(errors)
}

fn unknown_type_message() -> String {
    let names: Vec<&str> = EventType::ALL.iter().filter(|t| t.is_appendable()).map(|t| t.as_str()).collect();
    format!("unknown event type; must be one of: {}", names.join(", "))
}

/// Reads an `occurred_at` (not null) and checks it is not before 2000. How it stands to the
/// server's clock (in the future, or a late entry) is a case rule (`rules::check_time`).
fn read_occurred_at(value: &Value, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    if value.is_null() {
        return None;
    }
    match DateTime::<Utc>::deserialize(value) {
        Ok(at) => {
            if at.year() < EARLIEST_YEAR {
                errors.push(FieldError::new("occurred_at", format!("must not be before {EARLIEST_YEAR}-01-01")));
            }
            Some(at)
        }
        Err(_) => {
            errors.push(FieldError::new("occurred_at", MUST_BE_TIMESTAMP));
            None
        }
    }
}

/// Reads a `late_entry_reason` (null or blank: absent): free text like any reason.
fn read_late_entry_reason(value: &Value, errors: &mut Vec<FieldError>) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            match text_problem(text, Text::Long) {
                Some(message) => {
                    errors.push(FieldError::new("late_entry_reason", message));
                    None
                }
                None => Some(text.to_owned()),
            }
        }
        _ => {
            errors.push(FieldError::new("late_entry_reason", "must be a string"));
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bytes to a JSON object
// ---------------------------------------------------------------------------------------------

const NOT_OBJECT: &str = "body must be a JSON object";
const DUPLICATE: &str = "duplicate field: given more than once";

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Invalid> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Invalid::Malformed(format!("body is not valid UTF-8 (at byte {})", e.valid_up_to())))?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = match serde_path_to_error::deserialize::<_, Strict>(&mut deserializer) {
        Ok(Strict(value)) => value,
        Err(err) => {
            let field = render_path("", err.path());
            let inner = err.into_inner();
            return Err(match inner.classify() {
                // The strict reader's only data error is a duplicate key; the path names it.
                Category::Data => Invalid::Fields(vec![FieldError::new(field, DUPLICATE)]),
                Category::Syntax | Category::Eof | Category::Io => Invalid::Malformed(inner.to_string()),
            });
        }
    };
    deserializer.end().map_err(|e| Invalid::Malformed(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Invalid::Malformed(NOT_OBJECT.to_owned())),
    }
}

/// Any JSON value, read as serde_json reads a [`Value`] except that a key given twice in one
/// object is an error (a data error, so `serde_path_to_error` gives its path).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite number (it refuses `1e400` as out of range).
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Strict::deserialize(deserializer).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                // Fails inside the value, so that the error's path ends with this key.
                access.next_value_seed(Duplicate)?;
                return Err(de::Error::custom(DUPLICATE));
            }
            let Strict(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// The value of a repeated key: read (so a syntax error is still a syntax error), then refused.
struct Duplicate;

impl<'de> DeserializeSeed<'de> for Duplicate {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Err(de::Error::custom(DUPLICATE))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// A key of the body, as the last step of a path: `path.key` when the key is a plain name, and
/// otherwise quoted in brackets as a JSON string (`[""]`, `referrer["a.b"]`, `data[" text"]`),
/// so that a path is never empty and names one key whatever the key is.
fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '.' | '[' | ']' | '"'));
    if plain {
        join(path, key)
    } else {
        let quoted = serde_json::to_string(key).expect("a string serialises");
        format!("{path}[{quoted}]")
    }
}

fn render_path(prefix: &str, path: &serde_path_to_error::Path) -> String {
    let mut out = prefix.to_owned();
    for segment in path {
        match segment {
            Segment::Seq { index } => out = format!("{out}[{index}]"),
            Segment::Map { key } => out = join_key(&out, key),
            Segment::Enum { variant } => out = join_key(&out, variant),
            Segment::Unknown => out = join(&out, "?"),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// JSON to typed values, and the diagnostic walk
// ---------------------------------------------------------------------------------------------

const UNKNOWN_FIELD: &str = "unknown field";
const REQUIRED: &str = "required";
const NOT_NULL: &str = "must not be null";
const MUST_BE_OBJECT: &str = "must be an object";
const MUST_BE_ARRAY: &str = "must be an array";
const MUST_BE_STRING: &str = "must be a string";
const MUST_BE_BOOL: &str = "must be true or false";
const MUST_BE_DATE: &str = "must be a date, YYYY-MM-DD";
const MUST_BE_TIMESTAMP: &str = "must be an RFC 3339 timestamp with a time zone, e.g. 2026-03-02T10:15:00Z";
const MUST_BE_ULID: &str = "must be a ULID (26 characters, Crockford base32)";
const LEVEL_OF_NEED: &str = "must be a whole number from 1 to 4";
const CHILD_INDEX: &str = "must be a whole number from 0 to 19: the index of a child in the contact's children";
const ACTION_INDEX: &str = "must be a whole number from 0 to 49: the index of an action in the plan's actions";
const SCORE: &str = "must be a whole number from 1 to 5";

/// Walks `T`'s shape over `value`, naming every shape error; if there are none, deserialises
/// `value` with `T`'s own serde implementation.
fn typed<T: DeserializeOwned + Shaped>(value: &Value, prefix: &str, errors: &mut Vec<FieldError>) -> Option<T> {
    let before = errors.len();
    walk(value, &T::SHAPE, prefix, errors);
    if errors.len() > before {
        return None;
    }
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(typed) => Some(typed),
        Err(err) => {
            // The shape and serde disagree (tests hold them together); serde's error still
            // names the field.
            errors.push(FieldError::new(render_path(prefix, err.path()), err.inner().to_string()));
            None
        }
    }
}

fn typed_event(event_type: EventType, data: &Value, errors: &mut Vec<FieldError>) -> Option<Event> {
    struct Typed<'a> {
        data: &'a Value,
        errors: &'a mut Vec<FieldError>,
    }
    impl DataVisitor for Typed<'_> {
        type Output = Option<Event>;
        fn visit<D: EventData>(self) -> Option<Event> {
            typed::<D>(self.data, "data", self.errors).map(Into::into)
        }
    }
    event_type.with_data(Typed { data, errors })
}

/// Checks one JSON value against a shape ([`crate::shape`]), naming every problem. Mirrors
/// the schema's serde, a little stricter (tests hold the two together).
fn walk(value: &Value, shape: &Shape, path: &str, errors: &mut Vec<FieldError>) {
    match shape {
        Shape::Object { fields, .. } => {
            let Some(map) = value.as_object() else {
                errors.push(FieldError::new(path, MUST_BE_OBJECT));
                return;
            };
            for key in map.keys() {
                if !fields.iter().any(|f| f.name == key) {
                    errors.push(FieldError::new(join_key(path, key), UNKNOWN_FIELD));
                }
            }
            for field in *fields {
                let at = join(path, field.name);
                match (map.get(field.name), field.presence) {
                    (None, Presence::Required | Presence::RequiredNullable) => {
                        errors.push(FieldError::new(at, REQUIRED));
                    }
                    (Some(Value::Null), Presence::Required) => errors.push(FieldError::new(at, REQUIRED)),
                    (Some(Value::Null), Presence::Defaulted) => errors.push(FieldError::new(at, NOT_NULL)),
                    (None | Some(Value::Null), _) => {}
                    (Some(v), _) => walk(v, &field.shape, &at, errors),
                }
            }
        }
        Shape::List { item, .. } => {
            let Some(items) = value.as_array() else {
                errors.push(FieldError::new(path, MUST_BE_ARRAY));
                return;
            };
            for (i, v) in items.iter().enumerate() {
                walk(v, item, &format!("{path}[{i}]"), errors);
            }
        }
        leaf => {
            if let Err(message) = leaf_problem(leaf, value) {
                errors.push(FieldError::new(path, message));
            }
        }
    }
}

/// What is wrong with a value of a shape that is not an object or a list. The limits
/// (lengths, counts, formats) are the rules', once the value is typed and trimmed.
fn leaf_problem(shape: &Shape, v: &Value) -> Result<(), String> {
    match shape {
        Shape::Text(_) => string(v),
        Shape::Bool => boolean(v),
        Shape::Date => date(v),
        Shape::Timestamp => timestamp(v),
        Shape::Ulid => ulid(v),
        Shape::Seconds => seconds(v),
        Shape::LevelOfNeed => level_of_need(v),
        Shape::ChildIndex => child_index(v),
        Shape::Score => score(v),
        Shape::ActionIndex => action_index(v),
        Shape::Staff => staff(v),
        Shape::Choice(names) => choice(names, v),
        Shape::Any | Shape::Object { .. } | Shape::List { .. } => Ok(()),
    }
}

fn choice(names: &[&str], v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some(name) if names.contains(&name) => Ok(()),
        _ => Err(format!("must be one of: {}", names.join(", "))),
    }
}

fn string(v: &Value) -> Result<(), String> {
    if v.is_string() { Ok(()) } else { Err(MUST_BE_STRING.to_owned()) }
}

fn boolean(v: &Value) -> Result<(), String> {
    if v.is_boolean() { Ok(()) } else { Err(MUST_BE_BOOL.to_owned()) }
}

fn date(v: &Value) -> Result<(), String> {
    NaiveDate::deserialize(v).map(|_| ()).map_err(|_| MUST_BE_DATE.to_owned())
}

fn timestamp(v: &Value) -> Result<(), String> {
    DateTime::<Utc>::deserialize(v).map(|_| ()).map_err(|_| MUST_BE_TIMESTAMP.to_owned())
}

fn ulid(v: &Value) -> Result<(), String> {
    ulid::Ulid::deserialize(v).map(|_| ()).map_err(|_| MUST_BE_ULID.to_owned())
}

fn seconds(v: &Value) -> Result<(), String> {
    u32::deserialize(v)
        .map(|_| ())
        .map_err(|_| format!("must be a whole number of seconds, at most {MAX_CALL_SECONDS}"))
}

fn child_index(v: &Value) -> Result<(), String> {
    u8::deserialize(v).map(|_| ()).map_err(|_| CHILD_INDEX.to_owned())
}

fn level_of_need(v: &Value) -> Result<(), String> {
    u8::deserialize(v).map(|_| ()).map_err(|_| LEVEL_OF_NEED.to_owned())
}

fn action_index(v: &Value) -> Result<(), String> {
    u8::deserialize(v).map(|_| ()).map_err(|_| ACTION_INDEX.to_owned())
}

fn staff(v: &Value) -> Result<(), String> {
    match u8::deserialize(v) {
        Ok(n) if n <= MAX_STAFF => Ok(()),
        _ => Err(format!("must be a whole number of staff from 0 to {MAX_STAFF}")),
    }
}

fn score(v: &Value) -> Result<(), String> {
    u8::deserialize(v).map(|_| ()).map_err(|_| SCORE.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// Normalises an event's strings in place, as the parsers do before [`check_event`]:
///
/// - every string is trimmed (Unicode white space);
/// - an optional string that is then empty becomes `None` (a required one stays empty, and
///   [`check_event`] refuses it);
/// - an NHS number loses its spaces (`943 476 5919` becomes `9434765919`);
/// - a UPN is upper-cased.
///
/// A correction's `value` is any JSON and is left as it is.
pub fn normalise(event: &mut Event) {
    match event {
        Event::ContactReceived(d) => normalise_contact(d),
        Event::TriageRated(d) => tidy_opt(&mut d.reason),
        Event::CallLogged(d) => tidy(&mut d.summary),
        Event::ChecksRequested(d) => tidy(&mut d.request),
        Event::ChecksReturned(d) => tidy(&mut d.summary),
        Event::DutyDiscussionHeld(d) => {
            for p in &mut d.participants {
                tidy(&mut p.name);
                tidy(&mut p.role);
            }
            tidy(&mut d.summary);
            d.needs.iter_mut().for_each(tidy);
        }
        Event::ConsentRecorded(d) => tidy_opt(&mut d.reason),
        Event::DecisionMade(d) => {
            tidy(&mut d.rationale);
            if let Some(revises) = &mut d.revises {
                tidy(&mut revises.reason);
            }
            for child in &mut d.children {
                tidy_opt(&mut child.upn);
                if let Some(upn) = &mut child.upn {
                    upn.make_ascii_uppercase();
                }
            }
        }
        Event::ActionPlanAgreed(d) => {
            for a in &mut d.actions {
                tidy(&mut a.description);
            }
            tidy_opt(&mut d.referrer_role);
        }
        Event::ReferrerInformed(d) => tidy(&mut d.summary),
        Event::HandoverSent(d) => {
            tidy_opt(&mut d.team);
            tidy_opt(&mut d.notes);
        }
        Event::HandoverAccepted(d) => {
            tidy(&mut d.team);
            tidy_opt(&mut d.worker);
            tidy_opt(&mut d.evidence);
        }
        Event::HandoverReturned(d) => tidy(&mut d.reason),
        Event::ContactClosed(d) => tidy(&mut d.reason),
        Event::NoteAdded(d) => tidy(&mut d.text),
        Event::CorrectionRecorded(d) => {
            tidy(&mut d.field);
            tidy(&mut d.reason);
        }
        Event::AuditFindingRecorded(d) => tidy(&mut d.findings),
        Event::ChildrenLinked(d) => {
            tidy(&mut d.child_id);
            tidy(&mut d.reason);
        }
        Event::ChildrenUnlinked(d) => {
            tidy(&mut d.child_id);
            tidy(&mut d.reason);
        }
        Event::ContactAllocated(d) => tidy(&mut d.worker),
        Event::ReferrerFeedbackGiven(d) => tidy_opt(&mut d.comment),
        Event::StrategyDiscussionHeld(_) => {}
        Event::ActionCompleted(d) => tidy_opt(&mut d.note),
        Event::DutyDebriefRecorded(d) => {
            tidy(&mut d.team);
            tidy_opt(&mut d.recorded);
            tidy_opt(&mut d.multi_agency_value);
            tidy_opt(&mut d.notes);
        }
        Event::ConsultationRecorded(d) => {
            d.children.iter_mut().for_each(normalise_child);
            tidy(&mut d.advice);
        }
    }
}

fn normalise_contact(d: &mut ContactReceived) {
    let r = &mut d.referrer;
    tidy(&mut r.name);
    tidy_opt(&mut r.organisation);
    tidy_opt(&mut r.role);
    tidy_opt(&mut r.phone);
    tidy_opt(&mut r.email);
    for child in &mut d.children {
        normalise_child(child);
    }
    for adult in &mut d.adults {
        tidy(&mut adult.name);
        normalise_address(&mut adult.address);
    }
    tidy(&mut d.concerns);
    tidy_opt(&mut d.consent_override_reason);
}

/// An address's lines trimmed, and its postcode as the official format writes it: upper case,
/// with one space before the inward code (the last three characters). An address left empty is
/// absent.
fn normalise_address(address: &mut Option<Address>) {
    let Some(a) = address else { return };
    tidy_opt(&mut a.line1);
    tidy_opt(&mut a.line2);
    tidy_opt(&mut a.town);
    tidy_opt(&mut a.postcode);
    if let Some(postcode) = &mut a.postcode {
        *postcode = normal_postcode(postcode);
    }
    if a.line1.is_none() && a.line2.is_none() && a.town.is_none() && a.postcode.is_none() {
        *address = None;
    }
}

/// `postcode` upper-cased, its white space removed, and one space put before its last three
/// characters (when it has more than three).
pub fn normal_postcode(postcode: &str) -> String {
    let mut compact: String = postcode.chars().filter(|c| !c.is_whitespace()).collect();
    compact.make_ascii_uppercase();
    if compact.len() > 3 && compact.is_ascii() {
        compact.insert(compact.len() - 3, ' ');
    }
    compact
}

fn normalise_child(child: &mut Child) {
    tidy(&mut child.name);
    tidy_opt(&mut child.child_ref);
    tidy_opt(&mut child.ethnicity);
    if let Some(ethnicity) = &mut child.ethnicity {
        ethnicity.make_ascii_uppercase();
    }
    tidy_opt(&mut child.nhs_number);
    if let Some(nhs) = &mut child.nhs_number {
        nhs.retain(|c| c != ' ');
    }
    tidy_opt(&mut child.upn);
    if let Some(upn) = &mut child.upn {
        upn.make_ascii_uppercase();
    }
    normalise_address(&mut child.address);
}

fn tidy(s: &mut String) {
    let trimmed = s.trim();
    if trimmed.len() != s.len() {
        *s = trimmed.to_owned();
    }
}

fn tidy_opt(s: &mut Option<String>) {
    if let Some(v) = s {
        tidy(v);
        if v.is_empty() {
            *s = None;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------------

/// The checks on typed data, shared by both (also usable by the demo generator's tests):
///
/// Returns every rule the event's data breaks, with paths relative to the data
/// (`children[0].nhs_number`, `rationale`); empty when the event is fit for the log. Expects
/// normalised strings (see [`normalise`]): an untrimmed string is refused, not trimmed.
/// `now` bounds dates and timestamps (a call's `started_at` may not be in the future, a date of
/// birth not more than [`DOB_MAX_FUTURE_DAYS`] ahead).
pub fn check_event(event: &Event, now: DateTime<Utc>) -> Vec<FieldError> {
    let mut c = Checker::new(now);
    match event {
        Event::ContactReceived(d) => check_contact(&mut c, d),
        Event::TriageRated(d) => c.long_opt("reason", d.reason.as_deref()),
        Event::CallLogged(d) => {
            c.timestamp("started_at", d.started_at);
            if d.duration_seconds > MAX_CALL_SECONDS {
                c.push("duration_seconds", format!("must be at most {MAX_CALL_SECONDS} (24 hours)"));
            }
            c.long("summary", &d.summary);
        }
        Event::ChecksRequested(d) => c.long("request", &d.request),
        Event::ChecksReturned(d) => c.long("summary", &d.summary),
        Event::DutyDiscussionHeld(d) => {
            c.count("participants", d.participants.len(), 1, MAX_ITEMS);
            for (i, p) in d.participants.iter().enumerate() {
                c.name(&format!("participants[{i}].name"), &p.name);
                c.short(&format!("participants[{i}].role"), &p.role);
            }
            c.long("summary", &d.summary);
            c.count("needs", d.needs.len(), 0, MAX_ITEMS);
            for (i, need) in d.needs.iter().enumerate() {
                c.short(&format!("needs[{i}]"), need);
            }
        }
        Event::ConsentRecorded(d) => {
            if d.consent == Consent::Overridden && d.reason.is_none() {
                c.push("reason", "required when consent is overridden");
            }
            c.long_opt("reason", d.reason.as_deref());
        }
        Event::DecisionMade(d) => {
            check_categories(&mut c, &d.concern_categories);
            c.long("rationale", &d.rationale);
            if d.level_of_need.is_some_and(|level| !(1..=4).contains(&level)) {
                c.push("level_of_need", LEVEL_OF_NEED);
            }
            if let Some(revises) = &d.revises {
                c.long("revises.reason", &revises.reason);
            }
            if d.duplicate_of.is_some() && d.outcome != Outcome::NotAccepted {
                c.push("duplicate_of", "only allowed when outcome is not_accepted");
            }
            if d.outcome.is_referral() && d.primary_need.is_none() {
                c.push(
                    "primary_need",
                    "required when outcome is assessment or strategy_discussion (a CIN primary need code, N0-N9)",
                );
            }
            c.count("children", d.children.len(), 0, MAX_CHILDREN);
            for (i, child) in d.children.iter().enumerate() {
                if let Some(upn) = child.upn.as_deref() {
                    if let Err(message) = check_upn(upn) {
                        c.push(format!("children[{i}].upn"), message);
                    } else if child.upn_unknown_reason.is_some() {
                        c.push(
                            format!("children[{i}].upn_unknown_reason"),
                            "only allowed without a upn: give the UPN or the reason it is unknown, not both",
                        );
                    }
                }
            }
        }
        Event::ActionPlanAgreed(d) => {
            c.count("actions", d.actions.len(), 1, MAX_ITEMS);
            for (i, a) in d.actions.iter().enumerate() {
                c.long(&format!("actions[{i}].description"), &a.description);
                if a.due.is_some_and(|due| due.year() < EARLIEST_YEAR) {
                    c.push(format!("actions[{i}].due"), format!("must not be before {EARLIEST_YEAR}-01-01"));
                }
            }
            c.short_opt("referrer_role", d.referrer_role.as_deref());
        }
        Event::ReferrerInformed(d) => c.long("summary", &d.summary),
        Event::HandoverSent(d) => {
            c.short_opt("team", d.team.as_deref());
            c.long_opt("notes", d.notes.as_deref());
        }
        Event::HandoverAccepted(d) => {
            c.short("team", &d.team);
            c.short_opt("worker", d.worker.as_deref());
            c.long_opt("evidence", d.evidence.as_deref());
        }
        Event::HandoverReturned(d) => c.long("reason", &d.reason),
        Event::ContactClosed(d) => c.long("reason", &d.reason),
        Event::NoteAdded(d) => c.long("text", &d.text),
        Event::CorrectionRecorded(d) => {
            c.short("field", &d.field);
            let size = serde_json::to_vec(&d.value).map_or(usize::MAX, |bytes| bytes.len());
            if size > MAX_VALUE_BYTES {
                c.push("value", format!("must be at most {MAX_VALUE_BYTES} bytes as JSON (is {size})"));
            }
            c.long("reason", &d.reason);
        }
        Event::AuditFindingRecorded(d) => c.long("findings", &d.findings),
        Event::ChildrenLinked(d) => check_link(&mut c, d.child_index, &d.child_id, &d.reason),
        Event::ChildrenUnlinked(d) => check_link(&mut c, d.child_index, &d.child_id, &d.reason),
        Event::ContactAllocated(d) => c.short("worker", &d.worker),
        Event::ReferrerFeedbackGiven(d) => {
            for (field, score) in [("listened_to", d.listened_to), ("knows_next_steps", d.knows_next_steps)] {
                if !(1..=5).contains(&score) {
                    c.push(field, SCORE);
                }
            }
            c.long_opt("comment", d.comment.as_deref());
        }
        Event::StrategyDiscussionHeld(d) => {
            c.timestamp("held_at", d.held_at);
            c.count("agencies", d.agencies.len(), 1, MAX_ITEMS);
        }
        Event::ActionCompleted(d) => {
            if usize::from(d.action_index) >= MAX_ITEMS {
                c.push("action_index", ACTION_INDEX);
            }
            c.long_opt("note", d.note.as_deref());
        }
        Event::DutyDebriefRecorded(d) => {
            // The duty day is a UK date: a day ahead of UTC's is the most the clocks differ by.
            if c.now.date_naive().succ_opt().is_some_and(|tomorrow| d.date > tomorrow) {
                c.push("date", "must not be in the future");
            }
            c.short("team", &d.team);
            if d.staff_on_duty.is_some_and(|n| n > MAX_STAFF) {
                c.push("staff_on_duty", format!("must be a whole number of staff from 0 to {MAX_STAFF}"));
            }
            if d.staff_expected.is_some_and(|n| n > MAX_STAFF) {
                c.push("staff_expected", format!("must be a whole number of staff from 0 to {MAX_STAFF}"));
            }
            c.long_opt("recorded", d.recorded.as_deref());
            c.long_opt("multi_agency_value", d.multi_agency_value.as_deref());
            c.long_opt("notes", d.notes.as_deref());
        }
        Event::ConsultationRecorded(d) => {
            check_categories(&mut c, &d.concern_categories);
            check_children(&mut c, &d.children, 0);
            c.long("advice", &d.advice);
        }
    }
    c.errors
}

fn check_link(c: &mut Checker, child_index: u8, child_id: &str, reason: &str) {
    if usize::from(child_index) >= MAX_CHILDREN {
        c.push("child_index", CHILD_INDEX);
    }
    if !is_child_id(child_id) {
        c.push("child_id", format!("must be 1 to {CHILD_ID_MAX} letters and digits (A-Z, a-z, 0-9)"));
    }
    c.long("reason", reason);
}

/// Whether a child born on `dob` is of school age in the CIN census year (1 April to 31 March)
/// that holds the date `on`, as the census's own rule reads it (8770Q: born on or before 31
/// August six years before the 31 August after the census year's reference date, i.e. five
/// years old by the 31 August before the census year starts). A school-age child on a
/// referral needs a UPN or the reason it is unknown.
pub fn is_school_age(dob: NaiveDate, on: NaiveDate) -> bool {
    let census_year_start = if on.month() >= 4 { on.year() } else { on.year() - 1 };
    NaiveDate::from_ymd_opt(census_year_start - 5, 8, 31).is_some_and(|last| dob <= last)
}

/// Whether `id` can be a child id: 1 to [`CHILD_ID_MAX`] ASCII letters and digits (the CIN
/// census's rule for an LA child id).
pub fn is_child_id(id: &str) -> bool {
    (1..=CHILD_ID_MAX).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Normalises a correction's `value` as the corrected field's own value is normalised, and
/// checks it as that field is checked (a name as a name, a date of birth as a date of birth, an
/// NHS number's check digit). `target` is the corrected event's type; a `field` that is not
/// correctable on it is the case rules' to refuse, so it is not reported here. Paths are
/// relative to the data (`value`).
pub fn check_correction(c: &mut CorrectionRecorded, target: EventType, now: DateTime<Utc>) -> Vec<FieldError> {
    use crate::correction::{ChildField, Field};
    let Some(field) = Field::parse(target, &c.field) else { return Vec::new() };
    let mut checker = Checker::new(now);
    if let Value::String(text) = &mut c.value {
        let trimmed = text.trim();
        if trimmed.len() != text.len() {
            *text = trimmed.to_owned();
        }
    }
    let optional = matches!(field, Field::Child(_, f) if f != ChildField::Name);
    if optional && c.value.as_str() == Some("") {
        c.value = Value::Null;
    }
    if let (Field::Child(_, ChildField::NhsNumber), Value::String(nhs)) = (field, &mut c.value) {
        nhs.retain(|ch| ch != ' ');
    }
    if let (Field::Child(_, ChildField::Upn | ChildField::Ethnicity), Value::String(text)) = (field, &mut c.value) {
        text.make_ascii_uppercase();
    }
    let value = match field.read(&c.value) {
        Ok(value) => value,
        Err(message) => return vec![FieldError::new("value", message)],
    };
    use crate::correction::Value as V;
    match (field, value) {
        (Field::Child(_, ChildField::Name), V::Text(name)) => checker.short("value", &name),
        (Field::Child(_, ChildField::DateOfBirth), V::Date(Some(dob))) => checker.date_of_birth("value", dob),
        (Field::Child(_, ChildField::NhsNumber), V::OptText(Some(nhs))) => {
            if let Err(message) = check_nhs_number(&nhs) {
                checker.push("value", message);
            }
        }
        (Field::Child(_, ChildField::Upn), V::OptText(Some(upn))) => {
            if let Err(message) = check_upn(&upn) {
                checker.push("value", message);
            }
        }
        (Field::Child(_, ChildField::Ethnicity), V::OptText(Some(text))) => checker.ethnicity("value", &text),
        (Field::Summary, V::Text(text)) => checker.long("value", &text),
        (Field::OccurredAt, V::Timestamp(at)) => checker.timestamp("value", at),
        _ => {}
    }
    checker.errors
}

/// Concern categories: CIN assessment factor codes, each at most once.
fn check_categories(c: &mut Checker, categories: &[String]) {
    c.count("concern_categories", categories.len(), 0, crate::schema::MAX_CONCERN_CATEGORIES);
    for (i, code) in categories.iter().enumerate() {
        if !crate::schema::CONCERN_CATEGORY_CODES.contains(&code.as_str()) {
            c.push(format!("concern_categories[{i}]"), "must be a CIN assessment factor code (1A-24A, e.g. 3A)");
        } else if categories[..i].contains(code) {
            c.push(format!("concern_categories[{i}]"), "is listed twice");
        }
    }
}

fn check_contact(c: &mut Checker, d: &ContactReceived) {
    check_categories(c, &d.concern_categories);
    let r = &d.referrer;
    c.name("referrer.name", &r.name);
    c.short_opt("referrer.organisation", r.organisation.as_deref());
    c.short_opt("referrer.role", r.role.as_deref());
    if let Some(phone) = r.phone.as_deref() {
        if c.text("referrer.phone", phone, Text::Short) {
            if let Err(message) = check_phone(phone) {
                c.push("referrer.phone", message);
            }
        }
    }
    if let Some(email) = r.email.as_deref() {
        if let Err(message) = check_email(email) {
            c.push("referrer.email", message);
        }
    }
    check_children(c, &d.children, 1);
    c.count("adults", d.adults.len(), 0, MAX_ITEMS);
    for (i, adult) in d.adults.iter().enumerate() {
        c.name(&format!("adults[{i}].name"), &adult.name);
        if let Some(dob) = adult.date_of_birth {
            c.adult_date_of_birth(&format!("adults[{i}].date_of_birth"), dob);
        }
        if let Some(address) = &adult.address {
            check_address(c, &format!("adults[{i}].address"), address);
        }
    }
    c.long("concerns", &d.concerns);
    match (d.consent, d.consent_override_reason.as_deref()) {
        (Consent::Overridden, None) => c.push("consent_override_reason", "required when consent is overridden"),
        (Consent::Overridden, Some(reason)) => c.long("consent_override_reason", reason),
        (_, Some(_)) => c.push("consent_override_reason", "only allowed when consent is overridden"),
        (_, None) => {}
    }
    if d.ppn_grade.is_some() && d.channel != Channel::PoliceNotification {
        c.push("ppn_grade", "only allowed when channel is police_notification");
    }
}

/// `children`: from `min` to [`MAX_CHILDREN`] of them, each checked as a child is, on
/// contacts and consultations alike.
fn check_children(c: &mut Checker, children: &[Child], min: usize) {
    if children.len() < min {
        c.push("children", "must name at least one child");
    } else if children.len() > MAX_CHILDREN {
        c.push("children", format!("must name at most {MAX_CHILDREN} children"));
    }
    for (i, child) in children.iter().enumerate() {
        check_child(c, &format!("children[{i}]"), child);
    }
}

fn check_child(c: &mut Checker, at: &str, child: &Child) {
    c.name(&format!("{at}.name"), &child.name);
    if let Some(dob) = child.date_of_birth {
        c.date_of_birth(&format!("{at}.date_of_birth"), dob);
    }
    if let Some(expected) = child.expected_date_of_birth {
        if child.date_of_birth.is_some() {
            c.push(
                format!("{at}.expected_date_of_birth"),
                "only for an unborn child, who has no date_of_birth: give one or the other",
            );
        } else {
            c.expected_date_of_birth(&format!("{at}.expected_date_of_birth"), expected);
        }
        if child.sex.is_some_and(|sex| sex != Sex::Unknown) {
            c.push(format!("{at}.sex"), "must be U (not stated) for an unborn child");
        }
    }
    c.short_opt(&format!("{at}.child_ref"), child.child_ref.as_deref());
    if let Some(nhs) = child.nhs_number.as_deref() {
        if let Err(message) = check_nhs_number(nhs) {
            c.push(format!("{at}.nhs_number"), message);
        }
    }
    if let Some(upn) = child.upn.as_deref() {
        if let Err(message) = check_upn(upn) {
            c.push(format!("{at}.upn"), message);
        }
    }
    if let Some(ethnicity) = child.ethnicity.as_deref() {
        c.ethnicity(&format!("{at}.ethnicity"), ethnicity);
    }
    if let Some(address) = &child.address {
        check_address(c, &format!("{at}.address"), address);
    }
}

fn check_address(c: &mut Checker, at: &str, a: &Address) {
    c.short_opt(&format!("{at}.line1"), a.line1.as_deref());
    c.short_opt(&format!("{at}.line2"), a.line2.as_deref());
    c.short_opt(&format!("{at}.town"), a.town.as_deref());
    if let Some(postcode) = a.postcode.as_deref() {
        if let Err(message) = check_postcode(postcode) {
            c.push(format!("{at}.postcode"), message);
        }
    }
}

/// Checks a normalised UK postcode (see [`normal_postcode`]) against the official format (the
/// Government Data Standards Catalogue's postcode pattern, as BS 7666 describes it):
///
/// - the outward code is one of `A9`, `A99`, `AA9`, `AA99`, `A9A`, `AA9A` (A a letter, 9 a
///   digit), and the inward code `9AA`, with one space between them;
/// - the first letter is not Q, V or X; the second (in `AA..`) not I, J or Z; the third (in
///   `A9A`) one of A B C D E F G H J K P S T U W; the fourth (in `AA9A`) one of A B E H M N P R
///   V W X Y; the inward letters not C, I, K, M, O or V;
/// - `GIR 0AA` (Girobank) is also valid.
///
/// Whether the postcode is in use is not checked (that needs the Postcode Address File).
pub fn check_postcode(postcode: &str) -> Result<(), String> {
    const FORMAT: &str = "must be a UK postcode, e.g. NG1 1AA or SW1A 2AA";
    if postcode != normal_postcode(postcode) {
        return Err(format!("{FORMAT}, upper case with one space before the last three characters"));
    }
    if postcode == "GIR 0AA" {
        return Ok(());
    }
    let Some((outward, inward)) = postcode.split_once(' ') else { return Err(FORMAT.to_owned()) };
    let i = inward.as_bytes();
    let inward_letter = |b: u8| b.is_ascii_uppercase() && !b"CIKMOV".contains(&b);
    let inward_ok = matches!(*i, [n, x, y] if n.is_ascii_digit() && inward_letter(x) && inward_letter(y));
    if outward != "GIR" && is_outward_code(outward) && inward_ok { Ok(()) } else { Err(FORMAT.to_owned()) }
}

/// Whether `outward` is a UK postcode's outward code (its postcode district) in the official
/// format, upper case: `A9`, `A99`, `AA9`, `AA99`, `A9A` or `AA9A` with the letter rules of
/// [`check_postcode`], or `GIR`.
pub fn is_outward_code(outward: &str) -> bool {
    if outward == "GIR" {
        return true;
    }
    let letter = |b: u8, not: &[u8]| b.is_ascii_uppercase() && !not.contains(&b);
    let digit = |b: u8| b.is_ascii_digit();
    let first = |b: u8| letter(b, b"QVX");
    let second = |b: u8| letter(b, b"IJZ");
    let third = |b: u8| b"ABCDEFGHJKPSTUW".contains(&b);
    let fourth = |b: u8| b"ABEHMNPRVWXY".contains(&b);
    match *outward.as_bytes() {
        [a, n] => first(a) && digit(n),
        [a, n, m] => first(a) && ((digit(n) && digit(m)) || (second(n) && digit(m)) || (digit(n) && third(m))),
        [a, b, n, m] => first(a) && second(b) && digit(n) && (digit(m) || fourth(m)),
        _ => false,
    }
}

#[derive(Clone, Copy)]
enum Text {
    Short,
    Long,
}

/// Collects rule errors; each check reports at most one error for its field.
struct Checker {
    now: DateTime<Utc>,
    errors: Vec<FieldError>,
}

impl Checker {
    fn new(now: DateTime<Utc>) -> Self {
        Checker { now, errors: Vec::new() }
    }

    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Checks a present string; true if it passed.
    fn text(&mut self, field: &str, value: &str, kind: Text) -> bool {
        match text_problem(value, kind) {
            Some(message) => {
                self.push(field, message);
                false
            }
            None => true,
        }
    }

    fn short(&mut self, field: &str, value: &str) {
        self.text(field, value, Text::Short);
    }

    /// A person's name: a short string, with no bidirectional controls and something visible.
    fn name(&mut self, field: &str, value: &str) {
        if self.text(field, value, Text::Short) {
            if let Some(message) = name_problem(value) {
                self.push(field, message);
            }
        }
    }

    fn long(&mut self, field: &str, value: &str) {
        self.text(field, value, Text::Long);
    }

    /// A DfE ethnicity code (`NOBT` not yet obtained, `REFU` refused).
    fn ethnicity(&mut self, field: &str, value: &str) {
        if self.text(field, value, Text::Short) && !crate::schema::is_ethnicity_code(value) {
            self.push(field, ETHNICITY);
        }
    }

    fn short_opt(&mut self, field: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.short(field, value);
        }
    }

    fn long_opt(&mut self, field: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.long(field, value);
        }
    }

    fn count(&mut self, field: &str, len: usize, min: usize, max: usize) {
        if len < min {
            self.push(field, format!("must have at least {min} item{}", if min == 1 { "" } else { "s" }));
        } else if len > max {
            self.push(field, format!("must have at most {max} items"));
        }
    }

    /// A timestamp: not before 2000, not more than the clock skew in the future.
    fn timestamp(&mut self, field: &str, at: DateTime<Utc>) {
        let latest = self.now.checked_add_signed(TimeDelta::minutes(CLOCK_SKEW_MINUTES));
        if at.year() < EARLIEST_YEAR {
            self.push(field, format!("must not be before {EARLIEST_YEAR}-01-01"));
        } else if latest.is_some_and(|latest| at > latest) {
            self.push(field, "must not be in the future");
        }
    }

    /// A date of birth: not in the future (an unborn child has `expected_date_of_birth`
    /// instead), not more than [`DOB_MAX_PAST_YEARS`] years ago.
    fn date_of_birth(&mut self, field: &str, dob: NaiveDate) {
        let today = self.now.date_naive();
        let earliest = today.checked_sub_months(Months::new(DOB_MAX_PAST_YEARS * 12));
        if dob > today {
            self.push(field, "must not be in the future: an unborn child has expected_date_of_birth instead");
        } else if earliest.is_some_and(|earliest| dob < earliest) {
            self.push(field, format!("must not be more than {DOB_MAX_PAST_YEARS} years in the past"));
        }
    }

    /// An adult's date of birth: not in the future, not before 1900.
    fn adult_date_of_birth(&mut self, field: &str, dob: NaiveDate) {
        if dob > self.now.date_naive() {
            self.push(field, "must not be in the future");
        } else if dob.year() < 1900 {
            self.push(field, "must not be before 1900-01-01");
        }
    }

    /// An unborn child's expected date of birth: at most [`DOB_MAX_FUTURE_DAYS`] ahead, and
    /// not more than [`EXPECTED_DOB_MAX_PAST_DAYS`] ago (a baby born since, whose record is
    /// not yet updated).
    fn expected_date_of_birth(&mut self, field: &str, expected: NaiveDate) {
        let today = self.now.date_naive();
        let latest = today.checked_add_days(Days::new(DOB_MAX_FUTURE_DAYS));
        let earliest = today.checked_sub_days(Days::new(EXPECTED_DOB_MAX_PAST_DAYS));
        if latest.is_some_and(|latest| expected > latest) {
            self.push(field, format!("must not be more than {DOB_MAX_FUTURE_DAYS} days in the future"));
        } else if earliest.is_some_and(|earliest| expected < earliest) {
            self.push(
                field,
                format!("must not be more than {EXPECTED_DOB_MAX_PAST_DAYS} days ago: a child born since has a date_of_birth"),
            );
        }
    }
}

fn text_problem(value: &str, kind: Text) -> Option<String> {
    let max = match kind {
        Text::Short => SHORT_MAX,
        Text::Long => LONG_MAX,
    };
    if value.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if value.trim().len() != value.len() {
        return Some("must not start or end with white space".to_owned());
    }
    if value.chars().count() > max {
        return Some(format!("must be at most {max} characters"));
    }
    match kind {
        Text::Short if value.chars().any(char::is_control) => {
            Some("must not contain control characters (nor line breaks or tabs)".to_owned())
        }
        Text::Long if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) => {
            Some("must not contain control characters other than line breaks and tabs".to_owned())
        }
        _ => None,
    }
}

/// What is wrong with a name that is otherwise a fine short string: a bidirectional override
/// or isolate (U+202A–U+202E, U+2066–U+2069) makes it display otherwise than it is stored and
/// compared; a name of invisible characters (zero-width spaces, joiners, byte order marks, ...)
/// names no one.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.chars().any(crate::text::is_bidi_control) {
        Some("must not contain bidirectional override or isolate characters (U+202A to U+202E, U+2066 to U+2069)")
    } else if crate::text::is_blank(name) {
        Some("must contain a visible character, not only invisible ones (such as zero-width spaces)")
    } else {
        None
    }
}

fn check_phone(phone: &str) -> Result<(), String> {
    if !phone.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '(' | ')' | '-')) {
        return Err("may contain only digits, spaces, +, (, ) and -".to_owned());
    }
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if !(7..=20).contains(&digits) {
        return Err(format!("must have 7 to 20 digits (has {digits})"));
    }
    Ok(())
}

/// A plausible address, not RFC 5322: one `@`, a non-empty local part, a domain with a dot
/// neither first nor last, no white space or control characters, at most [`EMAIL_MAX`].
fn check_email(email: &str) -> Result<(), String> {
    if email.chars().count() > EMAIL_MAX {
        return Err(format!("must be at most {EMAIL_MAX} characters"));
    }
    let plausible = !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if plausible { Ok(()) } else { Err("must be an email address, e.g. name@example.org".to_owned()) }
}

/// The NHS number check digit for the first nine digits (modulus 11, weights 10 down to 2),
/// or `None` when they are not nine ASCII digits or when the check comes to 10, which no
/// issued number has.
pub fn nhs_check_digit(first_nine: &str) -> Option<u32> {
    let bytes = first_nine.as_bytes();
    if bytes.len() != 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes.iter().zip((2..=10).rev()).map(|(b, weight)| u32::from(b - b'0') * weight).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        check => Some(check),
    }
}

/// Whether `nhs` is a valid NHS number: exactly 10 ASCII digits (no spaces) with a valid
/// check digit.
pub fn nhs_number_is_valid(nhs: &str) -> bool {
    check_nhs_number(nhs).is_ok()
}

fn check_nhs_number(nhs: &str) -> Result<(), &'static str> {
    let bytes = nhs.as_bytes();
    if bytes.len() != 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return Err("must be 10 digits (spaces are ignored)");
    }
    let (first_nine, last) = nhs.split_at(9);
    match nhs_check_digit(first_nine) {
        Some(check) if last.parse::<u32>() == Ok(check) => Ok(()),
        _ => Err("is not a valid NHS number (check digit)"),
    }
}

/// The DfE UPN check-letter alphabet: A-Z without I, O and S; a letter's value is its index.
const UPN_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// The DfE check letter of a Unique Pupil Number, from the 12 characters after it: 11 digits
/// then a digit (a permanent UPN) or a letter of the check alphabet (a temporary UPN). `None`
/// when the 12 characters are not of that form.
///
/// The DfE algorithm (Common Basic Data Set, "Unique Pupil Number"; the school census check
/// 1510): multiply the characters at positions 2 to 13 by weights 2 to 13 (a final letter
/// counts as its value in the check alphabet, A=0 ... Z=22, skipping I, O and S), add, take the
/// remainder on division by 23, and the check letter is the alphabet's letter at that index.
/// Characters 2-4 are an LA code; that they name a real LA is not checked here.
pub fn upn_check_letter(rest: &str) -> Option<char> {
    let bytes = rest.as_bytes();
    if bytes.len() != 12 {
        return None;
    }
    let mut sum = 0_usize;
    for (i, &b) in bytes.iter().enumerate() {
        let value = if b.is_ascii_digit() {
            usize::from(b - b'0')
        } else if i == 11 {
            UPN_LETTERS.iter().position(|&letter| letter == b)?
        } else {
            return None;
        };
        sum += value * (i + 2);
    }
    Some(char::from(UPN_LETTERS[sum % 23]))
}

/// Whether `upn` is a valid Unique Pupil Number: 13 characters, upper case, the DfE check
/// letter first (see [`upn_check_letter`]).
pub fn upn_is_valid(upn: &str) -> bool {
    check_upn(upn).is_ok()
}

fn check_upn(upn: &str) -> Result<(), &'static str> {
    const FORMAT: &str = "must be 13 characters: a check letter, 11 digits, then a digit or a letter";
    if upn.len() != 13 || !upn.is_ascii() {
        return Err(FORMAT);
    }
    let (first, rest) = upn.split_at(1);
    match (first.chars().next(), upn_check_letter(rest)) {
        (Some(letter), Some(check)) if letter.is_ascii_uppercase() => {
            if letter == check {
                Ok(())
            } else {
                Err("check letter does not match (DfE UPN check)")
            }
        }
        _ => Err(FORMAT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{
        ActionCompleted, ActionPlanAgreed, Adult, Agency, AuditFindingRecorded, AuditGrade, CallDirection, CallLogged,
        CallWith, ChecksRequested, ChecksReturned, ChildrenLinked, ChildrenUnlinked, ConsentRecorded, ContactAllocated,
        ContactClosed, DecisionMade, DutyDiscussionHeld, HandoverAccepted, HandoverReturned, HandoverSent, HandoverTo,
        InformMethod, NoteAdded, Participant, PlannedAction, PpnGrade, PrimaryNeed, Rating, Referrer,
        ReferrerFeedbackGiven, ReferrerInformed, Relationship, Revises, SourceCode, StrategyDiscussionHeld,
        StrategyOutcome, TriageRated,
    };
    use chrono::TimeZone;
    use serde_json::json;

    const ULID_A: &str = "01J5Z8Y3W1QK4N9T2V6X7B8C9D";

    fn fields_of(result: Result<impl fmt::Debug, Invalid>) -> Vec<String> {
        match result {
            Err(Invalid::Fields(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn ethnicity_must_be_a_dfe_code() {
        for bad in ["purple", "White British", "WBR", "XXXX"] {
            let mut body = good_contact();
            body["children"][0]["ethnicity"] = json!(bad);
            let fields = fields_of(parse_new_contact(body.to_string().as_bytes(), now()));
            assert_eq!(fields, ["children[0].ethnicity"], "{bad}");
        }
        for (given, stored) in [("WBRI", "WBRI"), (" nobt ", "NOBT"), ("REFU", "REFU"), ("mwbc", "MWBC")] {
            let mut body = good_contact();
            body["children"][0]["ethnicity"] = json!(given);
            let contact = parse_new_contact(body.to_string().as_bytes(), now()).unwrap();
            assert_eq!(contact.data.children[0].ethnicity.as_deref(), Some(stored), "{given}");
        }
        // Nothing new is asked of a contact: no ethnicity at all is still taken.
        let mut body = good_contact();
        body["children"][0].as_object_mut().unwrap().remove("ethnicity");
        assert!(parse_new_contact(body.to_string().as_bytes(), now()).is_ok());
        // Every code the CIN census knows, and no other.
        let codes: Vec<&str> = crate::schema::ETHNICITY_CODES.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes.len(), 20);
        assert!(codes.contains(&"NOBT") && codes.contains(&"REFU"));
    }

    #[test]
    fn a_correction_of_ethnicity_is_checked_as_a_code() {
        let mut c = CorrectionRecorded {
            corrects_event_id: ULID_A.parse().unwrap(),
            field: "children[0].ethnicity".into(),
            value: json!("purple"),
            reason: "typo".into(),
        };
        let errors = check_correction(&mut c, EventType::ContactReceived, now());
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["value"]);
        c.value = json!("aoth");
        assert!(check_correction(&mut c, EventType::ContactReceived, now()).is_empty());
        assert_eq!(c.value, json!("AOTH"));
    }

    fn decision(data: &Value) -> Result<EventRequest, Invalid> {
        parse_event_request(json!({"type": "decision_made", "data": data}).to_string().as_bytes(), now())
    }

    #[test]
    fn a_referral_decision_needs_a_primary_need() {
        for outcome in ["assessment", "strategy_discussion"] {
            let fields = fields_of(decision(&json!({"outcome": outcome, "rationale": "r"})));
            assert_eq!(fields, ["data.primary_need"], "{outcome}");
            assert!(decision(&json!({"outcome": outcome, "rationale": "r", "primary_need": "N1"})).is_ok());
        }
        for outcome in ["early_help", "no_further_action", "advice_and_signpost", "existing_case"] {
            assert!(decision(&json!({"outcome": outcome, "rationale": "r"})).is_ok(), "{outcome}");
        }
        let fields = fields_of(decision(&json!({"outcome": "assessment", "rationale": "r", "primary_need": "N10"})));
        assert_eq!(fields, ["data.primary_need"]);
    }

    #[test]
    fn a_decision_names_each_childs_upn_or_why_it_is_unknown() {
        let with = |children: Value| {
            decision(&json!({"outcome": "assessment", "rationale": "r", "primary_need": "N4", "children": children}))
        };
        let ok = with(json!([{}, {"upn": "b801200005001"}, {"upn_unknown_reason": "UN4"}])).unwrap();
        let Event::DecisionMade(d) = ok.event else { panic!("not a decision") };
        assert_eq!(d.children[1].upn.as_deref(), Some("B801200005001"));
        assert_eq!(d.children[2].upn_unknown_reason, Some(crate::schema::UpnUnknownReason::Un4));
        assert_eq!(
            fields_of(with(json!([{}, {"upn_unknown_reason": "UN11"}]))),
            ["data.children[1].upn_unknown_reason"]
        );
        assert_eq!(fields_of(with(json!([{"upn": "A801200005001"}]))), ["data.children[0].upn"]);
        assert_eq!(
            fields_of(with(json!([{}, {"upn": "B801200005001", "upn_unknown_reason": "UN2"}]))),
            ["data.children[1].upn_unknown_reason"]
        );
        assert_eq!(fields_of(with(json!([{"upn_unknown": "UN2"}]))), ["data.children[0].upn_unknown"]);
    }

    #[test]
    fn school_age_is_the_census_rule() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // Census year 2026-27 (1 April 2026 to 31 March 2027): born on or before 31 August 2021.
        assert!(is_school_age(d(2021, 8, 31), d(2026, 4, 1)));
        assert!(!is_school_age(d(2021, 9, 1), d(2026, 4, 1)));
        assert!(!is_school_age(d(2021, 9, 1), d(2027, 3, 31)));
        // From 1 April 2027 the next census year: a year later.
        assert!(is_school_age(d(2022, 8, 31), d(2027, 4, 1)));
        assert!(!is_school_age(d(2022, 9, 1), d(2027, 4, 1)));
        assert!(is_school_age(d(2010, 1, 1), d(2026, 12, 1)));
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
    }

    fn good_contact() -> Value {
        json!({
            "channel": "phone",
            "source": "2A",
            "referrer": {
                "name": "  Ms Teacher ",
                "organisation": "Hill Primary",
                "role": " Designated safeguarding lead ",
                "phone": "0115 496 0000",
                "email": " dsl@hill.sch.uk "
            },
            "children": [
                {
                    "name": " Amy Smith ",
                    "date_of_birth": "2018-05-01",
                    "sex": "F",
                    "child_ref": " C-1 ",
                    "nhs_number": "943 476 5919",
                    "upn": "b801200005001",
                    "ethnicity": "WBRI"
                },
                {"name": "Ben Smith"}
            ],
            "concerns": "  Bruising on arm.\nSays dad hit her.\t ",
            "immediate_risk": true,
            "consent": "given"
        })
    }

    fn good_debrief() -> Value {
        json!({
            "date": "2026-03-02", "team": " MASH duty A ", "staff_on_duty": 4, "staff_expected": 6,
            "recorded": "31 contacts, 9 decisions", "multi_agency_value": "Police checks same day", "notes": ""
        })
    }

    #[test]
    fn a_duty_debrief_is_read_normalised() {
        let body = serde_json::to_vec(&good_debrief()).unwrap();
        let new = parse_new_duty_debrief(&body, now()).unwrap();
        assert_eq!(new.data.team, "MASH duty A");
        assert_eq!((new.data.staff_on_duty, new.data.staff_expected), (Some(4), Some(6)));
        assert_eq!(new.data.notes, None, "an empty optional text is left out");
        assert_eq!(new.occurred_at, None);
    }

    /// Each case's body is refused by `parse`, naming exactly the fields expected.
    fn refuses_naming<T: fmt::Debug>(
        parse: fn(&[u8], DateTime<Utc>) -> Result<T, Invalid>,
        cases: &[(&str, Value, &[&str])],
    ) {
        for (what, body, expected) in cases {
            let err = parse(&serde_json::to_vec(body).unwrap(), now()).unwrap_err();
            let Invalid::Fields(errors) = err else { panic!("{what}: not a field error") };
            let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(named, *expected, "{what}");
        }
    }

    #[test]
    fn a_bad_duty_debrief_names_its_fields() {
        let cases: &[(&str, Value, &[&str])] = &[
            ("no date", json!({"team": "A"}), &["date"]),
            ("no team", json!({"date": "2026-03-02"}), &["team"]),
            ("blank team", json!({"date": "2026-03-02", "team": "  "}), &["team"]),
            ("date in the future", json!({"date": "2099-01-01", "team": "A"}), &["date"]),
            ("date not a date", json!({"date": "monday", "team": "A"}), &["date"]),
            ("staff too many", json!({"date": "2026-03-02", "team": "A", "staff_on_duty": 201}), &["staff_on_duty"]),
            ("staff negative", json!({"date": "2026-03-02", "team": "A", "staff_expected": -1}), &["staff_expected"]),
            ("unknown field", json!({"date": "2026-03-02", "team": "A", "children": []}), &["children"]),
        ];
        refuses_naming(parse_new_duty_debrief, cases);
    }

    fn good_consultation() -> Value {
        json!({
            "agency": "education", "source": "3A", "advice": "  Speak to the parents first; call back if it recurs ",
            "concern_categories": ["3A"]
        })
    }

    #[test]
    fn a_consultation_without_a_child_is_read_normalised() {
        let body = serde_json::to_vec(&good_consultation()).unwrap();
        let new = parse_new_consultation(&body, now()).unwrap();
        assert_eq!(new.data.advice, "Speak to the parents first; call back if it recurs");
        assert!(new.data.children.is_empty(), "a consultation need name no child");
        assert_eq!(new.data.source.as_str(), "3A");
    }

    #[test]
    fn a_bad_consultation_names_its_fields_and_its_children_are_checked_as_a_contact_s() {
        let with = |key: &str, value: Value| {
            let mut body = good_consultation();
            body[key] = value;
            body
        };
        let cases: &[(&str, Value, &[&str])] = &[
            ("no advice", json!({"agency": "health", "source": "3A"}), &["advice"]),
            ("no agency", json!({"source": "3A", "advice": "x"}), &["agency"]),
            ("blank advice", with("advice", json!("  ")), &["advice"]),
            ("unknown source", with("source", json!("9Z")), &["source"]),
            ("child with no name", with("children", json!([{"date_of_birth": "2019-01-01"}])), &["children[0].name"]),
            (
                "child born tomorrow",
                with("children", json!([{"name": "Ann Example", "date_of_birth": "2026-03-03"}])),
                &["children[0].date_of_birth"],
            ),
            ("bad category", with("concern_categories", json!(["99Z"])), &["concern_categories[0]"]),
            ("unknown field", with("referrer", json!({"name": "X"})), &["referrer"]),
        ];
        refuses_naming(parse_new_consultation, cases);
    }

    #[test]
    fn a_stream_s_first_event_is_never_appended_to_a_contact() {
        for (t, data, endpoint) in [
            ("duty_debrief_recorded", good_debrief(), "POST /v1/duty-debriefs"),
            ("consultation_recorded", good_consultation(), "POST /v1/consultations"),
            ("contact_received", good_contact(), "POST /v1/contacts"),
        ] {
            let body = json!({"type": t, "data": data});
            let Err(Invalid::Fields(errors)) = parse_event_request(&serde_json::to_vec(&body).unwrap(), now()) else {
                panic!("{t} accepted")
            };
            assert_eq!(errors[0].field, "type");
            assert!(errors[0].message.contains(endpoint), "{t}: {}", errors[0].message);
        }
    }

    fn good_data(t: EventType) -> Value {
        match t {
            EventType::ContactReceived => good_contact(),
            EventType::TriageRated => json!({"rating": "red", "reason": "  bruising  "}),
            EventType::CallLogged => json!({
                "direction": "outbound", "with": "parent", "started_at": "2026-03-02T09:30:00Z",
                "duration_seconds": 600, "summary": " Spoke to mum "
            }),
            EventType::ChecksRequested => json!({"agency": "police", "request": " PNC and DA history "}),
            EventType::ChecksReturned => json!({"agency": "health", "summary": " Known to HV ", "restricted": true}),
            EventType::DutyDiscussionHeld => json!({
                "participants": [
                    {"name": " Ana ", "role": " Social worker ", "agency": "childrens_social_care"},
                    {"name": "PC Jones", "role": "MASH officer", "agency": "police"}
                ],
                "summary": " Agreed a strategy discussion ",
                "needs": [" safety plan ", "school support"],
                "recommendation": "strategy_discussion"
            }),
            EventType::ConsentRecorded => json!({"consent": "overridden", "reason": " Asking would put Amy at risk "}),
            EventType::DecisionMade => json!({
                "outcome": "assessment", "rationale": " s17 needed ", "level_of_need": 3, "primary_need": "N1",
                "revises": {"event_id": ULID_A, "reason": " new information "}
            }),
            EventType::ActionPlanAgreed => json!({
                "actions": [{"owner_agency": "education", "description": " Daily check-in ", "due": "2026-03-09"}],
                "referrer_role": " DSL "
            }),
            EventType::ReferrerInformed => json!({"method": "email", "summary": " Told of the decision "}),
            EventType::HandoverSent => json!({"to": "assessment_team", "team": " AT North ", "notes": " urgent "}),
            EventType::HandoverAccepted => json!({"team": " AT North ", "worker": " J Bloggs "}),
            EventType::HandoverReturned => json!({"reason": " Wrong locality "}),
            EventType::ContactClosed => json!({"reason": " Handed over "}),
            EventType::NoteAdded => json!({"text": " Mum called back "}),
            EventType::CorrectionRecorded => json!({
                "corrects_event_id": ULID_A, "field": " children[0].date_of_birth ",
                "value": {"date_of_birth": "2018-05-02", "source": [1, null, true]}, "reason": " Typo "
            }),
            EventType::AuditFindingRecorded => json!({"grade": "good", "findings": " Timely and well reasoned "}),
            EventType::ChildrenLinked => {
                json!({"child_index": 1, "child_id": " K7QX2M9D4TB3 ", "reason": " Same NHS number on the GP letter "})
            }
            EventType::ChildrenUnlinked => {
                json!({"child_index": 0, "child_id": "K7QX2M9D4TB3", "reason": " Different mother, different school "})
            }
            EventType::ContactAllocated => json!({"worker": " sw-ana "}),
            EventType::ReferrerFeedbackGiven => {
                json!({"listened_to": 4, "knows_next_steps": 2, "comment": " Quick call back "})
            }
            EventType::ActionCompleted => json!({
                "plan_event_id": "01JQ0000000000000000000000", "action_index": 1, "note": " Sessions started "
            }),
            EventType::StrategyDiscussionHeld => json!({
                "held_at": "2026-03-02T09:30:00Z", "agencies": ["police", "health"], "outcome": "s47_enquiry"
            }),
            EventType::DutyDebriefRecorded => good_debrief(),
            EventType::ConsultationRecorded => good_consultation(),
        }
    }

    fn ev(t: &str, data: Value) -> Value {
        let mut body = Map::new();
        body.insert("type".to_owned(), Value::from(t));
        body.insert("data".to_owned(), data);
        Value::Object(body)
    }

    fn good_ev(t: EventType) -> Value {
        ev(t.as_str(), good_data(t))
    }

    /// Sets the value at a JSON pointer, adding the key if need be.
    fn set(mut v: Value, pointer: &str, new: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match v.pointer_mut(parent).unwrap() {
            Value::Object(m) => {
                m.insert(key.to_owned(), new);
            }
            Value::Array(a) => a[key.parse::<usize>().unwrap()] = new,
            other => panic!("cannot set in {other}"),
        }
        v
    }

    fn del(mut v: Value, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key).unwrap();
        v
    }

    fn sorted_fields(errors: &[FieldError]) -> Vec<String> {
        let mut fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
        fields.sort();
        fields
    }

    /// Runs each case, asserting a 422 naming exactly the given fields; reports every miss.
    fn run_422<T: fmt::Debug>(
        parse: fn(&[u8], DateTime<Utc>) -> Result<T, Invalid>,
        cases: &[(&str, String, &[&str])],
    ) {
        assert!(cases.len() >= 40, "at least 40 bad bodies per endpoint, not {}", cases.len());
        let mut misses = Vec::new();
        for (label, body, want) in cases {
            let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
            want.sort();
            match parse(body.as_bytes(), now()) {
                Err(invalid @ Invalid::Fields(_)) => {
                    assert_eq!(invalid.status(), 422);
                    let got = sorted_fields(invalid.field_errors());
                    if got != want {
                        misses.push(format!("{label}: want {want:?}, got {:?}", invalid.field_errors()));
                    }
                }
                other => misses.push(format!("{label}: want 422 {want:?}, got {other:?}")),
            }
        }
        assert!(misses.is_empty(), "{} of {} cases missed:\n{}", misses.len(), cases.len(), misses.join("\n"));
    }

    /// Found trying the API: a correction's value was any JSON, so a child's date of birth
    /// could be "corrected" to "purple".
    #[test]
    fn bug_a_correction_value_was_not_validated_as_its_field() {
        let correction = |field: &str, value: Value| CorrectionRecorded {
            corrects_event_id: ULID_A.parse().unwrap(),
            field: field.into(),
            value,
            reason: "r".into(),
        };
        let refused = |field: &str, value: Value, target: EventType| {
            let errors = check_correction(&mut correction(field, value.clone()), target, now());
            assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["value"], "{field} = {value}");
        };
        let r = EventType::ContactReceived;
        refused("children[0].date_of_birth", json!("purple"), r);
        refused("children[0].date_of_birth", json!("2026-03-03"), r);
        refused("children[0].nhs_number", json!("943 476 5918"), r);
        refused("children[0].upn", json!("nope"), r);
        refused("children[0].name", json!(""), r);
        refused("children[0].name", json!(null), r);
        refused("children[0].sex", json!("X"), r);
        refused("immediate_risk", json!("yes"), r);
        refused("consent", json!("maybe"), r);
        refused("restricted", json!(1), EventType::ChecksReturned);
        refused("summary", json!("x".repeat(LONG_MAX + 1)), EventType::ChecksReturned);
        refused("occurred_at", json!("2026-03-02T10:10:00Z"), EventType::DecisionMade);
        refused("occurred_at", json!("yesterday"), EventType::DecisionMade);

        // Normalised as the original field is: trimmed, NHS number without spaces, UPN upper case.
        let mut nhs = correction("children[0].nhs_number", json!(" 943 476 5919 "));
        assert!(check_correction(&mut nhs, r, now()).is_empty());
        assert_eq!(nhs.value, json!("9434765919"));
        let mut upn = correction("children[0].upn", json!("b801200005001"));
        assert!(check_correction(&mut upn, r, now()).is_empty());
        assert_eq!(upn.value, json!("B801200005001"));
        let mut cleared = correction("children[0].ethnicity", json!("  "));
        assert!(check_correction(&mut cleared, r, now()).is_empty());
        assert_eq!(cleared.value, Value::Null);
        let mut moved = correction("occurred_at", json!("2026-03-02T08:00:00Z"));
        assert!(check_correction(&mut moved, EventType::DecisionMade, now()).is_empty());
    }

    #[test]
    fn bad_contact_bodies_name_their_fields() {
        let c = good_contact;
        let cases: Vec<(&str, Value, &[&str])> = vec![
            ("unknown child field", set(c(), "/children/0/nickname", json!("Ames")), &["children[0].nickname"]),
            (
                "postcode not a UK one",
                set(c(), "/children/1/address", json!({"postcode": "90210"})),
                &["children[1].address.postcode"],
            ),
            (
                "postcode with a letter not used there",
                set(c(), "/children/1/address", json!({"town": "Nowhere", "postcode": "QA1 1AA"})),
                &["children[1].address.postcode"],
            ),
            (
                "unknown address field",
                set(c(), "/children/1/address", json!({"county": "Notts"})),
                &["children[1].address.county"],
            ),
            (
                "adult without a relationship",
                set(c(), "/adults", json!([{"name": "Pat Smith"}])),
                &["adults[0].relationship"],
            ),
            (
                "adult's relationship unknown",
                set(c(), "/adults", json!([{"name": "Pat Smith", "relationship": "uncle"}])),
                &["adults[0].relationship"],
            ),
            (
                "adult without a name, born in the future",
                set(c(), "/adults", json!([{"relationship": "carer", "date_of_birth": "2027-01-01"}])),
                &["adults[0].name"],
            ),
            (
                "adult born in the future",
                set(c(), "/adults", json!([{"name": "Pat", "relationship": "carer", "date_of_birth": "2027-01-01"}])),
                &["adults[0].date_of_birth"],
            ),
            (
                "adult's postcode",
                set(
                    c(),
                    "/adults",
                    json!([{"name": "Pat", "relationship": "parent", "address": {"postcode": "NG1 1A"}}]),
                ),
                &["adults[0].address.postcode"],
            ),
            (
                "date of birth not a date",
                set(c(), "/children/0/date_of_birth", json!("01/05/2018")),
                &["children[0].date_of_birth"],
            ),
            (
                "impossible date",
                set(c(), "/children/0/date_of_birth", json!("2018-02-30")),
                &["children[0].date_of_birth"],
            ),
            (
                "date of birth tomorrow",
                set(c(), "/children/0/date_of_birth", json!("2026-03-03")),
                &["children[0].date_of_birth"],
            ),
            (
                "expected date 281 days ahead",
                set(
                    set(
                        set(c(), "/children/0/date_of_birth", Value::Null),
                        "/children/0/expected_date_of_birth",
                        json!("2026-12-08"),
                    ),
                    "/children/0/sex",
                    json!("U"),
                ),
                &["children[0].expected_date_of_birth"],
            ),
            (
                "both a date of birth and an expected one",
                set(c(), "/children/0/expected_date_of_birth", json!("2026-06-01")),
                &["children[0].expected_date_of_birth", "children[0].sex"],
            ),
            (
                "an unborn child said to be female",
                set(
                    set(c(), "/children/0/date_of_birth", Value::Null),
                    "/children/0/expected_date_of_birth",
                    json!("2026-06-01"),
                ),
                &["children[0].sex"],
            ),
            ("late_entry_reason a number", set(c(), "/late_entry_reason", json!(3)), &["late_entry_reason"]),
            (
                "born over 25 years ago",
                set(c(), "/children/0/date_of_birth", json!("2001-03-01")),
                &["children[0].date_of_birth"],
            ),
            (
                "nhs number check digit",
                set(c(), "/children/0/nhs_number", json!("9434765918")),
                &["children[0].nhs_number"],
            ),
            (
                "nhs number too short",
                set(c(), "/children/0/nhs_number", json!("94347659")),
                &["children[0].nhs_number"],
            ),
            (
                "nhs number with dashes",
                set(c(), "/children/0/nhs_number", json!("943-476-5919")),
                &["children[0].nhs_number"],
            ),
            (
                "nhs number as a number",
                set(c(), "/children/0/nhs_number", json!(9434765919_u64)),
                &["children[0].nhs_number"],
            ),
            (
                "nhs check comes to 10",
                set(c(), "/children/0/nhs_number", json!("0000000060")),
                &["children[0].nhs_number"],
            ),
            ("upn check letter", set(c(), "/children/0/upn", json!("A801200005001")), &["children[0].upn"]),
            ("upn too short", set(c(), "/children/0/upn", json!("B80120000500")), &["children[0].upn"]),
            ("upn letter inside", set(c(), "/children/0/upn", json!("X80120000A001")), &["children[0].upn"]),
            ("child name blank", set(c(), "/children/0/name", json!("   ")), &["children[0].name"]),
            ("child name missing", del(c(), "/children/0/name"), &["children[0].name"]),
            ("child name null", set(c(), "/children/1/name", Value::Null), &["children[1].name"]),
            ("child name too long", set(c(), "/children/0/name", json!("x".repeat(201))), &["children[0].name"]),
            ("line break in a name", set(c(), "/children/0/name", json!("Amy\nSmith")), &["children[0].name"]),
            ("sex not M F U", set(c(), "/children/0/sex", json!("X")), &["children[0].sex"]),
            ("no children", set(c(), "/children", json!([])), &["children"]),
            ("21 children", set(c(), "/children", json!(vec![json!({"name": "Sib"}); 21])), &["children"]),
            ("children not a list", set(c(), "/children", json!("Amy")), &["children"]),
            ("a child that is a string", set(c(), "/children/1", json!("Ben")), &["children[1]"]),
            ("referrer missing", del(c(), "/referrer"), &["referrer"]),
            ("referrer as an array of its fields", set(c(), "/referrer", json!(["Ms Teacher"])), &["referrer"]),
            ("referrer name empty", set(c(), "/referrer/name", json!("")), &["referrer.name"]),
            ("email without @", set(c(), "/referrer/email", json!("dsl.hill.sch.uk")), &["referrer.email"]),
            ("email with two @", set(c(), "/referrer/email", json!("a@b@c.org")), &["referrer.email"]),
            ("email domain without dot", set(c(), "/referrer/email", json!("dsl@localhost")), &["referrer.email"]),
            (
                "email too long",
                set(c(), "/referrer/email", json!(format!("{}@x.org", "a".repeat(250)))),
                &["referrer.email"],
            ),
            ("phone with letters", set(c(), "/referrer/phone", json!("0115 CALL ME")), &["referrer.phone"]),
            ("phone too few digits", set(c(), "/referrer/phone", json!("12345")), &["referrer.phone"]),
            ("phone too many digits", set(c(), "/referrer/phone", json!("1".repeat(21))), &["referrer.phone"]),
            ("unknown referrer field", set(c(), "/referrer/fax", json!("x")), &["referrer.fax"]),
            (
                "control character in organisation",
                set(c(), "/referrer/organisation", json!("Hill\u{7}")),
                &["referrer.organisation"],
            ),
            ("channel unknown", set(c(), "/channel", json!("fax")), &["channel"]),
            ("source unknown", set(c(), "/source", json!("2Z")), &["source"]),
            ("source as a number", set(c(), "/source", json!(6)), &["source"]),
            ("concerns missing", del(c(), "/concerns"), &["concerns"]),
            ("concerns too long", set(c(), "/concerns", json!("x".repeat(10_001))), &["concerns"]),
            ("NUL in concerns", set(c(), "/concerns", json!("a\u{0}b")), &["concerns"]),
            ("escape sequence in concerns", set(c(), "/concerns", json!("a\u{1b}[31mb")), &["concerns"]),
            ("overridden without reason", set(c(), "/consent", json!("overridden")), &["consent_override_reason"]),
            (
                "overridden with blank reason",
                set(set(c(), "/consent", json!("overridden")), "/consent_override_reason", json!("  ")),
                &["consent_override_reason"],
            ),
            (
                "reason without override",
                set(c(), "/consent_override_reason", json!("because")),
                &["consent_override_reason"],
            ),
            ("ppn grade on a phone contact", set(c(), "/ppn_grade", json!("high")), &["ppn_grade"]),
            (
                "ppn grade unknown",
                set(set(c(), "/channel", json!("police_notification")), "/ppn_grade", json!("urgent")),
                &["ppn_grade"],
            ),
            ("immediate_risk a string", set(c(), "/immediate_risk", json!("yes")), &["immediate_risk"]),
            ("immediate_risk null", set(c(), "/immediate_risk", Value::Null), &["immediate_risk"]),
            ("consent null", set(c(), "/consent", Value::Null), &["consent"]),
            ("occurred_at before 2000", set(c(), "/occurred_at", json!("1999-12-31T23:59:59Z")), &["occurred_at"]),
            ("occurred_at not a time", set(c(), "/occurred_at", json!("yesterday")), &["occurred_at"]),
            ("occurred_at without a zone", set(c(), "/occurred_at", json!("2026-03-02T09:00:00")), &["occurred_at"]),
            ("occurred_at a number", set(c(), "/occurred_at", json!(1_772_445_600)), &["occurred_at"]),
            ("a type on a contact", set(c(), "/type", json!("contact_received")), &["type"]),
            (
                "several shape errors at once",
                del(set(set(c(), "/children/0/nickname", json!("A")), "/channel", json!("fax")), "/referrer/name"),
                &["channel", "children[0].nickname", "referrer.name"],
            ),
            (
                "several rule errors at once",
                set(
                    set(set(c(), "/referrer/email", json!("nope")), "/children/1/nhs_number", json!("9434765918")),
                    "/concerns",
                    json!(" "),
                ),
                &["children[1].nhs_number", "concerns", "referrer.email"],
            ),
            (
                "a shape error and a bad occurred_at",
                set(set(c(), "/channel", json!("fax")), "/occurred_at", json!("1999-12-31T23:59:59Z")),
                &["channel", "occurred_at"],
            ),
        ];
        let mut cases: Vec<(&str, String, &[&str])> =
            cases.into_iter().map(|(l, v, f)| (l, v.to_string(), f)).collect();
        cases.push((
            "duplicate key in referrer",
            r#"{"channel":"phone","source":"2A","referrer":{"name":"A","name":"B"},"children":[{"name":"C"}],"concerns":"x"}"#
                .to_owned(),
            &["referrer.name"],
        ));
        run_422(parse_new_contact, &cases);
    }

    #[test]
    fn bad_event_bodies_name_their_fields() {
        use EventType as T;
        let e = |t: EventType, pointer: &str, v: Value| set(good_ev(t), &format!("/data{pointer}"), v);
        let d = |t: EventType, pointer: &str| del(good_ev(t), &format!("/data{pointer}"));
        let soon = (now() + TimeDelta::minutes(10)).to_rfc3339();
        let note = || good_ev(T::NoteAdded);
        let cases: Vec<(&str, Value, &[&str])> = vec![
            ("type missing", del(note(), "/type"), &["type"]),
            ("type unknown", set(note(), "/type", json!("note_made")), &["type"]),
            ("type contact_received", good_ev(T::ContactReceived), &["type"]),
            ("type a number", set(note(), "/type", json!(7)), &["type"]),
            ("type null", set(note(), "/type", Value::Null), &["type"]),
            ("data missing", del(note(), "/data"), &["data"]),
            ("data a string", set(note(), "/data", json!("Mum called")), &["data"]),
            ("data an array", set(note(), "/data", json!([{"text": "x"}])), &["data"]),
            ("unknown top-level field", set(note(), "/actor", json!("me")), &["actor"]),
            ("unknown data field", e(T::NoteAdded, "/extra", json!(1)), &["data.extra"]),
            ("child index negative", e(T::ChildrenLinked, "/child_index", json!(-1)), &["data.child_index"]),
            ("child index 20", e(T::ChildrenLinked, "/child_index", json!(20)), &["data.child_index"]),
            ("child index missing", d(T::ChildrenUnlinked, "/child_index"), &["data.child_index"]),
            ("child id with a hyphen", e(T::ChildrenLinked, "/child_id", json!("FD-12")), &["data.child_id"]),
            ("child id too long", e(T::ChildrenUnlinked, "/child_id", json!("A".repeat(21))), &["data.child_id"]),
            ("child id empty", e(T::ChildrenLinked, "/child_id", json!("  ")), &["data.child_id"]),
            ("link without a reason", d(T::ChildrenLinked, "/reason"), &["data.reason"]),
            ("unlink with a blank reason", e(T::ChildrenUnlinked, "/reason", json!(" ")), &["data.reason"]),
            ("text missing", d(T::NoteAdded, "/text"), &["data.text"]),
            ("worker missing", d(T::ContactAllocated, "/worker"), &["data.worker"]),
            ("worker blank", e(T::ContactAllocated, "/worker", json!("  ")), &["data.worker"]),
            ("score of 0", e(T::ReferrerFeedbackGiven, "/listened_to", json!(0)), &["data.listened_to"]),
            ("score of 6", e(T::ReferrerFeedbackGiven, "/knows_next_steps", json!(6)), &["data.knows_next_steps"]),
            ("score a string", e(T::ReferrerFeedbackGiven, "/listened_to", json!("5")), &["data.listened_to"]),
            ("score a fraction", e(T::ReferrerFeedbackGiven, "/listened_to", json!(4.5)), &["data.listened_to"]),
            ("score missing", d(T::ReferrerFeedbackGiven, "/knows_next_steps"), &["data.knows_next_steps"]),
            ("held_at missing", d(T::StrategyDiscussionHeld, "/held_at"), &["data.held_at"]),
            (
                "unknown concern category",
                e(T::DecisionMade, "/concern_categories", json!(["3A", "99Z"])),
                &["data.concern_categories[1]"],
            ),
            (
                "concern category twice",
                e(T::DecisionMade, "/concern_categories", json!(["3A", "16A", "3A"])),
                &["data.concern_categories[2]"],
            ),
            (
                "concern categories not a list",
                e(T::DecisionMade, "/concern_categories", json!("3A")),
                &["data.concern_categories"],
            ),
            ("plan missing", d(T::ActionCompleted, "/plan_event_id"), &["data.plan_event_id"]),
            ("plan not a ULID", e(T::ActionCompleted, "/plan_event_id", json!("plan-1")), &["data.plan_event_id"]),
            ("action index missing", d(T::ActionCompleted, "/action_index"), &["data.action_index"]),
            ("action index negative", e(T::ActionCompleted, "/action_index", json!(-1)), &["data.action_index"]),
            ("action index 50", e(T::ActionCompleted, "/action_index", json!(50)), &["data.action_index"]),
            ("action index a string", e(T::ActionCompleted, "/action_index", json!("1")), &["data.action_index"]),
            ("held_at not a time", e(T::StrategyDiscussionHeld, "/held_at", json!("tuesday")), &["data.held_at"]),
            (
                "held_at in the future",
                e(T::StrategyDiscussionHeld, "/held_at", json!("2099-01-01T00:00:00Z")),
                &["data.held_at"],
            ),
            ("no agencies", e(T::StrategyDiscussionHeld, "/agencies", json!([])), &["data.agencies"]),
            ("unknown agency", e(T::StrategyDiscussionHeld, "/agencies/1", json!("mi5")), &["data.agencies[1]"]),
            ("outcome missing", d(T::StrategyDiscussionHeld, "/outcome"), &["data.outcome"]),
            (
                "discussion outcome not a discussion's",
                e(T::StrategyDiscussionHeld, "/outcome", json!("assessment")),
                &["data.outcome"],
            ),
            ("text blank", e(T::NoteAdded, "/text", json!(" \n\t ")), &["data.text"]),
            ("text too long", e(T::NoteAdded, "/text", json!("x".repeat(10_001))), &["data.text"]),
            ("NUL in text", e(T::NoteAdded, "/text", json!("Mum\u{0}called")), &["data.text"]),
            ("text an object", e(T::NoteAdded, "/text", json!({"en": "x"})), &["data.text"]),
            ("rating purple", e(T::TriageRated, "/rating", json!("purple")), &["data.rating"]),
            ("rating missing", d(T::TriageRated, "/rating"), &["data.rating"]),
            ("rating as a map", e(T::TriageRated, "/rating", json!({"red": null})), &["data.rating"]),
            ("call in the future", e(T::CallLogged, "/started_at", json!(soon)), &["data.started_at"]),
            ("call start not a time", e(T::CallLogged, "/started_at", json!("09:30")), &["data.started_at"]),
            ("call over a day", e(T::CallLogged, "/duration_seconds", json!(86_401)), &["data.duration_seconds"]),
            ("call negative", e(T::CallLogged, "/duration_seconds", json!(-1)), &["data.duration_seconds"]),
            ("call huge", e(T::CallLogged, "/duration_seconds", json!(1e20)), &["data.duration_seconds"]),
            ("call with a neighbour", e(T::CallLogged, "/with", json!("neighbour")), &["data.with"]),
            ("checks from MI5", e(T::ChecksRequested, "/agency", json!("mi5")), &["data.agency"]),
            ("restricted a string", e(T::ChecksReturned, "/restricted", json!("yes")), &["data.restricted"]),
            ("no participants", e(T::DutyDiscussionHeld, "/participants", json!([])), &["data.participants"]),
            (
                "51 participants",
                e(
                    T::DutyDiscussionHeld,
                    "/participants",
                    json!(vec![json!({"name": "A", "role": "B", "agency": "police"}); 51]),
                ),
                &["data.participants"],
            ),
            (
                "participant without role",
                d(T::DutyDiscussionHeld, "/participants/0/role"),
                &["data.participants[0].role"],
            ),
            (
                "participant agency",
                e(T::DutyDiscussionHeld, "/participants/1/agency", json!("fbi")),
                &["data.participants[1].agency"],
            ),
            ("51 needs", e(T::DutyDiscussionHeld, "/needs", json!(vec!["a need"; 51])), &["data.needs"]),
            ("empty need", e(T::DutyDiscussionHeld, "/needs/0", json!(" ")), &["data.needs[0]"]),
            ("need too long", e(T::DutyDiscussionHeld, "/needs/1", json!("n".repeat(201))), &["data.needs[1]"]),
            ("needs a string", e(T::DutyDiscussionHeld, "/needs", json!("safety")), &["data.needs"]),
            (
                "recommendation unknown",
                e(T::DutyDiscussionHeld, "/recommendation", json!("s47")),
                &["data.recommendation"],
            ),
            ("consent overridden no reason", d(T::ConsentRecorded, "/reason"), &["data.reason"]),
            ("rationale blank", e(T::DecisionMade, "/rationale", json!("   ")), &["data.rationale"]),
            ("level of need 5", e(T::DecisionMade, "/level_of_need", json!(5)), &["data.level_of_need"]),
            ("level of need 0", e(T::DecisionMade, "/level_of_need", json!(0)), &["data.level_of_need"]),
            ("level of need 300", e(T::DecisionMade, "/level_of_need", json!(300)), &["data.level_of_need"]),
            ("level of need a string", e(T::DecisionMade, "/level_of_need", json!("3")), &["data.level_of_need"]),
            ("primary need N10", e(T::DecisionMade, "/primary_need", json!("N10")), &["data.primary_need"]),
            ("revision reason empty", e(T::DecisionMade, "/revises/reason", json!("")), &["data.revises.reason"]),
            ("revision reason missing", d(T::DecisionMade, "/revises/reason"), &["data.revises.reason"]),
            (
                "revises a bad id",
                e(T::DecisionMade, "/revises/event_id", json!("not-a-ulid")),
                &["data.revises.event_id"],
            ),
            ("no actions", e(T::ActionPlanAgreed, "/actions", json!([])), &["data.actions"]),
            (
                "action due last century",
                e(T::ActionPlanAgreed, "/actions/0/due", json!("1999-12-31")),
                &["data.actions[0].due"],
            ),
            (
                "action without description",
                d(T::ActionPlanAgreed, "/actions/0/description"),
                &["data.actions[0].description"],
            ),
            ("informed by pigeon", e(T::ReferrerInformed, "/method", json!("pigeon")), &["data.method"]),
            ("handover to mars", e(T::HandoverSent, "/to", json!("mars")), &["data.to"]),
            ("handover team with tab", e(T::HandoverSent, "/team", json!("AT\tNorth")), &["data.team"]),
            ("accepted without team", d(T::HandoverAccepted, "/team"), &["data.team"]),
            ("returned without reason", d(T::HandoverReturned, "/reason"), &["data.reason"]),
            ("closed with empty reason", e(T::ContactClosed, "/reason", json!("")), &["data.reason"]),
            ("correction field empty", e(T::CorrectionRecorded, "/field", json!(" ")), &["data.field"]),
            (
                "correction value too big",
                e(T::CorrectionRecorded, "/value", json!("v".repeat(10_000))),
                &["data.value"],
            ),
            ("correction without value", d(T::CorrectionRecorded, "/value"), &["data.value"]),
            (
                "correction of a bad id",
                e(T::CorrectionRecorded, "/corrects_event_id", json!(42)),
                &["data.corrects_event_id"],
            ),
            ("audit grade meh", e(T::AuditFindingRecorded, "/grade", json!("meh")), &["data.grade"]),
            ("expected_version negative", set(note(), "/expected_version", json!(-1)), &["expected_version"]),
            (
                "expected_version over u32",
                set(note(), "/expected_version", json!(4_294_967_296_u64)),
                &["expected_version"],
            ),
            ("expected_version a string", set(note(), "/expected_version", json!("3")), &["expected_version"]),
            ("expected_version a fraction", set(note(), "/expected_version", json!(1.5)), &["expected_version"]),
            (
                "duplicate_of on an assessment",
                set(good_ev(T::DecisionMade), "/data/duplicate_of", json!("01J5Z8Y3W1QK4N9T2V6X7B8C9D")),
                &["data.duplicate_of"],
            ),
            (
                "late_entry_reason too long",
                set(note(), "/late_entry_reason", json!("x".repeat(20_000))),
                &["late_entry_reason"],
            ),
            ("occurred_at before 2000", set(note(), "/occurred_at", json!("1970-01-01T00:00:00Z")), &["occurred_at"]),
            (
                "several envelope errors",
                set(set(set(note(), "/type", json!("x")), "/expected_version", json!(-3)), "/extra", json!(1)),
                &["expected_version", "extra", "type"],
            ),
            (
                "several data errors",
                set(
                    set(d(T::DecisionMade, "/rationale"), "/data/outcome", json!("maybe")),
                    "/data/why",
                    json!("because"),
                ),
                &["data.outcome", "data.rationale", "data.why"],
            ),
            (
                "several rule errors",
                set(set(good_ev(T::DecisionMade), "/data/level_of_need", json!(9)), "/data/rationale", json!("")),
                &["data.level_of_need", "data.rationale"],
            ),
        ];
        let mut cases: Vec<(&str, String, &[&str])> =
            cases.into_iter().map(|(l, v, f)| (l, v.to_string(), f)).collect();
        cases.extend([
            (
                "expected_version beyond u64",
                r#"{"type":"note_added","data":{"text":"x"},"expected_version":123456789012345678901234567890}"#
                    .to_owned(),
                &["expected_version"][..],
            ),
            (
                "duplicate type",
                r#"{"type":"note_added","type":"note_added","data":{"text":"x"}}"#.to_owned(),
                &["type"],
            ),
            (
                "duplicate key in data",
                r#"{"type":"note_added","data":{"text":"a","text":"b"}}"#.to_owned(),
                &["data.text"],
            ),
        ]);
        run_422(parse_event_request, &cases);
    }

    fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
        let deep_arrays = "[".repeat(100_000).into_bytes();
        let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000)).into_bytes();
        let deep_in_data =
            format!(r#"{{"type":"note_added","data":{{"text":{}"x"{}}}}}"#, "[".repeat(200), "]".repeat(200))
                .into_bytes();
        vec![
            ("empty body", Vec::new()),
            ("white space only", b" \n\t ".to_vec()),
            ("unclosed object", b"{".to_vec()),
            ("missing value", br#"{"type": }"#.to_vec()),
            ("an array", b"[]".to_vec()),
            ("an array of an event", br#"[{"type":"note_added","data":{"text":"x"}}]"#.to_vec()),
            ("a string", br#""note_added""#.to_vec()),
            ("null", b"null".to_vec()),
            ("a number", b"42".to_vec()),
            ("true", b"true".to_vec()),
            ("two objects", b"{} {}".to_vec()),
            ("trailing comma", br#"{"a":1,}"#.to_vec()),
            ("single quotes", b"{'a':1}".to_vec()),
            ("comment", br#"{"a":1 /* x */}"#.to_vec()),
            ("NaN", br#"{"a":NaN}"#.to_vec()),
            ("number out of range", br#"{"expected_version":1e400}"#.to_vec()),
            ("not UTF-8", b"{\"text\":\"\xff\xfe\"}".to_vec()),
            ("Latin-1 bytes", b"{\"text\":\"Zo\xeb\"}".to_vec()),
            ("raw NUL in a string", b"{\"text\":\"a\x00b\"}".to_vec()),
            ("byte order mark", b"\xef\xbb\xbf{}".to_vec()),
            ("lone surrogate", br#"{"text":"\ud800"}"#.to_vec()),
            ("bad escape", br#"{"text":"\q"}"#.to_vec()),
            ("arrays nested 100000 deep", deep_arrays),
            ("objects nested 100000 deep", deep_objects),
            ("nesting past the limit inside data", deep_in_data),
        ]
    }

    #[test]
    fn malformed_bodies_are_400_on_both_endpoints() {
        let mut misses = Vec::new();
        for (label, body) in malformed_bodies() {
            let contact = parse_new_contact(&body, now());
            let event = parse_event_request(&body, now());
            for (endpoint, result) in [("contacts", contact.map(|_| ())), ("events", event.map(|_| ()))] {
                match result {
                    Err(invalid @ Invalid::Malformed(_)) => assert_eq!(invalid.status(), 400),
                    other => misses.push(format!("{label} ({endpoint}): want 400, got {other:?}")),
                }
            }
        }
        assert!(misses.is_empty(), "{}", misses.join("\n"));
    }

    #[test]
    fn a_non_object_top_level_says_so() {
        for body in [&b"[]"[..], b"\"x\"", b"null", b"3"] {
            assert_eq!(parse_event_request(body, now()), Err(Invalid::Malformed(NOT_OBJECT.to_owned())));
            assert_eq!(parse_new_contact(body, now()), Err(Invalid::Malformed(NOT_OBJECT.to_owned())));
        }
    }

    fn trim_strings(v: &mut Value) {
        match v {
            Value::String(s) => *s = s.trim().to_owned(),
            Value::Array(items) => items.iter_mut().for_each(trim_strings),
            Value::Object(map) => map.values_mut().for_each(trim_strings),
            _ => {}
        }
    }

    #[test]
    fn good_bodies_for_every_event_type_parse_trimmed() {
        let mut seen = Vec::new();
        for &t in EventType::ALL.iter().filter(|t| t.is_appendable()) {
            let body =
                set(set(good_ev(t), "/occurred_at", json!("2026-03-02T09:55:00Z")), "/expected_version", json!(3));
            let req = parse_event_request(body.to_string().as_bytes(), now()).unwrap_or_else(|e| panic!("{t}: {e}"));
            let mut data = good_data(t);
            trim_strings(&mut data);
            let expected = Event::from_data(t, &data.to_string()).unwrap();
            assert_eq!(req.event, expected, "{t}");
            assert_eq!(req.event.event_type(), t);
            assert_eq!(req.occurred_at, Some(Utc.with_ymd_and_hms(2026, 3, 2, 9, 55, 0).unwrap()));
            assert_eq!(req.expected_version, Some(3));
            assert!(check_event(&req.event, now()).is_empty(), "{t}");
            seen.push(t);
        }
        assert_eq!(seen.len(), EventType::ALL.len() - 3, "all but the types that open a stream");
    }

    #[test]
    fn a_good_event_body_spelled_out() {
        let body = br#"{"type":"decision_made","data":{"outcome":"assessment","rationale":"  s17 needed \n",
            "primary_need":"N4","revises":{"event_id":"01J5Z8Y3W1QK4N9T2V6X7B8C9D","reason":" new info "}}}"#;
        let req = parse_event_request(body, now()).unwrap();
        assert_eq!(
            req,
            EventRequest {
                event: Event::DecisionMade(DecisionMade {
                    outcome: Outcome::Assessment,
                    rationale: "s17 needed".into(),
                    level_of_need: None,
                    primary_need: Some(PrimaryNeed::N4),
                    revises: Some(Revises { event_id: ULID_A.parse().unwrap(), reason: "new info".into() }),
                    duplicate_of: None,
                    children: Vec::new(),
                    concern_categories: Vec::new(),
                }),
                occurred_at: None,
                expected_version: None,
                late_entry_reason: None,
            }
        );
        // Nulls for optional fields are absence; a correction's null value is a value.
        let body = br#"{"type":"triage_rated","data":{"rating":"amber","reason":null},"occurred_at":null,
            "expected_version":null}"#;
        let req = parse_event_request(body, now()).unwrap();
        assert_eq!(req.event, Event::TriageRated(TriageRated { rating: Rating::Amber, reason: None }));
        let body = br#"{"type":"correction_recorded","data":{"corrects_event_id":"01J5Z8Y3W1QK4N9T2V6X7B8C9D",
            "field":"children[0].upn","value":null,"reason":"UPN was wrong"}}"#;
        let Event::CorrectionRecorded(c) = parse_event_request(body, now()).unwrap().event else { panic!() };
        assert_eq!(c.value, Value::Null);
    }

    #[test]
    fn a_good_contact_is_trimmed_and_normalised() {
        let body = set(
            set(good_contact(), "/occurred_at", json!("2026-03-02T10:30:00+01:00")),
            "/referrer/organisation",
            json!("   "),
        );
        let contact = parse_new_contact(body.to_string().as_bytes(), now()).unwrap();
        assert_eq!(contact.occurred_at, Some(Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap()));
        let d = contact.data;
        assert_eq!(
            d.referrer,
            Referrer {
                name: "Ms Teacher".into(),
                organisation: None,
                role: Some("Designated safeguarding lead".into()),
                phone: Some("0115 496 0000".into()),
                email: Some("dsl@hill.sch.uk".into()),
            }
        );
        assert_eq!(
            d.children[0],
            Child {
                name: "Amy Smith".into(),
                date_of_birth: NaiveDate::from_ymd_opt(2018, 5, 1),
                sex: Some(Sex::Female),
                child_ref: Some("C-1".into()),
                nhs_number: Some("9434765919".into()),
                upn: Some("B801200005001".into()),
                ethnicity: Some("WBRI".into()),
                expected_date_of_birth: None,
                address: None,
            }
        );
        assert_eq!(d.children[1].name, "Ben Smith");
        assert_eq!(d.concerns, "Bruising on arm.\nSays dad hit her.");
        assert!(d.immediate_risk);
        assert_eq!(d.consent, Consent::Given);
        assert_eq!(d.channel, Channel::Phone);
        assert_eq!(d.source, SourceCode::School);

        // The smallest contact: defaults apply.
        let body = br#"{"channel":"online_form","source":"9","referrer":{"name":"Anon"},"children":[{"name":"Child"}],
            "concerns":"Shouting"}"#;
        let d = parse_new_contact(body, now()).unwrap().data;
        assert_eq!(d.consent, Consent::Unknown);
        assert!(!d.immediate_risk);

        // Edges that pass: an expected date 280 days ahead, a 25-year-old born today, a police
        // notification with its grade, an override with its reason.
        let body = set(
            set(
                set(
                    set(
                        set(
                            set(good_contact(), "/children/0/date_of_birth", Value::Null),
                            "/children/0/expected_date_of_birth",
                            json!("2026-12-07"),
                        ),
                        "/children/0/sex",
                        json!("U"),
                    ),
                    "/children/1/date_of_birth",
                    json!("2001-03-02"),
                ),
                "/channel",
                json!("police_notification"),
            ),
            "/ppn_grade",
            json!("medium"),
        );
        let body = set(set(body, "/consent", json!("overridden")), "/consent_override_reason", json!(" Risk "));
        let d = parse_new_contact(body.to_string().as_bytes(), now()).unwrap().data;
        assert_eq!(d.ppn_grade, Some(PpnGrade::Medium));
        assert_eq!(d.consent_override_reason.as_deref(), Some("Risk"));
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let body = set(good_contact(), "/children/0/nickname", json!("A"));
        let err = parse_new_contact(body.to_string().as_bytes(), now()).unwrap_err();
        assert_eq!(err, Invalid::Fields(vec![FieldError::new("children[0].nickname", "unknown field")]));

        let body = br#"{"type":"note_made","data":{}}"#;
        let err = parse_event_request(body, now()).unwrap_err();
        let message = &err.field_errors()[0].message;
        assert!(message.contains("note_added") && message.contains("decision_made"), "{message}");
        assert!(!message.contains("contact_received"), "{message}");

        let body = br#"{"type":"contact_received","data":{}}"#;
        let err = parse_event_request(body, now()).unwrap_err();
        assert_eq!(err.field_errors()[0].message, "contacts are created with POST /v1/contacts");

        let body = br#"{"type":"triage_rated","data":{"rating":"purple"}}"#;
        let err = parse_event_request(body, now()).unwrap_err();
        assert_eq!(err.field_errors()[0].message, "must be one of: red, amber, green, blue");

        let body = br#"{"type":"note_added","data":{"text":"a","text":"b"}}"#;
        let err = parse_event_request(body, now()).unwrap_err();
        assert_eq!(err, Invalid::Fields(vec![FieldError::new("data.text", DUPLICATE)]));
        assert!(err.to_string().contains("data.text"));
    }

    #[test]
    fn uk_postcodes_in_the_official_format() {
        for good in
            ["NG1 1AA", "SW1A 2AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX", "EC1A 1BB", "GIR 0AA"]
        {
            assert_eq!(check_postcode(good), Ok(()), "{good}");
        }
        for (given, normal) in [("ng11aa", "NG1 1AA"), (" sw1a  2aa ", "SW1A 2AA"), ("m1\t1ae", "M1 1AE")] {
            let normal_form = normal_postcode(given.trim());
            assert_eq!(normal_form, normal, "{given:?}");
        }
        for bad in [
            "NG11AA",   // not normalised: no space
            "ng1 1aa",  // not normalised: lower case
            "QA1 1AA",  // Q never first
            "AJ1 1AA",  // J never second
            "A1I 1AA",  // I not a third letter in A9A
            "AA1C 1AA", // C not a fourth letter in AA9A
            "NG1 1AC",  // C never in the inward code
            "NG1 AAA",  // the inward code starts with a digit
            "NG123 1AA",
            "90210",
            "",
            "N 1AA",
        ] {
            assert!(check_postcode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_contact_with_adults_and_addresses_is_normalised() {
        let body = set(
            set(good_contact(), "/children/1/address", json!({"line1": " 2 Mill Lane ", "postcode": " ng7  2rd "})),
            "/adults",
            json!([
                {"name": " Pat Smith ", "relationship": "parent", "date_of_birth": "1988-04-02",
                 "address": {"postcode": "ng72rd", "town": " "}},
                {"name": "Lee Brown", "relationship": "person_causing_concern", "address": {"town": " "}}
            ]),
        );
        let contact = parse_new_contact(body.to_string().as_bytes(), now()).unwrap();
        let d = contact.data;
        let address = d.children[1].address.as_ref().unwrap();
        assert_eq!((address.line1.as_deref(), address.postcode.as_deref()), (Some("2 Mill Lane"), Some("NG7 2RD")));
        assert_eq!(d.adults.len(), 2);
        assert_eq!(d.adults[0].name, "Pat Smith");
        assert_eq!(d.adults[0].relationship, Relationship::Parent);
        let pat = d.adults[0].address.as_ref().unwrap();
        assert_eq!((pat.postcode.as_deref(), pat.town.as_deref()), (Some("NG7 2RD"), None));
        // An address with nothing in it is no address.
        assert_eq!(d.adults[1].address, None);
    }

    #[test]
    fn nhs_numbers() {
        for good in ["9434765919", "4010232137"] {
            assert!(nhs_number_is_valid(good), "{good}");
        }
        for bad in ["9434765918", "0000000060", "943476591", "94347659190", "943 476 5919", "943476591a", ""] {
            assert!(!nhs_number_is_valid(bad), "{bad}");
        }
        assert_eq!(nhs_check_digit("943476591"), Some(9));
        assert_eq!(nhs_check_digit("401023213"), Some(7));
        assert_eq!(nhs_check_digit("000000006"), None); // the check comes to 10
        assert_eq!(nhs_check_digit("000000000"), Some(0)); // 11 becomes 0
    }

    #[test]
    fn unique_pupil_numbers() {
        // B801200005001: python-stdnum's example; A123456789012: the weighted sum is 368 = 16 x 23;
        // M80120000500A: a temporary UPN (the final letter A counts 0).
        for good in ["B801200005001", "A123456789012", "M80120000500A"] {
            assert!(upn_is_valid(good), "{good}");
        }
        for bad in ["A801200005001", "b801200005001", "B80120000500", "X80120000A001", "N80120000500I", "1801200005001"]
        {
            assert!(!upn_is_valid(bad), "{bad}");
        }
        assert_eq!(upn_check_letter("801200005001"), Some('B'));
        assert_eq!(upn_check_letter("80120000500A"), Some('M'));
        assert_eq!(upn_check_letter("80120000500S"), None);
    }

    #[test]
    fn check_event_refuses_what_normalise_would_fix() {
        let mut event = Event::NoteAdded(NoteAdded { text: "  padded ".into() });
        let errors = check_event(&event, now());
        assert_eq!(sorted_fields(&errors), ["text"]);
        normalise(&mut event);
        assert_eq!(event, Event::NoteAdded(NoteAdded { text: "padded".into() }));
        assert!(check_event(&event, now()).is_empty());

        let mut event = Event::ContactReceived(ContactReceived {
            channel: Channel::Email,
            source: SourceCode::Gp,
            referrer: Referrer { name: "Dr Who".into(), organisation: None, role: None, phone: None, email: None },
            children: vec![Child {
                name: "Kid".into(),
                date_of_birth: None,
                sex: None,
                child_ref: None,
                nhs_number: Some("401 023 2137".into()),
                upn: None,
                ethnicity: Some(" ".into()),
                expected_date_of_birth: None,
                address: None,
            }],
            concerns: "Weight loss".into(),
            immediate_risk: false,
            consent: Consent::NotGiven,
            consent_override_reason: None,
            ppn_grade: None,
            adults: Vec::new(),
            concern_categories: Vec::new(),
            follows_consultation: None,
        });
        assert_eq!(sorted_fields(&check_event(&event, now())), ["children[0].ethnicity", "children[0].nhs_number"]);
        normalise(&mut event);
        assert!(check_event(&event, now()).is_empty());
    }

    #[test]
    fn hostile_bodies_do_not_panic() {
        // Nesting just under serde_json's limit, in a correction's value, is fine.
        let deep = format!("{}{}", "[".repeat(120), "]".repeat(120));
        let body = format!(
            r#"{{"type":"correction_recorded","data":{{"corrects_event_id":"{ULID_A}","field":"f","value":{deep},"reason":"r"}}}}"#
        );
        assert!(parse_event_request(body.as_bytes(), now()).is_ok());
        // Nesting past it is a 400.
        let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
        let body = body.replace(&"[".repeat(120), &"[".repeat(130)).replace(&"]".repeat(120), &"]".repeat(130));
        assert!(body.contains(&deep));
        assert!(matches!(parse_event_request(body.as_bytes(), now()), Err(Invalid::Malformed(_))));

        // Duplicate keys: refused the same way every time.
        let body = br#"{"type":"note_added","data":{"text":"a"},"data":{"text":"b"}}"#;
        let first = parse_event_request(body, now());
        assert_eq!(first, Err(Invalid::Fields(vec![FieldError::new("data", DUPLICATE)])));
        assert_eq!(first, parse_event_request(body, now()));

        // A required field given as null.
        let body = br#"{"type":"handover_accepted","data":{"team":null}}"#;
        assert_eq!(
            parse_event_request(body, now()),
            Err(Invalid::Fields(vec![FieldError::new("data.team", REQUIRED)]))
        );

        // Escaped NUL is JSON (422 naming the field); a raw NUL byte is not (400).
        let body = br#"{"type":"note_added","data":{"text":"a\u0000b"}}"#;
        assert_eq!(sorted_fields(parse_event_request(body, now()).unwrap_err().field_errors()), ["data.text"]);
        let body = b"{\"type\":\"note_added\",\"data\":{\"text\":\"a\x00b\"}}";
        assert!(matches!(parse_event_request(body, now()), Err(Invalid::Malformed(_))));

        // Shape errors first (the unknown fields), then, once they are fixed, rule errors (the
        // empty names); many errors are capped.
        let children = vec![json!({"name": "", "nickname": 1}); 20];
        let body = set(good_contact(), "/children", json!(children)).to_string();
        let err = parse_new_contact(body.as_bytes(), now()).unwrap_err();
        assert!(err.field_errors().iter().all(|e| e.field.ends_with(".nickname")), "{err}");
        assert_eq!(err.field_errors().len(), 20);
        let children = vec![json!({"name": ""}); 20];
        let body = set(good_contact(), "/children", json!(children)).to_string();
        let err = parse_new_contact(body.as_bytes(), now()).unwrap_err();
        assert!(err.field_errors().iter().all(|e| e.field.ends_with(".name")), "{err}");
        assert_eq!(err.field_errors().len(), 20);
        let children = vec![json!({"nickname": 1, "sex": 2, "upn": 3}); 200];
        let body = set(good_contact(), "/children", json!(children)).to_string();
        let err = parse_new_contact(body.as_bytes(), now()).unwrap_err();
        assert_eq!(err.field_errors().len(), MAX_ERRORS);
    }

    /// Found by fuzzing (`ops/fuzz`, targets new_contact and event_request): a key `""`, unknown
    /// or given twice, was refused with a field error whose field was the empty string, which
    /// names nothing; a key such as `"a.b"` read as a nested path.
    #[test]
    fn bug_an_empty_or_odd_key_was_named_by_an_empty_or_ambiguous_path() {
        let fields = |body: &[u8], parse: fn(&[u8], DateTime<Utc>) -> Result<(), Invalid>| {
            parse(body, now()).unwrap_err().field_errors().iter().map(|e| e.field.clone()).collect::<Vec<_>>()
        };
        let event = |b: &[u8], now| parse_event_request(b, now).map(drop);
        let contact = |b: &[u8], now| parse_new_contact(b, now).map(drop);
        assert_eq!(fields(br#"{"":"triage_rated","n":1}"#, event), [r#"[""]"#, "n", "type", "data"]);
        assert_eq!(
            fields(br#"{"type":"note_added","data":{"text":"a","":1,"a.b":2," x":3}}"#, event),
            [r#"data[""]"#, r#"data["a.b"]"#, r#"data[" x"]"#]
        );
        let body = set(good_contact(), "/referrer/", json!(1)).to_string();
        assert_eq!(fields(body.as_bytes(), contact), [r#"referrer[""]"#]);
        let body = br#"{"channel":"phone","":"a","":"b"}"#;
        assert_eq!(parse_new_contact(body, now()), Err(Invalid::Fields(vec![FieldError::new(r#"[""]"#, DUPLICATE)])));
        // Plain names are unchanged.
        assert_eq!(fields(br#"{"type":"note_added","data":{"text":"a","nickname":1}}"#, event), ["data.nickname"]);
    }

    /// Found by fuzzing (`ops/fuzz`, the accepted-bodies-round-trip invariant): a number in a
    /// correction's `value` was read by serde_json's default, not always correctly rounded,
    /// float parser, so the accepted body, serialised again, parsed to a different number.
    /// Fixed by serde_json's `float_roundtrip` (workspace Cargo.toml).
    #[test]
    fn bug_a_number_in_a_correction_changed_when_read_again() {
        let body = format!(
            r#"{{"type":"correction_recorded","data":{{"corrects_event_id":"{ULID_A}","field":"f","value":[9.498360205037527e-84,-2.0676770989399425e-16],"reason":"r"}}}}"#
        );
        let accepted = parse_event_request(body.as_bytes(), now()).unwrap();
        let Event::CorrectionRecorded(c) = &accepted.event else { panic!("wrong variant") };
        assert_eq!(c.value, json!([9.498360205037527e-84, -2.0676770989399425e-16]));
        let again = serde_json::to_string(&accepted.event).unwrap();
        assert_eq!(parse_event_request(again.as_bytes(), now()).unwrap(), accepted);
    }

    #[test]
    fn mangled_bodies_never_panic() {
        let mut seeds: Vec<Vec<u8>> = vec![good_contact().to_string().into_bytes()];
        for &t in EventType::ALL {
            seeds.push(good_ev(t).to_string().into_bytes());
        }
        const NASTY: &[u8] = b"{}[]\":,\\0123456789-+.eE \x00\x1f\xff\xc3tfnul";
        let mut rng = fastrand::Rng::with_seed(0x5eed_f00d);
        for _ in 0..4000 {
            let mut body = seeds[rng.usize(..seeds.len())].clone();
            for _ in 0..rng.usize(1..4) {
                let byte = NASTY[rng.usize(..NASTY.len())];
                match rng.u8(..4) {
                    0 if !body.is_empty() => {
                        let i = rng.usize(..body.len());
                        body[i] = byte;
                    }
                    1 if !body.is_empty() => {
                        body.remove(rng.usize(..body.len()));
                    }
                    2 => body.insert(rng.usize(..=body.len()), byte),
                    _ => body.truncate(rng.usize(..=body.len())),
                }
            }
            let event = parse_event_request(&body, now());
            assert_eq!(event, parse_event_request(&body, now()));
            let contact = parse_new_contact(&body, now());
            for errors in [event.err(), contact.err()].iter().flatten().map(Invalid::field_errors) {
                assert!(errors.len() <= MAX_ERRORS);
            }
            if let Err(Invalid::Fields(errors)) = parse_new_contact(&body, now()) {
                assert!(!errors.is_empty());
            }
        }
    }

    /// One event of each type with every optional field set (struct literals: a field added to
    /// the schema fails to compile here until it is given a value, so the tests below see it).
    fn maximal_events() -> Vec<Event> {
        let id: ulid::Ulid = ULID_A.parse().unwrap();
        let s = |text: &str| text.to_owned();
        let child = Child {
            name: s("Amy"),
            date_of_birth: NaiveDate::from_ymd_opt(2018, 5, 1),
            sex: Some(Sex::Female),
            child_ref: Some(s("C1")),
            nhs_number: Some(s("9434765919")),
            upn: Some(s("B801200005001")),
            ethnicity: Some(s("WBRI")),
            expected_date_of_birth: None,
            address: Some(Address {
                line1: Some(s("1 High Street")),
                line2: Some(s("Flat 2")),
                town: Some(s("Nottingham")),
                postcode: Some(s("NG1 1AA")),
            }),
        };
        vec![
            Event::ContactReceived(ContactReceived {
                channel: Channel::PoliceNotification,
                source: SourceCode::Police,
                referrer: Referrer {
                    name: s("PC Jones"),
                    organisation: Some(s("Notts Police")),
                    role: Some(s("MASH officer")),
                    phone: Some(s("+44 115 496 0000")),
                    email: Some(s("pc@police.uk")),
                },
                children: vec![child.clone()],
                concerns: s("DA incident"),
                immediate_risk: true,
                consent: Consent::Overridden,
                consent_override_reason: Some(s("risk")),
                ppn_grade: Some(PpnGrade::High),
                adults: vec![Adult {
                    name: s("Pat"),
                    date_of_birth: NaiveDate::from_ymd_opt(1990, 1, 2),
                    relationship: Relationship::Parent,
                    address: Some(Address {
                        line1: Some(s("1 High Street")),
                        line2: Some(s("Flat 2")),
                        town: Some(s("Nottingham")),
                        postcode: Some(s("NG1 1AA")),
                    }),
                }],
                concern_categories: Vec::new(),
                follows_consultation: Some(id),
            }),
            Event::ConsultationRecorded(ConsultationRecorded {
                agency: Agency::Education,
                source: SourceCode::Police,
                advice: s("a"),
                children: vec![child],
                concern_categories: Vec::new(),
            }),
            Event::TriageRated(TriageRated { rating: Rating::Red, reason: Some(s("r")) }),
            Event::CallLogged(CallLogged {
                direction: CallDirection::Inbound,
                with: CallWith::Agency,
                started_at: now(),
                duration_seconds: 60,
                summary: s("s"),
            }),
            Event::ChecksRequested(ChecksRequested { agency: Agency::Housing, request: s("r") }),
            Event::ChecksReturned(ChecksReturned { agency: Agency::Probation, summary: s("s"), restricted: true }),
            Event::DutyDiscussionHeld(DutyDiscussionHeld {
                participants: vec![Participant { name: s("n"), role: s("r"), agency: Agency::Health }],
                summary: s("s"),
                needs: vec![s("n")],
                recommendation: Some(Outcome::EarlyHelp),
            }),
            Event::ConsentRecorded(ConsentRecorded { consent: Consent::Given, reason: Some(s("r")) }),
            Event::DecisionMade(DecisionMade {
                outcome: Outcome::StrategyDiscussion,
                rationale: s("r"),
                level_of_need: Some(4),
                primary_need: Some(PrimaryNeed::N1),
                revises: Some(Revises { event_id: id, reason: s("r") }),
                duplicate_of: None,
                children: Vec::new(),
                concern_categories: Vec::new(),
            }),
            Event::ActionPlanAgreed(ActionPlanAgreed {
                actions: vec![PlannedAction {
                    owner_agency: Agency::EarlyHelp,
                    description: s("d"),
                    due: NaiveDate::from_ymd_opt(2026, 4, 1),
                }],
                referrer_role: Some(s("r")),
            }),
            Event::ReferrerInformed(ReferrerInformed { method: InformMethod::Letter, summary: s("s") }),
            Event::HandoverSent(HandoverSent { to: HandoverTo::Tafso, team: Some(s("t")), notes: Some(s("n")) }),
            Event::HandoverAccepted(HandoverAccepted { team: s("t"), worker: Some(s("w")), evidence: None }),
            Event::HandoverReturned(HandoverReturned { reason: s("r") }),
            Event::ContactClosed(ContactClosed { reason: s("r") }),
            Event::NoteAdded(NoteAdded { text: s("t") }),
            Event::CorrectionRecorded(CorrectionRecorded {
                corrects_event_id: id,
                field: s("f"),
                value: json!({"a": [1, 2]}),
                reason: s("r"),
            }),
            Event::AuditFindingRecorded(AuditFindingRecorded { grade: AuditGrade::Inadequate, findings: s("f") }),
            Event::ChildrenLinked(ChildrenLinked { child_index: 0, child_id: s("C1"), reason: s("r") }),
            Event::ChildrenUnlinked(ChildrenUnlinked { child_index: 1, child_id: s("C1"), reason: s("r") }),
            Event::ContactAllocated(ContactAllocated { worker: s("w") }),
            Event::ReferrerFeedbackGiven(ReferrerFeedbackGiven {
                listened_to: 5,
                knows_next_steps: 1,
                comment: Some(s("c")),
            }),
            Event::ActionCompleted(ActionCompleted {
                plan_event_id: ulid::Ulid::nil(),
                action_index: 0,
                note: Some(s("n")),
            }),
            Event::DutyDebriefRecorded(DutyDebriefRecorded {
                date: now().date_naive(),
                team: s("MASH duty A"),
                staff_on_duty: Some(4),
                staff_expected: Some(6),
                recorded: Some(s("r")),
                multi_agency_value: Some(s("m")),
                notes: Some(s("n")),
            }),
            Event::StrategyDiscussionHeld(StrategyDiscussionHeld {
                held_at: now(),
                agencies: vec![Agency::Police],
                outcome: StrategyOutcome::Other,
            }),
        ]
    }

    fn data_shape(t: EventType) -> Shape {
        struct ShapeOf;
        impl DataVisitor for ShapeOf {
            type Output = Shape;
            fn visit<D: EventData>(self) -> Shape {
                D::SHAPE
            }
        }
        t.with_data(ShapeOf)
    }

    /// Every field's JSON pointer and contract path, with whether it may be removed.
    fn field_pointers(value: &Value, shape: &Shape, pointer: &str, path: &str, out: &mut Vec<(String, String, bool)>) {
        match shape {
            Shape::Object { fields, .. } => {
                for f in *fields {
                    let Some(v) = value.get(f.name) else { continue };
                    let (p, q) = (format!("{pointer}/{}", f.name), join(path, f.name));
                    out.push((p.clone(), q.clone(), true));
                    field_pointers(v, &f.shape, &p, &q, out);
                }
            }
            Shape::List { item, .. } => {
                if let Some(first) = value.get(0) {
                    let (p, q) = (format!("{pointer}/0"), format!("{path}[0]"));
                    out.push((p.clone(), q.clone(), false));
                    field_pointers(first, item, &p, &q, out);
                }
            }
            _ => {}
        }
    }

    /// Every length the shapes give (the OpenAPI document's `maxLength` and `maxItems`) is one
    /// the rules enforce, at the same number.
    #[test]
    fn the_rules_enforce_the_limits_of_the_shapes() {
        use crate::shape::Text;
        fn limits(value: &Value, shape: &Shape, pointer: &str, path: &str, out: &mut Vec<(String, String, usize)>) {
            let Shape::Object { fields, .. } = shape else { return };
            for f in *fields {
                let Some(v) = value.get(f.name) else { continue };
                let (p, q) = (format!("{pointer}/{}", f.name), join(path, f.name));
                match f.shape {
                    Shape::Text(Text::Short | Text::Name | Text::Phone) => out.push((p, q, SHORT_MAX)),
                    Shape::Text(Text::Long) => out.push((p, q, LONG_MAX)),
                    Shape::Text(Text::Email) => out.push((p, q, EMAIL_MAX)),
                    Shape::Object { .. } => limits(v, &f.shape, &p, &q, out),
                    Shape::List { item, max, .. } => {
                        out.push((p.clone(), q.clone(), max));
                        match (v.get(0), item) {
                            (Some(_), Shape::Text(_)) => out.push((format!("{p}/0"), format!("{q}[0]"), SHORT_MAX)),
                            (Some(first), _) => limits(first, item, &format!("{p}/0"), &format!("{q}[0]"), out),
                            (None, _) => {}
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut checked = 0;
        for event in maximal_events() {
            let t = event.event_type();
            let data: Value = serde_json::from_str(event.data_json().get()).unwrap();
            let mut found = Vec::new();
            limits(&data, &data_shape(t), "", "", &mut found);
            for (pointer, path, max) in found {
                let over = match data.pointer(&pointer).unwrap() {
                    Value::Array(items) => Value::Array(vec![items[0].clone(); max + 1]),
                    _ => Value::String("x".repeat(max + 1)),
                };
                let mutant = set(data.clone(), &pointer, over);
                let event = Event::from_data(t, &mutant.to_string()).unwrap();
                let errors = check_event(&event, now());
                assert!(
                    errors.iter().any(|e| e.field == path && e.message.contains(&max.to_string())),
                    "{t} {path} over {max}: {errors:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 30, "{checked}");
    }

    #[test]
    fn the_walk_agrees_with_the_schema() {
        let events = maximal_events();
        assert_eq!(events.len(), EventType::ALL.len());
        let mut checked = 0;
        for event in events {
            let t = event.event_type();
            assert!(check_event(&event, now()).is_empty(), "{t}: {:?}", check_event(&event, now()));
            let data: Value = serde_json::from_str(event.data_json().get()).unwrap();
            let shape = data_shape(t);
            let mut errors = Vec::new();
            walk(&data, &shape, "", &mut errors);
            assert!(errors.is_empty(), "{t}: {errors:?}");
            let mut pointers = Vec::new();
            field_pointers(&data, &shape, "", "", &mut pointers);
            // Every field of the maximal example is described (a description missing one would
            // have reported it as unknown above); now mutate each and compare verdicts.
            for (pointer, path, removable) in pointers {
                let mut mutants = vec![
                    ("null", set(data.clone(), &pointer, Value::Null)),
                    ("object", set(data.clone(), &pointer, json!({"x": 1}))),
                    ("fraction", set(data.clone(), &pointer, json!(1.5))),
                    ("number", set(data.clone(), &pointer, json!(7))),
                    ("string", set(data.clone(), &pointer, json!("zz"))),
                    ("bool", set(data.clone(), &pointer, json!(true))),
                    ("array", set(data.clone(), &pointer, json!(["zz"]))),
                ];
                if removable {
                    mutants.push(("removed", del(data.clone(), &pointer)));
                }
                for (how, mutant) in mutants {
                    let serde_ok = Event::from_data(t, &mutant.to_string()).is_ok();
                    let mut errors = Vec::new();
                    walk(&mutant, &shape, "", &mut errors);
                    // What the walk passes, serde takes. The walk refuses more in two ways only:
                    // a struct given as an array of its fields, an enum given as a map.
                    let stricter = matches!(how, "array" | "object");
                    assert!(
                        serde_ok == errors.is_empty() || (stricter && serde_ok),
                        "{t} {path} {how}: serde ok {serde_ok}, walk {errors:?}"
                    );
                    // The walk names the mutated field (or fields inside it, when an object
                    // was replaced by another object).
                    for e in &errors {
                        let inside = e.field == path
                            || e.field.starts_with(&format!("{path}."))
                            || e.field.starts_with(&format!("{path}["));
                        assert!(inside, "{t} {path} {how}: {errors:?}");
                    }
                    checked += 1;
                }
            }
            // An unknown key in every object.
            let mut objects = vec![String::new()];
            let mut pointers = Vec::new();
            field_pointers(&data, &shape, "", "", &mut pointers);
            objects.extend(
                pointers
                    .into_iter()
                    .filter(|(p, _, _)| data.pointer(p).is_some_and(Value::is_object))
                    .map(|(p, _, _)| p),
            );
            for object in objects {
                if t == EventType::CorrectionRecorded && object == "/value" {
                    continue; // any JSON
                }
                let mutant = set(data.clone(), &format!("{object}/zz_unknown"), json!(1));
                assert!(Event::from_data(t, &mutant.to_string()).is_err(), "{t} {object}");
                let mut errors = Vec::new();
                walk(&mutant, &shape, "", &mut errors);
                assert_eq!(errors.len(), 1, "{t} {object}: {errors:?}");
                assert!(errors[0].field.ends_with("zz_unknown") && errors[0].message == UNKNOWN_FIELD);
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn bug_names_could_hide_bidi_overrides_or_be_invisible() {
        let refused = |body: &Value, parse: fn(&[u8], DateTime<Utc>) -> Result<(), Invalid>| -> Vec<FieldError> {
            match parse(body.to_string().as_bytes(), now()) {
                Err(invalid @ Invalid::Fields(_)) => invalid.field_errors().to_vec(),
                other => panic!("want 422 for {body}, got {other:?}"),
            }
        };
        let contact: fn(&[u8], DateTime<Utc>) -> Result<(), Invalid> = |b, now| parse_new_contact(b, now).map(drop);
        let event: fn(&[u8], DateTime<Utc>) -> Result<(), Invalid> = |b, now| parse_event_request(b, now).map(drop);
        // Each bidirectional override, embedding and isolate, in each kind of name.
        for bidi in
            ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']
        {
            let name = format!("Amy {bidi}htimS");
            for (pointer, field) in [("/children/1/name", "children[1].name"), ("/referrer/name", "referrer.name")] {
                let errors = refused(&set(good_contact(), pointer, json!(name)), contact);
                assert_eq!(sorted_fields(&errors), [field], "{bidi:?}");
                assert!(errors[0].message.contains("bidirectional"), "{}", errors[0].message);
            }
            let body = set(good_ev(EventType::DutyDiscussionHeld), "/data/participants/1/name", json!(name));
            assert_eq!(sorted_fields(&refused(&body, event)), ["data.participants[1].name"], "{bidi:?}");
        }
        // Names of nothing visible: zero-width characters, a byte order mark, a soft hyphen.
        for blank in ["\u{200B}", "\u{FEFF}", "\u{200C}\u{200D}", "\u{AD}", "\u{2060} \u{200B}"] {
            let errors = refused(&set(good_contact(), "/children/0/name", json!(blank)), contact);
            assert_eq!(sorted_fields(&errors), ["children[0].name"], "{blank:?}");
            assert!(errors[0].message.contains("visible"), "{}", errors[0].message);
            let errors = refused(&set(good_contact(), "/referrer/name", json!(blank)), contact);
            assert_eq!(sorted_fields(&errors), ["referrer.name"], "{blank:?}");
        }
        // Names that merely hold an invisible character, in other scripts, or a directional
        // mark (not an override) are taken as they are.
        for fine in
            ["\u{FEFF}Zo\u{EB}", "Zoe\u{308}", "Zo\u{200B}\u{EB}", "\u{627}\u{644}\u{639}\u{644}\u{627}", "Amy\u{200F}"]
        {
            let parsed =
                parse_new_contact(set(good_contact(), "/children/0/name", json!(fine)).to_string().as_bytes(), now());
            assert_eq!(parsed.map(|c| c.data.children[0].name.clone()).ok().as_deref(), Some(fine));
        }
    }
}
