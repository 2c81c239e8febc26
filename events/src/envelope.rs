//! The envelope every event is stored in and its hash chain.
//!
//! The hash covers the envelope's *body*: the envelope without its hash as compact JSON, and
//! `hash = SHA-256(prev_hash ‖ body)`. The body's bytes are exactly what the API and an export
//! show (the field order is fixed here), so anyone holding an export can recompute every hash
//! with a stock SHA-256. How a body is framed on disk (with a checksum) is the log's business:
//! see `eventlog::record`.

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::schema::{self, Agency, DecodeError, Event, EventType};

/// A user's role: what they may read and append (see the REST contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Referrer,
    Practitioner,
    DecisionMaker,
    Partner,
    Auditor,
    Admin,
    /// A receiving team (the Assessment Team, Early Help): reads and answers the handovers
    /// sent to its own team.
    ReceivingTeam,
    /// A monitoring system (Prometheus): reads `/metrics` and nothing else.
    Monitor,
}

impl Role {
    /// Every role.
    pub const ALL: &'static [Role] = &[
        Role::Referrer,
        Role::Practitioner,
        Role::DecisionMaker,
        Role::Partner,
        Role::Auditor,
        Role::Admin,
        Role::ReceivingTeam,
        Role::Monitor,
    ];

    /// The role's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Referrer => "referrer",
            Role::Practitioner => "practitioner",
            Role::DecisionMaker => "decision_maker",
            Role::Partner => "partner",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::ReceivingTeam => "receiving_team",
            Role::Monitor => "monitor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = schema::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| schema::UnknownValue { kind: "Role", value: s.to_owned() })
    }
}

/// Who appended an event: always taken from the authenticated token, never from a body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub id: String,
    pub role: Role,
    pub agency: Agency,
    /// The team a receiving-team actor belongs to (e.g. "AT North"); absent for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

impl Actor {
    /// An actor outside any receiving team.
    pub fn new(id: impl Into<String>, role: Role, agency: Agency) -> Actor {
        Actor { id: id.into(), role, agency, team: None }
    }
}

/// A SHA-256 digest, shown as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev_hash` of the first event.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Hash {
    /// Lowercase hex, written into `buf` (no allocation).
    fn hex_in<'b>(&self, buf: &'b mut [u8; 64]) -> &'b str {
        hex::encode_to_slice(self.0, buf).expect("64 hex digits for 32 bytes");
        std::str::from_utf8(buf).expect("hex digits are ASCII")
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hex_in(&mut [0; 64]))
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(WithStr(|text: &str| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(text.as_bytes(), &mut out).map(|()| Hash(out))
        }))
    }
}

/// A visitor that reads a string in place, borrowed when the input allows (an escaped string
/// is unescaped into serde_json's scratch buffer), and converts it with `F`. Unlike
/// deserializing a `Cow<str>` or a `String` first, it allocates nothing: the log's reads
/// parse three such strings (two timestamps, a hash) in every event.
struct WithStr<F>(F);

impl<T, E: fmt::Display, F: FnOnce(&str) -> Result<T, E>> serde::de::Visitor<'_> for WithStr<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<Er: serde::de::Error>(self, v: &str) -> Result<T, Er> {
        (self.0)(v).map_err(Er::custom)
    }
}

