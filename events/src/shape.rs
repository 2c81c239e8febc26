//! The shape of each event's `data`, field by field, with the contract's limits and formats:
//! the one description from which the request validator's walk and the OpenAPI document's
//! limits are both derived (`frontdoor::validate`, `frontdoor::http::openapi`).
//!
//! Each `data` struct in [`crate::schema`] is declared with its fields' shapes beside them, so
//! the struct, its serde and its [`Shaped::SHAPE`] are one declaration. The finer rules that
//! need more than one field (an NHS number's check digit, "only when consent is overridden")
//! are the validator's; what is here is what a field is on its own.

/// Most characters in a short string (names, roles, organisation, team, worker, ...).
pub const SHORT_MAX: usize = 200;
/// Most characters in long free text (concerns, summary, rationale, notes, ...).
pub const LONG_MAX: usize = 10_000;
/// Most characters in a referrer's email address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// Most children on one contact.
pub const MAX_CHILDREN: usize = 20;
/// Most characters in a child id (the CIN census's LA child id).
pub const CHILD_ID_MAX: usize = 20;
/// Most items in a list of participants, actions or needs.
pub const MAX_ITEMS: usize = 50;
/// Most staff in a duty team's capacity.
pub const MAX_STAFF: u8 = 200;
/// Longest call, in seconds (a day).
pub const MAX_CALL_SECONDS: u32 = 86_400;

/// What a string holds, and so its limit and format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// One line, at most [`SHORT_MAX`] characters (roles, teams, references).
    Short,
    /// Free text, at most [`LONG_MAX`] characters, line breaks and tabs allowed.
    Long,
    /// A person's name: a short string with something visible and no bidirectional controls.
    Name,
    /// A telephone number: digits, spaces, `+`, `(`, `)` and `-`, with 7 to 20 digits.
    Phone,
    /// An email address, at most [`EMAIL_MAX`] characters.
    Email,
    /// An NHS number: ten digits with a valid check digit (spaces are dropped).
    NhsNumber,
    /// A Unique Pupil Number: 13 characters with the DfE check letter (upper-cased).
    Upn,
    /// A UK postcode in the official format (upper-cased, one space before the inward code).
    Postcode,
    /// A child id of the child index: 1 to [`CHILD_ID_MAX`] ASCII letters and digits.
    ChildId,
}

/// The shape of one value.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A JSON string.
    Text(Text),
    /// `true` or `false`.
    Bool,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// An RFC 3339 timestamp with a time zone.
    Timestamp,
    /// A ULID.
    Ulid,
    /// A whole number of seconds, at most [`MAX_CALL_SECONDS`].
    Seconds,
    /// A level of need, 1 to 4.
    LevelOfNeed,
    /// The index of a child in its contact's `children`, from 0 (less than [`MAX_CHILDREN`]).
    ChildIndex,
    /// A survey answer, 1 to 5.
    Score,
    /// The index of an action in its plan's `actions`, from 0 (less than [`MAX_ITEMS`]).
    ActionIndex,
    /// A number of staff, 0 to [`MAX_STAFF`].
    Staff,
    /// One of an enumeration's wire names.
    Choice(&'static [&'static str]),
    /// Any JSON (a correction's `value`).
    Any,
    /// An object: its schema's name and its fields, in declaration order.
    Object { name: &'static str, fields: &'static [Field] },
    /// A list of `min` to `max` items.
    List { item: &'static Shape, min: usize, max: usize },
}

/// Whether a field may be missing and whether it may be `null`, as serde reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// A plain field: present, not null.
    Required,
    /// Present, but `null` is a value (a correction's `value`).
    RequiredNullable,
    /// An `Option` with a default: may be missing or null.
    Optional,
    /// `#[serde(default)]` but not an `Option`: may be missing, not null.
    Defaulted,
}

/// One field of an object.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub presence: Presence,
    pub shape: Shape,
}

/// A type whose JSON shape is described here.
pub trait Shaped {
    /// Always a [`Shape::Object`].
    const SHAPE: Shape;
}

/// A `data` struct and its shape, declared once: each field is written
/// `pub name: Type = Presence Shape` (after its serde attributes), and the macro writes the
/// struct (closed to unknown fields) and its [`Shaped`] impl.
macro_rules! shaped_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty = $presence:ident $shape:expr
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty),+
        }

        impl $crate::shape::Shaped for $name {
            const SHAPE: $crate::shape::Shape = $crate::shape::Shape::Object {
                name: stringify!($name),
                fields: &[$($crate::shape::Field {
                    name: stringify!($field),
                    presence: $crate::shape::Presence::$presence,
                    shape: $shape,
                }),+],
            };
        }
    };
}

pub(crate) use shaped_struct;

/// A short string.
pub const SHORT: Shape = Shape::Text(Text::Short);
/// Long free text.
pub const LONG: Shape = Shape::Text(Text::Long);
/// A person's name.
pub const NAME: Shape = Shape::Text(Text::Name);
