//! The typed event schema: one variant per event type in the REST contract, with its `data`.
//!
//! Events are a contract with every reader of the log, past and future: a type name is never
//! renamed, and a change to a `data` shape gets a new schema version and an upcaster in
//! [`decode`], so that events written years ago still decode. Shapes here say what an event
//! *is*; the finer rules (lengths, trimming, check digits) are enforced at the HTTP edge
//! before an event is ever built.

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;

use crate::shape::{LONG, MAX_CHILDREN, MAX_ITEMS, NAME, SHORT, Shape, Shaped, Text, shaped_struct};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The schema version written with every new event. Bump per event type, with an upcaster.
///
/// - 1: the first schema.
/// - 2: adds optional fields (`decision_made.duplicate_of`, a child's `expected_date_of_birth`,
///   `handover_accepted.evidence`) and the outcome `not_accepted`. Version 1 data is version 2
///   data as it stands (every addition is optional), so its upcaster is the identity; the bump
///   exists so that an older build meeting version 2 data names the version instead of
///   refusing an unknown field.
/// - 3: adds optional fields (`address` on a child, `adults` on `contact_received`) and the
///   event types `children_linked`, `children_unlinked`, `contact_allocated` and
///   `referrer_feedback_given`. Version 2 data is version 3 data as it stands; the upcaster is
///   the identity, for the same reason.
/// - 4: adds `decision_made.children` (per child of the contact, its `upn` or
///   `upn_unknown_reason`). Version 3 data is version 4 data as it stands (the addition is
///   optional); `ethnicity` stays a string in the log, so free text written before the edge
///   checked it for a DfE code still decodes.
/// - 5: adds the event types `strategy_discussion_held` and `action_completed`, and
///   `concern_categories` on `contact_received` and `decision_made`. Version 4 data is version 5
///   data as it stands (the addition is optional); the upcaster is the identity. Also
///   `duty_debrief_recorded` and `consultation_recorded`, the first events of streams that are
///   not contacts, and `contact_received.follows_consultation` (new types and an optional field
///   change no older data).
pub const CURRENT_SCHEMA_VERSION: u16 = 5;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Every value's name on the wire, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The value's name on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }
    };
}

/// A string that names no value of an enumeration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    /// Which enumeration.
    pub kind: &'static str,
    /// The string given.
    pub value: String,
}

string_enum! {
    /// How a contact arrived.
    Channel {
        Phone => "phone",
        OnlineForm => "online_form",
        Email => "email",
        PoliceNotification => "police_notification",
        InPerson => "in_person",
        Other => "other",
    }
}

string_enum! {
    /// DfE Children in Need census referral source codes.
    SourceCode {
        FamilyMember => "1A",
        Acquaintance => "1B",
        SelfReferral => "1C",
        OtherIndividual => "1D",
        School => "2A",
        EducationServices => "2B",
        Gp => "3A",
        HealthVisitor => "3B",
        SchoolNurse => "3C",
        OtherPrimaryHealth => "3D",
        AccidentAndEmergency => "3E",
        OtherHealth => "3F",
        Housing => "4",
        LaSocialCare => "5A",
        OtherInternalLa => "5B",
        ExternalLa => "5C",
        EarlyHelp => "5D",
        Police => "6",
        OtherLegalAgency => "7",
        Other => "8",
        Anonymous => "9",
        Unknown => "10",
    }
}

impl SourceCode {
    /// The census description of the code.
    pub fn description(self) -> &'static str {
        match self {
            SourceCode::FamilyMember => "Individual: family member/relative/carer",
            SourceCode::Acquaintance => "Individual: acquaintance (including neighbours and child minders)",
            SourceCode::SelfReferral => "Individual: self",
            SourceCode::OtherIndividual => "Individual: other",
            SourceCode::School => "Schools",
            SourceCode::EducationServices => "Education services",
            SourceCode::Gp => "Health services: GP",
            SourceCode::HealthVisitor => "Health services: health visitor",
            SourceCode::SchoolNurse => "Health services: school nurse",
            SourceCode::OtherPrimaryHealth => "Health services: other primary health services",
            SourceCode::AccidentAndEmergency => "Health services: A&E",
            SourceCode::OtherHealth => "Health services: other",
            SourceCode::Housing => "Housing",
            SourceCode::LaSocialCare => "LA services: social care",
            SourceCode::OtherInternalLa => "LA services: other internal",
            SourceCode::ExternalLa => "LA services: external",
            SourceCode::EarlyHelp => "LA services: early help",
            SourceCode::Police => "Police",
            SourceCode::OtherLegalAgency => "Other legal agency",
            SourceCode::Other => "Other",
            SourceCode::Anonymous => "Anonymous",
            SourceCode::Unknown => "Unknown",
        }
    }
}

string_enum! {
    /// A child's sex as recorded (Ofsted Annex A from 2026).
    Sex { Male => "M", Female => "F", Unknown => "U" }
}

