//! The invented people: children, families, referrers, NHS numbers from the range never issued.

use super::*;

pub(crate) const ADULT_NAMES: &[&str] = &[
    "Sarah",
    "James",
    "Rachel",
    "Mark",
    "Helen",
    "Paul",
    "Claire",
    "Andrew",
    "Laura",
    "Daniel",
    "Joanne",
    "Richard",
    "Nicola",
    "Stephen",
    "Kirsty",
    "Gareth",
    "Fiona",
    "Martin",
    "Lisa",
    "Simon",
    "Amanda",
    "Neil",
    "Karen",
    "Darren",
    "Louise",
    "Hannah",
    "Jason",
    "Emma",
    "Gemma",
    "Matthew",
    "Jenny",
    "Adam",
    "Natalie",
    "Stuart",
    "Vicky",
    "Owen",
    "Sian",
    "Rebecca",
    "Imran",
    "Priya",
    "Aisha",
    "Tomasz",
    "Agnieszka",
    "Kwame",
    "Nadia",
    "Ravi",
    "Bethan",
    "Callum",
];
pub(crate) const GIRL_NAMES: &[&str] = &[
    "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Florence", "Poppy", "Evie", "Ella", "Sophie", "Grace",
    "Ruby", "Millie", "Layla", "Maisie", "Daisy", "Harper", "Zara", "Maja", "Hollie", "Chloe", "Erin", "Jessica",
    "Amber", "Megan", "Leah", "Skye", "Aaliyah",
];
pub(crate) const BOY_NAMES: &[&str] = &[
    "Oliver", "Noah", "George", "Leo", "Arthur", "Oscar", "Theo", "Jack", "Charlie", "Freddie", "Alfie", "Archie",
    "Henry", "Finley", "Jacob", "Reuben", "Tyler", "Kai", "Riley", "Logan", "Mason", "Ethan", "Lewis", "Jayden",
    "Kian", "Ibrahim", "Dylan", "Connor", "Rhys", "Zain",
];
pub(crate) const SURNAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "Harris",
    "Martin",
    "Cooper",
    "Hughes",
    "Edwards",
    "Turner",
    "Parker",
    "Collins",
    "Bennett",
    "Marshall",
    "Ward",
    "Morris",
    "Hill",
    "Price",
    "Barker",
    "Foster",
    "Lloyd",
    "Kowalski",
    "Mensah",
    "Ahmed",
    "Begum",
    "Nowak",
    "Ellis",
    "Hussain",
    "Chapman",
    "Pearce",
    "Shaw",
    "Gibson",
    "Fletcher",
    "Dixon",
    "Pritchard",
    "Rowe",
    "Holt",
    "Kerr",
    "Nash",
    "Sutton",
    "Mills",
];

/// Combinations of the lists above that name someone famous, or a child from a published
/// serious case review: never generated.
pub(crate) const FAMOUS_NAMES: &[&str] = &[
    "Adam Johnson",
    "Alfie Evans",
    "Arthur Hughes",
    "Callum Wilson",
    "Charlie Brown",
    "Charlie Cooper",
    "Daniel Jones",
    "Darren Fletcher",
    "Emma Roberts",
    "Emma Thompson",
    "Gemma Collins",
    "George Martin",
    "Grace Jones",
    "Henry Cooper",
    "Jack Wilson",
    "James Martin",
    "James Taylor",
    "Joanne Harris",
    "Mark Foster",
    "Mark Hughes",
    "Mark Williams",
    "Mark Wright",
    "Martin Lewis",
    "Matthew Wright",
    "Nadia Hussain",
    "Nicola Walker",
    "Noah Taylor",
    "Owen Jones",
    "Owen Wilson",
    "Paul Robinson",
    "Paul Smith",
    "Paul Walker",
    "Richard Harris",
    "Richard Wilson",
    "Stuart Hall",
    "Stuart Pearce",
    "Tyler Roberts",
];

