//! How the public page presents itself, as the team sets it in the console: its name,
//! logo, accent colours, header links and time zone. Deployment configuration gives the
//! first values; stored settings, once saved, win.

use crate::error::{DomainError, FieldError};
use crate::text::Name;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// At most this many header links: a status page's header is not a site map.
pub const MAX_LINKS: usize = 6;

/// The page's presentation. `time_zone` is an IANA name checked by the caller (the
/// domain holds no time-zone database).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSettings {
    pub name: Name,
    /// `https://…` or a path on the page's own origin (`/logo.svg`).
    pub logo_url: Option<String>,
    /// Links and buttons in light mode: `#rrggbb`, at least 4.5:1 against white.
    pub accent: Option<Colour>,
    /// The same in dark mode: at least 4.5:1 against the dark background.
    pub accent_dark: Option<Colour>,
    pub links: Vec<HeaderLink>,
    pub time_zone: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: Timestamp,
    pub version: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderLink {
    pub label: Name,
    /// `https://`, `http://` or `mailto:`.
    pub url: String,
}

/// A colour as `#rrggbb` (lower case).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Colour(String);

/// The page's own backgrounds, light and dark (its stylesheet's `--bg`).
const DARK_BACKGROUND_RGB: (u8, u8, u8) = (0x0d, 0x11, 0x17);
const LIGHT_BACKGROUND_RGB: (u8, u8, u8) = (0xff, 0xff, 0xff);

/// WCAG 2's contrast for normal text, which links are.
pub const MIN_CONTRAST: f64 = 4.5;

