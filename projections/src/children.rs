//! Which other contacts named the same child: the "previous contacts" the duty team sees and
//! the re-contact figure. Two children are the same when both have an NHS number and it
//! matches; else when both have a `child_ref` and it matches; else when both have a name and
//! date of birth and both match (names compared as [`crate::names::comparable`] makes them:
//! Unicode NFKC, invisible characters removed, case- and space-insensitively).
//!
//! A contact's previous contacts are those received (by their `occurred_at`) in the 12 months
//! before it, whatever order they were entered in: a contact entered late but received
//! earlier also counts for the contacts received after it, so [`ChildIndex::receive`] tells
//! which of those gained one. Each identifier's entries are kept in order of receipt, so both
//! questions look only at the 12 months either side.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use events::schema::Child;
use ulid::Ulid;

use crate::names::comparable;

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
            name_dob: child.date_of_birth.map(|dob| (comparable(&child.name).into(), dob)),
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

/// The children under one key, in order of receipt: almost always one, so that one takes no
/// allocation of its own.
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

    /// Puts `i` at `at` (0 to the number held).
    fn insert(&mut self, at: usize, i: u32) {
        match self {
            Slots::One(first) => *self = Slots::Many(if at == 0 { vec![i, *first] } else { vec![*first, i] }),
            Slots::Many(v) => v.insert(at, i),
        }
    }

    /// Takes `i` out; true when nothing is left.
    fn remove(&mut self, i: u32) -> bool {
        match self {
            Slots::One(only) => *only == i,
            Slots::Many(v) => {
                v.retain(|&j| j != i);
                match v.as_slice() {
                    [] => true,
                    [only] => {
                        *self = Slots::One(*only);
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

/// Every child of every contact received so far, indexed by each identifier it has.
#[derive(Debug, Clone, Default)]
pub struct ChildIndex {
    /// Every child indexed, in the order they were added (a forgotten one stays, unreferenced).
    seen: Vec<Seen>,
    /// For each identifier, its children in `seen`, ordered by `received_at` (ties in the
    /// order they were added).
    by_key: HashMap<Key, Slots, foldhash::fast::RandomState>,
}

/// Which of the windows either side of a receipt [`ChildIndex::matching`] looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Windows {
    Previous,
    Later,
    Both,
}

/// How far back a previous contact counts.
pub fn lookback() -> Duration {
    Duration::days(365)
}

/// What receiving one contact means for the index's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// The contact's own previous contacts (as [`ChildIndex::previous_contacts`]).
    pub previous: u32,
    /// The contacts already indexed, received in the 12 months after this one, that named
    /// one of its children: each now has one more previous contact. Sorted, each once.
    pub later: Vec<Ulid>,
}

impl ChildIndex {
    /// The distinct other contacts, received in the 12 months before `received_at`, that
    /// named one of `children`.
    pub fn previous_contacts(&self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) -> u32 {
        let ids: Vec<Ids> = children.iter().map(Ids::of).collect();
        let (previous, _) = self.matching(contact, received_at, &ids, Windows::Previous);
        u32::try_from(previous.len()).unwrap_or(u32::MAX)
    }

    /// The distinct other contacts, received in the 12 months after `received_at`, that named
    /// one of `children`: those whose previous contacts count a contact with these. Sorted.
    pub fn later(&self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) -> Vec<Ulid> {
        let ids: Vec<Ids> = children.iter().map(Ids::of).collect();
        self.matching(contact, received_at, &ids, Windows::Later).1
    }

    /// Remembers the children of a contact, received at `received_at`.
    pub fn add(&mut self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) {
        for child in children {
            self.add_one(contact, received_at, Ids::of(child));
        }
    }

    /// A contact received (in any order of receipt): its previous contacts and the later
    /// contacts that gain it as one, then its children remembered (as [`Self::add`]); each
    /// child's identifiers normalised once.
    pub fn receive(&mut self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) -> Received {
        let ids: Vec<Ids> = children.iter().map(Ids::of).collect();
        let (previous, later) = self.matching(contact, received_at, &ids, Windows::Both);
        for one in ids {
            self.add_one(contact, received_at, one);
        }
        Received { previous: u32::try_from(previous.len()).unwrap_or(u32::MAX), later }
    }

    /// Forgets a contact received earlier with these `received_at` and `children` (before a
    /// correction of either, which then receives it again). Returns the contacts received in
    /// the 12 months after it that named one of its children: each has one previous contact
    /// fewer. Sorted, each once.
    pub fn forget(&mut self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) -> Vec<Ulid> {
        let ids: Vec<Ids> = children.iter().map(Ids::of).collect();
        let (_, later) = self.matching(contact, received_at, &ids, Windows::Later);
        for key in ids.iter().flat_map(Ids::keys) {
            let Some(slots) = self.by_key.get_mut(&key) else { continue };
            let mine: Vec<u32> =
                slots.as_slice().iter().copied().filter(|&i| self.seen[i as usize].contact == contact).collect();
            let mut empty = false;
            for i in mine {
                empty = slots.remove(i);
            }
            if empty {
                self.by_key.remove(&key);
            }
        }
        later
    }

    /// The distinct contacts other than `contact` that named one of `children`, received in
    /// the 12 months before `received_at` and in the 12 months after it (as `windows` asks),
    /// each sorted. Each identifier's list is in order of receipt, so each window is found by
    /// binary search and only the children inside it are looked at; one look-up per
    /// identifier serves both.
    fn matching(
        &self,
        contact: Ulid,
        received_at: DateTime<Utc>,
        children: &[Ids],
        windows: Windows,
    ) -> (Vec<Ulid>, Vec<Ulid>) {
        let earliest = received_at.checked_sub_signed(lookback()).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let latest = received_at.checked_add_signed(lookback()).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let (mut previous, mut later) = (Vec::new(), Vec::new());
        for child in children {
            for key in child.keys() {
                let Some(slots) = self.by_key.get(&key) else { continue };
                let slots = slots.as_slice();
                let at = |i: &u32| self.seen[*i as usize].received_at;
                let collect = |from: usize, to: usize, found: &mut Vec<Ulid>| {
                    for &i in &slots[from..to.max(from)] {
                        let seen = &self.seen[i as usize];
                        if seen.contact != contact && seen.ids.same_child(child) {
                            found.push(seen.contact);
                        }
                    }
                };
                // [earliest, received_at) and (received_at, latest].
                let before_now = slots.partition_point(|i| at(i) < received_at);
                if windows != Windows::Later {
                    let from = slots[..before_now].partition_point(|i| at(i) < earliest);
                    collect(from, before_now, &mut previous);
                }
                if windows != Windows::Previous {
                    let after_now = before_now + slots[before_now..].partition_point(|i| at(i) <= received_at);
                    let to = after_now + slots[after_now..].partition_point(|i| at(i) <= latest);
                    collect(after_now, to, &mut later);
                }
            }
        }
        for found in [&mut previous, &mut later] {
            found.sort_unstable();
            found.dedup();
        }
        (previous, later)
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
                Some(slots) => {
                    // After every child received at or before it: contacts mostly arrive in
                    // order of receipt, so this is nearly always the end.
                    let seen = &self.seen;
                    let at = slots.as_slice().partition_point(|&j| seen[j as usize].received_at <= received_at);
                    slots.insert(at, i);
                }
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
            address: None,
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
    /// The definition, by brute force: for each contact, the distinct other contacts received
    /// in the 12 months before it that named one of its children.
    fn by_definition(contacts: &[(Ulid, DateTime<Utc>, Vec<Child>)]) -> Vec<u32> {
        contacts
            .iter()
            .map(|(me, at, children)| {
                let mine: Vec<Ids> = children.iter().map(Ids::of).collect();
                let n = contacts
                    .iter()
                    .filter(|(other, when, theirs)| {
                        other != me
                            && *when < *at
                            && *when >= *at - lookback()
                            && theirs.iter().map(Ids::of).any(|t| mine.iter().any(|m| m.same_child(&t)))
                    })
                    .count();
                u32::try_from(n).unwrap()
            })
            .collect()
    }

    /// Receives `contacts` in the order `order` gives, keeping each one's count as the read
    /// model does: its own on receipt, plus one for each contact received before it entered
    /// after it.
    fn fold_in(contacts: &[(Ulid, DateTime<Utc>, Vec<Child>)], order: &[usize]) -> (ChildIndex, Vec<u32>) {
        let mut index = ChildIndex::default();
        let mut counts = vec![0; contacts.len()];
        for &k in order {
            let (id, at, children) = &contacts[k];
            let received = index.receive(*id, *at, children);
            counts[k] = received.previous;
            for later in received.later {
                let j = contacts.iter().position(|(c, _, _)| *c == later).unwrap();
                counts[j] += 1;
            }
        }
        (index, counts)
    }

    #[test]
    fn bug_previous_contacts_depended_on_entry_order() {
        let sam = || vec![child("Sam Example", Some("2017-05-04"), None, None)];
        let march = (Ulid::from_parts(1, 1), at("2026-03-01T10:00:00Z"), sam());
        let june = (Ulid::from_parts(2, 2), at("2026-06-01T10:00:00Z"), sam());
        let sept = (Ulid::from_parts(3, 3), at("2026-09-01T10:00:00Z"), sam());
        let mut index = ChildIndex::default();
        let mut count = |c: &(Ulid, DateTime<Utc>, Vec<Child>)| index.receive(c.0, c.1, &c.2);
        assert_eq!(count(&march).previous, 0);
        assert_eq!(count(&june).previous, 1);
        assert_eq!(count(&sept).previous, 2);
        // A contact received in January, entered last: it has none before it, and each of the
        // three received after it has one more previous contact.
        let january = (Ulid::from_parts(4, 4), at("2026-01-15T10:00:00Z"), sam());
        let received = count(&january);
        assert_eq!(received, Received { previous: 0, later: vec![march.0, june.0, sept.0] });
        assert_eq!(index.later(january.0, january.1, &january.2), [march.0, june.0, sept.0]);
        assert_eq!(index.later(june.0, june.1, &june.2), [sept.0]);
        assert_eq!(index.previous_contacts(march.0, march.1, &march.2), 1);
        assert_eq!(index.previous_contacts(june.0, june.1, &june.2), 2);
        assert_eq!(index.previous_contacts(sept.0, sept.1, &sept.2), 3);
        // One received the previous January is more than 12 months before all but none.
        let last_year = (Ulid::from_parts(5, 5), at("2025-01-15T10:00:00Z"), sam());
        assert_eq!(
            index.receive(last_year.0, last_year.1, &last_year.2),
            Received { previous: 0, later: vec![january.0] }
        );
        assert_eq!(index.previous_contacts(january.0, january.1, &january.2), 1);
        assert_eq!(index.previous_contacts(march.0, march.1, &march.2), 1);
    }

    #[test]
    fn every_order_of_entry_gives_the_counts_by_receipt() {
        let sam = child("Sam Example", Some("2017-05-04"), None, None);
        let sam_by_ref = child("Sam Example", None, None, Some("WS1"));
        let sam_both = child("Sam Example", Some("2017-05-04"), None, Some("WS1"));
        let sibling = child("Ali Example", Some("2019-02-03"), None, None);
        let other = child("Other Child", Some("2015-01-01"), None, None);
        let contacts = vec![
            (Ulid::from_parts(1, 1), at("2025-02-01T10:00:00Z"), vec![sam.clone(), sibling.clone()]),
            (Ulid::from_parts(2, 2), at("2025-06-01T10:00:00Z"), vec![sam_by_ref]),
            (Ulid::from_parts(3, 3), at("2025-06-01T10:00:00Z"), vec![sibling.clone()]),
            (Ulid::from_parts(4, 4), at("2026-02-01T10:00:00Z"), vec![sam_both, other]),
            (Ulid::from_parts(5, 5), at("2026-02-01T10:00:01Z"), vec![sam, sibling]),
        ];
        let expected = by_definition(&contacts);
        // The fourth: the first (exactly 365 days before) by name and birth date, the second by
        // child_ref. The fifth: the first is a second too early and the second has no birth
        // date to match Sam by, so the third (Ali) and the fourth.
        assert_eq!(expected, vec![0, 0, 1, 2, 2]);
        // All 120 orders of entry.
        let mut order: Vec<usize> = (0..contacts.len()).collect();
        let mut orders = 0;
        permute(&mut order, 0, &mut |order| {
            orders += 1;
            let (index, counts) = fold_in(&contacts, order);
            assert_eq!(counts, expected, "entered in the order {order:?}");
            for (k, (id, at, children)) in contacts.iter().enumerate() {
                assert_eq!(index.previous_contacts(*id, *at, children), expected[k], "{order:?}, contact {k}");
            }
        });
        assert_eq!(orders, 120);
    }

    fn permute(items: &mut [usize], from: usize, f: &mut impl FnMut(&[usize])) {
        if from == items.len() {
            f(items);
            return;
        }
        for i in from..items.len() {
            items.swap(from, i);
            permute(items, from + 1, f);
            items.swap(from, i);
        }
    }

    #[test]
    fn the_twelve_months_end_exactly_a_year_of_days_before() {
        let sam = [child("Sam Example", None, None, Some("WS1"))];
        let me = (Ulid::from_parts(9, 9), at("2026-06-01T10:00:00Z"));
        let exactly = (Ulid::from_parts(1, 1), at("2025-06-01T10:00:00Z"));
        let a_second_more = (Ulid::from_parts(2, 2), at("2025-06-01T09:59:59Z"));
        let same_moment = (Ulid::from_parts(3, 3), me.1);
        // Entered after `me`: exactly 365 days before counts for it, a second more does not,
        // the same moment does not count either way.
        let mut index = ChildIndex::default();
        assert_eq!(index.receive(me.0, me.1, &sam).previous, 0);
        assert_eq!(index.receive(exactly.0, exactly.1, &sam).later, vec![me.0]);
        assert_eq!(index.receive(a_second_more.0, a_second_more.1, &sam).later, vec![exactly.0]);
        assert_eq!(index.receive(same_moment.0, same_moment.1, &sam), Received { previous: 1, later: vec![] });
        assert_eq!(index.previous_contacts(me.0, me.1, &sam), 1);
        // Entered before it: the same.
        let mut index = ChildIndex::default();
        for (id, when) in [a_second_more, exactly, same_moment] {
            index.receive(id, when, &sam);
        }
        assert_eq!(index.receive(me.0, me.1, &sam).previous, 1);
    }

    #[test]
    fn bug_previous_contacts_missed_names_that_look_identical() {
        let dob = Some("2016-08-09");
        let mut index = ChildIndex::default();
        // Entered with a precomposed ë (NFC).
        index.add(Ulid::from_parts(1, 1), at("2026-01-05T10:00:00Z"), &[child("Zo\u{EB} Example", dob, None, None)]);
        let me = Ulid::from_parts(2, 2);
        let later = at("2026-03-01T10:00:00Z");
        for same in [
            "Zoe\u{308} Example",          // e and a combining diaeresis (NFD)
            "Zo\u{200B}\u{EB} Example",    // a zero-width space inside
            "\u{FEFF}Zo\u{EB} Example",    // a leading byte order mark
            "ZO\u{CB} EXAMPLE",            // upper case
            "zoe\u{308}\u{200D}  example", // all at once
        ] {
            assert_eq!(index.previous_contacts(me, later, &[child(same, dob, None, None)]), 1, "{same:?}");
        }
        assert_eq!(index.previous_contacts(me, later, &[child("Zoe Example", dob, None, None)]), 0);
        // And the other way round: a decomposed name entered first matches a composed one.
        let mut index = ChildIndex::default();
        index.add(
            Ulid::from_parts(1, 1),
            at("2026-01-05T10:00:00Z"),
            &[child("\u{FEFF}Zoe\u{308} Example", dob, None, None)],
        );
        assert_eq!(index.previous_contacts(me, later, &[child("Zo\u{EB} Example", dob, None, None)]), 1);
    }

    #[test]
    fn a_forgotten_contact_counts_for_no_one_and_can_be_received_again() {
        let sam = [child("Sam Example", None, Some("9434765919"), None)];
        let mut index = ChildIndex::default();
        let (first, second, third) = (Ulid::from_parts(1, 1), Ulid::from_parts(2, 2), Ulid::from_parts(3, 3));
        index.receive(first, at("2026-01-05T10:00:00Z"), &sam);
        index.receive(second, at("2026-02-05T10:00:00Z"), &sam);
        index.receive(third, at("2026-03-05T10:00:00Z"), &sam);
        assert_eq!(index.previous_contacts(third, at("2026-03-05T10:00:00Z"), &sam), 2);
        // The first was in fact received after the third (a corrected receipt time).
        assert_eq!(index.forget(first, at("2026-01-05T10:00:00Z"), &sam), vec![second, third]);
        assert_eq!(index.previous_contacts(third, at("2026-03-05T10:00:00Z"), &sam), 1);
        assert_eq!(index.receive(first, at("2026-04-05T10:00:00Z"), &sam), Received { previous: 2, later: vec![] });
        // Forgetting the only child under a key leaves nothing behind it.
        let other = [child("Other Child", Some("2015-01-01"), None, None)];
        index.receive(Ulid::from_parts(4, 4), at("2026-01-01T10:00:00Z"), &other);
        index.forget(Ulid::from_parts(4, 4), at("2026-01-01T10:00:00Z"), &other);
        assert_eq!(index.previous_contacts(Ulid::from_parts(5, 5), at("2026-02-01T10:00:00Z"), &other), 0);
        assert_eq!(index.by_key.len(), 1);
    }
}
