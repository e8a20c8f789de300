//! Reading the text format back (what `vastost stats` shows): samples with
//! their labels, comments skipped.

/// One sample of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_bucket`, `_sum`, `_count` for histograms).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The samples of `text`; lines that are not samples are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (name, value) = line.split_once(' ')?;
            return Some(Sample { name: name.into(), labels: Vec::new(), value: value.trim().parse().ok()? });
        }
    };
    let mut labels = Vec::new();
    let mut chars = rest.char_indices().peekable();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        if c == '}' {
            end = Some(i);
            break;
        }
        if c == ',' || c == ' ' {
            continue;
        }
        // key="value"
        let key_start = i;
        let mut key_end = i;
        for (j, c) in chars.by_ref() {
            if c == '=' {
                key_end = j;
                break;
            }
        }
        let key = rest[key_start..key_end].to_string();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return None;
        }
        let mut value = String::new();
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => return None,
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.push((key, value));
    }
    let value = rest[end? + 1..].trim().parse().ok()?;
    Some(Sample { name: name.to_string(), labels, value })
}
