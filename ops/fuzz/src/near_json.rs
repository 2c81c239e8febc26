//! Near-valid JSON for the validators, built with the `arbitrary` crate from the schema's
//! own vocabulary: field names, enumeration values, dates, timestamps and ULIDs near the
//! valid ranges, texts with white space and control characters at their edges. Random bytes
//! rarely get past the JSON parser; these bodies are always JSON, and mostly the right shape.

use arbitrary::Arbitrary;
use events::EventType;
use events::envelope::Role;
use events::schema::{
    Agency, AuditGrade, CallDirection, CallWith, Channel, Consent, HandoverTo, InformMethod, Outcome, PpnGrade,
    PrimaryNeed, Rating, Sex, SourceCode,
};
use serde_json::{Map, Value};

/// Every field name of the two request bodies and of every event's `data`.
const KEYS: &[&str] = &[
    "type",
    "data",
    "occurred_at",
    "expected_version",
    "channel",
    "source",
    "referrer",
    "name",
    "organisation",
    "role",
    "phone",
    "email",
    "children",
    "date_of_birth",
    "sex",
    "child_ref",
    "nhs_number",
    "upn",
    "ethnicity",
    "concerns",
    "immediate_risk",
    "consent",
    "consent_override_reason",
    "ppn_grade",
    "rating",
    "reason",
    "direction",
    "with",
    "started_at",
    "duration_seconds",
    "summary",
    "agency",
    "request",
    "restricted",
    "participants",
    "needs",
    "recommendation",
    "outcome",
    "rationale",
    "level_of_need",
    "primary_need",
    "revises",
    "event_id",
    "actions",
    "owner_agency",
    "description",
    "due",
    "referrer_role",
    "method",
    "to",
    "team",
    "notes",
    "worker",
    "text",
    "corrects_event_id",
    "field",
    "value",
    "grade",
    "findings",
    "",
];

/// Every enumeration value of the schema, and a few near misses.
fn words() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    out.extend(EventType::ALL.iter().map(|v| v.as_str()));
    out.extend(Channel::ALL.iter().map(|v| v.as_str()));
    out.extend(SourceCode::ALL.iter().map(|v| v.as_str()));
    out.extend(Sex::ALL.iter().map(|v| v.as_str()));
    out.extend(Consent::ALL.iter().map(|v| v.as_str()));
    out.extend(PpnGrade::ALL.iter().map(|v| v.as_str()));
    out.extend(Rating::ALL.iter().map(|v| v.as_str()));
    out.extend(CallDirection::ALL.iter().map(|v| v.as_str()));
    out.extend(CallWith::ALL.iter().map(|v| v.as_str()));
    out.extend(Agency::ALL.iter().map(|v| v.as_str()));
    out.extend(Outcome::ALL.iter().map(|v| v.as_str()));
    out.extend(PrimaryNeed::ALL.iter().map(|v| v.as_str()));
    out.extend(InformMethod::ALL.iter().map(|v| v.as_str()));
    out.extend(HandoverTo::ALL.iter().map(|v| v.as_str()));
    out.extend(AuditGrade::ALL.iter().map(|v| v.as_str()));
    out.extend(Role::ALL.iter().map(|v| v.as_str()));
    out.extend([
        "Phone",
        "1a",
        "m",
        "943 476 5919",
        "9434765919",
        "9434765918",
        "A123456789012",
        "a12345678901b",
        "01632 960123",
        "+44 7700 900123",
        "name@example.org",
        "@example.org",
        "name@.org",
        "Duty Team A",
        "A Teacher",
        "Child One",
    ]);
    out
}

/// A JSON value, mostly from the vocabulary.
#[derive(Debug, Arbitrary)]
pub enum Node {
    Null,
    Bool(bool),
    Small(u8),
    Int(i64),
    Float(f64),
    Word(u8),
    Text(Text),
    Date(u8, u8, u8),
    Time(Time),
    Ulid(u128),
    Array(Vec<Node>),
    Object(Vec<(Key, Node)>),
}

/// An object key: a field name of the schema, or anything.
#[derive(Debug, Arbitrary)]
pub enum Key {
    Known(u8),
    Other(String),
}

/// A string with white space, control characters or length at its edges.
#[derive(Debug, Arbitrary)]
pub enum Text {
    Plain(String),
    Padded(u8, String, u8),
    Repeated(char, u16),
}

