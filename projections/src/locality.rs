//! Localities (Devon's locality hubs): named groups of postcode districts, configured by the
//! council, that split every figure. A contact's locality is the one listing the district of
//! its first child's address postcode; [`UNKNOWN`] when that child has no postcode, [`OTHER`]
//! when no locality lists the district. The log holds postcodes only: the locality is worked
//! out when the figures are, so a changed map re-splits the whole history.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::facts::ContactFacts;
use crate::model::Consultation;

/// The locality of a contact whose first child has no postcode.
pub const UNKNOWN: &str = "unknown";
/// The locality of a contact whose first child's postcode district no locality lists.
pub const OTHER: &str = "other";

/// A postcode district: the outward code of a UK postcode (`EX31` of `EX31 1AA`), upper case,
/// without spaces. Four bytes at most, so it is kept for every contact ever received.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct District([u8; 4]);

impl District {
    /// A district as written by a person: case and spaces do not matter (`ex 31` is `EX31`);
    /// `None` unless it is an outward code in the official format.
    pub fn parse(text: &str) -> Option<District> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if !events::validate::is_outward_code(&compact) {
            return None;
        }
        let mut bytes = [0; 4];
        bytes.get_mut(..compact.len())?.copy_from_slice(compact.as_bytes());
        Some(District(bytes))
    }

    /// The district of a full postcode (`EX31 1AA` → `EX31`, `ex311aa` too); `None` when it
    /// is not one.
    pub fn of_postcode(postcode: &str) -> Option<District> {
        let normal = events::validate::normal_postcode(postcode);
        let (outward, inward) = normal.split_once(' ')?;
        (inward.len() == 3).then_some(())?;
        District::parse(outward)
    }

    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        std::str::from_utf8(&self.0[..len]).unwrap_or_default()
    }
}

impl std::fmt::Debug for District {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "District({})", self.as_str())
    }
}

impl std::fmt::Display for District {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for District {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        District::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not a postcode district: {text:?}")))
    }
}

impl Serialize for District {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The configured localities: each name with its districts, no district in two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Localities {
    /// The configured names, in name order.
    names: Vec<String>,
    /// Each district listed, with the index of its locality in `names`.
    districts: BTreeMap<District, usize>,
}

impl Localities {
    /// Localities from the configuration's `[localities]` table (name → districts). Refused,
    /// with a message naming it, when a district is malformed or listed twice, or a name is
    /// empty, too long or one of the reserved [`OTHER`] and [`UNKNOWN`].
    pub fn new(table: impl IntoIterator<Item = (String, Vec<String>)>) -> Result<Localities, String> {
        let mut table: Vec<(String, Vec<String>)> = table.into_iter().collect();
        table.sort_by(|a, b| a.0.cmp(&b.0));
        let mut names = Vec::new();
        let mut districts: BTreeMap<District, usize> = BTreeMap::new();
        for (name, listed) in table {
            let trimmed = name.trim();
            if trimmed.is_empty()
                || trimmed.chars().count() > 60
                || trimmed.chars().any(char::is_control)
                || trimmed != name
            {
                return Err(format!(
                    "localities: {name:?} is not a locality name (1 to 60 characters, no leading or trailing spaces)"
                ));
            }
            if [OTHER, UNKNOWN].iter().any(|r| r.eq_ignore_ascii_case(trimmed)) {
                return Err(format!(
                    "localities: {name:?} is a name kept for contacts no locality covers ({OTHER}) or without a postcode ({UNKNOWN})"
                ));
            }
            if names.contains(&name) {
                return Err(format!("localities: {name:?} is named twice"));
            }
            if listed.is_empty() {
                return Err(format!("localities.{name}: list at least one postcode district, e.g. [\"EX31\"]"));
            }
            for text in listed {
                let district = District::parse(&text).ok_or_else(|| {
                    format!("localities.{name}: {text:?} is not a postcode district (the outward code of a UK postcode, e.g. EX31)")
                })?;
                if let Some(&other) = districts.get(&district) {
                    let other = &names[other];
                    return Err(format!(
                        "localities: {district} is listed by both {other:?} and {name:?} (a district belongs to one locality)"
                    ));
                }
                districts.insert(district, names.len());
            }
            names.push(name);
        }
        Ok(Localities { names, districts })
    }

    /// The configured names, in name order.
    pub fn configured(&self) -> &[String] {
        &self.names
    }

