//! The payloads each tool really sends (kept in tests/fixtures/integrations, with their
//! sources) read into alerts.

use beacon_integrations::{PayloadError, SnsMessage, alertmanager, grafana, sns};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/integrations").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn alertmanager_groups_fire_and_resolve_under_one_key() {
    let firing = ok(alertmanager(&fixture("alertmanager-firing.json")));
    let resolved = ok(alertmanager(&fixture("alertmanager-resolved.json")));
    assert_eq!(firing.alerts.len(), 2);
    assert!(firing.alerts.iter().all(|a| a.firing && a.ends_at.is_none() && a.starts_at.is_some()));
    assert!(resolved.alerts.iter().all(|a| !a.firing && a.ends_at.is_some()));
    assert!(firing.group.is_some());
    assert_eq!(firing.incident_keys(), resolved.incident_keys(), "one incident for the group");
    let keys = |d: &beacon_integrations::Delivery| d.alerts.iter().map(|a| a.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&firing), keys(&resolved), "each alert keeps its fingerprint");
    let first = &firing.alerts[0];
    for field in ["alertname", "severity", "instance", "summary", "status"] {
        assert!(first.fields.contains_key(field), "{field} in {:?}", first.fields.keys());
    }
    assert_eq!(first.fields["severity"], "critical");
}

#[test]
fn grafana_alerts_carry_their_title_message_and_values() {
    let firing = ok(grafana(&fixture("grafana-firing.json")));
    let resolved = ok(grafana(&fixture("grafana-resolved.json")));
    assert!(firing.alerts.iter().all(|a| a.firing) && resolved.alerts.iter().all(|a| !a.firing));
    assert_eq!(firing.incident_keys(), resolved.incident_keys());
    let first = &firing.alerts[0];
    assert!(first.fields["title"].starts_with("[FIRING"), "{}", first.fields["title"]);
    assert!(first.fields.contains_key("value") && first.fields.contains_key("message"));
}

#[test]
fn a_cloudwatch_alarm_through_sns_fires_and_its_ok_resolves() {
    let alarm = ok(sns(&fixture("sns-cloudwatch-alarm.json")));
    let back = ok(sns(&fixture("sns-cloudwatch-ok.json")));
    let alert = |m: &SnsMessage| match m {
        SnsMessage::Notification { delivery: Some(d), .. } => d.alerts[0].clone(),
        other => panic!("not an alarm notification: {other:?}"),
    };
    let (on, off) = (alert(&alarm.message), alert(&back.message));
    assert!(on.firing && !off.firing);
    assert_eq!(on.key, off.key, "the alarm's ARN keys both");
    assert!(on.key.starts_with("arn:aws:cloudwatch:us-east-1:123456789012:alarm:"), "{}", on.key);
    assert!(on.starts_at.is_some() && off.ends_at.is_some(), "CloudWatch's time format is read");
    assert!(on.fields.contains_key("reason") && on.fields.contains_key("alarm_name"));
    assert_eq!(alarm.signature_version, "1");
    assert!(alarm.string_to_sign.starts_with("Message\n") && alarm.string_to_sign.ends_with("Type\nNotification\n"));
    assert!(alarm.string_to_sign.contains("\nSubject\n"), "a notification's subject is signed");
    assert!(beacon_integrations::genuine_sns_url(&alarm.signing_cert_url));
}

#[test]
fn a_subscription_confirmation_names_its_url_and_signs_its_token() {
    let confirmation = ok(sns(&fixture("sns-subscription-confirmation.json")));
    match &confirmation.message {
        SnsMessage::SubscriptionConfirmation { subscribe_url, topic_arn } => {
            assert!(subscribe_url.starts_with("https://sns.us-east-1.amazonaws.com/"), "{subscribe_url}");
            assert_eq!(topic_arn, "arn:aws:sns:us-east-1:123456789012:beacon-alarms");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        confirmation.string_to_sign.contains("\nSubscribeURL\n") && confirmation.string_to_sign.contains("\nToken\n")
    );
}

#[test]
fn one_tool_payload_is_refused_by_another_reader() {
    assert!(matches!(
        alertmanager(&fixture("sns-cloudwatch-alarm.json")),
        Err(PayloadError::Invalid(_) | PayloadError::Malformed(_))
    ));
    assert!(matches!(sns(&fixture("alertmanager-firing.json")), Err(PayloadError::Malformed(_))));
    assert!(matches!(alertmanager(b"not json"), Err(PayloadError::Malformed(_))));
}

/// Messages signed with the test key (`tests/fixtures/integrations/sign-sns.py`), with
/// SHA-1 (version 1) and SHA-256 (version 2): notifications and a confirmation.
#[test]
fn sns_signatures_are_verified_against_the_signing_certificate() {
    let certificate = fixture("sns-test-certificate.pem");
    for name in ["sns-signed-v1.json", "sns-signed-v2.json", "sns-signed-ok-v2.json", "sns-signed-confirmation-v2.json"]
    {
        let message = ok(sns(&fixture(name)));
        assert_eq!(beacon_integrations::verify_sns_signature(&message, &certificate), Ok(()), "{name}");
        // Any change to what was signed fails.
        let mut tampered = message.clone();
        tampered.string_to_sign = tampered.string_to_sign.replacen('\n', "\n ", 1);
        assert!(beacon_integrations::verify_sns_signature(&tampered, &certificate).is_err(), "{name}");
        // The certificate must be SNS's by its URL.
        let mut elsewhere = message.clone();
        elsewhere.signing_cert_url = "https://evil.example/cert.pem".into();
        assert!(beacon_integrations::verify_sns_signature(&elsewhere, &certificate).is_err());
        // And a signature version SNS does not use is refused.
        let mut other = message.clone();
        other.signature_version = "3".into();
        assert!(beacon_integrations::verify_sns_signature(&other, &certificate).is_err());
    }
    // The fixture's placeholder signature does not verify; nor does a broken certificate.
    let unsigned = ok(sns(&fixture("sns-cloudwatch-alarm.json")));
    assert!(beacon_integrations::verify_sns_signature(&unsigned, &certificate).is_err());
    let signed = ok(sns(&fixture("sns-signed-v2.json")));
    assert!(
        beacon_integrations::verify_sns_signature(
            &signed,
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
        .is_err()
    );
}
