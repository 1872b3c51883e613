//! The policy adapter: `WasmPolicy` and what a `verify-request` call sees (`ICertServerPolicy`).

use super::*;

/// An edit a policy module made, replayed on the real draft once it returns a verdict.
enum Edit {
    Subject(DistinguishedName),
    Sans(Vec<San>),
    Validity(SystemTime, SystemTime),
    SetExtension(Extension),
    Disable(String),
    Enable(String),
}

/// What one `verify-request` call sees and does (`ICertServerPolicy`).
struct PolicyState {
    /// `None` during `initialize`, which has no request: every property reads as absent.
    request: Option<RequestProps>,
    approver: Option<String>,
    draft: Option<Draft>,
    edits: Vec<Edit>,
    limits: CallLimits,
    log: CallLog,
}

fn policy_limiter(s: &mut PolicyState) -> &mut CallLimits {
    &mut s.limits
}

fn ca_info_policy(ca: &CaInfo) -> policy_types::CaInfo {
    policy_types::CaInfo {
        name: ca.name.as_str().to_string(),
        config: ca.config.clone(),
        subject: ca.subject.to_string(),
        certificate: ca.certificate.clone(),
    }
}

fn policy_extension(e: &signet_core::model::StoredExtension) -> policy_types::Extension {
    policy_types::Extension {
        oid: e.oid.clone(),
        critical: e.critical,
        disabled: e.disabled,
        origin: e.origin.as_str().to_string(),
        value: e.value.clone(),
    }
}

const NO_DRAFT: &str = "there is no certificate to edit during initialize";

impl policy_types::Host for PolicyState {}

impl policy_world::signet::modules::policy_server::Host for PolicyState {
    fn get_request_property(&mut self, name: String) -> Option<policy_types::Value> {
        use policy_types::Value;
        let r = self.request.as_ref()?;
        Some(match name.as_str() {
            "RequestID" => Value::Number(r.id?.get()),
            "RequesterName" => Value::Text(r.requester.clone()?),
            "CertificateTemplate" => Value::Text(r.profile.as_str().to_string()),
            "Subject" => Value::Text(r.csr.subject.to_string()),
            "SubjectAltNames" => Value::Text(sans_text(&r.csr.sans)),
            "PublicKeyAlgorithm" => Value::Text(key_name(r.csr.key).to_string()),
            "PublicKeyLength" => Value::Number(match r.csr.key {
                signet_x509::KeyAlgorithm::Rsa { bits } => i64::from(bits),
                _ => 0,
            }),
            "RawPublicKey" => Value::Binary(r.csr.spki_der.clone()),
            "RawRequest" => Value::Binary(r.csr.der.clone()),
            "SubmittedWhen" => Value::Date(unix_seconds(r.submitted_at)),
            "Officer" => Value::Text(self.approver.clone()?),
            _ => return None,
        })
    }

