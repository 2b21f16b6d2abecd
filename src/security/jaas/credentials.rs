//! Login module entries mapped to the [`Credentials`] kmirror uses.

use super::*;

pub(super) fn entries_credentials(
    entries: &[LoginModuleEntry],
    origin: &str,
    section: Option<&str>,
    at: (usize, usize),
) -> Result<Credentials, JaasError> {
    for entry in entries {
        check_supported(entry, origin, section)?;
    }
    match entries {
        [entry] => map_entry(entry, origin, section),
        _ => {
            let (line, column) = match entries.get(1) {
                Some(second) => (second.line, second.column),
                None => at,
            };
            Err(JaasError::EntryCount {
                origin: origin.to_string(),
                line,
                column,
                section: section.map(str::to_string),
                count: entries.len(),
            })
        }
    }
}

pub(super) fn check_supported(
    entry: &LoginModuleEntry,
    origin: &str,
    section: Option<&str>,
) -> Result<&'static str, JaasError> {
    if let Some(class) = SUPPORTED_MODULES.iter().find(|c| **c == entry.class) {
        return Ok(class);
    }
    let simple = entry.class.rsplit('.').next().unwrap_or("");
    let note = match simple {
        "JndiLoginModule" => {
            " (JNDI lookups can load and run code from a remote server: CVE-2023-25194)"
        }
        "LdapLoginModule" => " (it makes JNDI/LDAP lookups and is not a Kafka SASL login)",
        _ => "",
    };
    Err(JaasError::UnsupportedModule {
        origin: origin.to_string(),
        line: entry.line,
        column: entry.column,
        class: entry.class.clone(),
        section: section.map(str::to_string),
        note,
    })
}

/// Context for building mapping errors about one entry.
pub(super) struct EntryCtx<'e> {
    pub(super) entry: &'e LoginModuleEntry,
    pub(super) class: &'static str,
    pub(super) origin: &'e str,
    pub(super) section: Option<&'e str>,
}

impl EntryCtx<'_> {
    pub(super) fn missing(&self, option: &'static str, why: &str) -> JaasError {
        let mut hint = String::new();
        if let Some(o) = self.entry.option(option) {
            if o.value.expose().is_empty() {
                hint = " (it is empty)".to_string();
            }
        } else if let Some(o) = self
            .entry
            .options
            .iter()
            .find(|o| o.key.eq_ignore_ascii_case(option))
        {
            // Safe to show: equal to a known option name but for case.
            hint = format!(
                " (found {}: JAAS option names are case-sensitive)",
                quoted(&o.key)
            );
        }
        hint.push_str(why);
        JaasError::MissingOption {
            origin: self.origin.to_string(),
            line: self.entry.line,
            column: self.entry.column,
            class: self.class,
            section: self.section.map(str::to_string),
            option,
            hint,
        }
    }

    pub(super) fn invalid(&self, option: &'static str, problem: &'static str) -> JaasError {
        JaasError::InvalidOption {
            origin: self.origin.to_string(),
            line: self.entry.line,
            column: self.entry.column,
            class: self.class,
            section: self.section.map(str::to_string),
            option,
            problem,
        }
    }

    pub(super) fn unusable(&self, problem: String) -> JaasError {
        JaasError::UnusableLogin {
            origin: self.origin.to_string(),
            line: self.entry.line,
            column: self.entry.column,
            class: self.class,
            section: self.section.map(str::to_string),
            problem,
        }
    }

    /// A non-empty option value.
    pub(super) fn text(&self, key: &str) -> Option<&str> {
        self.entry
            .option(key)
            .map(|o| o.value.expose())
            .filter(|v| !v.is_empty())
    }

    /// A boolean option: `true`/`false` in any case, absent = false.
    pub(super) fn flag(&self, key: &'static str) -> Result<bool, JaasError> {
        match self.entry.option(key).map(|o| o.value.expose()) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(self.invalid(
                key,
                "must be true or false (Java would silently read it as false)",
            )),
        }
    }

    pub(super) fn secret(&self, key: &'static str) -> Result<SecretString, JaasError> {
        match self.entry.option(key).map(|o| &o.value) {
            Some(OptionValue::Secret(s)) => Ok(s.clone()),
            Some(OptionValue::Plain(s)) => Ok(SecretString::from(s.as_str())),
            None => Err(self.missing(key, "")),
        }
    }

    pub(super) fn case_hint(&self, names: &[&str]) -> String {
        for name in names {
            if let Some(o) = self
                .entry
                .options
                .iter()
                .find(|o| o.key.eq_ignore_ascii_case(name) && o.key != *name)
            {
                return format!(
                    " (found {}, but JAAS option names are case-sensitive: this module reads '{name}')",
                    quoted(&o.key)
                );
            }
        }
        String::new()
    }
}

