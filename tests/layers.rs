//! The layers inside each crate (ARCHITECTURE.md, "Code map"): modules import in one direction
//! only. Every `crate::` and `super::` path of a crate's sources is an edge from the file's
//! module to the module it names (its longest prefix that is a module); a module's paths to its
//! own submodules are composition, not an import, and are left out. The graph must have no
//! cycle; each cycle found is named with the files that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path from its crate root (`["web", "feeds"]`).
type Module = Vec<String>;
/// Module -> (module it imports -> a file that does).
type Edges = BTreeMap<Module, BTreeMap<Module, PathBuf>>;

/// A cycle: the modules around it, in order, and every module of its strongly connected part.
struct Cycle {
    around: Vec<Module>,
    members: Vec<Module>,
}

/// The crates whose modules are checked, by their source folder.
const CRATES: &[&str] = &["core/src", "daemon/src", "plugins/host/src"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The module path of a source file (`web/feeds.rs` is `web::feeds`, `web/mod.rs` is `web`,
/// `lib.rs` and `main.rs` are the crate root, an empty path).
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without comments and string literals, so a path in a doc comment or a message
/// is not taken for an import.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                // A raw string: r"...", r#"..."#, r##"..."##.
                let mut j = i + 1;
                let mut hashes = 0;
                while bytes.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if bytes.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while j < bytes.len() && !bytes[j..].starts_with(&close) {
                    j += 1;
                }
                i = j + close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\') => {
                // A character literal ('"', '\n'); a lifetime has no closing quote.
                let end = text[i + 1..]
                    .find('\'')
                    .map_or(bytes.len(), |e| i + 1 + e + 1);
                i = end;
                out.push_str("' '");
            }
            _ => {
                let c = text[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// Every path the code names from `crate::` or `super::`, as module paths relative to the
/// crate root, with `use` groups (`crate::{a, b::c}`) expanded.
fn paths_named(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            from = at + start.len();
            let before = at.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
                continue;
            }
            let mut base: Vec<String> = if start == "crate::" {
                Vec::new()
            } else {
                let mut parent = module.to_vec();
                parent.pop();
                parent
            };
            // More `super::` in a row climb further.
            let mut rest = &code[from..];
            while let Some(more) = rest.strip_prefix("super::") {
                base.pop();
                rest = more;
            }
            expand(&base, rest, &mut found);
        }
    }
    found
}

/// `a::b::{c, d::e}` after `base`: each full path.
fn expand(base: &[String], rest: &str, out: &mut Vec<Vec<String>>) {
    let mut path = base.to_vec();
    let mut rest = rest;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut end = group.len();
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = i;
                        break;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            let inner = &group[..end];
            let mut depth = 0;
            let mut piece = 0;
            for (i, c) in inner
                .char_indices()
                .chain(std::iter::once((inner.len(), ',')))
            {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&path, inner[piece..i].trim(), out);
                        piece = i + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || name == "self" {
            out.push(path);
            return;
        }
        path.push(name.clone());
        rest = &rest[name.len()..];
        match rest.strip_prefix("::") {
            Some(more) => rest = more,
            None => {
                out.push(path);
                return;
            }
        }
    }
}

/// The module graph of one crate: module -> (module it imports -> a file that does).
fn graph(src: &Path) -> Edges {
    let mut files = Vec::new();
    sources(src, &mut files);
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(src).unwrap()))
        .collect();
    let mut edges = Edges::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let module = module_of(relative);
        // Unit tests are beside the code but below it: what they import does not make a layer.
        let text = std::fs::read_to_string(file).unwrap();
        let text = match text.find("#[cfg(test)]\nmod tests") {
            Some(at) => &text[..at],
            None => &text[..],
        };
        for path in paths_named(&code_only(text), &module) {
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains(prefix))
                .unwrap_or_default();
            // A module's own submodules, and itself, are not imports.
            if target.starts_with(&module) || target.is_empty() {
                continue;
            }
            edges
                .entry(module.clone())
                .or_default()
                .entry(target)
                .or_insert_with(|| relative.to_path_buf());
        }
    }
    edges
}