string_enum! {
    /// Whether the family agreed to the contact and to information sharing.
    Consent {
        Given => "given",
        NotGiven => "not_given",
        Overridden => "overridden",
        Unknown => "unknown",
    }
}

string_enum! {
    /// Police Public Protection Notice grade.
    PpnGrade { High => "high", Medium => "medium", Low => "low" }
}

string_enum! {
    /// Urgency given at triage (BRAG).
    Rating { Red => "red", Amber => "amber", Green => "green", Blue => "blue" }
}

string_enum! {
    /// Which way a call went.
    CallDirection { Inbound => "inbound", Outbound => "outbound" }
}

string_enum! {
    /// Who a call was with.
    CallWith {
        Referrer => "referrer",
        Parent => "parent",
        Child => "child",
        Agency => "agency",
        Other => "other",
    }
}

string_enum! {
    /// A partner agency (also the agency of an actor).
    Agency {
        Police => "police",
        Health => "health",
        Education => "education",
        Probation => "probation",
        AdultSocialCare => "adult_social_care",
        Housing => "housing",
        EarlyHelp => "early_help",
        ChildrensSocialCare => "childrens_social_care",
        Other => "other",
    }
}

string_enum! {
    /// The duty team's decision on a contact.
    Outcome {
        StrategyDiscussion => "strategy_discussion",
        Assessment => "assessment",
        EarlyHelp => "early_help",
        AdviceAndSignpost => "advice_and_signpost",
        NoFurtherAction => "no_further_action",
        ExistingCase => "existing_case",
        NotAccepted => "not_accepted",
    }
}

impl Outcome {
    /// Whether this outcome makes the contact a referral (a social care response).
    pub fn is_referral(self) -> bool {
        matches!(self, Outcome::StrategyDiscussion | Outcome::Assessment)
    }
}

string_enum! {
    /// CIN census primary need codes.
    PrimaryNeed {
        N0 => "N0", N1 => "N1", N2 => "N2", N3 => "N3", N4 => "N4",
        N5 => "N5", N6 => "N6", N7 => "N7", N8 => "N8", N9 => "N9",
    }
}

/// The DfE's ethnicity codes (CIN census, Annex A), with their descriptions. `NOBT`:
/// information not yet obtained; `REFU`: refused.
pub const ETHNICITY_CODES: [(&str, &str); 20] = [
    ("WBRI", "White British"),
    ("WIRI", "White Irish"),
    ("WIRT", "Traveller of Irish heritage"),
    ("WOTH", "Any other White background"),
    ("WROM", "Gypsy/Roma"),
    ("MWBC", "White and Black Caribbean"),
    ("MWBA", "White and Black African"),
    ("MWAS", "White and Asian"),
    ("MOTH", "Any other Mixed background"),
    ("AIND", "Indian"),
    ("APKN", "Pakistani"),
    ("ABAN", "Bangladeshi"),
    ("AOTH", "Any other Asian background"),
    ("BCRB", "Caribbean"),
    ("BAFR", "African"),
    ("BOTH", "Any other Black background"),
    ("CHNE", "Chinese"),
    ("OOTH", "Any other ethnic group"),
    ("REFU", "Refused"),
    ("NOBT", "Information not yet obtained"),
];

/// The CIN census's assessment factor codes ("factors identified at the end of assessment"),
/// the concern categories a contact or a decision records: `1A`-`6C` (alcohol, drugs, domestic
/// abuse, mental health, learning disability, physical disability or illness; `A` the child,
/// `B` a parent or carer, `C` another person in the household, e.g. `3A` domestic abuse, the
/// child the subject), `7A` young carer, `8B`-`8F` privately fostered, `9A` unaccompanied
/// asylum-seeking child, `10A` missing, `11A` child sexual exploitation, `12A` trafficking,
/// `13A` gangs, `14A` socially unacceptable behaviour, `15A` self-harm, `16A` neglect, `17A`
/// emotional abuse, `18A`-`18C` physical abuse, `19A`-`19C` sexual abuse, `20` female genital
/// mutilation, `21` abuse linked to faith or belief, `22A`-`24A` the newer factors. The list is
/// the one the DfE's validator checks (csc-validator-be-cin 0.1.13, rule 8897Q).
pub const CONCERN_CATEGORY_CODES: [&str; 44] = [
    "1A", "1B", "1C", "2A", "2B", "2C", "3A", "3B", "3C", "4A", "4B", "4C", "5A", "5B", "5C", "6A", "6B", "6C", "7A",
    "8B", "8C", "8D", "8E", "8F", "9A", "10A", "11A", "12A", "13A", "14A", "15A", "16A", "17A", "18A", "18B", "18C",
    "19A", "19B", "19C", "20", "21", "22A", "23A", "24A",
];

/// Most concern categories on one contact or decision.
pub const MAX_CONCERN_CATEGORIES: usize = 20;

