//! Tests of the aliases file parser and of resolving names without a
//! domain: comments, continuations, case, quoting, `default`, the default
//! domain, nesting, loops and the entries smtp-send refuses.

use super::*;

fn parse(text: &str) -> Aliases {
    Aliases::parse(text, Path::new("/test/aliases")).unwrap()
}

fn resolver(text: &str, domain: Option<&str>) -> Resolver {
    let r = Resolver {
        path: Some(PathBuf::from("/test/aliases")),
        aliases: Arc::new(OnceLock::new()),
        default_domain: domain.map(str::to_string),
    };
    let _ = r.aliases.set(Ok(parse(text)));
    r
}

fn err(r: &Resolver, name: &str) -> String {
    let failure = r.resolve(name).unwrap_err();
    assert_eq!(failure.exit, Exit::DataErr, "{}", failure.message);
    failure.message
}

#[test]
fn comments_continuations_case_and_quotes() {
    let a = parse(
        "# system aliases\n\
         \n\
         Root: admin@x.example, ops@x.example\n\
         backup: one@x.example,\n\
         \x20   two@x.example,\n\
         \t# a comment inside an entry\n\
         \tthree@x.example\r\n\
         quoted: Ops Team <ops@x.example>, \"|/usr/bin/true, x\"\n",
    );
    let values = |name: &str| a.entries[name].0.clone();
    assert_eq!(
        values("root"),
        [
            Value::Address("admin@x.example".into()),
            Value::Address("ops@x.example".into())
        ]
    );
    assert_eq!(
        values("backup"),
        ["one@x.example", "two@x.example", "three@x.example"].map(|a| Value::Address(a.into()))
    );
    assert_eq!(values("quoted")[0], Value::Address("ops@x.example".into()));
    assert!(matches!(&values("quoted")[1], Value::Unusable(_)));
    assert_eq!(a.entries["root"].1, 3);
}

#[test]
fn syntax_errors_name_the_line() {
    for (text, line, what) in [
        ("root admin@x.example\n", 1, "expected name: value"),
        ("  admin@x.example\n", 1, "continuation line"),
        ("a: b@x.example\nA: c@x.example\n", 2, "defined twice"),
        ("a:\n", 1, "has no value"),
        ("a b: c@x.example\n", 1, "not an alias name"),
    ] {
        let e = Aliases::parse(text, Path::new("/test/aliases")).unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert!(
            e.message
                .starts_with(&format!("aliases file /test/aliases:{line}: ")),
            "{text:?}: {}",
            e.message
        );
        assert!(e.message.contains(what), "{text:?}: {}", e.message);
    }
}

#[test]
fn one_several_nested_and_case_insensitive() {
    let r = resolver(
        "root: admin@x.example\n\
         team: Root, ops@x.example, \\local\n\
         www-data: team\n",
        Some("d.example"),
    );
    assert_eq!(r.resolve("root").unwrap(), ["admin@x.example"]);
    assert_eq!(r.resolve("ROOT").unwrap(), ["admin@x.example"]);
    assert_eq!(
        r.resolve("www-data").unwrap(),
        ["admin@x.example", "ops@x.example", "local@d.example"]
    );
    // No alias: the default domain.
    assert_eq!(r.resolve("cron").unwrap(), ["cron@d.example"]);
}

#[test]
fn default_entry_and_default_domain() {
    let r = resolver(
        "root: admin\ndefault: catchall@x.example\n",
        Some("d.example"),
    );
    // A name from the command line that is no alias goes to `default`...
    assert_eq!(r.resolve("nobody").unwrap(), ["catchall@x.example"]);
    // ...a name an alias names gets the default domain.
    assert_eq!(r.resolve("root").unwrap(), ["admin@d.example"]);
    // Without a default domain that name cannot be resolved.
    let r = resolver("root: admin\n", None);
    let m = err(&r, "root");
    assert!(m.contains("\"admin\" (from alias root)"), "{m}");
    assert!(m.contains("default_domain"), "{m}");
    assert!(err(&r, "cron").contains("\"cron\" has no domain"));
    // Only a default domain, no file.
    let r = Resolver::new(None, Some("d.example")).unwrap();
    assert_eq!(r.resolve("root").unwrap(), ["root@d.example"]);
    assert!(Resolver::new(None, None).is_none());
}

#[test]
fn loops_and_depth_are_errors() {
    let r = resolver("a: b\nb: c\nc: a\nself: self\n", Some("d.example"));
    let m = err(&r, "a");
    assert!(m.contains("alias loop: a -> b -> c -> a"), "{m}");
    assert!(err(&r, "self").contains("alias loop: self -> self"));
    let deep: String = (0..12).map(|i| format!("n{i}: n{}\n", i + 1)).collect();
    let r = resolver(&deep, Some("d.example"));
    let m = err(&r, "n0");
    assert!(m.contains("more than 8 deep"), "{m}");
    // Eight levels are fine.
    assert_eq!(r.resolve("n4").unwrap(), ["n12@d.example"]);
}

#[test]
fn commands_files_and_includes_are_refused_when_used() {
    let r = resolver(
        "pipe: |/usr/bin/procmail\n\
         quoted: \"| /usr/bin/vacation root\"\n\
         file: /var/mail/archive\n\
         inc: :include:/etc/mail/list\n\
         bad: a@@x.example\n\
         fine: ok@x.example\n",
        Some("d.example"),
    );
    for name in ["pipe", "quoted", "file", "inc"] {
        let m = err(&r, name);
        assert!(m.contains(&format!("alias {name}: ")), "{m}");
        assert!(m.contains("not supported"), "{m}");
    }
    assert!(err(&r, "bad").contains("alias bad: "));
    // The others still work.
    assert_eq!(r.resolve("fine").unwrap(), ["ok@x.example"]);
}

#[test]
fn the_file_is_read_on_first_use() {
    let r = Resolver::new(Some(Path::new("/nonexistent/aliases")), None).unwrap();
    let e = r.resolve("root").unwrap_err();
    assert_eq!(e.exit, Exit::Config);
    assert!(e
        .message
        .contains("cannot read aliases file /nonexistent/aliases"));
}

#[test]
fn the_library_gets_the_text_and_the_slot_the_failure() {
    let slot = Arc::new(Mutex::new(None));
    let f = resolver("a: a\n", None).for_library(Arc::clone(&slot));
    let e = f("a").unwrap_err();
    assert!(e.to_string().contains("alias loop"), "{e}");
    assert!(slot
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .message
        .contains("alias loop"));
}
