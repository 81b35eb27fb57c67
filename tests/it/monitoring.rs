//! check-rpo as the real monitoring daemons read it: Nagios 4 (its service perfdata command)
//! and Icinga 2 (its PerfdataWriter) each run the plugin and keep every DLE's perfdata item;
//! run as the monitoring user it says UNKNOWN with the real reason and the fix, and the
//! documented sudo rule makes it work.

use crate::common::{Setup, day, sh};
use crate::nagios::split_perf;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Six DLEs with awkward names (a space, a quote, a long path), dumped once.
fn dumped() -> (Setup, Vec<String>) {
    let s = Setup::new("", "");
    let mut disks = vec![];
    let mut dl = String::new();
    for name in ["a", "b with space", "it's", "d", "e", &"long-".repeat(30)] {
        let d = s.path().join("src").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("f"), "x").unwrap();
        dl.push_str(&format!("localhost \"{}\" local\n", d.display()));
        disks.push(d.display().to_string());
    }
    s.write("disklist", &dl);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    (s, disks)
}

/// A plugin wrapper the daemons run: tapir check-rpo on the setup, an hour after the dump.
fn wrapper(s: &Setup) -> PathBuf {
    let w = s.path().join("check_tapir");
    std::fs::write(
        &w,
        format!(
            "#!/bin/sh\nTAPIR_NOW={} exec {} --config {} check-rpo\n",
            day(0).replace("02:00", "03:00"),
            crate::common::BIN,
            s.path().join("tapir.toml").display()
        ),
    )
    .unwrap();
    sh(&format!("chmod 755 {}", w.display()), s.path());
    w
}

/// A perfdata label as the daemons keep it: outer quotes off, doubled quotes single.
fn bare(item: &str) -> String {
    let label = item.rsplit_once('=').map_or(item, |(l, _)| l);
    let l = label
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .unwrap_or(label);
    l.replace("''", "'")
}

fn wait_for(what: &str, f: impl Fn() -> Option<String>) -> String {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{what} never came");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn assert_every_dle(perf: &str, disks: &[String], who: &str) {
    let labels: Vec<String> = split_perf(perf).iter().map(|i| bare(i)).collect();
    for d in disks {
        let want = format!("localhost:{d}_age");
        assert!(labels.contains(&want), "{who} lost {want}: {perf}");
    }
    assert!(labels.contains(&"dles".to_string()), "{who}: {perf}");
    assert_eq!(labels.len(), 3 + disks.len(), "{who}: {perf}");
}

