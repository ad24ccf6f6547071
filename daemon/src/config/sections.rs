//! The `daemon.ijw` and `daemon.web` sections: the iJw intake (its secret, inbox and the
//! originals kept where an operator must) and the web pages' sessions and address.

use super::*;

pub(super) fn read_ijw(
    node: &yaml::Node,
    base: &Path,
    production: bool,
    problems: &mut Problems,
) -> Option<IjwConfig> {
    let map = MapReader::new(node, IJW_KEYS, "'ijw'", problems)?;
    let inbox = map.text("inbox", problems).map(|(t, _)| base.join(t));
    let poll_seconds = map.number("poll_seconds", 2, problems).clamp(1, 3600);
    let keep_originals = read_keep_originals(&map, base, problems);
    let (variable, at) = map
        .require("pseudonym_secret_env", problems)
        .and_then(|n| text_of(n, "'pseudonym_secret_env'", problems))?;
    let (secret, development_secret) = match std::env::var(variable) {
        Ok(value) if !value.is_empty() => {
            if production && value == DEVELOPMENT_PSEUDONYM_SECRET {
                problems.add_with_hint(
                    at,
                    format!("{variable} holds the development secret of README.md; a production daemon refuses it"),
                    "make a secret of your own (32 random bytes, for example: openssl rand -base64 32) and keep it outside the configuration",
                );
            }
            (value, false)
        }
        _ if production => {
            problems.add_with_hint(
                at,
                format!("the environment variable {variable} is not set; a production daemon does not start the iJw intake without its pseudonym secret"),
                "set it to the region's secret before starting the daemon; the same secret gives every young person the same case id",
            );
            return None;
        }
        _ => (DEVELOPMENT_PSEUDONYM_SECRET.to_string(), true),
    };
    Some(IjwConfig {
        inbox,
        secret,
        development_secret,
        poll: std::time::Duration::from_secs(poll_seconds),
        keep_originals,
    })
}

/// `keep_originals` and `keep_originals_days` come together: an original holds a BSN, so one
/// kept must have an end.
pub(super) fn read_keep_originals(
    map: &MapReader<'_>,
    base: &Path,
    problems: &mut Problems,
) -> Option<(PathBuf, u32)> {
    let directory = map.text("keep_originals", problems);
    let days = map
        .get("keep_originals_days")
        .map(|node| (map.number("keep_originals_days", 0u32, problems), node.at));
    match (directory, days) {
        (None, None) => None,
        (Some((_, at)), None) => {
            problems.add_with_hint(
                at,
                "'keep_originals' needs 'keep_originals_days': an original holds a BSN, a name and a birth date, and is kept only as long as you must",
                "add 'keep_originals_days: 30' (from 1 to 3650 days), or leave 'keep_originals' out so that originals are removed once answered",
            );
            None
        }
        (None, Some((_, at))) => {
            problems.add(at, "'keep_originals_days' needs 'keep_originals': the directory to keep the originals in");
            None
        }
        (Some((_, _)), Some((days, at))) if !(1..=3650).contains(&days) => {
            problems.add(
                at,
                format!("'keep_originals_days' is {days}; keep originals from 1 to 3650 days"),
            );
            None
        }
        (Some((directory, _)), Some((days, _))) => Some((base.join(directory), days)),
    }
}

pub(super) fn read_web(
    node: &yaml::Node,
    production: bool,
    problems: &mut Problems,
) -> Option<WebConfig> {
    let map = MapReader::new(node, WEB_KEYS, "'web'", problems)?;
    let defaults = WebConfig::default();
    let mut within = |key: &str, default: u64, most: u64, unit: &str| {
        let value = map.number(key, default, problems);
        match map.get(key) {
            Some(node) if !(1..=most).contains(&value) => {
                problems.add(
                    node.at,
                    format!("'{key}' must be from 1 to {most} {unit}, not {value}"),
                );
                default
            }
            _ => value,
        }
    };
    let idle = within(
        "session_idle_minutes",
        defaults.session_idle.as_secs() / 60,
        24 * 60,
        "minutes",
    );
    let max = within(
        "session_max_hours",
        defaults.session_max.as_secs() / 3600,
        24,
        "hours",
    );
    let public_url = match map.text("public_url", problems) {
        Some((url, _)) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(url.trim_end_matches('/').to_string())
        }
        Some((url, at)) => {
            problems.add_with_hint(
                at,
                format!("'{url}' is not an http or https address"),
                "write the address people open the pages at, for example https://waakvlam.deventer.nl",
            );
            None
        }
        None => None,
    };
    let oidc = map
        .get("oidc")
        .and_then(|n| super::oidc::read_oidc(n, production, problems));
    if let (Some(at), None) = (map.key_at("oidc"), &public_url) {
        problems.add_with_hint(
            at,
            "signing in with an identity provider needs 'public_url': the provider sends people back to {public_url}/inloggen/oidc/terug",
            "write the address people open the pages at, for example 'public_url: https://waakvlam.deventer.nl', and register {public_url}/inloggen/oidc/terug at the provider",
        );
    }
    Some(WebConfig {
        public_url,
        secure_cookies: map.bool("secure_cookies", problems).unwrap_or(false),
        session_idle: std::time::Duration::from_secs(idle * 60),
        session_max: std::time::Duration::from_secs(max * 3600),
        oidc,
    })
}