/// Timestamps on the wire: RFC 3339 in UTC with a `Z`, fractional seconds only when non-zero.
pub mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        match format_in(t, &mut [0; MAX_LEN]) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&format(t)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        d.deserialize_str(super::WithStr(|text: &str| {
            DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
        }))
    }

    /// The canonical text of a timestamp.
    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// The longest text [`format_in`] writes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
    pub(crate) const MAX_LEN: usize = 30;

    /// [`format`]'s text written into `buf` without allocating, for the years 0 to 9999 and
    /// outside a leap second; `None` otherwise (then [`format`] writes it).
    pub(crate) fn format_in<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; MAX_LEN]) -> Option<&'b str> {
        use chrono::{Datelike, Timelike};
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nano = t.nanosecond();
        if nano >= 1_000_000_000 {
            return None;
        }
        let mut len = 0;
        // `width` digits of `value`, then `after`.
        let mut put = |value: u32, width: u32, after: u8| {
            for i in (0..width).rev() {
                buf[len] = b'0' + u8::try_from(value / 10u32.pow(i) % 10).expect("one digit");
                len += 1;
            }
            buf[len] = after;
            len += 1;
        };
        put(year, 4, b'-');
        put(t.month(), 2, b'-');
        put(t.day(), 2, b'T');
        put(t.hour(), 2, b':');
        put(t.minute(), 2, b':');
        // AutoSi: no fraction for whole seconds, else 3, 6 or 9 digits, the fewest that are exact.
        if nano == 0 {
            put(t.second(), 2, b'Z');
        } else {
            put(t.second(), 2, b'.');
            let (value, width) = if nano % 1_000_000 == 0 {
                (nano / 1_000_000, 3)
            } else if nano % 1_000 == 0 {
                (nano / 1_000, 6)
            } else {
                (nano, 9)
            };
            put(value, width, b'Z');
        }
        std::str::from_utf8(&buf[..len]).ok()
    }
}

/// One stored event with its place in the log and in its contact's stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Global position: gapless, from 1.
    pub position: u64,
    pub event_id: Ulid,
    /// The stream: one contact.
    pub contact_id: Ulid,
    /// Version within the contact's stream: gapless, from 1.
    pub version: u32,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The schema version `data` was written under.
    pub schema_version: u16,
    /// When it happened in the world.
    #[serde(with = "timestamp")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub occurred_at: DateTime<Utc>,
    /// Why it was recorded more than the late-entry window after it occurred (absent
    /// otherwise, and in every event written before the rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_entry_reason: Option<String>,
    /// When the log recorded it (server clock).
    #[serde(with = "timestamp")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub recorded_at: DateTime<Utc>,
    pub actor: Actor,
    /// The event's data, shaped by its `type` (see the event schemas).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Box<RawValue>,
    /// SHA-256 of the previous envelope, 64 hex characters (zeros for the first).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub prev_hash: Hash,
    /// SHA-256(prev_hash ‖ this envelope without `hash`), 64 hex characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: Hash,
}

impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        self.position == other.position
            && self.event_id == other.event_id
            && self.contact_id == other.contact_id
            && self.version == other.version
            && self.event_type == other.event_type
            && self.schema_version == other.schema_version
            && self.occurred_at == other.occurred_at
            && self.late_entry_reason == other.late_entry_reason
            && self.recorded_at == other.recorded_at
            && self.actor == other.actor
            && self.data.get() == other.data.get()
            && self.prev_hash == other.prev_hash
            && self.hash == other.hash
    }
}

/// The envelope without its hash, borrowed: the bytes the hash covers.
#[derive(Serialize)]
struct Body<'a> {
    position: u64,
    event_id: Ulid,
    contact_id: Ulid,
    version: u32,
    #[serde(rename = "type")]
    event_type: EventType,
    schema_version: u16,
    #[serde(with = "timestamp")]
    occurred_at: &'a DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    late_entry_reason: Option<&'a str>,
    #[serde(with = "timestamp_ref")]
    recorded_at: &'a DateTime<Utc>,
    actor: &'a Actor,
    data: &'a RawValue,
    prev_hash: Hash,
}

mod timestamp_ref {
    use chrono::{DateTime, Utc};
    use serde::Serializer;
    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub fn serialize<S: Serializer>(t: &&DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        super::timestamp::serialize(t, s)
    }
}

/// An envelope's body in the pieces its appender knows before the log places the event: all
/// but `position`, `version`, `recorded_at` and `prev_hash`, which only the log's writer can
/// set. Encoding them ahead (on the appender's thread) leaves the writer, which commits one
/// group at a time, to splice in four short values: [`BodyParts::write_body`] gives exactly
/// the bytes of [`Envelope::canonical_body`].
#[derive(Debug, Clone)]
pub struct BodyParts {
    /// `"event_id":…,"contact_id":…` ‖ `"type":…,"schema_version":…,"occurred_at":…` (and
    /// `,"late_entry_reason":…` when there is one) ‖ `"actor":…,"data":…`, as compact JSON
    /// members.
    bytes: Vec<u8>,
    /// Where the second and the third piece start.
    splits: [usize; 2],
}