/// Whether `code` is one of the DfE's ethnicity codes (exactly, upper case).
pub fn is_ethnicity_code(code: &str) -> bool {
    ETHNICITY_CODES.iter().any(|(c, _)| *c == code)
}

/// The ethnicity a return reports for a recorded value: the DfE code when it is one, else
/// `NOBT` (not yet obtained). Events written before the edge checked codes may hold free text;
/// returns report it as not obtained rather than inventing a code.
pub fn ethnicity_for_returns(recorded: Option<&str>) -> &'static str {
    let recorded = recorded.map(str::trim).unwrap_or_default();
    ETHNICITY_CODES.iter().find(|(c, _)| c.eq_ignore_ascii_case(recorded)).map_or("NOBT", |(c, _)| c)
}

string_enum! {
    /// The CIN census's reasons a child's Unique Pupil Number is unknown.
    UpnUnknownReason {
        Un1 => "UN1", Un2 => "UN2", Un3 => "UN3", Un4 => "UN4", Un5 => "UN5",
        Un6 => "UN6", Un7 => "UN7", Un8 => "UN8", Un9 => "UN9", Un10 => "UN10",
    }
}

string_enum! {
    /// What a strategy discussion decided (Working Together 2023): a section 47 enquiry, no
    /// further action, or something else (recorded in the case system).
    StrategyOutcome {
        S47Enquiry => "s47_enquiry",
        NoFurtherAction => "no_further_action",
        Other => "other",
    }
}

string_enum! {
    /// How the referrer was told of the decision.
    InformMethod { Phone => "phone", Email => "email", Letter => "letter", Portal => "portal" }
}

string_enum! {
    /// Where a contact is handed over to.
    HandoverTo {
        AssessmentTeam => "assessment_team",
        EarlyHelp => "early_help",
        Tafso => "tafso",
        Community => "community",
        AllocatedWorker => "allocated_worker",
        Other => "other",
    }
}

string_enum! {
    /// A case audit's grade (Ofsted's scale).
    AuditGrade {
        Outstanding => "outstanding",
        Good => "good",
        RequiresImprovement => "requires_improvement",
        Inadequate => "inadequate",
    }
}

string_enum! {
    /// How an adult named on a contact is related to its children.
    Relationship {
        Parent => "parent",
        Carer => "carer",
        HouseholdMember => "household_member",
        PersonCausingConcern => "person_causing_concern",
        Other => "other",
    }
}

shaped_struct! {
    /// A postal address. The postcode is a UK postcode, stored upper case with one space
    /// before its inward code (`NG1 1AA`).
    pub struct Address {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub line1: Option<String> = Optional SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub line2: Option<String> = Optional SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub town: Option<String> = Optional SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub postcode: Option<String> = Optional Shape::Text(Text::Postcode),
    }
}

shaped_struct! {
    /// An adult around the children of a contact (a parent, a carer, a person causing concern).
    pub struct Adult {
        pub name: String = Required NAME,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub date_of_birth: Option<NaiveDate> = Optional Shape::Date,
        pub relationship: Relationship = Required Shape::Choice(Relationship::NAMES),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub address: Option<Address> = Optional Address::SHAPE,
    }
}

shaped_struct! {
    /// The person who made the contact.
    pub struct Referrer {
        pub name: String = Required NAME,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub organisation: Option<String> = Optional SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub role: Option<String> = Optional SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub phone: Option<String> = Optional Shape::Text(Text::Phone),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub email: Option<String> = Optional Shape::Text(Text::Email),
    }
}

shaped_struct! {
    /// A child named in a contact.
    pub struct Child {
        pub name: String = Required NAME,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub date_of_birth: Option<NaiveDate> = Optional Shape::Date,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sex: Option<Sex> = Optional Shape::Choice(Sex::NAMES),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub child_ref: Option<String> = Optional SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub nhs_number: Option<String> = Optional Shape::Text(Text::NhsNumber),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub upn: Option<String> = Optional Shape::Text(Text::Upn),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ethnicity: Option<String> = Optional SHORT,
        /// An unborn child's expected date of birth (instead of `date_of_birth`; sex `U`), as
        /// the CIN census records it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expected_date_of_birth: Option<NaiveDate> = Optional Shape::Date,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub address: Option<Address> = Optional Address::SHAPE,
    }
}

