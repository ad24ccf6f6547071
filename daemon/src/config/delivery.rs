//! The configuration of delivery: webhooks (URL, secret, which gemeenten), SMTP and the
//! e-mail addresses of each role, with what a production daemon refuses of them.

use super::*;

/// The `recipients` of every gemeente (the engine's part reads the gemeenten' other keys).
pub(super) fn read_all_recipients(
    top: &MapReader<'_>,
    problems: &mut Problems,
) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut all = BTreeMap::new();
    let Some(Yaml::Map(gemeenten)) = top.get("gemeenten").map(|n| &n.value) else {
        return all;
    };
    for (code, settings) in gemeenten {
        let Yaml::Map(keys) = &settings.value else {
            continue;
        };
        if let Some((_, node)) = keys.iter().find(|(k, _)| k.name == "recipients") {
            all.insert(code.name.clone(), read_recipients(node, problems));
        }
    }
    all
}

pub(super) fn read_recipients(
    node: &yaml::Node,
    problems: &mut Problems,
) -> BTreeMap<String, Vec<String>> {
    let mut recipients = BTreeMap::new();
    let Yaml::Map(entries) = &node.value else {
        problems.add_with_hint(
            node.at,
            "'recipients' must map roles to e-mail addresses",
            "for example 'teamleider: [teamleider@gemeente.example]'",
        );
        return recipients;
    };
    for (key, value) in entries {
        match &value.value {
            // A workflow's own people for some roles: `veilig-thuis: { teamleider: [...] }`,
            // kept as `veilig-thuis/teamleider`.
            Yaml::Map(roles) => {
                for (role, addresses) in roles {
                    recipients.insert(
                        format!("{}/{}", key.name, role.name),
                        addresses_of(addresses, problems),
                    );
                }
            }
            _ => {
                recipients.insert(key.name.clone(), addresses_of(value, problems));
            }
        }
    }
    recipients
}

pub(super) fn addresses_of(node: &yaml::Node, problems: &mut Problems) -> Vec<String> {
    let mut list = Vec::new();
    for address in list_of(node) {
        if let Some((text, at)) = text_of(address, "an e-mail address", problems) {
            if text.parse::<lettre::Address>().is_ok() {
                list.push(text.to_string());
            } else {
                problems.add(at, format!("'{text}' is not an e-mail address"));
            }
        }
    }
    list
}

/// A secret from the environment variable named by `<key>_env`, or else from `<key>` itself.
pub(super) fn secret(map: &MapReader<'_>, key: &str, problems: &mut Problems) -> Option<String> {
    let env_key = format!("{key}_env");
    if let Some((variable, at)) = map.text(&env_key, problems) {
        return match std::env::var(variable) {
            Ok(value) if !value.is_empty() => Some(value),
            _ => {
                problems.add_with_hint(
                    at,
                    format!("the environment variable {variable} is not set"),
                    "set it before starting the daemon",
                );
                None
            }
        };
    }
    map.text(key, problems).map(|(t, _)| t.to_string())
}

pub(super) fn read_webhook(
    node: &yaml::Node,
    production: bool,
    problems: &mut Problems,
) -> Option<WebhookConfig> {
    let map = MapReader::new(node, WEBHOOK_KEYS, "a webhook", problems)?;
    let name = read_name(&map, "a webhook", problems);
    let url = match map
        .require("url", problems)
        .and_then(|n| text_of(n, "'url'", problems))
    {
        Some((url, at)) if production && url.starts_with("http://") && !is_loopback_url(url) => {
            problems.add_with_hint(
                at,
                "a production daemon sends notifications over https only, not http://",
                "give the receiver's https:// address; plain http is for a receiver on this machine (127.0.0.1) only",
            );
            None
        }
        Some((url, _)) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(url.to_string())
        }
        Some((url, at)) => {
            problems.add(at, format!("'{url}' is not an http(s) URL"));
            None
        }
        None => None,
    };
    let secret = secret(&map, "secret", problems);
    if production && let Some(at) = map.key_at("secret") {
        problems.add_with_hint(
            at,
            "a production daemon takes a webhook's secret from the environment, not from the configuration file",
            "write 'secret_env: NAME' and set NAME to the secret (at least 32 characters) where the daemon starts",
        );
    } else if production
        && let (Some(secret), Some(at)) = (&secret, map.key_at("secret_env"))
        && secret.chars().count() < MINIMUM_SECRET_CHARS
    {
        problems.add_with_hint(
            at,
            format!(
                "the webhook's secret has {} characters; a production daemon signs with at least {MINIMUM_SECRET_CHARS}",
                secret.chars().count()
            ),
            "make one with: openssl rand -base64 32",
        );
    }
    if secret.is_none() && map.get("secret").is_none() && map.get("secret_env").is_none() {
        problems.add_with_hint(
            node.at,
            "a webhook needs 'secret_env' (or 'secret')",
            "the receiver checks the HMAC-SHA256 signature made with it",
        );
    }
    let gemeenten = read_scope(&map, "a webhook", problems);
    let timeout_seconds = map.number("timeout_seconds", 10, problems);
    let max_attempts = map.number("max_attempts", 8, problems).max(1);
    Some(WebhookConfig {
        name: name?,
        url: url?,
        secret: secret?,
        gemeenten: gemeenten?,
        timeout_seconds,
        max_attempts,
    })
}

/// A signing secret shorter than this is guessable by brute force (32 characters of base 64 are
/// 192 bits).
pub(super) const MINIMUM_SECRET_CHARS: usize = 32;

/// An `http://` URL to this machine itself (a relay beside the daemon), which needs no TLS.
pub(super) fn is_loopback_url(url: &str) -> bool {
    let host = url
        .trim_start_matches("http://")
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn read_smtp(
    node: &yaml::Node,
    base: &Path,
    problems: &mut Problems,
) -> Option<SmtpConfig> {
    let map = MapReader::new(node, SMTP_KEYS, "'smtp'", problems)?;
    let host = map
        .require("host", problems)
        .and_then(|n| text_of(n, "'host'", problems))
        .map(|(t, _)| t.to_string());
    let tls = match map.text("tls", problems) {
        None | Some(("starttls", _)) => SmtpTls::StartTls,
        Some(("tls", _)) => SmtpTls::Tls,
        Some(("none", _)) => SmtpTls::None,
        Some((other, at)) => {
            problems.add_with_hint(
                at,
                format!("'{other}' is not a TLS mode"),
                "write 'starttls' (default), 'tls' or 'none' (only for a relay on this machine)",
            );
            SmtpTls::StartTls
        }
    };
    let default_port = match tls {
        SmtpTls::Tls => 465,
        _ => 587,
    };
    let port = map.number("port", default_port, problems);
    let from = match map
        .require("from", problems)
        .and_then(|n| text_of(n, "'from'", problems))
    {
        Some((from, at)) => match from.parse::<lettre::message::Mailbox>() {
            Ok(_) => Some(from.to_string()),
            Err(_) => {
                problems.add(at, format!("'{from}' is not a sender address"));
                None
            }
        },
        None => None,
    };
    let digest_hour = map.hour("digest_hour", problems);
    Some(SmtpConfig {
        host: host?,
        port,
        tls,
        ca_file: map.text("ca_file", problems).map(|(t, _)| base.join(t)),
        from: from?,
        username: map.text("username", problems).map(|(t, _)| t.to_string()),
        password: secret(&map, "password", problems),
        timeout_seconds: map.number("timeout_seconds", 30, problems),
        max_attempts: map.number("max_attempts", 8, problems).max(1),
        digest_hour,
    })
}
