//! `frontdoor-bench rebuild`'s PostgreSQL contender: the same events in an events table, read
//! back in position order with the same typed parse as the engine limit.
//!
//! The table is what a council would otherwise run: one row per event, ids as `uuid`, times as
//! `timestamptz`, the data as `jsonb`, the hash chain as `bytea`, `position` the primary key
//! and `(contact_id, version)` unique. It is filled from the benchmark's own log with `COPY`
//! (not timed) and kept for the rest of the benchmark (its name carries the event count and
//! the log's format version). The measurement streams `SELECT … ORDER BY position` through one
//! portal and builds, for every row, the same `Envelope` the log's `read_all` builds and the
//! typed `Event` of its data.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, ensure};
use chrono::{DateTime, Utc};
use eventlog::{Actor, Envelope, EventLog, Hash, Role};
use events::schema::{Agency, EventType};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, Type};
use postgres::{Client, NoTls};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use ulid::Ulid;

use projections::model::{ReadModel, parse_for_fold};

use crate::machine::process_times;

/// Rows per `COPY` while loading (each a page of `read_all`).
const LOAD_PAGE: usize = 4096;

/// The table holding a log of `events` events written under `format`.
pub fn table_name(events: u64, format: u64) -> String {
    format!("frontdoor_events_{events}_f{format}")
}

/// Fills `table` from the log (unless it already holds `events` rows) and returns its size on
/// disk in bytes (`pg_total_relation_size`: heap, TOAST and indexes).
pub fn ensure_table(url: &str, table: &str, log: &EventLog, events: u64) -> Result<u64> {
    let mut client = Client::connect(url, NoTls).with_context(|| format!("connecting to PostgreSQL at {url}"))?;
    let exists: bool = client.query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&table])?.get(0);
    let loaded = exists && {
        let n: i64 = client.query_one(&format!("SELECT count(*) FROM {table}"), &[])?.get(0);
        u64::try_from(n).ok() == Some(events)
    };
    if loaded {
        eprintln!("reusing PostgreSQL table {table} ({events} rows)");
    } else {
        load(&mut client, table, log, events)?;
    }
    let bytes: i64 = client.query_one("SELECT pg_total_relation_size($1::text::regclass)", &[&table])?.get(0);
    Ok(u64::try_from(bytes).unwrap_or(0))
}

