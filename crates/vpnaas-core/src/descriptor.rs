//! Attribute descriptors: each attribute declared once, with everything the API, the store and
//! the OpenAPI document need to know about it (ADR 0036). The policies' attributes are
//! declared this way in [`crate::resources`]: every one but `lifetime` is a choice of one wire
//! enum, and its name is its wire name, its column and its filter.

use crate::fault::Fault;

/// One attribute whose value is one word of a closed set ([`crate::algorithms`]). Writable on
/// create and on update, filterable, echoed in every view.
pub struct Choice<S: 'static, P: 'static> {
    /// The wire name, which is also the column that holds it and the filter that matches it.
    pub name: &'static str,
    /// Every word it accepts, in the reference's order (the OpenAPI `enum`).
    pub words: &'static [&'static str],
    /// What the OpenAPI document adds about it, if anything.
    pub note: Option<&'static str>,
    /// Its word in a resource.
    pub get: fn(&S) -> &'static str,
    /// Sets it in a resource from a word; the fault names the attribute and lists the words.
    pub set: fn(&mut S, &str) -> Result<(), Fault>,
    /// Sets it in an update from a word, likewise.
    pub patch: fn(&mut P, &str) -> Result<(), Fault>,
}

/// A resource whose own attributes are declared as [`Choice`]s.
pub trait Choices: Default + Sized + 'static {
    /// The update of such a resource.
    type Patch: 'static;
    /// Its choices, in the order views show them.
    const CHOICES: &'static [Choice<Self, Self::Patch>];

    /// The choice named `name`, if the resource has one.
    fn choice(name: &str) -> Option<&'static Choice<Self, Self::Patch>> {
        Self::CHOICES.iter().find(|c| c.name == name)
    }

    /// The word a resource created without `choice` gets.
    fn default_word(choice: &Choice<Self, Self::Patch>) -> &'static str {
        (choice.get)(&Self::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::Listed;
    use crate::resources::{IkePolicy, IkeSpec, IpsecPolicy, IpsecSpec, PolicySpec};

    /// Every word of every choice goes into a resource and an update and reads back as itself,
    /// on that attribute alone; a word outside the set is refused naming the attribute; and each
    /// choice is a filter of its resource under its own name.
    fn round_trip<S: PolicySpec + PartialEq + std::fmt::Debug>(filter: fn(&str) -> bool)
    where
        S::Patch: Default + PartialEq + std::fmt::Debug,
    {
        for choice in S::CHOICES {
            assert!(choice.words.contains(&S::default_word(choice)), "{}", choice.name);
            assert!(filter(choice.name), "{} is no filter", choice.name);
            for word in choice.words {
                let mut spec = S::default();
                (choice.set)(&mut spec, word).unwrap();
                assert_eq!((choice.get)(&spec), *word);
                for other in S::CHOICES.iter().filter(|o| o.name != choice.name) {
                    assert_eq!((other.get)(&spec), S::default_word(other), "{} moved {}", choice.name, other.name);
                }
                let mut patch = S::Patch::default();
                (choice.patch)(&mut patch, word).unwrap();
                assert_ne!(patch, S::Patch::default());
            }
            let refused = (choice.set)(&mut S::default(), "no-such-word").unwrap_err().to_string();
            assert!(refused.contains(choice.name) && refused.contains("no-such-word"), "{refused}");
        }
    }

    #[test]
    fn every_policy_choice_reads_back_what_it_wrote_and_filters() {
        round_trip::<IkeSpec>(|n| IkePolicy::filter(n).is_some());
        round_trip::<IpsecSpec>(|n| IpsecPolicy::filter(n).is_some());
        assert_eq!(IkeSpec::CHOICES.len(), 5);
        assert_eq!(IpsecSpec::CHOICES.len(), 5);
    }
}
