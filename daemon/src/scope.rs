//! Tenancy: the gemeenten a token may see and write. A scope is never empty, so that "no
//! condition" cannot be expressed by accident: a configuration line with an empty list is
//! refused when it is read, and every store query of the API filters on a scope.

use std::collections::BTreeSet;

/// A non-empty set of gemeente codes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    /// The scope of these codes; `None` when there are none.
    pub fn new(codes: impl IntoIterator<Item = String>) -> Option<Scope> {
        let codes: BTreeSet<String> = codes.into_iter().collect();
        (!codes.is_empty()).then_some(Scope(codes))
    }

    /// The scope of one gemeente.
    pub fn one(code: &str) -> Scope {
        Scope(BTreeSet::from([code.to_string()]))
    }

    pub fn contains(&self, code: &str) -> bool {
        self.0.contains(code)
    }

    /// The codes in order; at least one.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The only gemeente of a scope of one.
    pub fn single(&self) -> Option<&str> {
        match self.0.len() {
            1 => self.0.first().map(String::as_str),
            _ => None,
        }
    }

    /// This scope narrowed to one of its gemeenten; `None` when it does not hold it.
    pub fn narrowed_to(&self, code: &str) -> Option<Scope> {
        self.contains(code).then(|| Scope::one(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_is_never_empty() {
        assert_eq!(Scope::new(Vec::new()), None);
        let scope = Scope::new(["GM0200".to_string(), "GM0150".to_string()]).unwrap();
        assert_eq!(scope.iter().collect::<Vec<_>>(), ["GM0150", "GM0200"]);
        assert_eq!(scope.single(), None);
        assert_eq!(scope.narrowed_to("GM0150"), Some(Scope::one("GM0150")));
        assert_eq!(scope.narrowed_to("GM0232"), None);
    }
}
