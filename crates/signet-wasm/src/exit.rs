//! The exit adapter: `WasmExit` and what a `notify` call sees (`ICertServerExit`).

use super::*;

/// What one `notify` call sees (`ICertServerExit`), read-only.
struct ExitState {
    /// `None` during `initialize`.
    event: Option<ExitCtx>,
    limits: CallLimits,
    log: CallLog,
}

fn exit_limiter(s: &mut ExitState) -> &mut CallLimits {
    &mut s.limits
}

impl exit_types::Host for ExitState {}

impl exit_world::signet::modules::exit_server::Host for ExitState {
    fn get_request_property(&mut self, name: String) -> Option<exit_types::Value> {
        use exit_types::Value;
        let r = self.event.as_ref()?.request.as_ref()?;
        Some(match name.as_str() {
            "RequestID" => Value::Number(r.id.get()),
            "RequesterName" => Value::Text(r.requester.clone()?),
            "CertificateTemplate" => Value::Text(r.profile.as_ref()?.as_str().to_string()),
            "Subject" => Value::Text(r.subject.clone()),
            "Disposition" => Value::Text(r.status.as_str().to_string()),
            "DispositionMessage" => Value::Text(r.message.clone()?),
            "RequestType" => Value::Text(r.format.clone()),
            "RawRequest" => Value::Binary(r.raw.clone()),
            "SubmittedWhen" => Value::Date(unix_seconds(r.submitted_at)),
            "ResolvedWhen" => Value::Date(unix_seconds(r.resolved_at?)),
            _ => return None,
        })
    }

    fn get_request_attribute(&mut self, name: String) -> Option<String> {
        self.event.as_ref()?.attribute(&name).map(str::to_string)
    }

    fn get_certificate_property(&mut self, name: String) -> Option<exit_types::Value> {
        use exit_types::Value;
        let c = self
            .event
            .as_ref()?
            .request
            .as_ref()?
            .certificate
            .as_ref()?;
        Some(match name.as_str() {
            "RawCertificate" => Value::Binary(c.der.clone()),
            "SerialNumber" => Value::Text(c.serial.to_hex()),
            "Subject" => Value::Text(c.subject.clone()),
            "SubjectAltNames" => Value::Text(c.sans.join(", ")),
            "NotBefore" => Value::Date(unix_seconds(c.not_before)),
            "NotAfter" => Value::Date(unix_seconds(c.not_after)),
            _ => return None,
        })
    }

    fn enumerate_extensions(&mut self) -> Vec<String> {
        match self.event.as_ref().and_then(|e| e.request.as_ref()) {
            Some(r) => r.extensions.iter().map(|e| e.oid.clone()).collect(),
            None => Vec::new(),
        }
    }

    fn get_certificate_extension(&mut self, oid: String) -> Option<exit_types::Extension> {
        let r = self.event.as_ref()?.request.as_ref()?;
        r.extensions
            .iter()
            .find(|e| e.oid == oid)
            .map(|e| exit_types::Extension {
                oid: e.oid.clone(),
                critical: e.critical,
                disabled: e.disabled,
                origin: e.origin.as_str().to_string(),
                value: e.value.clone(),
            })
    }

    fn log(&mut self, level: exit_types::Level, message: String) {
        self.log.write(level as u8, &message);
    }
}

fn event_flag(e: Event) -> exit_types::Events {
    use exit_types::Events;
    match e {
        Event::Issued => Events::ISSUED,
        Event::Pending => Events::PENDING,
        Event::Denied => Events::DENIED,
        Event::Revoked => Events::REVOKED,
        Event::RetrievePending => Events::RETRIEVE_PENDING,
        Event::CrlIssued => Events::CRL_ISSUED,
        Event::Shutdown => Events::SHUTDOWN,
        Event::Startup => Events::STARTUP,
        Event::Imported => Events::IMPORTED,
        // Signet's own event has no flag in the WIT world: a wasm exit cannot ask for it.
        Event::AuditCheckpoint => Events::empty(),
    }
}

fn event_mask(flags: exit_types::Events) -> EventMask {
    let mut mask = EventMask::NONE;
    for e in Event::ALL {
        // AuditCheckpoint has no flag (an empty one, which every set "contains").
        if e != Event::AuditCheckpoint && flags.contains(event_flag(e)) {
            mask = EventMask(mask.0 | e.bit());
        }
    }
    mask
}

