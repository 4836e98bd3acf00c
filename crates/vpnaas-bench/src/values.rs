//! Flag values both command lines take (the load's and the fleet's): counts and seconds.

use std::time::Duration;

/// A flag's value that is not a count or a duration; clap names the flag.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("must be at least 1")]
    Zero,
    #[error("not a number: {0:?}")]
    NotANumber(String),
    #[error("not a positive number of seconds: {0:?}")]
    NotSeconds(String),
}

/// A count of at least 1.
pub fn positive(v: &str) -> Result<usize, ValueError> {
    match v.trim().parse::<usize>() {
        Ok(0) => Err(ValueError::Zero),
        Ok(n) => Ok(n),
        Err(_) => Err(ValueError::NotANumber(v.to_owned())),
    }
}

/// A positive number of seconds, fractions allowed.
pub fn seconds(v: &str) -> Result<Duration, ValueError> {
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(ValueError::NotSeconds(v.to_owned())),
    }
}
