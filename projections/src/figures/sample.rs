//! The case-audit sample, for `GET /v1/audit/sample`: a random choice of decided contacts
//! that anyone can draw again from the same log, period, size and seed, and get the same
//! contacts (Warwickshire audits cases every 4–6 weeks; an inspector may ask how the
//! cases were chosen, and re-draw them).
//!
//! The random stream is this module's own, fully specified below, not a crate's: a
//! library is free to change its generator between versions, which would silently change
//! past samples.

use chrono::NaiveDate;
use ulid::Ulid;

use super::received_in;
use crate::facts::ContactFacts;

/// `n` decided contacts received from `from` to `to` (London dates, both included), drawn
/// at random with `seed`; all of them if there are `n` or fewer. Sorted by receipt time
/// (then contact id).
///
/// The draw, exactly (`docs/FIGURES.md` says the same for readers):
/// 1. candidates: contacts received in the period that have a decision, each once,
///    sorted by contact id (ULID order, i.e. by its 128-bit value);
/// 2. a [`SplitMix64`] generator seeded with `seed`;
/// 3. for `i` from 0 while `i < min(n, number of candidates)`: draw `j = i +`
///    [`SplitMix64::below`]`(candidates − i)` and swap candidates `i` and `j` (the first
///    steps of a Fisher–Yates shuffle);
/// 4. the first `min(n, candidates)` candidates are the sample.
///
/// So the same seed always gives the same sample; and asking for more cases with the same
/// seed keeps every case already drawn and adds to it.
pub fn audit_sample<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
    n: usize,
    seed: u64,
) -> Vec<Ulid> {
    audit_sample_of(facts, from, to, n, seed, |_| true)
}

/// [`audit_sample`] drawn only from the decided contacts that `keep` keeps (step 1 of the
/// draw filters its candidates; the rest is the same), e.g. those whose decision or
/// acceptance was recorded late ([`super::timeliness::is_recorded_late`]).
pub fn audit_sample_of<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
    n: usize,
    seed: u64,
    keep: impl Fn(&ContactFacts) -> bool,
) -> Vec<Ulid> {
    let mut candidates: Vec<&ContactFacts> =
        received_in(facts, from, to).filter(|c| c.first_decision_at.is_some() && keep(c)).collect();
    candidates.sort_by_key(|c| c.contact_id);
    candidates.dedup_by_key(|c| c.contact_id);
    let len = candidates.len();
    let take = n.min(len);
    let mut rng = SplitMix64::new(seed);
    for i in 0..take {
        let remaining = u64::try_from(len - i).expect("fewer than 2^64 candidates");
        let offset = usize::try_from(rng.below(remaining)).expect("below a usize bound");
        candidates.swap(i, i + offset);
    }
    candidates.truncate(take);
    candidates.sort_by_key(|c| (c.received_at, c.contact_id));
    candidates.into_iter().map(|c| c.contact_id).collect()
}

