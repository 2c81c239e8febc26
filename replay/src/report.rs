//! Timeliness and volumes for a period, the table a service manager takes to a partnership
//! board: the figures are [`projections::figures::timeliness`] and
//! [`projections::figures::volumes`] over the contacts received (London dates) in the
//! period, with the definitions of docs/FIGURES.md. As Markdown tables, or as CSV in long
//! form (`section,week,measure,value`) for a spreadsheet.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use projections::figures::{Practice, Spread, Timeliness, Volumes};
use projections::locality::Localities;
use projections::model::ReadModel;
use projections::time::DuePolicy;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Csv,
}

/// The figures of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub position: u64,
    /// The locality the figures count (`None`: every contact).
    pub locality: Option<String>,
    pub timeliness: Timeliness,
    pub volumes: Volumes,
    pub practice: Practice,
}

/// Which contacts a report counts: the localities configured, and one of them (or every
/// contact).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub localities: &'a Localities,
    /// A name [`Localities::find`] knows, or `None` for every contact.
    pub locality: Option<&'a str>,
}

/// The figures of the period from a folded model, undecided contacts judged at `judged_at`,
/// over the contacts of `scope`.
pub fn report(
    model: &ReadModel,
    from: NaiveDate,
    to: NaiveDate,
    policy: &DuePolicy,
    judged_at: DateTime<Utc>,
    scope: Scope<'_>,
) -> Report {
    let facts = || scope.localities.filter(model.facts(), scope.locality);
    let locality = scope.locality.map(str::to_owned);
    Report {
        position: model.position(),
        timeliness: Timeliness {
            locality: locality.clone(),
            ..projections::figures::timeliness(facts(), from, to, policy, judged_at)
        },
        volumes: Volumes {
            locality: locality.clone(),
            ..projections::figures::volumes(
                facts(),
                scope.localities.filter_consultations(model.consultations(Some(from), Some(to)), scope.locality),
                from,
                to,
                scope.localities,
            )
        },
        practice: Practice {
            locality: locality.clone(),
            ..projections::figures::practice(facts(), from, to, &policy.calendar, judged_at)
        },
        locality,
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.1}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{:.1}%", v * 100.0))
}

fn count_pct(n: u64, share: Option<f64>) -> String {
    match share {
        Some(_) => format!("{n} ({})", pct(share)),
        None => n.to_string(),
    }
}

