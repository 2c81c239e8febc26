//! The read model written to a byte stream and read back: what a restart loads instead of
//! folding the whole log again (the service checks it against the log's head, see
//! `frontdoor::snapshot`).
//!
//! MessagePack through `rmp-serde`, streamed both ways, so the snapshot is never held whole in
//! memory beside the model. Most of the model goes as compact arrays (no field names). The
//! open contacts' states, the duty debriefs and the consultations carry the events' own data,
//! whose serialisation leaves absent fields out: those go as JSON text inside the stream, read
//! back exactly as the log's own JSON is. A snapshot is only ever read by the build that wrote
//! it (the service keys it to its executable), so the layout needs no versioning of its own.

use std::collections::HashMap;
use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

use super::{Consultation, DutyDebrief, ReadModel};
use crate::children::ChildIndex;
use crate::contact::ContactState;
use crate::facts::FactStore;

/// A snapshot could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("writing the read model's snapshot: {0}")]
    Write(#[from] rmp_serde::encode::Error),
    #[error("reading the read model's snapshot: {0}")]
    Read(#[from] rmp_serde::decode::Error),
}

type Fast<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A value written as its JSON text.
struct Json<T>(T);

impl<T: Serialize> Serialize for Json<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Json<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str(&text).map(Json).map_err(serde::de::Error::custom)
    }
}

/// The open contacts' states, each as its JSON text.
struct OpenOut<'a>(&'a Fast<Ulid, Box<ContactState>>);

impl Serialize for OpenOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(id, state)| (id, Json(state))))
    }
}

/// The contacts each referrer made, each id as its 128 bits.
struct ReferrersOut<'a>(&'a Fast<String, Vec<Ulid>>);

impl Serialize for ReferrersOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(who, ids)| (who, ids.iter().map(|id| id.0).collect::<Vec<u128>>())))
    }
}

fn referrers_in<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Fast<String, Vec<Ulid>>, D::Error> {
    let all = Vec::<(String, Vec<u128>)>::deserialize(deserializer)?;
    Ok(all.into_iter().map(|(who, ids)| (who, ids.into_iter().map(Ulid).collect())).collect())
}

#[derive(Serialize)]
struct ModelOut<'a> {
    position: u64,
    last_recorded_at: Option<DateTime<Utc>>,
    open: OpenOut<'a>,
    facts: &'a FactStore,
    children: &'a ChildIndex,
    made_by_referrer: ReferrersOut<'a>,
    duty_debriefs: Json<&'a Vec<DutyDebrief>>,
    consultations: Json<&'a Vec<Consultation>>,
    consultation_at: &'a Fast<Ulid, usize>,
    follows_unseen: &'a Fast<Ulid, Vec<Ulid>>,
}

#[derive(Deserialize)]
struct ModelIn {
    position: u64,
    last_recorded_at: Option<DateTime<Utc>>,
    open: Vec<(Ulid, Json<Box<ContactState>>)>,
    facts: FactStore,
    children: ChildIndex,
    #[serde(deserialize_with = "referrers_in")]
    made_by_referrer: Fast<String, Vec<Ulid>>,
    duty_debriefs: Json<Vec<DutyDebrief>>,
    consultations: Json<Vec<Consultation>>,
    consultation_at: Fast<Ulid, usize>,
    follows_unseen: Fast<Ulid, Vec<Ulid>>,
}

impl ReadModel {
    /// Writes the whole model to `out`, to be read back by [`ReadModel::read_snapshot`] of
    /// the same build. `out` should be buffered.
    pub fn write_snapshot(&self, out: impl Write) -> Result<(), SnapshotError> {
        let model = ModelOut {
            position: self.position,
            last_recorded_at: self.last_recorded_at,
            open: OpenOut(&self.open),
            facts: &self.facts,
            children: &self.children,
            made_by_referrer: ReferrersOut(&self.made_by_referrer),
            duty_debriefs: Json(&self.duty_debriefs),
            consultations: Json(&self.consultations),
            consultation_at: &self.consultation_at,
            follows_unseen: &self.follows_unseen,
        };
        let mut out = out;
        model.serialize(&mut rmp_serde::Serializer::new(&mut out))?;
        Ok(())
    }

    /// Reads back a model [`ReadModel::write_snapshot`] wrote. `input` should be buffered. The
    /// stream's integrity is the caller's to check: a damaged stream can fail here or, if it
    /// still decodes, give a wrong model.
    pub fn read_snapshot(input: impl Read) -> Result<ReadModel, SnapshotError> {
        let model = ModelIn::deserialize(&mut rmp_serde::Deserializer::new(input))?;
        let mut open = Fast::default();
        open.reserve(model.open.len());
        open.extend(model.open.into_iter().map(|(id, Json(state))| (id, state)));
        Ok(ReadModel {
            position: model.position,
            last_recorded_at: model.last_recorded_at,
            open,
            facts: model.facts,
            children: model.children,
            made_by_referrer: model.made_by_referrer,
            duty_debriefs: model.duty_debriefs.0,
            consultations: model.consultations.0,
            consultation_at: model.consultation_at,
            follows_unseen: model.follows_unseen,
            also_changed: Vec::new(),
        })
    }
}