    /// Every locality a contact can be in: the configured ones in name order, then
    /// [`OTHER`] and [`UNKNOWN`].
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str).chain([OTHER, UNKNOWN])
    }

    /// `name` if it is one of [`Localities::names`] (exactly as written).
    pub fn find(&self, name: &str) -> Option<&str> {
        self.names().find(|n| *n == name)
    }

    /// The districts a configured locality lists, in order.
    pub fn districts_of(&self, name: &str) -> Vec<District> {
        let Some(index) = self.names.iter().position(|n| n == name) else { return Vec::new() };
        self.districts.iter().filter(|&(_, &i)| i == index).map(|(d, _)| *d).collect()
    }

    /// The locality of a district: the one listing it, [`OTHER`] when none does, [`UNKNOWN`]
    /// without a district.
    pub fn of_district(&self, district: Option<District>) -> &str {
        match district {
            None => UNKNOWN,
            Some(d) => self.districts.get(&d).map_or(OTHER, |&i| self.names[i].as_str()),
        }
    }

    /// The locality of a contact (of its first child's postcode district).
    pub fn of(&self, contact: &ContactFacts) -> &str {
        self.of_district(contact.district)
    }

    /// The locality of a professional consultation: of its first named child's postcode
    /// district, as a contact's ([`UNKNOWN`] when it names no child or no postcode).
    pub fn of_consultation(&self, consultation: &Consultation) -> &str {
        self.of_district(
            consultation
                .data
                .children
                .first()
                .and_then(|c| c.address.as_ref())
                .and_then(|a| a.postcode.as_deref())
                .and_then(District::of_postcode),
        )
    }

    /// The consultations of `all` in the locality `name`, or all of them for `None`.
    pub fn filter_consultations<'a, 'b>(
        &'b self,
        all: impl IntoIterator<Item = &'a Consultation> + 'b,
        name: Option<&'b str>,
    ) -> impl Iterator<Item = &'a Consultation> + 'b {
        all.into_iter().filter(move |c| name.is_none_or(|n| self.of_consultation(c) == n))
    }

    /// The contacts of `facts` in the locality `name`, or all of them for `None`.
    pub fn filter<'a, 'b>(
        &'b self,
        facts: impl IntoIterator<Item = &'a ContactFacts> + 'b,
        name: Option<&'b str>,
    ) -> impl Iterator<Item = &'a ContactFacts> + 'b {
        facts.into_iter().filter(move |f| name.is_none_or(|n| self.of(f) == n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::testing::contact;

    fn devon() -> Localities {
        Localities::new([
            ("North".to_owned(), vec!["EX31".to_owned(), "ex 32".to_owned(), "EX39".to_owned()]),
            ("Exeter".to_owned(), vec!["EX1".to_owned(), "EX2".to_owned()]),
        ])
        .unwrap()
    }

    #[test]
    fn a_postcodes_district_is_its_outward_code_whatever_the_case_and_spaces() {
        assert_eq!(District::of_postcode("EX31 1AA").unwrap().as_str(), "EX31");
        assert_eq!(District::of_postcode("ex311aa").unwrap().as_str(), "EX31");
        assert_eq!(District::of_postcode(" sw1a  2aa ").unwrap().as_str(), "SW1A");
        assert_eq!(District::of_postcode("M1 1AE").unwrap().as_str(), "M1");
        assert_eq!(District::of_postcode("90210"), None);
        assert_eq!(District::of_postcode("EX31"), None, "a district alone is not a postcode");
        assert_eq!(District::parse(" ex 31 ").unwrap().as_str(), "EX31");
        assert_eq!(District::parse("EX31 1AA"), None);
        assert_eq!(District::parse("QX1"), None);
    }

    #[test]
    fn a_contact_is_in_the_locality_listing_its_district_else_other_or_unknown() {
        let l = devon();
        assert_eq!(l.configured(), ["Exeter", "North"]);
        assert_eq!(l.names().collect::<Vec<_>>(), ["Exeter", "North", "other", "unknown"]);
        assert_eq!(l.of(&contact("2026-03-02T09:00:00Z").in_district("EX32")), "North");
        assert_eq!(l.of(&contact("2026-03-02T09:00:00Z").in_district("EX1")), "Exeter");
        assert_eq!(l.of(&contact("2026-03-02T09:00:00Z").in_district("PL1")), OTHER);
        assert_eq!(l.of(&contact("2026-03-02T09:00:00Z")), UNKNOWN);
        assert_eq!(l.find("North"), Some("North"));
        assert_eq!(l.find("north"), None, "names are exact");
        assert_eq!(l.find("unknown"), Some("unknown"));
        assert_eq!(l.districts_of("North").iter().map(District::as_str).collect::<Vec<_>>(), ["EX31", "EX32", "EX39"]);
        // With none configured every contact with a postcode is `other`.
        let none = Localities::default();
        assert_eq!(none.of(&contact("2026-03-02T09:00:00Z").in_district("EX32")), OTHER);
    }

    #[test]
    fn a_bad_table_is_refused_naming_what_is_wrong() {
        let one =
            |name: &str, districts: &[&str]| (name.to_owned(), districts.iter().map(|d| (*d).to_owned()).collect());
        let err = Localities::new([one("North", &["EX31"]), one("South", &["ex31"])]).unwrap_err();
        assert!(err.contains("EX31") && err.contains("North") && err.contains("South"), "{err}");
        let err = Localities::new([one("North", &["EX31", "EX3X1"])]).unwrap_err();
        assert!(err.contains("localities.North") && err.contains("EX3X1"), "{err}");
        let err = Localities::new([one("other", &["EX31"])]).unwrap_err();
        assert!(err.contains("\"other\""), "{err}");
        let err = Localities::new([one("North", &[])]).unwrap_err();
        assert!(err.contains("localities.North"), "{err}");
        let err = Localities::new([one(" North", &["EX31"])]).unwrap_err();
        assert!(err.contains("\" North\""), "{err}");
    }
}