shaped_struct! {
    pub struct ContactReceived {
        pub channel: Channel = Required Shape::Choice(Channel::NAMES),
        pub source: SourceCode = Required Shape::Choice(SourceCode::NAMES),
        pub referrer: Referrer = Required Referrer::SHAPE,
        pub children: Vec<Child> = Required Shape::List { item: &Child::SHAPE, min: 1, max: MAX_CHILDREN },
        pub concerns: String = Required LONG,
        #[serde(default)]
        pub immediate_risk: bool = Defaulted Shape::Bool,
        #[serde(default = "consent_unknown")]
        pub consent: Consent = Defaulted Shape::Choice(Consent::NAMES),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub consent_override_reason: Option<String> = Optional LONG,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ppn_grade: Option<PpnGrade> = Optional Shape::Choice(PpnGrade::NAMES),
        /// The adults around the children (parents, carers, people causing concern).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub adults: Vec<Adult> = Defaulted Shape::List { item: &Adult::SHAPE, min: 0, max: MAX_ITEMS },
        /// What the concerns are about, as the CIN census's assessment factor codes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub concern_categories: Vec<String> = Defaulted Shape::List { item: &Shape::Choice(&CONCERN_CATEGORY_CODES), min: 0, max: MAX_CONCERN_CATEGORIES },
        /// The professional consultation this contact follows (a consultation's stream id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub follows_consultation: Option<ulid::Ulid> = Optional Shape::Ulid,
    }
}

fn consent_unknown() -> Consent {
    Consent::Unknown
}

shaped_struct! {
    pub struct TriageRated {
        pub rating: Rating = Required Shape::Choice(Rating::NAMES),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String> = Optional LONG,
    }
}

shaped_struct! {
    pub struct CallLogged {
        pub direction: CallDirection = Required Shape::Choice(CallDirection::NAMES),
        pub with: CallWith = Required Shape::Choice(CallWith::NAMES),
        pub started_at: DateTime<Utc> = Required Shape::Timestamp,
        pub duration_seconds: u32 = Required Shape::Seconds,
        pub summary: String = Required LONG,
    }
}

shaped_struct! {
    pub struct ChecksRequested {
        pub agency: Agency = Required Shape::Choice(Agency::NAMES),
        pub request: String = Required LONG,
    }
}

shaped_struct! {
    pub struct ChecksReturned {
        pub agency: Agency = Required Shape::Choice(Agency::NAMES),
        pub summary: String = Required LONG,
        /// Visible only to decision makers, auditors, admins and the returning agency's partners.
        #[serde(default)]
        pub restricted: bool = Defaulted Shape::Bool,
    }
}

shaped_struct! {
    pub struct Participant {
        pub name: String = Required NAME,
        pub role: String = Required SHORT,
        pub agency: Agency = Required Shape::Choice(Agency::NAMES),
    }
}

shaped_struct! {
    pub struct DutyDiscussionHeld {
        pub participants: Vec<Participant> = Required Shape::List { item: &Participant::SHAPE, min: 1, max: MAX_ITEMS },
        pub summary: String = Required LONG,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub needs: Vec<String> = Defaulted Shape::List { item: &SHORT, min: 0, max: MAX_ITEMS },
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub recommendation: Option<Outcome> = Optional Shape::Choice(Outcome::NAMES),
    }
}

shaped_struct! {
    pub struct ConsentRecorded {
        pub consent: Consent = Required Shape::Choice(Consent::NAMES),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String> = Optional LONG,
    }
}

shaped_struct! {
    /// What a revised decision replaces, and why.
    pub struct Revises {
        pub event_id: ulid::Ulid = Required Shape::Ulid,
        pub reason: String = Required LONG,
    }
}

shaped_struct! {
    /// What a referral decision records of one child of the contact (by its place in the
    /// contact's `children`): the UPN, or the CIN census's reason it is unknown.
    pub struct DecisionChild {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub upn: Option<String> = Optional Shape::Text(Text::Upn),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub upn_unknown_reason: Option<UpnUnknownReason> = Optional Shape::Choice(UpnUnknownReason::NAMES),
    }
}

shaped_struct! {
    pub struct DecisionMade {
        pub outcome: Outcome = Required Shape::Choice(Outcome::NAMES),
        pub rationale: String = Required LONG,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub level_of_need: Option<u8> = Optional Shape::LevelOfNeed,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub primary_need: Option<PrimaryNeed> = Optional Shape::Choice(PrimaryNeed::NAMES),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub revises: Option<Revises> = Optional Revises::SHAPE,
        /// For `not_accepted`: the contact this one duplicates.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub duplicate_of: Option<ulid::Ulid> = Optional Shape::Ulid,
        /// Per child of the contact, in the order of its `children`: the UPN or why it is
        /// unknown (required of school-age children on `assessment` and `strategy_discussion`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub children: Vec<DecisionChild> = Defaulted Shape::List { item: &DecisionChild::SHAPE, min: 0, max: MAX_CHILDREN },
        /// The concern categories as the decision found them (CIN assessment factor codes);
        /// when given, they replace the contact's in the figures.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub concern_categories: Vec<String> = Defaulted Shape::List { item: &Shape::Choice(&CONCERN_CATEGORY_CODES), min: 0, max: MAX_CONCERN_CATEGORIES },
    }
}

shaped_struct! {
    pub struct PlannedAction {
        pub owner_agency: Agency = Required Shape::Choice(Agency::NAMES),
        pub description: String = Required LONG,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub due: Option<NaiveDate> = Optional Shape::Date,
    }
}