    fn get_request_attribute(&mut self, name: String) -> Option<String> {
        self.request
            .as_ref()?
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.clone())
    }

    fn get_certificate_property(&mut self, name: String) -> Option<policy_types::Value> {
        use policy_types::Value;
        let draft = self.draft.as_ref()?;
        Some(match name.as_str() {
            "Subject" => Value::Text(draft.subject().to_string()),
            "SubjectAltNames" => Value::Text(sans_text(draft.sans())),
            "NotBefore" => Value::Date(unix_seconds(draft.not_before())),
            "NotAfter" => Value::Date(unix_seconds(draft.not_after())),
            "RawPublicKey" => Value::Binary(self.request.as_ref()?.csr.spki_der.clone()),
            _ => return None,
        })
    }

    fn set_certificate_property(
        &mut self,
        name: String,
        value: policy_types::Value,
    ) -> Result<(), String> {
        use policy_types::Value;
        let draft = self.draft.as_mut().ok_or(NO_DRAFT)?;
        match (name.as_str(), value) {
            ("Subject", Value::Text(text)) => {
                let dn = DistinguishedName::parse(&text)
                    .map_err(|e| format!("Subject {text:?}: {e}"))?;
                draft.set_subject(dn.clone());
                self.edits.push(Edit::Subject(dn));
            }
            ("SubjectAltNames", Value::Text(text)) => {
                let sans = parse_sans(&text).map_err(to_guest)?;
                draft.set_sans(sans.clone());
                self.edits.push(Edit::Sans(sans));
            }
            (field @ ("NotBefore" | "NotAfter"), Value::Date(seconds)) => {
                let at = from_unix_seconds(seconds)
                    .ok_or_else(|| format!("{field}: {seconds} is out of range"))?;
                let (nb, na) = match field {
                    "NotBefore" => (at, draft.not_after()),
                    _ => (draft.not_before(), at),
                };
                draft.set_validity(nb, na).map_err(to_guest)?;
                self.edits.push(Edit::Validity(nb, na));
            }
            ("Subject" | "SubjectAltNames", _) => return Err(format!("{name} takes text")),
            ("NotBefore" | "NotAfter", _) => return Err(format!("{name} takes a date")),
            _ => {
                return Err(format!(
                    "{name:?} cannot be set (settable: Subject, SubjectAltNames, NotBefore, NotAfter)"
                ));
            }
        }
        Ok(())
    }

    fn enumerate_extensions(&mut self) -> Vec<String> {
        match &self.draft {
            Some(d) => d.extensions().iter().map(|e| e.oid.clone()).collect(),
            None => Vec::new(),
        }
    }

    fn get_certificate_extension(&mut self, oid: String) -> Option<policy_types::Extension> {
        self.draft.as_ref()?.extension(&oid).map(policy_extension)
    }

    fn set_certificate_extension(
        &mut self,
        oid: String,
        critical: bool,
        value: Vec<u8>,
    ) -> Result<(), String> {
        if !signet_x509::ext::is_dotted_oid(&oid) {
            return Err(format!("{oid:?} is not a dotted OID"));
        }
        let draft = self.draft.as_mut().ok_or(NO_DRAFT)?;
        if let Err(e) = signet_x509::ext::check_der_tree(&value) {
            return Err(format!(
                "the value of extension {oid} is not well-formed DER: {e}"
            ));
        }
        let ext = Extension {
            oid,
            critical,
            value,
        };
        draft
            .set_extension(ext.clone(), ExtensionOrigin::Policy)
            .map_err(to_guest)?;
        self.edits.push(Edit::SetExtension(ext));
        Ok(())
    }

    fn disable_extension(&mut self, oid: String) -> Result<(), String> {
        let draft = self.draft.as_mut().ok_or(NO_DRAFT)?;
        draft.disable_extension(&oid).map_err(to_guest)?;
        self.edits.push(Edit::Disable(oid));
        Ok(())
    }

    fn enable_extension(&mut self, oid: String) -> Result<(), String> {
        let draft = self.draft.as_mut().ok_or(NO_DRAFT)?;
        draft.enable_extension(&oid).map_err(to_guest)?;
        self.edits.push(Edit::Enable(oid));
        Ok(())
    }

    fn log(&mut self, level: policy_types::Level, message: String) {
        self.log.write(level as u8, &message);
    }
}

fn key_name(key: signet_x509::KeyAlgorithm) -> &'static str {
    use signet_x509::KeyAlgorithm;
    match key {
        KeyAlgorithm::P256 => "p256",
        KeyAlgorithm::P384 => "p384",
        KeyAlgorithm::Ed25519 => "ed25519",
        KeyAlgorithm::Rsa { .. } => "rsa",
        KeyAlgorithm::MlDsa65 => "mldsa65",
    }
}

/// The `wasm` policy module.
pub struct WasmPolicy {
    name: Arc<str>,
    path: PathBuf,
    limits: Limits,
    pre: policy_world::PolicyPre<PolicyState>,
}