pub(super) fn map_entry(
    entry: &LoginModuleEntry,
    origin: &str,
    section: Option<&str>,
) -> Result<Credentials, JaasError> {
    let class = check_supported(entry, origin, section)?;
    let ctx = EntryCtx {
        entry,
        class,
        origin,
        section,
    };
    match class {
        KRB5_LOGIN_MODULE => sun_kerberos(&ctx).map(Credentials::Kerberos),
        IBM_KRB5_LOGIN_MODULE => ibm_kerberos(&ctx).map(Credentials::Kerberos),
        PLAIN_LOGIN_MODULE | SCRAM_LOGIN_MODULE => {
            let username = match entry.option("username") {
                Some(o) => o.value.expose().to_string(),
                None => return Err(ctx.missing("username", "")),
            };
            let password = ctx.secret("password")?;
            Ok(if class == PLAIN_LOGIN_MODULE {
                Credentials::Plain { username, password }
            } else {
                Credentials::Scram { username, password }
            })
        }
        _ => unreachable!("check_supported returns only supported modules"),
    }
}

pub(super) fn sun_kerberos(ctx: &EntryCtx<'_>) -> Result<KerberosLogin, JaasError> {
    let login = KerberosLogin {
        use_keytab: ctx.flag("useKeyTab")?,
        store_key: ctx.flag("storeKey")?,
        use_ticket_cache: ctx.flag("useTicketCache")?,
        keytab: ctx.text("keyTab").map(PathBuf::from),
        principal: ctx.text("principal").map(str::to_string),
        service_name: ctx.text("serviceName").map(str::to_string),
    };
    if login.use_keytab {
        if login.keytab.is_none() {
            return Err(ctx.missing("keyTab", " (required because useKeyTab=true)"));
        }
        if login.principal.is_none() {
            return Err(ctx.missing("principal", " (required because useKeyTab=true)"));
        }
    } else if !login.use_ticket_cache {
        return Err(ctx.unusable(format!(
            "neither useKeyTab=true nor useTicketCache=true, so Java would prompt for a Kerberos password, which kmirror cannot do{}",
            ctx.case_hint(&["useKeyTab", "useTicketCache"])
        )));
    }
    Ok(login)
}

pub(super) fn ibm_kerberos(ctx: &EntryCtx<'_>) -> Result<KerberosLogin, JaasError> {
    let keytab = ctx.text("useKeytab").map(file_url_to_path);
    let use_keytab = keytab.is_some() || ctx.flag("useDefaultKeytab")?;
    let use_ticket_cache = ctx.flag("useDefaultCcache")? || ctx.text("useCcache").is_some();
    let store_key = ctx
        .text("credsType")
        .is_some_and(|t| t.eq_ignore_ascii_case("both") || t.eq_ignore_ascii_case("acceptor"));
    let login = KerberosLogin {
        keytab,
        principal: ctx.text("principal").map(str::to_string),
        service_name: ctx.text("serviceName").map(str::to_string),
        use_keytab,
        store_key,
        use_ticket_cache,
    };
    if login.use_keytab {
        if login.keytab.is_none() {
            return Err(ctx.missing(
                "useKeytab",
                " (kmirror needs the keytab named, e.g. useKeytab=\"file:/etc/security/keytabs/mirrormaker.keytab\", rather than useDefaultKeytab=true)",
            ));
        }
        if login.principal.is_none() {
            return Err(ctx.missing("principal", " (required with a keytab)"));
        }
    } else if !login.use_ticket_cache {
        return Err(ctx.unusable(format!(
            "none of useKeytab, useDefaultKeytab=true, useCcache or useDefaultCcache=true is set, so there is no Kerberos credential to log in with{}",
            ctx.case_hint(&["useKeytab", "useDefaultCcache", "useCcache"])
        )));
    }
    Ok(login)
}
