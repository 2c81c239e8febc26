//! The words of the records: concerns, reasons, rationales, notes.

use super::*;

pub(crate) fn concerns_for(rng: &mut Rng, need: PrimaryNeed, channel: Channel, children: &[Child]) -> String {
    let child = first_name_of(children);
    let police = channel == Channel::PoliceNotification;
    let text = match (need, police) {
        (PrimaryNeed::N1, true) => pick(rng, &POLICE_ABUSE),
        (PrimaryNeed::N5, true) => pick(rng, &POLICE_DYSFUNCTION),
        (PrimaryNeed::N6, true) => pick(rng, &POLICE_BEHAVIOUR),
        _ => pick(rng, concerns(need)),
    };
    let text = text.replace("{c}", &child);
    if police { format!("PPN: {text}") } else { text }
}

pub(crate) fn concerns(need: PrimaryNeed) -> &'static [&'static str] {
    match need {
        PrimaryNeed::N1 => &[
            "{c} told a teacher that a parent hit them with a belt last night; a red mark on the forearm was seen.",
            "Bruising to {c}'s upper arm noticed at breakfast club; the explanation given does not fit the injury.",
            "{c} has been arriving hungry and in the same unwashed clothes for several weeks; attendance falling.",
            "Home conditions reported as very poor: no working heating, rubbish on the floors, children sharing one mattress.",
            "Unexplained injury to a non-mobile baby seen in hospital; the parents' accounts differ.",
            "{c} said mum's partner shouts and throws things and that they are scared to go home.",
            "Concern that {c} is being left alone overnight while the parent works.",
            "Sexualised behaviour by {c} reported at school that staff consider unusual for their age.",
            "An older sibling told staff that {c} is locked in a bedroom as a punishment.",
        ],
        PrimaryNeed::N2 => &[
            "{c} is autistic and the family say they can no longer manage {c}'s distressed behaviour at home.",
            "Parents of {c}, who has complex medical needs, are asking for help with respite and equipment.",
            "{c} has a learning disability and has been excluded; mother struggling to cope.",
        ],
        PrimaryNeed::N3 => &[
            "Mother admitted to a mental health unit; father struggling to care for the children alone.",
            "Parent has a serious illness and {c} is taking on significant caring responsibilities.",
            "Father's drinking has increased since losing his job; {c} says they worry about him.",
            "Parent recently discharged after an overdose; {c} was the one who called the ambulance.",
        ],
        PrimaryNeed::N4 => &[
            "Family facing eviction at the end of the month; parents report high stress and {c} missing school.",
            "Recent bereavement; mother says she cannot get out of bed and {c} is getting themselves to school.",
            "Family have moved to the area after fleeing domestic abuse and have no support network.",
        ],
        PrimaryNeed::N5 => &[
            "Ongoing parental conflict after separation; {c} is being asked to pass messages and is distressed.",
            "{c} is refusing to go home after arguments with a step-parent.",
            "Frequent loud arguments at the address; {c} told a teacher they hide in their room.",
        ],
        PrimaryNeed::N6 => &[
            "{c} has been missing from home overnight twice this month and came back with new clothes and a phone.",
            "{c} arrested for possession of cannabis; concern about older associates and possible criminal exploitation.",
            "{c} excluded after assaulting a peer; aggressive behaviour at home reported too.",
            "Concern that {c} is sending images to an older person met online.",
        ],
        PrimaryNeed::N7 => &[
            "Family without food or gas credit; referred by the food bank for the third time.",
            "Parents in significant debt; {c} has no winter coat or school shoes.",
        ],
        PrimaryNeed::N8 => &[
            "{c} is sleeping on friends' sofas after being told to leave home by a parent.",
            "Parent is in custody and {c} is being cared for informally by an elderly grandparent.",
            "{c} appears to be living with adults who are not family (possible private fostering).",
        ],
        PrimaryNeed::N9 => &[
            "Request for information from another local authority about {c}'s family, who have moved away.",
            "Court request for a report on {c}; no current safeguarding concern stated.",
            "Referrer seeking advice about a parenting course; no concern about {c}'s safety.",
        ],
        PrimaryNeed::N0 => &[
            "Referrer worried about {c} but unable to give details; will send more information.",
            "Caller concerned about the children at the address, without specifics.",
        ],
    }
}

