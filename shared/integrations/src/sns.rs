//! Amazon SNS over HTTPS: subscription confirmations and notifications, with what the
//! caller needs to check the signature before trusting either (the string SNS signed,
//! the signature, and whether the signing certificate's URL is SNS's own). A
//! notification whose message is a CloudWatch alarm state change is an alert: `ALARM`
//! fires, `OK` resolves, `INSUFFICIENT_DATA` says nothing.

use crate::{Alert, Delivery, PayloadError, clip, time};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What an SNS message asks of us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnsMessage {
    /// Visit `subscribe_url` (once the signature checks out) to start receiving.
    SubscriptionConfirmation {
        topic_arn: String,
        subscribe_url: String,
    },
    UnsubscribeConfirmation {
        topic_arn: String,
    },
    /// A notification; `delivery` is the alert it carries, `None` when it carries none
    /// (not a CloudWatch alarm, or a state that is neither ALARM nor OK).
    Notification {
        topic_arn: String,
        delivery: Option<Delivery>,
    },
}

/// A parsed SNS message, and what its signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sns {
    pub message: SnsMessage,
    /// `1` (SHA1withRSA) or `2` (SHA256withRSA).
    pub signature_version: String,
    pub signature: Vec<u8>,
    pub signing_cert_url: String,
    /// The canonical string SNS signed, built from the message's own fields.
    pub string_to_sign: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Raw {
    #[serde(rename = "Type")]
    kind: String,
    message_id: String,
    topic_arn: String,
    subject: Option<String>,
    message: String,
    timestamp: String,
    signature_version: String,
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    token: Option<String>,
}

