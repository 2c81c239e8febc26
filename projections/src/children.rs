//! The child index: every child frontdoor has seen, as a record of its own with a stable,
//! pseudonymous child id, and every contact about them.
//!
//! Each child of each contact (a *mention*) is matched, when its contact is received, against
//! the children already seen:
//!
//! - **Linked automatically** when it shares an NHS number, a UPN or a `child_ref` with a child
//!   (normalised: digits only, upper case), or has the identical normalised name ([`fold`]:
//!   Unicode NFKC, invisible characters removed, case and diacritics folded, spacing
//!   collapsed) and full date of birth, and neither side has an NHS number, UPN or
//!   `child_ref` that conflicts with the other's (a different NHS number is a different
//!   child, whatever the name).
//! - **Offered, never linked**: a name that sounds the same (Double Metaphone codes of its
//!   words) and a partial date of birth (the same year and month, or day and month swapped) are
//!   only scored, by [`ChildIndex::search`].
//! - **Linked or separated by hand**: `children_linked` merges a contact's child into a child id
//!   (the older child, first seen by log position, keeps its id); `children_unlinked` separates
//!   it, under a new id, and keeps it from being linked to that child again automatically.
//!
//! A child id is 16 characters of Crockford base32 from SHA-256 of the contact id and the
//! child's index in it (see [`child_id_for`]): stable across rebuilds (the log decides), never
//! derived from an NHS number, and a valid CIN census LA child id (letters and digits, at most
//! 20).
//!
//! A contact's previous contacts are the distinct other contacts about any of its children
//! (as the index links them now), received in the 12 months before it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use events::schema::{Adult, Child, Relationship};
use rphonetic::DoubleMetaphone;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ulid::Ulid;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::chunked::Chunked;
use crate::names::comparable;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Mention (or adult) numbers: under a key, or a child's. Up to four inline, in the size of a
/// `Vec`'s header, so the many keys only a child or two share need no allocation of their own.
type Numbers = smallvec::SmallVec<[u32; 4]>;

/// How far back a previous contact counts.
pub fn lookback() -> Duration {
    Duration::days(365)
}

/// A name as the index compares it: [`comparable`] (NFKC, invisible characters removed, lower
/// case, one space between words), then its diacritics removed (`Zoë` is `zoe`).
pub fn fold(name: &str) -> String {
    let c = comparable(name);
    if c.is_ascii() {
        return c;
    }
    c.nfkd().filter(|&ch| !is_combining_mark(ch)).nfc().collect()
}

/// A sound code of a word, as a number: a Double Metaphone code (at most 6 letters) or a word of
/// no letters it knows, packed with its length when it has at most 7 bytes, else a hash of
/// the word with the top bit set. Compact because every child and adult indexed has a few: a
/// string apiece made up much of the index's memory. Two long words of no letters may share a
/// hash, with odds of one in 2^63.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
struct Code(u64);

impl Code {
    /// Never a word's code (every word has at least one byte).
    const NONE: Code = Code(0);

    fn of(code: &str) -> Code {
        let bytes = code.as_bytes();
        if bytes.len() <= 7 {
            let mut packed = [0u8; 8];
            packed[..bytes.len()].copy_from_slice(bytes);
            packed[7] = u8::try_from(bytes.len()).unwrap_or(7);
            Code(u64::from_le_bytes(packed))
        } else {
            use std::hash::{BuildHasher, Hasher};
            let mut h = foldhash::quality::FixedState::with_seed(0x636f_6465).build_hasher();
            h.write(bytes);
            Code(h.finish() | 1 << 63)
        }
    }
}

/// A word's codes: its primary code and its alternate one when that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct WordCodes {
    primary: Code,
    /// [`Code::NONE`] when it has none.
    alternate: Code,
}

impl WordCodes {
    fn iter(self) -> impl Iterator<Item = Code> {
        std::iter::once(self.primary).chain((self.alternate != Code::NONE).then_some(self.alternate))
    }

    fn contains(self, code: Code) -> bool {
        code != Code::NONE && (code == self.primary || code == self.alternate)
    }

    fn len(self) -> usize {
        if self.alternate == Code::NONE { 1 } else { 2 }
    }
}

/// The Double Metaphone codes (primary and alternate, each once) of each word of a folded
/// name, longest code length 6.
fn codes(folded: &str) -> Box<[WordCodes]> {
    thread_local! {
        static ENCODER: DoubleMetaphone = DoubleMetaphone::new(Some(6));
    }
    ENCODER.with(|dm| {
        folded
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|word| {
                // Double Metaphone is for Latin letters, and `rphonetic` slices its input by
                // bytes (a name such as "S¡" made it panic): it only ever sees the word's ASCII
                // letters, which folding has already made of every accented Latin letter.
                let letters: String = word.chars().filter(char::is_ascii_alphabetic).collect();
                let r = dm.double_metaphone(&letters);
                let (p, a) = (r.primary(), r.alternate());
                // A word of no letters Double Metaphone knows (digits, other scripts) is its
                // own code.
                let primary = Code::of(if p.is_empty() { word } else { p.as_str() });
                let alternate = if !a.is_empty() && a != p { Code::of(&a) } else { Code::NONE };
                WordCodes { primary, alternate }
            })
            .collect()
    })
}

/// The child id of the child first seen as child `index` of `contact`: Crockford base32 of the
/// first 80 bits of SHA-256 over a fixed label, the contact id and the index (16 characters).
pub fn child_id_for(contact: Ulid, index: usize) -> String {
    hashed_id(&format!("frontdoor child\0{contact}\0{index}"))
}

fn hashed_id(text: &str) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let digest = Sha256::digest(text.as_bytes());
    let mut bits: u128 = 0;
    for b in &digest[..10] {
        bits = (bits << 8) | u128::from(*b);
    }
    (0..16).rev().map(|i| char::from(ALPHABET[usize::try_from((bits >> (i * 5)) & 31).unwrap_or(0)])).collect()
}

/// A child id as the index keeps it: its 16 characters inline (a string apiece, held twice, for
/// every child made up much of the index's memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct ChildId([u8; 16]);

impl ChildId {
    /// The id `id` spells, if it could be one (16 ASCII characters).
    fn parse(id: &str) -> Option<ChildId> {
        <[u8; 16]>::try_from(id.as_bytes()).ok().filter(|b| b.is_ascii()).map(ChildId)
    }