#[derive(Serialize)]
struct Ids {
    event_id: Ulid,
    contact_id: Ulid,
}

#[derive(Serialize)]
struct What<'a> {
    #[serde(rename = "type")]
    event_type: EventType,
    schema_version: u16,
    #[serde(with = "timestamp_ref")]
    occurred_at: &'a DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    late_entry_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct Who<'a> {
    actor: &'a Actor,
    data: &'a RawValue,
}

/// A timestamp alone, as [`timestamp`] writes it.
struct Timestamp<'a>(&'a DateTime<Utc>);

impl Serialize for Timestamp<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        timestamp::serialize(self.0, s)
    }
}

/// Appends `value` (a struct) as compact JSON members, without the braces around them.
fn members<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    json(out, value);
    debug_assert!(out[start] == b'{' && out.last() == Some(&b'}'));
    out.pop();
    out.copy_within(start + 1.., start);
    out.pop();
}

/// Appends `value` as compact JSON (writing to a `Vec` cannot fail).
fn json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(&mut *out, value).expect("envelope fields serialise");
}

impl BodyParts {
    /// The pieces of the body of an event of `contact_id` with these fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        event_id: Ulid,
        contact_id: Ulid,
        event_type: EventType,
        schema_version: u16,
        occurred_at: &DateTime<Utc>,
        late_entry_reason: Option<&str>,
        actor: &Actor,
        data: &RawValue,
    ) -> BodyParts {
        let mut bytes = Vec::with_capacity(data.get().len() + 256);
        members(&mut bytes, &Ids { event_id, contact_id });
        let what = bytes.len();
        members(&mut bytes, &What { event_type, schema_version, occurred_at, late_entry_reason });
        let who = bytes.len();
        members(&mut bytes, &Who { actor, data });
        BodyParts { bytes, splits: [what, who] }
    }

    /// Bytes [`write_body`](Self::write_body) adds at most besides the pieces.
    pub const PLACED_BYTES: usize = 250;

    /// Bytes of the body this writes: the pieces and the placed values.
    pub fn len_hint(&self) -> usize {
        self.bytes.len() + Self::PLACED_BYTES
    }

    /// Appends the canonical body of the event placed at `position`, `version`, recorded at
    /// `recorded_at` after the event whose hash is `prev_hash`.
    pub fn write_body(
        &self,
        out: &mut Vec<u8>,
        position: u64,
        version: u32,
        recorded_at: &DateTime<Utc>,
        prev_hash: &Hash,
    ) {
        let [what, who] = self.splits;
        out.extend_from_slice(b"{\"position\":");
        json(out, &position);
        out.push(b',');
        out.extend_from_slice(&self.bytes[..what]);
        out.extend_from_slice(b",\"version\":");
        json(out, &version);
        out.push(b',');
        out.extend_from_slice(&self.bytes[what..who]);
        out.extend_from_slice(b",\"recorded_at\":");
        json(out, &Timestamp(recorded_at));
        out.push(b',');
        out.extend_from_slice(&self.bytes[who..]);
        out.extend_from_slice(b",\"prev_hash\":");
        json(out, prev_hash);
        out.push(b'}');
    }
}

/// The envelope as stored, without its hash (which the record holds beside it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBody {
    position: u64,
    event_id: Ulid,
    contact_id: Ulid,
    version: u32,
    #[serde(rename = "type")]
    event_type: EventType,
    schema_version: u16,
    #[serde(with = "timestamp")]
    occurred_at: DateTime<Utc>,
    #[serde(default)]
    late_entry_reason: Option<String>,
    #[serde(with = "timestamp")]
    recorded_at: DateTime<Utc>,
    actor: Actor,
    data: Box<RawValue>,
    prev_hash: Hash,
}

