//! What an S3 server said, in one line an administrator can act on.
//!
//! OpenDAL reports a refused request with its whole context (operation,
//! URI, response headers) and the server's error body as it parsed it
//! (`S3Error { code: .., message: .., .. }`, or the raw XML when it could
//! not). A message for people needs the status, the S3 error code, the
//! server's sentence and what to do about it; the rest stays in the error's
//! source for the debug log.

/// The parts of an S3 error answer that matter to a person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct S3Said {
    /// HTTP status of the answer.
    pub status: Option<u16>,
    /// S3 error code (`AccessDenied`, `NoSuchBucket`, ...).
    pub code: Option<String>,
    /// The server's own sentence.
    pub message: Option<String>,
}

/// The text after `start` up to the next unescaped `end`.
fn between(text: &str, start: &str, end: char) -> Option<String> {
    let rest = &text[text.find(start)? + start.len()..];
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            c if c == end => return Some(out),
            c => out.push(c),
        }
    }
    None
}

fn tag(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let rest = &text[text.find(&open)? + open.len()..];
    Some(rest[..rest.find(&format!("</{name}>"))?].trim().to_string())
}

impl S3Said {
    /// Reads an OpenDAL error's `message` (the parsed or raw error body)
    /// and its full text (for the status); `None` if it holds no S3 answer.
    pub(crate) fn read(message: &str, full: &str) -> Option<S3Said> {
        let status = between(full, "status: ", ',').and_then(|s| s.trim().parse().ok());
        let said = if message.starts_with("S3Error {") {
            S3Said {
                status,
                code: between(message, "code: \"", '"').filter(|c| !c.is_empty()),
                message: between(message, "message: \"", '"').filter(|m| !m.is_empty()),
            }
        } else if message.contains("<Error>") || message.contains("</Error>") {
            S3Said { status, code: tag(message, "Code"), message: tag(message, "Message") }
        } else {
            return None;
        };
        (said.code.is_some() || said.status.is_some()).then_some(said)
    }

    /// The S3 error code of an error answer's body (`<Code>…</Code>`).
    pub(crate) fn code_in_body(body: &str) -> Option<String> {
        tag(body, "Code")
    }

    /// What to do about it, for the codes a configuration can cause.
    pub(crate) fn hint(&self) -> Option<&'static str> {
        Some(match self.code.as_deref()? {
            "InvalidAccessKeyId" => "the access key is not known to the cluster: check credentials_file",
            "SignatureDoesNotMatch" => "the secret key does not match the access key: check credentials_file",
            "AccessDenied" => {
                "the keys' user may not do this on the bucket: check the view's S3 policy and the user's identity policy"
            }
            "NoSuchBucket" => "the bucket does not exist: create it (vastost setup) or check the LSU name",
            "RequestTimeTooSkewed" => "the media server's clock is off: synchronise it (NTP)",
            "NotImplemented" => "this server does not implement the call",
            "InvalidBucketState" | "InvalidRequest" if self.message.as_deref().is_some_and(|m| m.contains("lock")) => {
                "the bucket's Object Lock setting does not allow this"
            }
            _ => return None,
        })
    }

    /// `403 AccessDenied: Access Denied (the keys' user may not ...)`.
    pub(crate) fn line(&self) -> String {
        let mut out = String::new();
        if let Some(s) = self.status {
            out.push_str(&format!("{s} "));
        }
        out.push_str(self.code.as_deref().unwrap_or("error"));
        if let Some(m) = &self.message {
            out.push_str(&format!(": {m}"));
        }
        if let Some(h) = self.hint() {
            out.push_str(&format!(" ({h})"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opendal_dump_becomes_one_line_with_the_fix() {
        let message = r#"S3Error { code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.", resource: "", request_id: "4442587FB7D0A2F9" }"#;
        let full = format!(
            "PermissionDenied (persistent) at list, context: {{ service_operation: ListObjectsV2, uri: http://x/b?list-type=2, response: Parts {{ status: 403, version: HTTP/1.1, headers: {{}} }} }} => {message}"
        );
        let said = S3Said::read(message, &full).unwrap();
        assert_eq!(
            said.line(),
            "403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records. \
             (the access key is not known to the cluster: check credentials_file)"
        );
    }

    #[test]
    fn the_code_of_a_body_is_read() {
        let body = "<?xml version=\"1.0\"?><Error><Code>BadDigest</Code><Message>x</Message></Error>";
        assert_eq!(S3Said::code_in_body(body).as_deref(), Some("BadDigest"));
    }

    #[test]
    fn a_raw_body_is_read_too_and_other_text_is_not_an_answer() {
        let body = "<?xml version=\"1.0\"?>\n<Error>\n  <Code>NotImplemented</Code>\n  <Message>A header you provided implies functionality that is not implemented</Message>\n</Error>";
        let said = S3Said::read(body, "Unexpected at list, context: { response: Parts { status: 501, x } }").unwrap();
        assert_eq!((said.status, said.code.as_deref()), (Some(501), Some("NotImplemented")));
        assert!(said.line().starts_with("501 NotImplemented: A header"), "{}", said.line());
        assert_eq!(S3Said::read("connection refused", "Unexpected => connection refused"), None);
    }
}