pub(crate) const POLICE_ABUSE: [&str; 4] = [
    "Domestic abuse incident at the family home overnight; {c} was present and woke to shouting. Suspect arrested.",
    "Report of a parent intoxicated in charge of {c}; the child was found alone in the flat.",
    "Neighbours called police to screaming at the address; {c} seen with a cut lip.",
    "Third domestic abuse call-out in two months; {c} described by officers as withdrawn.",
];
pub(crate) const POLICE_DYSFUNCTION: [&str; 2] = [
    "Verbal argument between separated parents at a handover of {c}; no offences disclosed.",
    "Police called to a family argument; {c} distressed but unhurt.",
];
pub(crate) const POLICE_BEHAVIOUR: [&str; 2] = [
    "{c} reported missing overnight and found in another town with older males; return interview needed.",
    "{c} stopped with a large amount of cash and two phones; county lines indicators.",
];

pub(crate) const OVERRIDE_REASONS: [&str; 3] = [
    "Seeking consent could place the child at increased risk of harm.",
    "A parent is the alleged perpetrator; asking would alert them.",
    "Risk that the family would leave the area if told.",
];
pub(crate) const CONSENT_GIVEN: [&str; 2] =
    ["Mother agreed by phone to information being shared.", "Both parents agreed to checks with partner agencies."];
pub(crate) const CONSENT_REFUSED: [&str; 2] =
    ["Father declined information sharing; concerns recorded.", "Parent refused consent; advised of the next steps."];

pub(crate) fn rating_reasons(rating: Rating) -> &'static [&'static str] {
    match rating {
        Rating::Red => &["Possible significant harm: checks back within 2 hours.", "Child may not be safe tonight."],
        Rating::Amber => &["Significant concern: checks within 6 hours.", "Pattern of concerns needs checks today."],
        Rating::Green => {
            &["Below the statutory threshold on what is known.", "Additional needs; checks within 24 hours."]
        }
        Rating::Blue => {
            &["No safeguarding concern identified.", "Information request; no risk to the child identified."]
        }
    }
}

pub(crate) const CALLS: [(CallDirection, CallWith, &str); 6] = [
    (CallDirection::Outbound, CallWith::Referrer, "Called the referrer to clarify the concern and where {c} is now."),
    (
        CallDirection::Outbound,
        CallWith::Parent,
        "Spoke to the mother, who knows about the contact and gave her account.",
    ),
    (
        CallDirection::Outbound,
        CallWith::Agency,
        "Called the school's safeguarding lead for attendance and recent observations.",
    ),
    (CallDirection::Outbound, CallWith::Child, "Spoke to {c}, who said they feel safe at home tonight."),
    (CallDirection::Inbound, CallWith::Referrer, "Referrer called back with further information about {c}."),
    (CallDirection::Inbound, CallWith::Parent, "Father called, upset about the contact; explained the process."),
];

pub(crate) fn check_requests(agency: Agency) -> &'static [&'static str] {
    match agency {
        Agency::Police => &[
            "Domestic abuse history and intelligence on the adults at the address.",
            "Police checks on mother's new partner.",
        ],
        Agency::Health => &[
            "GP, health visiting and emergency department checks for the children and parents.",
            "Health checks including maternity and mental health services.",
        ],
        _ => {
            &["Attendance, exclusions and safeguarding records from school.", "Education checks for all the children."]
        }
    }
}

pub(crate) fn check_returns(agency: Agency, restricted: bool) -> &'static [&'static str] {
    match (agency, restricted) {
        (Agency::Police, false) => &[
            "Two previous domestic abuse call-outs in 12 months, both graded medium.",
            "No trace on the adults at the address.",
            "Father known for drug supply offences two years ago.",
        ],
        (Agency::Police, true) => &[
            "Ongoing investigation involving an adult in the household; details held by the police researcher.",
            "Intelligence of concern linked to the address; not to be shared with the family.",
        ],
        (Agency::Health, false) => &[
            "Immunisations up to date; no concerns from the health visitor.",
            "Two emergency department attendances this year for minor injuries; explanations consistent.",
            "Mother under the perinatal mental health team; last seen two weeks ago.",
            "Missed three health appointments; GP has written to the family.",
        ],
        (Agency::Health, true) => &[
            "Sensitive health information about a parent held; decision maker briefed.",
            "Sexual health clinic attendance by the young person; details restricted.",
        ],
        (_, false) => &[
            "Attendance 82% this term with several late marks.",
            "No concerns recorded by the school; attendance 97%.",
            "Two suspensions this year; pastoral support in place.",
            "Safeguarding lead reports {c} recently tired and withdrawn.",
        ],
        (_, true) => &["Disclosure to the school counsellor held on a confidential file."],
    }
}

