//! Generic JSON: an object (or an array of objects) whose fields become the alert's,
//! nested ones by dotted path; the integration names the field that deduplicates, and
//! `status` says whether it fires. Deliveries may be signed as beacon signs its own
//! webhooks: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

use crate::{Alert, Delivery, MAX_ALERTS, PayloadError, clip, time};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeMap;

/// How far a signature's time may be from now, either way: a replay after this is refused.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// Values of `status` that mean resolved; anything else (or none) fires.
const RESOLVED: [&str; 6] = ["resolved", "ok", "closed", "inactive", "recovered", "false"];

fn flatten(prefix: &str, value: &Value, depth: usize, out: &mut BTreeMap<String, String>) {
    let name = |key: &str| if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
    match value {
        Value::Object(map) if depth < 4 => {
            for (key, value) in map {
                flatten(&name(key), value, depth + 1, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), clip(s));
        }
        Value::Number(n) => {
            out.insert(prefix.to_owned(), n.to_string());
        }
        Value::Bool(b) => {
            out.insert(prefix.to_owned(), b.to_string());
        }
        // Arrays, nulls and deeper objects are not template fields.
        _ => {}
    }
}

/// Reads a generic delivery, keyed by the field `key_field` (a dotted path).
pub fn generic(body: &[u8], key_field: &str) -> Result<Delivery, PayloadError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| PayloadError::Malformed(e.to_string()))?;
    let objects = match value {
        Value::Object(_) => vec![value],
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_ALERTS => items,
        Value::Array(items) if items.is_empty() => return Err(PayloadError::Invalid("no alerts in the array".into())),
        Value::Array(_) => return Err(PayloadError::Invalid(format!("more than {MAX_ALERTS} alerts"))),
        _ => return Err(PayloadError::Invalid("the body must be a JSON object or an array of objects".into())),
    };
    let mut alerts = Vec::with_capacity(objects.len());
    for object in &objects {
        if !object.is_object() {
            return Err(PayloadError::Invalid("every alert must be a JSON object".into()));
        }
        let mut fields = BTreeMap::new();
        flatten("", object, 0, &mut fields);
        let key =
            fields.get(key_field).filter(|k| !k.is_empty()).cloned().ok_or_else(|| {
                PayloadError::Invalid(format!("the alert has no {key_field:?} field to deduplicate by"))
            })?;
        let firing = fields.get("status").is_none_or(|s| !RESOLVED.contains(&s.to_lowercase().as_str()));
        let starts_at = time(fields.get("starts_at").or(fields.get("startsAt")).map(String::as_str));
        let ends_at = time(fields.get("ends_at").or(fields.get("endsAt")).map(String::as_str));
        alerts.push(Alert { key, firing, fields, starts_at, ends_at });
    }
    Ok(Delivery { group: None, alerts })
}

/// Checks a generic delivery's signature header against the integration's secret, and
/// that it was made within [`SIGNATURE_TOLERANCE_SECONDS`] of `now`.
pub fn verify_generic_signature(secret: &str, header: &str, body: &[u8], now: Timestamp) -> Result<(), String> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("the signature has no timestamp (t=)")?;
    if (now.as_second() - timestamp).abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(format!("the signature is stale: made at {timestamp}, more than 5 minutes from now"));
    }
    if signatures.is_empty() {
        return Err("the signature has no v1= value".into());
    }
    let expected = {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return Err("cannot key the signature check".into());
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes()
    };
    // Constant time: a signature must not be guessable byte by byte.
    let matches = signatures.iter().any(|s| subtle::ConstantTimeEq::ct_eq(s.as_slice(), expected.as_slice()).into());
    if matches { Ok(()) } else { Err("the signature does not match".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn an_object_or_an_array_keyed_by_a_dotted_field() {
        let body = br#"{"check": {"id": "db-1", "name": "Database"}, "status": "firing", "level": 3, "ok": false}"#;
        let d = generic(body, "check.id").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.alerts.len(), 1);
        let a = &d.alerts[0];
        assert_eq!((a.key.as_str(), a.firing), ("db-1", true));
        assert_eq!(a.fields.get("check.name").map(String::as_str), Some("Database"));
        assert_eq!(a.fields.get("level").map(String::as_str), Some("3"));
        let resolved =
            generic(br#"[{"id": "x", "status": "Resolved"}, {"id": "y"}]"#, "id").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resolved.alerts.iter().map(|a| a.firing).collect::<Vec<_>>(), vec![false, true]);
        assert_eq!(resolved.incident_keys(), vec!["x".to_owned(), "y".to_owned()]);
    }

    #[test]
    fn bad_bodies_are_malformed_or_invalid() {
        assert!(matches!(generic(b"{", "id"), Err(PayloadError::Malformed(_))));
        assert!(matches!(generic(b"[]", "id"), Err(PayloadError::Invalid(_))));
        assert!(matches!(generic(b"\"text\"", "id"), Err(PayloadError::Invalid(_))));
        assert!(matches!(generic(br#"{"name": "no key"}"#, "id"), Err(PayloadError::Invalid(_))));
    }

    #[test]
    fn signatures_are_checked_in_time_and_in_constant_time() {
        let now = Timestamp::from_second(1_800_000_000).unwrap_or_else(|e| panic!("{e}"));
        let body = br#"{"id": "a"}"#;
        let good = sign("s3cret", now.as_second() - 10, body);
        assert_eq!(verify_generic_signature("s3cret", &good, body, now), Ok(()));
        assert!(verify_generic_signature("other", &good, body, now).is_err());
        assert!(verify_generic_signature("s3cret", &good, br#"{"id": "b"}"#, now).is_err(), "body changed");
        let stale = sign("s3cret", now.as_second() - 301, body);
        assert!(verify_generic_signature("s3cret", &stale, body, now).is_err_and(|e| e.contains("stale")));
        assert!(verify_generic_signature("s3cret", "v1=00", body, now).is_err());
    }
}