fn load(client: &mut Client, table: &str, log: &EventLog, events: u64) -> Result<()> {
    let started = Instant::now();
    eprintln!("loading {events} events into PostgreSQL table {table} with COPY");
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (
             position bigint NOT NULL,
             event_id uuid NOT NULL,
             contact_id uuid NOT NULL,
             version integer NOT NULL,
             type text NOT NULL,
             schema_version smallint NOT NULL,
             occurred_at timestamptz NOT NULL,
             recorded_at timestamptz NOT NULL,
             actor_id text NOT NULL,
             actor_role text NOT NULL,
             actor_agency text NOT NULL,
             data jsonb NOT NULL,
             prev_hash bytea NOT NULL,
             hash bytea NOT NULL
         );"
    ))?;
    let mut after = 0;
    let mut line = String::new();
    loop {
        let page = log.read_all(after, LOAD_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.position;
        let mut writer = client.copy_in(&format!("COPY {table} FROM STDIN (FORMAT csv)"))?;
        for env in &page {
            line.clear();
            csv_row(&mut line, env);
            std::io::Write::write_all(&mut writer, line.as_bytes())?;
        }
        writer.finish()?;
        if after % 500_000 < LOAD_PAGE as u64 {
            eprintln!("  {after} / {events} rows copied");
        }
    }
    // The indexes an events table has, built once the rows are in (faster than row by row).
    client.batch_execute(&format!(
        "ALTER TABLE {table} ADD PRIMARY KEY (position);
         ALTER TABLE {table} ADD UNIQUE (contact_id, version);"
    ))?;
    // Apart: VACUUM cannot run inside the implicit transaction of a multi-statement query.
    client.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
    eprintln!("  loaded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A ULID as the text of a `uuid` (the same 128 bits).
fn uuid_text(id: Ulid) -> String {
    let h = format!("{:032x}", id.0);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// One row of `COPY … (FORMAT csv)`: every field quoted, quotes doubled.
fn csv_row(out: &mut String, env: &Envelope) {
    let quoted = |out: &mut String, field: &str| {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    };
    let fields = [
        env.position.to_string(),
        uuid_text(env.event_id),
        uuid_text(env.contact_id),
        env.version.to_string(),
        env.event_type.as_str().to_string(),
        env.schema_version.to_string(),
        events::envelope::timestamp::format(&env.occurred_at),
        events::envelope::timestamp::format(&env.recorded_at),
        env.actor.id.clone(),
        env.actor.role.as_str().to_string(),
        env.actor.agency.as_str().to_string(),
        env.data.get().to_string(),
        format!("\\x{}", env.prev_hash.to_hex()),
        format!("\\x{}", env.hash.to_hex()),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        quoted(out, field);
    }
    out.push('\n');
}

/// A `uuid` column read as the ULID it holds.
struct PgUlid(Ulid);

impl<'a> FromSql<'a> for PgUlid {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let bytes: [u8; 16] = raw.try_into()?;
        Ok(PgUlid(Ulid::from_bytes(bytes)))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}

/// A `jsonb` column's text, borrowed (binary `jsonb` is a version byte, then the JSON text).
struct JsonbText<'a>(&'a str);

impl<'a> FromSql<'a> for JsonbText<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let (&version, text) = raw.split_first().ok_or("empty jsonb")?;
        if version != 1 {
            return Err(format!("jsonb version {version}").into());
        }
        Ok(JsonbText(std::str::from_utf8(text)?))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
}

fn hash_of(raw: &[u8]) -> Result<Hash> {
    Ok(Hash(raw.try_into().map_err(|_| anyhow!("a hash of {} bytes", raw.len()))?))
}

/// The measurement: every row in position order, each made into an `Envelope` and its typed
/// `Event`, as the engine limit does with the log; or, with `fold`, each envelope folded into a
/// read model as the start-up rebuild does (the data parsed only where the fold reads it).
/// Prints nothing; returns the result line.
pub fn timed_read(url: &str, table: &str, fold: bool) -> Result<Value> {
    let mut model = ReadModel::default();
    let opening = Instant::now();
    let mut client = Client::connect(url, NoTls).with_context(|| format!("connecting to PostgreSQL at {url}"))?;
    let open_seconds = opening.elapsed().as_secs_f64();
    // The server process answering this connection works for the measurement: its CPU time is
    // reported, so that it is counted as the measurement's own, not as other processes' work.
    let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[])?.get(0);
    let backend = backend.to_string();
    let server_before = process_times(&backend);
    let started = Instant::now();
    let query = format!(
        "SELECT position, event_id, contact_id, version, type, schema_version, occurred_at, recorded_at, \
         actor_id, actor_role, actor_agency, data, prev_hash, hash FROM {table} ORDER BY position"
    );
    let mut rows = client.query_raw(query.as_str(), std::iter::empty::<i64>())?;
    let mut expected = 1u64;
    while let Some(row) = rows.next()? {
        let position = u64::try_from(row.try_get::<_, i64>(0)?)?;
        ensure!(position == expected, "row {position} where {expected} was expected");
        let event_type: EventType = row.try_get::<_, &str>(4)?.parse()?;
        let data = row.try_get::<_, JsonbText<'_>>(11)?.0;
        let env = Envelope {
            position,
            event_id: row.try_get::<_, PgUlid>(1)?.0,
            contact_id: row.try_get::<_, PgUlid>(2)?.0,
            version: u32::try_from(row.try_get::<_, i32>(3)?)?,
            event_type,
            schema_version: u16::try_from(row.try_get::<_, i16>(5)?)?,
            occurred_at: row.try_get::<_, DateTime<Utc>>(6)?,
            late_entry_reason: None,
            recorded_at: row.try_get::<_, DateTime<Utc>>(7)?,
            actor: Actor {
                id: row.try_get::<_, &str>(8)?.to_owned(),
                role: row.try_get::<_, &str>(9)?.parse::<Role>()?,
                agency: row.try_get::<_, &str>(10)?.parse::<Agency>()?,
                team: None,
            },
            data: RawValue::from_string(data.to_owned())?,
            prev_hash: hash_of(row.try_get::<_, &[u8]>(12)?)?,
            hash: hash_of(row.try_get::<_, &[u8]>(13)?)?,
        };
        if fold {
            let mut parsed = parse_for_fold(&env);
            model.apply_parsed(&env, &mut parsed).map_err(|e| anyhow!("position {position}: {e}"))?;
        } else {
            let event = env.event().map_err(|e| anyhow!("position {position}: {e}"))?;
            std::hint::black_box((env, event));
        }
        expected += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let server = server_before.zip(process_times(&backend)).map(|(before, after)| {
        let user = after.user_ns.saturating_sub(before.user_ns);
        (user, user + after.system_ns.saturating_sub(before.system_ns))
    });
    let (contacts, open) = model.counts();
    Ok(json!({
        "events": expected - 1,
        "seconds": seconds,
        "contacts": fold.then_some(contacts),
        "open_contacts": fold.then_some(open),
        "open_seconds": open_seconds,
        "server_user_ns": server.map(|s| s.0),
        "server_cpu_ns": server.map(|s| s.1),
    }))
}