/// SplitMix64 (Steele, Lea and Flood 2014; the reference code is Vigna's
/// `splitmix64.c`): a 64-bit state advanced by the constant `0x9E3779B97F4A7C15`, each
/// output the new state mixed by
/// `z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
/// z ^ (z >> 31)` (all arithmetic modulo 2^64). Small, fast, statistically sound for
/// drawing samples, and simple enough to re-implement in a spreadsheet macro or Python to
/// check a sample by hand. Not for secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw from `0..bound` without modulo bias: outputs below `2^64 mod bound`
    /// are rejected and the next one is drawn; the first accepted output `x` gives
    /// `x mod bound`.
    ///
    /// # Panics
    /// If `bound` is 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "an empty range has nothing to draw");
        let reject_under = bound.wrapping_neg() % bound; // (2^64 − bound) mod bound = 2^64 mod bound
        loop {
            let x = self.next_u64();
            if x >= reject_under {
                return x % bound;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::figures::testing::{at, contact, d};

    /// Twenty decided contacts in the week of 2 March 2026, ids 1..=20, received in an
    /// order that is not their id order (id `i` at 09:00 plus `(7 i mod 20)` hours).
    fn decided_contacts() -> Vec<ContactFacts> {
        (1..=20u32)
            .map(|i| {
                let received = at("2026-03-02T09:00:00Z") + TimeDelta::hours(i64::from(7 * i % 20));
                let decided = received + TimeDelta::hours(1);
                contact(&received.to_rfc3339()).decided(&decided.to_rfc3339()).id(u128::from(i))
            })
            .collect()
    }

    fn ids(numbers: &[u128]) -> Vec<Ulid> {
        numbers.iter().map(|&n| Ulid(n)).collect()
    }

    #[test]
    fn splitmix64_matches_the_reference_outputs() {
        // Vigna's splitmix64.c seeded with 0, and with 1234567.
        let mut rng = SplitMix64::new(0);
        assert_eq!(
            [rng.next_u64(), rng.next_u64(), rng.next_u64()],
            [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
        );
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(
            [rng.next_u64(), rng.next_u64(), rng.next_u64()],
            [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423]
        );
    }

    #[test]
    fn below_stays_in_range_and_rejects_the_biased_tail() {
        let mut rng = SplitMix64::new(7);
        assert!((0..1000).all(|_| rng.below(3) < 3));
        assert_eq!(SplitMix64::new(7).below(1), 0);
        // With bound 2^63 + 1, 2^64 mod bound = 2^63 − 1: the first output of seed 0
        // (0xE220…, above it) is accepted.
        let bound = (1u64 << 63) + 1;
        assert_eq!(SplitMix64::new(0).below(bound), 0xE220_A839_7B1D_CDAF - bound);
    }

    #[test]
    fn the_sample_for_a_seed_is_fixed_forever() {
        // Worked out independently of this code (a Python transcription of the documented
        // draw); a change here means past samples can no longer be re-drawn.
        let facts = decided_contacts();
        let week = (d(2026, 3, 2), d(2026, 3, 8));
        assert_eq!(audit_sample(&facts, week.0, week.1, 5, 2026), ids(&GOLDEN_2026_5));
        assert_eq!(audit_sample(&facts, week.0, week.1, 5, 0), ids(&GOLDEN_0_5));
    }

    #[test]
    fn the_same_seed_gives_the_same_sample_another_seed_another() {
        let facts = decided_contacts();
        let a = audit_sample(&facts, d(2026, 3, 2), d(2026, 3, 8), 6, 42);
        let mut reversed = facts.clone();
        reversed.reverse();
        assert_eq!(audit_sample(&reversed, d(2026, 3, 2), d(2026, 3, 8), 6, 42), a, "input order does not matter");
        assert_ne!(audit_sample(&facts, d(2026, 3, 2), d(2026, 3, 8), 6, 43), a);
        assert_eq!(a.len(), 6);
    }

    #[test]
    fn the_sample_is_sorted_by_receipt_and_grows_by_adding_cases() {
        let facts = decided_contacts();
        let received = |id: &Ulid| facts.iter().find(|c| c.contact_id == *id).unwrap().received_at;
        let five = audit_sample(&facts, d(2026, 3, 2), d(2026, 3, 8), 5, 9);
        assert!(five.windows(2).all(|w| received(&w[0]) <= received(&w[1])));
        let eight = audit_sample(&facts, d(2026, 3, 2), d(2026, 3, 8), 8, 9);
        assert!(five.iter().all(|id| eight.contains(id)));
    }

    #[test]
    fn only_decided_contacts_in_the_period_and_all_when_n_is_larger() {
        let mut facts = decided_contacts();
        facts.truncate(3);
        facts.push(contact("2026-03-03T09:00:00Z").id(100)); // undecided
        facts.push(contact("2026-03-09T09:00:00Z").decided("2026-03-09T10:00:00Z").id(101)); // next week
        facts.push(facts[0].clone()); // the same contact twice
        let sample = audit_sample(&facts, d(2026, 3, 2), d(2026, 3, 8), 50, 1);
        // Ids 1, 2, 3 were received at 16:00, 23:00 and 10:00.
        assert_eq!(sample, ids(&[3, 1, 2]));
        assert!(audit_sample(&facts, d(2026, 3, 2), d(2026, 3, 8), 0, 1).is_empty());
        assert!(audit_sample(&[], d(2026, 3, 2), d(2026, 3, 8), 5, 1).is_empty());
    }

    #[test]
    fn late_recording_is_visible_in_a_sample_drawn_from_the_late_ones_only() {
        use crate::figures::timeliness::is_recorded_late;
        use crate::time::DuePolicy;
        // Ids 1..=20; ids 3, 7 and 12 recorded their decision two days late, id 15 had its
        // decision moved by a correction.
        let facts: Vec<ContactFacts> = decided_contacts()
            .into_iter()
            .map(|c| match c.contact_id.0 {
                3 | 7 | 12 => {
                    let late = c.first_decision_at.unwrap() + TimeDelta::hours(48);
                    c.decision_recorded(&late.to_rfc3339())
                }
                15 => c.decision_backdated(),
                _ => c,
            })
            .collect();
        let policy = DuePolicy::default();
        let week = (d(2026, 3, 2), d(2026, 3, 8));
        let late = |n| audit_sample_of(&facts, week.0, week.1, n, 2026, |c| is_recorded_late(c, &policy));
        // All four when asked for more, by receipt: 09:00 plus 7·3 mod 20 = 1 hour (id 3),
        // 84 mod 20 = 4 (id 12), 105 mod 20 = 5 (id 15), 49 mod 20 = 9 (id 7).
        assert_eq!(late(10), ids(&[3, 12, 15, 7]));
        // Two of them, every one recorded late, and the same two again.
        let two = late(2);
        assert_eq!(two.len(), 2);
        assert!(two.iter().all(|id| [3, 7, 12, 15].contains(&id.0)), "{two:?}");
        assert_eq!(late(2), two);
        // Keeping every contact is the plain sample.
        assert_eq!(audit_sample_of(&facts, week.0, week.1, 5, 2026, |_| true), ids(&GOLDEN_2026_5));
    }

    const GOLDEN_2026_5: [u128; 5] = [9, 12, 13, 11, 14];
    const GOLDEN_0_5: [u128; 5] = [6, 18, 1, 4, 16];
}