pub(crate) const DUTY_SEATS: [(&str, Agency); 7] = [
    ("Advanced Practitioner", Agency::ChildrensSocialCare),
    ("Social Worker", Agency::ChildrensSocialCare),
    ("MASH Officer", Agency::ChildrensSocialCare),
    ("Detective Constable", Agency::Police),
    ("Safeguarding Nurse", Agency::Health),
    ("Education Safeguarding Officer", Agency::Education),
    ("Early Help Officer", Agency::EarlyHelp),
];

pub(crate) const DISCUSSIONS: [&str; 3] = [
    "Duty team reviewed the contact, the checks and the history; agreed the threshold.",
    "Discussed {c}'s lived experience and the family's strengths; views of partners taken.",
    "Reviewed previous contacts and the partners' checks; agreed next steps.",
];

pub(crate) fn needs_for(need: PrimaryNeed) -> &'static [&'static str] {
    match need {
        PrimaryNeed::N1 => &["safety at home", "protection from harm"],
        PrimaryNeed::N2 => &["support with disability", "short breaks for the family"],
        PrimaryNeed::N3 => &["support while a parent is unwell"],
        PrimaryNeed::N4 => &["stable housing", "family support"],
        PrimaryNeed::N5 => &["reducing parental conflict"],
        PrimaryNeed::N6 => &["exploitation risk", "positive activities"],
        PrimaryNeed::N7 => &["financial help", "food and warmth"],
        PrimaryNeed::N8 => &["a safe place to live"],
        PrimaryNeed::N9 | PrimaryNeed::N0 => &["information"],
    }
}

pub(crate) const NOTES_OPEN: [&str; 3] = [
    "Referrer rang to ask for an update; told a decision is due today.",
    "School confirmed {c} is in class today.",
    "Previous contact about {c} linked for the duty team.",
];
pub(crate) const NOTES_CLOSED: [&str; 2] =
    ["Referrer called for an update; told the contact was closed and why.", "Late information filed for the record."];

pub(crate) fn rationales(outcome: Outcome) -> &'static [&'static str] {
    match outcome {
        Outcome::StrategyDiscussion => &[
            "Reasonable cause to suspect {c} is suffering significant harm; strategy discussion with police and health today (s47).",
            "Disclosure and injury meet the child protection threshold; strategy discussion needed.",
        ],
        Outcome::Assessment => &[
            "Needs cannot be met without a statutory assessment; child and family assessment (s17).",
            "Cumulative concerns about {c} meet the threshold for a social work assessment.",
        ],
        Outcome::EarlyHelp => &[
            "Additional needs, not statutory; the family agree to early help support.",
            "Family would benefit from a team around the family; below the statutory threshold.",
        ],
        Outcome::AdviceAndSignpost => &[
            "Concern addressed with advice to the referrer; family signposted to universal services.",
            "Advice given on next steps; no role for children's social care now.",
        ],
        Outcome::NoFurtherAction => &[
            "No concerns requiring a response from children's services; information recorded.",
            "Checks show no further concern; no further action.",
        ],
        Outcome::ExistingCase => &[
            "{c} is already open to an allocated worker; information passed on.",
            "Family already open to a children in need plan; passed to the allocated worker.",
        ],
        Outcome::NotAccepted => &[
            "Duplicate of a contact about {c} already being worked; not accepted.",
            "Referrer withdrew the contact after speaking to the family; not accepted.",
        ],
    }
}

pub(crate) fn outcome_words(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::StrategyDiscussion => "a strategy discussion",
        Outcome::Assessment => "a social work assessment",
        Outcome::EarlyHelp => "early help",
        Outcome::AdviceAndSignpost => "advice and signposting",
        Outcome::NoFurtherAction => "no further action",
        Outcome::ExistingCase => "passing it to the allocated worker",
        Outcome::NotAccepted => "not accepting the contact",
    }
}