shaped_struct! {
    pub struct ActionPlanAgreed {
        pub actions: Vec<PlannedAction> = Required Shape::List { item: &PlannedAction::SHAPE, min: 1, max: MAX_ITEMS },
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub referrer_role: Option<String> = Optional SHORT,
    }
}

shaped_struct! {
    pub struct ReferrerInformed {
        pub method: InformMethod = Required Shape::Choice(InformMethod::NAMES),
        pub summary: String = Required LONG,
    }
}

shaped_struct! {
    pub struct HandoverSent {
        pub to: HandoverTo = Required Shape::Choice(HandoverTo::NAMES),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub team: Option<String> = Optional SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub notes: Option<String> = Optional LONG,
    }
}

shaped_struct! {
    pub struct HandoverAccepted {
        pub team: String = Required SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub worker: Option<String> = Optional SHORT,
        /// How the acceptance was confirmed, when the front door records it for a team that does
        /// not use frontdoor (handovers to `community`, `tafso`, `allocated_worker`, `other`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub evidence: Option<String> = Optional LONG,
    }
}

shaped_struct! {
    pub struct HandoverReturned {
        pub reason: String = Required LONG,
    }
}

shaped_struct! {
    pub struct ContactClosed {
        pub reason: String = Required LONG,
    }
}

shaped_struct! {
    pub struct NoteAdded {
        pub text: String = Required LONG,
    }
}

shaped_struct! {
    pub struct CorrectionRecorded {
        pub corrects_event_id: ulid::Ulid = Required Shape::Ulid,
        pub field: String = Required SHORT,
        pub value: serde_json::Value = RequiredNullable Shape::Any,
        pub reason: String = Required LONG,
    }
}

shaped_struct! {
    /// Who works the contact now: a decision maker allocating it, a practitioner taking it
    /// themselves, or a receiving team allocating its own worker once the handover is its.
    pub struct ContactAllocated {
        /// The worker's actor id (as on their token, e.g. `sw-ana`).
        pub worker: String = Required SHORT,
    }
}

shaped_struct! {
    /// The referrer's answers to the short survey after the outcome (once per contact).
    pub struct ReferrerFeedbackGiven {
        /// Did you feel listened to? 1 (not at all) to 5 (completely).
        pub listened_to: u8 = Required Shape::Score,
        /// Do you know what happens next? 1 (not at all) to 5 (completely).
        pub knows_next_steps: u8 = Required Shape::Score,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub comment: Option<String> = Optional LONG,
    }
}

shaped_struct! {
    /// A strategy discussion that was held (after a decision; also after the contact is
    /// closed): when, which agencies took part, and what it decided.
    pub struct StrategyDiscussionHeld {
        pub held_at: DateTime<Utc> = Required Shape::Timestamp,
        pub agencies: Vec<Agency> = Required Shape::List { item: &Shape::Choice(Agency::NAMES), min: 1, max: MAX_ITEMS },
        pub outcome: StrategyOutcome = Required Shape::Choice(StrategyOutcome::NAMES),
    }
}

shaped_struct! {
    /// One action of an agreed action plan done: the plan (`plan_event_id`, an
    /// `action_plan_agreed` of this contact) and the action's index in its `actions`, from 0.
    /// When it was done is the event's `occurred_at`; each action is completed once.
    pub struct ActionCompleted {
        pub plan_event_id: ulid::Ulid = Required Shape::Ulid,
        pub action_index: u8 = Required Shape::ActionIndex,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub note: Option<String> = Optional LONG,
    }
}

shaped_struct! {
    /// A duty team's end-of-day debrief: a stream of its own, never a contact. `date` is the
    /// duty day; the capacity is the staff on duty against the staff expected.
    pub struct DutyDebriefRecorded {
        pub date: NaiveDate = Required Shape::Date,
        pub team: String = Required SHORT,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub staff_on_duty: Option<u8> = Optional Shape::Staff,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub staff_expected: Option<u8> = Optional Shape::Staff,
        /// What the day's duty recorded (contacts, decisions, anything left for tomorrow).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub recorded: Option<String> = Optional LONG,
        /// What the multi-agency team added that day.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub multi_agency_value: Option<String> = Optional LONG,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub notes: Option<String> = Optional LONG,
    }
}

shaped_struct! {
    /// A professional consultation: a professional who asks the front door for advice, without
    /// naming a child or before deciding to refer. A stream of its own, never a contact.
    pub struct ConsultationRecorded {
        /// The caller's agency.
        pub agency: Agency = Required Shape::Choice(Agency::NAMES),
        /// The referral source, coded as a contact's is.
        pub source: SourceCode = Required Shape::Choice(SourceCode::NAMES),
        /// The advice given there and then.
        pub advice: String = Required LONG,
        /// The children the call was about, if it named any (none is allowed).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub children: Vec<Child> = Defaulted Shape::List { item: &Child::SHAPE, min: 0, max: MAX_CHILDREN },
        /// What the concerns are about, as the CIN census's assessment factor codes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub concern_categories: Vec<String> = Defaulted Shape::List { item: &Shape::Choice(&CONCERN_CATEGORY_CODES), min: 0, max: MAX_CONCERN_CATEGORIES },
    }
}