/// "First Surname", with the surname given or drawn, never a famous combination.
pub(crate) fn person_name(rng: &mut Rng, first_names: &[&str], surname: Option<&str>) -> String {
    loop {
        let first = pick(rng, first_names);
        let surname = surname.unwrap_or_else(|| *pick(rng, SURNAMES));
        let name = format!("{first} {surname}");
        if !FAMOUS_NAMES.contains(&name.as_str()) {
            return name;
        }
    }
}

pub(crate) fn surname_of(name: &str) -> &str {
    name.rsplit(' ').next().unwrap_or(name)
}

/// How concerns and summaries refer to the (first) child.
pub(crate) fn first_name_of(children: &[Child]) -> String {
    match children.first() {
        Some(child) if child.date_of_birth.is_none() && child.name.starts_with("Unborn") => {
            "the unborn baby".to_owned()
        }
        Some(child) => child.name.split(' ').next().unwrap_or("the child").to_owned(),
        None => "the child".to_owned(),
    }
}

/// 1-3 siblings sharing a surname, aged 0-17 on `today`, none of them already known;
/// now and then an unborn baby.
pub(crate) fn new_family(rng: &mut Rng, today: NaiveDate, seen: &mut Children) -> Vec<Child> {
    loop {
        let mut family = draw_family(rng, today);
        let key = |c: &Child| (c.name.clone(), c.date_of_birth);
        if family.iter().all(|c| !seen.known.contains(&key(c))) {
            for child in &mut family {
                seen.known.insert(key(child));
                // The unborn always get a reference: there is nothing else to find them by.
                if child.date_of_birth.is_none() || chance(rng, 55) {
                    seen.next_ref += 1;
                    child.child_ref = Some(format!("WS{:07}", seen.next_ref));
                }
            }
            return family;
        }
    }
}

pub(crate) fn draw_family(rng: &mut Rng, today: NaiveDate) -> Vec<Child> {
    let surname = *pick(rng, SURNAMES);
    let count = weighted(rng, &[(1, 60), (2, 27), (3, 13)]);
    let mut children: Vec<Child> = Vec::with_capacity(count);
    if count == 1 && rng.u32(0..1000) < 15 {
        return vec![Child {
            name: format!("Unborn baby {surname}"),
            date_of_birth: None,
            sex: Some(Sex::Unknown),
            child_ref: None,
            nhs_number: None,
            upn: None,
            ethnicity: None,
            // Due at least five weeks on, so no re-contact in the four weeks comes after it.
            expected_date_of_birth: today.checked_add_days(Days::new(rng.u64(35..200))),
            address: None,
        }];
    }
    let ethnicity = chance(rng, 70).then(|| weighted(rng, &ETHNICITIES).to_owned());
    while children.len() < count {
        let age = weighted(rng, &AGES);
        // At least a month short of the next birthday, so a re-contact within the four
        // weeks never turns 18; newborns from three days old.
        let offset = if age == 0 { rng.u64(3..335) } else { rng.u64(30..335) };
        let days = age * 365 + age / 4 + offset;
        let date_of_birth = today.checked_sub_days(Days::new(days));
        let sex = weighted(rng, &[(Sex::Female, 49), (Sex::Male, 49), (Sex::Unknown, 2)]);
        let names = match sex {
            Sex::Female => GIRL_NAMES,
            Sex::Male => BOY_NAMES,
            Sex::Unknown => {
                if chance(rng, 50) {
                    GIRL_NAMES
                } else {
                    BOY_NAMES
                }
            }
        };
        let name = person_name(rng, names, Some(surname));
        if children.iter().any(|c| c.name == name) {
            continue;
        }
        children.push(Child {
            name,
            date_of_birth,
            sex: Some(sex),
            child_ref: None,
            nhs_number: chance(rng, 65).then(|| nhs_number(rng)),
            upn: None,
            ethnicity: ethnicity.clone(),
            expected_date_of_birth: None,
            address: None,
        });
    }
    children
}