impl Envelope {
    /// The bytes the hash covers: the envelope without `hash`, as compact JSON.
    pub fn canonical_body(&self) -> Vec<u8> {
        let body = Body {
            position: self.position,
            event_id: self.event_id,
            contact_id: self.contact_id,
            version: self.version,
            event_type: self.event_type,
            schema_version: self.schema_version,
            occurred_at: &self.occurred_at,
            late_entry_reason: self.late_entry_reason.as_deref(),
            recorded_at: &self.recorded_at,
            actor: &self.actor,
            data: &self.data,
            prev_hash: self.prev_hash,
        };
        serde_json::to_vec(&body).expect("envelope body serialises")
    }

    /// Recomputes the hash from `prev_hash` and the body.
    pub fn compute_hash(&self) -> Hash {
        chain_hash(&self.prev_hash, &self.canonical_body())
    }

    /// Decodes `data` into the typed event, upcasting old schema versions.
    pub fn event(&self) -> Result<Event, DecodeError> {
        schema::decode(self.event_type, self.schema_version, &self.data)
    }

    /// Reads an envelope back from its body (the bytes [`Envelope::canonical_body`] gives) and
    /// the hash stored beside it. The log's record decoder reads every stored event through it.
    pub fn from_body(body: &[u8], hash: Hash) -> Result<Envelope, serde_json::Error> {
        let body: StoredBody = serde_json::from_slice(body)?;
        Ok(Envelope {
            position: body.position,
            event_id: body.event_id,
            contact_id: body.contact_id,
            version: body.version,
            event_type: body.event_type,
            schema_version: body.schema_version,
            occurred_at: body.occurred_at,
            late_entry_reason: body.late_entry_reason,
            recorded_at: body.recorded_at,
            actor: body.actor,
            data: body.data,
            prev_hash: body.prev_hash,
            hash,
        })
    }
}

/// `SHA-256(prev_hash ‖ body)`.
pub fn chain_hash(prev: &Hash, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev.0);
    h.update(body);
    Hash(h.finalize().into())
}

