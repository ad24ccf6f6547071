//! One message per person: what one morning sends about one case and one due date (of one
//! workflow or of several) is combined
//! for each group of people who would otherwise get it twice (issue 19: Dalfsen's complaint
//! streefdatum equals the legal term, and every reminder arrived twice).

/// Splits the planned notifications of one case, one kind and one due date by who receives
/// them: each returned group goes as one message to its roles. A role reached by several
/// notifications gets them together; a role reached by one gets that one. Of several steps of
/// one deadline (`same_deadline`) reaching the same role, the highest `level` speaks for the
/// deadline. Groups come in the order their first role appears.
pub fn by_recipient<'w, P: Copy>(
    planned: &[P],
    to: impl Fn(&P) -> std::borrow::Cow<'w, [String]>,
    same_deadline: impl Fn(&P, &P) -> bool,
    level: impl Fn(&P) -> u32,
) -> Vec<(Vec<P>, Vec<String>)> {
    let mut groups: Vec<(Vec<usize>, Vec<String>)> = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        for role in to(p).iter() {
            if groups.iter().any(|(_, roles)| roles.contains(role)) {
                continue;
            }
            let mut members: Vec<usize> = Vec::new();
            for (j, other) in planned.iter().enumerate().skip(i) {
                if !to(other).contains(role) {
                    continue;
                }
                match members
                    .iter_mut()
                    .find(|m| same_deadline(&planned[**m], other))
                {
                    Some(m) if level(&planned[*m]) < level(other) => *m = j,
                    Some(_) => {}
                    None => members.push(j),
                }
            }
            match groups.iter_mut().find(|(m, _)| *m == members) {
                Some((_, roles)) => roles.push(role.clone()),
                None => groups.push((members, vec![role.clone()])),
            }
        }
    }
    groups
        .into_iter()
        .map(|(members, roles)| (members.into_iter().map(|m| planned[m]).collect(), roles))
        .collect()
}

/// `A`, `A en b`, `A, b en c`: the titles of the deadlines one message is about, as one
/// sentence (a title after the first starts in lower case, unless it starts with an
/// abbreviation such as `MO-plan`).
pub fn titles(titles: &[&str]) -> String {
    let mut out = String::new();
    for (i, title) in titles.iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == titles.len() { " en " } else { ", " });
            out.push_str(&lower_first(title));
        } else {
            out.push_str(title);
        }
    }
    out
}

fn lower_first(title: &str) -> String {
    let mut chars = title.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if !second.is_uppercase() => first
            .to_lowercase()
            .chain(title[first.len_utf8()..].chars())
            .collect(),
        _ => title.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Kind;
    use crate::engine::schedule::Planned;

    fn planned(deadline: usize, level: u32) -> Planned {
        Planned {
            moment: "2027-04-01T07:00:00Z".parse().unwrap(),
            kind: Kind::Escalation,
            level,
            last: false,
            deadline,
            occurrence: 0,
            due: "2027-03-31".parse().unwrap(),
            step: level as usize - 1,
        }
    }

    fn roles(list: &[&str]) -> Vec<String> {
        list.iter().map(|r| r.to_string()).collect()
    }

    /// Dalfsen's two complaint deadlines on one day: the team leader is reached by both and
    /// gets one message; the gemeente's contact, reached by the legal term only, gets that.
    #[test]
    fn a_role_reached_twice_gets_one_message_and_the_rest_keep_theirs() {
        let streefdatum = planned(1, 1);
        let wettelijk = planned(2, 1);
        let to = |p: &Planned| -> &'static [String] {
            static ONE: std::sync::LazyLock<Vec<String>> =
                std::sync::LazyLock::new(|| roles(&["teamleider"]));
            static TWO: std::sync::LazyLock<Vec<String>> =
                std::sync::LazyLock::new(|| roles(&["teamleider", "gemeente"]));
            if p.deadline == 1 { &ONE } else { &TWO }
        };
        let groups = by_recipient(
            &[&streefdatum, &wettelijk],
            |p| to(p).into(),
            |a, b| a.deadline == b.deadline,
            |p| p.level,
        );
        let shape: Vec<(Vec<usize>, Vec<String>)> = groups
            .iter()
            .map(|(members, roles)| (members.iter().map(|p| p.deadline).collect(), roles.clone()))
            .collect();
        assert_eq!(
            shape,
            [
                (vec![1, 2], roles(&["teamleider"])),
                (vec![2], roles(&["gemeente"])),
            ]
        );
    }

    /// Two steps of one deadline reaching one role on one morning: the higher level goes.
    #[test]
    fn two_steps_of_one_deadline_to_one_role_are_one_message() {
        let (low, high) = (planned(0, 2), planned(0, 3));
        static TO: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| roles(&["gemeente"]));
        let groups = by_recipient(
            &[&low, &high],
            |_| TO.as_slice().into(),
            |a, b| a.deadline == b.deadline,
            |p| p.level,
        );
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].0.len(), 1);
        assert_eq!(groups[0].0[0].level, 3);
    }

    #[test]
    fn titles_read_as_a_list() {
        assert_eq!(titles(&["Klacht afhandelen"]), "Klacht afhandelen");
        assert_eq!(
            titles(&[
                "Klacht afhandelen (streefdatum)",
                "Klacht afhandelen (wettelijke termijn)"
            ]),
            "Klacht afhandelen (streefdatum) en klacht afhandelen (wettelijke termijn)"
        );
        assert_eq!(
            titles(&["Aa", "Bb", "MO-plan evalueren"]),
            "Aa, bb en MO-plan evalueren"
        );
    }
}