/// Age in years, weighted: more babies and teenagers, as front doors see.
pub(crate) const AGES: [(u64, u32); 18] = [
    (0, 90),
    (1, 60),
    (2, 50),
    (3, 50),
    (4, 50),
    (5, 55),
    (6, 55),
    (7, 55),
    (8, 55),
    (9, 55),
    (10, 55),
    (11, 55),
    (12, 62),
    (13, 66),
    (14, 68),
    (15, 66),
    (16, 55),
    (17, 45),
];

/// CIN census ethnicity codes, roughly a shire county's mix.
pub(crate) const ETHNICITIES: [(&str, u32); 12] = [
    ("WBRI", 780),
    ("WOTH", 60),
    ("WIRI", 5),
    ("MWBC", 25),
    ("MWAS", 15),
    ("MOTH", 20),
    ("AIND", 15),
    ("APKN", 15),
    ("ABAN", 5),
    ("BAFR", 20),
    ("CHNE", 5),
    ("NOBT", 35),
];

/// A valid NHS number from the 999 range (never issued to patients): nine digits, then
/// the modulus-11 check digit (weights 10 to 2; 11 gives 0; 10 is invalid, so redraw).
pub(crate) fn nhs_number(rng: &mut Rng) -> String {
    loop {
        let mut digits = [9u32; 10];
        for d in &mut digits[3..9] {
            *d = rng.u32(0..10);
        }
        let sum: u32 = digits[..9].iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        digits[9] = match 11 - sum % 11 {
            11 => 0,
            10 => continue,
            check => check,
        };
        return digits.iter().map(|&d| char::from_digit(d, 10).expect("a digit")).collect();
    }
}

pub(crate) const TOWNS: &[&str] = &[
    "Ashcombe",
    "Bramford",
    "Culverton",
    "Dunmere",
    "Fallowfield",
    "Harrowby",
    "Kingsmoor",
    "Langford Mill",
    "Marlow Heath",
    "Northam Vale",
    "Oakhurst",
    "Stowbury",
    "Thornwick",
    "Upton Fields",
    "Westerleigh",
    "Yarrow Bay",
];
pub(crate) const AREAS: &[&str] = &["North", "South", "East", "West", "Central"];

