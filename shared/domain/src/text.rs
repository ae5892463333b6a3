//! Text values parsed once at the edge; holding one proves it is valid.

use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:expr, $max:expr, trim = $trim:expr) => {
        $(#[$doc])*
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MIN_CHARS: usize = $min;
            pub const MAX_CHARS: usize = $max;

            /// Parses `raw`, reporting problems under the field name `field`.
            pub fn parse_field(raw: &str, field: &str) -> Result<Self, FieldError> {
                let value = if $trim { raw.trim() } else { raw };
                let chars = value.chars().count();
                if value.trim().is_empty() && Self::MIN_CHARS > 0 {
                    return Err(FieldError::new(field, concat!($what, " must not be empty")));
                }
                if chars < Self::MIN_CHARS {
                    return Err(FieldError::new(
                        field,
                        format!(concat!($what, " must be at least {} characters"), Self::MIN_CHARS),
                    ));
                }
                if chars > Self::MAX_CHARS {
                    return Err(FieldError::new(
                        field,
                        format!(
                            concat!($what, " must be at most {} characters (got {})"),
                            Self::MAX_CHARS,
                            chars
                        ),
                    ));
                }
                if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
                    return Err(FieldError::new(field, concat!($what, " must not contain control characters")));
                }
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(s: String) -> Result<Self, FieldError> {
                Self::parse_field(&s, stringify!($name))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// An incident or template title: trimmed, 1 to 200 characters, one line.
    Title, "title", 1, 200, trim = true
);
text_type!(
    /// Markdown written by the team (public update, comment, template message): 1 to
    /// 10,000 characters. Kept as written; rendering and sanitising happen at output.
    Markdown, "message", 1, 10_000, trim = false
);
text_type!(
    /// A short display name (component, group, template, member): trimmed, 1 to 100 characters.
    Name, "name", 1, 100, trim = true
);
text_type!(
    /// An optional longer description: up to 1,000 characters, may be empty.
    Description, "description", 0, 1_000, trim = true
);

impl Title {
    /// Titles are one line: a newline is as wrong as a control character.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let title = Self::parse_field(raw, "title")?;
        if title.0.contains(['\n', '\r']) {
            return Err(FieldError::new("title", "title must be a single line"));
        }
        Ok(title)
    }
}

impl Markdown {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::parse_field(raw, "message")
    }
}

impl Name {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = Self::parse_field(raw, "name")?;
        if name.0.contains(['\n', '\r']) {
            return Err(FieldError::new("name", "name must be a single line"));
        }
        Ok(name)
    }
}

impl Description {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::parse_field(raw, "description")
    }

    pub fn empty() -> Self {
        Self(String::new())
    }
}

/// An email address, checked against RFC 5322's address syntax and stored lower-cased
/// so that uniqueness does not depend on how someone typed it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.len() > 254 {
            return Err(FieldError::new("email", "email must be at most 254 characters"));
        }
        let parsed = email_address::EmailAddress::parse_with_options(
            value,
            email_address::Options::default().without_display_text(),
        )
        .map_err(|e| FieldError::new("email", format!("email is not a valid address: {e}")))?;
        Ok(Self(parsed.as_str().to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  API down \t").map(|t| t.0), Ok("API down".to_owned()));
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"x".repeat(200)).is_ok());
        assert!(Title::parse(&"x".repeat(201)).is_err());
        // Characters, not bytes, are counted.
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse("two\nlines").is_err());
        assert!(Title::parse("bell\u{7}").is_err());
    }

    #[test]
    fn markdown_keeps_its_text_and_is_bounded() {
        assert_eq!(Markdown::parse("  *hi*\n").map(|m| m.0), Ok("  *hi*\n".to_owned()));
        assert!(Markdown::parse("\n\n").is_err());
        assert!(Markdown::parse(&"a".repeat(10_000)).is_ok());
        let err = Markdown::parse(&"a".repeat(10_001)).err();
        assert_eq!(err.map(|e| e.field), Some("message".to_owned()));
    }

    #[test]
    fn emails_are_validated_and_lower_cased() {
        assert_eq!(Email::parse(" Ada@Example.COM ").map(|e| e.0), Ok("ada@example.com".to_owned()));
        assert!(Email::parse("not an email").is_err());
        assert!(Email::parse("Ada <ada@example.com>").is_err());
    }

    #[test]
    fn descriptions_may_be_empty() {
        assert_eq!(Description::parse("  ").map(|d| d.0), Ok(String::new()));
    }
}