impl Colour {
    pub fn parse_field(raw: &str, field: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_ascii_lowercase();
        let valid = value.len() == 7 && value.starts_with('#') && value.chars().skip(1).all(|c| c.is_ascii_hexdigit());
        if valid {
            Ok(Self(value))
        } else {
            Err(FieldError::new(field, format!("{raw:?} is not a colour; write it as #rrggbb")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn rgb(&self) -> (u8, u8, u8) {
        let channel = |i: usize| u8::from_str_radix(self.0.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
        (channel(1), channel(3), channel(5))
    }

    /// WCAG 2's contrast ratio of this colour against `other`, 1 to 21.
    pub fn contrast_with(&self, other: (u8, u8, u8)) -> f64 {
        let (a, b) = (luminance(self.rgb()), luminance(other));
        let (light, dark) = if a > b { (a, b) } else { (b, a) };
        (light + 0.05) / (dark + 0.05)
    }
}

fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

impl TryFrom<String> for Colour {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Self::parse_field(&s, "colour")
    }
}

impl From<Colour> for String {
    fn from(c: Colour) -> String {
        c.0
    }
}

/// Page settings as a form or request gives them, unchecked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageSettingsInput {
    pub name: String,
    pub logo_url: Option<String>,
    pub accent: Option<String>,
    pub accent_dark: Option<String>,
    /// Label and URL of each link, in order.
    pub links: Vec<(String, String)>,
    pub time_zone: String,
}

/// The checked parts of [`PageSettingsInput`] (all but the time zone, which the
/// caller checks against its time-zone database).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedSettings {
    pub name: Name,
    pub logo_url: Option<String>,
    pub accent: Option<Colour>,
    pub accent_dark: Option<Colour>,
    pub links: Vec<HeaderLink>,
}

fn blank_to_none(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn url_with(raw: &str, schemes: &[&str]) -> bool {
    raw.len() <= 2000
        && url::Url::parse(raw).is_ok_and(|u| schemes.contains(&u.scheme()) && (u.scheme() == "mailto" || u.has_host()))
}

impl PageSettingsInput {
    /// Checks every field, reporting all that are wrong at once.
    pub fn check(&self) -> Result<CheckedSettings, DomainError> {
        let mut errors = Vec::new();
        let name = Name::parse_field(&self.name, "name").map_err(|e| errors.push(e)).ok();
        let logo_url = blank_to_none(&self.logo_url).map(str::to_owned);
        if let Some(logo) = &logo_url {
            let own_path = logo.starts_with('/') && !logo.starts_with("//") && !logo.contains(['"', '<', '>', ' ']);
            if !own_path && !url_with(logo, &["https"]) {
                errors.push(FieldError::new(
                    "logo_url",
                    "a logo is an https:// address or a path on the page (/logo.svg)",
                ));
            }
        }
        let mut colour = |raw: &Option<String>, field: &str, background: (u8, u8, u8), mode: &str| {
            let raw = blank_to_none(raw)?;
            match Colour::parse_field(raw, field) {
                Ok(c) if c.contrast_with(background) >= MIN_CONTRAST => Some(c),
                Ok(c) => {
                    errors.push(FieldError::new(
                        field,
                        format!(
                            "{} has a contrast of {:.1}:1 against the {mode} background; links need at least {MIN_CONTRAST}:1 to be readable",
                            c.as_str(),
                            c.contrast_with(background)
                        ),
                    ));
                    None
                }
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        };
        let accent = colour(&self.accent, "accent", LIGHT_BACKGROUND_RGB, "light");
        let accent_dark = colour(&self.accent_dark, "accent_dark", DARK_BACKGROUND_RGB, "dark");
        let mut links = Vec::new();
        let given: Vec<&(String, String)> =
            self.links.iter().filter(|(label, url)| !label.trim().is_empty() || !url.trim().is_empty()).collect();
        if given.len() > MAX_LINKS {
            errors.push(FieldError::new("links", format!("at most {MAX_LINKS} links")));
        }
        for (i, (label, url)) in given.iter().enumerate() {
            let label = Name::parse_field(label, &format!("links[{i}].label")).map_err(|e| errors.push(e)).ok();
            let url = url.trim();
            if !url_with(url, &["https", "http", "mailto"]) {
                errors.push(FieldError::new(
                    format!("links[{i}].url"),
                    "a link is an https://, http:// or mailto: address",
                ));
            }
            if let Some(label) = label {
                links.push(HeaderLink { label, url: url.to_owned() });
            }
        }
        match name {
            Some(name) if errors.is_empty() => Ok(CheckedSettings { name, logo_url, accent, accent_dark, links }),
            _ => Err(DomainError::Invalid(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PageSettingsInput {
        PageSettingsInput {
            name: "Acme status".into(),
            logo_url: Some("/logo.svg".into()),
            accent: Some("#0969DA".into()),
            accent_dark: Some("#58a6ff".into()),
            links: vec![("Support".into(), "mailto:help@acme.test".into()), (String::new(), String::new())],
            time_zone: "Europe/Berlin".into(),
        }
    }

    fn fields(e: DomainError) -> Vec<String> {
        match e {
            DomainError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn good_settings_pass_with_colours_normalised_and_blank_links_dropped() {
        let checked = input().check().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.accent.map(|c| c.0), Some("#0969da".to_owned()));
        assert_eq!(checked.links.len(), 1);
    }

    #[test]
    fn unreadable_colours_are_refused_by_their_contrast() {
        // Yellow on white, and navy on the dark background.
        let mut bad = input();
        bad.accent = Some("#ffff00".into());
        bad.accent_dark = Some("#000080".into());
        assert_eq!(fields(bad.check().err().unwrap_or_else(|| panic!("accepted"))), ["accent", "accent_dark"]);
        assert!((Colour("#000000".into()).contrast_with((255, 255, 255)) - 21.0).abs() < 1e-9);
    }

    #[test]
    fn every_wrong_field_is_named_at_once() {
        let bad = PageSettingsInput {
            name: " ".into(),
            logo_url: Some("javascript:alert(1)".into()),
            accent: Some("blue".into()),
            accent_dark: None,
            links: vec![("Home".into(), "javascript:alert(1)".into()), (String::new(), "https://acme.test".into())],
            time_zone: "Etc/UTC".into(),
        };
        let names = fields(bad.check().err().unwrap_or_else(|| panic!("accepted")));
        assert_eq!(names, ["name", "logo_url", "accent", "links[0].url", "links[1].label"]);
        let protocol_relative = PageSettingsInput { logo_url: Some("//evil.test/x.png".into()), ..input() };
        assert_eq!(fields(protocol_relative.check().err().unwrap_or_else(|| panic!("accepted"))), ["logo_url"]);
    }
}