pub(crate) fn referrer_for(rng: &mut Rng, source: SourceCode, children: &[Child], today: NaiveDate) -> Referrer {
    use SourceCode as S;
    let town = *pick(rng, TOWNS);
    let family_surname = children.first().map_or("Smith", |c| surname_of(&c.name)).to_owned();
    let org = |rng: &mut Rng, options: &[&str]| Some(pick(rng, options).replace("{town}", town));
    let (organisation, roles): (Option<String>, &[&str]) = match source {
        S::FamilyMember => {
            (None, &["Mother", "Father", "Grandmother", "Grandfather", "Aunt", "Uncle", "Stepfather", "Kinship carer"])
        }
        S::Acquaintance => (None, &["Neighbour", "Childminder", "Family friend"]),
        S::SelfReferral => (None, &["Young person", "Parent"]),
        S::OtherIndividual => (None, &["Member of the public", "Sports coach", "Faith leader"]),
        S::School => (
            org(rng, &["{town} Primary School", "{town} Academy", "{town} Community College", "{town} Infant School"]),
            &["Designated Safeguarding Lead", "Deputy Safeguarding Lead", "Head Teacher", "Pastoral Lead"],
        ),
        S::EducationServices => (
            org(
                rng,
                &["Westshire Education Welfare Service", "Westshire Virtual School", "Westshire Inclusion Service"],
            ),
            &["Education Welfare Officer", "Inclusion Officer"],
        ),
        S::Gp => (org(rng, &["{town} Medical Practice", "{town} Surgery"]), &["GP", "Practice Nurse"]),
        S::HealthVisitor => (org(rng, &["Westshire Community Health: Health Visiting"]), &["Health Visitor"]),
        S::SchoolNurse => (org(rng, &["Westshire School Nursing Service"]), &["School Nurse"]),
        S::OtherPrimaryHealth => {
            (org(rng, &["Westshire Community Midwifery", "{town} Dental Practice"]), &["Midwife", "Dentist"])
        }
        S::AccidentAndEmergency => (
            org(rng, &["Westshire General Hospital Emergency Department", "{town} Hospital Emergency Department"]),
            &["ED Nurse", "ED Consultant", "Paediatric Liaison Nurse"],
        ),
        S::OtherHealth => (
            org(rng, &["Westshire CAMHS", "Westshire Drug and Alcohol Service", "Westshire Maternity Unit"]),
            &["CAMHS Clinician", "Substance Misuse Worker", "Safeguarding Nurse"],
        ),
        S::Housing => (
            org(rng, &["{town} District Council Housing Options", "Westshire Homes"]),
            &["Housing Officer", "Tenancy Support Worker"],
        ),
        S::LaSocialCare => (org(rng, &["Westshire Adult Social Care"]), &["Adult Social Worker"]),
        S::OtherInternalLa => (
            org(rng, &["Westshire Youth Justice Service", "Westshire Family Support Service"]),
            &["Youth Justice Worker", "Family Support Worker"],
        ),
        S::ExternalLa => (
            org(rng, &["Eastmoor County Council Children's Services", "Southvale Borough Children's Services"]),
            &["Social Worker"],
        ),
        S::EarlyHelp => (org(rng, &["Early Help Hub {town}"]), &["Early Help Worker", "Family Practitioner"]),
        S::Police => (org(rng, &["Westshire Constabulary"]), &["Police Constable", "Detective Constable", "Sergeant"]),
        S::OtherLegalAgency => (
            org(rng, &["Probation Service Westshire", "Cafcass", "Westshire Family Court"]),
            &["Probation Officer", "Family Court Adviser"],
        ),
        S::Other => (
            org(rng, &["{town} Children's Centre", "{town} Youth Club", "Westshire Domestic Abuse Service"]),
            &["Children's Centre Worker", "Youth Worker", "Domestic Abuse Advocate"],
        ),
        S::Anonymous | S::Unknown => (None, &[]),
    };
    if roles.is_empty() {
        let name = if source == S::Anonymous { "Anonymous caller" } else { "Not recorded" };
        return Referrer { name: name.to_owned(), organisation: None, role: None, phone: None, email: None };
    }
    let mut role = *pick(rng, roles);
    let teenager = children[0].date_of_birth.and_then(|dob| today.years_since(dob)).is_some_and(|age| age >= 12);
    if role == "Young person" && !teenager {
        role = "Parent";
    }
    let individual = organisation.is_none();
    let name = match (source, role) {
        (S::SelfReferral, "Young person") => children[0].name.clone(),
        (S::FamilyMember | S::SelfReferral, _) if chance(rng, 70) => {
            person_name(rng, ADULT_NAMES, Some(&family_surname))
        }
        _ => person_name(rng, ADULT_NAMES, None),
    };
    let (phone_percent, email_percent) = if individual { (70, 20) } else { (60, 70) };
    let phone = chance(rng, phone_percent).then(|| {
        if individual || chance(rng, 30) {
            format!("07700 900{:03}", rng.u32(0..1000))
        } else {
            format!("01632 960{:03}", rng.u32(0..1000))
        }
    });
    let email = chance(rng, email_percent).then(|| {
        let local: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c == ' ' { '.' } else { c })
            .filter(|c| c.is_ascii_lowercase() || *c == '.')
            .collect();
        if individual { format!("{local}{}@example.net", rng.u32(1..100)) } else { format!("{local}@example.org") }
    });
    Referrer { name, organisation, role: Some(role.to_owned()), phone, email }
}