/// Kills the daemon when the test ends, however it ends: its whole process group (icinga2
/// forks its worker, which a kill of the first process would leave running).
struct Daemon(std::process::Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGKILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A daemon in a process group of its own, so that [`Daemon`] can kill all of it.
fn own_group(c: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    c.process_group(0)
}

fn nagios(dir: &Path, plugin: &Path) -> String {
    let d = dir.display();
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    std::fs::write(
        dir.join("nagios.cfg"),
        format!(
            "log_file={d}/nagios.log\ncfg_file={d}/objects.cfg\nobject_cache_file={d}/objects.cache\n\
             precached_object_file={d}/objects.precache\nstatus_file={d}/status.dat\n\
             status_update_interval=1\nnagios_user=root\nnagios_group=root\ncheck_external_commands=0\n\
             lock_file={d}/nagios.lock\ntemp_file={d}/nagios.tmp\ntemp_path={d}\n\
             check_result_path={d}/spool\nretain_state_information=0\nuse_retained_program_state=0\n\
             use_retained_scheduling_info=0\nprocess_performance_data=1\n\
             service_perfdata_command=keep-perf\nmax_service_check_spread=1\ninterval_length=1\n\
             enable_notifications=0\n"
        ),
    )
    .unwrap();
    let always: String = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ]
    .iter()
    .map(|day| format!("  {day} 00:00-24:00\n"))
    .collect();
    std::fs::write(
        dir.join("objects.cfg"),
        format!(
            "define command {{\n  command_name check-tapir\n  command_line {}\n}}\n\
             define command {{\n  command_name keep-perf\n  command_line /usr/bin/printf \"%s\\n\" \"$SERVICEPERFDATA$\" >> {d}/perf.out\n}}\n\
             define command {{\n  command_name ok\n  command_line /bin/true\n}}\n\
             define timeperiod {{\n  timeperiod_name always\n  alias always\n{always}}}\n\
             define contact {{\n  contact_name nobody\n  host_notifications_enabled 0\n  service_notifications_enabled 0\n  host_notification_period always\n  service_notification_period always\n  host_notification_options n\n  service_notification_options n\n  host_notification_commands ok\n  service_notification_commands ok\n}}\n\
             define host {{\n  host_name backup\n  address 127.0.0.1\n  check_command ok\n  max_check_attempts 1\n  check_period always\n  contacts nobody\n  notification_period always\n}}\n\
             define service {{\n  host_name backup\n  service_description tapir-rpo\n  check_command check-tapir\n  max_check_attempts 1\n  check_interval 2\n  retry_interval 2\n  check_period always\n  contacts nobody\n  notification_period always\n  process_perf_data 1\n}}\n",
            plugin.display()
        ),
    )
    .unwrap();
    let verify = Command::new("/usr/sbin/nagios4")
        .args(["-v", &format!("{d}/nagios.cfg")])
        .output()
        .expect("nagios4 (scripts/test installs nagios4-core)");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let _daemon = Daemon(
        own_group(&mut Command::new("/usr/sbin/nagios4"))
            .arg(format!("{d}/nagios.cfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = dir.join("perf.out");
    wait_for("nagios perfdata", || {
        let t = std::fs::read_to_string(&out).ok()?;
        t.lines().next().map(String::from)
    })
}

fn icinga(dir: &Path, plugin: &Path) -> String {
    let d = dir.display();
    for sub in ["data", "log", "cache", "spool", "run/icinga2", "perf"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("icinga2.conf"),
        format!(
            "include <itl>\nobject CheckerComponent \"checker\" {{ }}\n\
             object PerfdataWriter \"perfdata\" {{\n  service_perfdata_path = \"{d}/perf/service\"\n  \
             service_temp_path = \"{d}/perf/service.tmp\"\n  host_perfdata_path = \"{d}/perf/host\"\n  \
             host_temp_path = \"{d}/perf/host.tmp\"\n  rotation_interval = 1s\n}}\n\
             object CheckCommand \"tapir-rpo\" {{ command = [ \"{}\" ] }}\n\
             object Host \"backup\" {{ check_command = \"dummy\"; address = \"127.0.0.1\" }}\n\
             object Service \"rpo\" {{ host_name = \"backup\"; check_command = \"tapir-rpo\"; check_interval = 1s; retry_interval = 1s }}\n",
            plugin.display()
        ),
    )
    .unwrap();
    let defines: Vec<String> = [
        ("RunAsUser", "root".to_string()),
        ("RunAsGroup", "root".into()),
        ("ConfigDir", format!("{d}")),
        ("DataDir", format!("{d}/data")),
        ("LogDir", format!("{d}/log")),
        ("CacheDir", format!("{d}/cache")),
        ("SpoolDir", format!("{d}/spool")),
        ("InitRunDir", format!("{d}/run")),
        ("PidPath", format!("{d}/run/icinga2.pid")),
        ("StatePath", format!("{d}/data/icinga2.state")),
        ("ObjectsPath", format!("{d}/cache/icinga2.debug")),
        ("VarsPath", format!("{d}/cache/icinga2.vars")),
        ("ModAttrPath", format!("{d}/data/modified-attributes.conf")),
    ]
    .iter()
    .map(|(k, v)| format!("-D{k}={v}"))
    .collect();
    let _daemon = Daemon(
        own_group(&mut Command::new("icinga2"))
            .args(["daemon", "-c", &format!("{d}/icinga2.conf")])
            .args(&defines)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("icinga2 (scripts/test installs icinga2-bin)"),
    );
    wait_for("icinga2 perfdata", || {
        let rd = std::fs::read_dir(dir.join("perf")).ok()?;
        rd.filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("service."))
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .flat_map(|t| t.lines().map(String::from).collect::<Vec<_>>())
            .find_map(|l| {
                l.split('\t')
                    .find_map(|f| f.strip_prefix("SERVICEPERFDATA::"))
                    .map(String::from)
            })
    })
}

#[test]
fn nagios_and_icinga2_keep_every_dles_perfdata() {
    crate::common::require_root("the daemons run as root in their own directories");
    let (s, disks) = dumped();
    let plugin = wrapper(&s);
    let out = Command::new(&plugin).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let perf = nagios(&s.path().join("nagios"), &plugin);
    assert_every_dle(&perf, &disks, "Nagios");
    let perf = icinga(&s.path().join("icinga2"), &plugin);
    assert_every_dle(&perf, &disks, "Icinga 2");
}

#[test]
fn the_monitoring_user_gets_unknown_with_the_reason_and_the_sudo_rule_works() {
    crate::common::require_root("runs check-rpo as nobody and installs a sudo rule");
    let (s, _) = dumped();
    // the config readable by everyone, the catalog private as tapir makes it
    sh(
        &format!(
            "chmod 755 {0} && chmod 644 {0}/tapir.toml {0}/disklist && chmod -R a+rX {0}/dumptypes {0}/keys/recipients.txt",
            s.path().display()
        ),
        s.path(),
    );
    let cfg = s.path().join("tapir.toml").display().to_string();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .args(args)
            .env("TAPIR_NOW", day(0).replace("02:00", "03:00"))
            .current_dir("/")
            .output()
            .unwrap()
    };
    let r = as_nobody(&[crate::common::BIN, "--config", &cfg, "check-rpo"]);
    let text = String::from_utf8_lossy(&r.stdout).into_owned();
    assert_eq!(r.status.code(), Some(3), "{text}");
    assert!(
        text.starts_with("TAPIR RPO UNKNOWN - cannot read the catalog"),
        "{text}"
    );
    assert!(text.contains("Permission denied"), "{text}");
    assert!(
        !text.contains("never dumped") && !text.contains("does not exist"),
        "{text}"
    );
    assert!(text.contains("check-rpo runs as nobody"), "{text}");
    assert!(
        text.contains("nobody ALL=(tapir) NOPASSWD: /usr/bin/tapir check-rpo *"),
        "{text}"
    );

    // the documented rule, for this test's binary and user root in place of tapir (and the
    // faked clock let through)
    let rule = PathBuf::from(format!("/etc/sudoers.d/tapir-test-{}", std::process::id()));
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _cleanup = Remove(rule.clone());
    std::fs::write(
        &rule,
        format!(
            "Defaults:nobody env_keep += \"TAPIR_NOW\"\n\
             nobody ALL=(root) NOPASSWD: {} --config {cfg} check-rpo *, {} --config {cfg} check-rpo\n",
            crate::common::BIN,
            crate::common::BIN
        ),
    )
    .unwrap();
    sh(
        &format!("chmod 440 {0} && visudo -cf {0}", rule.display()),
        Path::new("/"),
    );
    let r = as_nobody(&[
        "sudo",
        "-n",
        "-u",
        "root",
        crate::common::BIN,
        "--config",
        &cfg,
        "check-rpo",
    ]);
    let text = String::from_utf8_lossy(&r.stdout).into_owned();
    assert_eq!(
        r.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(text.starts_with("TAPIR RPO OK - 6 DLEs"), "{text}");
}
