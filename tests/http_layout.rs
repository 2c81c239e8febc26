//! The layout of `src/http`: no circle of imports among its files. `mod.rs` is the top (it
//! assembles the routers); every other file may use the files below it, and none may use a
//! file that, directly or not, uses it back. A reference is any `super::x` or `crate::http::x`
//! path (in a `use` or inline); a path to an item of `mod.rs` itself counts as one to `mod`.
//! Unit tests (`#[cfg(test)]` to the end of a file) and comments are left out: they may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The files of `src/http` and, for each, the files it refers to.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("\n#[cfg(test)]") {
                Some(i) => &text[..i],
                None => &text,
            };
            // Comments (doc links among them) are not imports.
            let code: String =
                code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            sources.insert(name, code);
        }
    }
    let modules: BTreeSet<String> = sources.keys().filter(|m| *m != "mod").cloned().collect();
    let mut graph = BTreeMap::new();
    for (name, code) in &sources {
        let mut targets = BTreeSet::new();
        for prefix in ["super::", "crate::http::"] {
            if name == "mod" && prefix == "super::" {
                continue; // mod.rs's `super` is the crate root, outside src/http
            }
            for (i, _) in code.match_indices(prefix) {
                let rest = &code[i + prefix.len()..];
                // `super::{a, b::c}` names several.
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                    None => vec![rest],
                };
                for n in names {
                    let ident: String =
                        n.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if ident.is_empty() || ident == "self" {
                        continue;
                    }
                    let target = if modules.contains(&ident) { ident } else { "mod".to_owned() };
                    if target != *name {
                        targets.insert(target);
                    }
                }
            }
        }
        if name == "mod" {
            // mod.rs names its own children directly: `contacts::routes()`, `use error::ApiError`.
            for m in &modules {
                let pattern = format!("{m}::");
                let named = code.match_indices(&pattern).any(|(i, _)| {
                    code[..i].chars().last().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                });
                if named {
                    targets.insert(m.clone());
                }
            }
        }
        graph.insert(name.clone(), targets);
    }
    graph
}

/// A circle through the graph, if there is one, as the files around it.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut found = path[i..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_file_of_src_http_imports_one_that_imports_it_back() {
    let graph = imports();
    assert!(graph.len() > 10, "src/http was not read: {graph:?}");
    assert!(graph["mod"].contains("contacts"), "mod.rs assembles the routers: {:?}", graph["mod"]);
    if let Some(found) = circle(&graph) {
        panic!("a circle of imports in src/http: {}\nthe whole graph: {graph:#?}", found.join(" → "));
    }
}

#[test]
fn the_check_finds_a_circle_when_there_is_one() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(circle(&graph), None);
}
