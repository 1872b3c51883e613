//! `rules`: declarative issuance rules in CEL (Common Expression Language), like Google CAS
//! issuance policies. Each rule has a condition (`when`), an action (`deny`, `pending` or
//! `allow`) and a message; the first rule whose condition holds decides, and when none does
//! the request passes. The module builds nothing itself: it runs in a `chain` after a module
//! that does (usually `profiles`), and sees that module's edits.
//!
//! Variables (all always present):
//! - `request`: what was asked: `subject` (RFC 4514 string), `common_name`, `sans` (every SAN
//!   as `dns:NAME`, `ip:ADDR`, `email:ADDR`, `uri:URI`), `dns`, `ips`, `emails`, `uris`,
//!   `key` (`p256`, `p384`, `ed25519`, `rsa`, `mldsa65`), `key_bits` (RSA modulus, else 0),
//!   `requester` (`""` when anonymous), `profile`, `attributes` (map of name to value),
//!   `new_request` (false on an officer's resubmission).
//! - `cert`: the certificate as the modules before this one left it: `subject`, `sans`,
//!   `dns`, `validity_days`.
//!
//! Every expression is compiled when the configuration loads and must name only these
//! variables; a rule that does not compile, names anything else, or has an unknown action
//! stops the load with a message naming the rule. A condition that fails at run time or is
//! not a boolean fails the request (`failed`, with an incident id in the log): a broken
//! rule must never let a request through.
//!
//! `pending` holds new requests only: when a certificate manager approves, the request is
//! resubmitted and a `pending` rule no longer holds it (the approval is the review).

use std::collections::BTreeMap;

use cel::{Context, Program, Value};
use serde::{Deserialize, Serialize};
use signet_core::{CaInfo, ModuleError, Policy, PolicyCtx, ProfileName, Verdict};
use signet_x509::{KeyAlgorithm, San};

use crate::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    Deny,
    Pending,
    Allow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    name: String,
    when: String,
    action: Action,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleConfig {
    #[serde(default)]
    module: Option<String>,
    rules: Vec<RuleConfig>,
}

struct Rule {
    name: String,
    source: String,
    program: Program,
    action: Action,
    message: String,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("when", &self.source)
            .field("action", &self.action)
            .finish()
    }
}

/// The `rules` policy module.
pub struct RulesPolicy {
    rules: Vec<Rule>,
    /// The CEL standard environment, built once: building it per request costs more than
    /// evaluating the rules.
    env: std::sync::Arc<cel::Env>,
}

impl std::fmt::Debug for RulesPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesPolicy")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// The variables a rule may name.
const VARIABLES: [&str; 2] = ["request", "cert"];
pub const MAX_RULES: usize = 256;
const MAX_EXPRESSION: usize = 4096;

impl RulesPolicy {
    pub fn from_toml(config: &toml::Value) -> Result<RulesPolicy, ConfigError> {
        let err = |m: String| ConfigError::new("rules", m);
        let parsed: ModuleConfig = config
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| err(e.message().to_string()))?;
        let _ = parsed.module;
        if parsed.rules.is_empty() || parsed.rules.len() > MAX_RULES {
            return Err(err(format!(
                "between 1 and {MAX_RULES} [[rules]] are needed"
            )));
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(parsed.rules.len());
        for r in parsed.rules {
            let name = r.name.trim().to_string();
            if name.is_empty() || rules.iter().any(|x| x.name == name) {
                return Err(err(format!(
                    "rule names must be unique and non-empty ({name:?})"
                )));
            }
            if r.when.len() > MAX_EXPRESSION {
                return Err(err(format!(
                    "rule {name}: `when` is longer than {MAX_EXPRESSION} bytes"
                )));
            }
            let program = Program::compile(&r.when)
                .map_err(|e| err(format!("rule {name}: `when` does not compile: {e}")))?;
            let references = program.references();
            let bound = comprehension_variables(&r.when);
            if let Some(unknown) = references
                .variables()
                .into_iter()
                .find(|v| !VARIABLES.contains(v) && !bound.iter().any(|b| b == v))
            {
                return Err(err(format!(
                    "rule {name}: unknown variable {unknown:?} (rules see {})",
                    VARIABLES.join(" and ")
                )));
            }
            let message = r.message.unwrap_or_else(|| match r.action {
                Action::Deny => format!("denied by rule {name}"),
                Action::Pending => {
                    format!("rule {name} requires approval by a certificate manager")
                }
                Action::Allow => String::new(),
            });
            rules.push(Rule {
                name,
                source: r.when,
                program,
                action: r.action,
                message,
            });
        }
        Ok(RulesPolicy {
            rules,
            env: std::sync::Arc::new(cel::Env::stdlib()),
        })
    }
}

