//! Wire objects written straight into the response body: no JSON map per row.
//!
//! A list of 1,000 connections built a `serde_json::Map` per row (about 25 keys and values,
//! each allocated, then serialised and freed) before a byte was sent. A [`View`] writes each
//! attribute's JSON text directly, skipping what the profile hides and what `fields=` left
//! out, so the only allocation per row is the body buffer growing.

use std::fmt::Display;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};

use vpnaas_core::descriptor::{Fields, Scalar};

use crate::error::{Error, Result};

/// Which attributes a view writes: all but the profile's hidden ones, and of those only the
/// `fields=` the caller asked for (none asked: all).
#[derive(Clone, Copy)]
pub struct Keep<'a> {
    pub hidden: &'a [&'a str],
    pub fields: &'a [String],
}

impl Keep<'_> {
    pub fn keeps(&self, name: &str) -> bool {
        !self.hidden.contains(&name) && (self.fields.is_empty() || self.fields.iter().any(|f| f == name))
    }
}

/// A JSON object being written into a response body.
pub struct View<'a> {
    out: &'a mut Vec<u8>,
    keep: Keep<'a>,
    first: bool,
    failed: Option<serde_json::Error>,
}

/// A value written with its `Display` text as a JSON string (ids, addresses, CIDRs).
pub struct Text<T>(pub T);

impl<T: Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A list written as the `Display` texts of its items (CIDRs), without a list of its own.
pub struct Texts<'a, T>(pub &'a [T]);

impl<T: Display> Serialize for Texts<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Text))
    }
}

impl<'a> View<'a> {
    /// Starts an object in `out`.
    pub fn open(out: &'a mut Vec<u8>, keep: Keep<'a>) -> View<'a> {
        out.push(b'{');
        View { out, keep, first: true, failed: None }
    }

    /// Writes `"name": value` unless the attribute is not kept.
    pub fn field<V: Serialize + ?Sized>(&mut self, name: &str, value: &V) -> &mut Self {
        if self.failed.is_some() || !self.keep.keeps(name) {
            return self;
        }
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        let written = serde_json::to_writer(&mut *self.out, name).and_then(|()| {
            self.out.push(b':');
            serde_json::to_writer(&mut *self.out, value)
        });
        if let Err(e) = written {
            self.failed = Some(e);
        }
        self
    }

    /// Writes a value's `Display` text as a string.
    pub fn text<T: Display>(&mut self, name: &str, value: T) -> &mut Self {
        self.field(name, &Text(value))
    }

    /// Writes a value's text, or null.
    pub fn opt_text<T: Display>(&mut self, name: &str, value: Option<T>) -> &mut Self {
        self.field(name, &value.map(Text))
    }

    /// Writes a resource's plain attributes, in its descriptor's order ([`Fields::FIELDS`]).
    pub fn fields<S: Fields>(&mut self, spec: &S) -> &mut Self {
        for f in S::FIELDS {
            match (f.get)(spec) {
                Scalar::Str(text) => self.field(f.name, text),
                Scalar::Shown(value) => self.text(f.name, value),
                Scalar::OptShown(value) => self.opt_text(f.name, value),
                Scalar::Int(n) => self.field(f.name, &n),
                Scalar::Bool(b) => self.field(f.name, &b),
            };
        }
        self
    }

    /// Ends the object.
    pub fn close(self) -> Result<()> {
        if let Some(e) = self.failed {
            return Err(Error::Internal(format!("a response could not be written: {e}")));
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// Writes `"key":` into a body being built by hand (the envelope around views).
pub fn key(out: &mut Vec<u8>, key: &str) -> Result<()> {
    serde_json::to_writer(&mut *out, key).map_err(|e| Error::Internal(e.to_string()))?;
    out.push(b':');
    Ok(())
}

/// A finished JSON body with its status.
pub fn respond(code: StatusCode, body: Vec<u8>) -> Response {
    (code, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}