/// The string SNS signs for a message of `kind`, from its fields in SNS's order.
pub fn sns_string_to_sign(kind: &str, fields: &BTreeMap<&str, &str>) -> String {
    let names: &[&str] = if kind == "Notification" {
        &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    } else {
        &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    };
    let mut out = String::new();
    for name in names {
        // Subject is signed only when the message has one.
        if let Some(value) = fields.get(name) {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

/// Whether a URL is on SNS's own host: HTTPS on `sns.<region>.amazonaws.com` (or
/// `.amazonaws.com.cn`), no port, no credentials. A subscription is confirmed only there.
pub fn genuine_sns_host(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else { return false };
    let Some(host) = url.host_str() else { return false };
    let region_part = host
        .strip_prefix("sns.")
        .and_then(|rest| rest.strip_suffix(".amazonaws.com").or_else(|| rest.strip_suffix(".amazonaws.com.cn")));
    url.scheme() == "https"
        && url.port().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && region_part.is_some_and(|r| {
            !r.is_empty() && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// Whether a signing certificate URL is SNS's own: [`genuine_sns_host`], a `.pem` path.
/// Anything else is never fetched.
pub fn genuine_sns_url(raw: &str) -> bool {
    genuine_sns_host(raw) && url::Url::parse(raw).is_ok_and(|u| u.path().ends_with(".pem"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Alarm {
    alarm_name: String,
    alarm_description: Option<String>,
    #[serde(rename = "AWSAccountId")]
    aws_account_id: Option<String>,
    new_state_value: String,
    new_state_reason: Option<String>,
    state_change_time: Option<String>,
    region: Option<String>,
    alarm_arn: Option<String>,
    old_state_value: Option<String>,
}

fn alarm_delivery(message: &str) -> Option<Delivery> {
    let alarm: Alarm = serde_json::from_str(message).ok()?;
    let firing = match alarm.new_state_value.as_str() {
        "ALARM" => true,
        "OK" => false,
        _ => return None,
    };
    let mut fields = BTreeMap::new();
    for (name, value) in [
        ("alarm_name", Some(&alarm.alarm_name)),
        ("alarm_description", alarm.alarm_description.as_ref()),
        ("account", alarm.aws_account_id.as_ref()),
        ("state", Some(&alarm.new_state_value)),
        ("reason", alarm.new_state_reason.as_ref()),
        ("region", alarm.region.as_ref()),
        ("alarm_arn", alarm.alarm_arn.as_ref()),
        ("old_state", alarm.old_state_value.as_ref()),
    ] {
        if let Some(value) = value {
            fields.insert(name.to_owned(), clip(value));
        }
    }
    // CloudWatch writes "2026-11-30T10:00:00.000+0000": an offset without a colon.
    let changed = alarm.state_change_time.as_deref().and_then(|t| {
        time(Some(t)).or_else(|| jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", t).ok()?.to_timestamp().ok())
    });
    let key = alarm.alarm_arn.clone().unwrap_or_else(|| alarm.alarm_name.clone());
    let (starts_at, ends_at) = if firing { (changed, None) } else { (None, changed) };
    Some(Delivery { group: None, alerts: vec![Alert { key, firing, fields, starts_at, ends_at }] })
}

/// Reads an SNS message. Its signature must be checked (against the certificate at
/// `signing_cert_url`, when [`genuine_sns_url`] says it is SNS's) before it is acted on.
pub fn sns(body: &[u8]) -> Result<Sns, PayloadError> {
    let raw: Raw = serde_json::from_slice(body).map_err(|e| PayloadError::Malformed(format!("sns: {e}")))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(raw.signature.as_bytes())
        .map_err(|e| PayloadError::Invalid(format!("sns: the signature is not base64: {e}")))?;
    let mut fields: BTreeMap<&str, &str> = BTreeMap::from([
        ("Message", raw.message.as_str()),
        ("MessageId", raw.message_id.as_str()),
        ("Timestamp", raw.timestamp.as_str()),
        ("TopicArn", raw.topic_arn.as_str()),
        ("Type", raw.kind.as_str()),
    ]);
    let message = match raw.kind.as_str() {
        "Notification" => {
            if let Some(subject) = &raw.subject {
                fields.insert("Subject", subject);
            }
            SnsMessage::Notification { topic_arn: raw.topic_arn.clone(), delivery: alarm_delivery(&raw.message) }
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            let (Some(url), Some(token)) = (&raw.subscribe_url, &raw.token) else {
                return Err(PayloadError::Invalid("sns: a confirmation without SubscribeURL or Token".into()));
            };
            fields.insert("SubscribeURL", url);
            fields.insert("Token", token);
            if raw.kind == "SubscriptionConfirmation" {
                SnsMessage::SubscriptionConfirmation { topic_arn: raw.topic_arn.clone(), subscribe_url: url.clone() }
            } else {
                SnsMessage::UnsubscribeConfirmation { topic_arn: raw.topic_arn.clone() }
            }
        }
        other => return Err(PayloadError::Invalid(format!("sns: unknown message type {other:?}"))),
    };
    let string_to_sign = sns_string_to_sign(&raw.kind, &fields);
    Ok(Sns {
        message,
        signature_version: raw.signature_version,
        signature,
        signing_cert_url: raw.signing_cert_url,
        string_to_sign,
    })
}

/// An RSA PKCS#1 v1.5 check in the shape webpki takes, over ring: SNS signs with SHA-1
/// (signature version 1) or SHA-256 (version 2), and webpki offers no SHA-1 of its own.
#[derive(Debug)]
struct RsaPkcs1(&'static ring::signature::RsaParameters);

impl rustls_pki_types::SignatureVerificationAlgorithm for RsaPkcs1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), rustls_pki_types::InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(self.0, public_key)
            .verify(message, signature)
            .map_err(|_| rustls_pki_types::InvalidSignature)
    }

    fn public_key_alg_id(&self) -> rustls_pki_types::AlgorithmIdentifier {
        rustls_pki_types::alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> rustls_pki_types::AlgorithmIdentifier {
        rustls_pki_types::alg_id::RSA_PKCS1_SHA256
    }
}

static SHA1: RsaPkcs1 = RsaPkcs1(&ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY);
static SHA256: RsaPkcs1 = RsaPkcs1(&ring::signature::RSA_PKCS1_2048_8192_SHA256);

/// Checks an SNS message's signature against the certificate SNS signed it with (PEM, as
/// fetched from its `signing_cert_url`, which must be [`genuine_sns_url`]): its RSA key
/// must verify the canonical string with SHA-1 for signature version 1, SHA-256 for
/// version 2. The trust is in where the certificate came from, over HTTPS from SNS's own
/// host, as in AWS's own message validators; its dates are not read.
pub fn verify_sns_signature(message: &Sns, certificate_pem: &[u8]) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject as _;
    if !genuine_sns_url(&message.signing_cert_url) {
        return Err("the signing certificate is not SNS's".into());
    }
    let der = rustls_pki_types::CertificateDer::from_pem_slice(certificate_pem)
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    let certificate =
        webpki::EndEntityCert::try_from(&der).map_err(|e| format!("the certificate is not readable: {e}"))?;
    let algorithm = match message.signature_version.as_str() {
        "1" => &SHA1,
        "2" => &SHA256,
        other => return Err(format!("signature version {other:?} is not SNS's")),
    };
    certificate
        .verify_signature(algorithm, message.string_to_sign.as_bytes(), &message.signature)
        .map_err(|_| "the signature does not match the message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sns_own_certificate_urls_are_genuine() {
        assert!(genuine_sns_url("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"));
        assert!(genuine_sns_url("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem"));
        for fake in [
            "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.txt",
            "not a url",
        ] {
            assert!(!genuine_sns_url(fake), "{fake}");
        }
    }

    #[test]
    fn the_string_to_sign_follows_sns_order_and_skips_a_missing_subject() {
        let fields = BTreeMap::from([
            ("Message", "m"),
            ("MessageId", "id"),
            ("Timestamp", "t"),
            ("TopicArn", "arn"),
            ("Type", "Notification"),
        ]);
        assert_eq!(
            sns_string_to_sign("Notification", &fields),
            "Message\nm\nMessageId\nid\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n"
        );
    }
}