/// Rounds a clock reading to the millisecond, the precision recorded times are kept at.
pub fn recorded_now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{CURRENT_SCHEMA_VERSION, NoteAdded};
    use chrono::{Datelike, Timelike};

    fn sample() -> Envelope {
        let ev = Event::NoteAdded(NoteAdded { text: "called school back".into() });
        let mut env = Envelope {
            position: 1,
            event_id: Ulid::from_parts(1, 1),
            contact_id: Ulid::from_parts(1, 2),
            version: 1,
            event_type: ev.event_type(),
            schema_version: CURRENT_SCHEMA_VERSION,
            occurred_at: "2026-03-02T10:15:00Z".parse().unwrap(),
            late_entry_reason: None,
            recorded_at: "2026-03-02T10:16:02.123Z".parse().unwrap(),
            actor: Actor {
                id: "sw-ana".into(),
                role: Role::DecisionMaker,
                agency: Agency::ChildrensSocialCare,
                team: None,
            },
            data: ev.data_json(),
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        };
        env.hash = env.compute_hash();
        env
    }

    /// A random timestamp: any second of years 0 to 9999 or a few beyond, whole seconds or
    /// milli-, micro- or nanoseconds, now and then a leap second.
    fn any_time(rng: &mut fastrand::Rng) -> DateTime<Utc> {
        use chrono::{NaiveDate, NaiveTime};
        let year = if rng.u8(..20) == 0 { rng.i32(-20..12_000) } else { rng.i32(1990..2100) };
        let date = NaiveDate::from_ymd_opt(year, rng.u32(1..=12), rng.u32(1..=28)).unwrap();
        let nano = match rng.u8(..5) {
            0 => 0,
            1 => rng.u32(0..1000) * 1_000_000,
            2 => rng.u32(0..1_000_000) * 1000,
            3 => rng.u32(0..1_000_000_000),
            _ => 1_000_000_000 + rng.u32(0..1_000_000_000),
        };
        let (h, m, s) =
            if nano >= 1_000_000_000 { (23, 59, 59) } else { (rng.u32(..24), rng.u32(..60), rng.u32(..60)) };
        date.and_time(NaiveTime::from_hms_nano_opt(h, m, s, nano).unwrap()).and_utc()
    }

    #[test]
    fn timestamps_written_in_place_match_chrono() {
        let mut rng = fastrand::Rng::with_seed(14);
        for _ in 0..20_000 {
            let t = any_time(&mut rng);
            let expected = timestamp::format(&t);
            match timestamp::format_in(&t, &mut [0; timestamp::MAX_LEN]) {
                Some(text) => assert_eq!(text, expected),
                None => assert!(!(0..=9999).contains(&t.year()) || t.nanosecond() >= 1_000_000_000, "{expected}"),
            }
            assert_eq!(serde_json::to_string(&Timestamp(&t)).unwrap(), format!("\"{expected}\""));
        }
    }

    #[test]
    fn a_body_from_its_parts_is_the_canonical_body() {
        let mut rng = fastrand::Rng::with_seed(7);
        let texts = ["", "plain", "quote \" and backslash \\", "line\nbreak\ttab\u{1}", "café – 👩‍👧", "</script>"];
        for i in 0..5_000u64 {
            let mut env = sample();
            env.position = if i % 3 == 0 { rng.u64(..) } else { rng.u64(1..1_000_000) };
            env.version = if i % 5 == 0 { u32::MAX } else { rng.u32(1..100) };
            env.event_id = Ulid::from_parts(rng.u64(..1 << 48), rng.u128(..));
            env.contact_id = Ulid::from_parts(rng.u64(..1 << 48), rng.u128(..));
            env.occurred_at = any_time(&mut rng);
            env.recorded_at = any_time(&mut rng);
            env.late_entry_reason = rng.bool().then(|| texts[rng.usize(..texts.len())].to_owned());
            env.actor.id = texts[rng.usize(..texts.len())].to_owned();
            env.actor.team = rng.bool().then(|| texts[rng.usize(..texts.len())].to_owned());
            let text = texts[rng.usize(..texts.len())].repeat(rng.usize(..40));
            env.data = Event::NoteAdded(NoteAdded { text }).data_json();
            env.prev_hash = Hash(std::array::from_fn(|_| rng.u8(..)));
            let parts = BodyParts::new(
                env.event_id,
                env.contact_id,
                env.event_type,
                env.schema_version,
                &env.occurred_at,
                env.late_entry_reason.as_deref(),
                &env.actor,
                &env.data,
            );
            let mut out = b"before".to_vec();
            parts.write_body(&mut out, env.position, env.version, &env.recorded_at, &env.prev_hash);
            assert_eq!(&out[..6], b"before");
            assert_eq!(String::from_utf8_lossy(&out[6..]), String::from_utf8_lossy(&env.canonical_body()));
            assert!(out.len() - 6 <= parts.len_hint());
        }
    }

    #[test]
    fn envelope_json_matches_the_contract() {
        let json: serde_json::Value = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["occurred_at"], "2026-03-02T10:15:00Z");
        assert_eq!(json["recorded_at"], "2026-03-02T10:16:02.123Z");
        assert_eq!(json["type"], "note_added");
        assert_eq!(json["actor"]["role"], "decision_maker");
        assert_eq!(json["prev_hash"].as_str().unwrap().len(), 64);
        assert_eq!(json["data"]["text"], "called school back");
    }

    #[test]
    fn the_hash_is_sha256_of_prev_hash_and_the_exported_body() {
        let env = sample();
        // Anyone with an export can recompute the hash: the line without its last member
        // (`,"hash":"…"`), closed again, is exactly the body the hash covers.
        let line = serde_json::to_string(&env).unwrap();
        let cut = line.rfind(",\"hash\":").unwrap();
        let body = format!("{}}}", &line[..cut]);
        assert_eq!(body.as_bytes(), env.canonical_body());
        assert_eq!(chain_hash(&Hash::GENESIS, body.as_bytes()), env.hash);
    }

    #[test]
    fn the_body_reads_back_to_the_same_envelope() {
        let env = sample();
        assert_eq!(Envelope::from_body(&env.canonical_body(), env.hash).unwrap(), env);
        assert!(Envelope::from_body(b"{}", env.hash).is_err());
    }

    #[test]
    fn export_line_parses_back_to_the_same_envelope() {
        let env = sample();
        let line = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&line).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.compute_hash(), env.hash);
    }
}