impl std::fmt::Debug for WasmPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPolicy")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl WasmPolicy {
    pub fn from_toml(config: &toml::Value, data_dir: &Path) -> Result<WasmPolicy, ConfigError> {
        let loaded = load("wasm", config, data_dir)?;
        if loaded.events.is_some() {
            return Err(ConfigError::new("wasm", "`events` is for exit modules"));
        }
        let engine = engine().map_err(|e| ConfigError::caused("wasm", "the engine", e))?;
        let mut linker: Linker<PolicyState> = Linker::new(engine);
        policy_world::Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| ConfigError::new("wasm", format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&loaded.component)
            .and_then(policy_world::PolicyPre::new)
            .map_err(|e| {
                ConfigError::new(
                    "wasm",
                    format!(
                        "{}: not a Signet policy module (world signet:modules/policy): {e:#}",
                        loaded.path.display()
                    ),
                )
            })?;
        let name: Arc<str> = loaded
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "wasm".into())
            .into();
        Ok(WasmPolicy {
            name,
            path: loaded.path,
            limits: loaded.limits,
            pre,
        })
    }

    fn failure(&self, what: &str, message: impl std::fmt::Display) -> ModuleError {
        ModuleError::new(format!("wasm {}", self.name), format!("{what}: {message}"))
    }

    /// Runs `f` against a fresh instance, with the module's limits.
    fn call<R>(
        &self,
        state: PolicyState,
        what: &str,
        f: impl FnOnce(&policy_world::Policy, &mut Store<PolicyState>) -> wasmtime::Result<R>,
    ) -> Result<(R, PolicyState), ModuleError> {
        let engine = self.pre.engine();
        let mut store = store(engine, self.limits, state, policy_limiter)
            .map_err(|e| self.failure(what, CallFailure::Setup(e)))?;
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        match result {
            Ok(r) => Ok((r, store.into_data())),
            Err(e) => {
                let memory_refused = store.data().limits.memory_refused;
                Err(self.failure(what, CallFailure::of(e, self.limits, memory_refused)))
            }
        }
    }

    fn state(&self, request: Option<RequestProps>, draft: Option<Draft>) -> PolicyState {
        PolicyState {
            request,
            approver: None,
            draft,
            edits: Vec::new(),
            limits: store_limits(self.limits),
            log: CallLog {
                module: self.name.clone(),
                lines: 0,
            },
        }
    }
}

impl Policy for WasmPolicy {
    fn name(&self) -> &str {
        "wasm"
    }
    fn description(&self) -> String {
        format!("WebAssembly policy module {}", self.path.display())
    }
    fn start(&self, ca: &CaInfo) -> Result<(), ModuleError> {
        let state = self.state(None, None);
        let info = ca_info_policy(ca);
        let (result, _) = self.call(state, "initialize", |p, s| p.call_initialize(s, &info))?;
        result.map_err(|m| self.failure("initialize", format!("the module refused to start: {m}")))
    }
    fn has_profile(&self, _profile: &ProfileName) -> bool {
        false
    }
    fn profiles(&self) -> Vec<ProfileName> {
        Vec::new()
    }
    fn default_profile(&self) -> Option<ProfileName> {
        None
    }
    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        let mut state = self.state(Some(ctx.request().clone()), Some(ctx.draft().clone()));
        state.approver = ctx.approver().map(str::to_string);
        let new_request = ctx.is_new_request();
        let (verdict, state) = self.call(state, "verify-request", |p, s| {
            p.call_verify_request(s, new_request)
        })?;
        for edit in state.edits {
            let applied = match edit {
                Edit::Subject(dn) => {
                    ctx.set_subject(dn);
                    Ok(())
                }
                Edit::Sans(sans) => {
                    ctx.set_sans(sans);
                    Ok(())
                }
                Edit::Validity(nb, na) => ctx.set_validity(nb, na),
                Edit::SetExtension(ext) => ctx.set_extension(ext),
                Edit::Disable(oid) => ctx.disable_extension(&oid),
                Edit::Enable(oid) => ctx.enable_extension(&oid),
            };
            applied.map_err(|e| self.failure("verify-request", e))?;
        }
        Ok(match verdict {
            policy_types::Verdict::Issue => Verdict::Issue,
            policy_types::Verdict::Pending(m) => Verdict::Pending(bounded_message(m)),
            policy_types::Verdict::Deny(m) => Verdict::Deny(bounded_message(m)),
        })
    }
}
