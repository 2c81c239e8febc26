//! Which earlier contacts named the same child: the "previous contacts" the duty team sees and
//! the re-contact figure. Two children are the same when both have an NHS number and it
//! matches; else when both have a `child_ref` and it matches; else when both have a name and
//! date of birth and both match (names compared case- and space-insensitively).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use eventlog::schema::Child;
use ulid::Ulid;

/// What identifies a child, strongest first. The strings are shared with the [`Seen`] records
/// that hold them, so each is kept once however many children have it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Nhs(Arc<str>),
    Ref(Arc<str>),
    NameDob(Arc<str>, NaiveDate),
}

/// A child's identifiers, normalised: the NHS number's digits, the trimmed upper-case
/// `child_ref`, and the normalised name with the date of birth.
#[derive(Debug, Clone)]
struct Ids {
    nhs: Option<Arc<str>>,
    child_ref: Option<Arc<str>>,
    name_dob: Option<(Arc<str>, NaiveDate)>,
}

#[derive(Debug, Clone)]
struct Seen {
    contact: Ulid,
    received_at: DateTime<Utc>,
    ids: Ids,
}

fn normal_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

impl Ids {
    fn of(child: &Child) -> Ids {
        Ids {
            nhs: child.nhs_number.as_ref().map(|n| n.chars().filter(char::is_ascii_digit).collect::<String>().into()),
            child_ref: child
                .child_ref
                .as_ref()
                .map(|r| r.trim().to_uppercase())
                .filter(|r| !r.is_empty())
                .map(Into::into),
            name_dob: child.date_of_birth.map(|dob| (normal_name(&child.name).into(), dob)),
        }
    }

    /// The index keys, strongest first.
    fn keys(&self) -> impl Iterator<Item = Key> + use<> {
        [
            self.nhs.clone().map(Key::Nhs),
            self.child_ref.clone().map(Key::Ref),
            self.name_dob.clone().map(|(n, d)| Key::NameDob(n, d)),
        ]
        .into_iter()
        .flatten()
    }

    /// The matching rule, pair by pair: the strongest identifier both records have decides.
    fn same_child(&self, other: &Ids) -> bool {
        if let (Some(a), Some(b)) = (&self.nhs, &other.nhs) {
            return a == b;
        }
        if let (Some(a), Some(b)) = (&self.child_ref, &other.child_ref) {
            return a == b;
        }
        matches!((&self.name_dob, &other.name_dob), (Some(a), Some(b)) if a == b)
    }
}

/// The children under one key: almost always one, so that one takes no allocation of its own.
#[derive(Debug, Clone)]
enum Slots {
    One(u32),
    Many(Vec<u32>),
}

impl Slots {
    fn as_slice(&self) -> &[u32] {
        match self {
            Slots::One(i) => std::slice::from_ref(i),
            Slots::Many(v) => v,
        }
    }

    fn push(&mut self, i: u32) {
        match self {
            Slots::One(first) => *self = Slots::Many(vec![*first, i]),
            Slots::Many(v) => v.push(i),
        }
    }
}

/// Every child of every contact received so far, indexed by each identifier it has.
#[derive(Debug, Clone, Default)]
pub struct ChildIndex {
    seen: Vec<Seen>,
    by_key: HashMap<Key, Slots, foldhash::fast::RandomState>,
}

/// How far back a previous contact counts.
pub fn lookback() -> Duration {
    Duration::days(365)
}

impl ChildIndex {
    /// The distinct earlier contacts, received in the 12 months before `received_at`, that
    /// named one of `children`.
    pub fn previous_contacts(&self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) -> u32 {
        let ids: Vec<Ids> = children.iter().map(Ids::of).collect();
        self.count_previous(contact, received_at, &ids)
    }

    /// Remembers the children of a newly received contact.
    pub fn add(&mut self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) {
        for child in children {
            self.add_one(contact, received_at, Ids::of(child));
        }
    }

    /// A newly received contact: its previous contacts (as [`Self::previous_contacts`]), then
    /// its children remembered (as [`Self::add`]), each child's identifiers normalised once.
    pub fn receive(&mut self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) -> u32 {
        let ids: Vec<Ids> = children.iter().map(Ids::of).collect();
        let previous = self.count_previous(contact, received_at, &ids);
        for one in ids {
            self.add_one(contact, received_at, one);
        }
        previous
    }

