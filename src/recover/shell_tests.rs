//! The recover shell's commands, run against a catalog in a temp dir, their output caught.

use super::shell::{Flow, Shell};
use crate::catalog::DumpRecord;
use crate::catalog::DumpStatus;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// A writer the test keeps a handle on.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.borrow_mut())).unwrap()
    }
}

fn rec(host: &str, disk: &str, ds: &str, level: u8) -> DumpRecord {
    DumpRecord {
        host: host.into(),
        disk: disk.into(),
        datestamp: ds.into(),
        level,
        label: "daily-01".into(),
        slot: 1,
        file_number: 1,
        file_name: "00001.x".into(),
        status: DumpStatus::Ok,
        original_size: 10,
        payload_size: 10,
        payload_sha256: String::new(),
        compress: "gzip".into(),
        encrypt: "server".into(),
        files: 1,
        seconds: 0.0,
        client_time_ns: 0,
        client_time: String::new(),
        index: None,
        path: None,
        rekeyed_from: None,
    }
}

#[test]
fn commands_write_to_the_given_output_and_refuse_what_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        crate::config::for_reading_slots(crate::vtape::Root::Local(dir.path().into()), 2).unwrap();
    for r in [
        rec("web1", "/etc", "20260101020000", 0),
        rec("web1", "/srv", "20260101020000", 0),
        rec("db1", "/var/lib", "20260102020000", 0),
    ] {
        crate::catalog::history::append(&cfg.catalog, &r).unwrap();
    }
    let out = Shared::default();
    let mut sh = Shell::with_output(&cfg, None, false, Box::new(out.clone())).unwrap();
    sh.exec("listhost").unwrap();
    assert_eq!(out.take(), "db1\nweb1\n");
    sh.exec("sethost web1").unwrap();
    out.take();
    sh.exec("listdisk /s*").unwrap();
    assert_eq!(out.take(), "/srv\n");
    sh.exec("help").unwrap();
    assert!(out.take().contains("quit"));
    let e = sh.exec("sethost web2").unwrap_err().to_string();
    assert!(e.contains("no dumps of host \"web2\""), "{e}");
    assert!(e.contains("web1"), "did you mean: {e}");
    assert_eq!(sh.exec("quit").unwrap(), Flow::Quit);
}
