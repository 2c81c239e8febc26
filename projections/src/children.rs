//! Which earlier contacts named the same child: the "previous contacts" the duty team sees and
//! the re-contact figure. Two children are the same when both have an NHS number and it
//! matches; else when both have a `child_ref` and it matches; else when both have a name and
//! date of birth and both match (names compared case- and space-insensitively).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use eventlog::schema::Child;
use ulid::Ulid;

/// What identifies a child, strongest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Nhs(String),
    Ref(String),
    NameDob(String, NaiveDate),
}

#[derive(Debug, Clone)]
struct Seen {
    contact: Ulid,
    received_at: DateTime<Utc>,
    nhs: Option<String>,
    child_ref: Option<String>,
    name_dob: Option<(String, NaiveDate)>,
}

fn normal_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn nhs_of(child: &Child) -> Option<String> {
    child.nhs_number.as_ref().map(|n| n.chars().filter(char::is_ascii_digit).collect())
}

fn ref_of(child: &Child) -> Option<String> {
    child.child_ref.as_ref().map(|r| r.trim().to_uppercase()).filter(|r| !r.is_empty())
}

fn name_dob_of(child: &Child) -> Option<(String, NaiveDate)> {
    child.date_of_birth.map(|dob| (normal_name(&child.name), dob))
}

impl Seen {
    /// The matching rule, pair by pair: the strongest identifier both records have decides.
    fn same_child(&self, child: &Child) -> bool {
        if let (Some(a), Some(b)) = (&self.nhs, nhs_of(child)) {
            return *a == b;
        }
        if let (Some(a), Some(b)) = (&self.child_ref, ref_of(child)) {
            return *a == b;
        }
        matches!((&self.name_dob, name_dob_of(child)), (Some(a), Some(b)) if *a == b)
    }
}

/// Every child of every contact received so far, indexed by each identifier it has.
#[derive(Debug, Clone, Default)]
pub struct ChildIndex {
    seen: Vec<Seen>,
    by_key: HashMap<Key, Vec<usize>>,
}

/// How far back a previous contact counts.
pub fn lookback() -> Duration {
    Duration::days(365)
}

impl ChildIndex {
    /// The distinct earlier contacts, received in the 12 months before `received_at`, that
    /// named one of `children`.
    pub fn previous_contacts(&self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) -> u32 {
        let since = received_at - lookback();
        let mut found: Vec<Ulid> = Vec::new();
        for child in children {
            let keys = [
                nhs_of(child).map(Key::Nhs),
                ref_of(child).map(Key::Ref),
                name_dob_of(child).map(|(n, d)| Key::NameDob(n, d)),
            ];
            for key in keys.into_iter().flatten() {
                for &i in self.by_key.get(&key).into_iter().flatten() {
                    let seen = &self.seen[i];
                    if seen.contact != contact
                        && seen.received_at < received_at
                        && seen.received_at >= since
                        && seen.same_child(child)
                        && !found.contains(&seen.contact)
                    {
                        found.push(seen.contact);
                    }
                }
            }
        }
        u32::try_from(found.len()).unwrap_or(u32::MAX)
    }

    /// Remembers the children of a newly received contact.
    pub fn add(&mut self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) {
        for child in children {
            let seen = Seen {
                contact,
                received_at,
                nhs: nhs_of(child),
                child_ref: ref_of(child),
                name_dob: name_dob_of(child),
            };
            let i = self.seen.len();
            let keys = [
                seen.nhs.clone().map(Key::Nhs),
                seen.child_ref.clone().map(Key::Ref),
                seen.name_dob.clone().map(|(n, d)| Key::NameDob(n, d)),
            ];
            for key in keys.into_iter().flatten() {
                self.by_key.entry(key).or_default().push(i);
            }
            self.seen.push(seen);
        }
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
