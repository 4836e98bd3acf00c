//! The algorithm policy (ADR 0042): which words of the policies' algorithm attributes a cloud
//! accepts in new or updated IKE and IPsec policies. Existing policies keep what they have.

use crate::descriptor::Choices;
use crate::fault::Fault;
use crate::resources::{IkeSpec, IpsecSpec};

/// The attributes an operator may restrict; both policy kinds have each of them.
pub const ATTRIBUTES: [&str; 3] = ["encryption_algorithm", "auth_algorithm", "pfs"];

/// Every word `attr` takes in an IKE or an IPsec policy, in the reference's order.
pub fn words(attr: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let ike = IkeSpec::choice(attr).map(|c| c.words).unwrap_or_default();
    let ipsec = IpsecSpec::choice(attr).map(|c| c.words).unwrap_or_default();
    for word in ike.iter().chain(ipsec) {
        if !out.contains(word) {
            out.push(word);
        }
    }
    out
}

/// A word no policy accepts for the attribute it was listed under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{word}' is not a value of {attr} (one of {})", .known.join(", "))]
pub struct UnknownWord {
    pub attr: &'static str,
    pub word: String,
    pub known: Vec<&'static str>,
}

/// The words each restricted attribute may take; an attribute not listed takes all of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    restricted: Vec<(&'static str, Vec<&'static str>)>,
}

impl AlgorithmPolicy {
    /// No restriction: every word the API accepts.
    pub fn everything() -> AlgorithmPolicy {
        AlgorithmPolicy::default()
    }

    /// Restricts `attr` (one of [`ATTRIBUTES`]) to `allowed`; an unknown word is refused.
    pub fn restrict(mut self, attr: &'static str, allowed: &[String]) -> Result<AlgorithmPolicy, UnknownWord> {
        let known = words(attr);
        let mut kept = Vec::with_capacity(allowed.len());
        for word in allowed {
            let Some(w) = known.iter().find(|k| **k == word.trim()) else {
                return Err(UnknownWord { attr, word: word.clone(), known });
            };
            kept.push(*w);
        }
        self.restricted.retain(|(a, _)| *a != attr);
        self.restricted.push((attr, kept));
        Ok(self)
    }

    /// The words `attr` may take, if it is restricted.
    pub fn allowed(&self, attr: &str) -> Option<&[&'static str]> {
        self.restricted.iter().find(|(a, _)| *a == attr).map(|(_, w)| w.as_slice())
    }

    /// The restricted attributes and their words.
    pub fn restrictions(&self) -> &[(&'static str, Vec<&'static str>)] {
        &self.restricted
    }

    /// Whether any attribute is restricted.
    pub fn is_restricted(&self) -> bool {
        !self.restricted.is_empty()
    }

    /// Whether every restricted attribute of `spec` has an allowed word.
    pub fn allows<S: Choices>(&self, spec: &S) -> bool {
        self.first_refused(spec, None).is_none()
    }

    /// Refuses a new policy with a word the policy does not allow, naming the attribute, the
    /// setting that says so and the profile.
    pub fn check_new<S: Choices>(&self, spec: &S, profile: &str) -> Result<(), Fault> {
        self.refusal(spec, None, profile)
    }

    /// Refuses an update that sets a word the policy does not allow; the words it leaves as
    /// they were are not checked, so a policy made before the restriction can still be renamed.
    pub fn check_changed<S: Choices>(&self, before: &S, after: &S, profile: &str) -> Result<(), Fault> {
        self.refusal(after, Some(before), profile)
    }

    fn refusal<S: Choices>(&self, spec: &S, before: Option<&S>, profile: &str) -> Result<(), Fault> {
        match self.first_refused(spec, before) {
            None => Ok(()),
            Some((attr, word, allowed)) => Err(Fault::invalid(
                attr,
                format!(
                    "'{word}' is not allowed by this cloud's algorithm policy (algorithms.{attr}: {}) under the \
                     '{profile}' profile",
                    allowed.join(", ")
                ),
            )),
        }
    }

    fn first_refused<S: Choices>(
        &self,
        spec: &S,
        before: Option<&S>,
    ) -> Option<(&'static str, &'static str, &[&'static str])> {
        for (attr, allowed) in &self.restricted {
            let Some(choice) = S::choice(attr) else { continue };
            let word = (choice.get)(spec);
            if before.is_some_and(|b| (choice.get)(b) == word) {
                continue;
            }
            if !allowed.contains(&word) {
                return Some((choice.name, word, allowed));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    /// Upstream's 2026 removals: no sha1 or 3des (md5 and des are no words of this API).
    fn modern() -> AlgorithmPolicy {
        AlgorithmPolicy::everything()
            .restrict("auth_algorithm", &strings(&["sha256", "sha384", "sha512"]))
            .unwrap()
            .restrict("encryption_algorithm", &strings(&["aes-128", "aes-192", "aes-256"]))
            .unwrap()
    }

    #[test]
    fn a_new_policy_with_a_word_outside_the_policy_is_refused_naming_attribute_setting_and_profile() {
        let sha1 = IkeSpec::default(); // sha1, aes-128, group5
        let refused = modern().check_new(&sha1, "otc").unwrap_err().to_string();
        assert!(refused.starts_with("Invalid input for auth_algorithm. Reason: 'sha1' is not allowed"), "{refused}");
        assert!(refused.contains("(algorithms.auth_algorithm: sha256, sha384, sha512)"), "{refused}");
        assert!(refused.contains("under the 'otc' profile"), "{refused}");
        let mut ok = IpsecSpec::default();
        (IpsecSpec::choice("auth_algorithm").unwrap().set)(&mut ok, "sha256").unwrap();
        assert_eq!(modern().check_new(&ok, "openstack"), Ok(()));
        assert!(modern().allows(&ok) && !modern().allows(&IpsecSpec::default()));
        assert_eq!(AlgorithmPolicy::everything().check_new(&sha1, "openstack"), Ok(()));
    }

    #[test]
    fn an_update_is_refused_only_for_the_words_it_changes() {
        let before = IkeSpec::default();
        let mut renamed = before;
        assert_eq!(modern().check_changed(&before, &renamed, "openstack"), Ok(()), "sha1 kept: allowed");
        (IkeSpec::choice("encryption_algorithm").unwrap().set)(&mut renamed, "3des").unwrap();
        let refused = modern().check_changed(&before, &renamed, "openstack").unwrap_err().to_string();
        assert!(refused.contains("encryption_algorithm") && refused.contains("'3des'"), "{refused}");
    }

    #[test]
    fn an_unknown_word_is_refused_with_the_words_there_are() {
        let e = AlgorithmPolicy::everything().restrict("pfs", &strings(&["group14", "group99"])).unwrap_err();
        assert_eq!(e.word, "group99");
        assert!(e.to_string().contains("'group99' is not a value of pfs (one of group2, group5, group14"), "{e}");
        assert!(words("auth_algorithm").contains(&"sha1") && words("encryption_algorithm").contains(&"aes-256"));
    }
}
