//! The strict reader of JW305 and JW307 (IJW.md). A message with problems is refused whole,
//! with every problem and its element path; what is checked is what Waakvlam needs, with its
//! type. Elements Waakvlam does not use (the name, the gender, the XSD versions) are not read.

use roxmltree::{Document, Node, ParsingOptions};

use super::{
    Bsn, Code, Delivery, MAX_BYTES, Message, NAMESPACE_BASIS, NAMESPACE_JW305, NAMESPACE_JW307,
    Product,
};
use crate::calendar::Day;
use crate::event::BirthDate;

/// A problem of a message: where (`Bericht/Client/StopProducten/StopProduct[2]/Einddatum`)
/// and what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A message as read: the message, and the BSN only to make its pseudonym.
#[derive(Debug)]
pub struct Read {
    pub message: Message,
    pub bsn: Bsn,
}

/// JZ588 `RedenBeeindiging` codes (IJW.md).
const REASONS: &[&str] = &[
    "02", "20", "31", "32", "33", "34", "35", "36", "37", "38", "39",
];

/// The elements the basisschema declares: the children of `CDT_BerichtIdentificatie`,
/// `CDT_XsdVersie`, `CDT_Geboortedatum`, `CDT_VerkorteNaam` (and its `Geslachtsnaam`) and
/// `CDT_Product`. Both XSDs qualify their elements, so these are in the basisschema's
/// namespace and every other element in the message's own.
const BASIS_ELEMENTS: &[&str] = &[
    "Identificatie",
    "Dagtekening",
    "BasisschemaXsdVersie",
    "BerichtXsdVersie",
    "Datum",
    "DatumGebruik",
    "Geslachtsnaam",
    "Voorvoegsel",
    "Achternaam",
    "Voornamen",
    "Voorletters",
    "Categorie",
    "Code",
];

/// Nodes in the largest sensible message: a few hundred products.
const NODES_LIMIT: u32 = 50_000;

