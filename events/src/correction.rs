//! Which fields of which events a `correction_recorded` may correct, and how its `field` and
//! `value` read.
//!
//! A correction is an event of its own: the corrected event stays in the log as it was
//! written, and every reader (the contact's fold, the figures, Annex A, an as-of replay from
//! the correction's position on) reads the corrected value instead. `field` is written as the
//! API's error paths are (`children[0].date_of_birth`, `restricted`, `occurred_at`) and names
//! a field of the corrected event. Only the fields below may be corrected:
//!
//! | corrected event | fields |
//! |---|---|
//! | `contact_received` | `children[i].name`, `children[i].date_of_birth`, `children[i].sex`, `children[i].nhs_number`, `children[i].upn`, `children[i].ethnicity`, `immediate_risk`, `consent` |
//! | `consent_recorded` | `consent` |
//! | `checks_returned` | `restricted`, `summary` |
//! | any event | `occurred_at` |
//!
//! This module reads a value's *type* (a string, a date, a boolean, an enumeration value);
//! the finer rules the original field obeys (lengths, check digits, dates of birth not in the
//! future) are the service's, applied at the edge before a correction is ever written. A
//! stored correction whose field or value does not read (one written under schema version 1,
//! when `field` was free text) changes nothing.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::schema::{Child, Consent, EventType, Sex};

/// A field of a child named in a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildField {
    Name,
    DateOfBirth,
    Sex,
    NhsNumber,
    Upn,
    Ethnicity,
}

impl ChildField {
    const ALL: [(ChildField, &'static str); 6] = [
        (ChildField::Name, "name"),
        (ChildField::DateOfBirth, "date_of_birth"),
        (ChildField::Sex, "sex"),
        (ChildField::NhsNumber, "nhs_number"),
        (ChildField::Upn, "upn"),
        (ChildField::Ethnicity, "ethnicity"),
    ];

    fn name(self) -> &'static str {
        ChildField::ALL.iter().find(|(f, _)| *f == self).map_or("", |(_, n)| n)
    }
}

/// A correctable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A field of the child at this index of `contact_received.children`.
    Child(usize, ChildField),
    /// `contact_received.immediate_risk`.
    ImmediateRisk,
    /// `contact_received.consent` or `consent_recorded.consent`.
    Consent,
    /// `checks_returned.restricted`.
    Restricted,
    /// `checks_returned.summary`.
    Summary,
    /// The corrected event's `occurred_at`.
    OccurredAt,
}

/// The fields of `target` that may be corrected, as they are written (`children[i]` stands for
/// any child's index): for error messages and the API docs.
pub fn correctable(target: EventType) -> Vec<&'static str> {
    let mut fields = match target {
        EventType::ContactReceived => vec![
            "children[i].name",
            "children[i].date_of_birth",
            "children[i].sex",
            "children[i].nhs_number",
            "children[i].upn",
            "children[i].ethnicity",
            "immediate_risk",
            "consent",
        ],
        EventType::ConsentRecorded => vec!["consent"],
        EventType::ChecksReturned => vec!["restricted", "summary"],
        _ => vec![],
    };
    fields.push("occurred_at");
    fields
}

impl Field {
    /// Reads `field` as a correctable field of an event of type `target`; `None` when that
    /// event has no such field or it may not be corrected.
    pub fn parse(target: EventType, field: &str) -> Option<Field> {
        if field == "occurred_at" {
            return Some(Field::OccurredAt);
        }
        match (target, field) {
            (EventType::ContactReceived, "immediate_risk") => Some(Field::ImmediateRisk),
            (EventType::ContactReceived | EventType::ConsentRecorded, "consent") => Some(Field::Consent),
            (EventType::ChecksReturned, "restricted") => Some(Field::Restricted),
            (EventType::ChecksReturned, "summary") => Some(Field::Summary),
            (EventType::ContactReceived, path) => {
                let rest = path.strip_prefix("children[")?;
                let (index, rest) = rest.split_once("].")?;
                // Canonical indices only: `children[01]` or `children[+1]` are not paths the API writes.
                if index.is_empty()
                    || !index.bytes().all(|b| b.is_ascii_digit())
                    || (index.len() > 1 && index.starts_with('0'))
                {
                    return None;
                }
                let index: usize = index.parse().ok()?;
                let (child_field, _) = ChildField::ALL.iter().find(|(_, name)| *name == rest)?;
                Some(Field::Child(index, *child_field))
            }
            _ => None,
        }
    }

    /// The field as it is written.
    pub fn path(self) -> String {
        match self {
            Field::Child(i, f) => format!("children[{i}].{}", f.name()),
            Field::ImmediateRisk => "immediate_risk".into(),
            Field::Consent => "consent".into(),
            Field::Restricted => "restricted".into(),
            Field::Summary => "summary".into(),
            Field::OccurredAt => "occurred_at".into(),
        }
    }

