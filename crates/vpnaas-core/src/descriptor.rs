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