/// A timestamp near the validators' clock (2026-12-01), with or without a zone.
#[derive(Debug, Arbitrary)]
pub struct Time {
    year: u8,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    fraction: Option<u32>,
    zone: u8,
}

/// A body for `POST /v1/contacts/{id}/events`: a type, a data object and the optional fields.
#[derive(Debug, Arbitrary)]
pub struct EventBody {
    event_type: u8,
    data: Vec<(Key, Node)>,
    occurred_at: Option<Time>,
    expected_version: Option<Node>,
    extra: Vec<(Key, Node)>,
}

const DEPTH: usize = 6;
const PAD: &[&str] = &["", " ", "\t", "\n", "\u{a0}", "\u{2028}", "\u{0}", "\u{7f}", "\u{85}", "\r\n", "\u{feff}"];

impl Key {
    fn render(&self) -> String {
        match self {
            Key::Known(i) => KEYS[usize::from(*i) % KEYS.len()].to_owned(),
            Key::Other(s) => s.clone(),
        }
    }
}

impl Text {
    fn render(&self) -> String {
        match self {
            Text::Plain(s) => s.clone(),
            Text::Padded(before, s, after) => {
                format!("{}{s}{}", PAD[usize::from(*before) % PAD.len()], PAD[usize::from(*after) % PAD.len()])
            }
            // Around the 200 and 10,000 character limits.
            Text::Repeated(c, n) => {
                let n = match n % 4 {
                    0 => 199 + usize::from(n % 3),
                    1 => 9_999 + usize::from(n % 3),
                    _ => usize::from(*n % 300),
                };
                std::iter::repeat_n(*c, n).collect()
            }
        }
    }
}

impl Time {
    fn render(&self) -> String {
        let fraction = self.fraction.map(|f| format!(".{}", f % 1_000_000_000)).unwrap_or_default();
        let zone = match self.zone % 6 {
            0 | 1 => "Z".to_owned(),
            2 => "+01:00".to_owned(),
            3 => "-11:30".to_owned(),
            4 => String::new(),
            _ => "z".to_owned(),
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{zone}",
            1999 + u32::from(self.year % 30),
            self.month % 14,
            self.day % 33,
            self.hour % 25,
            self.minute % 61,
            self.second % 62,
        )
    }
}

impl Node {
    fn render(&self, words: &[&str], depth: usize) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Small(n) => Value::from(*n),
            Node::Int(n) => Value::from(*n),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Word(i) => Value::from(words[usize::from(*i) % words.len()]),
            Node::Text(t) => Value::from(t.render()),
            Node::Date(y, m, d) => Value::from(format!("{:04}-{:02}-{:02}", 1998 + u32::from(*y % 32), m % 14, d % 33)),
            Node::Time(t) => Value::from(t.render()),
            Node::Ulid(n) => Value::from(ulid::Ulid::from(*n).to_string()),
            Node::Array(items) if depth < DEPTH => {
                Value::Array(items.iter().map(|n| n.render(words, depth + 1)).collect())
            }
            Node::Object(fields) if depth < DEPTH => Value::Object(object(fields, words, depth + 1)),
            Node::Array(_) | Node::Object(_) => Value::Null,
        }
    }
}

fn object(fields: &[(Key, Node)], words: &[&str], depth: usize) -> Map<String, Value> {
    // A repeated key would be lost in a map; the byte-level targets cover duplicates.
    fields.iter().map(|(k, v)| (k.render(), v.render(words, depth))).collect()
}

impl EventBody {
    /// The body as JSON: `{"type", "data", "occurred_at"?, "expected_version"?, ...}`.
    pub fn to_json(&self) -> Value {
        let words = words();
        let mut map = object(&self.extra, &words, 1);
        let event_type = EventType::ALL[usize::from(self.event_type) % EventType::ALL.len()];
        map.insert("type".into(), event_type.as_str().into());
        map.insert("data".into(), Value::Object(object(&self.data, &words, 1)));
        if let Some(at) = &self.occurred_at {
            map.insert("occurred_at".into(), at.render().into());
        }
        if let Some(v) = &self.expected_version {
            map.insert("expected_version".into(), v.render(&words, 1));
        }
        Value::Object(map)
    }

    /// The `data` object alone, with `occurred_at`: a body for `POST /v1/contacts`.
    pub fn contact_json(&self) -> Value {
        let words = words();
        let mut map = object(&self.data, &words, 1);
        if let Some(at) = &self.occurred_at {
            map.insert("occurred_at".into(), at.render().into());
        }
        Value::Object(map)
    }
}