    /// Reads a correction's `value` as this field's type. Optional fields (a child's date of
    /// birth, sex, NHS number, UPN, ethnicity) take `null` to clear them. The error says what
    /// the value must be.
    pub fn read(self, value: &serde_json::Value) -> Result<Value, String> {
        fn typed<T: for<'de> Deserialize<'de>>(value: &serde_json::Value, what: &str) -> Result<T, String> {
            T::deserialize(value).map_err(|_| format!("must be {what}"))
        }
        Ok(match self {
            Field::Child(_, ChildField::Name) => Value::Text(typed(value, "a string")?),
            Field::Child(_, ChildField::DateOfBirth) => Value::Date(typed(value, "a date (YYYY-MM-DD) or null")?),
            Field::Child(_, ChildField::Sex) => Value::Sex(typed(value, "one of M, F, U, or null")?),
            Field::Child(_, ChildField::NhsNumber | ChildField::Upn | ChildField::Ethnicity) => {
                Value::OptText(typed(value, "a string or null")?)
            }
            Field::ImmediateRisk | Field::Restricted => Value::Bool(typed(value, "true or false")?),
            Field::Consent => Value::Consent(typed(value, "one of given, not_given, overridden, unknown")?),
            Field::Summary => Value::Text(typed(value, "a string")?),
            Field::OccurredAt => {
                let text: String = typed(value, "a timestamp (RFC 3339)")?;
                let at =
                    DateTime::parse_from_rfc3339(&text).map_err(|_| "must be a timestamp (RFC 3339)".to_owned())?;
                Value::Timestamp(at.with_timezone(&Utc))
            }
        })
    }
}

/// A corrected value, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    OptText(Option<String>),
    Date(Option<NaiveDate>),
    Sex(Option<Sex>),
    Bool(bool),
    Consent(Consent),
    Timestamp(DateTime<Utc>),
}

/// A correction that reads: the field and its new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub field: Field,
    pub value: Value,
}

impl Correction {
    /// Reads a stored correction of an event of type `target`; `None` if it does not read
    /// (such a correction changes nothing).
    pub fn read(target: EventType, field: &str, value: &serde_json::Value) -> Option<Correction> {
        let field = Field::parse(target, field)?;
        let value = field.read(value).ok()?;
        Some(Correction { field, value })
    }

    /// Applies a correction of one of a contact's children to that child (other corrections
    /// leave it as it is).
    pub fn apply_to_child(&self, child: &mut Child) {
        let Field::Child(_, field) = self.field else { return };
        match (field, &self.value) {
            (ChildField::Name, Value::Text(name)) => child.name.clone_from(name),
            (ChildField::DateOfBirth, Value::Date(date)) => child.date_of_birth = *date,
            (ChildField::Sex, Value::Sex(sex)) => child.sex = *sex,
            (ChildField::NhsNumber, Value::OptText(v)) => child.nhs_number.clone_from(v),
            (ChildField::Upn, Value::OptText(v)) => child.upn.clone_from(v),
            (ChildField::Ethnicity, Value::OptText(v)) => child.ethnicity.clone_from(v),
            _ => {}
        }
    }

    /// Applies the correction to the children of a contact, when it corrects one of them.
    pub fn apply_to_children(&self, children: &mut [Child]) {
        if let Field::Child(index, _) = self.field
            && let Some(child) = children.get_mut(index)
        {
            self.apply_to_child(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_read_as_the_api_writes_them() {
        use EventType as T;
        assert_eq!(
            Field::parse(T::ContactReceived, "children[0].date_of_birth"),
            Some(Field::Child(0, ChildField::DateOfBirth))
        );
        assert_eq!(Field::parse(T::ContactReceived, "children[12].name"), Some(Field::Child(12, ChildField::Name)));
        assert_eq!(Field::parse(T::ChecksReturned, "restricted"), Some(Field::Restricted));
        assert_eq!(Field::parse(T::DecisionMade, "occurred_at"), Some(Field::OccurredAt));
        for refused in [
            (T::ContactReceived, "children[01].name"),
            (T::ContactReceived, "children[].name"),
            (T::ContactReceived, "children[0].colour"),
            (T::ContactReceived, "concerns"),
            (T::ContactReceived, "restricted"),
            (T::ChecksReturned, "consent"),
            (T::DecisionMade, "outcome"),
            (T::DecisionMade, "rationale"),
        ] {
            assert_eq!(Field::parse(refused.0, refused.1), None, "{refused:?}");
        }
        for t in EventType::ALL {
            for f in correctable(*t) {
                let written = f.replace("[i]", "[3]");
                let field = Field::parse(*t, &written).unwrap_or_else(|| panic!("{t} {f}"));
                assert_eq!(field.path(), written);
            }
        }
    }

    #[test]
    fn values_read_as_the_original_fields_type() {
        let dob = Field::Child(0, ChildField::DateOfBirth);
        assert_eq!(dob.read(&json!("2019-04-01")), Ok(Value::Date(Some("2019-04-01".parse().unwrap()))));
        assert_eq!(dob.read(&json!(null)), Ok(Value::Date(None)));
        assert!(dob.read(&json!("April")).is_err());
        assert!(Field::Restricted.read(&json!("yes")).is_err());
        assert!(Field::Child(0, ChildField::Name).read(&json!(null)).is_err());
        assert_eq!(
            Field::OccurredAt.read(&json!("2026-03-02T10:15:00+01:00")),
            Ok(Value::Timestamp("2026-03-02T09:15:00Z".parse().unwrap()))
        );
    }

    #[test]
    fn a_correction_applies_to_its_child_only() {
        let child = |name: &str| Child {
            name: name.into(),
            date_of_birth: None,
            sex: None,
            child_ref: None,
            nhs_number: None,
            upn: None,
            ethnicity: None,
            expected_date_of_birth: None,
            address: None,
        };
        let mut children = vec![child("Ann Example"), child("Ben Example")];
        let c = Correction::read(EventType::ContactReceived, "children[1].sex", &json!("M")).unwrap();
        c.apply_to_children(&mut children);
        assert_eq!((children[0].sex, children[1].sex), (None, Some(Sex::Male)));
        let out_of_range = Correction::read(EventType::ContactReceived, "children[5].sex", &json!("F")).unwrap();
        out_of_range.apply_to_children(&mut children);
        assert_eq!(children.iter().filter(|c| c.sex == Some(Sex::Female)).count(), 0);
    }
}
