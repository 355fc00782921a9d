//! An organization's usage: messages and tokens per day for the last 30 days as charts (SVG drawn
//! here, with the numbers as a table too), this month per chatbot and per API key, and what is
//! left of the organization's monthly quota.

use chrono::{Datelike as _, NaiveDate};
use docent_app::Need;
use docent_kernel::PageRequest;
use docent_keys::{UsageFilter, UsageGroup, UsageRow, UsageTotals};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use serde::Serialize;

use super::org::{enter, frame};
use super::{form_page, listed};
use crate::Console;

/// Days the charts show.
const DAYS: i64 = 30;
/// The charts' drawing area, in SVG units.
const WIDTH: u32 = 600;
const HEIGHT: u32 = 160;

#[derive(Debug, Serialize)]
struct Bar {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    label: String,
    value: u64,
}

#[derive(Debug, Serialize)]
struct Chart {
    title: &'static str,
    unit: &'static str,
    max: u64,
    bars: Vec<Bar>,
    first: String,
    last: String,
}

/// A bar chart of `values` (one per day from `from`), scaled to its largest value.
fn chart(title: &'static str, unit: &'static str, from: NaiveDate, values: &[u64]) -> Chart {
    let max = values.iter().copied().max().unwrap_or(0);
    let count = u32::try_from(values.len()).unwrap_or(1).max(1);
    let slot = WIDTH / count;
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let height = if max == 0 {
                0
            } else {
                u32::try_from(u128::from(*value) * u128::from(HEIGHT) / u128::from(max))
                    .unwrap_or(HEIGHT)
            };
            let day = from + chrono::Duration::days(i64::try_from(i).unwrap_or(0));
            Bar {
                x: u32::try_from(i).unwrap_or(0) * slot + 1,
                y: HEIGHT - height,
                width: slot.saturating_sub(2).max(1),
                height,
                label: day.format("%b %-d").to_string(),
                value: *value,
            }
        })
        .collect();
    Chart {
        title,
        unit,
        max,
        bars,
        first: from.format("%b %-d").to_string(),
        last: (from + chrono::Duration::days(DAYS - 1))
            .format("%b %-d")
            .to_string(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct ChartQuery {
    #[serde(default)]
    chatbot: String,
    #[serde(default)]
    key: String,
}

#[derive(Debug, Serialize)]
struct Share {
    name: String,
    requests: u64,
    tokens: u64,
}

#[derive(Debug, Serialize)]
struct Left {
    what: &'static str,
    used: u64,
    limit: Option<u64>,
    left: Option<u64>,
    percent: Option<u64>,
}

fn left(what: &'static str, used: u64, limit: Option<u64>) -> Left {
    Left {
        what,
        used,
        limit,
        left: limit.map(|l| l.saturating_sub(used)),
        percent: limit
            .filter(|l| *l > 0)
            .map(|l| u128::from(used.min(l)) * 100 / u128::from(l))
            .and_then(|p| u64::try_from(p).ok()),
    }
}

/// The report's rows, or none (logged) when it could not be read: the page still renders.
pub(crate) fn report(
    rows: Result<(docent_keys::DayRange, Vec<UsageRow>), docent_keys::KeyError>,
) -> Vec<UsageRow> {
    match rows {
        Ok((_, rows)) => rows,
        Err(error) => {
            tracing::warn!(%error, "the console could not read usage");
            Vec::new()
        }
    }
}

/// `GET /orgs/:org/usage`.
#[handler]
pub(crate) async fn usage(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    let inside = match enter(&console, req, &org, Need::UsageRead).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let services = &console.services;
    let keys = &services.keys;
    let can_keys = docent_tenancy::Permission::ManageKeys.allowed_for(inside.access().role);
    let bots = listed(
        "chatbots",
        services
            .chat
            .list_chatbots(inside.tenant(), &PageRequest::largest_first())
            .await,
    );
    let api_keys = if can_keys {
        listed(
            "API keys",
            keys.list(inside.tenant(), &PageRequest::largest_first())
                .await,
        )
    } else {
        Vec::new()
    };
    // The charts show the whole organization, one chatbot, or (for admins) one key.
    let query: ChartQuery = super::query(req);
    let filter = UsageFilter {
        chatbot: bots
            .iter()
            .find(|b| b.id.to_string() == query.chatbot)
            .map(|b| b.id),
        key: api_keys
            .iter()
            .find(|k| k.id.to_string() == query.key)
            .map(|k| k.id),
    };
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(DAYS - 1);
    let daily = report(
        keys.usage_report(
            inside.tenant(),
            filter,
            Some((from, today)),
            UsageGroup::Day,
        )
        .await,
    );
    let on = |day: NaiveDate| {
        let key = day.format("%Y-%m-%d").to_string();
        daily
            .iter()
            .find(|r| r.group.as_deref() == Some(key.as_str()))
            .map(|r| r.totals)
            .unwrap_or_default()
    };
    let days: Vec<UsageTotals> = (0..DAYS)
        .map(|i| on(from + chrono::Duration::days(i)))
        .collect();
    let messages = chart(
        "Messages per day",
        "messages",
        from,
        &days.iter().map(|t| t.requests).collect::<Vec<_>>(),
    );
    let tokens = chart(
        "Model tokens per day",
        "tokens",
        from,
        &days
            .iter()
            .map(UsageTotals::model_tokens)
            .collect::<Vec<_>>(),
    );
    // This month: per chatbot, per key, and against the quota.
    let month_start = today.with_day(1).unwrap_or(today);
    let month = |group| {
        keys.usage_report(
            inside.tenant(),
            UsageFilter::default(),
            Some((month_start, today)),
            group,
        )
    };
    let per_bot = report(month(UsageGroup::Chatbot).await);
    let shares = |rows: &[UsageRow], name: &dyn Fn(&str) -> String, none: &str| -> Vec<Share> {
        rows.iter()
            .map(|r| Share {
                name: r.group.as_deref().map_or_else(|| none.to_owned(), name),
                requests: r.totals.requests,
                tokens: r.totals.model_tokens(),
            })
            .collect()
    };
    let bot_name = |id: &str| {
        bots.iter()
            .find(|b| b.id.to_string() == id)
            .map_or_else(|| "a deleted chatbot".to_owned(), |b| b.name.clone())
    };
    let per_bot = shares(&per_bot, &bot_name, "no chatbot (searches, embeddings)");
    let per_key = if can_keys {
        let rows = report(month(UsageGroup::ApiKey).await);
        let key_name = |id: &str| {
            api_keys
                .iter()
                .find(|k| k.id.to_string() == id)
                .map_or_else(|| "a deleted key".to_owned(), |k| k.settings.name.clone())
        };
        Some(shares(
            &rows,
            &key_name,
            "people in the console and with sessions",
        ))
    } else {
        None
    };
    let used =
        report(month(UsageGroup::Day).await)
            .iter()
            .fold(UsageTotals::default(), |sum, r| UsageTotals {
                requests: sum.requests + r.totals.requests,
                prompt_tokens: sum.prompt_tokens + r.totals.prompt_tokens,
                completion_tokens: sum.completion_tokens + r.totals.completion_tokens,
                embedded_tokens: sum.embedded_tokens + r.totals.embedded_tokens,
            });
    let quota = keys.org_quota();
    let quota = vec![
        left("Messages", used.requests, quota.messages),
        left("Model tokens", used.model_tokens(), quota.tokens),
    ];
    let context = minijinja::context! {
        charts => minijinja::value::Value::from(minijinja::value::Serde(&[messages, tokens])),
        width => WIDTH,
        height => HEIGHT,
        per_bot => minijinja::value::Value::from(minijinja::value::Serde(&per_bot)),
        per_key => per_key.map(|k| minijinja::value::Value::from(minijinja::value::Serde(k))),
        quota => minijinja::value::Value::from(minijinja::value::Serde(&quota)),
        month => today.format("%B %Y").to_string(),
        filter_bots => bots.iter().map(|b| minijinja::context! { id => b.id.to_string(), name => b.name.as_str(), selected => filter.chatbot == Some(b.id) }).collect::<Vec<_>>(),
        filter_keys => api_keys.iter().map(|k| minijinja::context! { id => k.id.to_string(), name => k.settings.name.as_str(), selected => filter.key == Some(k.id) }).collect::<Vec<_>>(),
        can_filter_keys => can_keys,
        ..frame(&console, &inside, "usage").await
    };
    form_page(&console, req, "usage.html", StatusCode::OK, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_day() {
        let from = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let drawn = chart("t", "u", from, &[0, 5, 10]);
        let heights: Vec<u32> = drawn.bars.iter().map(|b| b.height).collect();
        assert_eq!(heights, [0, HEIGHT / 2, HEIGHT]);
        assert_eq!(drawn.bars[2].y, 0);
        assert_eq!(drawn.bars[1].label, "Nov 2");
        let empty = chart("t", "u", from, &[0, 0]);
        assert!(empty.bars.iter().all(|b| b.height == 0));
    }

    #[test]
    fn the_quota_left_never_goes_below_zero() {
        let over = left("Messages", 120, Some(100));
        assert_eq!((over.left, over.percent), (Some(0), Some(100)));
        let unlimited = left("Messages", 5, None);
        assert_eq!((unlimited.left, unlimited.percent), (None, None));
    }
}