fn spread_md(s: &Spread) -> String {
    format!("{} / {} / {}", num(s.median), num(s.p90), num(s.max))
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let t = &r.timeliness;
    let v = &r.volumes.totals;
    let mut o = String::new();
    match &r.locality {
        Some(locality) => {
            let _ = writeln!(o, "# Front door: {} to {}, locality {locality}", t.from, t.to);
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "Only the contacts of the locality {locality} (of the first child's postcode district) are counted."
            );
        }
        None => {
            let _ = writeln!(o, "# Front door: {} to {}", t.from, t.to);
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Contacts received {} to {} (London dates, both included), as the log stood at position {}. \
         Definitions: docs/FIGURES.md. Hours are real elapsed hours, shown as median / 90th percentile / maximum. \
         Undecided contacts are judged at {}: each share is over the decided contacts and the undecided ones \
         already past that share's deadline then.",
        t.from,
        t.to,
        r.position,
        events::envelope::timestamp::format(&t.judged_at)
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "## Summary");
    let _ = writeln!(o);
    let _ = writeln!(o, "| Measure | Value |");
    let _ = writeln!(o, "|---|---:|");
    let rows: Vec<(&str, String)> = vec![
        ("Contacts", v.contacts.to_string()),
        ("Children named", v.children.to_string()),
        ("Decided", t.decided.to_string()),
        ("Undecided", t.undecided.to_string()),
        (
            "Undecided past due (24 hours / one working day / policy)",
            format!(
                "{} / {} / {}",
                t.undecided_past_due.within_24h, t.undecided_past_due.one_working_day, t.undecided_past_due.policy
            ),
        ),
        ("Decided within 24 hours", count_pct(t.decided_within_24h, t.share_within_24h)),
        ("Decided within one working day", count_pct(t.decided_within_one_working_day, t.share_within_one_working_day)),
        ("Decided within policy", count_pct(t.decided_within_policy, t.share_within_policy)),
        ("Decision hours (median / p90 / max)", spread_md(&t.decision_hours)),
        (
            "Recorded late (decisions / acceptances)",
            format!("{} / {}", t.recorded_late.decisions, t.recorded_late.acceptances),
        ),
        ("Referrals", count_pct(v.referrals, v.conversion_rate)),
        ("Threshold met (referrals, of decided)", count_pct(v.threshold_met, v.threshold_met_share)),
        ("Level of need 3 or 4 (of decided)", count_pct(v.level_3_or_4, v.level_3_or_4_share)),
        ("Re-contacts within 12 months", v.re_contacts.to_string()),
    ];
    for (k, val) in rows {
        let _ = writeln!(o, "| {k} | {val} |");
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "## Time to the Assessment Team (referrals, received → accepted)");
    let _ = writeln!(o);
    let _ = writeln!(o, "| Referrals | Accepted | Awaiting | Hours (median / p90 / max) |");
    let _ = writeln!(o, "|---|---:|---:|---:|");
    let at = &t.to_assessment_team;
    let _ = writeln!(o, "| All | {} | {} | {} |", at.count, at.awaiting, spread_md(&at.hours));
    let _ = writeln!(
        o,
        "| Immediate (immediate risk or red) | {} | {} | {} |",
        at.immediate.count,
        at.immediate.awaiting,
        spread_md(&at.immediate.hours)
    );
    let _ = writeln!(o, "| Other | {} | {} | {} |", at.other.count, at.other.awaiting, spread_md(&at.other.hours));
    let _ = writeln!(o);
    let _ = writeln!(o, "## Handovers (received → first accepted)");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| Team | Handed over | Accepted | Awaiting | Returned (contacts / returns) | Hours (median / p90 / max) |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|");
    for (team, h) in [("Assessment Team", &t.handovers.assessment_team), ("Early Help", &t.handovers.early_help)] {
        let _ = writeln!(
            o,
            "| {team} | {} | {} | {} | {} / {} | {} |",
            h.handed_over,
            h.accepted,
            h.awaiting,
            h.returned,
            h.returns,
            spread_md(&h.hours_to_acceptance)
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "## Strategy discussions (decision → first discussion held)");
    let _ = writeln!(o);
    let sd = &t.strategy_discussions;
    let _ = writeln!(o, "| Held | Awaiting | Hours (median / p90 / max) | Outcomes |");
    let _ = writeln!(o, "|---:|---:|---:|---|");
    let outcomes: Vec<String> = sd.outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} |",
        sd.held,
        sd.awaiting,
        spread_md(&sd.hours_from_decision),
        outcomes.join(", ")
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "## By week");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| Week | From | To | Contacts | Decided | Within 24 h | Within 1 working day | Decision hours (median) | Referrals | Conversion | Accepted by AT | AT hours (median) |"
    );
    let _ = writeln!(o, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (tw, vw) in t.by_week.iter().zip(&r.volumes.by_week) {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            tw.week.week,
            tw.week.from,
            tw.week.to,
            tw.contacts,
            tw.decided,
            tw.decided_within_24h,
            tw.decided_within_one_working_day,
            num(tw.decision_hours.median),
            vw.counts.referrals,
            pct(vw.counts.conversion_rate),
            tw.to_assessment_team.count,
            num(tw.to_assessment_team.hours.median)
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "## By referral source");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| Source | Contacts | Decided | Referrals | Conversion | Consent given | After a duty discussion: followed / departed |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|");
    for (code, s) in r.volumes.by_referral_source.0.iter().filter(|(_, s)| s.contacts > 0) {
        let _ = writeln!(
            o,
            "| {code} | {} | {} | {} | {} | {} | {} / {} |",
            s.contacts,
            s.decided,
            s.referrals,
            pct(s.conversion_rate),
            count_pct(s.consent.get("given"), s.consent_given_share),
            s.recommendations.followed,
            s.recommendations.departed
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "## By referral source, week by week");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| Week | Source | Contacts | Decided | Referrals | Conversion | Consent given | Consent not given | Consent overridden | Outcomes |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for w in &r.volumes.by_week {
        for (code, s) in w.by_referral_source.0.iter().filter(|(_, s)| s.contacts > 0) {
            let outcomes: Vec<String> =
                s.outcomes.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(
                o,
                "| {} | {code} | {} | {} | {} | {} | {} | {} | {} | {} |",
                w.week.week,
                s.contacts,
                s.decided,
                s.referrals,
                pct(s.conversion_rate),
                count_pct(s.consent.get("given"), s.consent_given_share),
                s.consent.get("not_given"),
                s.consent.get("overridden"),
                outcomes.join(", ")
            );
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "## By locality (first child's postcode district)");
    let _ = writeln!(o);
    let _ = writeln!(o, "| Locality | Contacts | Children | Decided | Referrals | Conversion | Outcomes |");
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---|");
    for l in &r.volumes.by_locality {
        let outcomes: Vec<String> =
            l.outcomes.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            l.locality,
            l.contacts,
            l.children,
            l.decided,
            l.referrals,
            pct(l.conversion_rate),
            outcomes.join(", ")
        );
    }
    let rec = &r.volumes.recommendations;
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Decisions after a duty discussion that recommended an outcome: {}; followed {} ({}), departed {}.",
        rec.after_discussion,
        rec.followed,
        pct(rec.share_followed),
        rec.departed
    );
    let p = &r.practice;
    let _ = writeln!(o);
    let _ = writeln!(o, "## Practice");
    let _ = writeln!(o);
    let _ = writeln!(o, "| Measure | Value |");
    let _ = writeln!(o, "|---|---:|");
    let practice_rows: Vec<(&str, String)> = vec![
        (
            "Consent recorded (given, not given or overridden; of contacts)",
            count_pct(p.consent.recorded, p.consent.share_recorded),
        ),
        ("Consent overridden", p.consent.overridden.to_string()),
        ("Consent recorded after receipt", p.consent.recorded_after_receipt.to_string()),
        (
            "Referrer informed within one working day (of contacts)",
            count_pct(p.referrer_informed.within_one_working_day, p.referrer_informed.share_within_one_working_day),
        ),
        ("Referrer not yet informed", p.referrer_informed.not_informed.to_string()),
        ("Decisions revised (of decided)", count_pct(p.revised.count, p.revised.share_of_decided)),
        ("Revisions in all", p.revised.revisions.to_string()),
        (
            "Action plans agreed (contacts, of decided)",
            count_pct(p.action_plans.contacts, p.action_plans.share_of_decided),
        ),
    ];
    for (k, val) in practice_rows {
        let _ = writeln!(o, "| {k} | {val} |");
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "## Decisions by level of need (decision in force)");
    let _ = writeln!(o);
    let _ = writeln!(o, "| Level of need | Decisions | Referrals |");
    let _ = writeln!(o, "|---|---:|---:|");
    for (level, row) in &p.by_level_of_need.0 {
        let referrals = row.outcomes.get("strategy_discussion") + row.outcomes.get("assessment");
        let _ = writeln!(o, "| {level} | {} | {referrals} |", row.decisions);
    }
    for (title, tally) in [
        ("Contacts by channel", &v.by_channel),
        ("Contacts by CIN referral source", &v.by_source),
        ("Contacts by weekday", &v.by_weekday),
        ("Outcomes (decision in force)", &v.outcomes),
    ] {
        let _ = writeln!(o);
        let _ = writeln!(o, "## {title}");
        let _ = writeln!(o);
        let _ = writeln!(o, "| | Contacts |");
        let _ = writeln!(o, "|---|---:|");
        for (k, n) in tally.iter() {
            let _ = writeln!(o, "| {k} | {n} |");
        }
    }
    o
}