    /// An id made by [`hashed_id`]: always 16 letters and digits.
    fn hashed(text: &str) -> ChildId {
        ChildId::parse(&hashed_id(text)).expect("a hashed id is 16 letters and digits")
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A child's identifiers as the index compares them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Ids {
    nhs: Option<Box<str>>,
    upn: Option<Box<str>>,
    child_ref: Option<Box<str>>,
    name: Box<str>,
    dob: Option<NaiveDate>,
    postcode: Option<Box<str>>,
    /// The Double Metaphone codes of each word of `name`, computed once.
    codes: Box<[WordCodes]>,
}

impl Ids {
    fn of(child: &Child) -> Ids {
        let clean = |s: &Option<String>, keep: fn(char) -> bool| {
            s.as_deref()
                .map(|v| v.chars().filter(|c| keep(*c)).flat_map(char::to_uppercase).collect::<String>())
                .filter(|v| !v.is_empty())
                .map(Into::into)
        };
        let name = fold(&child.name);
        Ids {
            nhs: clean(&child.nhs_number, |c| c.is_ascii_digit()),
            upn: clean(&child.upn, |c| !c.is_whitespace()),
            child_ref: clean(&child.child_ref, |c| !c.is_whitespace()),
            codes: codes(&name),
            name: name.into(),
            dob: child.date_of_birth,
            postcode: postcode_of(child.address.as_ref()),
        }
    }
}

fn postcode_of(address: Option<&events::schema::Address>) -> Option<Box<str>> {
    address.and_then(|a| a.postcode.as_deref()).map(|p| events::validate::normal_postcode(p).into())
}

/// One of a child's identifiers.
type Field = fn(&Ids) -> &Option<Box<str>>;

/// One child of one contact.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Mention {
    #[serde(with = "ulid::serde::ulid_as_u128")]
    contact: Ulid,
    index: u8,
    #[serde(with = "chrono::serde::ts_nanoseconds")]
    received_at: DateTime<Utc>,
    /// The name as written (the latest spelling is what a record shows).
    name: String,
    ids: Ids,
    /// The group it belongs to (resolve through [`Group::merged_into`]).
    group: u32,
}

/// A child: the mentions the index takes to be the same child.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Group {
    id: ChildId,
    /// Its oldest mention's number: the older of two merged groups survives.
    order: u32,
    /// Its mentions, by receipt (then number).
    members: Numbers,
    merged_into: Option<u32>,
}

/// An adult named on a contact, for search.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AdultMention {
    #[serde(with = "ulid::serde::ulid_as_u128")]
    contact: Ulid,
    name: String,
    relationship: Relationship,
    ids: Ids,
}

/// Exact keys to the mentions that have them. The text identifiers are filed under a hash of
/// their text ([`text_key`], [`name_dob_key`]), not a copy of it: the mention holds the text,
/// and a key of eight bytes costs no allocation of its own and is rehashed without reading a
/// string when its map grows (the keys were a fifth of the start-up rebuild's folding).
/// Whoever looks one up checks the text of what it finds ([`ChildIndex::keyed`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Keys {
    nhs: Map<u64, Numbers>,
    upn: Map<u64, Numbers>,
    child_ref: Map<u64, Numbers>,
    name_dob: Map<u64, Numbers>,
    code: Map<Code, Numbers>,
    dob: Map<NaiveDate, Numbers>,
    /// The mentions with a date of birth, under each of their names' codes on that date (see
    /// [`dated_code`]): where the sound-alikes of a mention are looked for. The date's own
    /// list holds every child born that day, which grows with the log; this one only those
    /// whose name shares a sound as well.
    dated_code: Map<u64, Numbers>,
    postcode: Map<u64, Numbers>,
}

/// The key of an identifier's text in [`Keys`]: a hash of it. Two texts may share a key.
fn text_key(text: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x6964_656e_7469_6679).build_hasher();
    h.write(text.as_bytes());
    h.finish()
}

/// What `map` files under [`text_key`] of `text` that `is` takes to have that text (a key is a
/// hash, which another text may share).
fn filed<'a>(map: &'a Map<u64, Numbers>, text: &str, is: impl Fn(u32) -> bool + 'a) -> impl Iterator<Item = u32> + 'a {
    map.get(&text_key(text)).into_iter().flatten().copied().filter(move |&x| is(x))
}

/// The key of a folded name on a date of birth in [`Keys::name_dob`]. Two pairs may share a key.
fn name_dob_key(name: &str, dob: NaiveDate) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x6e61_6d65_5f64_6f62).build_hasher();
    h.write(name.as_bytes());
    // No byte of UTF-8 text is 0xFF: the name ends here.
    h.write_u8(0xFF);
    h.write_i32(dob.num_days_from_ce());
    h.finish()
}

/// The identifiers a child is known by for certain (two children with different ones are never
/// linked automatically), each filed under its text in [`Keys`].
const IDENTIFIERS: [Field; 3] = [nhs_of, upn_of, child_ref_of];

fn nhs_of(i: &Ids) -> &Option<Box<str>> {
    &i.nhs
}

fn upn_of(i: &Ids) -> &Option<Box<str>> {
    &i.upn
}

fn child_ref_of(i: &Ids) -> &Option<Box<str>> {
    &i.child_ref
}

fn postcode_of_ids(i: &Ids) -> &Option<Box<str>> {
    &i.postcode
}

/// The key of a name's code on a date of birth in [`Keys::dated_code`]: a hash of both. Two
/// pairs may share a key: whoever looks one up checks the date and the name of what it finds.
fn dated_code(dob: NaiveDate, code: Code) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x6368_696c_6472_656e).build_hasher();
    h.write_i32(dob.num_days_from_ce());
    h.write_u64(code.0);
    h.finish()
}

/// Adds mention `m` under `key`. A mention's keys are added in one go (after its old ones are
/// taken away), so a repeat (two words of a name with the same code) can only be the last one
/// added: checking the end keeps this O(1) for keys thousands of mentions share (a common code,
/// a date of birth, a busy child's NHS number).
fn put<K: std::hash::Hash + Eq>(map: &mut Map<K, Numbers>, key: K, m: u32) {
    let v = map.entry(key).or_default();
    if v.last() != Some(&m) {
        v.push(m);
    }
}

fn take<K: std::hash::Hash + Eq>(map: &mut Map<K, Numbers>, key: &K, m: u32) {
    if let Some(v) = map.get_mut(key) {
        v.retain(|x| *x != m);
        if v.is_empty() {
            map.remove(key);
        }
    }
}

impl Keys {
    fn add(&mut self, ids: &Ids, m: u32) {
        self.each(ids, m, true);
    }

    fn remove(&mut self, ids: &Ids, m: u32) {
        self.each(ids, m, false);
    }

    fn each(&mut self, ids: &Ids, m: u32, add: bool) {
        macro_rules! key {
            ($map:expr, $key:expr) => {
                if add { put(&mut $map, $key, m) } else { take(&mut $map, &$key, m) }
            };
        }
        if let Some(v) = &ids.nhs {
            key!(self.nhs, text_key(v));
        }
        if let Some(v) = &ids.upn {
            key!(self.upn, text_key(v));
        }
        if let Some(v) = &ids.child_ref {
            key!(self.child_ref, text_key(v));
        }
        if let Some(d) = ids.dob {
            key!(self.name_dob, name_dob_key(&ids.name, d));
            key!(self.dob, d);
        }
        if let Some(p) = &ids.postcode {
            key!(self.postcode, text_key(p));
        }
        for word in &ids.codes {
            for code in word.iter() {
                key!(self.code, code);
                if let Some(d) = ids.dob {
                    key!(self.dated_code, dated_code(d, code));
                }
            }
        }
    }
}

