//! Mail through an SMTP relay: a small relay on loopback, started by the test, takes the
//! very bytes the outbox would keep; a relay that refuses the recipient for good is a
//! rejection, not a retry.

mod common;

use beacon_notify::transport::{MailTransport as _, SendError};
use beacon_notify::{OutboxMailer, SmtpMailer};
use common::{config, ok};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// A relay that answers the SMTP dialogue and keeps each message's DATA; it refuses
/// recipients at `refused.example` with a permanent 550.
async fn relay() -> (u16, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let port = ok(listener.local_addr()).port();
    let kept: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let store = kept.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 relay.test ESMTP\r\n").await;
                let mut recipient = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 relay.test\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        recipient = line[8..].trim().trim_matches(|c| c == '<' || c == '>').to_owned();
                        if recipient.ends_with("@refused.example") {
                            b"550 5.1.1 no such user\r\n"
                        } else {
                            b"250 OK\r\n"
                        }
                    } else if upper == "DATA" {
                        let _ = write.write_all(b"354 go ahead\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            // Undo dot-stuffing.
                            let l = l.strip_prefix('.').filter(|_| l.starts_with("..")).unwrap_or(&l);
                            data.push_str(l);
                            data.push_str("\r\n");
                        }
                        store.lock().unwrap_or_else(|p| p.into_inner()).push((recipient.clone(), data));
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, kept)
}

#[tokio::test]
async fn the_relay_gets_the_bytes_the_outbox_keeps() {
    let (port, kept) = relay().await;
    let config = config("https://status.acme.example");
    let mail = ok(beacon_notify::render::plain_mail(
        &config,
        "reader@example.com",
        "Confirm your subscription",
        &["Hello.".to_owned()],
        Some(("Confirm", "https://status.acme.example/subscriptions/confirm?token=x")),
    ));
    ok(SmtpMailer::plain("127.0.0.1", port, None).send(&mail).await);
    let dir = ok(tempfile::tempdir());
    ok(OutboxMailer::new(dir.path()).send(&mail).await);
    let outbox = ok(std::fs::read_to_string(dir.path().join(OutboxMailer::file_name(&mail.message_id))));
    let kept = kept.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].0, "reader@example.com");
    assert_eq!(kept[0].1.trim_end(), outbox.replace("\r\n", "\n").replace('\n', "\r\n").trim_end());
}

#[tokio::test]
async fn a_recipient_the_relay_refuses_for_good_is_a_rejection() {
    let (port, kept) = relay().await;
    let config = config("https://status.acme.example");
    let mail = ok(beacon_notify::render::plain_mail(&config, "nobody@refused.example", "Hi", &["x".into()], None));
    let outcome = SmtpMailer::plain("127.0.0.1", port, None).send(&mail).await;
    assert!(matches!(outcome, Err(SendError::Rejected(_))), "{outcome:?}");
    assert!(kept.lock().unwrap_or_else(|p| p.into_inner()).is_empty());
    // Nobody listening: a passing failure, retried later.
    drop(kept);
    let closed = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let port = ok(closed.local_addr()).port();
    drop(closed);
    let outcome = SmtpMailer::plain("127.0.0.1", port, None).send(&mail).await;
    assert!(matches!(outcome, Err(SendError::Failed(_))), "{outcome:?}");
}