/// The variables the macros bind (`list.exists(x, ...)`, `all`, `exists_one`, `map`,
/// `filter`): the parser reports them as references like any other name.
fn comprehension_variables(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in ["all", "exists", "exists_one", "map", "filter"] {
        let pattern = format!(".{m}(");
        let mut rest = source;
        while let Some(i) = rest.find(&pattern) {
            rest = &rest[i + pattern.len()..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let after = rest.trim_start()[name.len()..].trim_start();
            if !name.is_empty() && after.starts_with(',') {
                out.push(name);
            }
        }
    }
    out
}

#[derive(Serialize)]
struct RequestView {
    subject: String,
    common_name: String,
    sans: Vec<String>,
    dns: Vec<String>,
    ips: Vec<String>,
    emails: Vec<String>,
    uris: Vec<String>,
    key: &'static str,
    key_bits: u32,
    requester: String,
    profile: String,
    attributes: BTreeMap<String, String>,
    new_request: bool,
}

#[derive(Serialize)]
struct CertView {
    subject: String,
    sans: Vec<String>,
    dns: Vec<String>,
    validity_days: u64,
}

fn dns(sans: &[San]) -> Vec<String> {
    sans.iter()
        .filter_map(|s| match s {
            San::Dns(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn views(ctx: &PolicyCtx<'_>) -> (RequestView, CertView) {
    let sans = ctx.request_sans();
    let pick = |f: fn(&San) -> Option<String>| sans.iter().filter_map(f).collect::<Vec<_>>();
    let (key, key_bits) = match ctx.public_key() {
        KeyAlgorithm::P256 => ("p256", 0),
        KeyAlgorithm::P384 => ("p384", 0),
        KeyAlgorithm::Ed25519 => ("ed25519", 0),
        KeyAlgorithm::Rsa { bits } => ("rsa", bits),
        KeyAlgorithm::MlDsa65 => ("mldsa65", 0),
    };
    let request = RequestView {
        subject: ctx.request_subject().to_string(),
        common_name: ctx.request_subject().common_name().unwrap_or_default(),
        sans: sans.iter().map(ToString::to_string).collect(),
        dns: dns(sans),
        ips: pick(|s| match s {
            San::Ip(ip) => Some(ip.to_string()),
            _ => None,
        }),
        emails: pick(|s| match s {
            San::Email(e) => Some(e.clone()),
            _ => None,
        }),
        uris: pick(|s| match s {
            San::Uri(u) => Some(u.clone()),
            _ => None,
        }),
        key,
        key_bits,
        requester: ctx.requester().unwrap_or_default().to_string(),
        profile: ctx.profile().to_string(),
        attributes: ctx
            .request()
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        new_request: ctx.is_new_request(),
    };
    let draft = ctx.draft();
    let cert = CertView {
        subject: draft.subject().to_string(),
        sans: draft.sans().iter().map(ToString::to_string).collect(),
        dns: dns(draft.sans()),
        validity_days: draft
            .not_after()
            .duration_since(draft.not_before())
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0),
    };
    (request, cert)
}

impl Policy for RulesPolicy {
    fn name(&self) -> &str {
        "rules"
    }

    fn description(&self) -> String {
        format!("CEL issuance rules ({})", self.rules.len())
    }

    fn start(&self, ca: &CaInfo) -> Result<(), ModuleError> {
        tracing::info!(ca = %ca.name, rules = self.rules.len(), "rules policy started");
        Ok(())
    }

    /// Rules apply to every profile; the profiles come from the other modules of the chain.
    fn has_profile(&self, _profile: &ProfileName) -> bool {
        true
    }

    fn profiles(&self) -> Vec<ProfileName> {
        Vec::new()
    }

    fn default_profile(&self) -> Option<ProfileName> {
        None
    }

    /// Rules read the certificate's names (`cert.sans`, `cert.dns`), so an officer's
    /// subjectAltName edit, applied after the rules ran, would escape them: refused. The
    /// other edits the engine allows (key usage, purposes, basicConstraints) are outside
    /// what rules can see, and left to the module that owns the profile.
    fn check_edit(
        &self,
        _request: &signet_core::RequestProps,
        edit: &signet_core::ExtensionEdit,
    ) -> Result<(), signet_core::EditRefused> {
        if edit.oid == signet_x509::ext::oid::SUBJECT_ALT_NAME {
            return Err(signet_core::EditRefused::Policy(
                "the rules module checks the certificate's names, and an edited subjectAltName would bypass its rules; submit a new request with the names instead".into(),
            ));
        }
        Ok(())
    }

    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        let failed = |m: String| ModuleError::new("rules", m);
        let (request, cert) = views(ctx);
        let mut context = Context::with_env(std::sync::Arc::clone(&self.env));
        context
            .add_variable(
                "request",
                cel::to_value(&request).map_err(|e| failed(e.to_string()))?,
            )
            .map_err(|e| failed(e.to_string()))?;
        context
            .add_variable(
                "cert",
                cel::to_value(&cert).map_err(|e| failed(e.to_string()))?,
            )
            .map_err(|e| failed(e.to_string()))?;
        for rule in &self.rules {
            let holds = match rule.program.execute(&context) {
                Ok(Value::Bool(b)) => b,
                Ok(other) => {
                    return Err(failed(format!(
                        "rule {}: `when` gave {other:?}, not a boolean",
                        rule.name
                    )));
                }
                Err(e) => return Err(failed(format!("rule {}: {e}", rule.name))),
            };
            if !holds {
                continue;
            }
            tracing::debug!(rule = %rule.name, action = ?rule.action, "rule matched");
            return Ok(match rule.action {
                Action::Deny => Verdict::Deny(rule.message.clone()),
                Action::Pending if ctx.is_new_request() => Verdict::Pending(rule.message.clone()),
                Action::Pending | Action::Allow => Verdict::Issue,
            });
        }
        Ok(Verdict::Issue)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rules(when: &str) -> Result<RulesPolicy, ConfigError> {
        let toml = format!("[[rules]]\nname = \"r\"\nwhen = '{when}'\naction = \"deny\"\n");
        RulesPolicy::from_toml(&toml::from_str::<toml::Value>(&toml).unwrap())
    }

    #[test]
    fn expressions_are_checked_at_load() {
        rules("request.dns.exists(d, d.endsWith(\".test\"))").unwrap();
        rules("request.sans.all(s, s.startsWith(\"dns:\")) && cert.validity_days < 90").unwrap();
        let e = rules("request.dns.exists(d, e == 1)")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variable \"e\""), "{e}");
        let e = rules("reqest.dns.size() > 0").unwrap_err().to_string();
        assert!(e.contains("unknown variable \"reqest\""), "{e}");
        let e = rules("request.dns +").unwrap_err().to_string();
        assert!(e.contains("does not compile"), "{e}");
    }

    #[test]
    fn comprehension_variables_are_found() {
        assert_eq!(
            comprehension_variables("a.exists(d, d > 1) && b.map( x , x).all(y,y)"),
            ["y", "d", "x"]
        );
        assert!(comprehension_variables("f.exists(nocomma)").is_empty());
    }
}
