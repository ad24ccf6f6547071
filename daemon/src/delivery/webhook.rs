//! The webhook channel: each notification POSTed as JSON, signed with HMAC-SHA256 so the
//! receiver can check it came from Waakvlam and was not changed.

use std::time::Duration as StdDuration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Attempt;
use crate::config::WebhookConfig;
use crate::store::Due;

/// The header with the signature: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Waakvlam-Signature";
/// The header with the notification id, for deduplication by the receiver.
pub const ID_HEADER: &str = "X-Waakvlam-Notification";

pub struct Webhook {
    url: String,
    secret: String,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(config: &WebhookConfig) -> Result<Webhook, reqwest::Error> {
        // A redirect is never followed: a receiver answering 307 would have the signed
        // notification posted wherever it points. A 3xx is a failed attempt, with its status.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(StdDuration::from_secs(config.timeout_seconds))
            .connect_timeout(StdDuration::from_secs(config.timeout_seconds.min(10)))
            .build()?;
        Ok(Webhook {
            url: config.url.clone(),
            secret: config.secret.clone(),
            client,
        })
    }

    pub async fn send(&self, due: &Due) -> Attempt {
        let body = serde_json::to_vec(&due.record).expect("a JSON value always serialises");
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header(ID_HEADER, &due.id)
            .header(SIGNATURE_HEADER, signature(&self.secret, &body))
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => Attempt::Delivered,
            Ok(response) if response.status().is_redirection() => Attempt::Failed(format!(
                "the receiver answered {}, a redirect, which is not followed",
                response.status()
            )),
            Ok(response) => Attempt::Failed(format!("the receiver answered {}", response.status())),
            Err(err) if err.is_timeout() => Attempt::Failed("no answer within the timeout".into()),
            // Without the URL: its query may hold a key (`?apikey=...`), and this text is shown
            // on /v1/notifications, on the Meldingen page and in the log.
            Err(err) => Attempt::Failed(format!(
                "could not reach the receiver: {}",
                err.without_url()
            )),
        }
    }
}

/// `sha256=<hex>` over the exact body bytes.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    /// RFC 4231, test case 2.
    #[test]
    fn signs_with_hmac_sha256() {
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
