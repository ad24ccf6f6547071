//! The small expression languages inside workflow values: date expressions
//! (`birthday 18 - 6 months`), terms (`6 weeks` or a parameter name) and reminder offsets
//! (`3 days before`).

use crate::calendar::{Duration, DurationError};

use super::model::{Anchor, DateExpr, Sign, Term};

/// The names an expression may refer to, and which anchors its context allows.
pub struct Scope<'a> {
    pub params: &'a [String],
    pub dates: &'a [String],
    pub deadlines: &'a [String],
    /// Date fields of the start event, usable as `data.<field>`.
    pub data_dates: &'a [&'static str],
    /// False for a start date, which is known before the instance exists.
    pub instance_anchors: bool,
}

/// A problem in an expression, with a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    pub hint: String,
}

fn error(message: impl Into<String>, hint: impl Into<String>) -> ExprError {
    ExprError {
        message: message.into(),
        hint: hint.into(),
    }
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c == '+' || c == '-' || c.is_whitespace() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

const ANCHOR_HINT: &str = "a date starts with 'start', 'birthday <age>', 'data.<field>', an event type, or the name of a date or deadline";

pub fn parse_date(text: &str, scope: &Scope<'_>) -> Result<DateExpr, ExprError> {
    let tokens = tokens(text);
    let mut rest = tokens.iter().map(String::as_str).peekable();
    let anchor = match rest.next() {
        None => return Err(error("the date is empty", ANCHOR_HINT)),
        Some("start") if scope.instance_anchors => Anchor::Start,
        Some("birthday") => {
            let age = rest
                .next()
                .and_then(|n| n.parse::<i32>().ok())
                .filter(|n| (0..=120).contains(n));
            match age {
                Some(age) => Anchor::Birthday(age),
                None => {
                    return Err(error(
                        "'birthday' needs an age",
                        "for example 'birthday 18'",
                    ));
                }
            }
        }
        Some(word)
            if !scope.instance_anchors
                && (word == "start"
                    || word.starts_with("data.")
                    || crate::event::EventType::from_name(word).is_some()
                    || scope.deadlines.iter().any(|d| d == word)) =>
        {
            return Err(error(
                format!("a start date cannot use '{word}'"),
                "a start date is computed from the case's facts: use 'birthday <age>' and parameters",
            ));
        }
        Some(word)
            if let Some(event) = crate::event::EventType::from_name(word)
                && scope.instance_anchors =>
        {
            Anchor::Event(event)
        }
        Some(word) if word.starts_with("data.") => {
            let field = &word[5..];
            if !scope.data_dates.contains(&field) {
                let known = if scope.data_dates.is_empty() {
                    "the start event has no date fields".to_string()
                } else {
                    format!(
                        "the start event's date fields are {}",
                        scope
                            .data_dates
                            .iter()
                            .map(|f| format!("data.{f}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let hint = match crate::suggest::closest(field, scope.data_dates.iter().copied()) {
                    Some(near) => format!("did you mean 'data.{near}'?"),
                    None => known,
                };
                return Err(error(
                    format!("'{word}' is not a date of the start event"),
                    hint,
                ));
            }
            Anchor::Data(field.to_string())
        }
        Some(word) => {
            if let Some(i) = scope.dates.iter().position(|d| d == word) {
                Anchor::Date(i)
            } else if let Some(i) = scope.deadlines.iter().position(|d| d == word) {
                Anchor::Deadline(i)
            } else {
                let known = scope
                    .dates
                    .iter()
                    .chain(scope.deadlines)
                    .map(String::as_str);
                let mut candidates: Vec<&str> = known.collect();
                candidates.extend(["start", "birthday"]);
                candidates.extend(crate::event::VOCABULARY.iter().map(|spec| spec.name));
                let hint = match crate::suggest::closest(word, candidates) {
                    Some(near) => format!("did you mean '{near}'?"),
                    None => ANCHOR_HINT.to_string(),
                };
                return Err(error(
                    format!("'{word}' is not a date, deadline, event type or 'start'"),
                    hint,
                ));
            }
        }
    };
    let mut terms = Vec::new();
    while let Some(op) = rest.next() {
        let sign = match op {
            "+" => Sign::Plus,
            "-" => Sign::Minus,
            other => {
                return Err(error(
                    format!("expected '+' or '-' before '{other}'"),
                    "write a date, then '+' or '-' and a term, for example 'start + 14 days'",
                ));
            }
        };
        let mut words = Vec::new();
        while let Some(word) = rest.peek().copied() {
            if word == "+" || word == "-" {
                break;
            }
            words.push(word);
            rest.next();
        }
        if words.is_empty() {
            return Err(error(
                format!("'{op}' needs a term after it"),
                "for example '+ 14 days' or '+ in_behandeling'",
            ));
        }
        terms.push((sign, parse_term_words(&words, scope.params)?));
    }
    Ok(DateExpr { anchor, terms })
}

/// A term: a duration written out (`6 weeks`, `P6W`) or the name of a parameter.
pub fn parse_term(text: &str, params: &[String]) -> Result<Term, ExprError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    parse_term_words(&words, params)
}

fn parse_term_words(words: &[&str], params: &[String]) -> Result<Term, ExprError> {
    if let [name] = words
        && !name.starts_with(['P', 'p'])
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        return match params.iter().position(|p| p == name) {
            Some(i) => Ok(Term::Param(i)),
            None => {
                let hint = match crate::suggest::closest(name, params.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean '{near}'?"),
                    None if params.is_empty() => {
                        "declare it under 'params', or write a duration such as '14 days'".into()
                    }
                    None => format!("the parameters are {}", params.join(", ")),
                };
                Err(error(format!("'{name}' is not a parameter"), hint))
            }
        };
    }
    let text = words.join(" ");
    Duration::parse(&text)
        .map(Term::Literal)
        .map_err(|err| duration_error(&err))
}

pub fn duration_error(err: &DurationError) -> ExprError {
    error(err.to_string(), err.hint())
}

/// `3 days before` -> 3 days.
pub fn parse_before(text: &str) -> Result<Duration, ExprError> {
    let hint = "write how long before the due date, for example '3 days before' or '1 week before'";
    let Some(term) = text
        .trim()
        .strip_suffix("before")
        .or_else(|| text.trim().strip_suffix("voor"))
    else {
        return Err(error(
            format!("'{text}' does not say how long before"),
            hint,
        ));
    };
    Duration::parse(term).map_err(|err| error(err.to_string(), hint))
}

/// `every 1 week` -> 1 week.
pub fn parse_every(text: &str) -> Result<Duration, ExprError> {
    let hint = "write 'every' and a duration, for example 'every week' or 'every 2 weeks'";
    let Some(term) = text.trim().strip_prefix("every ") else {
        return Err(error(format!("'{text}' does not start with 'every'"), hint));
    };
    let term = term.trim();
    // "every week" reads better than "every 1 week".
    let term = if term.starts_with(|c: char| c.is_ascii_digit()) {
        term.to_string()
    } else {
        format!("1 {term}")
    };
    Duration::parse(&term).map_err(|err| error(err.to_string(), hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope<'a>(params: &'a [String], deadlines: &'a [String]) -> Scope<'a> {
        Scope {
            params,
            dates: &[],
            deadlines,
            data_dates: &["bekendgemaakt"],
            instance_anchors: true,
        }
    }

    #[test]
    fn parses_dates_with_terms() {
        let params = vec!["in_behandeling".to_string()];
        let e = parse_date("start + in_behandeling", &scope(&params, &[])).unwrap();
        assert_eq!(e.anchor, Anchor::Start);
        assert_eq!(e.terms, vec![(Sign::Plus, Term::Param(0))]);
        let e = parse_date("birthday 18 - 6 months", &scope(&[], &[])).unwrap();
        assert_eq!(e.anchor, Anchor::Birthday(18));
        assert_eq!(
            e.terms,
            vec![(Sign::Minus, Term::Literal(Duration::months(6)))]
        );
        assert!(e.counts_backward());
        let e = parse_date("data.bekendgemaakt+6 weeks+P6W", &scope(&[], &[])).unwrap();
        assert_eq!(e.terms.len(), 2);
    }

    /// An event type is an anchor: the day it last arrived. A start date, computed before any
    /// instance exists, cannot count from one.
    #[test]
    fn an_event_type_is_an_anchor_of_deadlines_only() {
        let e = parse_date("zorg.beeindigd + 2 weeks", &scope(&[], &[])).unwrap();
        assert_eq!(
            e.anchor,
            Anchor::Event(crate::event::EventType::from_name("zorg.beeindigd").unwrap())
        );
        let start_date = Scope {
            instance_anchors: false,
            ..scope(&[], &[])
        };
        let err = parse_date("zorg.beeindigd + 2 weeks", &start_date).unwrap_err();
        assert_eq!(err.message, "a start date cannot use 'zorg.beeindigd'");
        let err = parse_date("zorg.beeindig + 2 weeks", &scope(&[], &[])).unwrap_err();
        assert_eq!(
            err.message,
            "'zorg.beeindig' is not a date, deadline, event type or 'start'"
        );
        assert_eq!(err.hint, "did you mean 'zorg.beeindigd'?");
    }

    #[test]
    fn explains_what_is_wrong() {
        let params = vec!["in_behandeling".to_string()];
        let err = parse_date("start + in_behandelng", &scope(&params, &[])).unwrap_err();
        assert_eq!(err.message, "'in_behandelng' is not a parameter");
        assert_eq!(err.hint, "did you mean 'in_behandeling'?");
        let err = parse_date("strat + 3 days", &scope(&params, &[])).unwrap_err();
        assert_eq!(err.hint, "did you mean 'start'?");
        let err = parse_date("data.bekendgemakt + 3 days", &scope(&params, &[])).unwrap_err();
        assert_eq!(err.hint, "did you mean 'data.bekendgemaakt'?");
        let err = parse_date("start + 3 dayz", &scope(&params, &[])).unwrap_err();
        assert_eq!(err.message, "'dayz' is not a unit of time");
    }

    #[test]
    fn reminders_and_repeats() {
        assert_eq!(parse_before("3 days before"), Ok(Duration::days(3)));
        assert_eq!(parse_before("2 weken voor"), Ok(Duration::days(14)));
        assert!(parse_before("3 days").is_err());
        assert_eq!(parse_every("every week"), Ok(Duration::days(7)));
        assert_eq!(parse_every("every 2 weeks"), Ok(Duration::days(14)));
    }
}
