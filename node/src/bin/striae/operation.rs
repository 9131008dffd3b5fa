//! `striae operation ...`: create a joint operation, list and show the ones this node takes
//! part in, join, record seizures, list them and report.

use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::common::{Target, client, print, s};

#[derive(Subcommand)]
pub(crate) enum OperationAction {
    /// Create an operation this node coordinates, inviting other members
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Country codes of the members invited, e.g. DE,ES
        #[arg(long, value_delimiter = ',', required = true)]
        participants: Vec<String>,
        /// RFC 3339 time or date, e.g. 2026-03-01
        #[arg(long)]
        starts_at: String,
        /// RFC 3339 time or date (a date means the end of that day)
        #[arg(long)]
        ends_at: String,
    },
    /// The operations this node coordinates or was invited to
    List {
        /// Continue after this id (the `next` of the page before)
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// An operation, its participants and who joined
    Show { id: String },
    /// Join an operation this node was invited to
    Join { id: String },
    /// Record a seizure (this node must have joined)
    Seize {
        id: String,
        /// Day of the seizure, YYYY-MM-DD
        #[arg(long)]
        date: String,
        #[arg(long)]
        place: Option<String>,
        /// CATEGORY:COUNT[:DESCRIPTION], repeated; categories: firearm, ammunition, drugs,
        /// vehicle, medicine, other
        #[arg(long = "item")]
        items: Vec<String>,
        /// One firearm naming one of this node's firearm records (by id), repeated
        #[arg(long = "firearm")]
        firearms: Vec<String>,
        #[arg(long)]
        arrests: Option<u64>,
    },
    /// Every participant's seizure records
    Seizures {
        id: String,
        /// Continue after this cursor (the `next` of the page before)
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Items seized per category, in all and per country, and arrests
    Report { id: String },
}

/// `CATEGORY:COUNT[:DESCRIPTION]` as an item of the API.
fn parse_item(text: &str) -> Result<Value> {
    let mut parts = text.splitn(3, ':');
    let (Some(category), Some(count)) = (parts.next(), parts.next()) else {
        bail!(
            "--item {text:?}: write CATEGORY:COUNT[:DESCRIPTION], e.g. ammunition:450:9x19 rounds"
        );
    };
    let Ok(count) = count.trim().parse::<u64>() else {
        bail!("--item {text:?}: the count {count:?} is not a whole number");
    };
    let mut item = json!({"category": category.trim(), "count": count});
    if let Some(description) = parts.next() {
        item["description"] = json!(description);
    }
    Ok(item)
}

fn query(after: Option<String>, limit: Option<usize>) -> String {
    let mut pairs = Vec::new();
    if let Some(a) = after {
        pairs.push(format!("after={a}"));
    }
    if let Some(l) = limit {
        pairs.push(format!("limit={l}"));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// The date part of an RFC 3339 time.
fn day_of(v: &Value) -> &str {
    s(v).get(..10).unwrap_or(s(v))
}

fn operation_line(o: &Value) -> String {
    let participants: Vec<&str> = o["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    format!(
        "{}  {:<11} {:<7} {} to {}  [{}]  {} seizures  {}",
        s(&o["id"]),
        s(&o["role"]),
        if o["joined"] == true {
            "joined"
        } else {
            "invited"
        },
        day_of(&o["starts_at"]),
        day_of(&o["ends_at"]),
        participants.join(","),
        o["seizure_count"],
        s(&o["name"])
    )
}

fn operation_detail(o: &Value) -> String {
    let mut out = format!(
        "{}  ({})\ncoordinated by {}; {} to {}; this node: {}, {}\n",
        s(&o["name"]),
        s(&o["id"]),
        s(&o["coordinator"]),
        s(&o["starts_at"]),
        s(&o["ends_at"]),
        s(&o["role"]),
        if o["joined"] == true {
            "joined"
        } else {
            "not joined yet"
        },
    );
    if let Some(d) = o["description"].as_str().filter(|d| !d.is_empty()) {
        out.push_str(&format!("\n{d}\n"));
    }
    out.push_str("\nparticipants:");
    for p in o["participants"].as_array().into_iter().flatten() {
        let joined = match p["joined_at"].as_str() {
            Some(at) => format!("joined {at}"),
            None => "not joined".into(),
        };
        let role = if p["coordinator"] == true {
            " (coordinator)"
        } else {
            ""
        };
        out.push_str(&format!("\n  {}{role}  {joined}", s(&p["country"])));
    }
    out.push_str(&format!("\nseizure records: {}", o["seizure_count"]));
    out
}

fn seizure_line(v: &Value) -> String {
    let items: Vec<String> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let mut text = format!("{} {}", i["count"], s(&i["category"]));
            if let Some(d) = i["description"].as_str().filter(|d| !d.is_empty()) {
                text.push_str(&format!(" ({d})"));
            }
            if let Some(f) = i["firearm_id"].as_str() {
                text.push_str(&format!(" [record {f}]"));
            }
            text
        })
        .collect();
    let place = v["place"].as_str().filter(|p| !p.is_empty()).unwrap_or("-");
    format!(
        "{}  {}  {}  {}: {}; arrests: {}",
        s(&v["date"]),
        s(&v["country"]),
        s(&v["id"]),
        place,
        items.join(", "),
        v["arrests"]
    )
}

fn counts(v: &Value) -> String {
    v.as_object()
        .into_iter()
        .flatten()
        .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn report_text(r: &Value) -> String {
    let total = counts(&r["totals"]);
    let mut out = format!(
        "{} ({})\nseizure records: {}, arrests: {}\nseized: {}",
        s(&r["name"]),
        s(&r["operation"]),
        r["seizure_count"],
        r["arrests"],
        if total.is_empty() {
            "nothing yet".into()
        } else {
            total
        }
    );
    for (country, per) in r["by_country"].as_object().into_iter().flatten() {
        out.push_str(&format!("\n  {country}: {}", counts(per)));
    }
    let listed: Vec<String> = r["seizures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(seizure_line)
        .collect();
    if !listed.is_empty() {
        out.push_str(&format!("\n\n{}", listed.join("\n")));
    }
    if r["seizures_truncated"] == true {
        out.push_str("\n(more: striae operation seizures ID)");
    }
    out
}

pub(crate) async fn operation(action: OperationAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        OperationAction::Create {
            name,
            description,
            participants,
            starts_at,
            ends_at,
        } => {
            let body = json!({
                "name": name, "description": description, "participants": participants,
                "starts_at": starts_at, "ends_at": ends_at,
            });
            let v = c.post("/v1/operations", &body).await?;
            print(t, &v, |v| {
                format!(
                    "created operation {}\n\n{}",
                    s(&v["id"]),
                    operation_detail(v)
                )
            });
        }
        OperationAction::List { after, limit } => {
            let v = c
                .get(&format!("/v1/operations{}", query(after, limit)))
                .await?;
            print(t, &v, |v| {
                let list = v["operations"].as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "no operations".into();
                }
                let mut out: Vec<String> = list.iter().map(operation_line).collect();
                if let Some(next) = v["next"].as_str() {
                    out.push(format!("(more: --after {next})"));
                }
                out.join("\n")
            });
        }
        OperationAction::Show { id } => {
            let v = c.get(&format!("/v1/operations/{id}")).await?;
            print(t, &v, operation_detail);
        }
        OperationAction::Join { id } => {
            let v = c
                .post(&format!("/v1/operations/{id}/join"), &Value::Null)
                .await?;
            print(t, &v, |v| format!("joined {}", s(&v["name"])));
        }
        OperationAction::Seize {
            id,
            date,
            place,
            items,
            firearms,
            arrests,
        } => {
            let mut list = items
                .iter()
                .map(|i| parse_item(i))
                .collect::<Result<Vec<_>>>()?;
            list.extend(
                firearms
                    .iter()
                    .map(|f| json!({"category": "firearm", "count": 1, "firearm_id": f})),
            );
            let mut body = json!({"date": date, "items": list});
            if let Some(p) = place {
                body["place"] = json!(p);
            }
            if let Some(a) = arrests {
                body["arrests"] = json!(a);
            }
            let v = c
                .post(&format!("/v1/operations/{id}/seizures"), &body)
                .await?;
            print(t, &v, |v| format!("recorded {}", seizure_line(v)));
        }
        OperationAction::Seizures { id, after, limit } => {
            let v = c
                .get(&format!(
                    "/v1/operations/{id}/seizures{}",
                    query(after, limit)
                ))
                .await?;
            print(t, &v, |v| {
                let list = v["seizures"].as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "no seizures recorded".into();
                }
                let mut out: Vec<String> = list.iter().map(seizure_line).collect();
                if let Some(next) = v["next"].as_str() {
                    out.push(format!("(more: --after {next})"));
                }
                out.join("\n")
            });
        }
        OperationAction::Report { id } => {
            let v = c.get(&format!("/v1/operations/{id}/report")).await?;
            print(t, &v, report_text);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_read_category_count_and_description() {
        assert_eq!(
            parse_item("ammunition:450:9x19 rounds: boxed").unwrap(),
            json!({"category": "ammunition", "count": 450, "description": "9x19 rounds: boxed"})
        );
        assert_eq!(
            parse_item("vehicle:1").unwrap(),
            json!({"category": "vehicle", "count": 1})
        );
        assert!(parse_item("vehicle").is_err());
        assert!(parse_item("vehicle:one").is_err());
    }
}
