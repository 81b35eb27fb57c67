//! Program DLEs against real databases started by the test (one server per test, on a
//! socket in a temp dir): PostgreSQL through the local agent and through an sshd host,
//! restored by `--run-restore`, by `--stdout | pg_restore` and by the header's stock line;
//! MariaDB with `mariadb-dump --single-transaction` and `mariadb-backup --stream=xbstream`.
//! Tables are compared by checksum after the database was dropped.

use crate::common::Setup;
use crate::common::db::{Mariadb, Postgres, run_as};
use crate::common::sshd::{Sshd, keygen};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// The setup's dir must be reachable by the database users.
fn open_up(s: &Setup) {
    std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn pg_checksum(pg: &Postgres) -> String {
    pg.sql(
        "appdb",
        "SELECT count(*) || ':' || md5(string_agg(id || ':' || name || ':' || encode(data, 'hex'), ',' ORDER BY id)) FROM t",
    )
}

fn pg_drop(pg: &Postgres) {
    pg.sql("postgres", "DROP DATABASE appdb");
    let left = pg.sql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname = 'appdb'",
    );
    assert_eq!(left, "0");
}

/// A PostgreSQL server with `appdb` (5000 rows) dumped by the program `pgdump` through the
/// local agent and through an sshd host `db1` with the same agent config; its checksum
/// before. Fields drop in order (the server stops before its directory goes): tests keep the
/// value whole and borrow from it.
struct PgDumped {
    pg: Postgres,
    s: Setup,
    before: String,
    agent_cfg: std::path::PathBuf,
}

fn pg_dumped() -> PgDumped {
    crate::common::require_root("the servers run as their own users");
    let s = Setup::new("", "");
    open_up(&s);
    let pg = Postgres::start(&s.path().join("pg"));
    pg.sql("postgres", "CREATE DATABASE appdb");
    pg.sql(
        "appdb",
        "CREATE TABLE t (id int PRIMARY KEY, name text, data bytea); \
         INSERT INTO t SELECT g, 'naïve Ünïcode ✓ ' || g || ' 日本語', \
         decode(md5(g::text) || md5((g * 7)::text), 'hex') || '\\x00ff00'::bytea \
         FROM generate_series(1, 5000) g",
    );
    let before = pg_checksum(&pg);
    assert!(before.starts_with("5000:"), "{before}");
    let conn = pg
        .conn()
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let agent = format!(
        "[programs.pgdump]\nbackup = [{dump:?}, \"--format=custom\", {conn}, \"{{disk}}\"]\n\
         restore = [{restore:?}, \"--create\", \"--exit-on-error\", {conn}, \"--dbname=postgres\"]\n\
         estimate = [{psql:?}, \"-XAt\", {conn}, \"-d\", \"{{disk}}\", \"-c\", \"SELECT pg_database_size(current_database())\"]\n\
         user = \"postgres\"\n",
        dump = pg.tool("pg_dump"),
        restore = pg.tool("pg_restore"),
        psql = pg.tool("psql"),
    );
    s.write("agent.toml", &agent);
    let agent_cfg = s.path().join("agent.toml");

    // one sshd host runs the same agent config
    keygen(&s.path().join("keys/id_ed25519"));
    let pubkey = std::fs::read_to_string(s.path().join("keys/id_ed25519.pub")).unwrap();
    let line = format!(
        "restrict,command=\"{} agent --agent-config {}\" {}",
        crate::common::BIN,
        agent_cfg.display(),
        pubkey.trim()
    );
    s.write(
        "dumptypes/pg-local.toml",
        "auth = \"local\"\nprogram = \"pgdump\"\n",
    );
    s.write(
        "dumptypes/pg-ssh.toml",
        "auth = \"ssh\"\nprogram = \"pgdump\"\ncompress = \"server-zstd\"\n",
    );
    s.write("disklist", "localhost appdb pg-local\ndb1 appdb pg-ssh\n");
    let host = Sshd::start(s.path(), "db1", &line);
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    cfg.push_str("\n[ssh]\nidentity = \"keys/id_ed25519\"\nknown_hosts = \"keys/known_hosts\"\nconnect_timeout = \"5s\"\n");
    cfg.push_str(&host.host_block());
    s.write("tapir.toml", &cfg);
    s.run(&["enroll", "db1"]).assert_code(0);
    let env = [("TAPIR_AGENT_CONFIG", agent_cfg.to_str().unwrap())];

    let r = s.run_env(&["check"], &env);
    r.assert_code(0);
    assert!(
        r.stdout.contains("program pgdump is allowed"),
        "{}",
        r.stdout
    );
    let r = s.run_env(&["dump", "--dry-run"], &env);
    r.assert_code(0);
    let r = s.run_env(&["dump"], &env);
    r.assert_code(0);
    assert_eq!(s.find_json().as_array().unwrap().len(), 2, "{}", r.stdout);
    PgDumped {
        pg,
        s,
        before,
        agent_cfg,
    }
}

#[test]
fn postgresql_restores_through_its_agents_restore_command() {
    let d = pg_dumped();
    let (pg, s, before, agent_cfg) = (&d.pg, &d.s, d.before.clone(), &d.agent_cfg);
    // 1. --run-restore (the restore argv of this machine's agent.toml)
    pg_drop(pg);
    let r = s.run_restore("localhost", "appdb", agent_cfg);
    r.assert_code(0);
    assert_eq!(pg_checksum(pg), before, "--run-restore: {}", r.stderr);
}