pub fn read(bytes: &[u8]) -> Result<Read, Vec<Problem>> {
    let whole = |message: String| {
        vec![Problem {
            path: "Bericht".to_string(),
            message,
        }]
    };
    if bytes.len() > MAX_BYTES {
        return Err(whole(format!(
            "the message is {} bytes; an iJw message is at most {MAX_BYTES} bytes (1 MiB), so it was not read",
            bytes.len()
        )));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(whole("the message is not UTF-8 text".to_string()));
    };
    // Refused before parsing: an iJw message has no DTD, and a DTD's entities can expand
    // without end (billion laughs) or reach outside (external entities).
    if text.contains("<!DOCTYPE") || text.contains("<!ENTITY") {
        return Err(whole(
            "the message has a DTD (<!DOCTYPE or <!ENTITY); iJw messages have none, so it was not read"
                .to_string(),
        ));
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    let document =
        Document::parse_with_options(text, options).map_err(|err| whole(not_well_formed(&err)))?;
    let root = document.root_element();
    let namespace = root.tag_name().namespace().unwrap_or("");
    let code = match namespace {
        NAMESPACE_JW305 => Code::Jw305,
        NAMESPACE_JW307 => Code::Jw307,
        other => {
            return Err(whole(format!(
                "the namespace is '{other}'; a JW305 is in {NAMESPACE_JW305}, a JW307 in {NAMESPACE_JW307}"
            )));
        }
    };
    if root.tag_name().name() != "Bericht" {
        return Err(whole(format!(
            "the root element is '{}', not 'Bericht'",
            root.tag_name().name()
        )));
    }
    let mut reader = Reader {
        namespace,
        problems: Vec::new(),
    };
    let read = reader.message(root, code);
    match read {
        Some(read) if reader.problems.is_empty() => Ok(read),
        _ => Err(reader.problems),
    }
}

struct Reader<'a> {
    namespace: &'a str,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// The namespace the XSDs put an element in: the basisschema's for the children of its
    /// types, the message's for every other.
    fn namespace_of(&self, name: &str) -> &str {
        if BASIS_ELEMENTS.contains(&name) {
            NAMESPACE_BASIS
        } else {
            self.namespace
        }
    }

    /// The elements `name` under `parent`, in the namespace the XSDs give them (any prefix, or
    /// a default namespace: only the namespace counts).
    fn elements<'d, 'i>(&self, parent: Node<'d, 'i>, name: &str) -> Vec<Node<'d, 'i>> {
        let namespace = self.namespace_of(name);
        parent
            .children()
            .filter(|n| {
                n.is_element()
                    && n.tag_name().name() == name
                    && n.tag_name().namespace() == Some(namespace)
            })
            .collect()
    }

    /// The one element `name` under `parent`, or a problem.
    fn child<'d, 'i>(
        &mut self,
        parent: Node<'d, 'i>,
        path: &str,
        name: &str,
    ) -> Option<Node<'d, 'i>> {
        let found = self.elements(parent, name);
        match found.as_slice() {
            [one] => Some(*one),
            [] => {
                // One of that name in another namespace was refused already (`misplaced`).
                let here = format!("{path}/{name}");
                if !self.problems.iter().any(|p| p.path == here) {
                    self.problem(&here, "is missing");
                }
                None
            }
            _ => {
                self.problem(
                    &format!("{path}/{name}"),
                    format!("occurs {} times; once is allowed", found.len()),
                );
                None
            }
        }
    }

    fn optional<'d, 'i>(
        &mut self,
        parent: Node<'d, 'i>,
        path: &str,
        name: &str,
    ) -> Option<Node<'d, 'i>> {
        if self.elements(parent, name).is_empty() {
            return None;
        }
        self.child(parent, path, name)
    }

    /// The text of a required element, trimmed; a problem when it is missing or empty.
    fn text(&mut self, parent: Node<'_, '_>, path: &str, name: &str) -> Option<String> {
        let node = self.child(parent, path, name)?;
        self.text_of(node, &format!("{path}/{name}"))
    }

    fn text_of(&mut self, node: Node<'_, '_>, path: &str) -> Option<String> {
        if node.children().any(|n| n.is_element()) {
            self.problem(path, "holds elements; a value was expected");
            return None;
        }
        let text = node.text().unwrap_or("").trim().to_string();
        if text.is_empty() {
            self.problem(path, "is empty");
            return None;
        }
        Some(text)
    }

    fn fixed(&mut self, parent: Node<'_, '_>, path: &str, name: &str, expected: &str) {
        if let Some(value) = self.text(parent, path, name)
            && value != expected
        {
            self.problem(
                &format!("{path}/{name}"),
                format!("is '{}'; release 3.2 of iJw has {expected}", shown(&value)),
            );
        }
    }

    fn digits(
        &mut self,
        parent: Node<'_, '_>,
        path: &str,
        name: &str,
        length: usize,
        what: &str,
    ) -> Option<String> {
        let value = self.text(parent, path, name)?;
        if value.len() != length || !value.bytes().all(|b| b.is_ascii_digit()) {
            self.problem(
                &format!("{path}/{name}"),
                format!("'{}' is not {what} ({length} digits)", shown(&value)),
            );
            return None;
        }
        Some(value)
    }

    fn date(&mut self, parent: Node<'_, '_>, path: &str, name: &str) -> Option<Day> {
        let value = self.text(parent, path, name)?;
        self.date_value(&value, &format!("{path}/{name}"))
    }

    fn date_value(&mut self, value: &str, path: &str) -> Option<Day> {
        let valid = value.len() == 10 && value.as_bytes()[4] == b'-' && value.as_bytes()[7] == b'-';
        match value.parse::<Day>() {
            Ok(day) if valid && !(1900..=2199).contains(&day.ymd().0) => {
                self.problem(
                    path,
                    format!("{value} is outside the years Waakvlam counts with (1900 to 2199)"),
                );
                None
            }
            Ok(day) if valid => Some(day),
            _ => {
                self.problem(
                    path,
                    format!(
                        "'{}' is not a date as YYYY-MM-DD (without a time zone)",
                        shown(value)
                    ),
                );
                None
            }
        }
    }

    /// Every element in another namespace than the XSDs give it is refused with its path (the
    /// first few; inside one refused, nothing more is looked at). Iterative: a message may
    /// nest deeply.
    fn misplaced(&mut self, root: Node<'_, '_>) {
        const MOST: usize = 20;
        let mut found = 0;
        for node in root.descendants().filter(|n| n.is_element() && *n != root) {
            let wrong = |n: &Node<'_, '_>| {
                n.tag_name().namespace().unwrap_or("") != self.namespace_of(n.tag_name().name())
            };
            if !wrong(&node)
                || node
                    .ancestors()
                    .skip(1)
                    .any(|a| a.is_element() && a != root && wrong(&a))
            {
                continue;
            }
            // The path as the other problems write it: products numbered from 1.
            let mut names: Vec<String> = node
                .ancestors()
                .filter(|a| a.is_element())
                .map(|a| {
                    let name = a.tag_name().name();
                    if a != node && matches!(name, "StartProduct" | "StopProduct") {
                        let before = a
                            .prev_siblings()
                            .filter(|s| s.is_element() && s.tag_name() == a.tag_name())
                            .count();
                        format!("{name}[{before}]")
                    } else {
                        name.to_string()
                    }
                })
                .collect();
            names.reverse();
            let expected = self.namespace_of(node.tag_name().name()).to_string();
            let message = match node.tag_name().namespace() {
                None | Some("") => format!("has no namespace; the XSD puts it in {expected}"),
                Some(other) => format!(
                    "is in the namespace {}; the XSD puts it in {expected}",
                    shown_at_most(other, 100)
                ),
            };
            self.problem(&names.join("/"), message);
            found += 1;
            if found == MOST {
                return;
            }
        }
    }

    fn message(&mut self, root: Node<'_, '_>, code: Code) -> Option<Read> {
        let path = "Bericht";
        self.misplaced(root);
        let header = self.child(root, path, "Header");
        let client = self.child(root, path, "Client");
        let header = header?;
        let hp = "Bericht/Header";
        if let Some(value) = self.text(header, hp, "BerichtCode")
            && value != code.number()
        {
            self.problem(
                &format!("{hp}/BerichtCode"),
                format!(
                    "is '{}'; a message in the {} namespace has BerichtCode {} (438 is JW305, 440 is JW307)",
                    shown(&value),
                    code.name(),
                    code.number()
                ),
            );
        }
        self.fixed(header, hp, "BerichtVersie", "3");
        self.fixed(header, hp, "BerichtSubversie", "2");
        let afzender = self.digits(header, hp, "Afzender", 8, "an AGB code");
        let ontvanger = self.digits(header, hp, "Ontvanger", 4, "a gemeente's CBS code");
        let identification = self.child(header, hp, "BerichtIdentificatie");
        let ip = "Bericht/Header/BerichtIdentificatie";
        let (identificatie, dagtekening) = match identification {
            Some(node) => {
                let identificatie = self.text(node, ip, "Identificatie");
                if let Some(id) = &identificatie
                    && (id.chars().count() > 12 || !id.chars().all(|c| c.is_ascii_alphanumeric()))
                {
                    self.problem(
                        &format!("{ip}/Identificatie"),
                        format!(
                            "'{}' is not an identification (1 to 12 letters and digits)",
                            shown(id)
                        ),
                    );
                }
                (identificatie, self.date(node, ip, "Dagtekening"))
            }
            None => (None, None),
        };
        let client = client?;
        let cp = "Bericht/Client";
        let bsn = self.text(client, cp, "Bsn").and_then(|text| {
            let bsn = Bsn::parse(&text);
            if bsn.is_none() {
                // The value itself is never repeated: it may be a real BSN with a typo.
                self.problem(
                    &format!("{cp}/Bsn"),
                    "is not a BSN: 9 digits that pass the 11-test",
                );
            }
            bsn
        });
        let geboortedatum = self.birth_date(client);
        let (list, item) = match code {
            Code::Jw305 => ("StartProducten", "StartProduct"),
            Code::Jw307 => ("StopProducten", "StopProduct"),
        };
        let mut products = Vec::new();
        if let Some(container) = self.child(client, cp, list) {
            let lp = format!("{cp}/{list}");
            let nodes = self.elements(container, item);
            if nodes.is_empty() {
                self.problem(
                    &format!("{lp}/{item}"),
                    "is missing; at least one is needed",
                );
            }
            for (i, node) in nodes.into_iter().enumerate() {
                let pp = format!("{lp}/{item}[{}]", i + 1);
                if let Some(product) = self.product(node, &pp, code) {
                    products.push(product);
                }
            }
        }
        Some(Read {
            message: Message {
                code,
                afzender: afzender?,
                gemeente: format!("GM{}", ontvanger?),
                identificatie: identificatie?,
                dagtekening: dagtekening?,
                geboortedatum: geboortedatum?,
                products,
            },
            bsn: bsn?,
        })
    }

    /// `Geboortedatum/Datum` with `DatumGebruik` (COD170): 1 the day is unknown, 2 day and
    /// month are unknown, 3 the date is unknown. `Some(None)` for an unknown date.
    fn birth_date(&mut self, client: Node<'_, '_>) -> Option<Option<BirthDate>> {
        let bp = "Bericht/Client/Geboortedatum";
        let node = self.child(client, "Bericht/Client", "Geboortedatum")?;
        let day = self.date(node, bp, "Datum");
        let usage = match self.optional(node, bp, "DatumGebruik") {
            Some(n) => {
                let value = self.text_of(n, &format!("{bp}/DatumGebruik"))?;
                match value.as_str() {
                    "1" | "2" | "3" => Some(value),
                    other => {
                        self.problem(
                            &format!("{bp}/DatumGebruik"),
                            format!(
                                "is '{}'; it is 1 (day unknown), 2 (day and month unknown) or 3 (date unknown)",
                                shown(other)
                            ),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        let day = day?;
        let (year, month, _) = day.ymd();
        Some(match usage.as_deref() {
            None => Some(BirthDate::Full(day)),
            Some("1") => Some(BirthDate::YearMonth(year, month)),
            Some("2") => Some(BirthDate::Year(year)),
            _ => None,
        })
    }

    fn product(&mut self, node: Node<'_, '_>, path: &str, code: Code) -> Option<Product> {
        let toewijzing = match self.optional(node, path, "ToewijzingNummer") {
            Some(n) => {
                let p = format!("{path}/ToewijzingNummer");
                let value = self.text_of(n, &p)?;
                if value.len() > 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
                    self.problem(
                        &p,
                        format!(
                            "'{}' is not an assignment number (1 to 8 digits)",
                            shown(&value)
                        ),
                    );
                    return None;
                }
                Some(value)
            }
            None => None,
        };
        let product = match self.optional(node, path, "Product") {
            Some(n) => {
                let p = format!("{path}/Product");
                let categorie = self.digits(n, &p, "Categorie", 2, "a product category");
                let code = self.text(n, &p, "Code");
                if let Some(code) = &code
                    && (code.len() != 5 || !code.bytes().all(|b| b.is_ascii_alphanumeric()))
                {
                    self.problem(
                        &format!("{p}/Code"),
                        format!("'{}' is not a product code (5 characters)", shown(code)),
                    );
                }
                Some((categorie?, code?))
            }
            None => None,
        };
        let begindatum = self.date(node, path, "Begindatum");
        let (einddatum, reden) = match code {
            Code::Jw305 => (None, None),
            Code::Jw307 => {
                let reden = self.text(node, path, "RedenBeeindiging");
                if let Some(reden) = &reden
                    && !REASONS.contains(&reden.as_str())
                {
                    self.problem(
                        &format!("{path}/RedenBeeindiging"),
                        format!(
                            "'{}' is not a JZ588 reason (two digits: {})",
                            shown(reden),
                            REASONS.join(", ")
                        ),
                    );
                }
                let einddatum = self.date(node, path, "Einddatum");
                if let (Some(begin), Some(end)) = (begindatum, einddatum)
                    && end < begin
                {
                    self.problem(
                        &format!("{path}/Einddatum"),
                        format!("{end} is before the Begindatum {begin}"),
                    );
                }
                (Some(einddatum?), Some(reden?))
            }
        };
        let delivery = match self.text(node, path, "StatusAanlevering")?.as_str() {
            "1" => Delivery::First,
            "2" => Delivery::Changed,
            "3" => Delivery::Delete,
            other => {
                self.problem(
                    &format!("{path}/StatusAanlevering"),
                    format!(
                        "is '{}'; it is 1 (first delivery), 2 (changed) or 3 (delete)",
                        shown(other)
                    ),
                );
                return None;
            }
        };
        Some(Product {
            toewijzing,
            product,
            begindatum: begindatum?,
            einddatum,
            reden,
            delivery,
        })
    }
}

/// Why a message is not XML, with where, but without a word of the message: the parser's own
/// wording repeats names and entity references, and those may hold a BSN or a name.
fn not_well_formed(err: &roxmltree::Error) -> String {
    use roxmltree::Error as E;
    let what = match err {
        E::UnknownEntityReference(..) | E::MalformedEntityReference(_) => {
            "an entity reference that XML does not define"
        }
        E::EntityReferenceLoop(_) | E::UnexpectedEntityCloseTag(_) => {
            "an entity that XML does not allow"
        }
        E::UnexpectedCloseTag(..) => "a closing tag that does not match its opening tag",
        E::UnknownNamespace(..) => "a namespace prefix that is not declared",
        E::DuplicatedNamespace(..) => "a namespace prefix declared twice",
        E::DuplicatedAttribute(..) => "an attribute given twice",
        E::InvalidAttributeValue(_) => "an attribute value that cannot be read",
        E::NoRootNode => "no root element",
        E::UnclosedRootNode | E::UnexpectedEndOfStream => {
            "an end before the root element is closed"
        }
        E::NodesLimitReached | E::AttributesLimitReached | E::NamespacesLimitReached => {
            "more elements, attributes or namespaces than any iJw message has"
        }
        E::NonXmlChar(..) | E::InvalidChar(..) | E::InvalidChar2(..) => {
            "a character that XML does not allow there"
        }
        E::DtdDetected | E::InvalidExternalID(_) | E::EntityResolver(..) => "a DTD",
        _ => "markup that cannot be read",
    };
    let at = err.pos();
    format!(
        "not well-formed XML: {what} at line {}, column {}",
        at.row, at.col
    )
}

/// A value as a problem shows it: at most 40 characters, and never a number that may be a BSN
/// (a value in the wrong element may be one).
fn shown(value: &str) -> String {
    shown_at_most(value, 40)
}

/// A value as a problem shows it, at most `most` characters (a namespace is long).
fn shown_at_most(value: &str, most: usize) -> String {
    if crate::event::has_bsn_like_number(value) {
        return "(a 9-digit number, not shown)".to_string();
    }
    let mut out: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(most)
        .collect();
    if value.chars().count() > most {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ijw::sample::{Sample, Shape, bsn};

    fn problems(xml: &str) -> Vec<String> {
        read(xml.as_bytes())
            .expect_err("refused")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Regression (security review): the parser's wording repeated the entity reference.
    #[test]
    fn a_parser_error_repeats_nothing_of_the_message() {
        let xml = start().xml().replacen("</", "&x271828249;</", 1);
        let said = problems(&xml).join(" ");
        assert!(
            said.contains("an entity reference that XML does not define at line"),
            "{said}"
        );
        assert!(
            !said.contains("271828249") && !said.contains("x27"),
            "{said}"
        );
        let said = problems("<Bericht><Naam>Jansen 271828249</Bericht>").join(" ");
        assert!(said.contains("a closing tag that does not match"), "{said}");
        assert!(
            !said.contains("Naam") && !said.contains("271828249"),
            "{said}"
        );
    }

    fn start() -> Sample {
        Sample::start("A1", "0150", &bsn(7), "2010-05-04", "2026-03-01")
    }

    #[test]
    fn a_valid_start_reads_without_the_name() {
        let read = read(start().xml().as_bytes()).unwrap();
        let m = &read.message;
        assert_eq!(
            (m.code, m.afzender.as_str(), m.gemeente.as_str()),
            (Code::Jw305, "12345678", "GM0150")
        );
        assert_eq!(m.geboortedatum, BirthDate::parse("2010-05-04"));
        assert_eq!(m.products[0].delivery, Delivery::First);
        assert!(!format!("{m:?}").contains("Jansen"));
        assert!(!format!("{m:?} {:?}", read.bsn).contains(&bsn(7)));
    }

    /// Every problem, each with its element path; the wrong value shown, but never a BSN.
    #[test]
    fn every_problem_is_named_with_its_path() {
        let mut sample = Sample::stop(&start(), "B1", "2026-02-01", "99");
        sample.products.push(sample.products[0].clone());
        sample.products[1].status = "4".into();
        sample.bsn = "123456789".into();
        let xml = sample.xml().replace(
            "<jw307:BerichtVersie>3</jw307:BerichtVersie>",
            "<jw307:BerichtVersie>2</jw307:BerichtVersie>",
        );
        assert_eq!(
            problems(&xml),
            [
                "Bericht/Header/BerichtVersie: is '2'; release 3.2 of iJw has 3",
                "Bericht/Client/Bsn: is not a BSN: 9 digits that pass the 11-test",
                "Bericht/Client/StopProducten/StopProduct[1]/RedenBeeindiging: '99' is not a JZ588 reason (two digits: 02, 20, 31, 32, 33, 34, 35, 36, 37, 38, 39)",
                "Bericht/Client/StopProducten/StopProduct[1]/Einddatum: 2026-02-01 is before the Begindatum 2026-03-01",
                "Bericht/Client/StopProducten/StopProduct[2]/RedenBeeindiging: '99' is not a JZ588 reason (two digits: 02, 20, 31, 32, 33, 34, 35, 36, 37, 38, 39)",
                "Bericht/Client/StopProducten/StopProduct[2]/Einddatum: 2026-02-01 is before the Begindatum 2026-03-01",
                "Bericht/Client/StopProducten/StopProduct[2]/StatusAanlevering: is '4'; it is 1 (first delivery), 2 (changed) or 3 (delete)",
            ]
        );
    }

    #[test]
    fn a_wrong_code_and_a_missing_element_are_refused() {
        let xml = start().xml().replace(
            "<jw305:BerichtCode>438</jw305:BerichtCode>",
            "<jw305:BerichtCode>440</jw305:BerichtCode>",
        );
        assert_eq!(
            problems(&xml),
            [
                "Bericht/Header/BerichtCode: is '440'; a message in the JW305 namespace has BerichtCode 438 (438 is JW305, 440 is JW307)"
            ]
        );
        let xml = start()
            .xml()
            .replace("<jw305:Begindatum>2026-03-01</jw305:Begindatum>", "");
        assert_eq!(
            problems(&xml),
            ["Bericht/Client/StartProducten/StartProduct[1]/Begindatum: is missing"]
        );
        let xml = start().xml().replace(NAMESPACE_JW305, "urn:iets-anders");
        assert_eq!(
            problems(&xml),
            [
                "Bericht: the namespace is 'urn:iets-anders'; a JW305 is in http://www.istandaarden.nl/ijw/3_2/jw305/schema, a JW307 in http://www.istandaarden.nl/ijw/3_2/jw307/schema"
            ]
        );
    }

    /// Regression (issue 26): real messages, shaped as the XSDs say, were refused whole: the
    /// children of basisschema types are in the basisschema's namespace. Any prefix, or a
    /// default namespace, reads the same.
    #[test]
    fn a_message_reads_in_the_namespaces_of_the_xsds_whatever_its_prefixes() {
        let expected = read(start().xml().as_bytes()).unwrap().message;
        assert!(
            start()
                .xml()
                .contains("<ijw:Dagtekening>2026-03-01</ijw:Dagtekening>")
        );
        for shape in [
            Shape::Prefixed {
                message: "jw305",
                basis: "ijw",
            },
            Shape::Prefixed {
                message: "ns1",
                basis: "ns2",
            },
            Shape::Prefixed {
                message: "a",
                basis: "a2",
            },
            Shape::Default,
        ] {
            let xml = start().xml_in(shape);
            assert_eq!(read(xml.as_bytes()).unwrap().message, expected, "{xml}");
        }
        let stop = Sample::stop(&start(), "B1", "2026-09-01", "31");
        for shape in [
            Shape::Prefixed {
                message: "jw307",
                basis: "ijw",
            },
            Shape::Default,
        ] {
            let read = read(stop.xml_in(shape).as_bytes()).unwrap();
            assert_eq!(read.message.products[0].reden.as_deref(), Some("31"));
        }
    }

    /// Strict still: an element in another namespace than the XSD gives it is refused with its
    /// path, and so is the old made-up shape with everything in the message's namespace.
    #[test]
    fn an_element_in_another_namespace_is_refused_with_its_path() {
        let xml = start().xml().replace(
            "<ijw:Identificatie>A1</ijw:Identificatie>",
            "<jw305:Identificatie>A1</jw305:Identificatie>",
        );
        assert_eq!(
            problems(&xml),
            [
                "Bericht/Header/BerichtIdentificatie/Identificatie: is in the namespace http://www.istandaarden.nl/ijw/3_2/jw305/schema; the XSD puts it in http://www.istandaarden.nl/ijw/3_2/basisschema/schema"
            ]
        );
        let xml = start().xml().replace(
            "<jw305:Begindatum>2026-03-01</jw305:Begindatum>",
            "<ijw:Begindatum>2026-03-01</ijw:Begindatum>",
        );
        assert_eq!(
            problems(&xml),
            [
                "Bericht/Client/StartProducten/StartProduct[1]/Begindatum: is in the namespace http://www.istandaarden.nl/ijw/3_2/basisschema/schema; the XSD puts it in http://www.istandaarden.nl/ijw/3_2/jw305/schema"
            ]
        );
        let xml = start()
            .xml()
            .replace("<ijw:Achternaam>", "<x:Achternaam xmlns:x=\"urn:elders\">")
            .replace("</ijw:Achternaam>", "</x:Achternaam>");
        assert_eq!(
            problems(&xml),
            [
                "Bericht/Client/Naam/Geslachtsnaam/Achternaam: is in the namespace urn:elders; the XSD puts it in http://www.istandaarden.nl/ijw/3_2/basisschema/schema"
            ]
        );
        // Everything in the message's namespace, as the made-up messages once were.
        let old = start()
            .xml_in(Shape::Default)
            .replace(&format!(" xmlns=\"{NAMESPACE_BASIS}\""), "");
        let found = problems(&old);
        assert!(found.len() >= 5, "{found:?}");
        assert!(
            found.contains(&"Bericht/Header/BerichtIdentificatie/Identificatie: is in the namespace http://www.istandaarden.nl/ijw/3_2/jw305/schema; the XSD puts it in http://www.istandaarden.nl/ijw/3_2/basisschema/schema".to_string()),
            "{found:?}"
        );
    }

    /// A billion laughs, an external entity and a message over 1 MiB are refused unread.
    #[test]
    fn hostile_documents_are_refused_before_parsing() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><Bericht>&lol2;</Bericht>"#;
        assert!(problems(laughs)[0].contains("has a DTD"));
        let external = start().xml().replace(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<?xml version=\"1.0\"?><!DOCTYPE Bericht [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>",
        );
        assert!(problems(&external)[0].contains("has a DTD"));
        let big = format!("{}<!--{}-->", start().xml(), "x".repeat(MAX_BYTES));
        assert!(problems(&big)[0].contains("at most 1048576 bytes (1 MiB)"));
    }

    #[test]
    fn partial_birth_dates_follow_datum_gebruik() {
        for (gebruik, expected) in [
            ("1", BirthDate::parse("2010-05")),
            ("2", BirthDate::parse("2010")),
            ("3", None),
        ] {
            let mut sample = start();
            sample.datum_gebruik = Some(gebruik.into());
            let read = read(sample.xml().as_bytes()).unwrap();
            assert_eq!(
                read.message.geboortedatum, expected,
                "DatumGebruik {gebruik}"
            );
        }
    }
}