shaped_struct! {
    pub struct AuditFindingRecorded {
        pub grade: AuditGrade = Required Shape::Choice(AuditGrade::NAMES),
        pub findings: String = Required LONG,
    }
}

shaped_struct! {
    /// Links a child of this contact (`child_index` in its `children`) to the child index's
    /// child `child_id`: the two are the same child. The older child id survives.
    pub struct ChildrenLinked {
        pub child_index: u8 = Required Shape::ChildIndex,
        pub child_id: String = Required Shape::Text(Text::ChildId),
        pub reason: String = Required LONG,
    }
}

shaped_struct! {
    /// Separates a child of this contact (`child_index` in its `children`) from the child
    /// index's child `child_id`: they are not the same child, and are not matched again.
    pub struct ChildrenUnlinked {
        pub child_index: u8 = Required Shape::ChildIndex,
        pub child_id: String = Required Shape::Text(Text::ChildId),
        pub reason: String = Required LONG,
    }
}

/// The `data` of one event type, for code that treats every type alike (the request
/// validator): it reads and writes as serde says, has its [`Shaped::SHAPE`], and becomes its
/// [`Event`].
pub trait EventData: Serialize + DeserializeOwned + Shaped + Into<Event> {}

/// Something done with one event type's `data` type, chosen at run time by
/// [`EventType::with_data`]: how code outside this module goes over every event type without
/// listing them again.
pub trait DataVisitor {
    type Output;
    fn visit<D: EventData>(self) -> Self::Output;
}

/// The event list, written once. From it: [`EventType`] (its wire names, `ALL`, parsing),
/// [`Event`], the dispatch between them, [`EventType::with_data`], and (with the `openapi`
/// feature) [`AppendableEvent`], the events but the first, which `POST /v1/contacts` creates.
macro_rules! event_list {
    (
        $first:ident => $first_text:literal;
        $($variant:ident => $text:literal),+;
        opens $($opener:ident => $opener_text:literal),+ $(,)?
    ) => {
        string_enum! {
            /// The type of an event: the `type` of an envelope.
            EventType { $first => $first_text, $($variant => $text),+, $($opener => $opener_text),+ }
        }

        /// One event: its type and its typed `data`.
        // Variant names in snake case are the wire names (a unit test holds them to
        // `EventType`'s): utoipa 5 ignores `#[serde(rename)]` on the variants of an adjacently
        // tagged enum, so the wire names cannot be passed to each variant.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(tag = "type", content = "data", rename_all = "snake_case")]
        pub enum Event {
            $first($first),
            $($variant($variant)),+,
            $($opener($opener)),+
        }

        /// An event that may be appended to an existing contact: `type` names it and `data`
        /// follows that type's schema.
        #[cfg(feature = "openapi")]
        #[derive(Debug, utoipa::ToSchema)]
        #[serde(tag = "type", content = "data", rename_all = "snake_case")]
        pub enum AppendableEvent {
            $($variant($variant)),+
        }

        $(
            impl From<$variant> for Event {
                fn from(data: $variant) -> Event {
                    Event::$variant(data)
                }
            }

            impl EventData for $variant {}
        )+

        $(
            impl From<$opener> for Event {
                fn from(data: $opener) -> Event {
                    Event::$opener(data)
                }
            }

            impl EventData for $opener {}
        )+

        impl From<$first> for Event {
            fn from(data: $first) -> Event {
                Event::$first(data)
            }
        }

        impl EventData for $first {}

        impl EventType {
            /// Calls `visitor` with this type's `data` type.
            pub fn with_data<V: DataVisitor>(self, visitor: V) -> V::Output {
                match self {
                    EventType::$first => visitor.visit::<$first>(),
                    $(EventType::$variant => visitor.visit::<$variant>()),+,
                    $(EventType::$opener => visitor.visit::<$opener>()),+
                }
            }

            /// Whether `POST /v1/contacts/{id}/events` may append this type: every type but
            /// those that open a stream.
            pub fn is_appendable(self) -> bool {
                match self {
                    EventType::$first => false,
                    $(EventType::$variant => true),+,
                    $(EventType::$opener => false),+
                }
            }
        }

        impl Event {
            /// The event's type.
            pub fn event_type(&self) -> EventType {
                match self {
                    Event::$first(_) => EventType::$first,
                    $(Event::$variant(_) => EventType::$variant),+,
                    $(Event::$opener(_) => EventType::$opener),+
                }
            }

            /// The `data` as compact JSON, as it is stored.
            pub fn data_json(&self) -> Box<RawValue> {
                let text = match self {
                    Event::$first(d) => serde_json::to_string(d),
                    $(Event::$variant(d) => serde_json::to_string(d)),+,
                    $(Event::$opener(d) => serde_json::to_string(d)),+
                };
                // Serialising these plain structs cannot fail: no maps with non-string keys,
                // no custom serialisers that error.
                RawValue::from_string(text.expect("event data serialises"))
                    .expect("serde_json output is valid JSON")
            }

            /// Builds an event from its type and current-schema `data`.
            pub fn from_data(event_type: EventType, data: &str) -> Result<Event, serde_json::Error> {
                struct FromData<'a>(&'a str);
                impl DataVisitor for FromData<'_> {
                    type Output = Result<Event, serde_json::Error>;
                    fn visit<D: EventData>(self) -> Self::Output {
                        serde_json::from_str::<D>(self.0).map(Into::into)
                    }
                }
                event_type.with_data(FromData(data))
            }
        }
    };
}