#[test]
fn postgresql_dumped_over_ssh_restores_by_stdout_into_pg_restore() {
    let d = pg_dumped();
    let (pg, s, before) = (&d.pg, &d.s, d.before.clone());
    let id = s.identity.display().to_string();
    // 2. --stdout | pg_restore, from the dump that came over ssh
    pg_drop(pg);
    let cfg = s.path().join("tapir.toml").display().to_string();
    let pipe = format!(
        "{} --config {cfg} recover --host db1 --disk appdb -i {id} --stdout | \
         runuser -u postgres -- {} --create --exit-on-error {} --dbname=postgres",
        crate::common::BIN,
        pg.tool("pg_restore"),
        pg.conn().join(" ")
    );
    crate::common::sh(&pipe, s.path());
    assert_eq!(pg_checksum(pg), before, "--stdout | pg_restore");
}

#[test]
fn postgresql_restores_by_the_headers_stock_line_without_tapir() {
    let d = pg_dumped();
    let (pg, s, before) = (&d.pg, &d.s, d.before.clone());
    // 3. the header's stock line, without tapir, then pg_restore of the file
    pg_drop(pg);
    let rec = s
        .find_json()
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "localhost")
        .unwrap()
        .clone();
    let stock = s.path().join("stock");
    std::fs::create_dir(&stock).unwrap();
    std::fs::set_permissions(&stock, std::fs::Permissions::from_mode(0o755)).unwrap();
    let recipe = crate::common::stock_recipe(s, &rec);
    assert!(recipe.ends_with("gzip -dc > appdb.pgdump"), "{recipe}");
    crate::common::sh(&recipe, &stock);
    let file = stock.join("appdb.pgdump");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let restore = pg.tool("pg_restore");
    let mut argv: Vec<String> = vec![restore, "--create".into(), "--exit-on-error".into()];
    argv.extend(pg.conn());
    argv.extend(["--dbname=postgres".into(), file.display().to_string()]);
    run_as(
        "postgres",
        &argv.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(pg_checksum(pg), before, "stock line + pg_restore");
}

fn my_checksum(db: &Mariadb) -> String {
    let c = db.sql("CHECKSUM TABLE shop.items EXTENDED");
    let rows = db.sql("SELECT count(*) FROM shop.items");
    format!("{rows}:{}", c.split_whitespace().last().unwrap())
}

#[test]
fn mariadb_dump_and_mariadb_backup_restore_equal_checksums() {
    crate::common::require_root("the servers run as their own users");
    let s = Setup::new("", "");
    open_up(&s);
    let my = Mariadb::start(&s.path().join("my"));
    my.sql(
        "CREATE DATABASE shop CHARACTER SET utf8mb4; USE shop; \
         CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(100), data BLOB) ENGINE=InnoDB; \
         INSERT INTO shop.items SELECT seq, CONCAT('naïve Ünïcode ✓ ', seq, ' 日本語'), \
         UNHEX(CONCAT(MD5(seq), MD5(seq * 7), '00FF00')) FROM seq_1_to_5000",
    );
    let before = my_checksum(&my);
    assert!(before.starts_with("5000:"), "{before}");
    let sock = my.socket.display().to_string();
    let d = s.path().display().to_string();
    s.write(
        "agent.toml",
        &format!(
            "[programs.mdump]\n\
             backup = [\"mariadb-dump\", \"--socket={sock}\", \"-u\", \"root\", \"--single-transaction\", \"--databases\", \"{{disk}}\"]\n\
             restore = [\"mariadb\", \"--socket={sock}\", \"-u\", \"root\"]\n\
             [programs.mbackup]\n\
             backup = [\"mariadb-backup\", \"--backup\", \"--stream=xbstream\", \"--socket={sock}\", \"-u\", \"root\", \"--target-dir={d}/mb-tmp\", \"--datadir={}\"]\n\
             restore = [\"mbstream\", \"-x\", \"-C\", \"{d}/xb-restore\"]\n",
            my.datadir.display()
        ),
    );
    std::fs::create_dir_all(s.path().join("mb-tmp")).unwrap();
    std::fs::create_dir_all(s.path().join("xb-restore")).unwrap();
    s.write(
        "dumptypes/my-dump.toml",
        "auth = \"local\"\nprogram = \"mdump\"\n",
    );
    s.write(
        "dumptypes/my-backup.toml",
        "auth = \"local\"\nprogram = \"mbackup\"\ncompress = \"server-zstd\"\n",
    );
    s.write(
        "disklist",
        "localhost shop my-dump\nlocalhost main my-backup\n",
    );
    let agent_cfg = s.path().join("agent.toml");
    let env = [("TAPIR_AGENT_CONFIG", agent_cfg.to_str().unwrap())];
    let r = s.run_env(&["dump", "--json"], &env);
    r.assert_code(0);
    let backup = crate::common::outcome(&r.stdout, "localhost", "main");
    // mariadb-backup logs on stderr: reported, bounded, and the dump is still OK
    assert_eq!(backup["status"], "OK");
    let notes = backup["notes"].as_array().unwrap();
    assert!(notes.len() <= 21, "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("completed OK")),
        "{notes:?}"
    );

    // mariadb-dump: drop, restore with --run-restore, compare
    my.sql("DROP DATABASE shop");
    let r = s.run_restore("localhost", "shop", &agent_cfg);
    r.assert_code(0);
    assert_eq!(my_checksum(&my), before, "mariadb-dump restored");

    // mariadb-backup: the xbstream through mbstream, prepare, start a server on it
    my.sql("DROP DATABASE shop");
    let r = s.run_restore("localhost", "main", &agent_cfg);
    r.assert_code(0);
    let xb = s.path().join("xb-restore");
    let out = Command::new("mariadb-backup")
        .args(["--prepare"])
        .arg(format!("--target-dir={}", xb.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "prepare: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(my);
    let restored = Mariadb::serve(&s.path().join("xb-run"), &xb);
    assert_eq!(my_checksum(&restored), before, "mariadb-backup restored");
}
