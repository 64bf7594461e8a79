//! Output as `az` prints it: indented JSON (with `resourceGroup` added to
//! every resource, as `az` does), or a table of chosen columns.

use anyhow::Result;
use clap::ValueEnum;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Display;
use std::io::Write;

/// `--output`: json (indented), table (aligned columns), tsv (the table's
/// columns without headers) or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Table,
    Tsv,
    None,
}

/// One table column: its header and how to read it from a resource.
pub struct Column<T> {
    pub header: &'static str,
    pub get: fn(&T) -> String,
}

/// A column.
pub const fn col<T>(header: &'static str, get: fn(&T) -> String) -> Column<T> {
    Column { header, get }
}

/// An optional value as table text: empty when absent.
pub fn show<T: Display>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// A JSON value as table text: strings bare, null empty.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        other => other.to_string(),
    }
}

pub use rsvault_arm::resource::resource_group_of;

/// Adds `resourceGroup` beside `id`, as `az` does with every resource.
fn with_resource_group(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(with_resource_group).collect()),
        Value::Object(m) => {
            let mut m = m.clone();
            if let Some(rg) = m
                .get("id")
                .and_then(Value::as_str)
                .and_then(resource_group_of)
                && !m.contains_key("resourceGroup")
            {
                m.insert("resourceGroup".into(), Value::String(rg.to_owned()));
            }
            Value::Object(m)
        }
        other => other.clone(),
    }
}

/// An ISO-8601 duration (`PT1H2M9.87S`) as `az` tables show durations
/// (`1:02:09.870000`); other text is returned as it is.
pub fn duration(iso: &str) -> String {
    let Some(rest) = iso.strip_prefix("PT") else {
        return iso.to_owned();
    };
    let mut secs = 0f64;
    let mut num = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'H' | 'M' | 'S' => {
                let Ok(n) = num.parse::<f64>() else {
                    return iso.to_owned();
                };
                secs += n * match c {
                    'H' => 3600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                num.clear();
            }
            _ => return iso.to_owned(),
        }
    }
    if !num.is_empty() {
        return iso.to_owned();
    }
    let micros = (secs * 1e6).round() as u64;
    let (s, us) = (micros / 1_000_000, micros % 1_000_000);
    let base = format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if us == 0 {
        base
    } else {
        format!("{base}.{us:06}")
    }
}

/// Renders cells as aligned columns under headers and a dashed rule.
fn render(headers: &[String], cells: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = String::new();
    for row in [headers, &rule[..]]
        .into_iter()
        .chain(cells.iter().map(|r| &r[..]))
    {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn cells<T>(columns: &[Column<T>], rows: &[T]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| (c.get)(r).replace(['\n', '\t'], " "))
                .collect()
        })
        .collect()
}

/// Rows as a table of the given columns.
pub fn table<T>(columns: &[Column<T>], rows: &[T]) -> String {
    let headers: Vec<String> = columns.iter().map(|c| c.header.to_owned()).collect();
    render(&headers, &cells(columns, rows))
}

/// Columns for resources without their own: name and the scalar
/// properties found at the top level and in `properties`.
fn generic_rows(rows: &[Value]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut keys: Vec<(bool, String)> = Vec::new();
    for r in rows {
        let scalars = |m: &serde_json::Map<String, Value>, nested: bool, keys: &mut Vec<_>| {
            for (k, v) in m {
                let skip = !nested && matches!(k.as_str(), "id" | "type" | "etag" | "eTag");
                if !skip && !v.is_object() && !v.is_array() && !keys.contains(&(nested, k.clone()))
                {
                    keys.push((nested, k.clone()));
                }
            }
        };
        if let Some(m) = r.as_object() {
            scalars(m, false, &mut keys);
        }
        if let Some(m) = r["properties"].as_object() {
            scalars(m, true, &mut keys);
        }
    }
    let headers = keys.iter().map(|(_, k)| upper_first(k)).collect();
    let cells = rows
        .iter()
        .map(|r| {
            keys.iter()
                .map(|(nested, k)| text(if *nested { &r["properties"][k] } else { &r[k] }))
                .collect()
        })
        .collect();
    (headers, cells)
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn write_out(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Prints one resource (nothing when it serialises to null).
pub fn print_one<T: Serialize>(format: Format, item: &T, columns: &[Column<T>]) -> Result<()> {
    let value = serde_json::to_value(item)?;
    if value.is_null() {
        return Ok(());
    }
    print(format, &value, std::slice::from_ref(item), columns)
}

/// Prints a list of resources.
pub fn print_list<T: Serialize>(format: Format, items: &[T], columns: &[Column<T>]) -> Result<()> {
    print(format, &serde_json::to_value(items)?, items, columns)
}

/// Prints `value` (the JSON of `rows`: one resource or their list).
fn print<T>(format: Format, value: &Value, rows: &[T], columns: &[Column<T>]) -> Result<()> {
    let values: Vec<Value> = match value {
        Value::Array(a) => a.clone(),
        v => vec![v.clone()],
    };
    match format {
        Format::None => Ok(()),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&with_resource_group(value))?;
            s.push('\n');
            write_out(&s)
        }
        Format::Table | Format::Tsv if rows.is_empty() => Ok(()),
        Format::Table if columns.is_empty() => {
            let (headers, cells) = generic_rows(&values);
            if headers.is_empty() {
                return Ok(());
            }
            write_out(&render(&headers, &cells))
        }
        Format::Table => write_out(&table(columns, rows)),
        Format::Tsv => {
            let lines = if columns.is_empty() {
                let values: Vec<Value> = values.iter().map(with_resource_group).collect();
                generic_rows(&values).1
            } else {
                cells(columns, rows)
            };
            let out: String = lines.iter().map(|r| r.join("\t") + "\n").collect();
            write_out(&out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_like_az() {
        assert_eq!(duration("PT9.878S"), "0:00:09.878000");
        assert_eq!(duration("PT1H2M3S"), "1:02:03");
        assert_eq!(duration("PT0S"), "0:00:00");
        assert_eq!(duration("00:20:23.08"), "00:20:23.08");
        assert_eq!(duration("PTxS"), "PTxS");
    }

    #[test]
    fn tables_align_under_headers() {
        let cols: [Column<Value>; 2] = [
            col("Name", |v| text(&v["name"])),
            col("Status", |v| text(&v["properties"]["status"])),
        ];
        let rows = [
            json!({"name": "a-long-name", "properties": {"status": "Completed"}}),
            json!({"name": "b", "properties": {}}),
        ];
        assert_eq!(
            table(&cols, &rows),
            "Name         Status\n-----------  ---------\na-long-name  Completed\nb\n"
        );
    }

    #[test]
    fn resource_group_is_added_from_the_id() {
        let v = with_resource_group(
            &json!([{"id": "/subscriptions/s/resourceGroups/rg1/providers/x/y/z"}]),
        );
        assert_eq!(v[0]["resourceGroup"], "rg1");
        assert_eq!(resource_group_of("/subscriptions/s"), None);
    }
}