/// The report as CSV in long form: `section,week,measure,value`; `week` is blank for the
/// whole period; shares are fractions, hours unrounded, blanks for "none".
///
/// # Panics
/// Never in practice: writing CSV to memory does not fail.
pub fn csv(r: &Report) -> Vec<u8> {
    let t = &r.timeliness;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |section: &str, week: &str, measure: &str, value: String| {
        w.write_record([section, week, measure, &value]).expect("CSV to memory");
    };
    let f = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    row("section", "week", "measure", "value".into());
    row("period", "", "from", t.from.to_string());
    row("period", "", "to", t.to.to_string());
    row("period", "", "log_position", r.position.to_string());
    row("period", "", "locality", r.locality.clone().unwrap_or_default());
    row("period", "", "judged_at", events::envelope::timestamp::format(&t.judged_at));
    let mut timeliness = |week: &str,
                          contacts: u64,
                          decided: u64,
                          w24: u64,
                          wd: u64,
                          pol: u64,
                          hours: &Spread,
                          at: &projections::figures::timeliness::ToAssessmentTeam| {
        row("timeliness", week, "contacts", contacts.to_string());
        row("timeliness", week, "decided", decided.to_string());
        row("timeliness", week, "decided_within_24h", w24.to_string());
        row("timeliness", week, "decided_within_one_working_day", wd.to_string());
        row("timeliness", week, "decided_within_policy", pol.to_string());
        row("timeliness", week, "decision_hours_median", f(hours.median));
        row("timeliness", week, "decision_hours_p90", f(hours.p90));
        row("timeliness", week, "decision_hours_max", f(hours.max));
        row("timeliness", week, "to_assessment_team_count", at.count.to_string());
        row("timeliness", week, "to_assessment_team_awaiting", at.awaiting.to_string());
        row("timeliness", week, "to_assessment_team_hours_median", f(at.hours.median));
        row("timeliness", week, "to_assessment_team_hours_p90", f(at.hours.p90));
        row("timeliness", week, "to_assessment_team_hours_max", f(at.hours.max));
        row("timeliness", week, "to_assessment_team_immediate_count", at.immediate.count.to_string());
        row("timeliness", week, "to_assessment_team_immediate_hours_median", f(at.immediate.hours.median));
        row("timeliness", week, "to_assessment_team_other_count", at.other.count.to_string());
        row("timeliness", week, "to_assessment_team_other_hours_median", f(at.other.hours.median));
    };
    timeliness(
        "",
        t.contacts,
        t.decided,
        t.decided_within_24h,
        t.decided_within_one_working_day,
        t.decided_within_policy,
        &t.decision_hours,
        &t.to_assessment_team,
    );
    for tw in &t.by_week {
        timeliness(
            &tw.week.week,
            tw.contacts,
            tw.decided,
            tw.decided_within_24h,
            tw.decided_within_one_working_day,
            tw.decided_within_policy,
            &tw.decision_hours,
            &tw.to_assessment_team,
        );
    }
    let mut extra = |week: &str,
                     due: &projections::figures::timeliness::UndecidedPastDue,
                     late: &projections::figures::timeliness::RecordedLate| {
        row("timeliness", week, "undecided_past_due_within_24h", due.within_24h.to_string());
        row("timeliness", week, "undecided_past_due_one_working_day", due.one_working_day.to_string());
        row("timeliness", week, "undecided_past_due_policy", due.policy.to_string());
        row("timeliness", week, "recorded_late_decisions", late.decisions.to_string());
        row("timeliness", week, "recorded_late_acceptances", late.acceptances.to_string());
    };
    extra("", &t.undecided_past_due, &t.recorded_late);
    for tw in &t.by_week {
        extra(&tw.week.week, &tw.undecided_past_due, &tw.recorded_late);
    }
    row("timeliness", "", "share_within_24h", f(t.share_within_24h));
    row("timeliness", "", "share_within_one_working_day", f(t.share_within_one_working_day));
    row("timeliness", "", "share_within_policy", f(t.share_within_policy));
    for (team, h) in [("assessment_team", &t.handovers.assessment_team), ("early_help", &t.handovers.early_help)] {
        row("handovers", "", &format!("{team}:handed_over"), h.handed_over.to_string());
        row("handovers", "", &format!("{team}:accepted"), h.accepted.to_string());
        row("handovers", "", &format!("{team}:awaiting"), h.awaiting.to_string());
        row("handovers", "", &format!("{team}:returned"), h.returned.to_string());
        row("handovers", "", &format!("{team}:returns"), h.returns.to_string());
        row("handovers", "", &format!("{team}:hours_median"), f(h.hours_to_acceptance.median));
        row("handovers", "", &format!("{team}:hours_p90"), f(h.hours_to_acceptance.p90));
        row("handovers", "", &format!("{team}:hours_max"), f(h.hours_to_acceptance.max));
    }
    let sd = &t.strategy_discussions;
    row("timeliness", "", "strategy_discussions_held", sd.held.to_string());
    row("timeliness", "", "strategy_discussions_awaiting", sd.awaiting.to_string());
    row("timeliness", "", "strategy_discussion_hours_median", f(sd.hours_from_decision.median));
    row("timeliness", "", "strategy_discussion_hours_p90", f(sd.hours_from_decision.p90));
    row("timeliness", "", "strategy_discussion_hours_max", f(sd.hours_from_decision.max));
    for (k, n) in sd.outcomes.iter() {
        row("timeliness", "", &format!("strategy_discussion_outcome:{k}"), n.to_string());
    }
    let weeks = std::iter::once(("", &r.volumes.totals))
        .chain(r.volumes.by_week.iter().map(|w| (w.week.week.as_str(), &w.counts)));
    for (week, c) in weeks {
        row("volumes", week, "contacts", c.contacts.to_string());
        row("volumes", week, "children", c.children.to_string());
        row("volumes", week, "decided", c.decided.to_string());
        row("volumes", week, "referrals", c.referrals.to_string());
        row("volumes", week, "conversion_rate", f(c.conversion_rate));
        row("volumes", week, "threshold_met", c.threshold_met.to_string());
        row("volumes", week, "threshold_met_share", f(c.threshold_met_share));
        row("volumes", week, "level_3_or_4", c.level_3_or_4.to_string());
        row("volumes", week, "level_3_or_4_share", f(c.level_3_or_4_share));
        row("volumes", week, "re_contacts", c.re_contacts.to_string());
        for (prefix, tally) in
            [("channel", &c.by_channel), ("source", &c.by_source), ("weekday", &c.by_weekday), ("outcome", &c.outcomes)]
        {
            for (k, n) in tally.iter() {
                row("volumes", week, &format!("{prefix}:{k}"), n.to_string());
            }
        }
    }
    let source_weeks = std::iter::once(("", &r.volumes.by_referral_source))
        .chain(r.volumes.by_week.iter().map(|w| (w.week.week.as_str(), &w.by_referral_source)));
    for (week, sources) in source_weeks {
        for (code, s) in &sources.0 {
            let m = |name: &str| format!("{name}:{code}");
            row("by_source", week, &m("contacts"), s.contacts.to_string());
            row("by_source", week, &m("decided"), s.decided.to_string());
            row("by_source", week, &m("referrals"), s.referrals.to_string());
            row("by_source", week, &m("conversion_rate"), f(s.conversion_rate));
            row("by_source", week, &m("consent_given"), s.consent.get("given").to_string());
            for (k, n) in s.consent.iter() {
                row("by_source", week, &format!("consent:{code}:{k}"), n.to_string());
            }
            row("by_source", week, &m("consent_given_share"), f(s.consent_given_share));
            row("by_source", week, &m("recommendation_followed"), s.recommendations.followed.to_string());
            row("by_source", week, &m("recommendation_departed"), s.recommendations.departed.to_string());
            for (k, n) in s.outcomes.iter() {
                row("by_source", week, &format!("outcome:{code}:{k}"), n.to_string());
            }
        }
    }
    for l in &r.volumes.by_locality {
        let name = &l.locality;
        row("by_locality", "", &format!("contacts:{name}"), l.contacts.to_string());
        row("by_locality", "", &format!("children:{name}"), l.children.to_string());
        row("by_locality", "", &format!("decided:{name}"), l.decided.to_string());
        row("by_locality", "", &format!("referrals:{name}"), l.referrals.to_string());
        row("by_locality", "", &format!("conversion_rate:{name}"), f(l.conversion_rate));
        for (k, n) in l.outcomes.iter() {
            row("by_locality", "", &format!("outcome:{name}:{k}"), n.to_string());
        }
    }
    let rec = &r.volumes.recommendations;
    row("recommendations", "", "after_discussion", rec.after_discussion.to_string());
    row("recommendations", "", "followed", rec.followed.to_string());
    row("recommendations", "", "departed", rec.departed.to_string());
    row("recommendations", "", "share_followed", f(rec.share_followed));
    let p = &r.practice;
    row("practice", "", "consent_recorded", p.consent.recorded.to_string());
    row("practice", "", "consent_share_recorded", f(p.consent.share_recorded));
    row("practice", "", "consent_overridden", p.consent.overridden.to_string());
    row("practice", "", "consent_recorded_after_receipt", p.consent.recorded_after_receipt.to_string());
    row("practice", "", "referrer_informed", p.referrer_informed.informed.to_string());
    row(
        "practice",
        "",
        "referrer_informed_within_one_working_day",
        p.referrer_informed.within_one_working_day.to_string(),
    );
    row(
        "practice",
        "",
        "referrer_informed_share_within_one_working_day",
        f(p.referrer_informed.share_within_one_working_day),
    );
    row("practice", "", "revised", p.revised.count.to_string());
    row("practice", "", "revised_share_of_decided", f(p.revised.share_of_decided));
    row("practice", "", "revisions", p.revised.revisions.to_string());
    row("practice", "", "action_plan_contacts", p.action_plans.contacts.to_string());
    for (level, lr) in &p.by_level_of_need.0 {
        row("practice", "", &format!("level_of_need:{level}"), lr.decisions.to_string());
    }
    w.into_inner().expect("CSV to memory")
}

