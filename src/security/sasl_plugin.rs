//! Is Cyrus SASL's GSSAPI plug-in there? librdkafka authenticates
//! SASL/GSSAPI through Cyrus SASL (libsasl2), which loads each mechanism
//! from a plug-in; without `libsasl2-modules-gssapi-mit` librdkafka fails
//! only at the first broker connection, with "No worthy mechs found". This
//! asks the libsasl2 kmirror is linked with which client mechanisms it
//! loaded (`sasl_client_init`, then `sasl_global_listmech`), the same
//! search librdkafka's own initialisation does (the plug-in directory, or
//! `SASL_PATH`).

use std::ffi::{c_char, c_int, c_void, CStr};

#[link(name = "sasl2")]
extern "C" {
    /// `int sasl_client_init(const sasl_callback_t *callbacks)`: loads the
    /// client plug-ins; reference-counted, so librdkafka's later call and
    /// this one coexist.
    fn sasl_client_init(callbacks: *const c_void) -> c_int;
    /// `const char **sasl_global_listmech(void)`: the mechanisms loaded,
    /// a NULL-terminated array owned by libsasl2.
    fn sasl_global_listmech() -> *const *const c_char;
}

/// The Debian/Ubuntu package with Cyrus SASL's GSSAPI (MIT Kerberos) plug-in.
pub const DEBIAN_PACKAGE: &str = "libsasl2-modules-gssapi-mit";

/// Where the fix is explained.
pub const DOC: &str = "docs/kerberos.md#no-worthy-mechs-found";

/// The Cyrus SASL client mechanisms available to this process, as libsasl2
/// reports them (`GSSAPI`, `PLAIN`, ...); `Err` with libsasl2's code when
/// it cannot initialise.
pub fn client_mechanisms() -> Result<Vec<String>, i32> {
    // SAFETY: sasl_client_init takes a null callback list; the returned
    // array and its strings are owned by libsasl2, valid until sasl_done
    // (which kmirror never calls), and only read here.
    unsafe {
        let rc = sasl_client_init(std::ptr::null());
        if rc != 0 {
            return Err(rc);
        }
        let mut out = Vec::new();
        let mut p = sasl_global_listmech();
        while !p.is_null() && !(*p).is_null() {
            out.push(CStr::from_ptr(*p).to_string_lossy().into_owned());
            p = p.add(1);
        }
        Ok(out)
    }
}

/// What is wrong when SASL/GSSAPI cannot work in this process.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SaslPluginError {
    /// libsasl2 loaded no GSSAPI plug-in.
    #[error(
        "SASL/GSSAPI needs Cyrus SASL's GSSAPI plug-in, and libsasl2 found none {searched} (mechanisms found: {found}); without it every connection fails with \"No worthy mechs found\". Install it: apt-get install {DEBIAN_PACKAGE} (RHEL: cyrus-sasl-gssapi) ({DOC})"
    )]
    Missing {
        /// Where libsasl2 looked.
        searched: String,
        /// The mechanisms it did load.
        found: String,
    },
    /// libsasl2 could not initialise at all.
    #[error(
        "SASL/GSSAPI: Cyrus SASL (libsasl2) failed to initialise (code {code}); reinstall libsasl2-2 and {DEBIAN_PACKAGE} ({DOC})"
    )]
    Init {
        /// libsasl2's result code.
        code: i32,
    },
}

/// `Ok` when the GSSAPI plug-in is loaded; otherwise the error naming the
/// package to install.
pub fn check_gssapi() -> Result<(), SaslPluginError> {
    let mechs = client_mechanisms().map_err(|code| SaslPluginError::Init { code })?;
    if mechs.iter().any(|m| m.eq_ignore_ascii_case("GSSAPI")) {
        return Ok(());
    }
    let searched = match std::env::var_os("SASL_PATH") {
        Some(p) => format!("in SASL_PATH={}", p.to_string_lossy()),
        None => "in its plug-in directory (/usr/lib/x86_64-linux-gnu/sasl2 on Debian)".into(),
    };
    Err(SaslPluginError::Missing {
        searched,
        found: if mechs.is_empty() {
            "none".into()
        } else {
            mechs.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scripts/install-deps.sh installs the plug-in: this process finds it.
    #[test]
    fn gssapi_plugin_is_found_where_installed() {
        let mechs = client_mechanisms().unwrap();
        assert!(mechs.iter().any(|m| m == "GSSAPI"), "{mechs:?}");
        check_gssapi().unwrap();
    }

    #[test]
    fn missing_plugin_message_names_package_and_doc() {
        let e = SaslPluginError::Missing {
            searched: "in SASL_PATH=/empty".into(),
            found: "PLAIN".into(),
        };
        let m = e.to_string();
        assert!(
            m.contains("apt-get install libsasl2-modules-gssapi-mit"),
            "{m}"
        );
        assert!(m.contains("No worthy mechs found"), "{m}");
        assert!(m.contains("docs/kerberos.md#no-worthy-mechs-found"), "{m}");
    }
}