// The one list of event types. A new type is a line here (its `data` struct above), its
// rules, and its place in the fold; a type is never renamed or removed (the log keeps it).
event_list! {
    // Created by `POST /v1/contacts`, never appended.
    ContactReceived => "contact_received";
    TriageRated => "triage_rated",
    CallLogged => "call_logged",
    ChecksRequested => "checks_requested",
    ChecksReturned => "checks_returned",
    DutyDiscussionHeld => "duty_discussion_held",
    ConsentRecorded => "consent_recorded",
    DecisionMade => "decision_made",
    ActionPlanAgreed => "action_plan_agreed",
    ReferrerInformed => "referrer_informed",
    HandoverSent => "handover_sent",
    HandoverAccepted => "handover_accepted",
    HandoverReturned => "handover_returned",
    ContactClosed => "contact_closed",
    NoteAdded => "note_added",
    CorrectionRecorded => "correction_recorded",
    AuditFindingRecorded => "audit_finding_recorded",
    ChildrenLinked => "children_linked",
    ChildrenUnlinked => "children_unlinked",
    ContactAllocated => "contact_allocated",
    ReferrerFeedbackGiven => "referrer_feedback_given",
    StrategyDiscussionHeld => "strategy_discussion_held",
    ActionCompleted => "action_completed";
    // The first events of streams that are not contacts, each created by its own endpoint
    // and never appended: `POST /v1/duty-debriefs`, `POST /v1/consultations`.
    opens
    DutyDebriefRecorded => "duty_debrief_recorded",
    ConsultationRecorded => "consultation_recorded",
}

/// What a stream is, told by its first event: a contact (`contact_received`) or one of the
/// records that are streams of their own and never contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Contact,
    DutyDebrief,
    Consultation,
}

impl StreamKind {
    /// The kind of stream an event of this type opens, if it is a stream's first event.
    pub fn opened_by(event_type: EventType) -> Option<StreamKind> {
        match event_type {
            EventType::ContactReceived => Some(StreamKind::Contact),
            EventType::DutyDebriefRecorded => Some(StreamKind::DutyDebrief),
            EventType::ConsultationRecorded => Some(StreamKind::Consultation),
            _ => None,
        }
    }

    /// The stream's kind in words, with its article: `a duty debrief`.
    pub fn noun(self) -> &'static str {
        match self {
            StreamKind::Contact => "a contact",
            StreamKind::DutyDebrief => "a duty debrief",
            StreamKind::Consultation => "a consultation",
        }
    }

    /// How a stream of this kind is opened, said to a client that tried to append its first
    /// event instead.
    pub fn how_opened(self) -> &'static str {
        match self {
            StreamKind::Contact => "contacts are created with POST /v1/contacts",
            StreamKind::DutyDebrief => "duty debriefs are recorded with POST /v1/duty-debriefs",
            StreamKind::Consultation => "consultations are recorded with POST /v1/consultations",
        }
    }
}

/// A stored event that cannot be read as any known schema.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{event_type} schema version {version} is newer than this build knows ({CURRENT_SCHEMA_VERSION})")]
    UnknownSchemaVersion { event_type: EventType, version: u16 },
    #[error("{event_type} data does not match its schema: {source}")]
    Data {
        event_type: EventType,
        #[source]
        source: serde_json::Error,
    },
}