pub(crate) const REVISION_REASONS: [&str; 3] = [
    "New police information received after the decision.",
    "Manager review: threshold applied inconsistently.",
    "Family's circumstances clarified by the referrer.",
];

pub(crate) const INFORMED: [&str; 2] = [
    "Told the referrer the outcome ({outcome}) and what happens next.",
    "Explained the decision ({outcome}) about {c}.",
];

pub(crate) const ACTIONS: [(Agency, &str); 6] = [
    (Agency::EarlyHelp, "Early help assessment with the family within 10 working days."),
    (Agency::Education, "School to offer daily check-ins with the pastoral lead."),
    (Agency::Health, "Health visitor to visit the family at home."),
    (Agency::EarlyHelp, "Referral to a parenting programme."),
    (Agency::Housing, "Housing options appointment for the family."),
    (Agency::Other, "Referral to the domestic abuse support service."),
];
pub(crate) const REFERRER_ROLES: [&str; 2] =
    ["Lead professional for the early help plan.", "Attend the team around the family meeting."];

/// The team a handover goes to (another than `not`, when it was returned by that one).
pub(crate) fn team_name(rng: &mut Rng, to: HandoverTo, not: Option<&str>) -> String {
    let named = |teams: &[&str], rng: &mut Rng| {
        let others: Vec<&str> = teams.iter().copied().filter(|t| Some(*t) != not).collect();
        (*pick(rng, if others.is_empty() { teams } else { &others })).to_owned()
    };
    match to {
        HandoverTo::AssessmentTeam => named(&ASSESSMENT_TEAMS, rng),
        HandoverTo::EarlyHelp => named(&EARLY_HELP_TEAMS, rng),
        _ => {
            let area = pick(rng, AREAS);
            match to {
                HandoverTo::Tafso => format!("TAFSO {area}"),
                HandoverTo::Community => format!("Community Family Support {area}"),
                HandoverTo::AllocatedWorker => format!("Children in Need Team {area}"),
                _ => format!("Locality Team {area}"),
            }
        }
    }
}

/// How the practitioner confirmed a handover to a team with no frontdoor user.
pub(crate) const ACCEPTANCE_EVIDENCE: [&str; 4] = [
    "Confirmed by phone with the allocated worker.",
    "{t} confirmed receipt by secure e-mail.",
    "Confirmed by phone with the {t} duty coordinator.",
    "Acceptance noted at the {t} allocation meeting; minutes on file.",
];

/// Why a contact is not accepted, in the decision maker's words.
pub(crate) fn not_accepted_rationale(rng: &mut Rng, why: NotAccepted, child: &str) -> String {
    let text = match why {
        NotAccepted::DuplicateOf(of) => {
            return format!("Duplicate of contact {of} about {child}: the same incident, already being worked there.");
        }
        NotAccepted::WrongService => *pick(
            rng,
            &[
                "Wrong service: the concern is about an adult's care needs; passed to adult social care.",
                "Wrong service: the family live outside Westshire; passed to their home authority's front door.",
                "Wrong service: a request for a school place, passed to the admissions team.",
            ],
        ),
        NotAccepted::Withdrawn => *pick(
            rng,
            &[
                "Referrer withdrew the contact after speaking to the family; not accepted.",
                "Withdrawn: the referrer resolved the concern with the school the same day.",
            ],
        ),
    };
    text.to_owned()
}

pub(crate) const HANDOVER_NOTES: [&str; 3] = [
    "Contact, checks and duty discussion attached.",
    "Family aware; {c}'s school informed.",
    "Please see the partners' checks before the first visit.",
];
pub(crate) const RETURN_REASONS: [&str; 3] = [
    "Wrong locality: the family live in another patch.",
    "Checks incomplete: health check outstanding.",
    "Consent for early help not yet recorded.",
];

pub(crate) fn close_reasons(outcome: Outcome, handed_over: bool) -> &'static [&'static str] {
    match (outcome, handed_over) {
        (_, true) => {
            &["Accepted by the receiving team; front door involvement ended.", "Handed over; closed at the front door."]
        }
        (Outcome::NoFurtherAction, false) => &["No further action; referrer informed."],
        (Outcome::NotAccepted, false) => &["Not accepted; closed at the front door."],
        (Outcome::AdviceAndSignpost, false) => &["Advice given and the family signposted."],
        _ => &["Plan agreed with universal services; closed at the front door."],
    }
}
