// Writes worker/webadd/templates/js from worker/webadd/templates/ts: the same files for JavaScript-only
// apps, with the types stripped by TypeScript's own transpiler (JSX kept). `--check` only compares and
// exits 1 when templates/js is out of date (tests/webadd runs it).
// Run: node scripts/webadd-js.mjs [--check]   (uses web/node_modules/typescript)
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ts = createRequire(path.join(root, "web", "package.json"))("typescript");
const source = path.join(root, "worker", "webadd", "templates", "ts");
const target = path.join(root, "worker", "webadd", "templates", "js");
const check = process.argv.includes("--check");

function* walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else yield full;
  }
}

function transpile(file, text) {
  if (!/\.tsx?$/.test(file)) return [file, text];
  const out = ts.transpileModule(text, {
    fileName: file,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      jsx: ts.JsxEmit.Preserve,
      verbatimModuleSyntax: false,
      removeComments: false,
    },
  }).outputText;
  return [file.replace(/\.tsx$/, ".jsx").replace(/\.ts$/, ".js"), out];
}

const wanted = new Map();
for (const file of walk(source)) {
  const [name, text] = transpile(path.relative(source, file), fs.readFileSync(file, "utf8"));
  wanted.set(name, text);
}
const existing = fs.existsSync(target) ? [...walk(target)].map((f) => path.relative(target, f)) : [];
const stale = existing.filter((name) => !wanted.has(name));
const differ = [...wanted].filter(([name, text]) => {
  const file = path.join(target, name);
  return !fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text;
});
if (check) {
  if (stale.length || differ.length) {
    console.error(`templates/js desatualizado: ${[...stale, ...differ.map(([n]) => n)].join(", ")}`);
    console.error("Rode: node scripts/webadd-js.mjs");
    process.exit(1);
  }
  process.exit(0);
}
for (const name of stale) fs.rmSync(path.join(target, name));
for (const [name, text] of differ) {
  fs.mkdirSync(path.dirname(path.join(target, name)), { recursive: true });
  fs.writeFileSync(path.join(target, name), text);
}
console.log(`templates/js: ${differ.length} escrito(s), ${stale.length} removido(s)`);
