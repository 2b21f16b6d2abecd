//! The rig's KDC: principals, keytabs, key rotation, outage and restart.

use kmirror_rig::kdc::{Kdc, KdcOptions, ADMIN, KAFKA_SERVICE, MIRRORMAKER, MIRRORMAKER2};

fn ccache(kdc: &Kdc, name: &str) -> String {
    format!("FILE:{}", kdc.dir().join(name).display())
}

#[test]
fn kdc_issues_tickets_survives_restart_and_rotates_keys() {
    let mut kdc = Kdc::start(KdcOptions::default()).expect("KDC starts");
    assert_eq!(kdc.realm(), "KMIRROR.TEST");
    let conf = std::fs::read_to_string(kdc.krb5_conf()).unwrap();
    assert!(conf.contains(&format!("kdc = 127.0.0.1:{}", kdc.port())));

    // Standard principals exist with 0600 keytabs that work.
    for p in [KAFKA_SERVICE, MIRRORMAKER, MIRRORMAKER2, ADMIN] {
        let kt = kdc.standard_keytab(p);
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&kt).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{p} keytab mode");
        kdc.kinit(p, &kt, &ccache(&kdc, "std.cc"))
            .unwrap_or_else(|e| panic!("{p}: {e:#}"));
    }

    // A new principal with its own keytab.
    kdc.add_principal("tester/localhost").unwrap();
    let kt = kdc.dir().join("tester.keytab");
    kdc.keytab("tester/localhost", &kt).unwrap();
    kdc.kinit("tester/localhost", &kt, &ccache(&kdc, "t.cc"))
        .unwrap();

    // Exporting with -norandkey keeps the old keytab valid ...
    let same = kdc.dir().join("tester-same.keytab");
    kdc.keytab_same_key("tester/localhost", &same).unwrap();
    kdc.kinit("tester/localhost", &kt, &ccache(&kdc, "t.cc"))
        .unwrap();
    kdc.kinit("tester/localhost", &same, &ccache(&kdc, "t.cc"))
        .unwrap();
    // ... while a plain ktadd rotates the key and invalidates it.
    let rotated = kdc.dir().join("tester-rotated.keytab");
    kdc.keytab("tester/localhost", &rotated).unwrap();
    assert!(kdc
        .kinit("tester/localhost", &kt, &ccache(&kdc, "t.cc"))
        .is_err());
    kdc.kinit("tester/localhost", &rotated, &ccache(&kdc, "t.cc"))
        .unwrap();

    // Disabled and expired principals are refused.
    kdc.set_principal_enabled("tester/localhost", false)
        .unwrap();
    assert!(kdc
        .kinit("tester/localhost", &rotated, &ccache(&kdc, "t.cc"))
        .is_err());
    kdc.set_principal_enabled("tester/localhost", true).unwrap();
    kdc.kinit("tester/localhost", &rotated, &ccache(&kdc, "t.cc"))
        .unwrap();
    kdc.expire_principal("tester/localhost").unwrap();
    let err = kdc
        .kinit("tester/localhost", &rotated, &ccache(&kdc, "t.cc"))
        .unwrap_err();
    assert!(
        format!("{err:#}").to_lowercase().contains("expired"),
        "{err:#}"
    );

    // Duplicate principals are an error, not silently accepted.
    assert!(kdc.add_principal("tester/localhost").is_err());

    // Outage and recovery on the same port with the same database.
    let port = kdc.port();
    let mm = kdc.standard_keytab(MIRRORMAKER);
    kdc.stop();
    assert!(!kdc.is_running());
    let err = kdc
        .kinit(MIRRORMAKER, &mm, &ccache(&kdc, "mm.cc"))
        .unwrap_err();
    assert!(format!("{err:#}").contains("kinit"), "{err:#}");
    kdc.start_again().unwrap();
    assert_eq!(kdc.port(), port);
    kdc.kinit(MIRRORMAKER, &mm, &ccache(&kdc, "mm.cc")).unwrap();
}

#[test]
fn short_ticket_lifetime_is_applied() {
    let kdc = Kdc::start(KdcOptions {
        ticket_lifetime: std::time::Duration::from_secs(120),
        ..KdcOptions::default()
    })
    .unwrap();
    let cc = ccache(&kdc, "short.cc");
    kdc.kinit(MIRRORMAKER, &kdc.standard_keytab(MIRRORMAKER), &cc)
        .unwrap();
    let mut klist = std::process::Command::new("klist");
    for (k, v) in kdc.env() {
        klist.env(k, v);
    }
    let out = klist.env("KRB5CCNAME", &cc).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // klist prints "MM/DD/YY HH:MM:SS  MM/DD/YY HH:MM:SS  krbtgt/..." :
    // start and expiry at most 2 minutes apart.
    let line = text
        .lines()
        .find(|l| l.contains("krbtgt/"))
        .expect("TGT listed");
    let f: Vec<&str> = line.split_whitespace().collect();
    let t = |s: &str| {
        let p: Vec<u64> = s.split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 3600 + p[1] * 60 + p[2]
    };
    let (start, end) = (t(f[1]), t(f[3]));
    let life = (end + 86400 - start) % 86400;
    assert!((100..=120).contains(&life), "lifetime {life}s in {line}");
}

/// `clockskew` reaches krb5.conf's `[libdefaults]` (read by the KDC, the
/// listener's GSS acceptor and clients alike), and the realm still issues
/// tickets with it. (MIT clients refuse an expired TGT by themselves,
/// whatever the allowance, so the allowance shows only where a ticket is
/// *presented*: at the KDC and the acceptor; the renewal tests in
/// `tests/kerberos.rs` exercise that end to end.)
#[test]
fn clockskew_is_written_to_krb5_conf() {
    let kdc = Kdc::start(KdcOptions {
        clockskew: Some(std::time::Duration::from_secs(5)),
        ..KdcOptions::default()
    })
    .unwrap();
    let conf = std::fs::read_to_string(kdc.krb5_conf()).unwrap();
    let libdefaults = conf.split("[realms]").next().unwrap();
    assert!(libdefaults.contains("\tclockskew = 5\n"), "{conf}");
    kdc.kinit(
        MIRRORMAKER,
        &kdc.standard_keytab(MIRRORMAKER),
        &ccache(&kdc, "skew.cc"),
    )
    .unwrap();
    // Without the option, MIT's default applies and nothing is written.
    let default = Kdc::start(KdcOptions::default()).unwrap();
    let conf = std::fs::read_to_string(default.krb5_conf()).unwrap();
    assert!(!conf.contains("clockskew"), "{conf}");
}