/// What to search for: any of the terms (at least one).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub nhs_number: Option<String>,
    pub upn: Option<String>,
    pub postcode: Option<String>,
}

/// Why a candidate matched, with the weight each reason adds to its score.
pub const MATCH_WEIGHTS: &[(&str, f64)] = &[
    ("nhs_number", 1.0),
    ("upn", 1.0),
    ("name", 0.5),
    ("name_phonetic", 0.35),
    ("date_of_birth", 0.4),
    ("date_of_birth_partial", 0.15),
    ("postcode", 0.15),
];

fn weight(reason: &str) -> f64 {
    MATCH_WEIGHTS.iter().find(|(r, _)| *r == reason).map_or(0.0, |(_, w)| *w)
}

/// A child a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub child_id: String,
    /// The name as most recently written.
    pub name: String,
    pub date_of_birth: Option<NaiveDate>,
    /// Why it matched, in [`MATCH_WEIGHTS`]' order.
    pub matched_on: Vec<&'static str>,
    /// The matches' weights added up, at most 1.
    pub score: f64,
    /// The contacts about the child.
    pub contacts: u32,
    /// The professional consultations that named the child (never counted as contacts).
    pub consultations: u32,
}

/// An adult a search found (by name, date of birth or postcode): the adults of every contact
/// with the same name (once folded) and date of birth, taken as one person.
#[derive(Debug, Clone, PartialEq)]
pub struct AdultCandidate {
    /// The name as most recently written.
    pub name: String,
    pub date_of_birth: Option<NaiveDate>,
    /// How the contacts name them, each once, in the order first seen.
    pub relationships: Vec<Relationship>,
    /// Why they matched, in [`MATCH_WEIGHTS`]' order (the best of their mentions).
    pub matched_on: Vec<&'static str>,
    pub score: f64,
    /// The contacts naming them, in the order recorded, each with its children's child ids as linked now.
    pub contacts: Vec<AdultContact>,
}

/// An adult as a search groups them: the folded name and the date of birth.
type Person = (Box<str>, Option<NaiveDate>);

/// A contact naming an adult a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct AdultContact {
    pub contact_id: Ulid,
    /// The child ids of the contact's children, in the contact's order.
    pub child_ids: Vec<String>,
}

/// A child's record in the index.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRecord {
    pub child_id: String,
    /// Every spelling of the name seen, first seen first.
    pub names: Vec<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub nhs_numbers: Vec<String>,
    pub upns: Vec<String>,
    pub child_refs: Vec<String>,
    /// Each contact about the child, by receipt: the contact, the child's index in it, when.
    pub contacts: Vec<(Ulid, u8, DateTime<Utc>)>,
    /// Each professional consultation that named the child, by when it happened: the
    /// consultation, the child's index in it, when. Never among `contacts`.
    pub consultations: Vec<(Ulid, u8, DateTime<Utc>)>,
}

/// Most candidates a search returns.
pub const MAX_CANDIDATES: usize = 50;

/// Every child of every contact received so far, grouped into children.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChildIndex {
    mentions: Chunked<Mention>,
    groups: Chunked<Group>,
    /// Every child id ever given (merged ones too) to its group.
    by_id: Map<ChildId, u32>,
    /// A contact's first mention and how many children it has.
    #[serde(with = "ulid_keys")]
    by_contact: Map<Ulid, (u32, u8)>,
    keys: Keys,
    /// A mention separated from a group by hand is not linked to it again automatically.
    blocked: HashSet<(u32, u32)>,
    /// The contacts with a child the index offers a possible match for (see
    /// [`ChildIndex::has_possible_match`]), kept as contacts and links change.
    #[serde(with = "ulid_keys")]
    possible: HashSet<Ulid, foldhash::fast::RandomState>,
    adults: Chunked<AdultMention>,
    adult_codes: Map<Code, Numbers>,
    adult_dob: Map<NaiveDate, Numbers>,
    /// Under [`text_key`] of the postcode.
    adult_postcode: Map<u64, Numbers>,
    /// The streams indexed that are professional consultations, not contacts: their children
    /// are the same children, matched and linked alike, but never counted as contacts.
    consultations: HashSet<Ulid, foldhash::fast::RandomState>,
}

impl ChildIndex {
    /// A professional consultation that named children: indexed as a contact's children are
    /// (matched and linked by the same rules), and kept apart as a consultation. Returns, as
    /// [`ChildIndex::receive`] does, the streams whose previous contacts may have changed (its
    /// child may link children of contacts together), itself included.
    pub fn receive_consultation(&mut self, consultation: Ulid, at: DateTime<Utc>, children: &[Child]) -> Vec<Ulid> {
        self.consultations.insert(consultation);
        self.receive(consultation, at, children, &[])
    }

    /// Whether `id` is a professional consultation the index holds.
    pub fn is_consultation(&self, id: Ulid) -> bool {
        self.consultations.contains(&id)
    }

    fn resolve(&self, mut g: u32) -> u32 {
        while let Some(next) = self.groups[g as usize].merged_into {
            g = next;
        }
        g
    }

