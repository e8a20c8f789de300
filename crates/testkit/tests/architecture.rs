//! The shape of the code, checked: no module of any crate uses one that
//! uses it back (the layers of `docs/architecture.md` point down only), no
//! source file grows past 600 lines, and the CLI reaches the plugin only
//! through its C ABI (it depends on neither the engine nor OpenDAL).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a source file may be.
const MAX_LINES: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file of `src` (`[]` for the crate root).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The code of a file that is built outside tests: comments dropped, and
/// everything from an inline `#[cfg(test)] mod` on.
fn code(text: &str) -> String {
    let no_comments: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut end = no_comments.len();
    let mut from = 0;
    while let Some(at) = no_comments[from..].find("#[cfg(test)]") {
        let at = from + at;
        if no_comments[at + 12..].trim_start().starts_with("mod ") {
            end = at;
            break;
        }
        from = at + 12;
    }
    no_comments[..end].to_string()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths of a use tree: `a::b`, `a::{b, c::{d, e}}`, `*` (up to where
/// the tree ends).
fn use_tree(text: &str) -> Vec<Vec<String>> {
    let path: String = text.chars().take_while(|c| is_ident(*c) || *c == ':').collect();
    let segments: Vec<String> = path.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
    let rest = &text[path.len()..];
    let Some(group) = rest.strip_prefix('{') else { return vec![segments] };
    // The members of the group, split at its own commas.
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.extend(use_tree(group[start..i].trim()).into_iter().map(|p| [segments.clone(), p].concat()));
                return out;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.extend(use_tree(group[start..i].trim()).into_iter().map(|p| [segments.clone(), p].concat()));
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// The paths written after `prefix` (`crate::` or `super::`).
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(prefix) {
        let start = from + at;
        from = start + prefix.len();
        if code[..start].chars().next_back().is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        out.extend(use_tree(&code[from..]));
    }
    out
}

/// Identifiers directly followed by `::` (uses of child modules).
fn qualifiers(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
                out.insert(chars[start..i].iter().collect());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The module graph of one crate: each module and the modules it uses.
fn module_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files.iter().map(|f| (module_of(src, f), f.clone())).collect();
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (0..=path.len()).rev().map(|k| path[..k].to_vec()).find(|p| modules.contains_key(p))
    };
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let mut uses = BTreeSet::new();
        if !module.last().is_some_and(|m| m.ends_with("tests")) {
            let code = code(&std::fs::read_to_string(file).unwrap());
            let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
            let mut refs: Vec<Vec<String>> = paths_after(&code, "crate::");
            refs.extend(paths_after(&code, "super::").into_iter().map(|p| [parent.clone(), p].concat()));
            refs.extend(qualifiers(&code).into_iter().map(|q| [module.clone(), vec![q]].concat()));
            for r in refs {
                if let Some(target) = resolve(&r).filter(|t| t != module) {
                    // A path that only names this module's own child is a
                    // use of the child; one that resolves to the crate root
                    // while naming something deeper is a use of the root.
                    uses.insert(target);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A cycle through the graph, if any (as module names).
fn find_cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let name = |m: &Vec<String>| if m.is_empty() { "<root>".to_string() } else { m.join("::") };
                    return Some(stack[from..].iter().chain([next]).map(name).collect());
                }
                0 => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node).copied().unwrap_or(0) == 0
            && let Some(c) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let crates = workspace().join("crates");
    let mut cycles = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap().flatten() {
        let src = entry.path().join("src");
        if src.is_dir()
            && let Some(cycle) = find_cycle(&module_graph(&src))
        {
            cycles.push(format!("{}: {}", entry.file_name().to_string_lossy(), cycle.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let dir = std::env::temp_dir().join(format!("vastost-arch-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::{Thing, other::More};\n").unwrap();
    std::fs::write(src.join("b/mod.rs"), "mod other;\npub struct Thing;\n").unwrap();
    std::fs::write(src.join("b/other.rs"), "pub struct More;\nfn f() { let _ = super::super::a::X; }\n").unwrap();
    let graph = module_graph(&src);
    assert_eq!(find_cycle(&graph), None, "{graph:?}");
    std::fs::write(src.join("b/other.rs"), "pub struct More;\nuse crate::a::X; // a comment: crate::b\n").unwrap();
    let cycle = find_cycle(&module_graph(&src)).expect("a -> b::other -> a");
    assert!(cycle.contains(&"a".to_string()) && cycle.contains(&"b::other".to_string()), "{cycle:?}");
    // Test modules do not count.
    std::fs::write(src.join("b/other.rs"), "pub struct More;\n#[cfg(test)]\nmod tests { use crate::a::X; }\n").unwrap();
    assert_eq!(find_cycle(&module_graph(&src)), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn no_source_file_is_longer_than_600_lines() {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("fuzz"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.strip_prefix(&root).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn the_cli_depends_on_neither_the_engine_nor_opendal() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "-p", "vastost", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(workspace())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("vastost-loader"), "{tree}");
    for banned in ["vastost-engine", "vastost-storage", "vastost-abi ", "opendal"] {
        assert!(!tree.lines().any(|l| l.starts_with(banned)), "the CLI depends on {banned}:\n{tree}");
    }
}

/// The engine's modules whose types the ABI holds (its facade), and `ctx`,
/// which defines the one way to block: the only ones that may block a
/// thread on the runtime. Everything below them is async, so that no code
/// under the runtime can block on it (a deadlock) by accident.
const ENGINE_FACADE: [&str; 10] =
    ["engine", "server", "lsu", "image", "image_list", "reader", "writer", "copy", "event_poll", "ctx"];

/// The engine's source files built outside tests, with their module names.
fn engine_modules() -> Vec<(String, String)> {
    let src = workspace().join("crates/engine/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .map(|f| (module_of(&src, f), f))
        .filter(|(m, _)| !m.last().is_some_and(|l| l.ends_with("tests")))
        .map(|(m, f)| (m.join("::"), code(&std::fs::read_to_string(f).unwrap())))
        .collect()
}

#[test]
fn the_engine_blocks_on_its_runtime_only_at_its_facade() {
    let blocking: Vec<String> = engine_modules()
        .into_iter()
        .filter(|(m, code)| !ENGINE_FACADE.contains(&m.as_str()) && code.contains("block_on("))
        .map(|(m, _)| m)
        .collect();
    assert!(blocking.is_empty(), "engine modules below the facade that block on the runtime: {blocking:?}");
}

#[test]
fn commit_records_are_written_only_through_the_commit_log() {
    // Outside the log (`commit`) and its pruning of superseded records
    // (`superseded`), a statement may name a record's key only to read it.
    // Checked per statement: a key computed in one statement and written
    // in another is not caught; the log's own writers are private besides.
    const WRITES: [&str; 6] = [".put(", ".put_new(", ".put_new_locked(", ".delete(", ".lock(", ".unlock("];
    let mut found = Vec::new();
    for (m, code) in engine_modules().into_iter().filter(|(m, _)| m != "commit" && m != "superseded") {
        for statement in code.split(';') {
            if statement.contains("manifest(") && WRITES.iter().any(|w| statement.contains(w)) {
                found.push(format!("{m}: {}", statement.trim()));
            }
            if statement.contains("put_record") || statement.contains("remove_superseded") {
                found.push(format!("{m}: {}", statement.trim()));
            }
        }
    }
    assert!(found.is_empty(), "commit records written outside the commit log:\n{}", found.join("\n"));
}

#[test]
fn every_buffer_pool_is_paid_from_the_budget() {
    // Buffers kept for reuse live in the engine's budget (`budget`) or in
    // a store's pools (storage's `pool`), which claim their bytes from it:
    // never in a process-wide stash nobody pays for.
    let mut stashes = Vec::new();
    for krate in ["engine", "storage"] {
        let src = workspace().join("crates").join(krate).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let code = code(&std::fs::read_to_string(&f).unwrap());
            for line in code.lines().filter(|l| l.trim_start().starts_with("static ") && l.contains("Vec<")) {
                stashes.push(format!("{}: {}", f.strip_prefix(workspace()).unwrap().display(), line.trim()));
            }
        }
    }
    assert!(stashes.is_empty(), "process-wide buffer pools outside the budget:\n{}", stashes.join("\n"));
}