/// Devon's appendix table ("average weekly contacts and outcomes") as Markdown: children and
/// siblings as weekly averages by weekday and channel, then the outcome split by weekday,
/// the period's totals and each outcome's share. Averages to one decimal place.
pub fn devon_markdown(t: &projections::figures::DevonTable, position: u64) -> String {
    let mut o = String::new();
    let avg = |v: f64| format!("{v:.1}");
    let _ = writeln!(o, "# Average weekly contacts and outcomes: {} to {}", t.from, t.to);
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Children named in contacts received {} to {} (London dates, both included; {} weeks), as the log stood at \
         position {}. A contact about siblings counts each child. Each weekday's figure is its count divided by the \
         number of times that weekday falls in the period; the weekly average is the period's count divided by its \
         weeks. Definitions: docs/FIGURES.md, \"Devon's table\".",
        t.from,
        t.to,
        avg(t.weeks),
        position
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "## Children and siblings by weekday and channel (weekly average)");
    let _ = writeln!(o);
    let channels: Vec<&str> = t.weekly_average.children_by_channel.0.iter().map(|(k, _)| *k).collect();
    let _ = writeln!(o, "| Weekday | {} | Children | Contacts |", channels.join(" | "));
    let _ = writeln!(o, "|---|{}---:|---:|", "---:|".repeat(channels.len()));
    for r in t.by_weekday.iter().chain(std::iter::once(&t.weekly_average)) {
        let label = if r.weekday == "all" { "Weekly average" } else { r.weekday };
        let cells: Vec<String> = r.children_by_channel.0.iter().map(|(_, v)| avg(*v)).collect();
        let _ = writeln!(o, "| {label} | {} | {} | {} |", cells.join(" | "), avg(r.children), avg(r.contacts));
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "## Outcomes (decision in force), children (weekly average)");
    let _ = writeln!(o);
    let outcomes: Vec<&str> = t.totals.outcomes.iter().map(|(k, _)| k).collect();
    let _ = writeln!(o, "| Weekday | {} |", outcomes.join(" | "));
    let _ = writeln!(o, "|---|{}", "---:|".repeat(outcomes.len()));
    for r in t.by_weekday.iter().chain(std::iter::once(&t.weekly_average)) {
        let label = if r.weekday == "all" { "Weekly average" } else { r.weekday };
        let cells: Vec<String> = r.outcomes.0.iter().map(|(_, v)| avg(*v)).collect();
        let _ = writeln!(o, "| {label} | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = t.totals.outcomes.iter().map(|(_, n)| n.to_string()).collect();
    let _ = writeln!(o, "| Total in period | {} |", totals.join(" | "));
    let shares: Vec<String> = t.totals.outcome_shares.0.iter().map(|(_, s)| pct(*s)).collect();
    let _ = writeln!(o, "| Share of children | {} |", shares.join(" | "));
    let _ = writeln!(o);
    let _ = writeln!(o, "Children: {}. Contacts: {}.", t.totals.children, t.totals.contacts);
    o
}

#[cfg(test)]
mod tests {
    use projections::figures::devon_table;

    #[test]
    fn devons_table_prints_weekday_rows_the_weekly_average_and_shares() {
        let from = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let to = chrono::NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        let t = devon_table(std::iter::empty(), from, to);
        let md = super::devon_markdown(&t, 0);
        assert!(md.contains(
            "| Weekday | phone | online_form | email | police_notification | in_person | other | Children | Contacts |"
        ));
        assert!(md.contains("| Monday | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |"));
        assert!(md.contains("| Weekly average | 0.0 |"));
        assert!(md.contains("| Share of children |  |  |"), "no shares without children:\n{md}");
    }
}