    fn count_previous(&self, contact: Ulid, received_at: DateTime<Utc>, children: &[Ids]) -> u32 {
        let since = received_at - lookback();
        let mut found: Vec<Ulid> = Vec::new();
        for child in children {
            for key in child.keys() {
                let Some(slots) = self.by_key.get(&key) else { continue };
                for &i in slots.as_slice() {
                    let seen = &self.seen[i as usize];
                    if seen.contact != contact
                        && seen.received_at < received_at
                        && seen.received_at >= since
                        && seen.ids.same_child(child)
                        && !found.contains(&seen.contact)
                    {
                        found.push(seen.contact);
                    }
                }
            }
        }
        u32::try_from(found.len()).unwrap_or(u32::MAX)
    }

    fn add_one(&mut self, contact: Ulid, received_at: DateTime<Utc>, mut ids: Ids) {
        let i = u32::try_from(self.seen.len()).expect("fewer than 4 billion children indexed");
        // Share the strings of keys already indexed rather than keep another copy.
        for key in ids.keys() {
            match self.by_key.get_key_value(&key) {
                Some((Key::Nhs(s), _)) => ids.nhs = Some(Arc::clone(s)),
                Some((Key::Ref(s), _)) => ids.child_ref = Some(Arc::clone(s)),
                Some((Key::NameDob(s, d), _)) => ids.name_dob = Some((Arc::clone(s), *d)),
                None => {}
            }
        }
        for key in ids.keys() {
            match self.by_key.get_mut(&key) {
                Some(slots) => slots.push(i),
                None => {
                    self.by_key.insert(key, Slots::One(i));
                }
            }
        }
        self.seen.push(Seen { contact, received_at, ids });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(name: &str, dob: Option<&str>, nhs: Option<&str>, child_ref: Option<&str>) -> Child {
        Child {
            name: name.into(),
            date_of_birth: dob.map(|d| d.parse().unwrap()),
            sex: None,
            child_ref: child_ref.map(Into::into),
            nhs_number: nhs.map(Into::into),
            upn: None,
            ethnicity: None,
            expected_date_of_birth: None,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn matched_by_nhs_number_else_child_ref_else_name_and_birth_date() {
        let mut index = ChildIndex::default();
        let first = Ulid::from_parts(1, 1);
        index.add(
            first,
            at("2026-01-05T10:00:00Z"),
            &[child("Sam Example", Some("2017-05-04"), Some("9434765919"), None)],
        );
        let later = at("2026-03-01T10:00:00Z");
        let me = Ulid::from_parts(2, 2);
        // Same NHS number, different spelling of the name: the same child.
        assert_eq!(index.previous_contacts(me, later, &[child("Samuel Example", None, Some("9434765919"), None)]), 1);
        // A different NHS number outranks a matching name and birth date: not the same child.
        assert_eq!(
            index.previous_contacts(me, later, &[child("Sam Example", Some("2017-05-04"), Some("4010232137"), None)]),
            0
        );
        // No NHS number on one side: name and date of birth decide, ignoring case and spacing.
        assert_eq!(index.previous_contacts(me, later, &[child("sam  EXAMPLE", Some("2017-05-04"), None, None)]), 1);
        assert_eq!(index.previous_contacts(me, later, &[child("Sam Example", Some("2017-05-05"), None, None)]), 0);
    }

    #[test]
    fn only_the_twelve_months_before_count_and_each_contact_once() {
        let mut index = ChildIndex::default();
        let siblings = [child("A One", None, None, Some("WS1")), child("B One", None, None, Some("WS2"))];
        index.add(Ulid::from_parts(1, 1), at("2025-01-01T10:00:00Z"), &siblings);
        index.add(Ulid::from_parts(2, 2), at("2025-06-01T10:00:00Z"), &siblings);
        let me = Ulid::from_parts(3, 3);
        // Both siblings were in both earlier contacts: two contacts, not four.
        assert_eq!(index.previous_contacts(me, at("2025-12-01T10:00:00Z"), &siblings), 2);
        // A year and a bit later, only the June contact is within 12 months.
        assert_eq!(index.previous_contacts(me, at("2026-02-01T10:00:00Z"), &siblings), 1);
        // Contacts received later do not count as previous.
        assert_eq!(index.previous_contacts(me, at("2025-03-01T10:00:00Z"), &siblings), 1);
    }
}