/// The `wasm` exit module.
pub struct WasmExit {
    name: String,
    log_name: Arc<str>,
    path: PathBuf,
    limits: Limits,
    /// Configured narrowing of the module's own choice of events.
    narrow: Option<EventMask>,
    pre: exit_world::ExitPre<ExitState>,
}

impl std::fmt::Debug for WasmExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmExit")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WasmExit {
    pub fn from_toml(
        name: &str,
        config: &toml::Value,
        data_dir: &Path,
    ) -> Result<WasmExit, ConfigError> {
        let loaded = load("wasm", config, data_dir)?;
        let narrow = match &loaded.events {
            Some(names) => Some(signet_exits::common::parse_mask("wasm", Some(names))?),
            None => None,
        };
        let engine = engine().map_err(|e| ConfigError::caused("wasm", "the engine", e))?;
        let mut linker: Linker<ExitState> = Linker::new(engine);
        exit_world::Exit::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| ConfigError::new("wasm", format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&loaded.component)
            .and_then(exit_world::ExitPre::new)
            .map_err(|e| {
                ConfigError::new(
                    "wasm",
                    format!(
                        "{}: not a Signet exit module (world signet:modules/exit): {e:#}",
                        loaded.path.display()
                    ),
                )
            })?;
        Ok(WasmExit {
            name: name.to_string(),
            log_name: name.into(),
            path: loaded.path,
            limits: loaded.limits,
            narrow,
            pre,
        })
    }

    fn state(&self, event: Option<ExitCtx>) -> ExitState {
        ExitState {
            event,
            limits: store_limits(self.limits),
            log: CallLog {
                module: self.log_name.clone(),
                lines: 0,
            },
        }
    }

    fn call<R>(
        pre: &exit_world::ExitPre<ExitState>,
        limits: Limits,
        state: ExitState,
        f: impl FnOnce(&exit_world::Exit, &mut Store<ExitState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallFailure> {
        let mut store =
            store(pre.engine(), limits, state, exit_limiter).map_err(CallFailure::Setup)?;
        pre.instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store))
            .map_err(|e| CallFailure::of(e, limits, store.data().limits.memory_refused))
    }
}

impl Exit for WasmExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        format!("WebAssembly exit module {}", self.path.display())
    }
    fn start(&self, ca: &CaInfo) -> Result<EventMask, ModuleError> {
        let info = exit_types::CaInfo {
            name: ca.name.as_str().to_string(),
            config: ca.config.clone(),
            subject: ca.subject.to_string(),
            certificate: ca.certificate.clone(),
        };
        let wanted = Self::call(&self.pre, self.limits, self.state(None), |e, s| {
            e.call_initialize(s, &info)
        })
        .map_err(|m| ModuleError::new(&self.name, format!("initialize: {m}")))?
        .map_err(|m| {
            ModuleError::new(
                &self.name,
                format!(
                    "initialize: the module refused to start: {}",
                    bounded_message(m)
                ),
            )
        })?;
        let mask = event_mask(wanted);
        Ok(match self.narrow {
            Some(n) => EventMask(mask.0 & n.0),
            None => mask,
        })
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            // A call may run for its whole deadline: keep it off the runtime's threads.
            let pre = self.pre.clone();
            let limits = self.limits;
            let event = exit_types::Event {
                kind: event_flag(ctx.event),
                seq: ctx.seq,
                at: unix_seconds(ctx.at),
                details: ctx.details.clone(),
            };
            let state = self.state(Some(ctx.clone()));
            let outcome = tokio::task::spawn_blocking(move || {
                Self::call(&pre, limits, state, |e, s| e.call_notify(s, &event))
            })
            .await
            .map_err(|e| ModuleError::new(&self.name, format!("notify task: {e}")))?;
            match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(m)) => Err(ModuleError::new(
                    &self.name,
                    format!("notify: the module reported: {}", bounded_message(m)),
                )),
                Err(m) => Err(ModuleError::new(&self.name, format!("notify: {m}"))),
            }
        })
    }
}