/// The cycles of the graph, each once, as the modules around it.
fn cycles(edges: &Edges) -> Vec<Cycle> {
    // Tarjan's strongly connected components: a component of more than one module holds a
    // cycle. One cycle of each is named, found by a search inside the component.
    let nodes: Vec<&Vec<String>> = edges
        .keys()
        .chain(edges.values().flat_map(|m| m.keys()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index_of: BTreeMap<&Vec<String>, usize> =
        nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let next: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            edges
                .get(*n)
                .map(|m| m.keys().map(|k| index_of[k]).collect())
                .unwrap_or_default()
        })
        .collect();
    let mut component = vec![usize::MAX; nodes.len()];
    let mut components = 0;
    // Kosaraju, iteratively: the order of finishing, then the reversed graph.
    let mut order = Vec::new();
    let mut seen = vec![false; nodes.len()];
    for start in 0..nodes.len() {
        if seen[start] {
            continue;
        }
        let mut stack = vec![(start, 0)];
        seen[start] = true;
        while let Some((node, edge)) = stack.pop() {
            if edge < next[node].len() {
                stack.push((node, edge + 1));
                let to = next[node][edge];
                if !seen[to] {
                    seen[to] = true;
                    stack.push((to, 0));
                }
            } else {
                order.push(node);
            }
        }
    }
    let mut back = vec![Vec::new(); nodes.len()];
    for (from, tos) in next.iter().enumerate() {
        for &to in tos {
            back[to].push(from);
        }
    }
    for &start in order.iter().rev() {
        if component[start] != usize::MAX {
            continue;
        }
        let mut stack = vec![start];
        component[start] = components;
        while let Some(node) = stack.pop() {
            for &from in &back[node] {
                if component[from] == usize::MAX {
                    component[from] = components;
                    stack.push(from);
                }
            }
        }
        components += 1;
    }
    let mut found = Vec::new();
    for c in 0..components {
        let members: Vec<usize> = (0..nodes.len()).filter(|&n| component[n] == c).collect();
        if members.len() < 2 {
            continue;
        }
        // A shortest way back to the first member, inside the component.
        let first = members[0];
        let mut came_from = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([first]);
        'search: while let Some(node) = queue.pop_front() {
            for &to in &next[node] {
                if component[to] != c {
                    continue;
                }
                if to == first {
                    came_from.insert(to, node);
                    break 'search;
                }
                if let std::collections::btree_map::Entry::Vacant(e) = came_from.entry(to) {
                    e.insert(node);
                    queue.push_back(to);
                }
            }
        }
        // Walked back from the first member, then turned around so that it leads.
        let mut back_from_first = Vec::new();
        let mut at = came_from[&first];
        while at != first {
            back_from_first.push(nodes[at].clone());
            at = came_from[&at];
        }
        back_from_first.reverse();
        let mut cycle = vec![nodes[first].clone()];
        cycle.extend(back_from_first);
        found.push(Cycle {
            around: cycle,
            members: members.iter().map(|&m| nodes[m].clone()).collect(),
        });
    }
    found
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

#[test]
fn no_module_imports_in_a_cycle() {
    let mut report = Vec::new();
    for krate in CRATES {
        let src = root().join(krate);
        let edges = graph(&src);
        for Cycle {
            around: cycle,
            members,
        } in cycles(&edges)
        {
            let steps: Vec<String> = cycle
                .iter()
                .zip(cycle.iter().cycle().skip(1))
                .map(|(from, to)| {
                    format!(
                        "{} -> {} ({})",
                        name(from),
                        name(to),
                        edges[from][to].display()
                    )
                })
                .collect();
            let members: Vec<String> = members.iter().map(|m| name(m)).collect();
            report.push(format!(
                "{krate}: {}\n  (all of {} reach each other)",
                steps.join(", "),
                members.join(", ")
            ));
        }
    }
    assert!(
        report.is_empty(),
        "modules that import each other (ARCHITECTURE.md: dependencies point down only):\n{}",
        report.join("\n")
    );
}

/// The checker itself: a cycle through a `use` group and `super::` is found, a parent's use of
/// its own submodule is not one.
#[test]
fn the_checker_finds_a_cycle_and_only_a_cycle() {
    let module = |m: &str| -> Vec<String> {
        m.split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        paths_named(
            &code_only(
                "use crate::{api::line, web::{self, dutch}};\nlet x = super::super::store::Row;\n// crate::nope\n\"crate::nope\""
            ),
            &module("web::feeds"),
        ),
        vec![
            module("api::line"),
            module("web"),
            module("web::dutch"),
            module("store::Row"),
        ]
    );
    let edge = |edges: &mut Edges, a: &str, b: &str| {
        edges
            .entry(module(a))
            .or_default()
            .insert(module(b), PathBuf::from(a));
    };
    let mut edges = Edges::new();
    edge(&mut edges, "api", "web");
    edge(&mut edges, "web", "store");
    assert!(cycles(&edges).is_empty());
    edge(&mut edges, "store", "api");
    assert_eq!(
        cycles(&edges)[0].around,
        vec![module("api"), module("web"), module("store")]
    );
}