/// Decodes stored `data` written under `schema_version` into today's typed event.
///
/// This is the upcasting seam: when a `data` shape changes, the old version's JSON is rewritten
/// here, in memory, into the current shape. Stored bytes are never rewritten (the hash chain
/// covers them).
pub fn decode(event_type: EventType, schema_version: u16, data: &RawValue) -> Result<Event, DecodeError> {
    match schema_version {
        // Versions 1 to 4 are version 5 without its additions: they read as they stand.
        1..=4 | CURRENT_SCHEMA_VERSION => {
            Event::from_data(event_type, data.get()).map_err(|source| DecodeError::Data { event_type, source })
        }
        version => Err(DecodeError::UnknownSchemaVersion { event_type, version }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_round_trips_its_name() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(EventType::ALL.len(), 25);
    }

    #[test]
    fn source_codes_speak_the_census() {
        let codes: Vec<&str> = SourceCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            codes,
            [
                "1A", "1B", "1C", "1D", "2A", "2B", "3A", "3B", "3C", "3D", "3E", "3F", "4", "5A", "5B", "5C", "5D",
                "6", "7", "8", "9", "10"
            ]
        );
    }

    #[test]
    fn unknown_fields_in_data_are_refused() {
        let raw = RawValue::from_string(r#"{"text":"ok","extra":1}"#.into()).unwrap();
        let err = decode(EventType::NoteAdded, 1, &raw).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn version_1_data_reads_as_version_2() {
        let raw = RawValue::from_string(r#"{"outcome":"early_help","rationale":"r"}"#.into()).unwrap();
        let Event::DecisionMade(d) = decode(EventType::DecisionMade, 1, &raw).unwrap() else { panic!("wrong variant") };
        assert_eq!((d.outcome, d.duplicate_of), (Outcome::EarlyHelp, None));
        assert!(matches!(decode(EventType::DecisionMade, 6, &raw), Err(DecodeError::UnknownSchemaVersion { .. })));
    }

    #[test]
    fn a_future_schema_version_is_named_not_guessed() {
        let raw = RawValue::from_string(r#"{"text":"ok"}"#.into()).unwrap();
        let err = decode(EventType::NoteAdded, 9, &raw).unwrap_err();
        assert!(matches!(err, DecodeError::UnknownSchemaVersion { version: 9, .. }));
    }

    #[test]
    fn contact_received_defaults_consent_to_unknown() {
        let raw = RawValue::from_string(
            r#"{"channel":"phone","source":"2A","referrer":{"name":"A Teacher"},
                "children":[{"name":"Child One"}],"concerns":"bruising"}"#
                .into(),
        )
        .unwrap();
        let Event::ContactReceived(c) = decode(EventType::ContactReceived, 1, &raw).unwrap() else {
            panic!("wrong variant")
        };
        assert_eq!(c.consent, Consent::Unknown);
        assert!(!c.immediate_risk);
    }

    /// Found by fuzzing (`ops/fuzz`): serde_json's default float parser is not always
    /// correctly rounded, so a number in a correction's `value`, stored as the shortest text
    /// of the number read, could read back from the log as a neighbouring number: what was
    /// accepted and what every reader of the log decodes differed in the last digits. The
    /// workspace turns on serde_json's `float_roundtrip`.
    #[test]
    fn bug_a_number_in_a_correction_read_back_from_the_log_as_another() {
        for (text, number) in
            [("9.498360205037527e-84", 9.498360205037527e-84), ("-2.0676770989399425e-16", -2.0676770989399425e-16)]
        {
            assert_eq!(serde_json::from_str::<f64>(text).unwrap(), number, "{text}");
            let raw = RawValue::from_string(format!(
                r#"{{"corrects_event_id":"01JQ0000000000000000000000","field":"f","value":{text},"reason":"r"}}"#
            ))
            .unwrap();
            let event = decode(EventType::CorrectionRecorded, 1, &raw).unwrap();
            let Event::CorrectionRecorded(c) = &event else { panic!("wrong variant") };
            assert_eq!(c.value.as_f64(), Some(number));
            let stored = event.data_json();
            assert!(stored.get().contains(text), "{stored}");
            assert_eq!(decode(EventType::CorrectionRecorded, 1, &stored).unwrap(), event);
        }
    }

    #[test]
    fn an_event_is_written_with_its_type_name() {
        let ev = Event::NoteAdded(NoteAdded { text: "t".into() });
        assert_eq!(serde_json::to_value(&ev).unwrap()["type"], ev.event_type().as_str());
        // Every type's name is an `Event` variant's: its data is then read (and here refused
        // as empty, except where every field is optional), never an unknown variant.
        for t in EventType::ALL {
            let read = serde_json::from_value::<Event>(serde_json::json!({"type": t.as_str(), "data": {}}));
            match read {
                Ok(event) => assert_eq!(event.event_type(), *t),
                Err(err) => assert!(!err.to_string().contains("unknown variant"), "{t}: {err}"),
            }
        }
    }

    #[test]
    fn data_json_round_trips_through_decode() {
        let ev = Event::DecisionMade(DecisionMade {
            outcome: Outcome::Assessment,
            rationale: "s17 needed".into(),
            level_of_need: Some(4),
            primary_need: Some(PrimaryNeed::N1),
            revises: None,
            duplicate_of: None,
            children: Vec::new(),
            concern_categories: Vec::new(),
        });
        let raw = ev.data_json();
        assert_eq!(decode(ev.event_type(), CURRENT_SCHEMA_VERSION, &raw).unwrap(), ev);
    }
}