    /// The mentions filed in `map` under `value` whose `field` is `value`.
    fn keyed<'a>(&'a self, map: &'a Map<u64, Numbers>, field: Field, value: &'a str) -> impl Iterator<Item = u32> + 'a {
        filed(map, value, move |x| field(&self.mentions[x as usize].ids).as_deref() == Some(value))
    }

    /// The mentions of a child with the folded name `name` born on `dob`.
    fn same_name_on<'a>(&'a self, name: &'a str, dob: NaiveDate) -> impl Iterator<Item = u32> + 'a {
        self.keys.name_dob.get(&name_dob_key(name, dob)).into_iter().flatten().copied().filter(move |&x| {
            let theirs = &self.mentions[x as usize].ids;
            theirs.dob == Some(dob) && *theirs.name == *name
        })
    }

    fn group_of(&self, m: u32) -> u32 {
        self.resolve(self.mentions[m as usize].group)
    }

    fn mentions_of(&self, contact: Ulid) -> std::ops::Range<u32> {
        self.by_contact.get(&contact).map_or(0..0, |&(first, n)| first..first + u32::from(n))
    }

    /// The contacts of a group's mentions, each once.
    fn contacts_in(&self, g: u32, out: &mut Vec<Ulid>) {
        out.extend(self.groups[g as usize].members.iter().map(|&m| self.mentions[m as usize].contact));
    }

    /// The distinct contacts about any child of `contact`, itself included.
    pub fn contacts_sharing(&self, contact: Ulid) -> Vec<Ulid> {
        let mut out = vec![contact];
        for m in self.mentions_of(contact) {
            self.contacts_in(self.group_of(m), &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The child id of child `index` of `contact`, as linked now.
    pub fn child_id_of(&self, contact: Ulid, index: usize) -> Option<&str> {
        let m = self.mentions_of(contact).nth(index)?;
        Some(self.groups[self.group_of(m) as usize].id.as_str())
    }

    /// The group a child id names now (a merged id names the child it was merged into).
    fn group_named(&self, child_id: &str) -> Option<u32> {
        ChildId::parse(child_id).and_then(|id| self.by_id.get(&id)).map(|&g| self.resolve(g))
    }

    /// Whether the index knows `child_id` (a merged id included).
    pub fn knows(&self, child_id: &str) -> bool {
        ChildId::parse(child_id).is_some_and(|id| self.by_id.contains_key(&id))
    }

    /// The distinct other contacts about any child of `contact` (as linked now), received in
    /// the 12 months before it.
    pub fn previous_contacts(&self, contact: Ulid) -> u32 {
        let range = self.mentions_of(contact);
        let Some(first) = range.clone().next() else { return 0 };
        let at = self.mentions[first as usize].received_at;
        let earliest = at.checked_sub_signed(lookback()).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let when = |i: u32| self.mentions[i as usize].received_at;
        // Each child's mentions in the year before, by receipt.
        let mut groups: Vec<u32> = Vec::new();
        let mut slices: Vec<&[u32]> = Vec::new();
        for m in range {
            let g = self.group_of(m);
            if groups.contains(&g) {
                continue;
            }
            groups.push(g);
            let members = &self.groups[g as usize].members;
            let from = members.partition_point(|&i| when(i) < earliest);
            let to = members.partition_point(|&i| when(i) < at);
            slices.push(&members[from..to.max(from)]);
        }
        // Walked together in receipt order. A contact's mentions all have its receipt time, so
        // a contact named twice (siblings, or one child entered twice) shows up only among
        // mentions received at the same moment: counting distinct contacts per moment is
        // exact, with no sort of the whole year.
        let mut count = 0usize;
        let mut moment: Vec<Ulid> = Vec::new();
        let mut heads = vec![0usize; slices.len()];
        loop {
            let next = slices.iter().zip(&heads).filter_map(|(slice, &h)| slice.get(h).map(|&i| when(i))).min();
            let Some(t) = next else { break };
            moment.clear();
            for (slice, h) in slices.iter().zip(heads.iter_mut()) {
                while let Some(&i) = slice.get(*h)
                    && when(i) == t
                {
                    let about = self.mentions[i as usize].contact;
                    if !self.consultations.contains(&about) {
                        moment.push(about);
                    }
                    *h += 1;
                }
            }
            if moment.len() > 1 {
                moment.sort_unstable();
                moment.dedup();
            }
            count += moment.len();
        }
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// Whether a child of `contact` has a possible match: another child of the index, not
    /// linked to it, whose name sounds the same (or is the same) and whose date of birth is the
    /// same or has day and month swapped, with no NHS number, UPN or `child_ref` in conflict and
    /// not separated from it by hand. Kept per contact, recomputed when its children or links
    /// change, so a queue line reads it without a search.
    pub fn has_possible_match(&self, contact: Ulid) -> bool {
        self.possible.contains(&contact)
    }

    /// The mentions of other children that `m` possibly matches (name and date, as
    /// [`ChildIndex::has_possible_match`] says), found through the date of birth's keys only.
    fn possible_matches_of(&self, m: u32) -> Vec<u32> {
        let mine = self.group_of(m);
        let mut out: Vec<u32> =
            self.sound_alikes(m).into_iter().filter(|&(x, dated)| x != m && dated).map(|(x, _)| x).collect();
        out.retain(|&x| {
            let other = self.group_of(x);
            other != mine && self.may_auto_link(mine, other)
        });
        out
    }

    /// The mentions filed under mention `m`'s date of birth or its day-and-month swap whose
    /// name sounds like (or is) `m`'s, `m` among them, each with whether its date of birth
    /// matches too (the same or partly, as [`Terms::reasons`] says); none without a date of
    /// birth. What both the possible matches and their neighbours are found from.
    fn sound_alikes(&self, m: u32) -> Vec<(u32, bool)> {
        let ids = &self.mentions[m as usize].ids;
        let Some(terms) = Terms::name_and_dob(ids) else { return Vec::new() };
        let mut out = Vec::new();
        for day in terms.dob_variants() {
            // A name that sounds like `m`'s has a word sounding like its first word (and the same
            // name has the same words): only the mentions under one of that word's codes on
            // the day can match. A name of no words matches only itself.
            let mut found: Vec<u32> = match ids.codes.first() {
                Some(word) => word
                    .iter()
                    .flat_map(|code| self.keys.dated_code.get(&dated_code(day, code)).into_iter().flatten().copied())
                    .collect(),
                None => self.same_name_on(&ids.name, day).collect(),
            };
            if ids.codes.first().is_some_and(|word| word.len() > 1) {
                found.sort_unstable();
                found.dedup();
            }
            for x in found {
                let theirs = &self.mentions[x as usize].ids;
                // `Terms::reasons`' name and date matches, without building the list for each
                // mention; the date checked too, since keys of different dates may coincide.
                if theirs.dob == Some(day) && terms.name_match(theirs).is_some() {
                    out.push((x, terms.date_match(theirs, true).is_some()));
                }
            }
        }
        out
    }

    /// The contacts whose possible matches a change to `contact`'s children may have changed:
    /// those about a child its children sound like (linked or not).
    pub fn possible_neighbours(&self, contact: Ulid) -> Vec<Ulid> {
        let mut out: Vec<Ulid> = self
            .mentions_of(contact)
            .flat_map(|m| self.sound_alikes(m))
            .map(|(x, _)| self.mentions[x as usize].contact)
            .collect();
        out.retain(|c| *c != contact);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Works out again whether each of `contacts` has a possible match; returns those whose
    /// answer changed.
    pub fn refresh_possible(&mut self, contacts: &[Ulid]) -> Vec<Ulid> {
        // Whether a mention has a possible match depends only on its identifiers and its group
        // (links and separations by hand are the group's): of mentions alike in both, such as
        // the contacts about a child seen many times under the same name and date of birth,
        // one is looked at, not every one (which made a new contact about a busy child cost
        // the square of its contacts).
        let mut answers: Map<u32, Vec<(u32, bool)>> = Map::default();
        let mut changed = Vec::new();
        for &c in contacts {
            let now = self.mentions_of(c).any(|m| {
                let ids = &self.mentions[m as usize].ids;
                let known = answers.entry(self.group_of(m)).or_default();
                if let Some(&(_, answer)) = known.iter().find(|&&(x, _)| self.mentions[x as usize].ids == *ids) {
                    return answer;
                }
                let answer = !self.possible_matches_of(m).is_empty();
                known.push((m, answer));
                answer
            });
            let was = self.possible.contains(&c);
            if now != was {
                if now {
                    self.possible.insert(c);
                } else {
                    self.possible.remove(&c);
                }
                changed.push(c);
            }
        }
        changed
    }

    /// A contact received: its children and adults indexed, each child linked where the rules
    /// say. Returns the contacts whose previous contacts may have changed (itself included).
    pub fn receive(
        &mut self,
        contact: Ulid,
        received_at: DateTime<Utc>,
        children: &[Child],
        adults: &[Adult],
    ) -> Vec<Ulid> {
        if self.by_contact.contains_key(&contact) {
            return self.update(contact, received_at, children);
        }
        let first = u32::try_from(self.mentions.len()).expect("fewer than 4 billion children indexed");
        let count = u8::try_from(children.len()).unwrap_or(u8::MAX);
        self.by_contact.insert(contact, (first, count));
        for (index, child) in children.iter().enumerate().take(usize::from(count)) {
            let m = first + u32::try_from(index).unwrap_or(0);
            let g = u32::try_from(self.groups.len()).expect("fewer than 4 billion children");
            let id = ChildId::hashed(&format!("frontdoor child\0{contact}\0{index}"));
            self.by_id.insert(id, g);
            self.groups.push(Group { id, order: m, members: smallvec::smallvec![m], merged_into: None });
            let ids = Ids::of(child);
            self.keys.add(&ids, m);
            self.mentions.push(Mention {
                contact,
                index: u8::try_from(index).unwrap_or(u8::MAX),
                received_at,
                name: child.name.clone(),
                ids,
                group: g,
            });
        }
        for adult in adults {
            self.add_adult(contact, adult);
        }
        let mut touched = Vec::new();
        for m in first..first + u32::from(count) {
            self.auto_link(m, true, &mut touched);
        }
        touched.push(contact);
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// The contact's children as corrected (their identifiers or its receipt time): re-keyed and
    /// linked again where the rules now say (a link made is not undone: that is an unlink's).
    pub fn update(&mut self, contact: Ulid, received_at: DateTime<Utc>, children: &[Child]) -> Vec<Ulid> {
        let mut touched = vec![contact];
        for (m, child) in self.mentions_of(contact).zip(children) {
            let ids = Ids::of(child);
            let old = std::mem::take(&mut self.mentions[m as usize].ids);
            self.keys.remove(&old, m);
            self.keys.add(&ids, m);
            let mention = &mut self.mentions[m as usize];
            mention.ids = ids;
            mention.name = child.name.clone();
            mention.received_at = received_at;
            let g = self.group_of(m);
            self.sort_members(g);
            self.contacts_in(g, &mut touched);
            self.auto_link(m, false, &mut touched);
        }
        self.and_their_neighbours(&mut touched, 0);
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// `children_linked`: child `index` of `contact` is the child `child_id`. The older of the
    /// two keeps its id. Returns the contacts whose previous contacts may have changed (empty
    /// when nothing changed: an unknown id or child, or already linked).
    pub fn link(&mut self, contact: Ulid, index: usize, child_id: &str) -> Vec<Ulid> {
        let (Some(m), Some(other)) = (self.mentions_of(contact).nth(index), self.group_named(child_id)) else {
            return Vec::new();
        };
        let mine = self.group_of(m);
        if mine == other {
            return Vec::new();
        }
        let mut touched = Vec::new();
        self.contacts_in(mine, &mut touched);
        self.contacts_in(other, &mut touched);
        self.blocked.retain(|&(x, g)| !(x == m && (g == other || g == mine)));
        self.merge(mine, other);
        self.and_their_neighbours(&mut touched, 0);
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// `children_unlinked` (event `event`): child `index` of `contact` is not the child
    /// `child_id`. It becomes a child of its own, with a new id, and is not linked to that child
    /// again automatically. Returns the contacts whose previous contacts may have changed
    /// (empty when nothing changed: the child is not linked to that id).
    pub fn unlink(&mut self, contact: Ulid, index: usize, child_id: &str, event: Ulid) -> Vec<Ulid> {
        let (Some(m), Some(g)) = (self.mentions_of(contact).nth(index), self.group_named(child_id)) else {
            return Vec::new();
        };
        if self.group_of(m) != g {
            return Vec::new();
        }
        let mut touched = Vec::new();
        self.contacts_in(g, &mut touched);
        self.blocked.insert((m, g));
        if self.groups[g as usize].members.len() > 1 {
            self.groups[g as usize].members.retain(|x| *x != m);
            let new = u32::try_from(self.groups.len()).expect("fewer than 4 billion children");
            let mention = &self.mentions[m as usize];
            let id = ChildId::hashed(&format!("frontdoor child\0{}\0{}\0{event}", mention.contact, mention.index));
            self.by_id.insert(id, new);
            self.groups.push(Group { id, order: m, members: smallvec::smallvec![m], merged_into: None });
            self.mentions[m as usize].group = new;
        }
        self.and_their_neighbours(&mut touched, 0);
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// Links mention `m`'s group with every group the rules link it to automatically. `fresh`:
    /// `m` was just received, in a group of its own that no possible match has been worked out
    /// for yet.
    fn auto_link(&mut self, m: u32, fresh: bool, touched: &mut Vec<Ulid>) {
        let mut fresh = fresh;
        let ids = self.mentions[m as usize].ids.clone();
        let mut found: Vec<u32> = Vec::new();
        if let Some(k) = &ids.nhs {
            found.extend(self.keyed(&self.keys.nhs, nhs_of, k));
        }
        if let Some(k) = &ids.upn {
            found.extend(self.keyed(&self.keys.upn, upn_of, k));
        }
        if let Some(k) = &ids.child_ref {
            found.extend(self.keyed(&self.keys.child_ref, child_ref_of, k));
        }
        if let Some(d) = ids.dob {
            found.extend(self.same_name_on(&ids.name, d));
        }
        // The distinct groups found: mostly one (a child seen before), however many contacts
        // it has, so a short list beats sorting every mention found.
        let mut groups: Vec<u32> = Vec::new();
        for x in found.into_iter().filter(|&x| x != m) {
            let g = self.group_of(x);
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        groups.sort_unstable_by_key(|&g| self.groups[g as usize].order);
        for other in groups {
            let mine = self.group_of(m);
            let other = self.resolve(other);
            if mine == other || !self.may_auto_link(mine, other) {
                continue;
            }
            if fresh {
                self.contacts_counting_anew(mine, other, touched);
            } else {
                // Two children seen before become one (a mention that shares an identifier with
                // both, or a corrected one): each may have been the other's possible match, and
                // each one's separations by hand now hold for both, so every contact of both,
                // and their sound-alike neighbours, are looked at again.
                let start = touched.len();
                self.contacts_in(mine, touched);
                self.contacts_in(other, touched);
                self.and_their_neighbours(touched, start);
            }
            self.merge(mine, other);
            fresh = false;
        }
    }

    /// The contacts whose previous contacts or possible matches may change when groups `a` and
    /// `b` are merged. A contact counts only what came before it, so for the counts those of
    /// each received after the other's first mention; but a group that gains an NHS number, UPN
    /// or `child_ref` it did not have may now conflict with a child that was a possible match
    /// of any of its contacts, so then all of them. A new contact about a child seen before, by
    /// an identifier the child already has (or none), touches itself only, not the child's
    /// every contact.
    fn contacts_counting_anew(&self, a: u32, b: u32, out: &mut Vec<Ulid>) {
        for (this, other) in [(a, b), (b, a)] {
            let members = &self.groups[this as usize].members;
            let Some(&first) = self.groups[other as usize].members.first() else { continue };
            if self.brings_new_identifiers(other, this) {
                let start = out.len();
                out.extend(members.iter().map(|&i| self.mentions[i as usize].contact));
                self.and_their_neighbours(out, start);
            } else {
                let since = self.mentions[first as usize].received_at;
                let from = members.partition_point(|&i| self.mentions[i as usize].received_at <= since);
                out.extend(members[from..].iter().map(|&i| self.mentions[i as usize].contact));
            }
        }
    }

    /// Adds to `out` the sound-alike neighbours ([`ChildIndex::possible_neighbours`]) of the
    /// contacts in `out[start..]`: when a child gains or loses identifiers, a child that
    /// sounded like any of its mentions may gain or lose it as a possible match.
    fn and_their_neighbours(&self, out: &mut Vec<Ulid>, start: usize) {
        let mut contacts = out[start..].to_vec();
        contacts.sort_unstable();
        contacts.dedup();
        for c in contacts {
            out.extend(self.possible_neighbours(c));
        }
    }

    /// Whether group `from` holds an NHS number, UPN or `child_ref` that group `into` does not.
    /// Cheap for the usual merge, a single mention joining a child (a look in the key's list
    /// until a mention of `into` is found) and the other way round (the child's mentions
    /// against the single one's, with no allocation); two larger groups are taken to (a link
    /// by hand or a correction: rare).
    fn brings_new_identifiers(&self, from: u32, into: u32) -> bool {
        let [m] = self.groups[from as usize].members[..] else {
            let [single] = self.groups[into as usize].members[..] else { return true };
            // Taking it to bring new ones here would count again, and look for possible matches
            // again, every contact that sounds like the child: for a child with many contacts,
            // each new one would cost the square of them.
            let mine = &self.mentions[single as usize].ids;
            return self.groups[from as usize].members.iter().any(|&x| {
                let theirs = &self.mentions[x as usize].ids;
                IDENTIFIERS.iter().any(|f| f(theirs).is_some() && f(theirs) != f(mine))
            });
        };
        let ids = &self.mentions[m as usize].ids;
        [&self.keys.nhs, &self.keys.upn, &self.keys.child_ref]
            .into_iter()
            .zip(IDENTIFIERS)
            .filter_map(|(map, field)| field(ids).as_deref().map(|v| self.keyed(map, field, v)))
            .any(|mut same| !same.any(|x| x != m && self.group_of(x) == into))
    }

    /// Whether two groups may be linked automatically: no NHS number, UPN or `child_ref` of one
    /// conflicts with the other's, and neither holds a child separated from the other by hand.
    fn may_auto_link(&self, a: u32, b: u32) -> bool {
        let values = |g: u32, f: Field| -> Vec<&str> {
            self.groups[g as usize]
                .members
                .iter()
                .filter_map(|&m| f(&self.mentions[m as usize].ids).as_deref())
                .collect()
        };
        // The smaller group's values against the larger's members, stopping at the first shared
        // value: a new contact about a child seen before, by its NHS number, costs one look, not
        // one per contact the child has.
        let (small, large) = if self.groups[a as usize].members.len() <= self.groups[b as usize].members.len() {
            (a, b)
        } else {
            (b, a)
        };
        for f in IDENTIFIERS {
            let y = values(small, f);
            if y.is_empty() {
                continue;
            }
            let mut has_any = false;
            let mut shares = false;
            for &m in &self.groups[large as usize].members {
                if let Some(v) = f(&self.mentions[m as usize].ids).as_deref() {
                    has_any = true;
                    if y.contains(&v) {
                        shares = true;
                        break;
                    }
                }
            }
            if has_any && !shares {
                return false;
            }
        }
        let blocked = |from: u32, to: u32| {
            self.groups[from as usize]
                .members
                .iter()
                .any(|&m| self.blocked.iter().any(|&(x, g)| x == m && self.resolve(g) == to))
        };
        self.blocked.is_empty() || (!blocked(a, b) && !blocked(b, a))
    }

    /// Merges two groups: the older (by its oldest mention) keeps its id.
    fn merge(&mut self, a: u32, b: u32) {
        let (keep, gone) = if self.groups[a as usize].order <= self.groups[b as usize].order { (a, b) } else { (b, a) };
        let moved = std::mem::take(&mut self.groups[gone as usize].members);
        for &m in &moved {
            self.mentions[m as usize].group = keep;
        }
        self.groups[gone as usize].merged_into = Some(keep);
        if let [one] = moved[..] {
            // The usual merge, a new mention joining a child seen before: put in its place.
            let key = |m: u32| (self.mentions[m as usize].received_at, m);
            let at = self.groups[keep as usize].members.partition_point(|&x| key(x) < key(one));
            self.groups[keep as usize].members.insert(at, one);
        } else {
            self.groups[keep as usize].members.extend(moved);
            self.sort_members(keep);
        }
    }

    fn sort_members(&mut self, g: u32) {
        let mut members = std::mem::take(&mut self.groups[g as usize].members);
        members.sort_by_key(|&m| (self.mentions[m as usize].received_at, m));
        self.groups[g as usize].members = members;
    }

    fn add_adult(&mut self, contact: Ulid, adult: &Adult) {
        let a = u32::try_from(self.adults.len()).expect("fewer than 4 billion adults indexed");
        let name = fold(&adult.name);
        let ids = Ids {
            codes: codes(&name),
            name: name.into(),
            dob: adult.date_of_birth,
            postcode: postcode_of(adult.address.as_ref()),
            ..Ids::default()
        };
        for word in &ids.codes {
            for code in word.iter() {
                put(&mut self.adult_codes, code, a);
            }
        }
        if let Some(d) = ids.dob {
            put(&mut self.adult_dob, d, a);
        }
        if let Some(p) = &ids.postcode {
            put(&mut self.adult_postcode, text_key(p), a);
        }
        self.adults.push(AdultMention { contact, name: adult.name.clone(), relationship: adult.relationship, ids });
    }

    /// The record of the child `child_id` names (a merged id names the child it was merged
    /// into).
    pub fn child(&self, child_id: &str) -> Option<ChildRecord> {
        let g = self.group_named(child_id)?;
        let group = &self.groups[g as usize];
        let mut names: Vec<String> = Vec::new();
        let mut record = ChildRecord {
            child_id: group.id.as_str().to_string(),
            names: Vec::new(),
            date_of_birth: None,
            nhs_numbers: Vec::new(),
            upns: Vec::new(),
            child_refs: Vec::new(),
            contacts: Vec::new(),
            consultations: Vec::new(),
        };
        let mut by_order: Vec<u32> = group.members.to_vec();
        by_order.sort_unstable();
        for &m in &by_order {
            let mention = &self.mentions[m as usize];
            if !names.contains(&mention.name) {
                names.push(mention.name.clone());
            }
            let add = |list: &mut Vec<String>, v: &Option<Box<str>>| {
                if let Some(v) = v
                    && !list.iter().any(|x| **x == **v)
                {
                    list.push(v.to_string());
                }
            };
            add(&mut record.nhs_numbers, &mention.ids.nhs);
            add(&mut record.upns, &mention.ids.upn);
            add(&mut record.child_refs, &mention.ids.child_ref);
        }
        record.names = names;
        record.date_of_birth = self.latest_dob(g);
        let (consultations, contacts) = group
            .members
            .iter()
            .map(|&m| {
                let mention = &self.mentions[m as usize];
                (mention.contact, mention.index, mention.received_at)
            })
            .partition(|(about, _, _)| self.consultations.contains(about));
        record.contacts = contacts;
        record.consultations = consultations;
        Some(record)
    }

    fn latest_dob(&self, g: u32) -> Option<NaiveDate> {
        self.groups[g as usize].members.iter().rev().find_map(|&m| self.mentions[m as usize].ids.dob)
    }

    /// The children matching `query`, best first (then by child id), at most
    /// [`MAX_CANDIDATES`]. Candidates come from the exact keys and the name's sound-alike
    /// codes, never a scan of every child.
    pub fn search(&self, query: &Query) -> Vec<Candidate> {
        let q = Terms::of(query);
        let mut pool: Vec<u32> = Vec::new();
        if let Some(n) = &q.nhs {
            pool.extend(self.keyed(&self.keys.nhs, nhs_of, n));
        }
        if let Some(u) = &q.upn {
            pool.extend(self.keyed(&self.keys.upn, upn_of, u));
        }
        if let Some(p) = &q.postcode {
            pool.extend(self.keyed(&self.keys.postcode, postcode_of_ids, p));
        }
        let mut from = |v: Option<&Numbers>| pool.extend(v.into_iter().flatten().copied());
        for day in q.dob_variants() {
            from(self.keys.dob.get(&day));
        }
        if let Some(words) = &q.codes {
            // Every word of the name must sound like a word of the child's: only the children in
            // every word's bucket can, so the buckets are intersected, smallest first.
            let bucket = |word: &WordCodes| -> Vec<u32> {
                let mut v: Vec<u32> =
                    word.iter().flat_map(|c| self.keys.code.get(&c).into_iter().flatten().copied()).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            let mut buckets: Vec<Vec<u32>> = words.iter().map(bucket).collect();
            buckets.sort_by_key(Vec::len);
            let mut buckets = buckets.into_iter();
            if let Some(mut common) = buckets.next() {
                for other in buckets {
                    common.retain(|m| other.binary_search(m).is_ok());
                }
                pool.extend(common);
            }
        }
        // The best reasons of each child; the candidates are built for the best only.
        let mut best: Map<u32, (f64, Vec<&'static str>)> = Map::default();
        for m in pool {
            let reasons = q.reasons(&self.mentions[m as usize].ids);
            if !q.enough(&reasons) {
                continue;
            }
            let score = score_of(&reasons);
            let entry = best.entry(self.group_of(m)).or_insert((0.0, Vec::new()));
            if score > entry.0 {
                *entry = (score, reasons);
            }
        }
        let mut ranked: Vec<(u32, f64, Vec<&'static str>)> = best.into_iter().map(|(g, (s, r))| (g, s, r)).collect();
        let id = |g: u32| &self.groups[g as usize].id;
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| id(a.0).cmp(id(b.0))));
        ranked.truncate(MAX_CANDIDATES);
        ranked
            .into_iter()
            .map(|(g, score, matched_on)| {
                let group = &self.groups[g as usize];
                let latest = group.members.last().copied().unwrap_or(group.order);
                let (consultations, mut contacts): (Vec<Ulid>, Vec<Ulid>) = group
                    .members
                    .iter()
                    .map(|&x| self.mentions[x as usize].contact)
                    .partition(|about| self.consultations.contains(about));
                contacts.sort_unstable();
                contacts.dedup();
                let consultations = {
                    let mut c = consultations;
                    c.sort_unstable();
                    c.dedup();
                    c.len()
                };
                Candidate {
                    child_id: group.id.as_str().to_string(),
                    name: self.mentions[latest as usize].name.clone(),
                    date_of_birth: self.latest_dob(g),
                    matched_on,
                    score,
                    contacts: u32::try_from(contacts.len()).unwrap_or(u32::MAX),
                    consultations: u32::try_from(consultations).unwrap_or(u32::MAX),
                }
            })
            .collect()
    }

    /// The adults matching the query's name, date of birth or postcode, best first (then by
    /// name), at most [`MAX_CANDIDATES`]. The adults of several contacts with the same name
    /// (once folded) and date of birth are one candidate, listing each contact.
    pub fn search_adults(&self, query: &Query) -> Vec<AdultCandidate> {
        let q = Terms::of(query);
        let mut pool: Vec<u32> = Vec::new();
        if let Some(p) = &q.postcode {
            pool.extend(filed(&self.adult_postcode, p, |a| {
                self.adults[a as usize].ids.postcode.as_deref() == Some(p.as_ref())
            }));
        }
        for day in q.dob_variants() {
            pool.extend(self.adult_dob.get(&day).into_iter().flatten());
        }
        if let Some(words) = &q.codes {
            let smallest = words
                .iter()
                .map(|w| {
                    w.iter().flat_map(|c| self.adult_codes.get(&c).into_iter().flatten().copied()).collect::<Vec<_>>()
                })
                .min_by_key(Vec::len);
            pool.extend(smallest.into_iter().flatten());
        }
        pool.sort_unstable();
        pool.dedup();
        // One person per folded name and date of birth: their best reasons, their mentions.
        let mut people: Map<Person, (f64, Vec<&'static str>, Vec<u32>)> = Map::default();
        for a in pool {
            let adult = &self.adults[a as usize];
            let reasons = q.reasons(&adult.ids);
            if !q.enough(&reasons) {
                continue;
            }
            let score = score_of(&reasons);
            let entry = people.entry((adult.ids.name.clone(), adult.ids.dob)).or_insert((0.0, Vec::new(), Vec::new()));
            if score > entry.0 {
                entry.0 = score;
                entry.1 = reasons;
            }
            entry.2.push(a);
        }
        let mut out: Vec<AdultCandidate> = people
            .into_iter()
            .map(|((_, dob), (score, matched_on, mut found))| {
                found.sort_unstable();
                let latest = &self.adults[*found.last().unwrap_or(&0) as usize];
                let mut relationships: Vec<Relationship> = Vec::new();
                let mut contacts: Vec<AdultContact> = Vec::new();
                for &a in &found {
                    let adult = &self.adults[a as usize];
                    if !relationships.contains(&adult.relationship) {
                        relationships.push(adult.relationship);
                    }
                    if !contacts.iter().any(|c| c.contact_id == adult.contact) {
                        let child_ids = self
                            .mentions_of(adult.contact)
                            .map(|m| self.groups[self.group_of(m) as usize].id.as_str().to_string())
                            .collect();
                        contacts.push(AdultContact { contact_id: adult.contact, child_ids });
                    }
                }
                AdultCandidate {
                    name: latest.name.clone(),
                    date_of_birth: dob,
                    relationships,
                    matched_on,
                    score,
                    contacts,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.contacts.first().map(|c| c.contact_id).cmp(&b.contacts.first().map(|c| c.contact_id)))
        });
        out.truncate(MAX_CANDIDATES);
        out
    }

    /// How many children the index holds (as linked now) and how many mentions.
    pub fn len(&self) -> (usize, usize) {
        (self.groups.iter().filter(|g| g.merged_into.is_none() && !g.members.is_empty()).count(), self.mentions.len())
    }
}

fn score_of(reasons: &[&str]) -> f64 {
    let total: f64 = reasons.iter().map(|r| weight(r)).sum();
    (total.min(1.0) * 100.0).round() / 100.0
}

/// Whether `reasons` make someone a candidate for the query `q`: any reason at all, except
/// that once a name is asked for, the name (or its sound) or an identifier must match. A shared
/// date of birth or postcode alone would otherwise offer every child born that day or living
/// there, show their names to the searcher and record a read of their contacts.
impl Terms {
    fn enough(&self, reasons: &[&str]) -> bool {
        if self.codes.is_none() {
            return !reasons.is_empty();
        }
        reasons.iter().any(|r| matches!(*r, "name" | "name_phonetic" | "nhs_number" | "upn"))
    }
}

/// A query, normalised as the index's keys are.
struct Terms {
    nhs: Option<Box<str>>,
    upn: Option<Box<str>>,
    postcode: Option<Box<str>>,
    dob: Option<NaiveDate>,
    name: Option<Box<str>>,
    codes: Option<Box<[WordCodes]>>,
}

impl Terms {
    /// A mention's name and date of birth as a query (its identifiers left out): what its
    /// sound-alikes are matched against. `None` without a date of birth.
    fn name_and_dob(ids: &Ids) -> Option<Terms> {
        Some(Terms {
            nhs: None,
            upn: None,
            postcode: None,
            dob: Some(ids.dob?),
            name: Some(ids.name.clone()),
            codes: Some(ids.codes.clone()).filter(|c| !c.is_empty()),
        })
    }

    fn of(q: &Query) -> Terms {
        let name = q.name.as_deref().map(fold).filter(|n| !n.is_empty());
        Terms {
            nhs: q
                .nhs_number
                .as_deref()
                .map(|n| n.chars().filter(char::is_ascii_digit).collect::<String>())
                .filter(|n| !n.is_empty())
                .map(Into::into),
            upn: q
                .upn
                .as_deref()
                .map(|u| u.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_uppercase).collect::<String>())
                .filter(|u| !u.is_empty())
                .map(Into::into),
            postcode: q
                .postcode
                .as_deref()
                .map(events::validate::normal_postcode)
                .filter(|p| !p.is_empty())
                .map(Into::into),
            dob: q.date_of_birth,
            codes: name.as_deref().map(codes).filter(|c| !c.is_empty()),
            name: name.map(Into::into),
        }
    }

    /// The dates a partial match looks in directly: the date itself and the date with day and
    /// month swapped (same year and month is found through the name).
    fn dob_variants(&self) -> Vec<NaiveDate> {
        let Some(d) = self.dob else { return Vec::new() };
        let mut out = vec![d];
        if let Some(swapped) = NaiveDate::from_ymd_opt(d.year(), d.day(), d.month())
            && swapped != d
        {
            out.push(swapped);
        }
        out
    }

    /// How the name matches a child with `ids`: `name` (the same once folded),
    /// `name_phonetic` (every word sounds like a word of theirs), or not at all.
    fn name_match(&self, ids: &Ids) -> Option<&'static str> {
        let name = self.name.as_ref()?;
        if **name == *ids.name {
            Some("name")
        } else if let Some(words) = &self.codes
            && sounds_like(words, &ids.codes)
        {
            Some("name_phonetic")
        } else {
            None
        }
    }

    /// How the date of birth matches a child with `ids`: `date_of_birth` (the same),
    /// `date_of_birth_partial` (only beside a name that matches: `named`), or not at all.
    fn date_match(&self, ids: &Ids, named: bool) -> Option<&'static str> {
        let (q, d) = (self.dob?, ids.dob?);
        if q == d {
            Some("date_of_birth")
        } else if named && partial_date(q, d) {
            Some("date_of_birth_partial")
        } else {
            None
        }
    }

    /// Why a child with `ids` matches, in [`MATCH_WEIGHTS`]' order (empty: it does not).
    fn reasons(&self, ids: &Ids) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.nhs.is_some() && self.nhs == ids.nhs {
            out.push("nhs_number");
        }
        if self.upn.is_some() && self.upn == ids.upn {
            out.push("upn");
        }
        let name = self.name_match(ids);
        out.extend(name);
        out.extend(self.date_match(ids, name.is_some()));
        if self.postcode.is_some() && self.postcode == ids.postcode {
            out.push("postcode");
        }
        out
    }
}

/// Whether every word of the query sounds like a different word of the name.
fn sounds_like(query: &[WordCodes], name: &[WordCodes]) -> bool {
    let mut used = vec![false; name.len()];
    query.iter().all(|q| {
        let hit = name.iter().enumerate().position(|(i, w)| !used[i] && q.iter().any(|c| w.contains(c)));
        if let Some(i) = hit {
            used[i] = true;
        }
        hit.is_some()
    })
}

/// The same year and month, or the day and month swapped (a date written the American way).
pub fn partial_date(a: NaiveDate, b: NaiveDate) -> bool {
    a != b
        && ((a.year() == b.year() && a.month() == b.month())
            || (a.year() == b.year() && a.day() == b.month() && a.month() == b.day()))
}

#[cfg(test)]
mod tests;

/// A snapshot's maps and sets keyed by contact id: each id as its 128 bits, not its 26 letters.
mod ulid_keys {
    use serde::de::{Deserialize, Deserializer};
    use serde::ser::{Serialize, Serializer};
    use ulid::Ulid;

    /// A map or set by contact id, in and out of a snapshot.
    pub(super) trait ByUlid: Sized {
        type Item: Serialize + for<'de> Deserialize<'de>;
        fn items(&self) -> impl Iterator<Item = (u128, &Self::Item)>;
        fn build(items: Vec<(u128, Self::Item)>) -> Self;
    }

    impl<V: Serialize + for<'de> Deserialize<'de>> ByUlid for super::Map<Ulid, V> {
        type Item = V;
        fn items(&self) -> impl Iterator<Item = (u128, &V)> {
            self.iter().map(|(k, v)| (k.0, v))
        }
        fn build(items: Vec<(u128, V)>) -> Self {
            items.into_iter().map(|(k, v)| (Ulid(k), v)).collect()
        }
    }

    impl ByUlid for std::collections::HashSet<Ulid, foldhash::fast::RandomState> {
        type Item = ();
        fn items(&self) -> impl Iterator<Item = (u128, &())> {
            self.iter().map(|k| (k.0, &()))
        }
        fn build(items: Vec<(u128, ())>) -> Self {
            items.into_iter().map(|(k, ())| Ulid(k)).collect()
        }
    }

    pub(super) fn serialize<T: ByUlid, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(value.items())
    }

    pub(super) fn deserialize<'de, T: ByUlid, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        Vec::<(u128, T::Item)>::deserialize(deserializer).map(T::build)
    }
}
